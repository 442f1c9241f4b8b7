import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorker, SqliteResultStore, WorkerMetrics } from '@lagscale/validator';
import { describe, expect, inject, it } from 'vitest';
import { createTopic, waitFor } from '../../../../test-support/kafka.js';
import { OrderRecords, produceOrders, requestProducer, ordersRuleSet as ruleSet } from './order-records.js';

const brokers = inject('kafkaBrokers');
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

const TOTAL = 3000;
/** Records 2001..2100 repeat the order ids of 1..100: the pairs are in batches validated apart. */
const duplicateOf = (n: number): number | undefined => (n > 2000 && n <= 2100 ? n - 2000 : undefined);

/**
 * The validation threads validate batches side by side, each against its own claims only; the
 * worker then makes the claims in the store and validates again a record the store answers
 * otherwise. Small batches spread over two threads (and, for comparison, on the main thread)
 * must flag exactly one record of each repeated order id, as claim-by-claim validation would.
 */
describe('validation threads', () => {
  for (const threads of [0, 2]) {
    it(`flag one record of each repeated order id with ${threads} validation threads`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'lagscale-threads-'));
      const file = join(dir, 'results.db');
      const job = `threads-${threads}-${Date.now().toString(36)}`;
      const topic = `validation.requests.${job}`;
      await createTopic(brokers, topic, 4);
      const store = SqliteResultStore.open(file);
      await store.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet as never, Date.now());
      await store.createJob({ id: job, ruleSet: ruleSet.name, ruleSetVersion: ruleSet.version, total: TOTAL, createdAt: Date.now(), source: 'test' });
      const client = requestProducer(brokers);
      const produced = await produceOrders(client, {
        topic,
        jobId: job,
        ruleSet: ruleSet.name,
        from: 1,
        to: TOTAL,
        isMalformed: (n) => n % 500 === 250,
        records: new OrderRecords({ seed: 3, invalidEvery: 0, duplicateOf }),
      }).finally(() => client.close());
      const controller = new AbortController();
      const running = runWorker({
        connection: { brokers },
        group: `${job}-validators`,
        requestsTopic: topic,
        deadLetterTopic: null,
        store,
        batchSize: 50,
        validationThreads: threads,
        logger: quiet,
        metrics: new WorkerMetrics(),
        signal: controller.signal,
      });
      try {
        const done = await waitFor(
          'every record to have a result or a dead letter',
          async () => {
            const j = await store.getJob(job);
            return j && j.results + j.dlq >= TOTAL ? j : undefined;
          },
          60_000,
          100,
        );
        expect(done.dlq).toBe(produced.malformed.length);
        expect(done.results).toBe(TOTAL - produced.malformed.length);
        const flagged: number[] = [];
        for (let cursor: string | null | undefined; ; ) {
          const page = await store.searchResults({ jobId: job, ruleId: 'order-id.unique', limit: 1000, facets: false, ...(cursor ? { cursor } : {}) });
          flagged.push(...page.items.map((r) => r.recordNumber));
          cursor = page.nextCursor;
          if (cursor === null) break;
        }
        // One of each pair, whichever claimed its id second; nothing else.
        expect(flagged.length).toBe(100);
        for (let n = 1; n <= 100; n++) expect(flagged.includes(n) !== flagged.includes(n + 2000)).toBe(true);
        expect(flagged.every((n) => n <= 100 || (n > 2000 && n <= 2100))).toBe(true);
      } finally {
        controller.abort();
        await running;
        await store.close();
      }
    }, 120_000);
  }
});
