import {
  type LagSnapshot,
  type PolicyRecommendation,
  type RatePolicyState,
  ratePolicy,
  type ScalingInput,
  type ShareGroupLag,
  type SharePartitionLag,
  scalingInputFromSnapshot,
  scalingLagProblem,
  shareBacklogAge,
  shareGroupLagForTopics,
  thresholdPolicy,
} from '@lagscale/core';
import { describe, expect, it } from 'vitest';

interface SharePartitionAt {
  readonly start: number | null;
  readonly logEnd: number | null;
  /** The broker's count (exact); default logEnd - start. */
  readonly lag?: number | null;
  readonly timeLagSeconds?: number | null;
  readonly topic?: string;
  readonly error?: string;
}

/** A snapshot holding one share group, `validator`, with these share-partitions. */
function shareSnapshot(options: {
  time: number;
  partitions: readonly SharePartitionAt[];
  members: number;
  produceRate?: number | null;
  acknowledgeRate?: number | null;
}): LagSnapshot {
  const partitions: SharePartitionLag[] = options.partitions.map((p, i) => {
    const lag = p.lag !== undefined ? p.lag : p.start === null || p.logEnd === null ? null : p.logEnd - p.start;
    return {
      topic: p.topic ?? 'requests',
      partition: i,
      startOffset: p.start,
      logEndOffset: p.logEnd,
      lag,
      lagMode: lag === null ? null : 'exact',
      timeLagSeconds: p.timeLagSeconds ?? (lag === 0 ? 0 : null),
      timeLagMode: 'estimate',
      produceRate: null,
      acknowledgeRate: null,
      status: 'OK',
      statusReason: '',
      ...(p.error === undefined ? {} : { error: p.error }),
    };
  });
  const timeLags = partitions.map((p) => p.timeLagSeconds).filter((v): v is number => v !== null);
  const group: ShareGroupLag = {
    group: 'validator',
    state: 'Stable',
    members: options.members,
    status: 'OK',
    statusReason: '',
    lag: partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0),
    lagExact: partitions.every((p) => p.lag !== null),
    timeLagSeconds: timeLags.length === 0 ? null : Math.max(...timeLags),
    produceRate: options.produceRate ?? null,
    acknowledgeRate: options.acknowledgeRate ?? null,
    topics: [...new Set(partitions.map((p) => p.topic))],
    partitions,
  };
  return { time: options.time, groups: [], shareGroups: [group], topics: [], errors: [], stats: { durationMs: 1, requests: 1, brokers: 1 } };
}

function shareInput(snapshot: LagSnapshot, currentReplicas: number, maxGroupSize: number | null = null): ScalingInput {
  const input = scalingInputFromSnapshot(snapshot, 'validator', currentReplicas, null, { kind: 'share', maxGroupSize });
  if (input === null) throw new Error('share group not in the snapshot');
  return input;
}

describe('a share group as the policies see it', () => {
  it('reads it from shareGroups only when asked for a share group: committed = log end - lag, acknowledgements as the consume rate, members uncapped', () => {
    const snapshot = shareSnapshot({
      time: 1000,
      members: 40,
      produceRate: 800,
      acknowledgeRate: 750,
      partitions: [
        { start: 100, logEnd: 600, lag: 420, timeLagSeconds: 12 },
        { start: null, logEnd: 50, lag: null },
      ],
    });
    expect(scalingInputFromSnapshot(snapshot, 'validator', 3)).toBeNull();
    const input = shareInput(snapshot, 3, 120);
    expect(input).toMatchObject({
      group: 'validator',
      groupKind: 'share',
      maxGroupSize: 120,
      activeConsumers: 40,
      produceRate: 800,
      consumeRate: 750,
      timeLagSeconds: 12,
    });
    expect(input.partitions).toEqual([
      { topic: 'requests', partition: 0, committedOffset: 180, logEndOffset: 600, logStartOffset: null, startOffset: 100 },
      // No state yet (nobody fetched there): as a partition without a committed offset.
      { topic: 'requests', partition: 1, committedOffset: null, logEndOffset: 50, logStartOffset: null, startOffset: null },
    ]);
  });

  it('says why a share group cannot drive a decision: absent, or a share-partition whose log end is unknown', () => {
    const ok = shareSnapshot({
      time: 0,
      members: 1,
      partitions: [
        { start: 0, logEnd: 10 },
        { start: null, logEnd: 5, lag: null },
      ],
    });
    expect(scalingLagProblem(ok, 'validator', 'share')).toBeNull();
    expect(scalingLagProblem(ok, 'validator')).toBe('group validator is not in the snapshot');
    expect(scalingLagProblem(ok, 'other', 'share')).toBe('share group other is not in the snapshot');
    const broken = shareSnapshot({ time: 0, members: 1, partitions: [{ start: 0, logEnd: null, lag: null, error: 'LEADER_NOT_AVAILABLE' }] });
    expect(scalingLagProblem(broken, 'validator', 'share')).toBe('lag of share group validator is incomplete: LEADER_NOT_AVAILABLE');
  });

  it('keeps only the named topics of a share group, totals recomputed', () => {
    const snapshot = shareSnapshot({
      time: 0,
      members: 2,
      partitions: [
        { start: 0, logEnd: 10, timeLagSeconds: 5, topic: 'a' },
        { start: 0, logEnd: 30, timeLagSeconds: 50, topic: 'b' },
      ],
    });
    const only = shareGroupLagForTopics(snapshot.shareGroups?.[0] as ShareGroupLag, new Set(['a']));
    expect(only).toMatchObject({ lag: 10, timeLagSeconds: 5, topics: ['a'] });
    expect(only.partitions).toHaveLength(1);
  });
});

describe('threshold policy on a share group (KEDA arithmetic, no partition cap)', () => {
  const eight = (lagEach: number) => Array.from({ length: 8 }, () => ({ start: 0, logEnd: lagEach }));
  const threshold = (input: ScalingInput, raw: Record<string, unknown> = {}) => {
    const config = thresholdPolicy.parseConfig({ lagThreshold: 100, ...raw });
    return thresholdPolicy.recommend(input, config, thresholdPolicy.initialState(config)).recommendation;
  };

  it('asks more replicas than partitions: 8 partitions, lag 10,000 at 100 per replica -> 100', () => {
    const input = shareInput(shareSnapshot({ time: 0, members: 4, partitions: eight(1250) }), 4);
    const share = threshold(input);
    expect(share.replicas).toBe(100);
    expect(share.metric.value).toBe(10_000);
    expect(share.arithmetic).toContain('share group: no partition cap (members are not bound to 8 partitions)');
    expect(share.details).toMatchObject({ groupKind: 'share', upperBound: 200, capped: false });
    // The same offsets as a consumer group: KEDA caps at the 8 partitions.
    const { groupKind: _kind, ...asConsumerGroup } = input;
    expect(threshold(asConsumerGroup).replicas).toBe(8);
  });

  it("caps at the share group's maximum size, KEDA's way (metric = size x threshold), whatever the partition options say", () => {
    const input = shareInput(shareSnapshot({ time: 0, members: 4, partitions: eight(1250) }), 4, 40);
    const capped = threshold(input, { topic: 'requests', limitToPartitionsWithLag: true });
    expect(capped.replicas).toBe(40);
    expect(capped.metric.value).toBe(4000);
    expect(capped.arithmetic).toContain("capped at 40 members (the share group's maximum size) x 100 = 4000");
    expect(capped.arithmetic).toContain('limitToPartitionsWithLag do not apply');
    expect(capped.reason).toContain("(capped at 40 members (the share group's maximum size))");
  });

  it('a poison record (lag 1, start offset frozen) asks for what lag 1 asks: one replica', () => {
    const partitions = [{ start: 500, logEnd: 90_000, lag: 1, timeLagSeconds: 900 }, ...eight(0).slice(1)];
    const poisoned = threshold(shareInput(shareSnapshot({ time: 0, members: 5, partitions }), 5));
    expect(poisoned.replicas).toBe(1);
  });
});

/** Drives the rate policy through cycles, 15 s apart, returning each recommendation and the last state. */
function runRate(raw: Record<string, unknown>, inputs: readonly ScalingInput[]): { recommendations: PolicyRecommendation[]; state: RatePolicyState } {
  const config = ratePolicy.parseConfig(raw);
  let state = ratePolicy.initialState(config);
  const recommendations: PolicyRecommendation[] = [];
  for (const input of inputs) {
    const result = ratePolicy.recommend(input, config, state);
    recommendations.push(result.recommendation);
    state = result.state;
  }
  return { recommendations, state };
}

describe('rate policy on a share group', () => {
  it('learns μ per member from acknowledgements and asks more members than partitions', () => {
    // 8 partitions, 20 members each acknowledging 50 records/s (1000/s), 1600/s arriving: the
    // backlog grows, every share-partition's start offset moves.
    const inputs: ScalingInput[] = [];
    for (let cycle = 0; cycle < 8; cycle++) {
      const seconds = cycle * 15;
      const partitions = Array.from({ length: 8 }, () => {
        const logEnd = 20_000 + 200 * seconds;
        const start = 125 * seconds;
        return { start, logEnd, timeLagSeconds: 100 + seconds };
      });
      inputs.push(shareInput(shareSnapshot({ time: seconds * 1000, members: 20, produceRate: 1600, acknowledgeRate: 1000, partitions }), 20));
    }
    const { recommendations, state } = runRate({ serviceRatePerReplica: 500, minSamples: 3 }, inputs);
    const last = recommendations[recommendations.length - 1] as PolicyRecommendation;
    expect(state.busySamples).toBeGreaterThanOrEqual(3);
    expect(last.details?.serviceRateSource).toBe('learned');
    expect(last.details?.serviceRate as number).toBeCloseTo(50, 6);
    // (1600 + backlog / 60 s) / (50 x 0.8): far beyond the 8 partitions, within 200.
    expect(last.replicas).toBeGreaterThan(8);
    expect(last.replicas).toBeLessThanOrEqual(200);
    expect(last.arithmetic).toContain('share group: members are not bound to the 8 partitions, no partition cap');

    // The same offsets as a consumer group: the 8 partitions cap it.
    const asConsumerGroup = inputs.map(({ groupKind: _kind, ...rest }) => ({ ...rest, activeConsumers: 8, currentReplicas: 8 }));
    expect((runRate({ serviceRatePerReplica: 500 }, asConsumerGroup).recommendations.at(-1) as PolicyRecommendation).replicas).toBe(8);
  });

  it("caps at the share group's maximum size", () => {
    const partitions = Array.from({ length: 8 }, () => ({ start: 0, logEnd: 100_000, timeLagSeconds: 30 }));
    const recommendation = runRate({ serviceRatePerReplica: 10 }, [shareInput(shareSnapshot({ time: 0, members: 10, produceRate: 1000, partitions }), 10, 60)])
      .recommendations[0] as PolicyRecommendation;
    expect(recommendation.replicas).toBe(60);
    expect(recommendation.arithmetic).toContain('share group: at most 60 members (group.share.max.size) -> 60');
  });

  /**
   * One poison record on share-partition 0: redelivered again and again, its start offset frozen
   * and its age growing for 10 minutes, while everything else is acknowledged as it arrives. The
   * policy sees lag 1 every cycle; its recommendation must be the one for a fresh lag 1.
   */
  function poisonCycles(options: { arrivalsPerPartition: number; ageOf: (seconds: number) => number }): ScalingInput[] {
    const inputs: ScalingInput[] = [];
    for (let cycle = 0; cycle <= 40; cycle++) {
      const seconds = cycle * 15;
      const logEnd = 10_000 + options.arrivalsPerPartition * seconds;
      const partitions = Array.from({ length: 8 }, (_, i) =>
        i === 0 ? { start: 10_000, logEnd, lag: 1, timeLagSeconds: options.ageOf(seconds) } : { start: logEnd, logEnd, lag: 0 },
      );
      const rate = 8 * options.arrivalsPerPartition;
      inputs.push(shareInput(shareSnapshot({ time: seconds * 1000, members: 5, produceRate: rate, acknowledgeRate: rate, partitions }), 5));
    }
    return inputs;
  }

  it('does not scale out, or hold members, for a poison record while the rest flows (start offset age 600 s, lag 1)', () => {
    const poisoned = poisonCycles({ arrivalsPerPartition: 40, ageOf: (seconds) => seconds });
    expect(poisoned.at(-1)?.timeLagSeconds).toBe(600);
    const fresh = poisoned.map((input) => ({ ...input, timeLagSeconds: 0.1 }));
    // 320 records/s at 80 per member: 4, below the 5 running; at 40 per member 8, what the arrivals need.
    const cases = [
      { raw: { timeLagSloSeconds: 60 }, most: 5 },
      { raw: { targetDrainSeconds: 30 }, most: 5 },
      { raw: { timeLagSloSeconds: 20, serviceRatePerReplica: 50 }, most: 8 },
    ];
    for (const { raw, most } of cases) {
      const stuck = runRate(raw, poisoned);
      const reference = runRate(raw, fresh);
      expect(stuck.recommendations.map((r) => r.replicas)).toEqual(reference.recommendations.map((r) => r.replicas));
      for (const recommendation of stuck.recommendations.slice(1)) expect(recommendation.replicas).toBeLessThanOrEqual(most);
      expect(stuck.recommendations.at(-1)?.details?.timeLagSeconds as number).toBeLessThan(1);
      // Members were never short of work: μ is not learned from a poison record.
      expect(stuck.state.busySamples).toBe(0);
    }
  });

  it('with nothing arriving, lets the members go though the stuck record stays as old as it is', () => {
    const poisoned = poisonCycles({ arrivalsPerPartition: 0, ageOf: (seconds) => 120 + seconds });
    const last = runRate({ timeLagSloSeconds: 60 }, poisoned).recommendations.at(-1) as PolicyRecommendation;
    // Lag 1 asks one member; holding 5 would not make the record any younger.
    expect(last.replicas).toBe(1);
    expect(last.arithmetic).toContain('no worse than holding 5');
  });

  it('poison records on every share-partition at a trickle never pass for busy members (μ stays put)', () => {
    const inputs: ScalingInput[] = [];
    for (let cycle = 0; cycle <= 20; cycle++) {
      const seconds = cycle * 15;
      const partitions = Array.from({ length: 8 }, () => ({ start: 0, logEnd: 3 + Math.floor(seconds / 10), lag: 3, timeLagSeconds: 60 + seconds }));
      inputs.push(shareInput(shareSnapshot({ time: seconds * 1000, members: 3, produceRate: 0.8, acknowledgeRate: 0.8, partitions }), 3));
    }
    const { recommendations, state } = runRate({ timeLagSloSeconds: 60 }, inputs);
    expect(state.busySamples).toBe(0);
    expect(state.learnedServiceRate).toBeNull();
    expect((recommendations.at(-1) as PolicyRecommendation).replicas).toBe(1);
  });
});

describe('shareBacklogAge: the backlog dated as if it were the newest records', () => {
  const history = [
    { time: 0, logEnd: 1000 },
    { time: 15_000, logEnd: 2500 },
    { time: 30_000, logEnd: 4000 },
  ];
  it('interpolates the arrival of the record `backlog` places behind the log end', () => {
    expect(shareBacklogAge(history, 30_000, 1, 100, 600)).toBeCloseTo(0.01, 6);
    expect(shareBacklogAge(history, 30_000, 2000, 100, 600)).toBeCloseTo(20, 6);
    // Never older than the oldest record not acknowledged.
    expect(shareBacklogAge(history, 30_000, 2000, 100, 12)).toBe(12);
    expect(shareBacklogAge(history, 30_000, 0, 100, 600)).toBe(0);
  });
  it('beyond the history, at λ; with nothing arriving, the oldest record age', () => {
    expect(shareBacklogAge(history, 30_000, 4000, 100, null)).toBeCloseTo(30 + 1000 / 100, 6);
    expect(shareBacklogAge([{ time: 0, logEnd: 5 }], 0, 1, 0, 300)).toBe(300);
  });
});
