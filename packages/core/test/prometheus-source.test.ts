import {
  type PrometheusSourceConfig,
  parsePrometheusFloat,
  parsePrometheusSourceConfig,
  prometheusPolicy,
  prometheusQueryUrl,
  prometheusQueryValue,
  type ScalingInput,
  type ScalingInputWithMetric,
  ScalingMetricUnavailableError,
} from '@lagscale/core';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../../test-support/scaling-config.js';

const base = { serverAddress: 'http://127.0.0.1:9090', query: 'sum(kafka_consumergroup_lag{consumergroup="validator"})', threshold: 100 };

function config(raw: Record<string, unknown> = {}): PrometheusSourceConfig {
  return parsePrometheusSourceConfig({ ...base, ...raw });
}

function unavailable(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof ScalingMetricUnavailableError) return error.message;
    throw error;
  }
  throw new Error('expected a ScalingMetricUnavailableError');
}

/** Bodies as Prometheus' /api/v1/query answers them. */
const vector = (...values: string[]) => ({
  status: 'success',
  data: { resultType: 'vector', result: values.map((value, i) => ({ metric: { job: 'lag', instance: `i${i}` }, value: [1_764_860_000.123, value] })) },
});
const scalar = (value: string) => ({ status: 'success', data: { resultType: 'scalar', result: [1_764_860_000.123, value] } });

function input(value: number, currentReplicas: number, readyReplicas: number | null = null): ScalingInputWithMetric {
  const plain: ScalingInput = {
    time: 0,
    group: 'validator',
    currentReplicas,
    readyReplicas,
    partitions: [],
    produceRate: null,
    consumeRate: null,
    activeConsumers: 0,
    timeLagSeconds: null,
  };
  return { ...plain, externalMetric: { source: 'prometheus', value, description: `query q = ${value}` } };
}

function recommend(value: number, currentReplicas: number, raw: Record<string, unknown> = {}, readyReplicas: number | null = null) {
  return prometheusPolicy.recommend(input(value, currentReplicas, readyReplicas), config(raw), null).recommendation;
}

describe('prometheus source config (KEDA prometheus trigger metadata)', () => {
  it('fills KEDA defaults', () => {
    expect(config()).toEqual({
      serverAddress: 'http://127.0.0.1:9090',
      query: base.query,
      threshold: 100,
      metricType: 'AverageValue',
      activationThreshold: 0,
      ignoreNullValues: true,
      queryParameters: {},
      customHeaders: {},
      namespace: null,
      unsafeSsl: false,
      tls: { ca: null, cert: null, key: null },
      auth: { mode: 'none' },
      timeout: 3000,
      pollingInterval: 30,
      tolerance: { scaleUp: 0.1, scaleDown: 0.1 },
    });
  });

  it('reads KEDA string metadata as written in a ScaledObject', () => {
    const parsed = config({
      serverAddress: 'https://thanos.example.internal:10902/prefix/',
      threshold: '100.50',
      activationThreshold: '5.5',
      ignoreNullValues: 'false',
      unsafeSsl: 'true',
      queryParameters: 'dedup=true, partial_response=false',
      customHeaders: 'X-Scope-OrgID=team-a,X-Client-Id=cid',
      timeout: '1000',
    });
    expect(parsed.serverAddress).toBe('https://thanos.example.internal:10902/prefix');
    expect(parsed.threshold).toBe(100.5);
    expect(parsed.activationThreshold).toBe(5.5);
    expect(parsed.ignoreNullValues).toBe(false);
    expect(parsed.unsafeSsl).toBe(true);
    expect(parsed.queryParameters).toEqual({ dedup: 'true', partial_response: 'false' });
    expect(parsed.customHeaders).toEqual({ 'X-Scope-OrgID': 'team-a', 'X-Client-Id': 'cid' });
    expect(parsed.timeout).toBe(1000);
  });

  it('names every mistake with its path', () => {
    const problems = problemsOf(() =>
      parsePrometheusSourceConfig(
        {
          serverAddress: 'ftp://x',
          threshold: 0,
          activationThreshold: 'many',
          ignoreNullValues: 'maybe',
          queryParameters: { query: 'x', 'a b': '1' },
          customHeaders: 'novalue',
          timeout: 0,
          metricType: 'Utilization',
          auth: { bearerToken: 't', username: 'u' },
          tls: { cert: 'c.pem' },
          lagThreshold: 5,
        },
        'autoscaler.source',
      ),
    );
    expect(problems).toEqual([
      'autoscaler.source.lagThreshold: unknown key (allowed: serverAddress, query, threshold, activationThreshold, ignoreNullValues, queryParameters, customHeaders, namespace, unsafeSsl, tls, auth, timeout, pollingInterval, metricType, tolerance)',
      'autoscaler.source.serverAddress: must use http or https, got ftp',
      'autoscaler.source.query: required',
      'autoscaler.source.threshold: must be more than 0 (the value one replica should carry), got 0',
      'autoscaler.source.activationThreshold: must be a number, got "many"',
      'autoscaler.source.ignoreNullValues: must be true or false, got "maybe"',
      'autoscaler.source.queryParameters.a b: "a b" is not a valid query parameter name',
      'autoscaler.source.queryParameters.query: is set by the source itself; remove it',
      'autoscaler.source.customHeaders: "novalue" is not key=value (expected e.g. "a=1,b=2")',
      'autoscaler.source.tls: cert and key go together (a client certificate needs its key)',
      'autoscaler.source.auth: choose one of bearerToken(File), username/password or customAuthHeader/customAuthValue, got bearer and basic',
      'autoscaler.source.timeout: must be milliseconds between 1 and 300000, got 0',
      'autoscaler.source.metricType: must be one of AverageValue, Value, got "Utilization"',
    ]);
    expect(problemsOf(() => parsePrometheusSourceConfig({ query: 'up' }, 's'))).toEqual(['s.serverAddress: required', 's.threshold: required (a number > 0)']);
    expect(problemsOf(() => config({ auth: { username: 'u' } }))).toEqual(['auth.password: required with username (a string)']);
    expect(problemsOf(() => config({ unsafeSsl: true }))).toEqual(['tls: TLS settings need an https:// serverAddress']);
  });

  it('reads the three auth modes', () => {
    expect(config({ auth: { bearerTokenFile: '/var/run/secrets/token' } }).auth).toEqual({
      mode: 'bearer',
      bearerToken: null,
      bearerTokenFile: '/var/run/secrets/token',
    });
    expect(config({ auth: { username: 'u', password: 'p' } }).auth).toEqual({ mode: 'basic', username: 'u', password: 'p' });
    expect(config({ auth: { customAuthHeader: 'X-Api-Key', customAuthValue: 'k' } }).auth).toEqual({
      mode: 'custom',
      customAuthHeader: 'X-Api-Key',
      customAuthValue: 'k',
    });
  });

  it('keeps constructor and toString as ordinary header and parameter names, and refuses __proto__ (an object would drop it)', () => {
    // Names Object.prototype holds: plain keys of the maps, sent as written.
    const kept = config({ queryParameters: 'constructor=1,toString=2', customHeaders: { constructor: 'a', toString: 'b' } });
    expect(Object.entries(kept.queryParameters)).toEqual([
      ['constructor', '1'],
      ['toString', '2'],
    ]);
    expect(Object.entries(kept.customHeaders)).toEqual([
      ['constructor', 'a'],
      ['toString', 'b'],
    ]);
    const url = prometheusQueryUrl(kept, Date.UTC(2026, 11, 4, 15, 0, 0));
    expect([url.searchParams.get('constructor'), url.searchParams.get('toString')]).toEqual(['1', '2']);
    expect(config({ auth: { customAuthHeader: 'constructor', customAuthValue: 'k' } }).auth).toMatchObject({ customAuthHeader: 'constructor' });
    // `__proto__` was dropped without a word (assigning a string to it sets no key): the header, or the credential, never sent.
    const refusal = (what: string) => `"__proto__" cannot be a ${what} name here (a JavaScript object would drop it, not send it); rename it`;
    expect(problemsOf(() => config({ queryParameters: '__proto__=1', customHeaders: JSON.parse('{"__proto__": "team-a"}') as unknown }))).toEqual([
      `queryParameters.__proto__: ${refusal('query parameter')}`,
      `customHeaders.__proto__: ${refusal('header')}`,
    ]);
    expect(problemsOf(() => config({ auth: { customAuthHeader: '__proto__', customAuthValue: 'k' } }))).toEqual([
      `auth.customAuthHeader: ${refusal('header')}`,
    ]);
  });

  it('builds the query URL as KEDA does: query, time, namespace, extra parameters', () => {
    const url = prometheusQueryUrl(config({ namespace: 'team-a', queryParameters: { dedup: 'true' } }), Date.UTC(2026, 11, 4, 15, 0, 0));
    expect(url.pathname).toBe('/api/v1/query');
    expect(url.searchParams.get('query')).toBe(base.query);
    expect(url.searchParams.get('time')).toBe('2026-12-04T15:00:00.000Z');
    expect(url.searchParams.get('namespace')).toBe('team-a');
    expect(url.searchParams.get('dedup')).toBe('true');
  });
});

describe('query result → value (KEDA ExecutePromQuery rules)', () => {
  const keep = config();
  const strict = config({ ignoreNullValues: false });

  it('reads a single-element vector and a scalar', () => {
    const one = prometheusQueryValue(vector('1234.5'), keep);
    expect(one.value).toBe(1234.5);
    expect(one.labels).toEqual({ job: 'lag', instance: 'i0' });
    expect(one.description).toBe(`query ${base.query} = 1234.5 (vector, {job="lag",instance="i0"})`);
    expect(prometheusQueryValue(scalar('42'), keep)).toMatchObject({ value: 42, resultType: 'scalar', labels: null, substituted: null });
    expect(prometheusQueryValue(vector('-3e2'), keep).value).toBe(-300);
  });

  it('an empty result is 0 with ignoreNullValues, a failed read without', () => {
    const empty = { status: 'success', data: { resultType: 'vector', result: [] } };
    expect(prometheusQueryValue(empty, keep)).toMatchObject({ value: 0, substituted: 'the result is empty' });
    expect(unavailable(() => prometheusQueryValue(empty, strict))).toContain('the result is empty; the target may be lost');
    const emptyValue = { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [] }] } };
    expect(prometheusQueryValue(emptyValue, keep).value).toBe(0);
    expect(unavailable(() => prometheusQueryValue(emptyValue, strict))).toContain('the value list is empty');
  });

  it('several series are a failed read whatever ignoreNullValues says', () => {
    expect(unavailable(() => prometheusQueryValue(vector('1', '2', '3'), keep))).toContain('returned 3 series; the query must return one');
  });

  it('NaN and ±Inf are 0 with ignoreNullValues, a failed read without', () => {
    for (const text of ['NaN', '+Inf', '-Inf']) {
      expect(prometheusQueryValue(vector(text), keep)).toMatchObject({ value: 0, substituted: `the value is ${text}` });
      expect(unavailable(() => prometheusQueryValue(scalar(text), strict))).toContain(`the value is ${text}`);
    }
    expect(parsePrometheusFloat('+Inf')).toBe(Number.POSITIVE_INFINITY);
    expect(parsePrometheusFloat('-Inf')).toBe(Number.NEGATIVE_INFINITY);
    expect(parsePrometheusFloat('1.5e3')).toBe(1500);
    expect(parsePrometheusFloat('')).toBeNull();
    expect(parsePrometheusFloat('12abc')).toBeNull();
  });

  it('error answers, range vectors and non-numbers are failed reads', () => {
    const bad = { status: 'error', errorType: 'bad_data', error: 'parse error at char 5' };
    expect(unavailable(() => prometheusQueryValue(bad, keep))).toBe(
      `prometheus query ${base.query}: Prometheus answered error (bad_data): parse error at char 5`,
    );
    const matrix = { status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: [[1, '5']] }] } };
    expect(unavailable(() => prometheusQueryValue(matrix, keep))).toContain('range vector (matrix)');
    expect(unavailable(() => prometheusQueryValue(vector('lots'), keep))).toContain('"lots" is not a number');
    expect(unavailable(() => prometheusQueryValue('<html>', keep))).toContain('not a JSON object');
  });
});

describe('value → replicas (HPA AverageValue, tolerance 0.1) and activity', () => {
  it('divides the value by the threshold and rounds up', () => {
    const r = recommend(1234, 2);
    expect(r.replicas).toBe(13);
    expect(r.active).toBe(true);
    expect(r.metric).toEqual({ name: 'prometheus', value: 1234, target: 100 });
    expect(r.arithmetic).toBe('query q = 1234; 1234 / threshold 100 = 12.34 -> ceil 13; usage ratio 1234 / (100 x 2) = 6.17 outside tolerance 0.1 -> 13');
  });

  it('keeps the current count inside the tolerance band, bounds included', () => {
    expect(recommend(330, 3).replicas).toBe(3); // ratio 1.1
    expect(recommend(270, 3).replicas).toBe(3); // ratio 0.9
    expect(recommend(331, 3).replicas).toBe(4); // ratio 1.103
    expect(recommend(269, 3).replicas).toBe(3); // ratio 0.897 → ceil(2.69) = 3
    expect(recommend(199, 3).replicas).toBe(2);
    expect(recommend(150, 2, { tolerance: 0.3 }).replicas).toBe(2); // ratio 0.75 inside 0.3
  });

  it('a float threshold as KEDA allows', () => {
    expect(recommend(1005, 1, { threshold: '100.50' }).replicas).toBe(10);
    expect(recommend(1006, 1, { threshold: '100.50' }).replicas).toBe(11);
  });

  it('activity is value > activationThreshold; at 0 replicas only activity counts', () => {
    expect(recommend(5, 0, { activationThreshold: 5 }).active).toBe(false);
    const woke = recommend(5.5, 0, { activationThreshold: 5 });
    expect(woke.active).toBe(true);
    expect(woke.replicas).toBe(1);
    expect(woke.reason).toContain('active at 0 replicas (value 5.5 > activationThreshold 5)');
    const idle = recommend(3, 2, { activationThreshold: 10 });
    expect(idle.active).toBe(false);
    expect(idle.replicas).toBe(1);
    expect(idle.reason).toContain('inactive (value 3 <= activationThreshold 10)');
  });

  it('the value goes to the HPA in thousandths, as KEDA sends it', () => {
    expect(recommend(0.0004, 1, { threshold: 0.001 }).replicas).toBe(0);
    expect(recommend(0.0015, 1, { threshold: 0.001 }).replicas).toBe(1);
  });

  it('metricType Value: ready replicas x value / threshold, as KEDA + HPA with a Value target', () => {
    const value = { metricType: 'Value' };
    expect(prometheusPolicy.readsReadyReplicas?.(config(value))).toBe(true);
    expect(prometheusPolicy.readsReadyReplicas?.(config())).toBe(false);
    const r = recommend(450, 3, value, 2);
    expect(r.replicas).toBe(9); // ceil(4.5 x 2 ready)
    expect(r.arithmetic).toBe('query q = 450; metricType Value: usage ratio 450 / 100 = 4.5 outside tolerance 0.1 -> ceil(4.5 x 2 ready) = 9');
    expect(recommend(105, 3, value, 2).replicas).toBe(3); // ratio 1.05 inside the band
    expect(recommend(40, 4, value, 4).replicas).toBe(2); // ceil(0.4 x 4)
    expect(recommend(250, 0, value).replicas).toBe(3); // from zero: ceil(ratio)
    expect(unavailable(() => recommend(450, 3, value, null))).toContain('metricType Value needs the ready replicas');
  });

  it('without a value in the input the cycle is a failed read', () => {
    const { externalMetric: _, ...plain } = input(1, 1);
    expect(unavailable(() => prometheusPolicy.recommend(plain, config(), null))).toContain('no prometheus query value');
  });
});
