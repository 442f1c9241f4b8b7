import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startElasticsearchNode } from '@lagscale/elasticsearch';
import { freePorts } from '@lagscale/kafka';
import { startOpenSearchNode } from '@lagscale/opensearch';
import type { LocalSearchNode } from '@lagscale/search-node';
import { OpenSearchResultStore, VALIDATION_TOPICS } from '@lagscale/validator';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { admin, createTopic, waitFor } from '../../../../test-support/kafka.js';
import { endOffsets, startGroupAtEnd } from './helpers.js';
import { OrderRecords, produceOrders, requestProducer, ordersRuleSet as ruleSet } from './order-records.js';

const brokers = inject('kafkaBrokers');
const main = fileURLToPath(new URL('../../../cli/dist/main.js', import.meta.url));
const topic = VALIDATION_TOPICS.requests;
const isMalformed = (n: number): boolean => n % 100 === 0;

interface Worker {
  readonly process: ChildProcess;
  readonly port: number;
}

async function readiness(worker: Worker): Promise<{ code: number; status: string }> {
  const response = await fetch(`http://127.0.0.1:${worker.port}/readyz`);
  return { code: response.status, status: ((await response.json()) as { status: string }).status };
}

async function storeUp(worker: Worker): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
  return Number(/^lagscale_validator_store_up\{[^}]*\} (\d)$/m.exec(text)?.[1] ?? Number.NaN);
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function committed(group: string): Promise<bigint> {
  const client = admin(brokers);
  try {
    const [answer] = await client.listConsumerGroupOffsets({ groups: [group] });
    let sum = 0n;
    for (const t of answer?.topics ?? []) for (const p of t.partitions) if (p.committedOffset > 0n) sum += p.committedOffset;
    return sum;
  } finally {
    await client.close();
  }
}

/** The engines the outages run on: a node of each, started by this file, that the tests may stop and kill. */
const ENGINES: { readonly name: string; readonly start: (dataDir: string) => Promise<LocalSearchNode> }[] = [
  { name: 'OpenSearch', start: (dataDir) => startOpenSearchNode({ dataDir }) },
  { name: 'Elasticsearch 8.19.21', start: (dataDir) => startElasticsearchNode({ version: '8.19.21', dataDir }) },
];

/**
 * The search engine store going away under running workers (`lagscale worker` processes): stopped
 * for 30 s, SIGKILLed in the middle of bulk writes, and made read-only. Each time the workers hold
 * their batch and offsets, say the store is down (readiness, `lagscale_validator_store_up`), and
 * once it is back every record lands exactly once: counted by record number, results and DLQ.
 */
describe.each(ENGINES)('workers on $name through store outages', ({ name, start }) => {
  let node: LocalSearchNode;
  let home: string;
  const prefix = `outage-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${Date.now().toString(36)}`;
  const group = `${prefix}-validators`;
  const workers: Worker[] = [];
  let read: OpenSearchResultStore;
  const records = new OrderRecords({ seed: 11 });

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'lagscale-outage-'));
    node = await start(home);
    await createTopic(brokers, topic, 8).catch(() => {});
    await startGroupAtEnd(brokers, group, topic);
    read = await OpenSearchResultStore.open({ url: node.url, indexPrefix: prefix, readRetryMs: 60_000 });
    await read.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet as never, Date.now());
    for (let i = 0; i < 2; i++) {
      const port = (await freePorts(1))[0];
      const child = spawn(
        process.execPath,
        [main, 'worker', '-b', brokers.join(','), '--store', node.url, '--group', group, '--batch-size', '500', '--port', String(port)],
        { stdio: ['ignore', 'ignore', openSync(join(home, `worker-${i}.log`), 'a')], env: { ...process.env, OPENSEARCH_INDEX_PREFIX: prefix } },
      );
      workers.push({ process: child, port });
    }
    await waitFor('both workers ready', async () => (await Promise.all(workers.map(readiness))).every((r) => r.code === 200), 60_000, 200);
  }, 180_000);

  afterAll(async () => {
    for (const w of workers) w.process.kill('SIGTERM');
    await Promise.all(workers.map((w) => (w.process.exitCode !== null ? Promise.resolve() : new Promise((r) => w.process.once('exit', r)))));
    await read?.close();
    await node?.stop();
    rmSync(home, { recursive: true, force: true });
  }, 120_000);

  /** A job of `total` records produced now; resolves with its malformed record numbers. */
  async function produceJob(job: string, total: number): Promise<number[]> {
    await read.createJob({ id: job, ruleSet: ruleSet.name, ruleSetVersion: ruleSet.version, total, createdAt: Date.now(), source: 'test' });
    const client = requestProducer(brokers);
    try {
      return (await produceOrders(client, { topic, jobId: job, ruleSet: ruleSet.name, from: 1, to: total, isMalformed, records })).malformed;
    } finally {
      await client.close();
    }
  }

  async function done(job: string): Promise<number> {
    await read.refresh();
    const j = await read.getJob(job);
    return (j?.results ?? 0) + (j?.dlq ?? 0);
  }

  /** Every record exactly once: a result for each well-formed one, a DLQ entry for each malformed one, nothing else. */
  async function expectExactlyOnce(job: string, total: number, malformed: readonly number[]): Promise<{ results: number; dlq: number }> {
    await waitFor(`every record of ${job} done`, async () => (await done(job)) >= total, 180_000, 500);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // a late duplicate would show now
    await read.refresh();
    const j = await read.getJob(job);
    const seen = new Map<number, number>();
    let cursor: string | undefined;
    do {
      const page = await read.searchResults({ jobId: job, limit: 1000, facets: false, ...(cursor === undefined ? {} : { cursor }) });
      for (const item of page.items) seen.set(item.recordNumber, (seen.get(item.recordNumber) ?? 0) + 1);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    const dead: number[] = [];
    cursor = undefined;
    do {
      const page = await read.listDlq({ jobId: job, limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      for (const item of page.items) dead.push(item.recordNumber as number);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    const bad = new Set(malformed);
    const lost: number[] = [];
    let duplicated = 0;
    for (let n = 1; n <= total; n++) {
      if (bad.has(n)) continue;
      const count = seen.get(n) ?? 0;
      if (count === 0) lost.push(n);
      if (count > 1) duplicated++;
    }
    expect({ lost: lost.length, duplicated, results: j?.results, dlq: j?.dlq }).toEqual({ lost: 0, duplicated: 0, results: total - bad.size, dlq: bad.size });
    expect(dead.sort((a, b) => a - b)).toEqual([...malformed]);
    return { results: j?.results ?? 0, dlq: j?.dlq ?? 0 };
  }

  it('holds batches and offsets through a 30 s stop, is not ready meanwhile, and loses nothing', async () => {
    const job = `${prefix}-stopped`;
    const total = 30_000;
    const malformed = await produceJob(job, total);
    await waitFor('a fifth of the job done', async () => (await done(job)) >= total / 5, 120_000, 100);
    const rssBefore = workers.map((w) => rssMb(w.process.pid as number));
    const extra = `${prefix}-during`;
    await read.createJob({ id: extra, ruleSet: ruleSet.name, ruleSetVersion: ruleSet.version, total: 5000, createdAt: Date.now(), source: 'test' });
    const doneAtStop = await done(job);
    const stoppedAt = Date.now();
    await node.stop();
    expect(doneAtStop).toBeLessThan(total);
    await waitFor('both workers to report the store down', async () => (await Promise.all(workers.map(storeUp))).every((up) => up === 0), 20_000, 200);
    for (const worker of workers) expect(await readiness(worker)).toEqual({ code: 503, status: 'store_unavailable' });
    const heldAt = await committed(group);
    // More records arrive during the outage: the lag grows, nothing is committed.
    const endsBefore = (await endOffsets(brokers, topic)).reduce((a, b) => a + b, 0n);
    const client = requestProducer(brokers);
    const extraMalformed = (
      await produceOrders(client, { topic, jobId: extra, ruleSet: ruleSet.name, from: 1, to: 5000, isMalformed, records }).finally(() => client.close())
    ).malformed;
    const endsAfter = (await endOffsets(brokers, topic)).reduce((a, b) => a + b, 0n);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 30_000 - (Date.now() - stoppedAt))));
    expect(await committed(group)).toBe(heldAt);
    expect(endsAfter - endsBefore).toBe(5000n);
    const rssDuring = workers.map((w) => rssMb(w.process.pid as number));
    // Bounded: a worker holds a few batches in hand, not the backlog.
    for (const [i, rss] of rssDuring.entries()) expect(rss, `worker ${i} RSS ${rss.toFixed(0)} MB (before ${rssBefore[i]?.toFixed(0)} MB)`).toBeLessThan(400);

    await node.start();
    await waitFor('both workers ready again', async () => (await Promise.all(workers.map(readiness))).every((r) => r.code === 200), 60_000, 200);
    const counts = await expectExactlyOnce(job, total, malformed);
    await expectExactlyOnce(extra, 5000, extraMalformed);
    process.stderr.write(
      `[outage on ${name}] stopped at ${doneAtStop} of ${total} done, ${((Date.now() - stoppedAt) / 1000).toFixed(0)} s ago; ${counts.results} results, ${counts.dlq} DLQ, 0 lost, 0 duplicated; ` +
        `worker RSS before ${rssBefore.map((r) => r.toFixed(0)).join('/')} MB, during ${rssDuring.map((r) => r.toFixed(0)).join('/')} MB\n`,
    );
  }, 300_000);

  it('loses nothing when the node is SIGKILLed in the middle of bulk writes', async () => {
    const job = `${prefix}-killed`;
    const total = 20_000;
    const malformed = await produceJob(job, total);
    const doneAtKill = await waitFor('a third of the job done', async () => ((n) => (n >= total / 3 ? n : undefined))(await done(job)), 120_000, 50);
    await node.kill();
    // The fault came in the middle of the job, with bulk writes in flight.
    expect(doneAtKill).toBeLessThan(total);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await node.start();
    await expectExactlyOnce(job, total, malformed);
  }, 300_000);

  it('waits out a read-only block on the results index and loses nothing', async () => {
    const job = `${prefix}-blocked`;
    const total = 20_000;
    const malformed = await produceJob(job, total);
    const doneAtBlock = await waitFor('a third of the job done', async () => ((n) => (n >= total / 3 ? n : undefined))(await done(job)), 120_000, 50);
    const settings = (value: boolean | null) =>
      fetch(`${node.url}/${prefix}-results/_settings`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ 'index.blocks.read_only_allow_delete': value }),
      });
    expect((await settings(true)).status).toBe(200);
    expect(doneAtBlock).toBeLessThan(total);
    await waitFor('the workers to report the store down', async () => (await Promise.all(workers.map(storeUp))).some((up) => up === 0), 20_000, 100);
    const heldAt = await committed(group);
    await new Promise((resolve) => setTimeout(resolve, 8000));
    expect(await committed(group)).toBe(heldAt);
    expect((await settings(null)).status).toBe(200);
    await expectExactlyOnce(job, total, malformed);
  }, 300_000);
});

/** A proxy that answers 401 unless the request carries the expected basic credentials. */
function authenticatingProxy(target: string, username: string, password: string): Promise<Server> {
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const server = createServer((incoming, outgoing) => {
    if (incoming.headers.authorization !== expected) {
      outgoing.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="test"' });
      outgoing.end(JSON.stringify({ error: { type: 'security_exception', reason: 'unable to authenticate user' }, status: 401 }));
      return;
    }
    const forwarded = httpRequest(`${target}${incoming.url}`, { method: incoming.method, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    });
    incoming.pipe(forwarded);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('a worker given wrong OpenSearch credentials', () => {
  it('stops at start-up with exit 2 and a message that says what to fix', async () => {
    const proxy = await authenticatingProxy(inject('openSearchUrl'), 'validator', 'right-secret');
    try {
      const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
      const run = (password: string) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, [main, 'worker', '-b', brokers.join(','), '--store', url], {
            stdio: ['ignore', 'ignore', 'pipe'],
            env: { ...process.env, OPENSEARCH_USERNAME: 'validator', OPENSEARCH_PASSWORD: password, OPENSEARCH_INDEX_PREFIX: 'creds-check' },
          });
          let stderr = '';
          child.stderr.on('data', (chunk) => {
            stderr += chunk;
          });
          child.once('exit', (code) => resolve({ code, stderr }));
          setTimeout(() => child.kill('SIGTERM'), 20_000);
        });
      const wrong = await run('wrong-secret');
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toContain('401 (credentials refused)');
      expect(wrong.stderr).toContain('check store.username and store.password');
    } finally {
      proxy.close();
    }
  }, 60_000);
});
