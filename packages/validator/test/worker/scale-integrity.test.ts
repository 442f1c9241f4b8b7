import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalProcessPool } from '@lagscale/autoscaler';
import { type ElasticsearchNode, startElasticsearchNode } from '@lagscale/elasticsearch';
import { createLogger } from '@lagscale/exporter';
import { type Job, OpenSearchResultStore, type ResultStore, SqliteResultStore, VALIDATION_TOPICS } from '@lagscale/validator';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopic, waitFor } from '../../../../test-support/kafka.js';
import { startGroupAtEnd } from './helpers.js';
import { keysOf } from './job-audit.js';
import { OrderRecords, produceOrders, requestProducer, ordersRuleSet as ruleSet } from './order-records.js';

const brokers = inject('kafkaBrokers');
const openSearchUrl = inject('openSearchUrl');
const main = fileURLToPath(new URL('../../../cli/dist/main.js', import.meta.url));

const TOTAL = 100_000;
const PARTITIONS = 8;
/** 1% malformed (truncated JSON): the DLQ must hold exactly these. */
const isMalformed = (n: number): boolean => n % 100 === 0;
/** 100 records repeat the order_id of a record 777 earlier (another batch, most likely another partition and worker). */
const duplicateOf = (n: number): number | undefined => (n % 1000 === 901 ? n - 777 : undefined);

/** How the workers and the test reach one kind of store. */
interface StoreUnderTest {
  /** `--store` of the workers. */
  readonly arg: string;
  readonly env: Record<string, string>;
  open(): Promise<ResultStore>;
  /** Makes every acknowledged write visible to counts (OpenSearch refreshes within a second). */
  settle(store: ResultStore): Promise<void>;
}

/** Started by this file for the Elasticsearch run only (the broker and OpenSearch are the shared ones). */
let elasticsearch: ElasticsearchNode | undefined;

/** A search engine store on `url` (the workers tell the engine from its root answer). */
function searchEngineStore(url: string, job: string): StoreUnderTest {
  return {
    arg: url,
    env: { OPENSEARCH_INDEX_PREFIX: job },
    open: () => OpenSearchResultStore.open({ url, indexPrefix: job }),
    settle: (store) => (store as OpenSearchResultStore).refresh(),
  };
}

const STORES: Record<string, (dir: string, job: string) => StoreUnderTest> = {
  SQLite: (dir) => {
    const file = join(dir, 'results.db');
    return { arg: file, env: {}, open: async () => SqliteResultStore.open(file), settle: async () => {} };
  },
  OpenSearch: (_dir, job) => searchEngineStore(openSearchUrl, job),
  'Elasticsearch 8.19.21': (_dir, job) => {
    if (elasticsearch === undefined) throw new Error('the Elasticsearch node did not start');
    return searchEngineStore(elasticsearch.url, job);
  },
};

/**
 * The integrity proof on a real broker: a job of 100,000 records (1% malformed, 100 with a
 * repeated order id) is validated by `lagscale worker` processes run by the autoscaler's local
 * target while the pool goes 1 → 4 → 1 and one busy worker is SIGKILLed. Afterwards the store holds
 * exactly one result per well-formed record and exactly the malformed ones in its DLQ; the results
 * and DLQ topics hold every one of them (a redelivery may publish a record twice, never lose one);
 * of each pair of repeated order ids exactly one record is flagged, and every record flagged
 * invalid was made so on purpose. Records of a job the store does not have are dead-lettered.
 */
describe.each(Object.keys(STORES))('validation workers on %s scaled 1 → 4 → 1 with a SIGKILL', (kind) => {
  if (kind.startsWith('Elasticsearch')) {
    beforeAll(async () => {
      elasticsearch = await startElasticsearchNode({ version: '8.19.21' });
    }, 240_000);
    afterAll(() => elasticsearch?.stop(), 60_000);
  }
  it('leave one result per well-formed record and exactly the malformed ones in the DLQ', async () => {
    const started = Date.now();
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-scale-integrity-'));
    const job = `scale-${Date.now().toString(36)}`;
    const storeUnderTest = (STORES[kind] as (dir: string, job: string) => StoreUnderTest)(dir, job);
    const group = `${job}-validators`;
    const topic = VALIDATION_TOPICS.requests;
    await createTopic(brokers, topic, PARTITIONS).catch(() => {});
    const setup = await storeUnderTest.open();
    await setup.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet as never, Date.now());
    await setup.createJob({ id: job, ruleSet: ruleSet.name, ruleSetVersion: ruleSet.version, total: TOTAL, createdAt: Date.now(), source: 'test' });
    await setup.close();
    await startGroupAtEnd(brokers, group, topic);

    const pool = new LocalProcessPool({
      command: [
        process.execPath,
        main,
        'worker',
        '-b',
        brokers.join(','),
        '--store',
        storeUnderTest.arg,
        '--group',
        group,
        '--batch-size',
        '500',
        '--results-topic',
        VALIDATION_TOPICS.results,
      ],
      env: storeUnderTest.env,
      logger: createLogger('scale-integrity', 'warn'),
      output: 'ignore',
      drainTimeoutSeconds: 60,
      restartDelaySeconds: 0.5,
    });
    const exits: { id: number; code: number | null; signal: NodeJS.Signals | null; expected: boolean }[] = [];
    pool.on('worker-exit', (exit) => exits.push(exit));
    const read = await storeUnderTest.open();
    const progress = async (): Promise<Job> => (await read.getJob(job)) as Job;
    const doneAtLeast = (share: number) =>
      waitFor(
        `${Math.round(share * 100)}% of the records done`,
        async () => {
          const j = await progress();
          return j.results + j.dlq >= share * TOTAL ? j : undefined;
        },
        180_000,
        100,
      );
    const timeline: string[] = [];
    const mark = async (what: string): Promise<void> => {
      const j = await progress();
      timeline.push(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what} (${j.results + j.dlq} done)`);
    };
    try {
      const records = new OrderRecords({ seed: 5, duplicateOf });
      const client = requestProducer(brokers);
      // Three records of a job the store does not have: dead letters, not a stuck worker.
      const strayJob = `${job}-unknown`;
      const produced = await produceOrders(client, { topic, jobId: strayJob, ruleSet: ruleSet.name, from: 1, to: 3, isMalformed: () => false })
        .then(() => produceOrders(client, { topic, jobId: job, ruleSet: ruleSet.name, from: 1, to: TOTAL, isMalformed, records }))
        .finally(() => client.close());
      await mark('all records produced');
      expect(produced.malformed).toHaveLength(TOTAL / 100);
      await pool.setReplicas(1);
      await mark('1 worker');

      await doneAtLeast(0.1);
      await pool.setReplicas(4);
      await mark('scaled out to 4');
      await doneAtLeast(0.35);
      // The oldest worker has consumed without a pause since the start: it is in a batch now.
      const victim = pool.workers().sort((a, b) => a.id - b.id)[0];
      expect(victim?.pid).toBeDefined();
      process.kill(victim?.pid as number, 'SIGKILL');
      await mark(`SIGKILL worker ${victim?.id}`);
      await waitFor('the pool to replace the killed worker', async () => (await pool.currentReplicas()) === 4 && exits.length === 1, 30_000, 100);
      await mark('killed worker replaced');
      await doneAtLeast(0.6);
      await pool.setReplicas(1);
      await mark('scaled in to 1');
      const final = await waitFor(
        'every record to have a result or a dead letter',
        async () => {
          const j = await progress();
          return j.results + j.dlq >= TOTAL ? j : undefined;
        },
        180_000,
        200,
      );
      await mark('all records done');
      await waitFor('the scaled-in workers to exit', async () => exits.length === 4, 60_000, 100);
      await storeUnderTest.settle(read);

      // The pool: one crash (the SIGKILL, replaced) and three drains: exit 0 after SIGTERM, or
      // ended by the SIGTERM itself when it came before the worker had started (nothing in hand).
      expect(exits.filter((e) => !e.expected).map((e) => e.signal)).toEqual(['SIGKILL']);
      const drains = exits.filter((e) => e.expected);
      expect(drains).toHaveLength(3);
      for (const drain of drains) expect(drain.code === 0 || (drain.code === null && drain.signal === 'SIGTERM'), JSON.stringify(drain)).toBe(true);

      const malformed = new Set(produced.malformed);
      const wellFormed = TOTAL - malformed.size;
      // Nothing more arrived while the scaled-in workers drained and exited.
      const again = await progress();
      expect(again.results + again.dlq).toBe(final.results + final.dlq);
      expect(final.results).toBe(wellFormed);
      expect(final.dlq).toBe(malformed.size);

      // Exactly one result per well-formed record: every record number once, none other.
      const resultNumbers: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await read.searchResults({ jobId: job, limit: 1000, facets: false, ...(cursor === undefined ? {} : { cursor }) });
        for (const item of page.items) resultNumbers.push(item.recordNumber);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(resultNumbers).toHaveLength(wellFormed);
      const missing = [];
      for (let n = 1, i = 0; n <= TOTAL; n++) {
        if (malformed.has(n)) continue;
        if (resultNumbers[i] === n) i++;
        else missing.push(n);
      }
      expect(missing).toEqual([]);

      // Exactly the malformed ones in the DLQ, each once, with the reason.
      const dlqNumbers: number[] = [];
      cursor = undefined;
      do {
        const page = await read.listDlq({ jobId: job, limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
        for (const item of page.items) {
          expect(item.code).toBe('truncated_json');
          dlqNumbers.push(item.recordNumber as number);
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(dlqNumbers.sort((a, b) => a - b)).toEqual(produced.malformed);

      const strays = await read.listDlq({ jobId: strayJob, limit: 10 });
      expect(strays.items.map((d) => [d.recordNumber, d.code]).sort()).toEqual([
        [1, 'unknown_job'],
        [2, 'unknown_job'],
        [3, 'unknown_job'],
      ]);

      // Validation held under batching, scaling and redelivery: the records flagged invalid are the
      // ones broken on purpose plus one of each pair of repeated order ids.
      const summary = await read.jobSummary(job);
      const unique = summary?.byRule.find((r) => r.ruleId === 'order-id.unique');
      expect(unique?.records).toBe(100);
      expect(summary?.invalid).toBe(produced.invalid.length + 100);
      const flagged = new Set<number>();
      cursor = undefined;
      do {
        const page = await read.searchResults({
          jobId: job,
          ruleId: 'order-id.unique',
          limit: 1000,
          facets: false,
          ...(cursor === undefined ? {} : { cursor }),
        });
        for (const item of page.items) flagged.add(item.recordNumber);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      for (let n = 901; n <= TOTAL; n += 1000) expect(Number(flagged.has(n)) + Number(flagged.has(n - 777)), `pair ${n - 777}/${n}`).toBe(1);

      // The topics: every well-formed record on validation.results, every malformed one on the DLQ topic.
      const prefix = `${job}:`;
      const published = await keysOf(brokers, VALIDATION_TOPICS.results, `${job}-results-reader`, (key) => key.startsWith(prefix));
      const deadLetters = await keysOf(brokers, VALIDATION_TOPICS.deadLetters, `${job}-dlq-reader`, (key) => key.startsWith(prefix));
      expect(published.size).toBe(wellFormed);
      expect(deadLetters.size).toBe(malformed.size);
      for (const n of malformed) expect(deadLetters.has(`${prefix}${n}`)).toBe(true);
      const publishedTwice = [...published.values()].filter((count) => count > 1).length;
      timeline.push(`results published more than once (redelivered after the SIGKILL or a rebalance): ${publishedTwice}`);
    } finally {
      process.stderr.write(`scale-integrity on ${kind} (${((Date.now() - started) / 1000).toFixed(1)} s):\n  ${timeline.join('\n  ')}\n`);
      await pool.close();
      await read.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 420_000);
});
