import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, KafkaCluster } from '@lagscale/kafka';
import { type Job, SqliteResultStore, VALIDATION_TOPICS } from '@lagscale/validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, waitFor } from '../../../../test-support/kafka.js';
import { auditJob } from './job-audit.js';
import { OrderRecords, produceOrders, requestProducer, ordersRuleSet as ruleSet } from './order-records.js';

const main = fileURLToPath(new URL('../../../cli/dist/main.js', import.meta.url));
const topic = VALIDATION_TOPICS.requests;
const isMalformed = (n: number): boolean => n % 100 === 0;
/** Produced before the outage; as many again after it. */
const HALF = 10_000;
/** Long past the client's fetch and heartbeat retries, so the consumer fails for good. */
const OUTAGE_MS = 25_000;

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

async function ready(port: number): Promise<boolean> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200;
}

async function readyStatus(port: number): Promise<string> {
  return ((await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { status: string }).status;
}

/**
 * The single broker of a worker's cluster SIGKILLed for longer than its consumer's retries: the
 * worker process stays up (no exit, no pod restart), says it is not ready meanwhile, rejoins its
 * group once the broker is back, and every record of the job has exactly one result or DLQ row.
 */
describe('a worker whose consumer fails after it had worked', () => {
  let cluster: KafkaCluster;
  let dir: string;

  beforeAll(async () => {
    cluster = await KafkaCluster.start({ nodes: 1, heapMb: 512 });
    dir = mkdtempSync(join(tmpdir(), 'lagscale-rejoin-'));
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('rejoins in the same process after a broker outage and counts every record exactly once', { timeout: 240_000 }, async () => {
    const brokers = cluster.brokers;
    await createTopic(brokers, topic, 4);
    const storeFile = join(dir, 'results.db');
    const job = 'rejoin-job';
    const setup = SqliteResultStore.open(storeFile);
    await setup.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet as never, Date.now());
    await setup.createJob({ id: job, ruleSet: ruleSet.name, ruleSetVersion: ruleSet.version, total: 2 * HALF, createdAt: Date.now(), source: 'test' });
    await setup.close();

    const port = (await freePorts(1))[0];
    const log = join(dir, 'worker.log');
    const worker: ChildProcess = spawn(
      process.execPath,
      [main, 'worker', '-b', brokers.join(','), '--store', storeFile, '--group', 'rejoin', '--batch-size', '500', '--port', String(port)],
      { stdio: ['ignore', 'ignore', openSync(log, 'a')] },
    );
    const exits: (number | null)[] = [];
    worker.on('exit', (code) => exits.push(code));
    const store = SqliteResultStore.open(storeFile);
    const records = new OrderRecords({ seed: 5 });
    const malformed = new Set<number>();
    const produce = async (from: number, to: number): Promise<void> => {
      const client = requestProducer(brokers);
      try {
        for (const n of (await produceOrders(client, { topic, jobId: job, ruleSet: ruleSet.name, from, to, isMalformed, records })).malformed) malformed.add(n);
      } finally {
        await client.close();
      }
    };
    const done = async (): Promise<number> => {
      const j = (await store.getJob(job)) as Job;
      return j.results + j.dlq;
    };
    try {
      await waitFor('the worker ready', () => ready(port), 60_000, 200);
      await produce(1, HALF);
      await waitFor('the first half done', async () => (await done()) >= HALF, 60_000, 250);

      const node = cluster.nodeIds[0] as number;
      await cluster.stopNode(node, 'SIGKILL');
      const wentUnready = await waitFor('the worker to say it is rejoining', async () => (await readyStatus(port)) === 'rejoining', OUTAGE_MS, 250).catch(
        () => false,
      );
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
      const restartsDuringOutage = await metric(port, 'lagscale_validator_consumer_restarts_total');
      await cluster.startNode(node);
      await produce(HALF + 1, 2 * HALF);
      await waitFor('every record done', async () => (await done()) >= 2 * HALF, 120_000, 500);
      await waitFor('the worker ready again', () => ready(port), 60_000, 250);

      const audit = await auditJob(store, job, 2 * HALF, malformed);
      process.stderr.write(
        `[consumer-rejoin] outage ${OUTAGE_MS / 1000} s; consumer restarts ${restartsDuringOutage} during it, ${await metric(port, 'lagscale_validator_consumer_restarts_total')} in all; not ready meanwhile: ${wentUnready}; ${JSON.stringify(audit)}\n`,
      );
      expect(exits).toEqual([]);
      expect(restartsDuringOutage).toBeGreaterThanOrEqual(1);
      expect(wentUnready).toBe(true);
      expect(audit).toMatchObject({ lost: 0, duplicated: 0, misplaced: 0, results: 2 * HALF - malformed.size, dlq: malformed.size });

      // It still drains and exits cleanly when asked.
      const exited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
      worker.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(readFileSync(log, 'utf8')).toMatch(/"event":"consumer_rejoining"/);
    } finally {
      if (worker.exitCode === null) worker.kill('SIGKILL');
      await store.close();
    }
  });
});
