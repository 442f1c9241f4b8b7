import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type Informer,
  type KubeConfig,
  makeInformer,
  type ObjectCache,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { Autoscaler, PrometheusMetricSource, type ResolvedSource, resolveSource, type ScaleTarget } from '@lagscale/autoscaler';
import { type PrometheusSourceConfig, ScalingConfigError, type ScalingDecision } from '@lagscale/core';
import type { Logger } from '@lagscale/exporter';
import type { KafkaConnectionOptions } from '@lagscale/kafka';
import { RequestLimiter } from '../client/request-limiter.js';
import { WorkloadInformers } from '../client/workload-informers.js';
import {
  type ParsedScaledConsumer,
  parseScaledConsumer,
  SCALED_CONSUMER,
  SCALED_CONSUMER_API_VERSION,
  type ScaledConsumer,
  type ScaledConsumerCondition,
  type ScaledConsumerStatus,
  scaledConsumerKey,
} from '../crd/scaled-consumer.js';
import type { ExternalMetricsSource } from '../metrics-api/external-metrics-server.js';
import { KubernetesScaleTarget, ScaleTargetError } from '../target/scale-target.js';
import type { LeaseElector } from './lease.js';
import type { ShardLeases } from './shards.js';
import { GroupView, SharedMonitors } from './shared-monitors.js';

export interface ScaledConsumerControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** Watch one namespace only; default every namespace. */
  readonly namespace?: string;
  /** Only the lease holder starts autoscalers and writes; null runs as the only instance (or as one of `shards`). */
  readonly elector: LeaseElector | null;
  /**
   * Shards of the ScaledConsumers shared with the other replicas: this instance serves (collects
   * lag for, scales, writes the status of) only the ScaledConsumers of the shards it holds.
   * Exclusive with `elector`.
   */
  readonly shards?: ShardLeases | null;
  /** Seconds between lag collections (one per Kafka cluster). Default 5. */
  readonly intervalSeconds?: number;
  /**
   * Rewrite an unchanged status this often (its lastDecision's time, lag and numbers). Default
   * off: a status is written only when its replicas, action or conditions change.
   */
  readonly statusRefreshSeconds?: number;
  /**
   * Client-side rate limit of the controller's API requests (scale reads and writes first, then
   * status writes and Events). Default 50 per second, bursts of 100; qps 0 lets all through.
   */
  readonly apiRateLimit?: { readonly qps?: number; readonly burst?: number };
  /** Name of this component in Events. Default `lagscale-controller`. */
  readonly component?: string;
}

/** What a runtime's autoscaler follows (see #inputs). */
interface RuntimeInputs {
  readonly view: GroupView | null;
  readonly metricSource: PrometheusMetricSource | null;
  readonly secretDir: string | null;
  /** Share groups: the group's maximum size; null for a consumer group or a prometheus source. */
  readonly maxGroupSize: number | null;
}

/** One ScaledConsumer being served. */
export interface ScaledConsumerRuntime {
  readonly key: string;
  readonly parsed: ParsedScaledConsumer;
  /** The group's lag (Kafka source); null with a prometheus source. */
  readonly view: GroupView | null;
  /** The query's poller (prometheus source); null with Kafka lag. */
  readonly metricSource: PrometheusMetricSource | null;
  readonly target: KubernetesScaleTarget;
  readonly autoscaler: Autoscaler;
  /** Generation the runtime was built for: a spec change rebuilds it. */
  readonly generation: number;
  readonly secretDir: string | null;
  lastStatus: { json: string; at: number } | null;
  conditions: Map<ScaledConsumerCondition['type'], ScaledConsumerCondition>;
  /** The newest decision not yet turned into a status; `writing` while one is (writes never overlap or reorder). */
  pendingDecision: ScalingDecision | null;
  writing: boolean;
}

export interface ControllerCounters {
  /** Writes of spec.replicas through /scale. */
  scaleWrites: number;
  /** GETs of /scale (kinds without an informer, or before a workload cache has synced). */
  scaleReads: number;
  /** Target reads answered from a Deployment or StatefulSet informer's cache. */
  cacheReads: number;
  /** Pod lists for ready replicas (kinds without an informer). */
  podLists: number;
  statusWrites: number;
  statusWriteFailures: number;
  reconciles: number;
}

/**
 * Watches `ScaledConsumer` resources (an informer: one list, then a watch) and runs one
 * Autoscaler per resource with the `kubernetes` target, sharing one lag collection per Kafka
 * cluster. Each decision goes into the resource's status (reason, arithmetic, learned service
 * rate) and its conditions (Ready, Active, Fallback, Paused). Only the lease holder runs the
 * autoscalers and writes; a new leader starts from the service rate the status holds.
 */
export class ScaledConsumerController {
  readonly #options: ScaledConsumerControllerOptions;
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #monitors: SharedMonitors;
  readonly #runtimes = new Map<string, ScaledConsumerRuntime>();
  /** Resources whose spec cannot run, with `generation:why` (their Ready condition says so). */
  readonly #invalid = new Map<string, string>();
  #informer: (Informer<ScaledConsumer & { metadata: { name: string } }> & ObjectCache<ScaledConsumer>) | null = null;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  readonly #workloads: WorkloadInformers;
  readonly #limiter: RequestLimiter;
  readonly counters: ControllerCounters = {
    scaleWrites: 0,
    scaleReads: 0,
    cacheReads: 0,
    podLists: 0,
    statusWrites: 0,
    statusWriteFailures: 0,
    reconciles: 0,
  };

  constructor(options: ScaledConsumerControllerOptions) {
    this.#options = options;
    this.#custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#monitors = new SharedMonitors({ intervalSeconds: options.intervalSeconds ?? 5, logger: options.logger });
    this.#workloads = new WorkloadInformers({
      kubeConfig: options.kubeConfig,
      logger: options.logger,
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    });
    this.#limiter = new RequestLimiter({ qps: options.apiRateLimit?.qps ?? 50, burst: options.apiRateLimit?.burst ?? 100 });
  }

  /** The rate limiter of API requests, with its counters by lane (requests, queue wait). */
  get requestLimiter(): RequestLimiter {
    return this.#limiter;
  }

  /**
   * API requests sent per lane so far (scale reads and writes, status writes and Events); watches
   * and the ScaledConsumer informer's lists are not counted.
   */
  get apiRequests(): number {
    return this.#limiter.counters.scale.requests + this.#limiter.counters.status.requests;
  }

  get monitors(): SharedMonitors {
    return this.#monitors;
  }

  /** The ScaledConsumers being served, by `namespace/name`. */
  runtimes(): ReadonlyMap<string, ScaledConsumerRuntime> {
    return this.#runtimes;
  }

  /** What the external metrics API serves: the ScaledConsumers of a namespace with their latest lag and decision. */
  metricsSource(): ExternalMetricsSource {
    return {
      scaledConsumers: (namespace) =>
        [...this.#runtimes.values()]
          .filter((runtime) => runtime.parsed.resource.metadata.namespace === namespace)
          .map((runtime) => ({
            name: runtime.parsed.resource.metadata.name,
            group: runtime.parsed.group.name,
            groupKind: runtime.parsed.group.kind,
            snapshot: runtime.view?.latest ?? null,
            decision: runtime.autoscaler.lastDecision,
            behavior: runtime.parsed.behavior,
          })),
    };
  }

  /** Whether this instance may write for some ScaledConsumer: it leads, holds a shard, or runs alone. */
  get leading(): boolean {
    const shards = this.#options.shards ?? null;
    if (shards !== null) return shards.held().length > 0;
    return this.#options.elector?.mayWrite() ?? true;
  }

  /** Whether this instance serves the ScaledConsumer at all (with shards: it holds its shard). */
  #owns(key: string): boolean {
    return this.#options.shards?.owns(key) ?? true;
  }

  /** Whether a write for the ScaledConsumer may go out now (its shard renewed in time, or the Lease). */
  #mayWrite(key: string): boolean {
    const shards = this.#options.shards ?? null;
    return shards === null ? this.leading : shards.mayWrite(key);
  }

  async start(): Promise<void> {
    const { group, version, plural } = SCALED_CONSUMER;
    const namespace = this.#options.namespace;
    const path = namespace === undefined ? `/apis/${group}/${version}/${plural}` : `/apis/${group}/${version}/namespaces/${namespace}/${plural}`;
    const list = async () =>
      (namespace === undefined
        ? await this.#custom.listClusterCustomObject({ group, version, plural })
        : await this.#custom.listNamespacedCustomObject({ group, version, namespace, plural })) as never;
    const informer = makeInformer<ScaledConsumer & { metadata: { name: string } }>(this.#options.kubeConfig, path, list);
    this.#informer = informer as never;
    const enqueue = (resource: ScaledConsumer, deleted = false): void => {
      this.#queue = this.#queue
        .then(() => (deleted ? this.#remove(scaledConsumerKey(resource)) : this.#reconcile(resource)))
        .catch((error: unknown) => {
          this.#options.logger.error(
            { event: 'reconcile_failed', scaledConsumer: scaledConsumerKey(resource), err: (error as Error).message },
            'reconcile failed',
          );
        });
    };
    informer.on('add', (resource) => enqueue(resource));
    informer.on('update', (resource) => enqueue(resource));
    informer.on('delete', (resource) => enqueue(resource, true));
    informer.on('error', (error) => {
      this.#options.logger.warn(
        { event: 'watch_failed', err: (error as Error)?.message ?? String(error) },
        'the ScaledConsumer watch failed; restarting it in 3 s',
      );
      setTimeout(() => {
        if (!this.#stopped) informer.start().catch(() => {});
      }, 3000).unref();
    });
    const shards = this.#options.shards ?? null;
    if (shards !== null) {
      if (this.#options.elector !== null) throw new Error('give a controller either elector or shards, not both');
      // Serve what this instance now owns, drop what it lost (the shard set stops writing first).
      shards.on('changed', () => {
        for (const resource of informer.list()) {
          const key = scaledConsumerKey(resource);
          if (this.#owns(key) !== this.#runtimes.has(key) || (this.#owns(key) && this.#invalid.has(key))) enqueue(resource);
        }
      });
    }
    const elector = this.#options.elector;
    if (elector !== null) {
      elector.on('started', () => {
        for (const runtime of this.#runtimes.values()) runtime.autoscaler.start();
        // Invalid resources get their condition from the new leader.
        for (const resource of informer.list()) if (this.#invalid.has(scaledConsumerKey(resource))) enqueue(resource);
      });
      elector.on('stopped', () => {
        for (const runtime of this.#runtimes.values()) void runtime.autoscaler.stop();
      });
    }
    await informer.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#informer?.stop();
    await this.#queue;
    await Promise.all([...this.#runtimes.keys()].map((key) => this.#remove(key)));
    await this.#monitors.close();
    await this.#workloads.close();
  }

  async #reconcile(resource: ScaledConsumer): Promise<void> {
    this.counters.reconciles++;
    const key = scaledConsumerKey(resource);
    if (!this.#owns(key)) {
      // Another replica's shard: no runtime, no lag collection here.
      await this.#remove(key);
      return;
    }
    const generation = resource.metadata.generation ?? 0;
    const existing = this.#runtimes.get(key);
    if (existing !== undefined && existing.generation === generation) return;
    if (existing !== undefined) await this.#remove(key);
    let parsed: ParsedScaledConsumer;
    try {
      parsed = parseScaledConsumer(resource);
    } catch (error) {
      if (!(error instanceof ScalingConfigError)) throw error;
      const message = error.problems.join('; ');
      // The status write below comes back as an update of the same generation: say it once.
      if (this.#invalid.get(key) === `${generation}:${message}` && resource.status?.observedGeneration === generation) return;
      this.#invalid.set(key, `${generation}:${message}`);
      this.#options.logger.warn(
        { event: 'scaled_consumer_invalid', scaledConsumer: key, problems: error.problems },
        `ScaledConsumer ${key} cannot run: ${message}`,
      );
      await this.#writeStatus(resource, null, {
        conditions: [condition('Ready', 'False', 'InvalidSpec', message, generation)],
        observedGeneration: generation,
      });
      return;
    }
    this.#invalid.delete(key);
    let inputs: RuntimeInputs;
    try {
      inputs = await this.#inputs(resource, parsed);
    } catch (error) {
      const message = (error as Error).message;
      if (this.#invalid.get(key) === `${generation}:${message}` && resource.status?.observedGeneration === generation) return;
      this.#invalid.set(key, `${generation}:${message}`);
      const reason =
        error instanceof ScalingConfigError
          ? 'InvalidSpec'
          : parsed.source.type === 'prometheus'
            ? 'SourceCredentialsUnavailable'
            : 'KafkaCredentialsUnavailable';
      await this.#writeStatus(resource, null, {
        conditions: [condition('Ready', 'False', reason, message, generation)],
        observedGeneration: generation,
      });
      return;
    }
    const { view, metricSource, maxGroupSize } = inputs;
    const { namespace } = resource.metadata;
    const target = new KubernetesScaleTarget({
      kubeConfig: this.#options.kubeConfig,
      namespace,
      ref: resource.spec.scaleTargetRef,
      logger: this.#options.logger,
      informers: this.#workloads,
      limiter: this.#limiter,
      counters: this.counters,
      events: {
        involvedObject: {
          apiVersion: SCALED_CONSUMER_API_VERSION,
          kind: SCALED_CONSUMER.kind,
          name: resource.metadata.name,
          ...(resource.metadata.uid ? { uid: resource.metadata.uid } : {}),
        },
        component: this.#options.component ?? 'lagscale-controller',
      },
    });
    const autoscaler = new Autoscaler({
      ...(metricSource !== null ? { metricSource } : { monitor: view as GroupView }),
      group: parsed.group.name,
      groupKind: parsed.group.kind,
      maxGroupSize,
      policy: parsed.policy,
      behavior: parsed.behavior,
      target: this.#gated(key, target, (error) => {
        const runtime = this.#runtimes.get(key);
        if (runtime !== undefined) void this.#targetFailed(runtime, error);
      }),
      logger: this.#options.logger,
      // Only the last decision is read (status, external metrics API): 50 kept per resource were
      // 250,000 objects for the collector to trace at 5,000 ScaledConsumers.
      historyLength: 1,
      ...seededPolicyState(parsed, resource.status?.serviceRatePerReplica),
    });
    const runtime: ScaledConsumerRuntime = {
      key,
      parsed,
      view,
      metricSource,
      target,
      autoscaler,
      generation,
      secretDir: inputs.secretDir,
      lastStatus: null,
      conditions: new Map((resource.status?.conditions ?? []).map((c) => [c.type, c])),
      pendingDecision: null,
      writing: false,
    };
    this.#runtimes.set(key, runtime);
    autoscaler.on('decision', (decision) => {
      runtime.pendingDecision = decision;
      void this.#drainDecisions(runtime);
    });
    this.#options.logger.info(
      {
        event: 'scaled_consumer_started',
        scaledConsumer: key,
        group: parsed.group.name,
        groupKind: parsed.group.kind,
        ...(maxGroupSize === null ? {} : { maxGroupSize }),
        target: target.name,
        policy: parsed.policy.name,
      },
      `serving ScaledConsumer ${key}`,
    );
    metricSource?.start();
    if (this.#mayWrite(key)) autoscaler.start();
  }

  async #remove(key: string): Promise<void> {
    this.#invalid.delete(key);
    const runtime = this.#runtimes.get(key);
    if (runtime === undefined) return;
    this.#runtimes.delete(key);
    await runtime.autoscaler.stop();
    await runtime.metricSource?.stop();
    await runtime.target.close();
    runtime.view?.detach();
    if (runtime.parsed.clusterKey !== null) await this.#monitors.release(runtime.parsed.clusterKey, runtime.parsed.group.name);
    if (runtime.secretDir !== null) rmSync(runtime.secretDir, { recursive: true, force: true });
    this.#options.logger.info({ event: 'scaled_consumer_stopped', scaledConsumer: key }, `stopped serving ScaledConsumer ${key}`);
  }

  /** The target as the autoscaler sees it: writes only while this instance may write; a failed read is reported. */
  #gated(key: string, target: KubernetesScaleTarget, onReadError: (error: Error) => void): ScaleTarget {
    return {
      name: target.name,
      currentReplicas: async () => {
        try {
          return await target.currentReplicas();
        } catch (error) {
          onReadError(error as Error);
          throw error;
        }
      },
      // The cache's status.readyReplicas, or one pod list for other kinds; the loop asks only for policies that read it (metricType Value).
      readyReplicas: () => target.readyReplicas(),
      setReplicas: async (replicas) => {
        if (!this.#mayWrite(key)) throw new Error('this instance does not hold the lease of this ScaledConsumer: not scaling');
        await target.setReplicas(replicas);
        this.counters.scaleWrites++;
      },
      close: () => target.close(),
    };
  }

  /**
   * One status write at a time per resource, always from the newest decision: a slow write (a pod
   * list, a busy API server) can neither be overtaken by the next one nor land after it with older
   * numbers; decisions that arrive meanwhile collapse into the newest.
   */
  async #drainDecisions(runtime: ScaledConsumerRuntime): Promise<void> {
    if (runtime.writing) return;
    runtime.writing = true;
    try {
      for (let decision = runtime.pendingDecision; decision !== null; decision = runtime.pendingDecision) {
        runtime.pendingDecision = null;
        await this.#afterDecision(runtime, decision);
      }
    } finally {
      runtime.writing = false;
    }
  }

  async #afterDecision(runtime: ScaledConsumerRuntime, decision: ScalingDecision): Promise<void> {
    const resource = this.#current(runtime);
    const generation = runtime.generation;
    const reading = runtime.target.lastReading;
    // A decision means the target was read this cycle. What the conditions will say, first as
    // (status, reason) alone: most cycles change nothing, and then nothing more is built.
    const recommendation = decision.recommendation;
    const active =
      recommendation === null
        ? (['Unknown', 'MetricsUnavailable'] as const)
        : recommendation.active
          ? (['True', 'Lagging'] as const)
          : (['False', 'Idle'] as const);
    const fallback = decision.action === 'fallback' ? (['True', 'MetricsFailing'] as const) : (['False', 'MetricsRead'] as const);
    const paused = runtime.autoscaler.paused ? (['True', 'Paused'] as const) : (['False', 'Running'] as const);
    // Unchanged numbers and conditions are not written again (unless statusRefreshSeconds asks).
    // The ready count is not among them: it is known from a cached workload but not from a read of
    // /scale (that would be a pod list), and a cache that reconnects must not flip every status.
    const significant = JSON.stringify([
      decision.currentReplicas,
      decision.desiredReplicas,
      reading?.statusReplicas,
      decision.action,
      ['Ready', 'True', 'Serving'],
      ['Active', ...active],
      ['Fallback', ...fallback],
      ['Paused', ...paused],
    ]);
    if (this.#unchanged(runtime, significant)) return;
    const conditions = [
      condition(
        'Ready',
        'True',
        'Serving',
        runtime.metricSource === null
          ? `scaling ${runtime.target.name} on the lag of ${runtime.parsed.group.kind === 'share' ? 'share group' : 'group'} ${runtime.parsed.group.name}`
          : `scaling ${runtime.target.name} on the query ${runtime.metricSource.config.query}`,
        generation,
      ),
      condition('Active', active[0], active[1], recommendation === null ? decision.reason : recommendation.reason, generation),
      condition('Fallback', fallback[0], fallback[1], decision.action === 'fallback' ? decision.reason : 'the metrics were read this cycle', generation),
      condition(
        'Paused',
        paused[0],
        paused[1],
        runtime.autoscaler.paused ? 'spec.paused: decisions are computed, nothing is applied' : 'not paused',
        generation,
      ),
    ];
    const learned = learnedServiceRate(runtime.autoscaler.policyState);
    const merged = this.#mergeConditions(runtime, conditions);
    this.#options.logger.debug(
      { event: 'status_changed', scaledConsumer: runtime.key, before: runtime.lastStatus?.json ?? null, after: significant },
      `the status of ScaledConsumer ${runtime.key} changed: writing it`,
    );
    // A policy that reads ready replicas (metricType Value) had them listed this cycle: no second list.
    const readyReplicas = decision.inputs.readyReplicas ?? reading?.readyReplicas ?? (await runtime.target.readyReplicas().catch(() => null));
    const status: ScaledConsumerStatus = {
      observedGeneration: generation,
      currentReplicas: decision.currentReplicas,
      desiredReplicas: decision.desiredReplicas,
      ...(readyReplicas === null ? {} : { readyReplicas }),
      ...(decision.action === 'scale_up' || decision.action === 'scale_down' ? { lastScaleTime: new Date(decision.time).toISOString() } : {}),
      lastDecision: {
        time: new Date(decision.time).toISOString(),
        action: decision.action,
        policy: decision.policy,
        reason: decision.reason,
        desiredReplicas: decision.desiredReplicas,
        ...(decision.recommendation === null ? {} : { arithmetic: decision.recommendation.arithmetic }),
        lag: decision.inputs.lag,
        timeLagSeconds: decision.inputs.timeLagSeconds,
      },
      ...(learned === null ? {} : { serviceRatePerReplica: learned }),
      conditions: merged,
    };
    await this.#writeThrottled(resource, runtime, status, significant);
  }

  /** The target cannot be read (missing, renamed, forbidden, API down): Ready=False with what to fix; the loop retries next cycle. */
  async #targetFailed(runtime: ScaledConsumerRuntime, error: Error): Promise<void> {
    const resource = this.#current(runtime);
    const reason = error instanceof ScaleTargetError ? targetReason(error.reason) : 'TargetUnavailable';
    const conditions = this.#mergeConditions(runtime, [condition('Ready', 'False', reason, error.message, runtime.generation)]);
    const significant = JSON.stringify(['target', reason, error.message]);
    if (this.#unchanged(runtime, significant)) return;
    await this.#writeThrottled(resource, runtime, { observedGeneration: runtime.generation, conditions }, significant);
  }

  /** The same significant status was written (less than statusRefreshSeconds ago, when that is set). */
  #unchanged(runtime: ScaledConsumerRuntime, significant: string): boolean {
    const last = runtime.lastStatus;
    if (last === null || last.json !== significant) return false;
    const refresh = this.#options.statusRefreshSeconds;
    return refresh === undefined || refresh <= 0 || Date.now() - last.at < refresh * 1000;
  }

  async #writeThrottled(resource: ScaledConsumer, runtime: ScaledConsumerRuntime, status: ScaledConsumerStatus, significant: string): Promise<void> {
    const at = Date.now();
    if (await this.#writeStatus(resource, runtime, status)) runtime.lastStatus = { json: significant, at };
  }

  /** The resource as the informer has it now (the runtime's copy is the one it was built from). */
  #current(runtime: ScaledConsumerRuntime): ScaledConsumer {
    const { name, namespace } = runtime.parsed.resource.metadata;
    return this.#informer?.get(name, namespace) ?? runtime.parsed.resource;
  }

  /** Conditions keep their lastTransitionTime while their status stays the same. */
  #mergeConditions(runtime: ScaledConsumerRuntime, next: readonly ScaledConsumerCondition[]): ScaledConsumerCondition[] {
    for (const c of next) {
      const before = runtime.conditions.get(c.type);
      runtime.conditions.set(c.type, before !== undefined && before.status === c.status ? { ...c, lastTransitionTime: before.lastTransitionTime } : c);
    }
    return [...runtime.conditions.values()];
  }

  async #writeStatus(resource: ScaledConsumer, runtime: ScaledConsumerRuntime | null, status: ScaledConsumerStatus): Promise<boolean> {
    if (!this.#mayWrite(scaledConsumerKey(resource))) return false;
    const { group, version, plural } = SCALED_CONSUMER;
    try {
      await this.#limiter.run('status', () =>
        this.#custom.patchNamespacedCustomObjectStatus(
          { group, version, plural, namespace: resource.metadata.namespace, name: resource.metadata.name, body: { status } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      );
      this.counters.statusWrites++;
      return true;
    } catch (error) {
      this.counters.statusWriteFailures++;
      const gone = error instanceof ApiException && error.code === 404;
      if (gone && runtime !== null) return false;
      this.#options.logger.warn(
        { event: 'status_write_failed', scaledConsumer: scaledConsumerKey(resource), err: (error as Error).message },
        `cannot write the status of ScaledConsumer ${scaledConsumerKey(resource)}`,
      );
      return false;
    }
  }

  /**
   * What the autoscaler follows: the group's view of the shared lag collection, or a poller of
   * the query with the credentials of `spec.source.secretRef`. Secret files (CA, client
   * certificate) go to a private folder removed with the runtime.
   */
  async #inputs(resource: ScaledConsumer, parsed: ParsedScaledConsumer): Promise<RuntimeInputs> {
    if (parsed.source.type === 'prometheus') {
      const { config, secretDir } = await this.#prometheusConfig(resource, parsed.source.config);
      return { view: null, metricSource: new PrometheusMetricSource(config), secretDir, maxGroupSize: null };
    }
    const { connection, secretDir } = await this.#connection(resource);
    const clusterKey = parsed.clusterKey as string;
    const monitor = this.#monitors.acquire(clusterKey, connection, parsed.group.name);
    // A share group's cap: the spec's, else the brokers' group.share.max.size (asked once per cluster), else 200.
    const maxGroupSize = parsed.group.kind === 'share' ? (resource.spec.shareGroupMaxSize ?? (await this.#monitors.shareGroupMaxSize(clusterKey))) : null;
    return { view: new GroupView(monitor, parsed.group, resource.spec.topics), metricSource: null, secretDir, maxGroupSize };
  }

  /** A Secret's data as text; errors say which field referred to it and what to grant. */
  async #secret(namespace: string, name: string, field: string): Promise<Record<string, string>> {
    try {
      const found = await this.#core.readNamespacedSecret({ name, namespace });
      return Object.fromEntries(Object.entries(found.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    } catch (error) {
      const status = error instanceof ApiException ? error.code : null;
      throw new Error(
        status === 404
          ? `Secret ${namespace}/${name} (${field}) does not exist`
          : status === 403
            ? `the controller may not read Secret ${namespace}/${name} (${field}): grant it get on secrets in ${namespace}`
            : `cannot read Secret ${namespace}/${name}: ${(error as Error).message}`,
      );
    }
  }

  /** `ca.crt`, `tls.crt` and `tls.key` of a Secret as files in a new private folder. */
  #secretFiles(data: Record<string, string>, prefix: string): { dir: string; ca?: string; cert?: string; key?: string } {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    chmodSync(dir, 0o700);
    const file = (name: string): string | undefined => {
      const text = data[name];
      if (text === undefined) return undefined;
      const path = join(dir, name);
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    };
    const ca = file('ca.crt');
    const cert = file('tls.crt');
    const key = file('tls.key');
    return { dir, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }

  /**
   * The query's settings with the credentials and certificate files of `spec.source.secretRef`,
   * checked again as a whole (a Secret with two kinds of auth, or TLS files for an http address,
   * is refused here). Without a secretRef, the parsed settings as they are.
   */
  async #prometheusConfig(resource: ScaledConsumer, parsed: PrometheusSourceConfig): Promise<{ config: PrometheusSourceConfig; secretDir: string | null }> {
    const { secretRef, ...raw } = resource.spec.source as Record<string, unknown> & { secretRef?: { name: string } };
    if (secretRef === undefined) return { config: parsed, secretDir: null };
    const namespace = resource.metadata.namespace;
    const data = await this.#secret(namespace, secretRef.name, 'spec.source.secretRef');
    const authKeys = ['bearerToken', 'username', 'password', 'customAuthHeader', 'customAuthValue'] as const;
    const auth = Object.fromEntries(authKeys.filter((k) => data[k] !== undefined).map((k) => [k, data[k]]));
    const { dir, ...tls } = this.#secretFiles(data, 'lagscale-prometheus-tls-');
    try {
      const source = resolveSource(
        { ...raw, ...(Object.keys(auth).length > 0 ? { auth } : {}), ...(Object.keys(tls).length > 0 ? { tls } : {}) },
        `spec.source (with Secret ${namespace}/${secretRef.name})`,
      );
      return { config: (source as Extract<ResolvedSource, { type: 'prometheus' }>).config, secretDir: dir };
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Kafka connection options, with TLS and SASL material read from the resource's Secrets. */
  async #connection(resource: ScaledConsumer): Promise<{ connection: KafkaConnectionOptions; secretDir: string | null }> {
    const kafka = resource.spec.kafka as NonNullable<ScaledConsumer['spec']['kafka']>;
    const base = { brokers: kafka.brokers, clientId: kafka.clientId ?? 'lagscale-controller' };
    const namespace = resource.metadata.namespace;
    let secretDir: string | null = null;
    let tls: KafkaConnectionOptions['tls'];
    if (kafka.tls?.enabled === true) {
      tls = {};
      if (kafka.tls.secretRef !== undefined) {
        const { dir, ...files } = this.#secretFiles(await this.#secret(namespace, kafka.tls.secretRef.name, 'spec.kafka.tls'), 'lagscale-kafka-tls-');
        secretDir = dir;
        tls = files;
      }
    }
    let sasl: KafkaConnectionOptions['sasl'];
    if (kafka.sasl !== undefined) {
      const data = await this.#secret(namespace, kafka.sasl.secretRef.name, 'spec.kafka.sasl');
      if (data.username === undefined || data.password === undefined)
        throw new Error(`Secret ${namespace}/${kafka.sasl.secretRef.name} (spec.kafka.sasl) needs the keys username and password`);
      sasl = { mechanism: kafka.sasl.mechanism, username: data.username, password: data.password };
    }
    return { connection: { ...base, ...(tls === undefined ? {} : { tls }), ...(sasl === undefined ? {} : { sasl }) }, secretDir };
  }
}

function targetReason(reason: ScaleTargetError['reason']): string {
  switch (reason) {
    case 'not_found':
      return 'TargetNotFound';
    case 'not_scalable':
      return 'TargetNotScalable';
    case 'forbidden':
      return 'TargetForbidden';
    default:
      return 'TargetUnavailable';
  }
}

function condition(
  type: ScaledConsumerCondition['type'],
  status: ScaledConsumerCondition['status'],
  reason: string,
  message: string,
  observedGeneration: number,
): ScaledConsumerCondition {
  return { type, status, reason, message: message.slice(0, 2000), lastTransitionTime: new Date().toISOString(), observedGeneration };
}

/** The rate policy's learned μ from its state, when it has one. */
function learnedServiceRate(state: unknown): number | null {
  const learned = (state as { learnedServiceRate?: unknown } | null)?.learnedServiceRate;
  return typeof learned === 'number' && Number.isFinite(learned) && learned > 0 ? learned : null;
}

/** A new leader's rate policy starts from the μ the status holds, counted as fully learned. */
function seededPolicyState(parsed: ParsedScaledConsumer, serviceRate: number | undefined): { initialPolicyState?: unknown } {
  if (parsed.policy.name !== 'rate' || serviceRate === undefined || !(serviceRate > 0)) return {};
  const initial = parsed.policy.policy.initialState(parsed.policy.config) as Record<string, unknown>;
  const minSamples = (parsed.policy.config as { minSamples?: number }).minSamples ?? 3;
  return { initialPolicyState: { ...initial, learnedServiceRate: serviceRate, busySamples: minSamples } };
}
