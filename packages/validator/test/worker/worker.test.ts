import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRequest, SqliteResultStore } from '@lagscale/validator';
import { describe, expect, inject, it } from 'vitest';
import { createTopic, producer, waitFor } from '../../../../test-support/kafka.js';
import { startGroupAtEnd } from './helpers.js';
import { ordersRuleSet as ruleSet } from './order-records.js';

const brokers = inject('kafkaBrokers');
const main = fileURLToPath(new URL('../../../cli/dist/main.js', import.meta.url));

function startWorker(store: string, group: string): ChildProcess {
  return spawn(process.execPath, [main, 'worker', '-b', brokers.join(','), '--store', store, '--group', group, '--batch-size', '100'], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: process.env,
  });
}

/**
 * Workers on a real broker: records arrive while workers join, one is SIGKILLed mid-stream and
 * another drains on SIGTERM. Afterwards every well-formed record has exactly one result and
 * exactly the malformed ones are in the DLQ, each with its reason.
 */
describe('validation worker', () => {
  it('stores one result per record and DLQs exactly the malformed ones across scale-out, SIGKILL and SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-worker-'));
    const store = join(dir, 'results.db');
    const job = `job-${Date.now().toString(36)}`;
    const group = `${job}-validators`;
    const topic = 'validation.requests';
    await createTopic(brokers, topic, 8).catch(() => {});
    await startGroupAtEnd(brokers, group, topic);
    const setup = SqliteResultStore.open(store);
    await setup.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet as never, Date.now());
    const total = 3000;
    await setup.createJob({ id: job, ruleSet: ruleSet.name, ruleSetVersion: ruleSet.version, total, createdAt: Date.now(), source: 'test' });
    await setup.close();

    const client = producer(brokers);
    const malformed = new Set<number>();
    const send = async (from: number, to: number): Promise<void> => {
      const messages = [];
      for (let i = from; i <= to; i++) {
        const bad = i % 100 === 0;
        if (bad) malformed.add(i);
        const value = bad
          ? `{"orderId": "o-${i}", "items": [`
          : JSON.stringify({ orderId: `o-${i}`, customer: { email: i % 7 ? `c${i}@example.org` : 'not-an-email' }, items: [] });
        const e = encodeRequest({ jobId: job, recordNumber: i, ruleSet: ruleSet.name, value });
        messages.push({
          topic,
          key: e.key.toString(),
          value: e.value.toString(),
          headers: Object.fromEntries(Object.entries(e.headers).map(([k, v]) => [k, v.toString()])),
        });
      }
      for (let i = 0; i < messages.length; i += 250) await client.send({ messages: messages.slice(i, i + 250) });
    };
    const workers: ChildProcess[] = [];
    const read = SqliteResultStore.open(store);
    try {
      const resultsAtLeast = (n: number) => waitFor(`${n} results`, async () => ((await read.getJob(job))?.results ?? 0) >= n, 60_000, 100);
      workers.push(startWorker(store, group));
      await send(1, 1000);
      await resultsAtLeast(300);
      workers.push(startWorker(store, group), startWorker(store, group));
      await send(1001, 2000);
      await resultsAtLeast(1200);
      // A crash in the middle of the stream: whatever it had not committed is redelivered.
      workers[1]?.kill('SIGKILL');
      await send(2001, 3000);
      // A graceful scale-in: drain, commit, leave.
      workers[2]?.kill('SIGTERM');
      const job1 = await waitFor(
        'every record to have a result or a dead letter',
        async () => {
          const j = await read.getJob(job);
          return j && j.results + j.dlq >= total ? j : undefined;
        },
        120_000,
        500,
      );
      expect(job1.results).toBe(total - malformed.size);
      expect(job1.dlq).toBe(malformed.size);
      const summary = await read.jobSummary(job);
      expect(summary?.records).toBe(total - malformed.size);
      const dlq = await read.listDlq({ jobId: job, limit: 1000 });
      expect(new Set(dlq.items.map((d) => d.recordNumber))).toEqual(malformed);
      expect(dlq.items.every((d) => d.code === 'truncated_json' && d.reason.includes('truncated JSON'))).toBe(true);
      // Invalid ones are the bad e-mails (1 in 7), found by the rule engine.
      const invalid = await read.searchResults({ jobId: job, valid: false, limit: 1 });
      expect(invalid.items.length).toBe(1);
    } finally {
      await client.close();
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => (w.exitCode !== null || w.signalCode !== null ? Promise.resolve() : new Promise((r) => w.once('exit', r)))));
      await read.close();
    }
  }, 180_000);
});
