import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '@lagscale/cli/dist/config.js';
import { type LocalStack, startLocalStack } from '@lagscale/cli/dist/stack/local-stack.js';
import { freePorts } from '@lagscale/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitOffsets, createTopic, produce, type RunningConsumer, startConsumer, waitFor } from '../../test-support/kafka.js';
import { type RunningPrometheus, startPrometheus } from '../../test-support/prometheus.js';
import { consumeShared, setGroupConfig } from '../../test-support/share-groups-command.js';
import { dashboardQueries } from '../grafana/dashboard.js';

const RULES = new URL('../prometheus/alerts.yaml', import.meta.url);

const RULE_SET = {
  name: 'prom-orders',
  schema: { type: 'object', required: ['id', 'amount'], properties: { id: { type: 'string' }, amount: { type: 'number' } } },
  rules: [{ id: 'amount.positive', severity: 'error', type: 'range', field: '/amount', min: 0.01 }],
};
const RECORDS = 600;
/** Every 7th record breaks the rule (invalid), every 100th is not JSON (DLQ). */
function ordersFile(): string {
  const lines: string[] = [];
  for (let n = 1; n <= RECORDS; n++) lines.push(n % 100 === 0 ? `{"id": "o-${n}", ` : JSON.stringify({ id: `o-${n}`, amount: n % 7 === 0 ? -1 : n }));
  return `${lines.join('\n')}\n`;
}

/**
 * A real Prometheus scrapes the local stack (its /metrics, and its workers found through
 * /prometheus/targets) and evaluates deploy/prometheus/alerts.yaml: a scripted stalled consumer
 * makes the stall alert fire, and every query of the Grafana dashboard returns series.
 */
describe('Prometheus scraping the stack, with the alert rules and the dashboard', () => {
  let stack: LocalStack;
  let prometheus: RunningPrometheus;
  let stalled: RunningConsumer | undefined;
  const home = mkdtempSync(join(tmpdir(), 'lagscale-prom-stack-'));
  const started = Date.now();

  beforeAll(async () => {
    process.env.LAGSCALE_LOG_LEVEL = 'warn';
    const config = defaultConfig();
    config.exporter.port = 0;
    config.lag.intervalSeconds = 1;
    config.lag.windowSize = 5;
    stack = await startLocalStack({
      config,
      home,
      kafkaPort: ((await freePorts(1)) as [number])[0],
      requestPartitions: 4,
      maxWorkers: 2,
      workerRecordCostMs: 5,
      workerBatchSize: 50,
      // Scale out as soon as a job arrives, so the replica panels and the scale annotation have data.
      policy: { name: 'threshold', lagThreshold: 50 },
      behavior: { scaleUp: { stabilizationWindowSeconds: 0 } },
    });
    // The rule file as shipped, with its `for` durations cut to 3 s so that the test does not wait
    // minutes; the thresholds and expressions are the file's (promtool's unit tests check the durations).
    const rules = join(home, 'alerts.yaml');
    writeFileSync(rules, readFileSync(RULES, 'utf8').replace(/^(\s+)for: \S+$/gm, '$1for: 3s'));
    const { host } = new URL(stack.url);
    prometheus = await startPrometheus({
      ruleFiles: [rules],
      scrapeConfigs: [
        '  - job_name: lagscale',
        '    static_configs:',
        `      - targets: ['${host}']`,
        '  - job_name: lagscale-workers',
        '    http_sd_configs:',
        `      - url: ${stack.url}/prometheus/targets`,
        '        refresh_interval: 1s',
      ].join('\n'),
    });
  }, 240_000);

  afterAll(async () => {
    await stalled?.stop();
    await prometheus?.stop();
    await stack?.stop();
    rmSync(home, { recursive: true, force: true });
  }, 120_000);

  it('scrapes the stack and each worker it runs, found through HTTP service discovery', async () => {
    const targets = await waitFor('the stack and a worker as scrape targets that are up', async () => {
      const all = await prometheus.targets();
      return all.length >= 2 && all.every((t) => t.health === 'up') ? all : undefined;
    });
    expect(targets.map((t) => t.scrapeUrl).sort()).toEqual(expect.arrayContaining([`${stack.url}/metrics`]));
    expect(targets.some((t) => /^http:\/\/127\.0\.0\.1:\d+\/metrics$/.test(t.scrapeUrl) && t.scrapeUrl !== `${stack.url}/metrics`)).toBe(true);
  }, 60_000);

  it('fires LagscaleConsumerGroupStalled for a consumer that holds its partitions and commits nothing', async () => {
    const brokers = [...stack.brokers];
    const topic = 'prom-payments';
    const group = 'prom-stalled';
    await createTopic(brokers, topic, 2);
    await produce(brokers, { topic, perPartition: { 0: 40, 1: 40 } });
    await commitOffsets(brokers, group, topic, { 0: 10, 1: 10 });
    // Reads a record, then sleeps on it: a live member that owns both partitions and never commits.
    stalled = await startConsumer(brokers, group, [topic], { delayMs: 600_000 });
    const alert = await waitFor(
      'the stall alert to fire',
      async () =>
        (await prometheus.alerts()).find(
          (a) => a.labels.alertname === 'LagscaleConsumerGroupStalled' && a.labels.consumergroup === group && a.state === 'firing',
        ),
      90_000,
      500,
    );
    expect(alert.labels.severity).toBe('page');
    // Other groups are not reported stalled.
    const others = (await prometheus.alerts()).filter((a) => a.labels.alertname === 'LagscaleConsumerGroupStalled' && a.labels.consumergroup !== group);
    expect(others).toEqual([]);
  }, 120_000);

  it('answers every query of the Grafana dashboard with series, once a job has been validated and the workers scaled', async () => {
    const saved = await fetch(`${stack.url}/api/v1/rulesets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(RULE_SET),
    });
    expect(saved.status).toBe(201);
    const upload = await fetch(`${stack.url}/api/v1/jobs?ruleSet=${RULE_SET.name}&format=ndjson`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: ordersFile(),
    });
    expect(upload.status).toBe(201);
    const { id } = (await upload.json()) as { id: string };
    const job = await waitFor(
      'the job to finish',
      async () => {
        const j = (await (await fetch(`${stack.url}/api/v1/jobs/${id}`)).json()) as { results: number; dlq: number; invalid: number };
        return j.results + j.dlq === RECORDS ? j : undefined;
      },
      90_000,
      500,
    );
    expect(job).toMatchObject({ dlq: 6, invalid: 85 });
    // A client producing to validation.requests directly, with bytes that are not a request: a
    // worker sends it to the DLQ (the upload's bad lines above never reach a worker).
    await produce([...stack.brokers], { topic: 'validation.requests', perPartition: { 0: 1 } });
    await waitFor(
      'a worker to dead-letter the stray record',
      async () => (await prometheus.query('sum(lagscale_validator_dlq_records_total) > 0')).length > 0,
      30_000,
      500,
    );
    await waitFor(
      'a scale-up in Prometheus',
      async () => (await prometheus.query('max(lagscale_autoscaler_scale_events_total{direction="up"}) > 0')).length > 0,
      30_000,
      500,
    );

    // A share group (the stack's broker is Kafka 4.4.0), so the share-group panels have a queue to
    // show: Kafka's console share consumer reads the one record of a new topic, then records arrive
    // that nobody acknowledges. They are produced once lagscale watches the topic, so their age is
    // known (records older than the first look at a topic have no time in its offset/time table).
    const kafka = stack.kafka as NonNullable<LocalStack['kafka']>;
    const bootstrap = kafka.brokers[0] as string;
    await createTopic([...kafka.brokers], 'dashboard-share', 1);
    await produce([...kafka.brokers], { topic: 'dashboard-share', perPartition: { 0: 1 } });
    await setGroupConfig(kafka.libDir, bootstrap, 'dashboard-queue', 'share.auto.offset.reset=earliest');
    await consumeShared(kafka.libDir, bootstrap, { topic: 'dashboard-share', group: 'dashboard-queue', maxMessages: 1 });
    await waitFor(
      'the stack to watch the share group',
      async () => ((await (await fetch(`${stack.url}/api/v1/groups`)).json()) as { shareGroups?: unknown[] }).shareGroups?.length,
      30_000,
      500,
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await produce([...kafka.brokers], { topic: 'dashboard-share', perPartition: { 0: 500 } });

    const queries = dashboardQueries().map((q) => ({
      ...q,
      promql: q.expr.replaceAll('$consumergroup', '.+').replaceAll('$sharegroup', '.+').replaceAll('$__rate_interval', '1m'),
    }));
    expect(queries.length).toBeGreaterThan(15);
    // As Grafana asks: a range query over the time the test ran, each must return series.
    const since = (Date.now() - started) / 1000 + 30;
    const missing = async (): Promise<string[]> => {
      const empty: string[] = [];
      for (const q of queries) if ((await prometheus.queryRange(q.promql, since)).length === 0) empty.push(`${q.where}: ${q.promql}`);
      return empty;
    };
    const empty = await waitFor('every dashboard query to return series', async () => ((await missing()).length === 0 ? [] : undefined), 60_000, 1000).catch(
      async (error: Error) => {
        throw new Error(`${error.message}\nno series for:\n${(await missing()).join('\n')}`);
      },
    );
    expect(empty).toEqual([]);
    process.stderr.write(
      `[prometheus] ${queries.length} dashboard queries answered with series; job ${id}: ${RECORDS} records, ${job.invalid} invalid, ${job.dlq} DLQ\n`,
    );
  }, 180_000);

  it('knows every metric the alert rules name: each is exported by the stack or a worker', async () => {
    const names = new Set(readFileSync(RULES, 'utf8').match(/\b(?:lagscale|kafka)_[a-z_]+\b/g) ?? []);
    const exposed = new Set<string>();
    for (const target of await prometheus.targets()) {
      const text = await (await fetch(target.scrapeUrl)).text();
      for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        const [name, type] = [match[1] as string, match[2] as string];
        exposed.add(name);
        if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(`${name}${suffix}`);
      }
    }
    expect([...names].filter((name) => !exposed.has(name))).toEqual([]);
  });
});
