import type { LagSnapshot } from '@lagscale/core';

/** One lag collection of one group, with the replica counts the autoscaler knew at that moment. */
export interface StackHistoryPoint {
  /** Epoch milliseconds of the collection. */
  readonly t: number;
  readonly lag: number;
  readonly timeLagSeconds: number | null;
  readonly consumeRate: number | null;
  readonly produceRate: number | null;
  /** Replicas running: the autoscaler's count for its group, else the group's members. */
  readonly currentReplicas: number;
  /** What the autoscaler last asked for; null for groups it does not scale. */
  readonly desiredReplicas: number | null;
}

export interface ReplicaSource {
  readonly group: string;
  readonly currentReplicas: number;
  readonly desiredReplicas: number | null;
}

/**
 * The console's "over time" charts: per group, the points of the last `windowMs`, kept in memory
 * (a restart starts a new chart, which is what a local console needs; Prometheus keeps the long view).
 */
export class StackHistory {
  readonly #windowMs: number;
  readonly #points = new Map<string, StackHistoryPoint[]>();

  constructor(windowMs = 30 * 60_000) {
    this.#windowMs = windowMs;
  }

  /** Adds one point per group of the snapshot; returns them for broadcasting. */
  record(snapshot: LagSnapshot, replicas: ReplicaSource | null): { group: string; point: StackHistoryPoint }[] {
    const added: { group: string; point: StackHistoryPoint }[] = [];
    const oldest = snapshot.time - this.#windowMs;
    for (const group of snapshot.groups) {
      const scaled = replicas !== null && replicas.group === group.group;
      const point: StackHistoryPoint = {
        t: snapshot.time,
        lag: group.lag,
        timeLagSeconds: group.timeLagSeconds,
        consumeRate: group.consumeRate,
        produceRate: group.produceRate,
        currentReplicas: scaled ? replicas.currentReplicas : group.members,
        desiredReplicas: scaled ? replicas.desiredReplicas : null,
      };
      const points = this.#points.get(group.group) ?? [];
      points.push(point);
      let drop = 0;
      while (drop < points.length && (points[drop] as StackHistoryPoint).t < oldest) drop++;
      if (drop > 0) points.splice(0, drop);
      this.#points.set(group.group, points);
      added.push({ group: group.group, point });
    }
    return added;
  }

  points(group: string): readonly StackHistoryPoint[] {
    return this.#points.get(group) ?? [];
  }

  groups(): string[] {
    return [...this.#points.keys()];
  }
}
