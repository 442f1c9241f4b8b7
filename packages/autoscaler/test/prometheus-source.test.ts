import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Autoscaler,
  LocalProcessPool,
  PrometheusMetricSource,
  PrometheusQueryClient,
  PrometheusQueryError,
  resolvePolicy,
  resolveSourceAndPolicy,
  type ScaleTarget,
} from '@lagscale/autoscaler';
import {
  parseBehaviorConfig,
  parsePrometheusSourceConfig,
  prometheusQueryValue,
  type ScalingDecision,
  ScalingMetricUnavailableError,
  scalingInputFromSnapshot,
} from '@lagscale/core';
import { createExporterServer, createLogger, PrometheusText } from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { type RunningPrometheus, securedWebConfig, startPrometheus, TEST_BASIC_AUTH } from '../../../test-support/prometheus.js';

const logger = createLogger('test-prometheus-source', 'silent');

/**
 * What "another exporter" publishes: a backlog gauge per queue, served on a real /metrics endpoint
 * that a real Prometheus scrapes every second. The test moves the numbers.
 */
const backlog = new Map<string, number>([['orders', 0]]);
let exporter: Server;
let prometheus: RunningPrometheus;

function metricsText(): string {
  const out = new PrometheusText();
  out.family('lagscale_test_backlog', 'gauge', 'Messages waiting, per queue (set by the test).');
  for (const [queue, value] of backlog) out.sample('lagscale_test_backlog', { queue }, value);
  return out.toString();
}

/** Waits until Prometheus has scraped the gauge at this value (scrapes are 1 s apart). */
async function untilScraped(value: number): Promise<void> {
  await waitFor(
    `Prometheus to see backlog ${value}`,
    async () => (await prometheus.query('max(lagscale_test_backlog)'))[0]?.value[1] === String(value),
    15_000,
    100,
  );
}

function source(raw: Record<string, unknown>) {
  return parsePrometheusSourceConfig({ serverAddress: prometheus.url, threshold: 100, ...raw });
}

async function failedRead(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the read to fail');
}

beforeAll(async () => {
  exporter = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metricsText());
  });
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  const { port } = exporter.address() as AddressInfo;
  prometheus = await startPrometheus({
    scrapeConfigs: ['  - job_name: backlog', '    static_configs:', `      - targets: ['127.0.0.1:${port}']`].join('\n'),
  });
  await untilScraped(0);
});

afterAll(async () => {
  await prometheus?.stop();
  await new Promise((resolve) => exporter?.close(resolve));
});

describe('prometheus source on a real Prometheus', () => {
  it("reads the query API's answers with KEDA's rules", async () => {
    backlog.set('orders', 250);
    await untilScraped(250);

    const one = await new PrometheusQueryClient(source({ query: 'max(lagscale_test_backlog)' })).read();
    expect(one.value).toBe(250);
    expect(one.description).toBe('query max(lagscale_test_backlog) = 250 (vector, {})');
    const withLabels = await new PrometheusQueryClient(source({ query: 'lagscale_test_backlog' })).read();
    expect(withLabels.description).toContain('= 250 (vector, {__name__="lagscale_test_backlog",instance="127.0.0.1:');

    const scalarConfig = source({ query: 'scalar(max(lagscale_test_backlog)) * 2' });
    const scalar = prometheusQueryValue(await new PrometheusQueryClient(scalarConfig).queryBody(), scalarConfig);
    expect(scalar).toMatchObject({ value: 500, resultType: 'scalar', labels: null });

    // Empty result: 0 with ignoreNullValues (the default), a failed read without.
    const absent = await new PrometheusQueryClient(source({ query: 'lagscale_test_absent' })).read();
    expect(absent.value).toBe(0);
    expect(absent.description).toContain('the result is empty; ignoreNullValues');
    const strictAbsent = await failedRead(new PrometheusQueryClient(source({ query: 'lagscale_test_absent', ignoreNullValues: false })).read());
    expect(strictAbsent).toBeInstanceOf(ScalingMetricUnavailableError);
    expect(strictAbsent.message).toContain('the result is empty; the target may be lost');

    // NaN (0/0 is a NaN scalar in PromQL) likewise.
    expect((await new PrometheusQueryClient(source({ query: '0/0' })).read()).value).toBe(0);
    expect((await failedRead(new PrometheusQueryClient(source({ query: '0/0', ignoreNullValues: 'false' })).read())).message).toContain('the value is NaN');

    // A range vector and a query Prometheus refuses are failed reads with Prometheus' own words.
    expect((await failedRead(new PrometheusQueryClient(source({ query: 'lagscale_test_backlog[1m]' })).read())).message).toContain('range vector (matrix)');
    const refused = await failedRead(new PrometheusQueryClient(source({ query: 'sum(lagscale_test_backlog' })).read());
    expect(refused).toBeInstanceOf(PrometheusQueryError);
    expect(refused.message).toMatch(/answered HTTP 400 \(bad_data: .*parse error/);

    // Two series: a failed read whatever ignoreNullValues says.
    backlog.set('refunds', 7);
    await waitFor('two series', async () => (await prometheus.query('lagscale_test_backlog')).length === 2, 15_000, 100);
    const several = await failedRead(new PrometheusQueryClient(source({ query: 'lagscale_test_backlog' })).read());
    expect(several.message).toContain('returned 2 series; the query must return one');
    expect((await new PrometheusQueryClient(source({ query: 'sum(lagscale_test_backlog)' })).read()).value).toBe(257);
    backlog.delete('refunds');

    // Nothing listening: a failed read naming the address.
    const nowhere = parsePrometheusSourceConfig({ serverAddress: 'http://127.0.0.1:1', query: 'up', threshold: 1, timeout: 500 });
    expect((await failedRead(new PrometheusQueryClient(nowhere).read())).message).toContain('cannot query http://127.0.0.1:1/api/v1/query: ECONNREFUSED');
    // A server that accepts and never answers: the read ends at the timeout.
    const silent = createNetServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const hung = parsePrometheusSourceConfig({
        serverAddress: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
        query: 'up',
        threshold: 1,
        timeout: 300,
      });
      const started = Date.now();
      const timedOut = await failedRead(new PrometheusQueryClient(hung).read());
      expect(timedOut.message).toMatch(/no answer from http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query within 300 ms \(timeout\)/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });

  it('scales a local process pool up and down with the queried value, and falls back when Prometheus stops', async () => {
    const started = Date.now();
    backlog.set('orders', 0);
    await untilScraped(0);
    const { source: resolved, policy } = resolveSourceAndPolicy(
      { type: 'prometheus', serverAddress: prometheus.url, query: 'max(lagscale_test_backlog)', threshold: '100', pollingInterval: 0.5, timeout: 1000 },
      undefined,
      { source: 'autoscaler.source', policy: 'autoscaler.policy' },
    );
    if (resolved.type !== 'prometheus') throw new Error('expected the prometheus source');
    const metricSource = new PrometheusMetricSource(resolved.config);
    // Trivial workers: they idle, and exit when told to drain.
    const pool = new LocalProcessPool({
      command: [process.execPath, '-e', "setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0));"],
      logger,
      output: 'ignore',
      drainTimeoutSeconds: 5,
      name: 'local:backlog',
    });
    const autoscaler = new Autoscaler({
      metricSource,
      group: 'backlog',
      policy,
      behavior: parseBehaviorConfig({
        minReplicas: 1,
        maxReplicas: 6,
        scaleDown: { stabilizationWindowSeconds: 0 },
        fallback: { failureThreshold: 3, replicas: 3 },
      }),
      target: pool,
      logger,
    });
    const decisions: ScalingDecision[] = [];
    autoscaler.on('decision', (d) => decisions.push(d));
    const steps: string[] = [];
    const step = async (what: string, replicas: number): Promise<ScalingDecision> => {
      const decision = await waitFor(
        what,
        async () => ((await pool.currentReplicas()) === replicas ? decisions.findLast((d) => d.desiredReplicas === replicas) : undefined),
        20_000,
        100,
      );
      steps.push(`${what}: ${replicas} replicas at ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return decision;
    };
    await pool.setReplicas(1);
    autoscaler.start();
    metricSource.start();
    try {
      const idle = await waitFor('a first decision', async () => decisions[0], 10_000, 50);
      expect(idle.policy).toBe('prometheus');
      expect(idle.recommendation?.metric).toEqual({ name: 'prometheus', value: 0, target: 100 });

      backlog.set('orders', 350);
      const up = await step('backlog 350', 4);
      expect(up.action).toBe('scale_up');
      expect(up.recommendation?.arithmetic).toBe(
        'query max(lagscale_test_backlog) = 350 (vector, {}); 350 / threshold 100 = 3.5 -> ceil 4; usage ratio 350 / (100 x 1) = 3.5 outside tolerance 0.1 -> 4',
      );

      backlog.set('orders', 120);
      const down = await step('backlog 120', 2);
      expect(down.action).toBe('scale_down');
      expect(down.recommendation?.arithmetic).toContain('120 / threshold 100 = 1.2 -> ceil 2');

      // Prometheus goes away: held at 2 for failureThreshold reads, then the fallback count.
      const beforeStop = decisions.length;
      await prometheus.stop();
      const fallback = await step('Prometheus stopped', 3);
      expect(fallback.action).toBe('fallback');
      const afterStop = decisions.slice(beforeStop);
      const failedBeforeFallback = afterStop.slice(
        afterStop.findIndex((d) => d.recommendation === null),
        afterStop.indexOf(fallback),
      );
      expect(failedBeforeFallback).toHaveLength(3);
      for (const held of failedBeforeFallback) {
        expect(held.desiredReplicas).toBe(2);
        expect(held.reason).toMatch(/metric read failed: (cannot query .*\/api\/v1\/query|.*answered HTTP)/);
      }
      expect(autoscaler.counters.errorsByStage.get('metrics')).toBeGreaterThanOrEqual(4);
      expect(metricSource.counters.failures).toBeGreaterThanOrEqual(4);
      process.stdout.write(
        `prometheus source: ${steps.join('; ')}; ${decisions.length} decisions, ${metricSource.counters.queries} queries, ${metricSource.counters.failures} failed\n`,
      );
    } finally {
      await metricSource.stop();
      await autoscaler.stop();
      await pool.close();
    }
  });
});

describe('prometheus source on a real Prometheus behind TLS and basic auth', () => {
  const { password } = TEST_BASIC_AUTH;

  it('queries over https with a CA file and a password; a wrong password or an unknown CA fails the read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-prometheus-tls-'));
    const { cert, webConfig } = securedWebConfig(dir);
    const secured = await startPrometheus({
      scrapeConfigs: "  - job_name: none\n    static_configs: [{ targets: ['127.0.0.1:1'] }]",
      webConfig,
    });
    try {
      const at = (raw: Record<string, unknown>) =>
        new PrometheusQueryClient(parsePrometheusSourceConfig({ serverAddress: secured.url, query: 'vector(42)', threshold: 10, ...raw }));
      const read = await waitFor(
        'a query over https with basic auth',
        async () => at({ tls: { ca: cert }, auth: { username: 'lagscale', password } }).read(),
        15_000,
        200,
      );
      expect(read.value).toBe(42);
      // customHeaders reach the server: the same credentials as a header work too.
      const header = `Basic ${Buffer.from(`lagscale:${password}`).toString('base64')}`;
      expect((await at({ tls: { ca: cert }, customHeaders: { Authorization: header } }).read()).value).toBe(42);
      expect((await at({ unsafeSsl: true, auth: { username: 'lagscale', password } }).read()).value).toBe(42);

      const wrong = await failedRead(at({ tls: { ca: cert }, auth: { username: 'lagscale', password: 'guess' } }).read());
      expect(wrong).toBeInstanceOf(PrometheusQueryError);
      expect(wrong.message).toContain('answered HTTP 401');
      const untrusted = await failedRead(at({ auth: { username: 'lagscale', password } }).read());
      expect(untrusted.message).toMatch(/cannot query https:\/\/127\.0\.0\.1:\d+\/api\/v1\/query: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/);
    } finally {
      await secured.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Remembers the number it was asked for (as in autoscaler-loop.test.ts): no processes needed for 8 replicas. */
class CountingTarget implements ScaleTarget {
  readonly name = 'memory:test';
  replicas: number;
  constructor(initial: number) {
    this.replicas = initial;
  }
  async currentReplicas(): Promise<number> {
    return this.replicas;
  }
  async setReplicas(replicas: number): Promise<void> {
    this.replicas = replicas;
  }
  async close(): Promise<void> {}
}

describe('prometheus source on lag that an exporter publishes', () => {
  it("scales on kafka_consumergroup_lag_sum scraped from lagscale's exporter over a real Kafka group, as the threshold policy does with allowIdleConsumers", async () => {
    const brokers = inject('kafkaBrokers');
    const topic = `prom-src-${Date.now().toString(36)}`;
    const group = `${topic}-g`;
    await createTopic(brokers, topic, 4);
    await produce(brokers, { topic, perPartition: { 0: 100, 1: 100, 2: 100, 3: 100 } });
    await commitOffsets(brokers, group, topic, { 0: 0, 1: 0, 2: 0, 3: 0 });
    const monitor = new LagMonitor({ connection: { brokers }, groups: [group], intervalSeconds: 0.5 });
    const app = await createExporterServer({ monitor, logger });
    await app.listen({ host: '127.0.0.1', port: 0 });
    monitor.start();
    const scraping = await startPrometheus({
      scrapeConfigs: ['  - job_name: lagscale', '    static_configs:', `      - targets: ['127.0.0.1:${(app.server.address() as AddressInfo).port}']`].join(
        '\n',
      ),
    });
    const query = `sum(kafka_consumergroup_lag_sum{consumergroup="${group}"})`;
    const { source, policy } = resolveSourceAndPolicy(
      { type: 'prometheus', serverAddress: scraping.url, query, threshold: 50, pollingInterval: 0.5 },
      undefined,
      { source: 'source', policy: 'policy' },
    );
    if (source.type !== 'prometheus') throw new Error('expected the prometheus source');
    const metricSource = new PrometheusMetricSource(source.config);
    const target = new CountingTarget(1);
    const autoscaler = new Autoscaler({
      metricSource,
      group,
      policy,
      // HPA's default scale-up (at most +4 or x2 per 15 s) would stop at 5 first; allow the whole step at once.
      behavior: parseBehaviorConfig({
        minReplicas: 1,
        maxReplicas: 10,
        scaleUp: { policies: [{ type: 'Pods', value: 10, periodSeconds: 15 }] },
        scaleDown: { stabilizationWindowSeconds: 0 },
      }),
      target,
      logger,
    });
    const decisions: ScalingDecision[] = [];
    autoscaler.on('decision', (d) => decisions.push(d));
    try {
      await waitFor('Prometheus to scrape lag 400', async () => (await scraping.query(query))[0]?.value[1] === '400', 20_000, 100);
      autoscaler.start();
      metricSource.start();
      // 400 records of lag at 50 per replica: 8, with no partition count to cap it.
      await waitFor('8 replicas', async () => target.replicas === 8, 15_000, 50);
      const snapshot = monitor.latest;
      if (snapshot === null) throw new Error('no lag snapshot');
      const input = scalingInputFromSnapshot(snapshot, group, 1);
      if (input === null) throw new Error(`group ${group} is not in the snapshot`);
      const thresholdReplicas = (raw: Record<string, unknown>): number => {
        const resolved = resolvePolicy({ name: 'threshold', lagThreshold: 50, ...raw });
        return resolved.policy.recommend(input, resolved.config, resolved.policy.initialState(resolved.config)).recommendation.replicas;
      };
      expect(thresholdReplicas({ allowIdleConsumers: true })).toBe(8);
      // KEDA's Kafka scaler caps at the 4 partitions; a query knows no partitions (use maxReplicas).
      expect(thresholdReplicas({})).toBe(4);

      await commitOffsets(brokers, group, topic, { 0: 75, 1: 75, 2: 75, 3: 75 });
      await waitFor('2 replicas once the lag is 100', async () => target.replicas === 2, 20_000, 50);
      const down = decisions.findLast((d) => d.desiredReplicas === 2);
      expect(down?.recommendation?.arithmetic).toContain(`query ${query} = 100 (vector, {}); 100 / threshold 50 = 2 -> ceil 2`);
    } finally {
      await metricSource.stop();
      await autoscaler.stop();
      await monitor.stop();
      await scraping.stop();
      await app.close();
    }
  });
});
