import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, PRODUCER_RETRIES } from '@lagscale/kafka';
import { type Job, SqliteResultStore, VALIDATION_TOPICS } from '@lagscale/validator';
import { Producer } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-support/kafka.js';
import { auditJob, keysOf, repeats } from '../../validator/test/worker/job-audit.js';
import { OrderRecords, produceOrders } from '../../validator/test/worker/order-records.js';
// The built stack: it starts its workers from dist/main.js next to it.
import { defaultConfig } from '../dist/config.js';
import { startLocalStack } from '../dist/stack/local-stack.js';

const TOTAL = 100_000;

interface ReadyzBody {
  readonly status: string;
  readonly components?: { readonly kafka?: { readonly ready: boolean; readonly restarts: number; readonly lastDownForMs: number | null } };
}
const isMalformed = (n: number): boolean => n % 100 === 0;

/**
 * `npm start`'s own broker dies mid-job (SIGKILL from outside, as the OOM killer would): the
 * stack notices, starts it again on the same port and data, and the workers, the lag engine and
 * the autoscaler carry on by themselves. Nothing is lost or doubled.
 */
describe('the local stack when its Kafka broker is SIGKILLed mid-job', () => {
  it('restarts the broker and finishes the job with every record exactly once', async () => {
    const started = Date.now();
    const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    const timeline: string[] = [];
    const home = mkdtempSync(join(tmpdir(), 'lagscale-stack-restart-'));
    const config = defaultConfig();
    config.exporter.port = 0;
    config.lag.intervalSeconds = 1;
    const [kafkaPort] = await freePorts(1);
    const stack = await startLocalStack({
      config,
      home,
      kafkaPort: kafkaPort as number,
      // 1 ms a record (a timer): two workers need about a minute, so the kill lands mid-job.
      workerRecordCostMs: 1,
      workerBatchSize: 500,
      maxWorkers: 2,
    });
    const kafka = stack.kafka;
    expect(kafka).not.toBeNull();
    if (kafka === null) return;
    const exits: { id: number; code: number | null; signal: NodeJS.Signals | null; expected: boolean }[] = [];
    stack.pool.on('worker-exit', (exit) => exits.push(exit));
    const read = SqliteResultStore.open(join(home, 'validator.db'));
    const job = `restart-${Date.now().toString(36)}`;
    let kills = 0;
    let restarts = 0;
    try {
      const ruleSet = (await read.listRuleSets())[0];
      expect(ruleSet).toBeDefined();
      const ruleSetName = ruleSet?.name as string;
      await read.createJob({
        id: job,
        ruleSet: ruleSetName,
        ruleSetVersion: ruleSet?.latestVersion as number,
        total: TOTAL,
        createdAt: Date.now(),
        source: 'test',
      });
      const client = new Producer({ clientId: 'lagscale-test-orders', bootstrapBrokers: [...stack.brokers], idempotent: true, acks: -1, ...PRODUCER_RETRIES });
      const produced = await produceOrders(client, {
        topic: VALIDATION_TOPICS.requests,
        jobId: job,
        ruleSet: ruleSetName,
        from: 1,
        to: TOTAL,
        isMalformed,
        records: new OrderRecords({ seed: 16 }),
      }).finally(() => client.close());
      timeline.push(`${elapsed()}: ${TOTAL} records produced`);
      const progress = async (): Promise<Job> => (await read.getJob(job)) as Job;
      const done = async (): Promise<number> => {
        const j = await progress();
        return j.results + j.dlq;
      };
      await waitFor('10% of the records done', async () => (await done()) >= 0.1 * TOTAL, 120_000, 100);

      const victim = kafka.pidOf(1);
      expect(victim).toBeDefined();
      const doneAtKill = await done();
      process.kill(victim as number, 'SIGKILL');
      kills++;
      timeline.push(`${elapsed()}: SIGKILL broker pid ${victim} with ${doneAtKill} records done (${stack.pool.workers().length} workers)`);
      expect(doneAtKill).toBeLessThan(TOTAL);
      // The stack says so: not ready while its broker is down.
      const down = await waitFor(
        '/readyz to report the broker down',
        async () => {
          const response = await fetch(`${stack.url}/readyz`);
          const body = (await response.json()) as ReadyzBody;
          return response.status === 503 && body.components?.kafka?.ready === false ? body : undefined;
        },
        10_000,
        100,
      );
      timeline.push(`${elapsed()}: /readyz 503, kafka ${JSON.stringify(down.components?.kafka)}`);

      const restartedPid = await waitFor(
        'the stack to start its broker again',
        async () => {
          const pid = kafka.pidOf(1);
          return pid !== undefined && pid !== victim ? pid : undefined;
        },
        60_000,
        100,
      );
      restarts++;
      timeline.push(`${elapsed()}: broker started again as pid ${restartedPid}`);
      await kafka.waitReady(90_000);
      timeline.push(`${elapsed()}: broker serves again, ${await done()} records done`);

      const final = await waitFor(
        'every record to have a result or a dead letter',
        async () => {
          const j = await progress();
          return j.results + j.dlq >= TOTAL ? j : undefined;
        },
        180_000,
        200,
      );
      timeline.push(`${elapsed()}: all records done (${final.results} results, ${final.dlq} DLQ)`);
      // The lag engine and the autoscaler saw the broker come back: a complete snapshot, no lag left.
      const caughtUp = await waitFor(
        'the lag engine to report the workers caught up',
        async () => {
          const g = stack.monitor.latest?.groups.find((x) => x.group === 'validator');
          return g?.lagComplete === true && g.lag === 0 ? g : undefined;
        },
        60_000,
        500,
      );
      timeline.push(`${elapsed()}: lag engine: group validator complete, lag ${caughtUp.lag}`);
      const ready = (await (await fetch(`${stack.url}/readyz`)).json()) as ReadyzBody;
      timeline.push(`${elapsed()}: /readyz kafka ${JSON.stringify(ready.components?.kafka)}`);
      expect(ready.components?.kafka?.ready).toBe(true);
      expect(ready.components?.kafka?.restarts).toBe(1);
      await new Promise((r) => setTimeout(r, 2000));

      const malformed = new Set(produced.malformed);
      const audit = await auditJob(read, job, TOTAL, malformed);
      const prefix = `${job}:`;
      const requestKeys = await keysOf(stack.brokers, VALIDATION_TOPICS.requests, `${job}-requests-reader`, (key) => key.startsWith(prefix));
      const deadLetterKeys = await keysOf(stack.brokers, VALIDATION_TOPICS.deadLetters, `${job}-dlq-reader`, (key) => key.startsWith(prefix));
      const crashes = exits.filter((e) => !e.expected);
      process.stderr.write(
        `stack broker restart counts: records ${audit.records}, results ${audit.results}, DLQ ${audit.dlq} (malformed ${malformed.size}), lost ${audit.lost}, duplicated ${audit.duplicated}, misplaced ${audit.misplaced}; ` +
          `request topic ${requestKeys.size} keys (${repeats(requestKeys).extraCopies} extra copies); DLQ topic ${deadLetterKeys.size} keys (${repeats(deadLetterKeys).extraCopies} republished); ` +
          `kills ${kills}, broker restarts ${restarts}, worker exits ${exits.length} (${crashes.length} unasked: ${crashes.map((c) => c.signal ?? `code ${c.code}`).join(', ') || 'none'}), ` +
          `scale events ${stack.autoscaler.counters.scaleUps + stack.autoscaler.counters.scaleDowns}\n`,
      );
      expect(audit.lostExamples).toEqual([]);
      expect(audit.lost).toBe(0);
      expect(audit.duplicated).toBe(0);
      expect(audit.misplaced).toBe(0);
      expect(audit.results).toBe(TOTAL - malformed.size);
      expect(audit.dlq).toBe(malformed.size);
      expect(requestKeys.size).toBe(TOTAL);
      expect(deadLetterKeys.size).toBe(malformed.size);
      // Workers are running: the pool is not left empty or crash-looping.
      expect(stack.pool.health().running).toBeGreaterThanOrEqual(1);
    } finally {
      process.stderr.write(`stack broker restart (${elapsed()}):\n  ${timeline.join('\n  ')}\n`);
      await read.close();
      await stack.stop();
      rmSync(home, { recursive: true, force: true });
    }
  }, 300_000);
});
