import { EventEmitter } from 'node:events';
import {
  type BehaviorConfig,
  type BehaviorState,
  decide,
  type GroupKind,
  initialBehaviorState,
  type LagSnapshot,
  type PolicyRecommendation,
  type ScalingDecision,
  type ScalingInput,
  type ScalingInputWithMetric,
  ScalingMetricUnavailableError,
  scalingInputFromSnapshot,
  scalingLagProblem,
} from '@lagscale/core';
import type { Logger } from '@lagscale/exporter';
import type { ResolvedPolicy } from './policies.js';
import type { MetricReading } from './sources/prometheus.js';
import type { ScaleTarget } from './targets/target.js';

/** Where snapshots come from: a LagMonitor, or a view of one (one lag collection shared by many autoscalers). */
export interface SnapshotSource {
  on(event: 'snapshot', listener: (snapshot: LagSnapshot) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'snapshot', listener: (snapshot: LagSnapshot) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}

/** A source of one metric value per cycle instead of lag snapshots (a PromQL query: sources/prometheus.ts). */
export interface MetricReadingSource {
  on(event: 'reading', listener: (reading: MetricReading) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'reading', listener: (reading: MetricReading) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}

export interface AutoscalerOptions {
  /** Lag snapshots, one decision each. Exactly one of `monitor` and `metricSource` is given. */
  readonly monitor?: SnapshotSource;
  /**
   * Instead of `monitor`: one value per cycle, handed to the policy as the input's `externalMetric`
   * (the prometheus policy reads it). A failed read is a failed metric read, as a failed collection is.
   */
  readonly metricSource?: MetricReadingSource;
  readonly group: string;
  /** `share`: `group` is a share group (KIP-932), read from the snapshot's shareGroups. Default `consumer`. */
  readonly groupKind?: GroupKind;
  /** Share groups: the broker's group.share.max.size, the most members worth asking for; null or absent: 200. */
  readonly maxGroupSize?: number | null;
  readonly policy: ResolvedPolicy;
  readonly behavior: BehaviorConfig;
  readonly target: ScaleTarget;
  readonly logger: Logger;
  /** Decisions kept for the API. Default 500. */
  readonly historyLength?: number;
  /** The policy's state to start from (what a previous leader learned); default the policy's initial state. */
  readonly initialPolicyState?: unknown;
  /**
   * Asked every cycle: a reason when more consumers would not help (their result store is down),
   * null otherwise. While it gives a reason, scale-ups are held at the current count (see `decide`).
   */
  readonly scaleOutHold?: () => Promise<string | null> | string | null;
}

export interface AutoscalerEvents {
  decision: [ScalingDecision];
}

export interface AutoscalerCounters {
  readonly decisionsByAction: Map<string, number>;
  readonly errorsByStage: Map<string, number>;
  scaleUps: number;
  scaleDowns: number;
}

/**
 * The control loop, as HPA's horizontal.go: on every lag snapshot it reads the target's replicas,
 * asks the policy, passes the answer through behavior, writes the result to the target and
 * records the decision with its inputs, arithmetic and reason. A failed collection or an
 * incomplete snapshot counts as a failed metric read (fallback after N of them).
 */
export class Autoscaler extends EventEmitter<AutoscalerEvents> {
  readonly group: string;
  readonly groupKind: GroupKind;
  readonly maxGroupSize: number | null;
  readonly policy: ResolvedPolicy;
  readonly behavior: BehaviorConfig;
  readonly target: ScaleTarget;
  readonly #logger: Logger;
  readonly #monitor: SnapshotSource | null;
  readonly #metricSource: MetricReadingSource | null;
  readonly #historyLength: number;
  readonly #scaleOutHold: AutoscalerOptions['scaleOutHold'];
  readonly #decisions: ScalingDecision[] = [];
  #policyState: unknown;
  #behaviorState: BehaviorState = initialBehaviorState();
  #pausedByUser = false;
  #busy: Promise<void> = Promise.resolve();
  #currentReplicas = 0;
  readonly counters: AutoscalerCounters = { decisionsByAction: new Map(), errorsByStage: new Map(), scaleUps: 0, scaleDowns: 0 };
  readonly #onSnapshot = (snapshot: LagSnapshot): void => this.#enqueue(() => this.#cycle(snapshot));
  readonly #onError = (error: Error): void => this.#enqueue(() => this.#cycle(null, error));
  readonly #onReading = (reading: MetricReading): void => this.#enqueue(() => this.#cycle(null, undefined, reading));

  constructor(options: AutoscalerOptions) {
    super();
    this.group = options.group;
    this.groupKind = options.groupKind ?? 'consumer';
    this.maxGroupSize = options.maxGroupSize ?? null;
    this.policy = options.policy;
    this.behavior = options.behavior;
    this.target = options.target;
    this.#logger = options.logger;
    if ((options.monitor === undefined) === (options.metricSource === undefined)) {
      throw new Error('Autoscaler: give either monitor (lag snapshots) or metricSource (one value per cycle), exactly one');
    }
    this.#monitor = options.monitor ?? null;
    this.#metricSource = options.metricSource ?? null;
    this.#historyLength = options.historyLength ?? 500;
    this.#scaleOutHold = options.scaleOutHold;
    this.#policyState = options.initialPolicyState ?? options.policy.policy.initialState(options.policy.config);
  }

  /** The policy's state now (the rate policy's learned service rate, say). */
  get policyState(): unknown {
    return this.#policyState;
  }

  /** Follows the monitor: one decision per collection cycle. */
  start(): void {
    this.#monitor?.on('snapshot', this.#onSnapshot);
    this.#monitor?.on('error', this.#onError);
    this.#metricSource?.on('reading', this.#onReading);
    this.#metricSource?.on('error', this.#onError);
  }

  async stop(): Promise<void> {
    this.#monitor?.off('snapshot', this.#onSnapshot);
    this.#monitor?.off('error', this.#onError);
    this.#metricSource?.off('reading', this.#onReading);
    this.#metricSource?.off('error', this.#onError);
    await this.#busy;
  }

  get paused(): boolean {
    return this.#pausedByUser || this.behavior.paused !== false;
  }

  /** Pause: decisions are still computed and recorded, nothing is applied. */
  pause(): void {
    this.#pausedByUser = true;
    this.#logger.info({ event: 'autoscaler_paused', group: this.group }, 'autoscaler paused');
  }

  resume(): void {
    this.#pausedByUser = false;
    this.#logger.info({ event: 'autoscaler_resumed', group: this.group }, 'autoscaler resumed');
  }

  get currentReplicas(): number {
    return this.#currentReplicas;
  }

  /** Newest first. */
  decisions(limit = this.#historyLength): ScalingDecision[] {
    return this.#decisions.slice(-limit).reverse();
  }

  get lastDecision(): ScalingDecision | null {
    return this.#decisions[this.#decisions.length - 1] ?? null;
  }

  #enqueue(work: () => Promise<void>): void {
    // Cycles never overlap: a slow scale write delays the next decision instead of racing it.
    this.#busy = this.#busy.then(work).catch((error: unknown) => {
      this.#count(this.counters.errorsByStage, 'loop');
      this.#logger.error({ event: 'autoscaler_cycle_failed', group: this.group, err: (error as Error).message }, 'autoscaler cycle failed');
    });
  }

  async #cycle(snapshot: LagSnapshot | null, collectionError?: Error, reading?: MetricReading): Promise<void> {
    let current: number;
    try {
      current = await this.target.currentReplicas();
    } catch (error) {
      this.#count(this.counters.errorsByStage, 'target');
      this.#logger.error({ event: 'target_read_failed', target: this.target.name, err: (error as Error).message }, 'cannot read current replicas');
      return;
    }
    this.#currentReplicas = current;
    const ready = await this.#readyReplicas();
    const time = snapshot?.time ?? reading?.time ?? Date.now();
    const groupOptions = { kind: this.groupKind, maxGroupSize: this.maxGroupSize };
    const input: ScalingInput = (snapshot ? scalingInputFromSnapshot(snapshot, this.group, current, ready, groupOptions) : null) ?? {
      time,
      group: this.group,
      ...(this.groupKind === 'share' ? { groupKind: 'share' as const, maxGroupSize: this.maxGroupSize } : {}),
      currentReplicas: current,
      readyReplicas: ready,
      partitions: [],
      produceRate: null,
      consumeRate: null,
      activeConsumers: 0,
      timeLagSeconds: null,
    };
    let recommendation: PolicyRecommendation | null = null;
    let unavailable: string | null = collectionError
      ? `${this.#metricSource === null ? 'lag collection' : 'metric read'} failed: ${collectionError.message}`
      : null;
    if (unavailable === null && snapshot) unavailable = scalingLagProblem(snapshot, this.group, this.groupKind);
    if (unavailable === null) {
      try {
        // A source's value rides along in the input; Kafka-lag policies never look at it.
        let policyInput: ScalingInput = input;
        if (reading !== undefined) {
          const withMetric: ScalingInputWithMetric = { ...input, externalMetric: reading };
          policyInput = withMetric;
        }
        const result = this.policy.policy.recommend(policyInput, this.policy.config, this.#policyState);
        recommendation = result.recommendation;
        this.#policyState = result.state;
      } catch (error) {
        if (!(error instanceof ScalingMetricUnavailableError)) throw error;
        unavailable = error.message;
      }
    }
    if (unavailable !== null) this.#count(this.counters.errorsByStage, 'metrics');

    const behavior: BehaviorConfig = this.#pausedByUser && this.behavior.paused === false ? { ...this.behavior, paused: true } : this.behavior;
    let scaleOutHold: string | null = null;
    try {
      scaleOutHold = (await this.#scaleOutHold?.()) ?? null;
    } catch (error) {
      scaleOutHold = `the bottleneck check failed: ${(error as Error).message}`;
    }
    const { decision, state } = decide({ input, policy: this.policy.name, recommendation, behavior, state: this.#behaviorState, scaleOutHold });
    const recorded: ScalingDecision = unavailable === null ? decision : { ...decision, reason: `${decision.reason} (${unavailable})` };

    if (recorded.desiredReplicas !== current && recorded.action !== 'paused') {
      try {
        await this.target.setReplicas(recorded.desiredReplicas);
      } catch (error) {
        // The decision did not happen: keep the previous behavior state so rate limits stay true.
        this.#count(this.counters.errorsByStage, 'target');
        this.#logger.error(
          { event: 'scale_failed', group: this.group, target: this.target.name, from: current, to: recorded.desiredReplicas, err: (error as Error).message },
          'scaling the target failed',
        );
        this.#record(recorded);
        return;
      }
      if (recorded.desiredReplicas > current) this.counters.scaleUps++;
      else this.counters.scaleDowns++;
    }
    this.#behaviorState = state;
    this.#record(recorded);
  }

  /**
   * Ready replicas, when the policy reads them (else null, nothing asked). A target that cannot
   * tell, or a failed read, leaves it null: the policy then fails the cycle as HPA does.
   */
  async #readyReplicas(): Promise<number | null> {
    const policy = this.policy.policy;
    if (policy.readsReadyReplicas?.(this.policy.config) !== true) return null;
    if (this.target.readyReplicas === undefined) {
      this.#logger.warn(
        { event: 'ready_replicas_unsupported', target: this.target.name, policy: this.policy.name },
        `target ${this.target.name} cannot report ready replicas, which this policy needs`,
      );
      return null;
    }
    try {
      return await this.target.readyReplicas();
    } catch (error) {
      this.#count(this.counters.errorsByStage, 'target');
      this.#logger.error({ event: 'ready_replicas_read_failed', target: this.target.name, err: (error as Error).message }, 'cannot read ready replicas');
      return null;
    }
  }

  #record(decision: ScalingDecision): void {
    this.#decisions.push(decision);
    if (this.#decisions.length > this.#historyLength) this.#decisions.splice(0, this.#decisions.length - this.#historyLength);
    this.#count(this.counters.decisionsByAction, decision.action);
    const level = decision.action === 'none' || decision.action === 'paused' ? 'debug' : 'info';
    this.#logger[level](
      {
        event: 'scaling_decision',
        group: decision.group,
        policy: decision.policy,
        action: decision.action,
        currentReplicas: decision.currentReplicas,
        desiredReplicas: decision.desiredReplicas,
        lag: decision.inputs.lag,
        timeLagSeconds: decision.inputs.timeLagSeconds,
        arithmetic: decision.recommendation?.arithmetic ?? null,
        adjustments: decision.adjustments,
      },
      decision.reason,
    );
    this.emit('decision', decision);
  }

  #count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}
