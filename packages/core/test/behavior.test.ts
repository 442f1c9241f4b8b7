import {
  applyBehavior,
  type BehaviorConfig,
  type BehaviorConfigInput,
  type BehaviorResult,
  type BehaviorState,
  decide,
  defaultBehavior,
  HPA_SCALE_DOWN_DEFAULT,
  HPA_SCALE_UP_DEFAULT,
  initialBehaviorState,
  knownLag,
  parseBehaviorConfig,
  type ScalingInput,
  thresholdPolicy,
} from '@lagscale/core';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../../test-support/scaling-config.js';

const S = 1000;

/** Drives applyBehavior cycle by cycle, feeding the returned state back like the control loop does. */
class Loop {
  state: BehaviorState = initialBehaviorState();
  readonly config: BehaviorConfig;
  constructor(partial: BehaviorConfigInput = {}) {
    this.config = defaultBehavior(partial);
  }
  step(seconds: number, currentReplicas: number, replicas: number | null, active = true): BehaviorResult {
    const recommendation = replicas === null ? null : { replicas, active };
    const result = applyBehavior({ time: seconds * S, currentReplicas, recommendation }, this.config, this.state);
    this.state = result.state;
    return result;
  }
}

/** Scale-down stabilization off, to look at one rule at a time. */
const noDownWindow = { scaleDown: { stabilizationWindowSeconds: 0 } };

describe('behavior config', () => {
  it('fills HPA and KEDA defaults', () => {
    expect(defaultBehavior()).toEqual({
      minReplicas: 1,
      maxReplicas: 100,
      idleReplicas: null,
      cooldownSeconds: 300,
      scaleUp: HPA_SCALE_UP_DEFAULT,
      scaleDown: HPA_SCALE_DOWN_DEFAULT,
      fallback: null,
      paused: false,
    });
    expect(HPA_SCALE_UP_DEFAULT.policies).toEqual([
      { type: 'Pods', value: 4, periodSeconds: 15 },
      { type: 'Percent', value: 100, periodSeconds: 15 },
    ]);
    expect(HPA_SCALE_DOWN_DEFAULT).toEqual({
      stabilizationWindowSeconds: 300,
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    });
  });

  it('fills scaling rules field by field; given policies replace the default list', () => {
    const config = parseBehaviorConfig({
      scaleUp: { stabilizationWindowSeconds: 60 },
      scaleDown: { policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
    });
    expect(config.scaleUp).toEqual({ ...HPA_SCALE_UP_DEFAULT, stabilizationWindowSeconds: 60 });
    expect(config.scaleDown).toEqual({ stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] });
  });

  it('reports every problem with its path', () => {
    expect(
      problemsOf(() =>
        parseBehaviorConfig({
          minReplicas: 5,
          maxReplicas: 3,
          idleReplicas: 5,
          scaleUp: { policies: [{ type: 'Pods', value: 4, periodSeconds: 0 }] },
          scaleDown: { stabilizationWindowSeconds: 4000, selectPolicy: 'Maximum', policies: [] },
        }),
      ),
    ).toEqual([
      'scaleUp.policies.0.periodSeconds: must be between 1 and 1800, got 0',
      'scaleDown.stabilizationWindowSeconds: must be between 0 and 3600, got 4000',
      'scaleDown.selectPolicy: must be one of Max, Min, Disabled, got "Maximum"',
      'scaleDown.policies: must be a non-empty list of { type: Pods|Percent, value, periodSeconds }',
      'maxReplicas: must be >= minReplicas (5), got 3',
      'idleReplicas: must be less than minReplicas (5, at least 1), got 5',
    ]);
    expect(problemsOf(() => parseBehaviorConfig({ scaleUp: { policies: [{ type: 'Pod', periodSeconds: 2000 }] } }))).toEqual([
      'scaleUp.policies.0.value: required',
      'scaleUp.policies.0.type: must be one of Pods, Percent, got "Pod"',
      'scaleUp.policies.0.periodSeconds: must be between 1 and 1800, got 2000',
    ]);
    expect(problemsOf(() => parseBehaviorConfig({ fallback: { failureThreshold: 3 }, paused: -1, cooldown: 60 }))).toEqual([
      'cooldown: unknown key (allowed: minReplicas, maxReplicas, idleReplicas, cooldownSeconds, scaleUp, scaleDown, fallback, paused)',
      'fallback.replicas: required',
      'paused: must be true, false or a replica count >= 0, got -1',
    ]);
  });

  it('prefixes paths when told where the block lives', () => {
    expect(problemsOf(() => parseBehaviorConfig({ maxReplicas: 0 }, 'autoscaler.behavior'))).toEqual([
      'autoscaler.behavior.maxReplicas: must be an integer >= 1, got 0',
    ]);
  });

  it('compares idleReplicas with max(minReplicas, 1) as KEDA does', () => {
    expect(parseBehaviorConfig({ minReplicas: 0, idleReplicas: 0 }).idleReplicas).toBe(0);
    expect(problemsOf(() => parseBehaviorConfig({ minReplicas: 0, idleReplicas: 1 }))).toEqual([
      'idleReplicas: must be less than minReplicas (1, at least 1), got 1',
    ]);
  });

  it('reads paused as a flag or a replica count, strings included (annotation values)', () => {
    expect(parseBehaviorConfig({ paused: 'true' }).paused).toBe(true);
    expect(parseBehaviorConfig({ paused: '5' }).paused).toBe(5);
    expect(parseBehaviorConfig({ paused: 0 }).paused).toBe(0);
  });
});

describe('HPA rate-limit policies', () => {
  it('default scale-up from 1: Pods 4 allows 5, more than Percent 100 (2)', () => {
    const loop = new Loop(noDownWindow);
    const result = loop.step(0, 1, 13);
    expect(result.decision).toEqual({
      desiredReplicas: 5,
      action: 'scale_up',
      adjustments: ['scaleUp policy Pods 4 per 15s: 13 -> 5'],
      reason: 'scale up 1 -> 5 (policy asked 13; scaleUp policy Pods 4 per 15s: 13 -> 5)',
    });
    expect(loop.state.scaleEvents).toEqual([{ time: 0, change: 4 }]);
  });

  it('measures each period from the replicas at its start: the budget is spent until the event leaves the period', () => {
    const loop = new Loop(noDownWindow);
    loop.step(0, 1, 13); // 1 -> 5
    // 10 s later the +4 is inside the 15 s period: period start 1, so at most 5 = current.
    const held = loop.step(10, 5, 13);
    expect(held.decision.desiredReplicas).toBe(5);
    expect(held.decision.action).toBe('none');
    expect(held.decision.adjustments).toEqual(['scaleUp policy Pods 4 per 15s: 13 -> 5']);
    // 16 s after it the event is outside: start 5, Pods allows 9, Percent 100 allows 10.
    const next = loop.step(16, 5, 13);
    expect(next.decision.desiredReplicas).toBe(10);
    expect(next.decision.adjustments).toEqual(['scaleUp policy Percent 100 per 15s: 13 -> 10']);
  });

  it('selectPolicy Min takes the smallest change, Max the largest', () => {
    expect(new Loop({ ...noDownWindow, scaleUp: { selectPolicy: 'Min' } }).step(0, 10, 30).decision.adjustments).toEqual([
      'scaleUp policy Pods 4 per 15s: 30 -> 14',
    ]);
    expect(new Loop({ ...noDownWindow, scaleUp: { selectPolicy: 'Max' } }).step(0, 10, 30).decision.adjustments).toEqual([
      'scaleUp policy Percent 100 per 15s: 30 -> 20',
    ]);
    const down = {
      stabilizationWindowSeconds: 0,
      policies: [
        { type: 'Pods' as const, value: 4, periodSeconds: 60 },
        { type: 'Percent' as const, value: 10, periodSeconds: 60 },
      ],
    };
    expect(new Loop({ scaleDown: { ...down, selectPolicy: 'Max' } }).step(0, 80, 10).decision.desiredReplicas).toBe(72);
    expect(new Loop({ scaleDown: { ...down, selectPolicy: 'Min' } }).step(0, 80, 10).decision.desiredReplicas).toBe(76);
  });

  it('selectPolicy Disabled holds the direction', () => {
    const up = new Loop({ ...noDownWindow, scaleUp: { selectPolicy: 'Disabled' } }).step(0, 4, 9);
    expect(up.decision).toMatchObject({ desiredReplicas: 4, action: 'none', adjustments: ['scaleUp disabled: 9 -> 4'] });
    const down = new Loop({ scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: 'Disabled' } }).step(0, 6, 2);
    expect(down.decision).toMatchObject({ desiredReplicas: 6, adjustments: ['scaleDown disabled: 2 -> 6'] });
  });

  it('scale-down Percent rounds the removal up (HPA docs: 10% of 72 is 7.2, 8 go)', () => {
    const loop = new Loop({
      scaleDown: {
        stabilizationWindowSeconds: 0,
        policies: [
          { type: 'Pods', value: 4, periodSeconds: 60 },
          { type: 'Percent', value: 10, periodSeconds: 60 },
        ],
      },
    });
    expect(loop.step(0, 80, 10).decision.adjustments).toEqual(['scaleDown policy Percent 10 per 60s: 10 -> 72']);
    // Inside the same minute nothing more may go: period start is 80 again.
    expect(loop.step(30, 72, 10).decision.desiredReplicas).toBe(72);
    expect(loop.step(61, 72, 10).decision.desiredReplicas).toBe(64);
    // Below 40 replicas the Pods policy removes more than 10%.
    expect(loop.step(200, 30, 10).decision.adjustments).toEqual(['scaleDown policy Pods 4 per 60s: 10 -> 26']);
  });

  it('counts a scale-up inside a scale-down period: the period started lower', () => {
    const loop = new Loop({ scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] } });
    expect(loop.step(0, 4, 6).decision.desiredReplicas).toBe(6);
    // 20 s later: 6 now, +2 inside the 60 s period, so the period started at 4 and may end at 2.
    const down = loop.step(20, 6, 1);
    expect(down.decision.desiredReplicas).toBe(2);
    expect(down.decision.adjustments).toEqual(['scaleDown policy Pods 2 per 60s: 1 -> 2']);
    // And no further inside that period: start = 2 - 2 + 4 = 4, limit 2.
    expect(loop.step(40, 2, 1).decision.desiredReplicas).toBe(2);
    expect(loop.state.scaleEvents).toEqual([
      { time: 0, change: 2 },
      { time: 20 * S, change: -4 },
    ]);
  });

  it('keeps one event per direction once older ones are outside the longest period (overwritten in place)', () => {
    const loop = new Loop({ ...noDownWindow, maxReplicas: 1000 });
    let current = 1;
    for (let t = 0; t <= 100; t += 20) current = loop.step(t, current, 1000).decision.desiredReplicas;
    expect(current).toBe(160); // 1 -> 5 -> 10 -> 20 -> 40 -> 80 -> 160
    expect(loop.state.scaleEvents).toEqual([{ time: 100 * S, change: 80 }]);
  });

  it('says so when an earlier correction spent the period budget', () => {
    const loop = new Loop({ minReplicas: 5, scaleUp: { policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] } });
    expect(loop.step(0, 1, 1).decision).toMatchObject({ desiredReplicas: 5, adjustments: ['min 5 (current 1 below it): 1 -> 5'] });
    expect(loop.step(20, 5, 8).decision.adjustments).toEqual(['scaleUp policy Pods 2 per 60s (period budget used): 8 -> 5']);
  });
});

describe('HPA stabilization windows', () => {
  it('a fresh HPA seeds its history with the current count: no scale-in for a whole window', () => {
    const result = new Loop().step(0, 5, 2);
    expect(result.decision).toMatchObject({ desiredReplicas: 5, action: 'none', adjustments: ['scaleDown stabilization 300s keeps 5'] });
  });

  it('scale-down takes the highest recommendation of the last 300 s', () => {
    const loop = new Loop();
    loop.step(0, 6, 6);
    expect(loop.step(60, 6, 2).decision.adjustments).toEqual(['scaleDown stabilization 300s keeps 6']);
    expect(loop.step(120, 6, 3).decision.desiredReplicas).toBe(6);
    // At 301 s the 6s from t=0 are out; 2 (60 s) and 3 (120 s) remain: the highest is 3.
    const result = loop.step(301, 6, 2);
    expect(result.decision).toMatchObject({ desiredReplicas: 3, action: 'scale_down', adjustments: ['scaleDown stabilization 300s: 2 -> 3'] });
    // The new recommendation overwrote the last entry older than both windows instead of growing the list.
    expect(loop.state.recommendations).toEqual([
      { time: 0, replicas: 6 },
      { time: 301 * S, replicas: 2 },
      { time: 60 * S, replicas: 2 },
      { time: 120 * S, replicas: 3 },
    ]);
  });

  it('scale-up takes the lowest recommendation of its window, then the rate limit applies', () => {
    const loop = new Loop({ scaleUp: { stabilizationWindowSeconds: 60 }, ...noDownWindow });
    loop.step(0, 2, 2);
    expect(loop.step(10, 2, 10).decision.adjustments).toEqual(['scaleUp stabilization 60s keeps 2']);
    expect(loop.step(30, 2, 8).decision.desiredReplicas).toBe(2);
    // At 61 s the 2s from t=0 are out of the window; 10 and 8 remain, so up to min(9, 10, 8) = 8, then Pods 4 allows 6.
    const result = loop.step(61, 2, 9);
    expect(result.decision.desiredReplicas).toBe(6);
    expect(result.decision.adjustments).toEqual(['scaleUp stabilization 60s: 9 -> 8', 'scaleUp policy Pods 4 per 15s: 8 -> 6']);
  });

  it('with both windows 0 the recommendation goes straight to the rate limits', () => {
    const result = new Loop({ scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] } }).step(0, 6, 2);
    expect(result.decision).toMatchObject({ desiredReplicas: 2, adjustments: [] });
  });
});

describe('min and max', () => {
  it('caps a scale-up at maxReplicas when the rate limit would allow more', () => {
    expect(new Loop({ maxReplicas: 8 }).step(0, 4, 9).decision).toMatchObject({ desiredReplicas: 8, adjustments: ['max 8: 9 -> 8'] });
  });

  it('corrects a count above max directly, without behavior, and records the change', () => {
    const loop = new Loop({ maxReplicas: 8 });
    expect(loop.step(0, 10, 12).decision).toMatchObject({ desiredReplicas: 8, action: 'scale_down', adjustments: ['max 8 (current 10 above it): 12 -> 8'] });
    expect(loop.state.scaleEvents).toEqual([{ time: 0, change: -2 }]);
  });

  it('floors a scale-down at minReplicas', () => {
    expect(new Loop({ minReplicas: 3, ...noDownWindow }).step(0, 5, 1).decision).toMatchObject({ desiredReplicas: 3, adjustments: ['min 3: 1 -> 3'] });
  });
});

describe('KEDA idle, cooldown and activation', () => {
  it('activates from 0 to 1 (minReplicas 0) or to minReplicas, whatever the policy asked', () => {
    const one = new Loop({ minReplicas: 0 }).step(0, 0, 7);
    expect(one.decision).toMatchObject({ desiredReplicas: 1, action: 'scale_up', adjustments: ['activation from 0 (max(minReplicas, 1)): 7 -> 1'] });
    expect(one.state.lastActiveTime).toBe(0);
    expect(new Loop({ minReplicas: 3, idleReplicas: 0 }).step(0, 0, 7).decision.desiredReplicas).toBe(3);
  });

  it('activates from a non-zero idle count to minReplicas', () => {
    expect(new Loop({ minReplicas: 3, idleReplicas: 1 }).step(0, 1, 2).decision.desiredReplicas).toBe(3);
  });

  it('stays at 0 while inactive', () => {
    const result = new Loop({ minReplicas: 0 }).step(0, 0, 0, false);
    expect(result.decision).toMatchObject({ desiredReplicas: 0, action: 'none', reason: 'stay at 0: inactive at 0 replicas' });
  });

  it('goes to idle only after cooldownSeconds without activity, the HPA scaling meanwhile', () => {
    const loop = new Loop({ minReplicas: 2, idleReplicas: 0, cooldownSeconds: 300, ...noDownWindow });
    loop.step(0, 4, 4, true);
    const cooling = loop.step(100, 4, 0, false);
    expect(cooling.decision.desiredReplicas).toBe(2); // the HPA, down to its minimum
    expect(cooling.decision.reason).toContain('inactive, cooling down 100s of 300s');
    expect(loop.step(300, 2, 0, false).decision.desiredReplicas).toBe(2); // exactly 300 s: not yet
    const idle = loop.step(301, 2, 0, false);
    expect(idle.decision).toMatchObject({ desiredReplicas: 0, action: 'scale_down' });
    expect(idle.decision.reason).toBe('scale down 2 -> 0: idleReplicas 0 after cooldown 300s (inactive for 301s)');
  });

  it('restarts the cooldown at every active cycle', () => {
    const loop = new Loop({ minReplicas: 0, cooldownSeconds: 300, ...noDownWindow });
    loop.step(0, 2, 2, true);
    loop.step(200, 2, 1, false);
    loop.step(250, 1, 1, true);
    expect(loop.step(500, 1, 0, false).decision.desiredReplicas).toBe(1);
    expect(loop.step(551, 1, 0, false).decision.desiredReplicas).toBe(0);
  });

  it('scales to zero at once when it was never active (KEDA initialCooldownPeriod 0)', () => {
    expect(new Loop({ minReplicas: 0 }).step(0, 4, 0, false).decision).toMatchObject({ desiredReplicas: 0, action: 'scale_down' });
  });

  it('with minReplicas above 0 and no idleReplicas it never goes below minReplicas, and lifts 0 to it', () => {
    const loop = new Loop({ minReplicas: 2, ...noDownWindow });
    expect(loop.step(0, 4, 0, false).decision.desiredReplicas).toBe(2);
    expect(new Loop({ minReplicas: 2 }).step(0, 0, 0, false).decision).toMatchObject({
      desiredReplicas: 2,
      adjustments: ['inactive below minReplicas 2: 0 -> 2'],
    });
  });

  it('keeps a non-zero idle count while inactive instead of letting the HPA pull it up', () => {
    expect(new Loop({ minReplicas: 3, idleReplicas: 1 }).step(0, 1, 0, false).decision.desiredReplicas).toBe(1);
  });
});

describe('fallback after failed metric reads', () => {
  it('holds until failures exceed failureThreshold, then goes to the fallback count through the HPA', () => {
    const loop = new Loop({ fallback: { failureThreshold: 2, replicas: 6 } });
    expect(loop.step(0, 3, null).decision).toMatchObject({
      desiredReplicas: 3,
      action: 'none',
      reason: 'metric read failed (1 in a row, fallback after more than 2): holding 3',
    });
    expect(loop.step(15, 3, null).decision.desiredReplicas).toBe(3);
    const fallback = loop.step(30, 3, null);
    expect(fallback.decision).toMatchObject({ desiredReplicas: 6, action: 'fallback', adjustments: ['fallback 6 after 3 failed reads (failureThreshold 2)'] });
    expect(loop.state.consecutiveFailures).toBe(3);
    // A good read resets the count.
    loop.step(45, 6, 6);
    expect(loop.state.consecutiveFailures).toBe(0);
  });

  it('the fallback count is still rate limited', () => {
    const loop = new Loop({ fallback: { failureThreshold: 0, replicas: 20 } });
    expect(loop.step(0, 2, null).decision).toMatchObject({ desiredReplicas: 6, action: 'fallback' });
  });

  it('from 0 replicas the fallback first activates to max(minReplicas, 1)', () => {
    expect(new Loop({ minReplicas: 0, fallback: { failureThreshold: 0, replicas: 5 } }).step(0, 0, null).decision).toMatchObject({
      desiredReplicas: 1,
      action: 'fallback',
    });
  });

  it('without fallback a failed read holds the count indefinitely', () => {
    const loop = new Loop();
    for (let i = 0; i < 5; i++) loop.step(i * 15, 4, null);
    const result = loop.step(75, 4, null);
    expect(result.decision).toMatchObject({ desiredReplicas: 4, action: 'none', reason: 'metric read failed (6 in a row), no fallback: holding 4' });
  });
});

describe('pause', () => {
  it('paused: true changes nothing and leaves the state alone', () => {
    const loop = new Loop({ paused: true });
    const before = loop.state;
    const result = loop.step(0, 4, 9);
    expect(result.decision).toEqual({ desiredReplicas: 4, action: 'paused', adjustments: ['paused: 9 -> 4'], reason: 'paused: holding 4 replicas' });
    expect(result.state).toBe(before);
  });

  it('a paused replica count is held exactly, outside min/max too', () => {
    const result = new Loop({ paused: 5, maxReplicas: 3 }).step(0, 2, 9);
    expect(result.decision).toMatchObject({ desiredReplicas: 5, action: 'paused', adjustments: ['paused at 5: 9 -> 5'] });
  });
});

describe('decide', () => {
  const input = (partitions: ScalingInput['partitions'], currentReplicas: number): ScalingInput => ({
    time: 1_700_000_000_000,
    group: 'validator',
    currentReplicas,
    partitions,
    produceRate: 120,
    consumeRate: 80,
    activeConsumers: currentReplicas,
    timeLagSeconds: 12.5,
  });

  it('records threshold policy + behavior as one decision with inputs, arithmetic and adjustments', () => {
    const lags = [400, 400, 400, 34, 0, 0, 0, 0];
    const scalingInput = input(
      lags.map((lag, partition) => ({ topic: 'orders', partition, committedOffset: 1000, logEndOffset: 1000 + lag, logStartOffset: 0 })),
      1,
    );
    const policyConfig = thresholdPolicy.parseConfig({ lagThreshold: 100 });
    const { recommendation } = thresholdPolicy.recommend(scalingInput, policyConfig, thresholdPolicy.initialState(policyConfig));
    const { decision, state } = decide({
      input: scalingInput,
      policy: 'threshold',
      recommendation,
      behavior: defaultBehavior(),
      state: initialBehaviorState(),
    });
    expect(decision).toMatchObject({
      time: 1_700_000_000_000,
      group: 'validator',
      policy: 'threshold',
      currentReplicas: 1,
      desiredReplicas: 5,
      action: 'scale_up',
      inputs: { lag: 1234, timeLagSeconds: 12.5, produceRate: 120, consumeRate: 80, activeConsumers: 1, partitions: 8 },
      adjustments: ['scaleUp policy Pods 4 per 15s: 8 -> 5'],
    });
    expect(decision.recommendation?.replicas).toBe(8);
    expect(decision.reason).toBe(
      'scale up 1 -> 5 (policy asked 8; scaleUp policy Pods 4 per 15s: 8 -> 5); lag 800 at 100 per replica needs 8 replicas (capped at 8 partitions)',
    );
    expect(state.lastActiveTime).toBe(1_700_000_000_000);
  });

  it('holds a scale-up while the consumers name a bottleneck, but not a scale-down, and records no scale event', () => {
    const lagged = (lag: number, replicas: number) =>
      input(
        Array.from({ length: 8 }, (_, partition) => ({ topic: 'orders', partition, committedOffset: 1000, logEndOffset: 1000 + lag, logStartOffset: 0 })),
        replicas,
      );
    const policyConfig = thresholdPolicy.parseConfig({ lagThreshold: 100 });
    const recommend = (scalingInput: ScalingInput) =>
      thresholdPolicy.recommend(scalingInput, policyConfig, thresholdPolicy.initialState(policyConfig)).recommendation;
    const up = lagged(400, 2);
    const held = decide({
      input: up,
      policy: 'threshold',
      recommendation: recommend(up),
      behavior: defaultBehavior(),
      state: initialBehaviorState(),
      scaleOutHold: 'the result store does not answer',
    });
    expect(held.decision).toMatchObject({ currentReplicas: 2, desiredReplicas: 2, action: 'none' });
    expect(held.decision.reason).toMatch(/^holding 2: scale-out held because the result store does not answer; lag /);
    expect(held.decision.adjustments.at(-1)).toBe('scale-out held (the result store does not answer): 6 -> 2');
    expect(held.state.scaleEvents).toEqual([]);
    expect(held.state.recommendations.at(-1)?.replicas).toBe(8);
    // The same cycle without the hold scales up.
    expect(
      decide({ input: up, policy: 'threshold', recommendation: recommend(up), behavior: defaultBehavior(), state: initialBehaviorState() }).decision.action,
    ).toBe('scale_up');
    // A scale-down goes through a hold (fewer consumers never add load to the store).
    const down = lagged(0, 4);
    const behavior = defaultBehavior({ scaleDown: { stabilizationWindowSeconds: 0 } });
    const scaledDown = decide({
      input: down,
      policy: 'threshold',
      recommendation: recommend(down),
      behavior,
      state: initialBehaviorState(),
      scaleOutHold: 'store down',
    });
    expect(scaledDown.decision.action).toBe('scale_down');
  });

  it('records a failed read with the policy name and no recommendation', () => {
    const scalingInput = input([{ topic: 'orders', partition: 0, committedOffset: 5, logEndOffset: null, logStartOffset: null }], 2);
    const { decision, state } = decide({
      input: scalingInput,
      policy: 'threshold',
      recommendation: null,
      behavior: defaultBehavior(),
      state: initialBehaviorState(),
    });
    expect(decision).toMatchObject({ policy: 'threshold', desiredReplicas: 2, action: 'none', recommendation: null, inputs: { lag: null, partitions: 1 } });
    expect(state.consecutiveFailures).toBe(1);
  });

  it('lag sums max(0, logEnd - committed) over partitions where both are known', () => {
    const scalingInput = input(
      [
        { topic: 'orders', partition: 0, committedOffset: 100, logEndOffset: 150, logStartOffset: 0 },
        { topic: 'orders', partition: 1, committedOffset: null, logEndOffset: 500, logStartOffset: 0 },
        { topic: 'orders', partition: 2, committedOffset: 300, logEndOffset: 250, logStartOffset: 0 },
        { topic: 'orders', partition: 3, committedOffset: 10, logEndOffset: null, logStartOffset: null },
      ],
      1,
    );
    expect(knownLag(scalingInput)).toBe(50);
  });
});
