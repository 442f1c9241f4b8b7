import { defaultBehavior, planOracle, policyController, ratePolicy, runOracle, scheduleController, simulate } from '@lagscale/core';
import { describe, expect, it } from 'vitest';

const constant = (perTick: number, ticks: number): number[] => new Array<number>(ticks).fill(perTick);

describe('the oracle', () => {
  it('under a constant load keeps the smallest count that holds, and its bound is exact', () => {
    // 18/s on 4 partitions, μ 10: 1 replica falls behind 8/s, 2 keep up (usable counts: 1, 2, 4).
    const model = { partitions: 4, serviceRatePerReplica: 10, startupSeconds: 0, rebalanceSeconds: 0 };
    const { plan, report } = runOracle({ model, arrivals: constant(18, 120), timeLagSloSeconds: 10, initialReplicas: 2 });
    // It knows the run ends at 120 s: from 105 s one replica falls only 15 × (1 − 10/18) = 6.7 s
    // behind. (The decision at 120 s comes after the last tick.)
    expect(plan.replicasPerCycle).toEqual([2, 2, 2, 2, 2, 2, 1, 1]);
    expect(report).toMatchObject({ replicaSeconds: 105 * 2 + 15 * 1, secondsOverSlo: 0, scaleEvents: 1 });
    expect(report.peakTimeLagSeconds).toBe(7);
    // Records arriving before the last 10 s: 110 × 18 = 1980, at 10/s per replica: 198 replica-seconds.
    expect(plan.workBoundReplicaSeconds).toBe(198);
    expect(plan.infeasibleCycles).toBe(0);
  });

  it('scales up ahead of a burst it knows is coming, so the start-up delay costs no time lag', () => {
    // 5/s, then 35/s for 30 s from t=60; start-up 10 s, rebalance 2 s, 8 partitions, μ 10, SLO 5 s.
    const arrivals = [...constant(5, 60), ...constant(35, 30), ...constant(5, 60)];
    const model = { partitions: 8, serviceRatePerReplica: 10, startupSeconds: 10, rebalanceSeconds: 2 };
    const { plan, report } = runOracle({ model, arrivals, timeLagSloSeconds: 5 });
    // Cycles end at 15, 30, 45, ...: the count rises at the cycle ending at 45 s, before the burst at 60 s.
    expect(plan.replicasPerCycle[2]).toBeGreaterThanOrEqual(4);
    expect(plan.replicasPerCycle[1]).toBe(1);
    expect(report.secondsOverSlo).toBe(0);
    // Without foresight the same counts come too late: asked for at 60 s they serve from 72 s.
    const late = simulate({
      model,
      arrivals,
      controller: scheduleController('late', [1, 1, 1, 4, 4, 1, 1, 1, 1, 1]),
      timeLagSloSeconds: 5,
    });
    expect(late.secondsOverSlo).toBeGreaterThan(0);
  });

  it('costs no more than the rate policy under the same model and SLO (a sanity check of the bound)', () => {
    const arrivals = Array.from({ length: 1800 }, (_, t) => Math.round(60 + 50 * Math.sin(t / 120) + (t % 300 < 20 ? 80 : 0)));
    const model = { partitions: 16, serviceRatePerReplica: 10, startupSeconds: 10, rebalanceSeconds: 3 };
    const rate = simulate({
      model,
      arrivals,
      controller: policyController({
        policy: ratePolicy,
        config: ratePolicy.parseConfig({ timeLagSloSeconds: 30, serviceRatePerReplica: 10, startupSeconds: 10, rebalanceSeconds: 3 }),
        behavior: defaultBehavior({ maxReplicas: 16 }),
      }),
      timeLagSloSeconds: 30,
    });
    const { report } = runOracle({ model, arrivals, timeLagSloSeconds: 30 });
    expect(report.secondsOverSlo).toBe(0);
    expect(report.replicaSeconds).toBeLessThanOrEqual(rate.replicaSeconds);
  });

  it('when the load exceeds what all partitions can do, takes the largest count and counts the cycle infeasible', () => {
    const model = { partitions: 2, serviceRatePerReplica: 10, startupSeconds: 0, rebalanceSeconds: 0 };
    const plan = planOracle({ model, arrivals: constant(50, 60), timeLagSloSeconds: 5 });
    // Decisions at 15, 30 and 45 s (the one at 60 s comes after the last tick).
    expect(plan.replicasPerCycle.slice(0, 3)).toEqual([2, 2, 2]);
    expect(plan.infeasibleCycles).toBeGreaterThan(0);
  });

  it('plans the same every time', () => {
    const arrivals = Array.from({ length: 600 }, (_, t) => (t % 120 < 30 ? 45 : 12));
    const model = { partitions: 6, serviceRatePerReplica: 10, startupSeconds: 5, rebalanceSeconds: 2 };
    const a = planOracle({ model, arrivals, timeLagSloSeconds: 20 });
    expect(planOracle({ model, arrivals, timeLagSloSeconds: 20 })).toEqual(a);
  });

  it('validates its options', () => {
    const model = { partitions: 2, serviceRatePerReplica: 10, startupSeconds: 0, rebalanceSeconds: 0 };
    expect(() => planOracle({ model, arrivals: [1], timeLagSloSeconds: 0 })).toThrow('timeLagSloSeconds must be > 0, got 0');
    expect(() => planOracle({ model, arrivals: [1], timeLagSloSeconds: 5, minReplicas: 3 })).toThrow(
      /minReplicas must be an integer between 0 and maxReplicas \(2\)/,
    );
  });
});
