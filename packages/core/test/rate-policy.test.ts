import {
  effectiveConsumers,
  forecastTimeLag,
  parseRatePolicyConfig,
  type RatePolicyConfig,
  type RatePolicyState,
  ratePolicy,
  ScalingConfigError,
  type ScalingInput,
  serviceRateOf,
  usableConsumers,
} from '@lagscale/core';
import { describe, expect, it } from 'vitest';

/** `lags[i]` records behind on partition i; committed offsets start at `committedBase`. */
function input(options: {
  time?: number;
  partitions: number;
  lag?: number | readonly number[];
  committed?: number | readonly number[];
  produceRate?: number | null;
  currentReplicas: number;
  activeConsumers?: number;
  timeLagSeconds?: number | null;
}): ScalingInput {
  const at = <T>(value: T | readonly T[] | undefined, i: number, fallback: T): T =>
    value === undefined ? fallback : Array.isArray(value) ? ((value as readonly T[])[i] as T) : (value as T);
  return {
    time: options.time ?? 0,
    group: 'validator',
    currentReplicas: options.currentReplicas,
    partitions: Array.from({ length: options.partitions }, (_, i) => {
      const committed = at(options.committed, i, 1000);
      return { topic: 'requests', partition: i, committedOffset: committed, logEndOffset: committed + at(options.lag, i, 0), logStartOffset: 0 };
    }),
    produceRate: options.produceRate === undefined ? null : options.produceRate,
    consumeRate: null,
    activeConsumers: options.activeConsumers ?? options.currentReplicas,
    timeLagSeconds: options.timeLagSeconds === undefined ? null : options.timeLagSeconds,
  };
}

function once(raw: Record<string, unknown>, scalingInput: ScalingInput) {
  const config = ratePolicy.parseConfig(raw);
  return ratePolicy.recommend(scalingInput, config, ratePolicy.initialState(config)).recommendation;
}

describe('rate policy config', () => {
  it('fills defaults: drain in 60 s without an SLO, 80% utilisation, prior 100/s, 3 samples', () => {
    expect(parseRatePolicyConfig({})).toEqual({
      targetDrainSeconds: 60,
      timeLagSloSeconds: null,
      utilisation: 0.8,
      serviceRatePerReplica: 100,
      minSamples: 3,
      serviceRateHalfLifeSeconds: 120,
      forecastHorizonSeconds: null,
      arrivalHalfLifeSeconds: null,
      startupSeconds: 30,
      rebalanceSeconds: 5,
    });
    expect(parseRatePolicyConfig({ timeLagSloSeconds: 30 })).toMatchObject({ targetDrainSeconds: null, timeLagSloSeconds: 30 });
    expect(parseRatePolicyConfig({ serviceRatePerReplica: '250', rebalanceSeconds: 0 })).toMatchObject({ serviceRatePerReplica: 250, rebalanceSeconds: 0 });
  });

  it('reports every mistake with its path', () => {
    let error: unknown;
    try {
      parseRatePolicyConfig({ utilisation: 1.5, minSamples: 0, serviceRatePerReplica: -1, targetDrainSeconds: 'soon', drainSecs: 10 }, 'autoscaler.policy');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScalingConfigError);
    expect((error as ScalingConfigError).code).toBe('LAGSCALE_SCALING_CONFIG');
    expect((error as ScalingConfigError).problems).toEqual([
      'autoscaler.policy.drainSecs: unknown key (allowed: targetDrainSeconds, timeLagSloSeconds, utilisation, serviceRatePerReplica, minSamples, serviceRateHalfLifeSeconds, forecastHorizonSeconds, arrivalHalfLifeSeconds, startupSeconds, rebalanceSeconds)',
      'autoscaler.policy.targetDrainSeconds: must be a number > 0, got "soon"',
      'autoscaler.policy.utilisation: must be a number > 0 and <= 1, got 1.5',
      'autoscaler.policy.serviceRatePerReplica: must be a number > 0, got -1',
      'autoscaler.policy.minSamples: must be an integer >= 1, got 0',
    ]);
  });

  it('refuses a config that is not an object', () => {
    expect(() => parseRatePolicyConfig([1, 2])).toThrow(/\(root\): must be an object, got an array/);
  });
});

describe('usable consumer counts', () => {
  it('rounds up to a count whose busiest member carries no more than one replica of load', () => {
    // 32 partitions, 9 replicas' worth: 9 or 10 consumers leave one with 4 partitions (no better than 8), 11 hold 3.
    expect(usableConsumers(9, 32)).toBe(11);
    expect(effectiveConsumers(9, 32)).toBe(8);
    expect(effectiveConsumers(11, 32)).toBeCloseTo(32 / 3, 10);
    expect(usableConsumers(4.5, 32)).toBe(5);
    expect(usableConsumers(1.2, 48)).toBe(2);
    expect(usableConsumers(16, 32)).toBe(16);
    expect(usableConsumers(0, 32)).toBe(0);
  });

  it('never asks for more consumers than partitions', () => {
    expect(usableConsumers(40, 32)).toBe(32);
    expect(effectiveConsumers(40, 32)).toBe(32);
  });
});

describe('time-lag forecast', () => {
  it('a rebalance then a faster group: the peak is at the end of the pause', () => {
    // 100 behind (arrived over the last 10 s), 10/s arriving, 5 s pause, then 20/s.
    const forecast = forecastTimeLag({
      backlog: 100,
      timeLagSeconds: 10,
      arrivalRate: 10,
      phases: [
        { seconds: 5, capacity: 0 },
        { seconds: Number.POSITIVE_INFINITY, capacity: 20 },
      ],
      horizonSeconds: 60,
    });
    // At t=5 the oldest record is 15 s old; the old backlog is gone at t=10 (age 10); caught up at
    // 20·(t − 5) = 100 + 10·t, t = 20.
    expect(forecast.peakTimeLagSeconds).toBe(15);
    expect(forecast.backlogAtHorizon).toBe(0);
  });

  it('a group slower than the arrivals falls behind linearly', () => {
    const forecast = forecastTimeLag({
      backlog: 0,
      timeLagSeconds: 0,
      arrivalRate: 10,
      phases: [{ seconds: Number.POSITIVE_INFINITY, capacity: 5 }],
      horizonSeconds: 100,
    });
    // 500 records behind at t=100; the oldest arrived when 500 had been consumed: t = 50.
    expect(forecast.backlogAtHorizon).toBe(500);
    expect(forecast.peakTimeLagSeconds).toBe(50);
  });
});

describe('time-lag forecast with a dated backlog', () => {
  it('after a burst the head ages faster than even arrivals say', () => {
    // 1000 behind, the oldest 20 s old: 900 of them arrived in a burst 20 to 15 s ago, then 100
    // over 15 s. 100/s consume, nothing arrives. Even arrivals would say the head gets younger from
    // the start (20 − t), peak 20 s. Dated, the first 9 s go through the burst (the head moves 5 s
    // in 9 s): 20 + 9 − 5 = 24 s at t = 9, then the last 100 go in 1 s.
    const common = { backlog: 1000, timeLagSeconds: 20, arrivalRate: 0, phases: [{ seconds: Number.POSITIVE_INFINITY, capacity: 100 }], horizonSeconds: 30 };
    expect(forecastTimeLag(common).peakTimeLagSeconds).toBe(20);
    const dated = forecastTimeLag({
      ...common,
      backlogProfile: [
        { records: 0, ageSeconds: 20 },
        { records: 900, ageSeconds: 15 },
        { records: 1000, ageSeconds: 0 },
      ],
    });
    expect(dated.peakTimeLagSeconds).toBeCloseTo(24, 9);
    expect(dated.backlogAtHorizon).toBe(0);
  });

  it('the policy dates its backlog from the log ends it saw', () => {
    const config = ratePolicy.parseConfig({ timeLagSloSeconds: 120, serviceRatePerReplica: 100, startupSeconds: 20, rebalanceSeconds: 5 });
    let state = ratePolicy.initialState(config);
    // One partition: log end 0 at t=0, 900 at t=15 (a burst), 1000 at t=30; committed stays at 0.
    for (const [time, logEnd] of [
      [0, 0],
      [15_000, 900],
      [30_000, 1000],
    ] as const) {
      const at: ScalingInput = {
        time,
        group: 'validator',
        currentReplicas: 1,
        partitions: [{ topic: 'requests', partition: 0, committedOffset: 0, logEndOffset: logEnd, logStartOffset: 0 }],
        produceRate: null,
        consumeRate: null,
        activeConsumers: 1,
        timeLagSeconds: time / 1000,
      };
      state = ratePolicy.recommend(at, config, state).state;
    }
    expect(state.arrivalHistory).toEqual([
      { time: 0, logEnd: 0 },
      { time: 15_000, logEnd: 900 },
      { time: 30_000, logEnd: 1000 },
    ]);
  });
});

describe('rate policy recommendation', () => {
  it('the drain-time formula, with the prior μ before anything was measured', () => {
    const recommendation = once(
      { targetDrainSeconds: 30, serviceRatePerReplica: 100, utilisation: 0.8 },
      input({ partitions: 40, lag: 150, produceRate: 400, currentReplicas: 8 }), // 40 × 150 = 6000 behind
    );
    // (400 + 6000 / 30) / (100 × 0.8) = 600 / 80 = 7.5 -> 8
    expect(recommendation.replicas).toBe(8);
    expect(recommendation.active).toBe(true);
    expect(recommendation.arithmetic).toContain('ceil((λ 400/s + backlog 6000 / drain 30 s) / (μ 100/s × 0.8)) = ceil(600 / 80) = 8');
    expect(recommendation.details).toMatchObject({ serviceRate: 100, serviceRateSource: 'prior', backlog: 6000, requiredRate: 600, formulaReplicas: 8 });
    expect(recommendation.metric).toEqual({ name: 'required_rate', value: 600, target: 80 });
  });

  it('rounds up to a count the partitions can use', () => {
    // 20 partitions: 7.5 replicas' worth -> 8 would leave members with 3 partitions (like 7), 10 hold 2 each.
    const recommendation = once(
      { targetDrainSeconds: 30, serviceRatePerReplica: 100 },
      input({ partitions: 20, lag: 300, produceRate: 400, currentReplicas: 10 }),
    );
    expect(recommendation.replicas).toBe(10);
    expect(recommendation.arithmetic).toContain('20 partitions: 8 consumers leave one with 3, 10 hold at most 2 each -> 10');
  });

  it('caps at the partition count', () => {
    const recommendation = once({ serviceRatePerReplica: 100 }, input({ partitions: 12, produceRate: 10_000, currentReplicas: 12 }));
    // 10000 / 80 = 125 replicas' worth, but 12 partitions keep at most 12 consumers busy.
    expect(recommendation.replicas).toBe(12);
    expect(recommendation.arithmetic).toContain('= 125; 12 partitions: at most 12 consumers can work');
  });

  it('is inactive with nothing behind and nothing arriving, and holds on the first cycle when λ is unknown', () => {
    const idle = once({}, input({ partitions: 4, produceRate: 0, currentReplicas: 3 }));
    expect(idle).toMatchObject({ replicas: 0, active: false, reason: 'no backlog and nothing arriving' });
    const unknown = once({}, input({ partitions: 4, produceRate: null, currentReplicas: 3 }));
    expect(unknown).toMatchObject({ replicas: 3, active: true });
    expect(unknown.arithmetic).toBe('arrival rate unknown (first cycle), backlog 0: hold 3');
  });

  it('falls back to log-end growth it tracks itself when the input has no produce rate', () => {
    const config = ratePolicy.parseConfig({ serviceRatePerReplica: 100, utilisation: 1 });
    const first = ratePolicy.recommend(input({ time: 0, partitions: 4, committed: 0, currentReplicas: 1 }), config, ratePolicy.initialState(config));
    // 10 s later each log end grew by 750 (and was consumed): λ = 3000 / 10 = 300/s -> 3 replicas' worth -> 4 (of 4 partitions).
    const second = ratePolicy.recommend(input({ time: 10_000, partitions: 4, committed: 750, currentReplicas: 4 }), config, first.state);
    expect(second.recommendation.details?.arrivalRate).toBe(300);
    expect(second.recommendation.replicas).toBe(4);
  });
});

describe('learning the service rate', () => {
  const config: RatePolicyConfig = ratePolicy.parseConfig({ serviceRatePerReplica: 100, minSamples: 3, serviceRateHalfLifeSeconds: 120 });

  /** Cycles 10 s apart; each partition commits `perCycle[k]` more and stays `lag` behind. */
  function run(perCycle: readonly number[], options: { lag?: number; consumers?: readonly number[] } = {}): RatePolicyState[] {
    let state = ratePolicy.initialState(config);
    const states: RatePolicyState[] = [];
    let committed = 0;
    for (const [k, growth] of perCycle.entries()) {
      committed += growth;
      const consumers = options.consumers?.[k] ?? 4;
      state = ratePolicy.recommend(
        input({ time: k * 10_000, partitions: 4, committed, lag: options.lag ?? 500, produceRate: 60 * 4, currentReplicas: consumers }),
        config,
        state,
      ).state;
      states.push(state);
    }
    return states;
  }

  it('uses the prior until minSamples busy cycles, then committed growth per consumer', () => {
    // 4 busy partitions, 4 consumers, each partition +600 per 10 s: 4 × 600 / 10 / 4 = 60/s per consumer.
    const states = run([0, 600, 600, 600, 600]);
    // Cycle 1 has no earlier membership to compare with; cycles 2, 3, 4 are samples.
    expect(states.map((s) => s.busySamples)).toEqual([0, 0, 1, 2, 3]);
    expect(serviceRateOf(states[3] as RatePolicyState, config)).toEqual({ serviceRate: 100, source: 'prior', busySamples: 2 });
    expect(serviceRateOf(states[4] as RatePolicyState, config)).toEqual({ serviceRate: 60, source: 'learned', busySamples: 3 });
  });

  it('smooths samples by time: a new rate moves the estimate by 1 − 0.5^(10/120)', () => {
    const states = run([0, 600, 600, 600, 600, 800]);
    const alpha = 1 - 0.5 ** (10 / 120);
    expect(serviceRateOf(states[5] as RatePolicyState, config).serviceRate).toBeCloseTo(60 + alpha * (80 - 60), 10);
  });

  it('does not learn from idle cycles (growth is then only λ), but takes them as a floor', () => {
    // Caught up every cycle: growth 200 per partition per 10 s = 20/s per consumer, far below μ.
    const idle = run([0, 200, 200, 200, 200], { lag: 0 });
    expect((idle[4] as RatePolicyState).busySamples).toBe(0);
    expect(serviceRateOf(idle[4] as RatePolicyState, config)).toEqual({ serviceRate: 100, source: 'prior', busySamples: 0 });
    // A prior set too low is corrected by what idle consumers demonstrably did.
    const lowPrior = ratePolicy.parseConfig({ serviceRatePerReplica: 5 });
    let state = ratePolicy.initialState(lowPrior);
    for (const [k, committed] of [0, 200, 400, 600].entries()) {
      state = ratePolicy.recommend(input({ time: k * 10_000, partitions: 4, committed, produceRate: 80, currentReplicas: 4 }), lowPrior, state).state;
    }
    expect(serviceRateOf(state, lowPrior)).toEqual({ serviceRate: 20, source: 'observed', busySamples: 0 });
  });

  it('skips cycles around a change of membership (the rebalance paused consumption)', () => {
    const states = run([0, 600, 600, 300, 600, 600], { consumers: [4, 4, 4, 5, 5, 5] });
    // Samples at cycle 2 only, then the membership changed at 3: cycles 3 and 4 are skipped, 5 counts.
    expect(states.map((s) => s.busySamples)).toEqual([0, 0, 1, 1, 1, 2]);
  });
});

describe('scale-in forecasts', () => {
  it('scales in when the forecast with the smaller group stays inside the SLO', () => {
    // 10 replicas, 300/s arriving, 600 behind with 2 s time lag; μ 100, SLO 20 s, rebalance 5 s.
    const recommendation = once(
      { timeLagSloSeconds: 20, serviceRatePerReplica: 100, startupSeconds: 20, rebalanceSeconds: 5 },
      input({ partitions: 40, lag: 15, produceRate: 300, currentReplicas: 10, timeLagSeconds: 2 }),
    );
    // Formula: drain = max(reaction 15 + 20 + 5 = 40, 20 − 2) = 40 s; (300 + 600/40) / 80 = 3.94 -> 4.
    // 4 replicas: 5 s without consumption (age 2 + 5 = 7 s), then 400/s drains: peak 7 s <= 20 − 5.
    expect(recommendation.replicas).toBe(4);
    expect(recommendation.arithmetic).toContain('scale-in 10->4');
    expect(recommendation.arithmetic).toContain('peak time lag 7 s <= 15 s (SLO 20 - rebalance 5): safe -> 4');
  });

  it('holds when every smaller group is forecast to break the SLO', () => {
    // Same load but 12 s behind (3600 records): any scale-in pauses consumption 5 s -> 17 s > 15.
    const recommendation = once(
      { timeLagSloSeconds: 20, serviceRatePerReplica: 100, startupSeconds: 20, rebalanceSeconds: 5 },
      input({ partitions: 40, lag: 90, produceRate: 300, currentReplicas: 10, timeLagSeconds: 12 }),
    );
    // Formula: (300 + 3600/40) / 80 = 4.875 -> 5 (40 partitions: 5 hold 8 each).
    expect(recommendation.details?.formulaReplicas).toBe(5);
    expect(recommendation.replicas).toBe(10);
    expect(recommendation.arithmetic).toContain('5: capacity 500/s >= sustained λ 300/s, peak time lag 17 s > 15 s (SLO 20 - rebalance 5): unsafe, hold 10');
    expect(recommendation.reason).toBe('holding 10: scaling in is forecast to break the target');
  });

  it('with a drain target: scales in only if the smaller group catches up within it', () => {
    const raw = { targetDrainSeconds: 30, serviceRatePerReplica: 100, utilisation: 1, rebalanceSeconds: 5 };
    // 370/s: 4 replicas (400/s) catch up after the 5 s pause at 400·(t − 5) = 370·t: t = 66.7 s > 30
    // (at 30 s: 370 × 30 − 400 × 25 = 1100 behind).
    const unsafe = once(raw, input({ partitions: 40, produceRate: 370, currentReplicas: 5 }));
    expect(unsafe.replicas).toBe(5);
    expect(unsafe.arithmetic).toContain(
      'scale-in 5->4, catch-up forecast at λ over the drain time: 4: capacity 400/s >= λ 370/s, 1100 records still behind after 30 s: unsafe, hold 5',
    );
    // 300/s: 3 replicas' worth, but 3 consumers of 40 partitions hold 14 (no faster than 2.86), so 4;
    // they catch up at 400·(t − 5) = 300·t, t = 20 s <= 30.
    const safe = once(raw, input({ partitions: 40, produceRate: 300, currentReplicas: 5 }));
    expect(safe.replicas).toBe(4);
    expect(safe.arithmetic).toContain('4: capacity 400/s >= λ 300/s, caught up after 30 s: safe -> 4');
  });

  it('lets the SLO carry a burst instead of idle headroom', () => {
    // 190/s, μ 100, SLO 60: the formula asks for 3, but 2 replicas (200/s) keep up
    // and a burst to 190 / 0.8 = 237.5/s for the 40 s reaction time builds only ~6 s of time lag.
    const recommendation = once(
      { timeLagSloSeconds: 60, serviceRatePerReplica: 100, startupSeconds: 20, rebalanceSeconds: 5 },
      input({ partitions: 8, produceRate: 190, currentReplicas: 2, timeLagSeconds: 0 }),
    );
    expect(recommendation.details?.formulaReplicas).toBe(3); // 190 / 80 = 2.375 -> 3 (8 partitions: 3, 3, 2)
    expect(recommendation.replicas).toBe(2);
    expect(recommendation.arithmetic).toContain('SLO budget');
    expect(recommendation.details?.forecastPeakTimeLagSeconds).toBeCloseTo(40 - (200 * 40) / 237.5, 10);
  });

  it('spends the SLO: runs fewer replicas than λ needs while the forecast stays a reaction time below the SLO', () => {
    // 250/s on 8 partitions, μ 100, 3 replicas, nothing behind; reaction 15 + 20 + 5 = 40 s.
    const at = (slo: number) =>
      once(
        { timeLagSloSeconds: slo, serviceRatePerReplica: 100, startupSeconds: 20, rebalanceSeconds: 5 },
        input({ partitions: 8, produceRate: 250, currentReplicas: 3, timeLagSeconds: 0 }),
      );
    // SLO 60: at most 60 − 40 = 20 s over 60 s. 1 replica: 5 s pause, then 100/s of 250/s, the oldest
    // record's age 0.6·t + 2 = 38 s at 60 s: too much. 2 replicas: 0.2·t + 4 = 16 s <= 20: 2.
    const sixty = at(60);
    expect(sixty.replicas).toBe(2);
    expect(sixty.arithmetic).toContain(
      '2: capacity 200/s < max(λ, sustained λ) 250/s, spending the SLO: peak time lag over 60 s at 250/s 16 s <= 20 s (SLO 60 - reaction 40)',
    );
    // SLO 120: at most 80 s over 120 s; 1 replica reaches 0.6 × 120 + 2 = 74 s: 1.
    expect(at(120).replicas).toBe(1);
    // SLO 30 is shorter than the reaction time: no room to fall behind. 250 / 80 = 3.1 replicas, and
    // 3 consumers of 8 partitions leave one with 3, no better than 4: 4.
    const thirty = at(30);
    expect(thirty.replicas).toBe(4);
    expect(thirty.arithmetic).not.toContain('spending the SLO');
  });
});
