import { createLogger } from '@lagscale/exporter';
import { PRODUCER_RETRIES } from '@lagscale/kafka';
import { encodeRequest, type ResultStore, runWorker, WorkerMetrics } from '@lagscale/validator';
import { Producer } from '@platformatic/kafka';
import fc from 'fast-check';
import { describe, expect, inject, it } from 'vitest';
import { createTopic, waitFor } from '../../../../test-support/kafka.js';
import { smallRuleSet, tempStore } from '../api/helpers.js';
import { FUZZ_SEED, fuzzParameters } from './fuzz-settings.js';

/**
 * A worker on the real test broker fed generated messages: well-formed requests, records that do
 * not decode (bytes, truncation, depth, size), headers and keys changed, dropped or repeated, jobs
 * and rule sets that do not exist. The worker never stops, and every message is accounted for:
 * one result or one DLQ entry with a code and a reason each, count in = count out.
 */

const brokers = inject('kafkaBrokers');

describe('validation worker on generated messages (real broker)', () => {
  it('turns every message into exactly one result or one DLQ entry with a reason, and keeps running', { timeout: 180_000 }, async () => {
    const run = `fw${Date.now().toString(36)}`;
    const requestsTopic = `${run}.requests`;
    await createTopic(brokers, requestsTopic, 3);
    const store: ResultStore = tempStore();
    const jobs = [`${run}-a`, `${run}-b`];
    await store.saveRuleSet(
      'people',
      1,
      {
        ...smallRuleSet('people', 1),
        rules: [
          ...(smallRuleSet('people', 1).rules as object[]),
          { id: 'total.expr', severity: 'error', type: 'expression', expression: 'sum(items) <= amount', when: 'amount != null' },
          { id: 'tags.each', severity: 'warning', type: 'length', field: '/tags/*', max: 3 },
        ],
      } as never,
      Date.now(),
    );
    for (const id of jobs) await store.createJob({ id, ruleSet: 'people', ruleSetVersion: 1, total: null, createdAt: Date.now(), source: 'fuzz' });

    const value = fc.oneof(
      {
        weight: 6,
        arbitrary: fc
          .record(
            {
              id: fc.oneof(fc.integer(), fc.string({ maxLength: 3 })),
              email: fc.constantFrom('a@b.c', 'no'),
              amount: fc.oneof(fc.double(), fc.constant(null)),
              items: fc.array(fc.double({ noNaN: true }), { maxLength: 3 }),
              tags: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
            },
            { requiredKeys: [] },
          )
          .map((v) => JSON.stringify(v)),
      },
      { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
      fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)),
      fc.constantFrom(
        '',
        '{"id": 1',
        '{"__proto__": {"x": 1}}',
        `${'['.repeat(100)}${']'.repeat(100)}`,
        `"${'x'.repeat(3000)}"`,
        '{"id":1,"email":"a@b.c","amount":"x","items":[1]}',
      ),
    );
    const change = fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      fc.tuple(
        fc.constantFrom('drop', 'repeat', 'replace', 'key', 'no-key', 'no-value'),
        fc.nat(),
        fc.constantFrom('', 'x', '0', '01', 'json', 'xml', 'ghost', '\u00ff'),
      ),
    );
    const message = fc.record({
      job: fc.constantFrom(0, 0, 1, 2),
      ruleSet: fc.oneof({ weight: 7, arbitrary: fc.constant('people') }, fc.constant('missing-rules')),
      version: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(undefined, 1) }, fc.constant(9)),
      value,
      change,
    });
    const generated = fc.sample(fc.array(message, { minLength: 200, maxLength: 200 }), { ...fuzzParameters(1), numRuns: 1 })[0] ?? [];

    const messages = generated.map((m, index) => {
      const jobId = m.job === 2 ? `${run}-ghost` : (jobs[m.job] as string);
      const encoded = encodeRequest({ jobId, recordNumber: index + 1, ruleSet: m.ruleSet, ruleSetVersion: m.version, value: m.value });
      const headers: [string, Buffer][] = Object.entries(encoded.headers);
      let key: Buffer | undefined = encoded.key;
      let bytes: Buffer | undefined = encoded.value;
      if (m.change !== undefined) {
        const [what, at, replacement] = m.change;
        const i = at % headers.length;
        const [name] = headers[i] as [string, Buffer];
        if (what === 'drop') headers.splice(i, 1);
        else if (what === 'repeat') headers.push([name, Buffer.from(replacement)]);
        else if (what === 'replace') headers[i] = [name, Buffer.from(replacement)];
        else if (what === 'key') key = Buffer.from(replacement);
        else if (what === 'no-key') key = undefined;
        else bytes = undefined;
      }
      return { topic: requestsTopic, key, value: bytes, headers: new Map(headers.map(([k, v]) => [Buffer.from(k), v])) };
    });
    // Bytes throughout (no serializers): values may be absent (tombstones) and headers repeat.
    const client = new Producer({ clientId: `${run}-producer`, bootstrapBrokers: [...brokers], idempotent: true, acks: -1, ...PRODUCER_RETRIES });
    try {
      for (let i = 0; i < messages.length; i += 50) {
        await client
          .send({ messages: messages.slice(i, i + 50).map((m) => ({ ...m, value: m.value ?? (null as unknown as Buffer) })) })
          .catch((error: Error & { errors?: Error[] }) => {
            throw new Error(`${error.message}: ${(error.errors ?? []).map((e) => e.message).join('; ')}`);
          });
      }
    } finally {
      await client.close();
    }

    const stop = new AbortController();
    const worker = runWorker({
      connection: { brokers },
      group: `${run}-workers`,
      requestsTopic,
      resultsTopic: null,
      deadLetterTopic: null,
      store,
      batchSize: 40,
      maxRecordBytes: 2048,
      maxDepth: 16,
      logger: createLogger('fuzz-worker', 'error'),
      metrics: new WorkerMetrics(),
      signal: stop.signal,
    });
    let workerFailed: unknown;
    worker.catch((error: unknown) => {
      workerFailed = error;
    });
    const dlqEntries = async () => {
      const all: { code: string; reason: string }[] = [];
      let cursor: string | null = null;
      do {
        const page = await store.listDlq({ limit: 1000, ...(cursor === null ? {} : { cursor }) });
        all.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== null);
      return all;
    };
    const results = async () => {
      let total = 0;
      for (const id of jobs) total += (await store.getJob(id))?.results ?? 0;
      return total;
    };
    try {
      await waitFor(
        'every message to have a result or a DLQ entry',
        async () => workerFailed !== undefined || (await results()) + (await dlqEntries()).length >= messages.length || undefined,
        150_000,
        500,
      );
      expect(workerFailed).toBeUndefined();
      const dlq = await dlqEntries();
      const resultCount = await results();
      const codes = new Map<string, number>();
      for (const entry of dlq) {
        codes.set(entry.code, (codes.get(entry.code) ?? 0) + 1);
        expect(entry.reason.length, entry.code).toBeGreaterThan(0);
      }
      process.stdout.write(
        `[fuzz] worker: ${messages.length} messages (seed ${FUZZ_SEED}): ${resultCount} results, ${dlq.length} DLQ entries (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}); lost ${messages.length - resultCount - dlq.length}\n`,
      );
      expect(resultCount + dlq.length, 'count in = count out').toBe(messages.length);
      expect(codes.size).toBeGreaterThanOrEqual(5);
    } finally {
      stop.abort();
      await worker.catch(() => undefined);
      await store.close();
    }
  });
});
