import type { LagSnapshot } from '../snapshot.js';
import type { ScalingInput } from './types.js';

/**
 * The policy's view of one group, taken from a lag snapshot: the same function serves the live
 * loop and `lagscale policy eval` when it is given a snapshot. Returns null when the snapshot
 * does not contain the group (unknown or not watched). `readyReplicas`: what the target says of its
 * replicas' readiness, null when it was not asked.
 */
export function scalingInputFromSnapshot(
  snapshot: LagSnapshot,
  group: string,
  currentReplicas: number,
  readyReplicas: number | null = null,
): ScalingInput | null {
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
