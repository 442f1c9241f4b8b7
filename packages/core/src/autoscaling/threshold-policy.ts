/**
 * Policy `threshold`: KEDA's Kafka scaler (pkg/scalers/kafka_scaler.go) turned into replicas by
 * the Kubernetes HPA's External metric / AverageValue calculation
 * (pkg/controller/podautoscaler/replica_calculator.go, GetExternalPerPodMetricReplicas).
 * Same offsets and same replica count in, same desired replicas out as KEDA + HPA; behavior
 * (stabilization, rate limits, min/max, idle, activation) is applied afterwards by `applyBehavior`.
 *
 * A share group (KIP-932) keeps KEDA's arithmetic without the partition cap: its members are not
 * bound to partitions, so the cap is the group's maximum size (`group.share.max.size`), and
 * limitToPartitionsWithLag and ensureEvenDistributionOfPartitions do not apply.
 */

import type { OffsetResetPolicy } from '../snapshot.js';
import { type ConfigObject, checkInteger, joinPath, readBoolean, readChoice, readInteger, readNumber, readObject, rejectUnknownKeys } from './config-reader.js';
import {
  DEFAULT_SHARE_GROUP_MAX_SIZE,
  type PolicyRecommendation,
  ScalingConfigError,
  type ScalingInput,
  type ScalingPartition,
  type ScalingPolicy,
} from './types.js';

/** HPA's tolerance around a usage ratio of 1 (controller flag, default 0.1; per direction since Kubernetes 1.33). */
export interface HpaTolerance {
  readonly scaleUp: number;
  readonly scaleDown: number;
}

/**
 * The HPA target type of KEDA's trigger (`metricType`): `AverageValue` (KEDA's default) divides
 * the metric by the target per replica; `Value` compares the whole metric with the target and
 * scales the READY replicas by that ratio.
 */
export type HpaMetricType = 'AverageValue' | 'Value';

export interface ThresholdPolicyConfig {
  /** Target lag per replica (KEDA lagThreshold, default 10): the HPA AverageValue target, or the Value target. */
  readonly lagThreshold: number;
  /** KEDA trigger `metricType`, default AverageValue. */
  readonly metricType: HpaMetricType;
  /** Lag at or below which the workload is inactive and may go idle (default 0). */
  readonly activationLagThreshold: number;
  /** Where a consumer without a committed offset would start (default latest). */
  readonly offsetResetPolicy: OffsetResetPolicy;
  /** Allow more replicas than partitions (default false). */
  readonly allowIdleConsumers: boolean;
  /** Do not scale on partitions whose committed offset did not move since the last cycle (default false). */
  readonly excludePersistentLag: boolean;
  /** A partition without a committed offset counts as lag 0 instead of 1 / its log end (default false). */
  readonly scaleToZeroOnInvalidOffset: boolean;
  /** Never more replicas than partitions that have lag (default false). */
  readonly limitToPartitionsWithLag: boolean;
  /** Round replicas up to a divisor of the partition count (KEDA ensureEvenDistributionOfPartitions, default false). */
  readonly ensureEvenDistributionOfPartitions: boolean;
  /** Only this topic's partitions; null: every topic of the group (KEDA without `topic`). */
  readonly topic: string | null;
  /** Only these partition ids of `topic` (KEDA partitionLimitation); null: all. */
  readonly partitionLimitation: readonly number[] | null;
  readonly tolerance: HpaTolerance;
}

export interface ThresholdPolicyState {
  /** Committed offset per `topic:partition` from the previous cycle (KEDA's previousOffsets), for excludePersistentLag. */
  readonly previousOffsets: Readonly<Record<string, number>>;
}

/**
 * The metric could not be computed from this input (a log-end offset unknown, no partitions):
 * KEDA would report an error for the cycle, so the caller treats it as a failed metric read
 * (recommendation null: hold, or fallback after N failures).
 */
export class ScalingMetricUnavailableError extends Error {
  readonly code = 'LAGSCALE_SCALING_METRIC_UNAVAILABLE';
}

export const THRESHOLD_DEFAULTS = {
  lagThreshold: 10,
  metricType: 'AverageValue',
  activationLagThreshold: 0,
  offsetResetPolicy: 'latest',
  allowIdleConsumers: false,
  excludePersistentLag: false,
  scaleToZeroOnInvalidOffset: false,
  limitToPartitionsWithLag: false,
  ensureEvenDistributionOfPartitions: false,
  topic: null,
  partitionLimitation: null,
  tolerance: { scaleUp: 0.1, scaleDown: 0.1 },
} as const satisfies ThresholdPolicyConfig;

const CONFIG_KEYS = [
  'lagThreshold',
  'metricType',
  'activationLagThreshold',
  'offsetResetPolicy',
  'allowIdleConsumers',
  'excludePersistentLag',
  'scaleToZeroOnInvalidOffset',
  'limitToPartitionsWithLag',
  'ensureEvenDistributionOfPartitions',
  'topic',
  'partitionLimitation',
  'tolerance',
] as const;

/** Validates raw config with KEDA's rules (kafkaMetadata.Validate) and fills KEDA's defaults. */
export function parseThresholdConfig(raw: unknown, path = ''): ThresholdPolicyConfig {
  const problems: string[] = [];
  const obj = readObject(raw, path, problems);
  if (obj === null) throw new ScalingConfigError(problems);
  rejectUnknownKeys(obj, CONFIG_KEYS, path, problems);
  const d = THRESHOLD_DEFAULTS;
  // KEDA: "lagThreshold must be positive number", "activationLagThreshold must be a non-negative number"; both int64.
  const lagThreshold = readInteger(obj, 'lagThreshold', path, problems, d.lagThreshold, { min: 1, message: 'must be a positive integer' });
  const activationLagThreshold = readInteger(obj, 'activationLagThreshold', path, problems, d.activationLagThreshold, {
    min: 0,
    message: 'must be a non-negative integer',
  });
  // KEDA accepts AverageValue and Value for a scaler's metric (Utilization only for cpu/memory).
  const metricType = readChoice(obj, 'metricType', path, problems, ['AverageValue', 'Value'] as const, d.metricType);
  const offsetResetPolicy = readChoice(obj, 'offsetResetPolicy', path, problems, ['latest', 'earliest'] as const, d.offsetResetPolicy);
  const allowIdleConsumers = readBoolean(obj, 'allowIdleConsumers', path, problems, d.allowIdleConsumers);
  const excludePersistentLag = readBoolean(obj, 'excludePersistentLag', path, problems, d.excludePersistentLag);
  const scaleToZeroOnInvalidOffset = readBoolean(obj, 'scaleToZeroOnInvalidOffset', path, problems, d.scaleToZeroOnInvalidOffset);
  const limitToPartitionsWithLag = readBoolean(obj, 'limitToPartitionsWithLag', path, problems, d.limitToPartitionsWithLag);
  const ensureEvenDistributionOfPartitions = readBoolean(obj, 'ensureEvenDistributionOfPartitions', path, problems, d.ensureEvenDistributionOfPartitions);
  const topic = readTopic(obj, path, problems);
  const partitionLimitation = readPartitionLimitation(obj, path, problems);
  const tolerance = readTolerance(obj, path, problems);

  if (allowIdleConsumers && limitToPartitionsWithLag) {
    problems.push(`${joinPath(path, 'limitToPartitionsWithLag')}: cannot be combined with allowIdleConsumers (KEDA refuses both set)`);
  }
  if (limitToPartitionsWithLag && ensureEvenDistributionOfPartitions) {
    problems.push(`${joinPath(path, 'ensureEvenDistributionOfPartitions')}: cannot be combined with limitToPartitionsWithLag (KEDA refuses both set)`);
  }
  // KEDA's metadata validation refuses both without a topic: they count partitions of one topic.
  if (limitToPartitionsWithLag && topic === null) problems.push(`${joinPath(path, 'limitToPartitionsWithLag')}: needs topic (KEDA refuses it without one)`);
  if (ensureEvenDistributionOfPartitions && topic === null)
    problems.push(`${joinPath(path, 'ensureEvenDistributionOfPartitions')}: needs topic (KEDA refuses it without one)`);
  if (partitionLimitation !== null && topic === null) {
    // KEDA silently drops partitionLimitation without a topic; saying so is kinder than ignoring it.
    problems.push(`${joinPath(path, 'partitionLimitation')}: only applies together with topic (KEDA ignores it without one)`);
  }
  if (problems.length > 0) throw new ScalingConfigError(problems);
  return {
    lagThreshold,
    metricType,
    activationLagThreshold,
    offsetResetPolicy,
    allowIdleConsumers,
    excludePersistentLag,
    scaleToZeroOnInvalidOffset,
    limitToPartitionsWithLag,
    ensureEvenDistributionOfPartitions,
    topic,
    partitionLimitation,
    tolerance,
  };
}

function readTopic(obj: ConfigObject, path: string, problems: string[]): string | null {
  const value = obj.topic;
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !/^[A-Za-z0-9._-]{1,249}$/.test(value)) {
    problems.push(`${joinPath(path, 'topic')}: must be a Kafka topic name (1-249 of [A-Za-z0-9._-])`);
    return null;
  }
  return value;
}

/** KEDA's format "0,2,5-7" (inclusive ranges) or a list of partition ids. */
function readPartitionLimitation(obj: ConfigObject, path: string, problems: string[]): readonly number[] | null {
  const value = obj.partitionLimitation;
  const at = joinPath(path, 'partitionLimitation');
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') {
    if (value.trim() === '') return null;
    const ids: number[] = [];
    for (const part of value.split(',').map((p) => p.trim())) {
      const range = /^(\d+)\s*-\s*(\d+)$/.exec(part);
      if (range !== null) {
        const from = Number(range[1]);
        const to = Number(range[2]);
        for (let id = from; id <= to; id++) ids.push(id);
      } else if (/^\d+$/.test(part)) {
        ids.push(Number(part));
      } else {
        problems.push(`${at}: invalid partition or range ${JSON.stringify(part)} (expected e.g. "0,2,5-7")`);
        return null;
      }
    }
    return ids;
  }
  if (Array.isArray(value)) {
    const ids: number[] = [];
    value.forEach((item, index) => {
      const id = checkInteger(item, joinPath(at, index), problems, { min: 0 });
      if (id !== null) ids.push(id);
    });
    return ids;
  }
  problems.push(`${at}: must be a list of partition ids or a string like "0,2,5-7"`);
  return null;
}

function readTolerance(obj: ConfigObject, path: string, problems: string[]): HpaTolerance {
  const value = obj.tolerance;
  const d = THRESHOLD_DEFAULTS.tolerance;
  if (value === undefined) return d;
  if (typeof value === 'number' || typeof value === 'string') {
    const both = readNumber(obj, 'tolerance', path, problems, d.scaleUp, { min: 0, max: 1 });
    return { scaleUp: both, scaleDown: both };
  }
  const at = joinPath(path, 'tolerance');
  const inner = readObject(value, at, problems);
  if (inner === null) return d;
  rejectUnknownKeys(inner, ['scaleUp', 'scaleDown'], at, problems);
  return {
    scaleUp: readNumber(inner, 'scaleUp', at, problems, d.scaleUp, { min: 0, max: 1 }),
    scaleDown: readNumber(inner, 'scaleDown', at, problems, d.scaleDown, { min: 0, max: 1 }),
  };
}

/** What KEDA's scaler computes for one cycle (getTotalLag), with the pieces worth recording. */
export interface KedaLagResult {
  /** Sum of per-partition lag (persistent lag excluded), before the partition cap. */
  readonly totalLag: number;
  /** Sum including persistent lag: decides activity. */
  readonly totalLagWithPersistent: number;
  /** The value KEDA reports to the HPA: totalLag after even distribution and the partition cap. */
  readonly metric: number;
  /** Partitions counted (KEDA's totalTopicPartitions). */
  readonly partitions: number;
  readonly partitionsWithLag: number;
  readonly invalidOffsetPartitions: number;
  readonly persistentLagPartitions: number;
  /** Replicas the metric may ask for at most (partitions, or partitions with lag; a share group's maximum size); null when no cap applies. */
  readonly upperBound: number | null;
  /** True for a share group: the cap is the group's maximum size, never the partitions. */
  readonly shareGroup: boolean;
  readonly capped: boolean;
  /** Divisor of the partition count chosen by ensureEvenDistributionOfPartitions; null when off. */
  readonly evenDistributionFactor: number | null;
  readonly active: boolean;
  readonly previousOffsets: Readonly<Record<string, number>>;
}

function partitionKey(partition: ScalingPartition): string {
  return `${partition.topic}:${partition.partition}`;
}

function inScope(partition: ScalingPartition, config: ThresholdPolicyConfig): boolean {
  if (config.topic !== null && partition.topic !== config.topic) return false;
  return config.partitionLimitation === null || config.partitionLimitation.includes(partition.partition);
}

/** Divisors of n in ascending order (KEDA FindFactors). */
export function divisors(n: number): number[] {
  if (n < 1) return [];
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 1; i * i <= n; i++) {
    if (n % i === 0) {
      small.push(i);
      if (i !== n / i) large.unshift(n / i);
    }
  }
  return [...small, ...large];
}

/** KEDA's getTotalLag over one ScalingInput. Throws ScalingMetricUnavailableError where KEDA's read would fail. */
export function computeKedaLag(input: ScalingInput, config: ThresholdPolicyConfig, previousOffsets: Readonly<Record<string, number>>): KedaLagResult {
  const partitions = input.partitions.filter((p) => inScope(p, config));
  if (partitions.length === 0) {
    // KEDA: "expected at least one active partition within the topic".
    throw new ScalingMetricUnavailableError(
      `group ${input.group}: no partition${config.topic === null ? '' : ` of topic ${config.topic}`} to measure; KEDA reports an error for this cycle`,
    );
  }
  const unknown = partitions.filter((p) => p.logEndOffset === null);
  if (unknown.length > 0) {
    // KEDA asks each leader for the latest offsets and fails the whole read when one cannot answer;
    // summing the rest would under-report lag and could scale in during a broker outage.
    throw new ScalingMetricUnavailableError(
      `group ${input.group}: log-end offset unknown for ${unknown.length} of ${partitions.length} partitions (e.g. ${partitionKey(unknown[0] as ScalingPartition)}); KEDA reports an error for this cycle`,
    );
  }

  const nextOffsets: Record<string, number> = { ...previousOffsets };
  let totalLag = 0;
  let totalLagWithPersistent = 0;
  let partitionsWithLag = 0;
  let invalidOffsetPartitions = 0;
  let persistentLagPartitions = 0;
  for (const partition of partitions) {
    const logEnd = partition.logEndOffset as number;
    let lag: number;
    let lagWithPersistent: number;
    if (partition.committedOffset === null) {
      invalidOffsetPartitions++;
      if (config.scaleToZeroOnInvalidOffset) {
        lag = 0;
      } else if (config.offsetResetPolicy === 'latest') {
        // KEDA returns lag 1 for a partition nobody committed to under `latest`: enough to activate
        // (scale from zero) without claiming a backlog the consumer will skip anyway.
        lag = 1;
      } else {
        // Under `earliest` KEDA counts the whole log end offset (not log end − log start), as if the
        // consumer started at offset 0.
        lag = logEnd;
      }
      lagWithPersistent = lag;
    } else {
      // KEDA does not clamp: a committed offset past the log end (truncated log) counts negative.
      lagWithPersistent = logEnd - partition.committedOffset;
      lag = lagWithPersistent;
      if (config.excludePersistentLag) {
        const key = partitionKey(partition);
        const previous = nextOffsets[key];
        // First sight: remember and count it. Same offset as last cycle: the consumer is stuck on
        // a message, so the lag is left out of the metric (0) but still counts for activity.
        // Otherwise it moved: remember the new offset and count the lag.
        if (previous === partition.committedOffset) {
          lag = 0;
          if (lagWithPersistent !== 0) persistentLagPartitions++;
        } else {
          nextOffsets[key] = partition.committedOffset;
        }
      }
    }
    totalLag += lag;
    totalLagWithPersistent += lagWithPersistent;
    if (lag > 0) partitionsWithLag++;
  }

  let metric = totalLag;
  let upperBound: number | null = null;
  let capped = false;
  let evenDistributionFactor: number | null = null;
  const shareGroup = input.groupKind === 'share';
  if (shareGroup) {
    // A share group's members are not bound to partitions (8 partitions can feed 40 members), so
    // the partition cap, limitToPartitionsWithLag and even distribution do not apply; the broker
    // admits at most group.share.max.size members. The same integer division as KEDA's cap.
    upperBound = input.maxGroupSize ?? DEFAULT_SHARE_GROUP_MAX_SIZE;
    if (Math.trunc(metric / config.lagThreshold) > upperBound) {
      metric = upperBound * config.lagThreshold;
      capped = true;
    }
  } else if (!config.allowIdleConsumers || config.limitToPartitionsWithLag || config.ensureEvenDistributionOfPartitions) {
    // No more consumers than partitions (or partitions with lag): extra ones would sit idle. Every
    // measured partition counts, those without a committed offset included.
    upperBound = partitions.length;
    if (config.ensureEvenDistributionOfPartitions) {
      const factor = divisors(partitions.length).find((f) => f * config.lagThreshold >= metric) ?? partitions.length;
      evenDistributionFactor = factor;
      metric = factor * config.lagThreshold;
    }
    if (config.limitToPartitionsWithLag) upperBound = partitionsWithLag;
    // Integer division as in Go: 805 / 100 = 8 is not above 8 partitions, so 805 passes uncapped
    // and the HPA asks ceil(8.05) = 9 replicas. Kept as KEDA does it.
    if (Math.trunc(metric / config.lagThreshold) > upperBound) {
      metric = upperBound * config.lagThreshold;
      capped = true;
    }
  }

  return {
    totalLag,
    totalLagWithPersistent,
    metric,
    partitions: partitions.length,
    partitionsWithLag,
    invalidOffsetPartitions,
    persistentLagPartitions,
    upperBound,
    shareGroup,
    capped,
    evenDistributionFactor,
    // KEDA's activity: lag including persistent lag strictly above activationLagThreshold.
    active: totalLagWithPersistent > config.activationLagThreshold,
    previousOffsets: nextOffsets,
  };
}

export interface HpaReplicas {
  readonly replicas: number;
  /** metric / (target × currentReplicas); Infinity or NaN at 0 replicas. */
  readonly usageRatio: number;
  readonly withinTolerance: boolean;
}

/**
 * HPA's External metric with an AverageValue target. Inside the tolerance band
 * (1 − scaleDown <= ratio <= 1 + scaleUp, bounds included) the current count stands; outside it
 * the answer is ceil(metric / target), independent of the current count. At 0 replicas the ratio
 * is infinite (or NaN for metric 0, which is never "within"), so the formula gives
 * ceil(metric / target) there too: the HPA itself only meets 0 replicas with minReplicas 0.
 */
export function hpaAverageValueReplicas(metric: number, target: number, currentReplicas: number, tolerance: HpaTolerance): HpaReplicas {
  const usageRatio = metric / (target * currentReplicas);
  const withinTolerance = 1 - tolerance.scaleDown <= usageRatio && usageRatio <= 1 + tolerance.scaleUp;
  if (withinTolerance) return { replicas: currentReplicas, usageRatio, withinTolerance };
  // A negative metric (KEDA's unclamped lag) would ask for negative replicas; min/max clamps it anyway.
  return { replicas: Math.max(0, Math.ceil(metric / target)), usageRatio, withinTolerance };
}

/**
 * HPA's External (or Object) metric with a `Value` target (replica_calculator.go,
 * GetExternalMetricReplicas → getUsageRatioReplicaCount): usage ratio = metric / target. At 0
 * current replicas the answer is ceil(ratio), tolerance not applied (the scale-from-zero path).
 * Otherwise a ratio inside the tolerance band keeps the current count, and outside it the answer
 * is ceil(ratio × READY replicas): replicas still starting count for nothing, so a group whose
 * new pods are not ready yet is not scaled again as if they worked. HPA fails the cycle when it
 * cannot count ready pods; `readyReplicas` null is that case (thrown as a failed metric read, so
 * the loop holds or falls back as it would for KEDA).
 */
export function hpaValueReplicas(
  metric: number,
  target: number,
  currentReplicas: number,
  readyReplicas: number | null,
  tolerance: HpaTolerance,
): HpaReplicas & { readonly readyReplicas: number | null } {
  const usageRatio = metric / target;
  if (currentReplicas === 0) return { replicas: Math.max(0, Math.ceil(usageRatio)), usageRatio, withinTolerance: false, readyReplicas };
  const withinTolerance = 1 - tolerance.scaleDown <= usageRatio && usageRatio <= 1 + tolerance.scaleUp;
  if (withinTolerance) return { replicas: currentReplicas, usageRatio, withinTolerance, readyReplicas };
  if (readyReplicas === null) {
    throw new ScalingMetricUnavailableError(
      'metricType Value needs the ready replicas and the target did not report them this cycle; HPA fails such a cycle too',
    );
  }
  return { replicas: Math.max(0, Math.ceil(usageRatio * readyReplicas)), usageRatio, withinTolerance, readyReplicas };
}

function fmt(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}

export function formatTolerance(tolerance: HpaTolerance): string {
  return tolerance.scaleUp === tolerance.scaleDown ? fmt(tolerance.scaleUp) : `-${fmt(tolerance.scaleDown)}/+${fmt(tolerance.scaleUp)}`;
}

function recommendThreshold(
  input: ScalingInput,
  config: ThresholdPolicyConfig,
  state: ThresholdPolicyState,
): { recommendation: PolicyRecommendation; state: ThresholdPolicyState } {
  const lag = computeKedaLag(input, config, state.previousOffsets);
  const target = config.lagThreshold;
  const current = input.currentReplicas;
  const ready = input.readyReplicas ?? null;
  const byValue = config.metricType === 'Value';
  const hpa = byValue
    ? hpaValueReplicas(lag.metric, target, current, ready, config.tolerance)
    : hpaAverageValueReplicas(lag.metric, target, current, config.tolerance);
  const tolerance = formatTolerance(config.tolerance);

  let metricText = `totalLag ${lag.totalLag}`;
  if (lag.persistentLagPartitions > 0) {
    metricText += ` (persistent lag ${lag.totalLagWithPersistent - lag.totalLag} on ${lag.persistentLagPartitions} partitions left out)`;
  }
  if (lag.evenDistributionFactor !== null) {
    metricText += `, even distribution over ${lag.partitions} partitions: factor ${lag.evenDistributionFactor} x ${target} = ${lag.evenDistributionFactor * target}`;
  }
  const capWhat = lag.shareGroup ? "members (the share group's maximum size)" : config.limitToPartitionsWithLag ? 'partitions with lag' : 'partitions';
  if (lag.shareGroup) {
    const ignored = [
      config.limitToPartitionsWithLag ? 'limitToPartitionsWithLag' : null,
      config.ensureEvenDistributionOfPartitions ? 'ensureEvenDistributionOfPartitions' : null,
    ].filter((name) => name !== null);
    metricText += `, share group: no partition cap (members are not bound to ${lag.partitions} partitions${ignored.length > 0 ? `; ${ignored.join(' and ')} do not apply` : ''})`;
  }
  if (lag.capped) metricText += ` capped at ${lag.upperBound} ${capWhat} x ${target} = ${lag.metric}`;
  const ceil = Math.max(0, Math.ceil(lag.metric / target));
  let arithmetic = byValue
    ? `${metricText}; metricType Value: usage ratio ${lag.metric} / ${target} = ${fmt(lag.metric / target)}`
    : `${metricText}; ${lag.metric} / lagThreshold ${target} = ${fmt(lag.metric / target)} -> ceil ${ceil}`;
  const activity = `totalLagWithPersistent ${lag.totalLagWithPersistent} ${lag.active ? '>' : '<='} activationLagThreshold ${config.activationLagThreshold}`;
  let reason: string;
  if (current === 0) {
    // The HPA is disabled while the target has 0 replicas (ScalingDisabled); KEDA alone decides to
    // activate, to max(minReplicas, 1), and the HPA takes over from there.
    arithmetic += `; at 0 replicas the HPA is not consulted: ${activity}`;
    reason = lag.active ? `active at 0 replicas (${activity}): activate, then scale on lag` : `inactive at 0 replicas (${activity})`;
  } else if (byValue) {
    arithmetic += hpa.withinTolerance
      ? ` within tolerance ${tolerance} -> keep ${current}`
      : ` outside tolerance ${tolerance} -> ceil(${fmt(hpa.usageRatio)} x ${ready} ready) = ${hpa.replicas}`;
    reason = hpa.withinTolerance
      ? `lag ${lag.metric} is within tolerance ${tolerance} of the target ${target}: keep ${current}`
      : `lag ${lag.metric} is ${fmt(hpa.usageRatio)}x the target ${target}: ${ready} ready of ${current} replicas x ${fmt(hpa.usageRatio)} -> ${hpa.replicas}`;
    if (!lag.active) reason += `; inactive (${activity})`;
  } else {
    const ratio = `usage ratio ${lag.metric} / (${target} x ${current}) = ${fmt(hpa.usageRatio)}`;
    arithmetic += hpa.withinTolerance
      ? `; ${ratio} within tolerance ${tolerance} -> keep ${current}`
      : `; ${ratio} outside tolerance ${tolerance} -> ${hpa.replicas}`;
    if (hpa.withinTolerance) {
      reason = `lag ${lag.metric} is within tolerance ${tolerance} of ${target} per replica at ${current} replicas: keep ${current}`;
    } else {
      reason = `lag ${lag.metric} at ${target} per replica needs ${hpa.replicas} replicas`;
      if (lag.capped) reason += ` (capped at ${lag.upperBound} ${capWhat})`;
    }
    if (!lag.active) reason += `; inactive (${activity})`;
  }

  const recommendation: PolicyRecommendation = {
    policy: 'threshold',
    replicas: hpa.replicas,
    active: lag.active,
    metric: { name: 'totalLag', value: lag.metric, target },
    arithmetic,
    reason,
    details: {
      metricType: config.metricType,
      totalLag: lag.totalLag,
      totalLagWithPersistent: lag.totalLagWithPersistent,
      metric: lag.metric,
      partitions: lag.partitions,
      partitionsWithLag: lag.partitionsWithLag,
      invalidOffsetPartitions: lag.invalidOffsetPartitions,
      persistentLagPartitions: lag.persistentLagPartitions,
      upperBound: lag.upperBound,
      groupKind: lag.shareGroup ? 'share' : 'consumer',
      capped: lag.capped,
      evenDistributionFactor: lag.evenDistributionFactor,
      usageRatio: Number.isFinite(hpa.usageRatio) ? hpa.usageRatio : null,
      withinTolerance: hpa.withinTolerance,
      readyReplicas: ready,
    },
  };
  return { recommendation, state: { previousOffsets: lag.previousOffsets } };
}

export const thresholdPolicy: ScalingPolicy<ThresholdPolicyConfig, ThresholdPolicyState> = {
  name: 'threshold',
  parseConfig: (raw) => parseThresholdConfig(raw),
  initialState: () => ({ previousOffsets: {} }),
  recommend: recommendThreshold,
  readsReadyReplicas: (config) => config.metricType === 'Value',
};
