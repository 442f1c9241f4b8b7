import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1APIResource,
} from '@kubernetes/client-node';
import type { Logger } from '@lagscale/exporter';
import type { RequestLane, RequestLimiter } from '../client/request-limiter.js';
import { retryKubernetes } from '../client/retry.js';
import { informedKind, labelSelectorString, type WorkloadCache, type WorkloadInformers } from '../client/workload-informers.js';

/** What to scale: any resource with a `/scale` subresource (Deployment, StatefulSet, a custom one). */
export interface ScaleTargetRef {
  /** `apps/v1` by default. */
  readonly apiVersion?: string;
  /** `Deployment` by default. */
  readonly kind?: string;
  readonly name: string;
}

export interface KubernetesScaleTargetOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly ref: ScaleTargetRef;
  readonly logger: Logger;
  /** The object the scale Events are about, and who sends them (the ScaledConsumer, say). */
  readonly events?: {
    readonly involvedObject: { readonly apiVersion: string; readonly kind: string; readonly name: string; readonly uid?: string };
    readonly component: string;
  };
  /** Attempts per API call on 409, 429, 5xx and network errors. Default 4. */
  readonly attempts?: number;
  /** Shared Deployment and StatefulSet caches: with them a read of those kinds sends no request. */
  readonly informers?: WorkloadInformers;
  /** Rate limit and lanes of the API requests (scale reads and writes: `scale`; Events: `status`). */
  readonly limiter?: RequestLimiter;
  /** Requests counted into a shared object (the controller's counters). */
  readonly counters?: ScaleTargetCounters;
}

/** What reads cost: requests sent, and reads answered from a cache. */
export interface ScaleTargetCounters {
  /** GETs of /scale. */
  scaleReads: number;
  /** Reads answered from an informer's cache. */
  cacheReads: number;
  /** Pod lists for ready replicas (kinds without an informer). */
  podLists: number;
}

/** The scale subresource's view of a workload. */
export interface ScaleReading {
  /** spec.replicas: what the workload is asked to run (HPA's current replicas). */
  readonly replicas: number;
  /** status.replicas: pods that exist. */
  readonly statusReplicas: number;
  readonly selector: string | null;
  /** The workload's resourceVersion at this reading (the scale's is the same). */
  readonly resourceVersion?: string;
  /** status.readyReplicas, when read from an informer's cache. */
  readonly readyReplicas?: number;
}

/** A write of spec.replicas the cache may not have seen yet. */
interface PendingWrite {
  readonly replicas: number;
  /** resourceVersions from before the write (or an earlier write of ours): a cache showing one is behind. */
  readonly stale: ReadonlySet<string>;
  /** The resourceVersion the write produced, when the answer gave it. */
  readonly produced: string | null;
}

/** The target cannot be used (missing, not scalable, forbidden): the message says what to fix. */
export class ScaleTargetError extends Error {
  override readonly name = 'ScaleTargetError';

  constructor(
    message: string,
    /** `not_found`, `not_scalable`, `forbidden`, `unavailable`. */
    readonly reason: 'not_found' | 'not_scalable' | 'forbidden' | 'unavailable',
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The Kubernetes object API with its discovery lookup (kind → plural resource) usable from here. */
class ResourceDiscovery extends KubernetesObjectApi {
  lookup(apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
    return this.resource(apiVersion, kind);
  }
}

interface ResolvedResource {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

/**
 * The `kubernetes` target: the scale subresource of a workload, as HPA and KEDA use it. Current
 * replicas are `spec.replicas` (what HPA calls current), ready replicas are the workload's
 * `status.readyReplicas`. A Deployment or StatefulSet is read from a shared informer's cache (no
 * request per cycle); another kind through GETs of /scale and a list of the pods its selector
 * matches. Writes are merge patches of `spec.replicas`, retried with backoff on
 * conflicts, throttling and server errors; each scale is also a Kubernetes Event. A replica count
 * that changed since this target last wrote it (someone else edited it) is logged: the target owns
 * the replicas of what it scales, as HPA does, and writes its own number on the next decision.
 */
export class KubernetesScaleTarget {
  readonly name: string;
  readonly #options: KubernetesScaleTargetOptions;
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #discovery: ResourceDiscovery;
  readonly #apiVersion: string;
  readonly #kind: string;
  #resource: ResolvedResource | null = null;
  /** The replicas this target last wrote, to notice another writer. */
  #written: number | null = null;
  #pending: PendingWrite | null = null;
  #lastReading: ScaleReading | null = null;
  readonly #cache: WorkloadCache | null;

  constructor(options: KubernetesScaleTargetOptions) {
    this.#options = options;
    this.#apiVersion = options.ref.apiVersion ?? 'apps/v1';
    this.#kind = options.ref.kind ?? 'Deployment';
    this.name = `kubernetes:${this.#kind.toLowerCase()}/${options.namespace}/${options.ref.name}`;
    this.#custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#discovery = options.kubeConfig.makeApiClient(ResourceDiscovery);
    const kind = informedKind(this.#apiVersion, this.#kind);
    this.#cache = kind === null || options.informers === undefined ? null : options.informers.acquire(kind);
  }

  get lastReading(): ScaleReading | null {
    return this.#lastReading;
  }

  async currentReplicas(): Promise<number> {
    return (await this.read()).replicas;
  }

  /**
   * Ready replicas: a cached workload's status.readyReplicas (what kube-controller-manager counts:
   * Ready pods not being deleted); for another kind, the Ready pods the scale's selector matches
   * (one pod list, so not part of every cycle's read).
   */
  async readyReplicas(): Promise<number> {
    const cached = this.#fromCache();
    if (cached !== null) return cached.readyReplicas ?? 0;
    const selector = (this.#lastReading ?? (await this.read())).selector;
    if (selector === null || selector === '') return 0;
    if (this.#options.counters) this.#options.counters.podLists++;
    const pods = await this.#call('list the pods of', () => this.#core.listNamespacedPod({ namespace: this.#options.namespace, labelSelector: selector }));
    return pods.items.filter(
      (pod) => pod.metadata?.deletionTimestamp === undefined && pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
  }

  /** spec.replicas, status.replicas and the pod selector: from the cache when it has synced, else a GET of /scale. */
  async read(): Promise<ScaleReading> {
    if (this.#cache !== null && !this.#cache.synced) await this.#cache.waitForSync(10_000);
    const cached = this.#fromCache();
    if (cached !== null) return this.#accept(cached);
    const resource = await this.#resolve();
    const { namespace } = this.#options;
    if (this.#options.counters) this.#options.counters.scaleReads++;
    const scale = (await this.#call('read the scale of', () =>
      this.#custom.getNamespacedCustomObjectScale({ ...resource, namespace, name: this.#options.ref.name }),
    )) as { metadata?: { resourceVersion?: string }; spec?: { replicas?: number }; status?: { replicas?: number; selector?: string } };
    const resourceVersion = scale.metadata?.resourceVersion;
    return this.#accept({
      replicas: scale.spec?.replicas ?? 0,
      statusReplicas: scale.status?.replicas ?? 0,
      selector: scale.status?.selector ?? null,
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    });
  }

  /** The cached workload as a reading; null when there is no synced cache. Absent from a synced cache: not found. */
  #fromCache(): ScaleReading | null {
    const cache = this.#cache;
    if (cache === null || !cache.synced) return null;
    const { namespace, ref } = this.#options;
    const workload = cache.get(namespace, ref.name);
    if (workload === undefined)
      throw new ScaleTargetError(
        `${this.name}: cannot read the scale of ${this.#kind} "${ref.name}" in namespace "${namespace}": it does not exist (check scaleTargetRef.name)`,
        'not_found',
      );
    if (this.#options.counters) this.#options.counters.cacheReads++;
    const resourceVersion = workload.metadata?.resourceVersion;
    return {
      replicas: workload.spec?.replicas ?? 0,
      statusReplicas: workload.status?.replicas ?? 0,
      selector: labelSelectorString(workload.spec?.selector),
      readyReplicas: workload.status?.readyReplicas ?? 0,
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    };
  }

  /**
   * A reading as the decision takes it: while the reading still shows a version from before this
   * target's last write (a cache behind the write), the written count; else what it shows, with a
   * warning when that is not what this target wrote (someone else edits it).
   */
  #accept(found: ScaleReading): ScaleReading {
    let reading = found;
    const pending = this.#pending;
    if (pending !== null) {
      if (found.resourceVersion !== undefined && pending.stale.has(found.resourceVersion)) reading = { ...found, replicas: pending.replicas };
      else this.#pending = null;
    }
    const { replicas } = reading;
    if (this.#written !== null && replicas !== this.#written) {
      this.#options.logger.warn(
        { event: 'replicas_changed_elsewhere', target: this.name, written: this.#written, found: replicas },
        `${this.name}: spec.replicas is ${replicas}, not the ${this.#written} this controller wrote: someone else edits it; the next decision writes its own number`,
      );
      this.#written = null;
    }
    this.#lastReading = reading;
    return reading;
  }

  async setReplicas(replicas: number): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0) throw new RangeError(`replicas must be a whole number >= 0, got ${replicas}`);
    const resource = await this.#resolve();
    const { namespace } = this.#options;
    const before = this.#lastReading;
    const from = before?.replicas ?? null;
    const answer = (await this.#call('scale', () =>
      this.#custom.patchNamespacedCustomObjectScale(
        { ...resource, namespace, name: this.#options.ref.name, body: { spec: { replicas } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    )) as { metadata?: { resourceVersion?: string } } | undefined;
    this.#written = replicas;
    // Until the cache shows a newer version, it shows the count from before this write.
    const stale = new Set(this.#pending?.stale ?? []);
    if (before?.resourceVersion !== undefined) stale.add(before.resourceVersion);
    if (this.#pending?.produced) stale.add(this.#pending.produced);
    const produced = answer?.metadata?.resourceVersion ?? null;
    if (produced !== null) stale.delete(produced);
    this.#pending = stale.size > 0 ? { replicas, stale, produced } : null;
    if (before !== null) this.#lastReading = { ...before, replicas };
    this.#options.logger.info({ event: 'target_scaled', target: this.name, from, to: replicas }, `${this.name}: replicas ${from ?? '?'} → ${replicas}`);
    await this.#recordEvent(from, replicas);
  }

  async close(): Promise<void> {
    this.#cache?.release();
  }

  async #resolve(): Promise<ResolvedResource> {
    if (this.#resource !== null) return this.#resource;
    const [group, version] = this.#apiVersion.includes('/') ? (this.#apiVersion.split('/') as [string, string]) : ['', this.#apiVersion];
    if (group === '')
      throw new ScaleTargetError(
        `${this.name}: scaleTargetRef.apiVersion "${this.#apiVersion}" is the core group; scale a Deployment or StatefulSet (apps/v1)`,
        'not_scalable',
      );
    const found = await this.#call('look up the kind of', () => this.#discovery.lookup(this.#apiVersion, this.#kind));
    if (found === undefined)
      throw new ScaleTargetError(
        `${this.name}: the API server has no kind ${this.#kind} in ${this.#apiVersion}: check scaleTargetRef.apiVersion and kind`,
        'not_found',
      );
    this.#resource = { group, version, plural: found.name };
    return this.#resource;
  }

  /** An API call with retries; its failure as a ScaleTargetError that says what to fix. */
  async #call<T>(what: string, call: () => Promise<T>, lane: RequestLane = 'scale'): Promise<T> {
    const limiter = this.#options.limiter;
    const limited = limiter === undefined ? call : () => limiter.run(lane, call);
    try {
      return await retryKubernetes(limited, { attempts: this.#options.attempts ?? 4 });
    } catch (error) {
      if (error instanceof ScaleTargetError) throw error;
      const status = error instanceof ApiException ? error.code : null;
      const where = `${this.name}: cannot ${what} ${this.#kind} "${this.#options.ref.name}" in namespace "${this.#options.namespace}"`;
      if (status === 404) throw new ScaleTargetError(`${where}: it does not exist (check scaleTargetRef.name)`, 'not_found', { cause: error });
      if (status === 403)
        throw new ScaleTargetError(
          `${where}: forbidden; grant the controller's service account get/patch on ${this.#kind} scale${this.#cache === null ? '' : `, list/watch on ${this.#kind.toLowerCase()}s`} and list on pods`,
          'forbidden',
          {
            cause: error,
          },
        );
      throw new ScaleTargetError(`${where}: ${status === null ? (error as Error).message : `the API server answered ${status}`}`, 'unavailable', {
        cause: error,
      });
    }
  }

  /** A Kubernetes Event for each scale, as HPA records SuccessfulRescale; a failure to record it is only logged. */
  async #recordEvent(from: number | null, to: number): Promise<void> {
    const events = this.#options.events;
    if (events === undefined) return;
    const now = new Date();
    try {
      const create = () =>
        this.#core.createNamespacedEvent({
          namespace: this.#options.namespace,
          body: {
            metadata: { generateName: `${events.involvedObject.name}.`, namespace: this.#options.namespace },
            involvedObject: { ...events.involvedObject, namespace: this.#options.namespace },
            reason: 'SuccessfulRescale',
            message: `New size: ${to}; reason: lag-based decision (was ${from ?? 'unknown'}) for ${this.#kind} ${this.#options.ref.name}`,
            type: 'Normal',
            source: { component: events.component },
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        });
      const limiter = this.#options.limiter;
      await (limiter === undefined ? create() : limiter.run('status', create));
    } catch (error) {
      this.#options.logger.warn({ event: 'kubernetes_event_failed', target: this.name, err: (error as Error).message }, 'cannot record the scale Event');
    }
  }
}
