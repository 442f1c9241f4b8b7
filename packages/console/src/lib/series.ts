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

/** A row of the decision log: one decision, or a run of unchanged no-op decisions shown as one. */
export type DecisionRow =
  | { readonly kind: 'decision'; readonly decision: ScalingDecision }
  | {
      readonly kind: 'run';
      /** The newest decision of the run (its reason and numbers stand for all of them). */
      readonly decision: ScalingDecision;
      readonly count: number;
      readonly from: number;
      readonly to: number;
    };

/** Decisions that changed nothing: no scaling, the same current and desired replicas as their neighbours. */
function quiet(decision: ScalingDecision): boolean {
  return (decision.action === 'none' || decision.action === 'paused') && decision.currentReplicas === decision.desiredReplicas;
}

/**
 * Newest first, with each run of two or more consecutive quiet decisions (same action, same
 * replicas) folded into one row with its count and time span. Every scale, fallback or other
 * change stays a row of its own, so an idle hour is one row, not seven hundred.
 */
export function collapseDecisions(newestFirst: readonly ScalingDecision[]): DecisionRow[] {
  const rows: DecisionRow[] = [];
  let i = 0;
  while (i < newestFirst.length) {
    const first = newestFirst[i] as ScalingDecision;
    let j = i + 1;
    if (quiet(first)) {
      while (j < newestFirst.length) {
        const next = newestFirst[j] as ScalingDecision;
        if (!quiet(next) || next.action !== first.action || next.currentReplicas !== first.currentReplicas) break;
        j++;
      }
    }
    const count = j - i;
    rows.push(
      count === 1
        ? { kind: 'decision', decision: first }
        : { kind: 'run', decision: first, count, from: (newestFirst[j - 1] as ScalingDecision).time, to: first.time },
    );
    i = j;
  }
  return rows;
}
