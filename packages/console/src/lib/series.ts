import type { HistoryPoint, ScalingDecision } from '../api/types';

/** The server keeps 30 minutes of history; the console shows the same window. */
export const HISTORY_WINDOW_MS = 30 * 60 * 1000;

/**
 * Adds live points to a series: one point per timestamp (a repeated `t` replaces the earlier one,
 * as after a reconnect that overlaps the initial load), in time order, only the last `windowMs`.
 */
export function mergePoints(series: readonly HistoryPoint[], incoming: readonly HistoryPoint[], windowMs = HISTORY_WINDOW_MS): HistoryPoint[] {
  if (incoming.length === 0) return series as HistoryPoint[];
  const byTime = new Map<number, HistoryPoint>();
  for (const point of series) byTime.set(point.t, point);
  for (const point of incoming) byTime.set(point.t, point);
  const merged = [...byTime.values()].sort((a, b) => a.t - b.t);
  const newest = merged[merged.length - 1]?.t ?? 0;
  return merged.filter((point) => point.t >= newest - windowMs);
}

/** Decisions in time order, each once (the list and the live `lastDecision` overlap). */
export function mergeDecisions(decisions: readonly ScalingDecision[], incoming: readonly ScalingDecision[], limit: number): ScalingDecision[] {
  const byTime = new Map<number, ScalingDecision>();
  for (const decision of decisions) byTime.set(decision.time, decision);
  for (const decision of incoming) byTime.set(decision.time, decision);
  return [...byTime.values()].sort((a, b) => a.time - b.time).slice(-limit);
}

export interface ReplicaPoint {
  readonly t: number;
  readonly current: number;
  readonly desired: number;
}

export function replicaSeries(decisions: readonly ScalingDecision[]): ReplicaPoint[] {
  return decisions.map((decision) => ({ t: decision.time, current: decision.currentReplicas, desired: decision.desiredReplicas }));
}
