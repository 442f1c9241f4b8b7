import {
  ConsumerGroupModel,
  defaultBehavior,
  policyController,
  quantile,
  ratePolicy,
  type ScalingController,
  type ScalingInput,
  scheduleController,
  simulate,
  thresholdPolicy,
} from '@lagscale/core';
import { describe, expect, it } from 'vitest';

const constant = (perTick: number, ticks: number): number[] => new Array<number>(ticks).fill(perTick);

describe('the consumer group model', () => {
  it('tracks the age of the oldest record exactly (FIFO runs)', () => {
    const report = simulate({
      model: { partitions: 1, serviceRatePerReplica: 10, startupSeconds: 0, rebalanceSeconds: 0 },
      arrivals: [20, 20, 20, 0, 0, 0, 0, 0],
      controller: scheduleController('fixed', [1]),
      timeLagSloSeconds: 2,
      intervalSeconds: 4,
      series: true,
    });
    // 20 arrive each of the first 3 s, 10 leave each second: 10, 20, 30, 20, 10, 0 behind; the
    // oldest left arrived at 0, 1, 1, 2, 2 (s) -> ages 1, 1, 2, 2, 3 at the ends of the ticks.
    expect(report.series?.backlog).toEqual([10, 20, 30, 20, 10, 0, 0, 0]);
    expect(report.series?.timeLagSeconds).toEqual([1, 1, 2, 2, 3, 0, 0, 0]);
    expect(report).toMatchObject({
      peakTimeLagSeconds: 3,
      p99TimeLagSeconds: 3,
      secondsOverSlo: 1,
      replicaSeconds: 8,
      arrived: 60,
      consumed: 60,
      finalBacklog: 0,
    });
  });

  it('starts replicas after their start-up delay and pauses everyone for the rebalance', () => {
    const report = simulate({
      model: { partitions: 2, serviceRatePerReplica: 10, startupSeconds: 3, rebalanceSeconds: 2 },
      arrivals: constant(10, 12),
      controller: scheduleController('fixed', [2, 2]),
      timeLagSloSeconds: 60,
      intervalSeconds: 5,
      series: true,
    });
    // One replica keeps up (10/s) until the second, asked for at t=5, joins at t=8: nobody consumes
    // during the rebalance (8-10 s), then two members drain the 20 behind by t=12.
    expect(report.series?.members).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(report.series?.backlog).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 10, 20, 10, 0]);
    expect(report.series?.timeLagSeconds).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1, 0]);
    // 1 replica for 5 s, then 2 (the starting one costs too) for 7 s.
    expect(report.replicaSeconds).toBe(19);
    expect(report).toMatchObject({ scaleEvents: 1, scaleUps: 1, scaleDowns: 0, peakReplicas: 2 });
  });

  it('reports replicas still starting as current but not ready', () => {
    const seen: { current: number; ready: number | null | undefined }[] = [];
    const plan = scheduleController('fixed', [3, 3, 3, 3]);
    const recording: ScalingController = {
      name: 'recording',
      next(input) {
        seen.push({ current: input.currentReplicas, ready: input.readyReplicas });
        return plan.next(input);
      },
    };
    simulate({
      model: { partitions: 4, serviceRatePerReplica: 10, startupSeconds: 7, rebalanceSeconds: 1 },
      arrivals: constant(5, 20),
      controller: recording,
      timeLagSloSeconds: 60,
      intervalSeconds: 5,
    });
    // Cycle 1 (t=5) asks 3; at t=10 two are still starting (they join at t=12), at t=15 all three are in.
    expect(seen).toEqual([
      { current: 1, ready: 1 },
      { current: 3, ready: 1 },
      { current: 3, ready: 3 },
      { current: 3, ready: 3 },
    ]);
  });

  it('assigns partitions round-robin: with 3 partitions and 2 members the one holding 2 falls behind', () => {
    const model = new ConsumerGroupModel({ partitions: 3, serviceRatePerReplica: 15, startupSeconds: 0, rebalanceSeconds: 0 }, 1, 2);
    let outcome = model.step(30);
    for (let tick = 1; tick < 10; tick++) outcome = model.step(30);
    // Member 0 owns partitions 0 and 2 (20/s arriving, 15/s served): 5 more behind every second.
    expect(outcome.backlog).toBe(50);
    expect(model.committedOffsets).toEqual([75, 100, 75]);
    expect(model.logEndOffsets).toEqual([100, 100, 100]);
  });

  it('lets members beyond the partition count idle', () => {
    const model = new ConsumerGroupModel({ partitions: 2, serviceRatePerReplica: 10, startupSeconds: 0, rebalanceSeconds: 0 }, 1, 4);
    let backlog = 0;
    for (let tick = 0; tick < 5; tick++) backlog = model.step(40).backlog;
    expect(backlog).toBe(100);
  });

  it('removes replicas still starting before members, and pauses only when a member leaves', () => {
    const model = new ConsumerGroupModel({ partitions: 4, serviceRatePerReplica: 10, startupSeconds: 30, rebalanceSeconds: 5 }, 1, 2);
    model.setReplicas(4);
    expect([model.replicas, model.members]).toEqual([4, 2]);
    model.setReplicas(2);
    expect([model.replicas, model.members]).toEqual([2, 2]);
    expect(model.step(20).consumed).toBe(20); // no rebalance: nobody left the group
    model.setReplicas(1);
    expect(model.step(20).consumed).toBe(0); // a member left: 5 s without consumption
  });

  it('takes turns with the records left over, so no partition is always served last', () => {
    // One member, 3 partitions, 2 records of capacity a second, 3 arriving: the lagging partition rotates.
    const model = new ConsumerGroupModel({ partitions: 3, serviceRatePerReplica: 2, startupSeconds: 0, rebalanceSeconds: 0 }, 1, 1);
    for (let tick = 0; tick < 30; tick++) model.step(3);
    const [a, b, c] = model.committedOffsets as [number, number, number];
    expect(a + b + c).toBe(60);
    expect(Math.max(a, b, c) - Math.min(a, b, c)).toBeLessThanOrEqual(1);
  });
});

describe('simulate', () => {
  it('builds the policy input as the live lag engine does', () => {
    const seen: ScalingInput[] = [];
    const recorder: ScalingController = {
      name: 'recorder',
      next(input) {
        seen.push(input);
        return { replicas: input.currentReplicas };
      },
    };
    simulate({
      model: { partitions: 4, serviceRatePerReplica: 10, startupSeconds: 0, rebalanceSeconds: 0 },
      arrivals: constant(30, 30),
      controller: recorder,
      initialReplicas: 4,
      timeLagSloSeconds: 60,
      startTimeMs: 1_000_000,
      group: 'validator',
      topic: 'requests',
    });
    expect(seen).toHaveLength(2);
    const first = seen[0] as ScalingInput;
    expect(first).toMatchObject({
      time: 1_015_000,
      group: 'validator',
      currentReplicas: 4,
      activeConsumers: 4,
      produceRate: 30,
      consumeRate: 30,
      timeLagSeconds: 0,
    });
    expect(first.partitions.map((p) => p.logEndOffset)).toEqual([113, 113, 112, 112]);
    expect(first.partitions.map((p) => p.committedOffset)).toEqual([113, 113, 112, 112]);
  });

  it('a constant load under the rate policy and HPA behavior costs exactly what hand arithmetic says', () => {
    // 30 records/s on 4 partitions, μ 10/s, one replica to start: 10/s short. Reaction time
    // 15 + 5 + 2 = 22 s, so a count that falls behind may be run while its forecast over 60 s stays
    // within 60 - 22 = 38 s. At t=15 (300 behind, the oldest 10 s old) 2 replicas forecast 33 s: 2,
    // spending the SLO instead of draining at once. At t=45 two forecast more than 38 s and 3 is no
    // usable count on 4 partitions: 4. The 300 s scale-down window keeps 4 to the end:
    // 15 s × 1 + 30 s × 2 + 75 s × 4 = 375 replica-seconds, the time lag peaking at 27 s.
    const report = simulate({
      model: { partitions: 4, serviceRatePerReplica: 10, startupSeconds: 5, rebalanceSeconds: 2 },
      arrivals: constant(30, 120),
      controller: policyController({
        policy: ratePolicy,
        config: ratePolicy.parseConfig({ timeLagSloSeconds: 60, serviceRatePerReplica: 10, startupSeconds: 5, rebalanceSeconds: 2 }),
        behavior: defaultBehavior({ maxReplicas: 10 }),
      }),
      timeLagSloSeconds: 60,
      decisions: true,
    });
    expect(report.replicaSeconds).toBe(375);
    expect(report.scaleEvents).toBe(2);
    expect(report.peakTimeLagSeconds).toBe(27);
    expect(report.decisions?.[0]).toMatchObject({ time: 15_000, currentReplicas: 1, desiredReplicas: 2, action: 'scale_up' });
    expect(report.decisions?.[2]).toMatchObject({ time: 45_000, currentReplicas: 2, desiredReplicas: 4, action: 'scale_up' });
    // 800 behind at 51 s (after the join and the rebalance), then 10/s net: 120 left at 120 s.
    expect(report.finalBacklog).toBe(120);
    expect(report.arrived).toBe(3600);
    expect(report.consumed).toBe(3480);
  });

  it('is deterministic', () => {
    const arrivals = Array.from({ length: 900 }, (_, t) => Math.round(40 + 35 * Math.sin(t / 40) + (t % 97 === 0 ? 400 : 0)));
    const run = () =>
      simulate({
        model: { partitions: 12, serviceRatePerReplica: 10, startupSeconds: 10, rebalanceSeconds: 3 },
        arrivals,
        controller: policyController({
          policy: thresholdPolicy,
          config: thresholdPolicy.parseConfig({ lagThreshold: 50 }),
          behavior: defaultBehavior({ maxReplicas: 12 }),
        }),
        timeLagSloSeconds: 30,
        series: true,
        decisions: true,
      });
    const a = run();
    expect(run()).toEqual(a);
    expect(a.scaleEvents).toBeGreaterThan(2);
  });

  it('refuses an interval that is not a whole number of ticks', () => {
    expect(() =>
      simulate({
        model: { partitions: 1, serviceRatePerReplica: 1, startupSeconds: 0, rebalanceSeconds: 0 },
        arrivals: [1],
        controller: scheduleController('x', [1]),
        timeLagSloSeconds: 1,
        tickSeconds: 2,
        intervalSeconds: 5,
      }),
    ).toThrow('intervalSeconds (5) must be a whole number of ticks (2 s)');
  });
});

describe('quantile', () => {
  it('is the nearest-rank percentile', () => {
    const values = Array.from({ length: 200 }, (_, i) => i + 1);
    expect(quantile(values, 0.99)).toBe(198);
    expect(quantile(values, 0.5)).toBe(100);
    expect(quantile([], 0.99)).toBe(0);
  });
});
