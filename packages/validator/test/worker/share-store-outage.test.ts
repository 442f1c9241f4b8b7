import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '@lagscale/kafka';
import { type OpenSearchNode, startOpenSearchNode } from '@lagscale/opensearch';
import { OpenSearchResultStore } from '@lagscale/validator';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTopic, waitFor } from '../../../../test-support/kafka.js';
import { auditJob } from './job-audit.js';
import { produceJob, ordersRuleSet as ruleSet } from './order-records.js';

const brokers = inject('kafkaBrokers');
const main = fileURLToPath(new URL('../../../cli/dist/main.js', import.meta.url));
const TOTAL = 20_000;
/** Longer than the broker's 30 s acquisition lock: records held without renewal would go back and be delivered again. */
const OUTAGE_MS = 45_000;
const isMalformed = (n: number): boolean => n % 100 === 0;

/** A worker's counter (the sum over its label sets), NaN when it does not answer. */
async function counter(port: number, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(label))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/**
 * Share-group workers through a store outage longer than the acquisition lock: the OpenSearch
 * node is stopped for 45 s under two `lagscale worker --share-group` processes. The workers hold
 * the batches in hand and renew their records' locks instead of releasing them (a release spends
 * one of the group's 5 delivery attempts, and a long outage would have the broker archive the
 * records): nothing is released, nothing is delivered again, and once the node is back every
 * record lands exactly once.
 */
describe('share-group workers through a 45 s store outage', () => {
  const home = mkdtempSync(join(tmpdir(), 'lagscale-share-outage-'));
  const workers: { process: ChildProcess; port: number }[] = [];
  let node: OpenSearchNode | undefined;
  let read: OpenSearchResultStore | undefined;

  afterAll(async () => {
    for (const w of workers) w.process.kill('SIGTERM');
    await Promise.all(workers.map((w) => (w.process.exitCode !== null ? Promise.resolve() : new Promise((r) => w.process.once('exit', r)))));
    await read?.close();
    await node?.stop();
    rmSync(home, { recursive: true, force: true });
  }, 120_000);

  it('holds and renews the records in hand, releases none, and every record lands once', async () => {
    const job = `shareout-${Date.now().toString(36)}`;
    const topic = `${job}-requests`;
    node = await startOpenSearchNode({ dataDir: home });
    await createTopic(brokers, topic, 4);
    read = await OpenSearchResultStore.open({ url: node.url, indexPrefix: job, readRetryMs: 60_000 });
    await read.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet as never, Date.now());
    await read.createJob({ id: job, ruleSet: ruleSet.name, ruleSetVersion: ruleSet.version, total: TOTAL, createdAt: Date.now(), source: 'test' });
    for (let i = 0; i < 2; i++) {
      const port = (await freePorts(1))[0] as number;
      const args = [main, 'worker', '-b', brokers.join(','), '--store', node.url, '--share-group', `${job}-validators`, '--requests-topic', topic];
      const child = spawn(process.execPath, [...args, '--batch-size', '200', '--record-cost-ms', '1', '--port', String(port)], {
        stdio: ['ignore', 'ignore', openSync(join(home, `worker-${i}.log`), 'a')],
        env: { ...process.env, OPENSEARCH_INDEX_PREFIX: job },
      });
      workers.push({ process: child, port });
    }
    const produced = await produceJob(brokers, { topic, jobId: job, total: TOTAL, isMalformed, seed: 17 });
    const store = read;
    const done = async (): Promise<number> => {
      await store.refresh();
      const j = await store.getJob(job);
      return (j?.results ?? 0) + (j?.dlq ?? 0);
    };
    const doneAtStop = await waitFor('a fifth of the job done', async () => ((n) => (n >= TOTAL / 5 ? n : undefined))(await done()), 120_000, 100);
    await node.stop();
    await waitFor(
      'both workers to report the store down',
      async () => (await Promise.all(workers.map((w) => counter(w.port, 'lagscale_validator_store_up')))).every((up) => up === 0),
      20_000,
      200,
    );
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    await node.start();
    await waitFor('every record done', async () => (await done()) >= TOTAL, 180_000, 500);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // a late duplicate would show now
    await store.refresh();
    const audit = await auditJob(store, job, TOTAL, new Set(produced.malformed));
    const released = await Promise.all(workers.map((w) => counter(w.port, 'lagscale_validator_share_acknowledgements_total', 'type="release"')));
    const redelivered = await Promise.all(workers.map((w) => counter(w.port, 'lagscale_validator_share_redeliveries_total')));
    process.stderr.write(
      `[share-outage] stopped at ${doneAtStop} of ${TOTAL} for ${OUTAGE_MS / 1000} s; audit ${JSON.stringify(audit)}; released ${released}; redelivered ${redelivered}\n`,
    );
    expect(audit).toMatchObject({ lost: 0, duplicated: 0, misplaced: 0 });
    // The locks were renewed through the outage: no record went back to the group.
    expect(released).toEqual([0, 0]);
    expect(redelivered).toEqual([0, 0]);
  }, 360_000);
});
