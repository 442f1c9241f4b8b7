import { type ClusterObservation, LagEvaluator, type ShareGroupObservation, type TopicObservation } from '@lagscale/core';
import { describe, expect, it } from 'vitest';

const stats = { durationMs: 1, requests: 1, brokers: 1 };

function topic(name: string, logEnds: number[]): TopicObservation {
  return {
    topic: name,
    partitions: logEnds.map((logEnd, partition) => ({ partition, leader: 1, logEndOffset: logEnd, logStartOffset: 0, lastStableOffset: null })),
  };
}

/** A share group with one entry per partition: [start offset, broker lag or null]. */
function share(name: string, partitions: [number | null, number | null][], members = 1): ShareGroupObservation {
  return {
    group: name,
    state: members > 0 ? 'Stable' : 'Empty',
    members: Array.from({ length: members }, (_, i) => ({
      memberId: `m-${i}`,
      clientId: `worker-${i}`,
      host: '10.0.0.1',
      instanceId: null,
      assignment: [{ topic: 'orders', partitions: [0, 1] }],
    })),
    partitions: partitions.map(([startOffset, brokerLag], partition) => ({ topic: 'orders', partition, startOffset, brokerLag })),
  };
}

const observe = (time: number, logEnds: number[], group: ShareGroupObservation): ClusterObservation => ({
  time,
  topics: [topic('orders', logEnds)],
  groups: [],
  shareGroups: [group],
  errors: [],
  stats,
});

describe('share-group lag', () => {
  it("takes the broker's lag (KIP-1226) where it counts, and only an upper bound (end − start) where it does not", () => {
    const evaluator = new LagEvaluator();
    // Partition 0: start 100, 40 acknowledged above it out of 300 produced → broker lag 160.
    // Partition 1: a broker that answers v0 (no lag): bound 500 − 450 = 50.
    const snapshot = evaluator.evaluate(
      observe(
        1000,
        [300, 500],
        share('queue', [
          [100, 160],
          [450, null],
        ]),
      ),
    );
    const group = snapshot.shareGroups?.[0];
    expect(group?.partitions.map((p) => [p.lag, p.lagMode])).toEqual([
      [160, 'exact'],
      [50, 'upper_bound'],
    ]);
    expect(group).toMatchObject({ group: 'queue', members: 1, lag: 210, lagExact: false });
    expect(snapshot.groups).toEqual([]);
  });

  it('reports the age of the oldest record not acknowledged, and the acknowledge rate', () => {
    const evaluator = new LagEvaluator();
    // t=0: 1,000 produced, start 1,000 (nothing waits). t=10 s: 2,000 produced; start still 1,000, lag 600
    // (400 acknowledged above the start). t=20 s: 3,000 produced, start 2,000, lag 700.
    evaluator.evaluate(observe(0, [1000, 0], share('queue', [[1000, 0]])));
    const second = evaluator.evaluate(observe(10_000, [2000, 0], share('queue', [[1000, 600]])));
    const p10 = second.shareGroups?.[0]?.partitions[0];
    // The oldest waiting record (offset 1,000) was the log end at t=0: 10 s old.
    expect(p10?.timeLagSeconds).toBe(10);
    // Records that stopped waiting: 2,000 − 600 = 1,400 at t=10 s, 1,000 at t=0 → 40/s.
    expect(p10?.acknowledgeRate).toBeCloseTo(40, 6);
    const third = evaluator.evaluate(observe(20_000, [3000, 0], share('queue', [[2000, 700]])));
    const p20 = third.shareGroups?.[0]?.partitions[0];
    expect(p20?.timeLagSeconds).toBe(10);
    // 3,000 − 700 = 2,300: 90/s in the second interval, smoothed with the first (half-life 10 s → weight 1/2).
    expect(p20?.acknowledgeRate).toBeCloseTo(40 + 0.5 * (90 - 40), 6);
    expect(third.shareGroups?.[0]?.produceRate).toBeCloseTo(100, 6);
  });

  it('is STALL when the start offset does not move while lag > 0 and members are there, STOP with none', () => {
    for (const [members, status, reason] of [
      [2, 'STALL', /start offset stuck at 100 for 9s with lag 400 while the group has members/],
      [0, 'STOP', /no acknowledgements for 9s with lag 400 and the group has no members/],
    ] as const) {
      const evaluator = new LagEvaluator({ windowSize: 10 });
      let last: ReturnType<LagEvaluator['evaluate']> | undefined;
      for (let i = 0; i < 10; i++) last = evaluator.evaluate(observe(i * 1000, [500], share('queue', [[100, 400]], members)));
      expect(last?.shareGroups?.[0]?.status).toBe(status);
      expect(last?.shareGroups?.[0]?.statusReason).toMatch(reason);
    }
  });

  it('is OK for a partition without share state yet, and forgets groups that stop appearing', () => {
    const evaluator = new LagEvaluator();
    const first = evaluator.evaluate(observe(0, [500], share('queue', [[null, null]])));
    expect(first.shareGroups?.[0]?.partitions[0]).toMatchObject({ lag: null, lagMode: null, status: 'OK', statusReason: 'share-partition not initialised' });
    expect(first.shareGroups?.[0]?.lagExact).toBe(false);
    const later = evaluator.evaluate({ ...observe(1000, [500], share('queue', [])), shareGroups: [] });
    expect(later.shareGroups).toEqual([]);
  });
});
