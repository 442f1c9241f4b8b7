import type { LagSnapshot, ShareGroupLag } from '../snapshot.js';
import type { GroupKind, ScalingInput } from './types.js';

/** Which group a scaler follows, and what the broker allows it (share groups). */
export interface ScalingGroupOptions {
  /** Default `consumer`. */
  readonly kind?: GroupKind;
  /** Share groups: `group.share.max.size`; null or absent: the broker's default (200). */
  readonly maxGroupSize?: number | null;
}

/**
 * The policy's view of one group, taken from a lag snapshot: the same function serves the live
 * loop and `lagscale policy eval` when it is given a snapshot. Returns null when the snapshot
 * does not contain the group (unknown or not watched). `readyReplicas`: what the target says of its
 * replicas' readiness, null when it was not asked.
 *
 * A share group is read from `snapshot.shareGroups`: per share-partition the committed offset is
 * log end − lag (what is no longer waiting), so the policies' lag arithmetic stays the same; the
 * consume rate is the acknowledge rate and the members are the active consumers, uncapped.
 */
export function scalingInputFromSnapshot(
  snapshot: LagSnapshot,
  group: string,
  currentReplicas: number,
  readyReplicas: number | null = null,
  options: ScalingGroupOptions = {},
): ScalingInput | null {
  if (options.kind === 'share') {
    const share = snapshot.shareGroups?.find((g) => g.group === group);
    return share === undefined ? null : shareScalingInput(snapshot.time, share, currentReplicas, readyReplicas, options.maxGroupSize ?? null);
  }
  const lag = snapshot.groups.find((g) => g.group === group);
  if (lag === undefined) return null;
  return {
    time: snapshot.time,
    group,
    currentReplicas,
    readyReplicas,
    partitions: lag.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      committedOffset: p.committedOffset,
      logEndOffset: p.logEndOffset,
      logStartOffset: p.logStartOffset,
    })),
    produceRate: lag.produceRate,
    consumeRate: lag.consumeRate,
    activeConsumers: lag.members,
    timeLagSeconds: lag.timeLagSeconds,
  };
}

function shareScalingInput(
  time: number,
  share: ShareGroupLag,
  currentReplicas: number,
  readyReplicas: number | null,
  maxGroupSize: number | null,
): ScalingInput {
  return {
    time,
    group: share.group,
    groupKind: 'share',
    maxGroupSize,
    currentReplicas,
    readyReplicas,
    partitions: share.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      // A share-partition nobody fetched from has no state: like a partition without a committed offset.
      committedOffset: p.lag === null || p.logEndOffset === null ? null : p.logEndOffset - p.lag,
      logEndOffset: p.logEndOffset,
      logStartOffset: null,
      startOffset: p.startOffset,
    })),
    produceRate: share.produceRate,
    consumeRate: share.acknowledgeRate,
    activeConsumers: share.members,
    timeLagSeconds: share.timeLagSeconds,
  };
}

/**
 * Why the snapshot cannot drive a decision for the group this cycle (not in it, or part of its lag
 * unknown), null when it can: the live loop counts such a cycle as a failed metric read.
 * A share-partition without state (nobody fetched from it yet) does not make it incomplete.
 */
export function scalingLagProblem(snapshot: LagSnapshot, group: string, kind: GroupKind = 'consumer'): string | null {
  if (kind === 'share') {
    const share = snapshot.shareGroups?.find((g) => g.group === group);
    if (share === undefined) return `share group ${group} is not in the snapshot`;
    const unknown = share.partitions.filter((p) => p.logEndOffset === null || p.error !== undefined);
    if (share.error !== undefined || unknown.length > 0) {
      return `lag of share group ${group} is incomplete: ${share.error ?? unknown[0]?.error ?? `log end of ${unknown.length} share-partition(s) unknown`}`;
    }
    return null;
  }
  const lag = snapshot.groups.find((g) => g.group === group);
  if (lag === undefined) return `group ${group} is not in the snapshot`;
  if (!lag.lagComplete) return `lag of group ${group} is incomplete: ${lag.error ?? 'some partitions unknown'}`;
  return null;
}

/**
 * A share group's lag counting only `topics`, its totals recomputed (lag and rates summed, time
 * lag the worst partition's), as `groupLagForTopics` does for a consumer group.
 */
export function shareGroupLagForTopics(group: ShareGroupLag, topics: ReadonlySet<string>): ShareGroupLag {
  const partitions = group.partitions.filter((p) => topics.has(p.topic));
  const sum = (values: readonly (number | null)[]): number | null => {
    const known = values.filter((v): v is number => v !== null);
    return known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
  };
  const timeLags = partitions.map((p) => p.timeLagSeconds).filter((v): v is number => v !== null);
  return {
    ...group,
    lag: sum(partitions.map((p) => p.lag)) ?? 0,
    lagExact: group.error === undefined && partitions.every((p) => p.lag !== null && p.lagMode === 'exact'),
    timeLagSeconds: timeLags.length === 0 ? null : Math.max(...timeLags),
    produceRate: sum(partitions.map((p) => p.produceRate)),
    acknowledgeRate: sum(partitions.map((p) => p.acknowledgeRate)),
    topics: group.topics.filter((topic) => topics.has(topic)),
    partitions,
  };
}
