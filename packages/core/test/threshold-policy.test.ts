import {
  computeKedaLag,
  divisors,
  hpaAverageValueReplicas,
  hpaValueReplicas,
  parseThresholdConfig,
  type ScalingInput,
  ScalingMetricUnavailableError,
  type ScalingPartition,
  type ThresholdPolicyConfig,
  thresholdPolicy,
} from '@lagscale/core';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../../test-support/scaling-config.js';

function partition(partition: number, committedOffset: number | null, logEndOffset: number | null, topic = 'orders'): ScalingPartition {
  return { topic, partition, committedOffset, logEndOffset, logStartOffset: 0 };
}

function input(partitions: ScalingPartition[], currentReplicas = 1, time = 0): ScalingInput {
  return {
    time,
    group: 'validator',
    currentReplicas,
    partitions,
    produceRate: null,
    consumeRate: null,
    activeConsumers: currentReplicas,
    timeLagSeconds: null,
  };
}

function config(raw: Record<string, unknown> = {}): ThresholdPolicyConfig {
  return thresholdPolicy.parseConfig(raw);
}

function recommend(partitions: ScalingPartition[], currentReplicas: number, raw: Record<string, unknown> = {}) {
  const cfg = config(raw);
  return thresholdPolicy.recommend(input(partitions, currentReplicas), cfg, thresholdPolicy.initialState(cfg)).recommendation;
}

/** n partitions, each with the given lag (committed 1000, log end 1000 + lag). */
function lagged(lags: number[]): ScalingPartition[] {
  return lags.map((lag, i) => partition(i, 1000, 1000 + lag));
}

describe('threshold config (KEDA kafkaMetadata rules)', () => {
  it('fills KEDA defaults', () => {
    expect(config()).toEqual({
      lagThreshold: 10,
      metricType: 'AverageValue',
      activationLagThreshold: 0,
      offsetResetPolicy: 'latest',
      allowIdleConsumers: false,
      excludePersistentLag: false,
      scaleToZeroOnInvalidOffset: false,
      limitToPartitionsWithLag: false,
      ensureEvenDistributionOfPartitions: false,
      topic: null,
      partitionLimitation: null,
      tolerance: { scaleUp: 0.1, scaleDown: 0.1 },
    });
  });

  it('accepts KEDA metadata strings as they appear in a ScaledObject', () => {
    const cfg = config({ lagThreshold: '100', activationLagThreshold: '5', allowIdleConsumers: 'true', topic: 'orders', partitionLimitation: '0,2,5-7' });
    expect(cfg.lagThreshold).toBe(100);
    expect(cfg.activationLagThreshold).toBe(5);
    expect(cfg.allowIdleConsumers).toBe(true);
    expect(cfg.partitionLimitation).toEqual([0, 2, 5, 6, 7]);
  });

  it('refuses lagThreshold 0 and -1, a negative activationLagThreshold and a non-integer one, all at once', () => {
    expect(problemsOf(() => parseThresholdConfig({ lagThreshold: 0, activationLagThreshold: -1 }))).toEqual([
      'lagThreshold: must be a positive integer, got 0',
      'activationLagThreshold: must be a non-negative integer, got -1',
    ]);
    expect(problemsOf(() => parseThresholdConfig({ lagThreshold: -1 }))).toEqual(['lagThreshold: must be a positive integer, got -1']);
    expect(problemsOf(() => parseThresholdConfig({ activationLagThreshold: 'AA' }))).toEqual([
      'activationLagThreshold: must be a non-negative integer, got "AA"',
    ]);
  });

  it('refuses allowIdleConsumers together with limitToPartitionsWithLag, and limitToPartitionsWithLag with even distribution', () => {
    expect(problemsOf(() => parseThresholdConfig({ allowIdleConsumers: true, limitToPartitionsWithLag: true, topic: 'orders' }))).toEqual([
      'limitToPartitionsWithLag: cannot be combined with allowIdleConsumers (KEDA refuses both set)',
    ]);
    expect(() => parseThresholdConfig({ allowIdleConsumers: true, limitToPartitionsWithLag: false })).not.toThrow();
    expect(problemsOf(() => parseThresholdConfig({ limitToPartitionsWithLag: true, ensureEvenDistributionOfPartitions: true, topic: 'orders' }))).toHaveLength(
      1,
    );
  });

  it('refuses limitToPartitionsWithLag and ensureEvenDistributionOfPartitions without a topic, as KEDA does', () => {
    expect(problemsOf(() => parseThresholdConfig({ limitToPartitionsWithLag: true }, 'policy'))).toEqual([
      'policy.limitToPartitionsWithLag: needs topic (KEDA refuses it without one)',
    ]);
    expect(problemsOf(() => parseThresholdConfig({ ensureEvenDistributionOfPartitions: true }))).toEqual([
      'ensureEvenDistributionOfPartitions: needs topic (KEDA refuses it without one)',
    ]);
    expect(() => parseThresholdConfig({ limitToPartitionsWithLag: true, topic: 'orders' })).not.toThrow();
    expect(() => parseThresholdConfig({ ensureEvenDistributionOfPartitions: true, topic: 'orders' })).not.toThrow();
  });

  it('names the path of malformed values and unknown keys, with a prefix when given', () => {
    expect(problemsOf(() => parseThresholdConfig({ offsetResetPolicy: 'smallest', excludePersistentLag: 'notvalid', lagTreshold: 5 }, 'policy'))).toEqual([
      'policy.lagTreshold: unknown key (allowed: lagThreshold, metricType, activationLagThreshold, offsetResetPolicy, allowIdleConsumers, excludePersistentLag, scaleToZeroOnInvalidOffset, limitToPartitionsWithLag, ensureEvenDistributionOfPartitions, topic, partitionLimitation, tolerance)',
      'policy.offsetResetPolicy: must be one of latest, earliest, got "smallest"',
      'policy.excludePersistentLag: must be true or false, got "notvalid"',
    ]);
    expect(problemsOf(() => parseThresholdConfig({ partitionLimitation: '1-2-3', topic: 'orders' }))).toEqual([
      'partitionLimitation: invalid partition or range "1-2-3" (expected e.g. "0,2,5-7")',
    ]);
    expect(problemsOf(() => parseThresholdConfig({ partitionLimitation: [1] }))).toEqual([
      'partitionLimitation: only applies together with topic (KEDA ignores it without one)',
    ]);
  });

  it('takes one tolerance for both directions or one per direction', () => {
    expect(config({ tolerance: 0.05 }).tolerance).toEqual({ scaleUp: 0.05, scaleDown: 0.05 });
    expect(config({ tolerance: { scaleUp: 0.2 } }).tolerance).toEqual({ scaleUp: 0.2, scaleDown: 0.1 });
    expect(problemsOf(() => parseThresholdConfig({ tolerance: 2 }))).toEqual(['tolerance: must be a number between 0 and 1, got 2']);
  });
});

describe('KEDA lag per partition', () => {
  it('sums logEnd - committed and activates above activationLagThreshold', () => {
    const lag = computeKedaLag(input(lagged([30, 0, 12])), config({ lagThreshold: 100 }), {});
    expect(lag.totalLag).toBe(42);
    expect(lag.metric).toBe(42);
    expect(lag.active).toBe(true);
    expect(lag.partitionsWithLag).toBe(2);
  });

  it('counts a partition without a committed offset as lag 1 under latest, 0 with scaleToZeroOnInvalidOffset', () => {
    const parts = [partition(0, null, 5000), partition(1, null, 7000)];
    expect(computeKedaLag(input(parts), config({ offsetResetPolicy: 'latest' }), {}).totalLag).toBe(2);
    const zero = computeKedaLag(input(parts), config({ offsetResetPolicy: 'latest', scaleToZeroOnInvalidOffset: true }), {});
    expect(zero.totalLag).toBe(0);
    expect(zero.active).toBe(false);
    expect(zero.invalidOffsetPartitions).toBe(2);
  });

  it('counts the whole log end offset under earliest (not log end - log start), 0 with scaleToZeroOnInvalidOffset', () => {
    const parts = [{ ...partition(0, null, 5000), logStartOffset: 4000 }, partition(1, 100, 150)];
    expect(computeKedaLag(input(parts), config({ offsetResetPolicy: 'earliest' }), {}).totalLag).toBe(5050);
    expect(computeKedaLag(input(parts), config({ offsetResetPolicy: 'earliest', scaleToZeroOnInvalidOffset: true }), {}).totalLag).toBe(50);
  });

  it('activates on latest-policy invalid offsets alone: lag 1 > activationLagThreshold 0', () => {
    const rec = recommend([partition(0, null, 5000)], 0);
    expect(rec.active).toBe(true);
    expect(rec.replicas).toBe(1);
  });

  it('does not clamp a committed offset past the log end: KEDA sums it negative', () => {
    const lag = computeKedaLag(input([partition(0, 500, 400), partition(1, 0, 150)]), config(), {});
    expect(lag.totalLag).toBe(50);
  });

  it('excludes persistent lag from the metric on the second cycle but keeps it for activity', () => {
    const cfg = config({ excludePersistentLag: true, lagThreshold: 10 });
    // Cycle 1: first sight of both partitions, all lag counts.
    const first = thresholdPolicy.recommend(input([partition(0, 100, 400), partition(1, 50, 80)], 2), cfg, thresholdPolicy.initialState(cfg));
    expect(first.recommendation.details?.totalLag).toBe(330);
    expect(first.state.previousOffsets).toEqual({ 'orders:0': 100, 'orders:1': 50 });
    // Cycle 2: partition 0 still committed at 100 (stuck on a poison message), partition 1 moved to 70.
    const second = thresholdPolicy.recommend(input([partition(0, 100, 420), partition(1, 70, 95)], 2), cfg, first.state);
    expect(second.recommendation.details?.totalLag).toBe(25);
    expect(second.recommendation.details?.totalLagWithPersistent).toBe(345);
    expect(second.recommendation.details?.persistentLagPartitions).toBe(1);
    expect(second.recommendation.active).toBe(true);
    expect(second.recommendation.replicas).toBe(3); // ceil(25 / 10); usage ratio 25 / 20 = 1.25
    expect(second.state.previousOffsets).toEqual({ 'orders:0': 100, 'orders:1': 70 });
    expect(second.recommendation.arithmetic).toContain('persistent lag 320 on 1 partitions left out');
  });

  it('without excludePersistentLag the same two cycles count everything', () => {
    const cfg = config({ lagThreshold: 10 });
    const first = thresholdPolicy.recommend(input([partition(0, 100, 400)], 2), cfg, thresholdPolicy.initialState(cfg));
    const second = thresholdPolicy.recommend(input([partition(0, 100, 420)], 2), cfg, first.state);
    expect(second.recommendation.details?.totalLag).toBe(320);
    expect(second.state.previousOffsets).toEqual({});
  });

  it('caps the metric at partitions x lagThreshold unless allowIdleConsumers', () => {
    const parts = lagged([400, 400, 400, 34, 0, 0, 0, 0]); // 1234 over 8 partitions
    const capped = computeKedaLag(input(parts), config({ lagThreshold: 100 }), {});
    expect(capped.totalLag).toBe(1234);
    expect(capped.metric).toBe(800);
    expect(capped.capped).toBe(true);
    const free = computeKedaLag(input(parts), config({ lagThreshold: 100, allowIdleConsumers: true }), {});
    expect(free.metric).toBe(1234);
    expect(free.upperBound).toBeNull();
  });

  it('compares with integer division like Go: 805 / 100 = 8 is not above 8 partitions, so 805 passes and asks 9 replicas', () => {
    const parts = lagged([805, 0, 0, 0, 0, 0, 0, 0]);
    const rec = recommend(parts, 4, { lagThreshold: 100 });
    expect(rec.metric.value).toBe(805);
    expect(rec.details?.capped).toBe(false);
    expect(rec.replicas).toBe(9);
  });

  it('limitToPartitionsWithLag caps at the partitions whose lag is above 0', () => {
    const parts = lagged([500, 300, 0, 0, 0, 0]);
    const lag = computeKedaLag(input(parts), config({ lagThreshold: 10, limitToPartitionsWithLag: true, topic: 'orders' }), {});
    expect(lag.partitionsWithLag).toBe(2);
    expect(lag.upperBound).toBe(2);
    expect(lag.metric).toBe(20);
  });

  it('ensureEvenDistributionOfPartitions rounds up to a divisor of the partition count (KEDA vector 99 over 100 at 10 -> 10)', () => {
    expect(divisors(100)).toEqual([1, 2, 4, 5, 10, 20, 25, 50, 100]);
    expect(divisors(13)).toEqual([1, 13]);
    const parts = lagged(Array.from({ length: 100 }, (_, i) => (i < 99 ? 1 : 0)));
    const lag = computeKedaLag(input(parts), config({ lagThreshold: 10, ensureEvenDistributionOfPartitions: true, topic: 'orders' }), {});
    expect(lag.evenDistributionFactor).toBe(10);
    expect(lag.metric).toBe(100);
    const twelve = computeKedaLag(
      input(lagged([30, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
      config({ lagThreshold: 10, ensureEvenDistributionOfPartitions: true, topic: 'orders' }),
      {},
    );
    expect(twelve.evenDistributionFactor).toBe(6); // 50 needs 5 consumers; 5 does not divide 12, 6 does
    expect(twelve.metric).toBe(60);
  });

  it('measures only the configured topic and partitionLimitation', () => {
    const parts = [partition(0, 0, 100), partition(1, 0, 100), partition(2, 0, 100), partition(0, 0, 900, 'payments')];
    expect(computeKedaLag(input(parts), config({ topic: 'orders' }), {}).totalLag).toBe(300);
    const limited = computeKedaLag(input(parts), config({ topic: 'orders', partitionLimitation: [0, 2] }), {});
    expect(limited.totalLag).toBe(200);
    expect(limited.partitions).toBe(2);
    expect(computeKedaLag(input(parts), config(), {}).totalLag).toBe(1200);
  });

  it('refuses to measure when a log-end offset is unknown or there is nothing to measure (KEDA errors)', () => {
    expect(() => computeKedaLag(input([partition(0, 0, 100), partition(1, 0, null)]), config(), {})).toThrow(ScalingMetricUnavailableError);
    expect(() => computeKedaLag(input([partition(0, 0, 100)]), config({ topic: 'payments' }), {})).toThrow(/no partition of topic payments/);
    expect(() => computeKedaLag(input([]), config(), {})).toThrow(ScalingMetricUnavailableError);
  });

  it('respects activationLagThreshold: lag equal to it is inactive, one more is active', () => {
    expect(recommend(lagged([25]), 1, { activationLagThreshold: 25 }).active).toBe(false);
    expect(recommend(lagged([26]), 1, { activationLagThreshold: 25 }).active).toBe(true);
  });
});

describe('HPA AverageValue replicas', () => {
  const tolerance = { scaleUp: 0.1, scaleDown: 0.1 };

  it('keeps the current count inside the tolerance band, bounds included', () => {
    expect(hpaAverageValueReplicas(105, 10, 10, tolerance)).toMatchObject({ replicas: 10, withinTolerance: true });
    expect(hpaAverageValueReplicas(110, 10, 10, tolerance)).toMatchObject({ replicas: 10, withinTolerance: true });
    expect(hpaAverageValueReplicas(90, 10, 10, tolerance)).toMatchObject({ replicas: 10, withinTolerance: true });
  });

  it('outside the band asks ceil(metric / target) whatever the current count', () => {
    expect(hpaAverageValueReplicas(112, 10, 10, tolerance).replicas).toBe(12);
    expect(hpaAverageValueReplicas(89, 10, 10, tolerance).replicas).toBe(9);
    expect(hpaAverageValueReplicas(1234, 100, 3, tolerance).replicas).toBe(13);
    expect(hpaAverageValueReplicas(0, 100, 3, tolerance).replicas).toBe(0);
  });

  it('at 0 replicas gives ceil(metric / target), and 0 for metric 0', () => {
    expect(hpaAverageValueReplicas(50, 10, 0, tolerance)).toMatchObject({ replicas: 5, withinTolerance: false });
    expect(hpaAverageValueReplicas(0, 10, 0, tolerance)).toMatchObject({ replicas: 0, withinTolerance: false });
  });

  it('honours per-direction tolerances', () => {
    const asymmetric = { scaleUp: 0.5, scaleDown: 0.05 };
    expect(hpaAverageValueReplicas(140, 10, 10, asymmetric)).toMatchObject({ replicas: 10, withinTolerance: true });
    expect(hpaAverageValueReplicas(160, 10, 10, asymmetric).replicas).toBe(16);
    expect(hpaAverageValueReplicas(96, 10, 10, asymmetric)).toMatchObject({ replicas: 10, withinTolerance: true });
    expect(hpaAverageValueReplicas(85, 10, 10, asymmetric).replicas).toBe(9);
  });
});

describe('threshold recommendation', () => {
  it('keeps 10 replicas for lag 105 at lagThreshold 10, asks 12 for lag 112', () => {
    const parts = lagged([40, 40, 25, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const keep = recommend(parts, 10);
    expect(keep.replicas).toBe(10);
    expect(keep.arithmetic).toBe('totalLag 105; 105 / lagThreshold 10 = 10.5 -> ceil 11; usage ratio 105 / (10 x 10) = 1.05 within tolerance 0.1 -> keep 10');
    const up = recommend(lagged([40, 40, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 10);
    expect(up.replicas).toBe(12);
    expect(up.arithmetic).toBe('totalLag 112; 112 / lagThreshold 10 = 11.2 -> ceil 12; usage ratio 112 / (10 x 10) = 1.12 outside tolerance 0.1 -> 12');
  });

  it('shows the cap in the arithmetic', () => {
    const rec = recommend(lagged([400, 400, 400, 34, 0, 0, 0, 0]), 3, { lagThreshold: 100 });
    expect(rec.replicas).toBe(8);
    expect(rec.metric).toEqual({ name: 'totalLag', value: 800, target: 100 });
    expect(rec.arithmetic).toBe(
      'totalLag 1234 capped at 8 partitions x 100 = 800; 800 / lagThreshold 100 = 8 -> ceil 8; usage ratio 800 / (100 x 3) = 2.67 outside tolerance 0.1 -> 8',
    );
    expect(rec.reason).toBe('lag 800 at 100 per replica needs 8 replicas (capped at 8 partitions)');
  });

  it('at 0 replicas explains that KEDA, not the HPA, decides activation', () => {
    const active = recommend(lagged([50]), 0);
    expect(active.replicas).toBe(1); // capped at 1 partition
    expect(active.active).toBe(true);
    expect(active.arithmetic).toContain('at 0 replicas the HPA is not consulted: totalLagWithPersistent 50 > activationLagThreshold 0');
    const idle = recommend(lagged([0, 0]), 0);
    expect(idle.replicas).toBe(0);
    expect(idle.active).toBe(false);
    expect(idle.reason).toBe('inactive at 0 replicas (totalLagWithPersistent 0 <= activationLagThreshold 0)');
  });

  it('scales in to ceil(lag / threshold) when lag drops below the band', () => {
    const rec = recommend(lagged([10, 10, 10, 10]), 4, { lagThreshold: 100 });
    expect(rec.replicas).toBe(1);
    expect(rec.details?.usageRatio).toBeCloseTo(0.1, 10);
  });
});

describe('HPA Value replicas (metricType Value)', () => {
  const tolerance = { scaleUp: 0.1, scaleDown: 0.1 };

  it('scales the READY replicas by metric / target: lag 500 at 100 with 3 current, 2 ready -> ceil(5 x 2) = 10', () => {
    expect(hpaValueReplicas(500, 100, 3, 2, tolerance)).toMatchObject({ replicas: 10, usageRatio: 5, withinTolerance: false });
    // The same lag with all 3 ready: ceil(5 x 3) = 15 (AverageValue would say ceil(500 / 100) = 5).
    expect(hpaValueReplicas(500, 100, 3, 3, tolerance).replicas).toBe(15);
    expect(hpaAverageValueReplicas(500, 100, 3, tolerance).replicas).toBe(5);
  });

  it('keeps the current count inside the tolerance band, whatever the ready count (ratio 1.1 and 0.9 included)', () => {
    expect(hpaValueReplicas(110, 100, 4, 1, tolerance)).toMatchObject({ replicas: 4, withinTolerance: true });
    expect(hpaValueReplicas(90, 100, 4, 1, tolerance)).toMatchObject({ replicas: 4, withinTolerance: true });
    // Inside the band HPA does not count pods, so an unknown ready count is no error there.
    expect(hpaValueReplicas(100, 100, 4, null, tolerance).replicas).toBe(4);
  });

  it('scales in by the ratio: lag 30 at 100 with 4 ready -> ceil(0.3 x 4) = 2; lag 0 -> 0', () => {
    expect(hpaValueReplicas(30, 100, 4, 4, tolerance).replicas).toBe(2);
    expect(hpaValueReplicas(0, 100, 4, 4, tolerance).replicas).toBe(0);
  });

  it('with no ready replica the answer is 0, as HPA computes it (min replicas then applies)', () => {
    expect(hpaValueReplicas(500, 100, 3, 0, tolerance).replicas).toBe(0);
  });

  it('from 0 replicas gives ceil(metric / target) without tolerance and without counting pods', () => {
    expect(hpaValueReplicas(250, 100, 0, null, tolerance)).toMatchObject({ replicas: 3, withinTolerance: false });
    expect(hpaValueReplicas(105, 100, 0, null, tolerance).replicas).toBe(2);
    expect(hpaValueReplicas(0, 100, 0, null, tolerance).replicas).toBe(0);
  });

  it('fails the cycle when the ratio is outside the band and the ready count is unknown (HPA cannot count pods)', () => {
    expect(() => hpaValueReplicas(500, 100, 3, null, tolerance)).toThrow(ScalingMetricUnavailableError);
  });

  it("the policy uses the input's ready replicas and shows them in the arithmetic", () => {
    const cfg = config({ lagThreshold: 100, metricType: 'Value' });
    const at = { ...input(lagged([200, 200, 100, 0, 0, 0, 0, 0]), 3), readyReplicas: 2 };
    const rec = thresholdPolicy.recommend(at, cfg, thresholdPolicy.initialState(cfg)).recommendation;
    expect(rec.replicas).toBe(10);
    expect(rec.arithmetic).toBe('totalLag 500; metricType Value: usage ratio 500 / 100 = 5 outside tolerance 0.1 -> ceil(5 x 2 ready) = 10');
    expect(rec.reason).toBe('lag 500 is 5x the target 100: 2 ready of 3 replicas x 5 -> 10');
    expect(rec.details?.readyReplicas).toBe(2);
    expect(rec.details?.metricType).toBe('Value');
    const keep = thresholdPolicy.recommend({ ...at, partitions: lagged([50, 55]) }, cfg, thresholdPolicy.initialState(cfg)).recommendation;
    expect(keep.replicas).toBe(3);
    expect(keep.arithmetic).toBe('totalLag 105; metricType Value: usage ratio 105 / 100 = 1.05 within tolerance 0.1 -> keep 3');
  });

  it('refuses metricType Foo with its path', () => {
    expect(problemsOf(() => parseThresholdConfig({ metricType: 'Foo' }, 'policy'))).toEqual([
      'policy.metricType: must be one of AverageValue, Value, got "Foo"',
    ]);
    expect(problemsOf(() => parseThresholdConfig({ metricType: 'Utilization' }))).toEqual([
      'metricType: must be one of AverageValue, Value, got "Utilization"',
    ]);
  });
});
