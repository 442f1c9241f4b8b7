/**
 * The autoscaler's vocabulary. Policies and behavior are pure functions of these plain values,
 * so the same code decides live, in `lagscale policy eval`, and in the simulator.
 */

/**
 * `consumer`: a consumer group (classic or KIP-848), each partition owned by one member, so more
 * members than partitions sit idle. `share`: a share group (KIP-932), whose members take records
 * one by one from any partition, so nothing caps them but the group's maximum size.
 */
export type GroupKind = 'consumer' | 'share';

/** The broker's default `group.share.max.size`: most members a share group admits. */
export const DEFAULT_SHARE_GROUP_MAX_SIZE = 200;

/** What a scaling policy sees of one consumer or share group at one instant. */
export interface ScalingInput {
  /** Milliseconds since the epoch (simulated time in the simulator). */
  readonly time: number;
  readonly group: string;
  /** Absent: `consumer`. */
  readonly groupKind?: GroupKind;
  /**
   * Share groups: the most members the broker admits (`group.share.max.size`), the cap that
   * replaces the partition count. Absent or null: DEFAULT_SHARE_GROUP_MAX_SIZE.
   */
  readonly maxGroupSize?: number | null;
  /** Replicas the target runs now. */
  readonly currentReplicas: number;
  /**
   * Of those, the ones ready to work (Ready pods, local workers whose /readyz answers, simulated
   * replicas past start-up). Absent or null: the target was not asked or cannot tell. HPA's
   * `Value` metric type scales the ready count, not the current one.
   */
  readonly readyReplicas?: number | null;
  readonly partitions: readonly ScalingPartition[];
  /** Records/s arriving in the group's partitions (log-end growth, smoothed); null until known. */
  readonly produceRate: number | null;
  /** Records/s the group commits (committed-offset growth, smoothed), or a share group acknowledges; null until known. */
  readonly consumeRate: number | null;
  /** Members of the group now (consumers that actually hold partitions or wait for them; a share group's members). */
  readonly activeConsumers: number;
  /**
   * Worst partition time lag in seconds; null when unknown. For a share group the age of the
   * oldest record not acknowledged, which a record being redelivered keeps old while nothing else
   * waits: the rate policy dates a share group's backlog from its arrivals instead.
   */
  readonly timeLagSeconds: number | null;
}

export interface ScalingPartition {
  readonly topic: string;
  readonly partition: number;
  /**
   * Null: the group has no committed offset here (KEDA's "invalid offset", -1). For a share
   * group, log end − lag (records no longer waiting), so lag = log end − committed as for a
   * consumer group; null where the share-partition has no state yet.
   */
  readonly committedOffset: number | null;
  /** Null: unknown this cycle (its broker could not be read). */
  readonly logEndOffset: number | null;
  readonly logStartOffset: number | null;
  /**
   * Share groups only: the share-partition start offset, the oldest record not acknowledged. A
   * start that does not move while the log end does is a record redelivered (or held): no work
   * more consumers could share.
   */
  readonly startOffset?: number | null;
}

/** A policy's recommendation before behavior is applied: plain arithmetic, explained. */
export interface PolicyRecommendation {
  readonly policy: string;
  /** Replicas the policy asks for, before min/max, stabilization and rate limits. */
  readonly replicas: number;
  /** KEDA's activity: false means the workload may go to its idle replica count (scale to zero). */
  readonly active: boolean;
  /** The metric the policy scaled on, e.g. { name: 'lag', value: 1234, target: 100 }. */
  readonly metric: { readonly name: string; readonly value: number; readonly target?: number };
  /** The calculation in one line, with the numbers: "ceil(1234 / 100) = 13 (ratio 4.11 outside tolerance 0.1)". */
  readonly arithmetic: string;
  /** One human line: why this many. */
  readonly reason: string;
  /** Intermediate values worth recording (per policy). */
  readonly details?: Readonly<Record<string, number | string | boolean | null>>;
}

/**
 * A scaling policy, shaped like KEDA's scalers: config parsed and validated up front with precise
 * errors, then a pure recommendation per cycle. State carries what must persist between cycles
 * (previous offsets, learned service rates).
 */
export interface ScalingPolicy<Config, State> {
  readonly name: string;
  /** Validates raw config (from YAML/JSON); throws ScalingConfigError naming the path of each mistake. */
  parseConfig(raw: unknown): Config;
  initialState(config: Config): State;
  recommend(input: ScalingInput, config: Config, state: State): { recommendation: PolicyRecommendation; state: State };
  /**
   * True when this config needs `ScalingInput.readyReplicas` (the threshold policy with metricType
   * Value). The live loop asks the target for ready replicas only then: on Kubernetes that is a
   * pod list per cycle, not worth paying for a policy that does not read it.
   */
  readsReadyReplicas?(config: Config): boolean;
}

export class ScalingConfigError extends Error {
  readonly code = 'LAGSCALE_SCALING_CONFIG';
  /** Every mistake, as `path: message` (e.g. `behavior.scaleUp.policies.0.periodSeconds: must be > 0`). */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid scaling configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** HPA scaling rules for one direction (Kubernetes autoscaling/v2 HPAScalingRules). */
export interface ScalingRules {
  readonly stabilizationWindowSeconds: number;
  readonly selectPolicy: 'Max' | 'Min' | 'Disabled';
  readonly policies: readonly { readonly type: 'Pods' | 'Percent'; readonly value: number; readonly periodSeconds: number }[];
}

/** What happens around the policy: HPA's behavior plus KEDA's idle/activation/fallback/pause. */
export interface BehaviorConfig {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** Replicas while the policy says inactive (KEDA idleReplicaCount; 0 = scale to zero). Null: never idle below minReplicas. */
  readonly idleReplicas: number | null;
  /** Seconds after the last active cycle before going idle (KEDA cooldownPeriod). Default 300. */
  readonly cooldownSeconds: number;
  readonly scaleUp: ScalingRules;
  readonly scaleDown: ScalingRules;
  /** After this many consecutive failed metric reads, hold `replicas` (KEDA fallback). Null: keep current. */
  readonly fallback: { readonly failureThreshold: number; readonly replicas: number } | null;
  /** Paused: no changes are made (a number: hold exactly that many, KEDA paused-replicas). */
  readonly paused: boolean | number;
}

/** What behavior remembers between cycles. */
export interface BehaviorState {
  /** Recent policy recommendations (time ms, replicas), for stabilization windows. */
  readonly recommendations: readonly { readonly time: number; readonly replicas: number }[];
  /** Recent replica changes (time ms, +n/-n), for scale-up/down rate-limit policies. */
  readonly scaleEvents: readonly { readonly time: number; readonly change: number }[];
  /** Last time (ms) the policy said active; null before the first active cycle. */
  readonly lastActiveTime: number | null;
  readonly consecutiveFailures: number;
}

export type ScalingAction = 'scale_up' | 'scale_down' | 'none' | 'paused' | 'fallback';

/** One decision, recorded with everything needed to explain it later. */
export interface ScalingDecision {
  readonly time: number;
  readonly group: string;
  readonly policy: string;
  readonly currentReplicas: number;
  readonly desiredReplicas: number;
  readonly action: ScalingAction;
  readonly inputs: {
    readonly lag: number | null;
    readonly timeLagSeconds: number | null;
    readonly produceRate: number | null;
    readonly consumeRate: number | null;
    readonly activeConsumers: number;
    /** Ready replicas the target reported; null when it was not asked (see ScalingPolicy.readsReadyReplicas). */
    readonly readyReplicas?: number | null;
    readonly partitions: number;
  };
  /** Null when the metrics could not be read this cycle. */
  readonly recommendation: PolicyRecommendation | null;
  /** Each behavior step that changed the number, in order: "scaleDown stabilization 300s: 3 -> 5". */
  readonly adjustments: readonly string[];
  /** One human line. */
  readonly reason: string;
}
