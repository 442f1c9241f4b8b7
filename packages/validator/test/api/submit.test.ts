import {
  createRequestProducer,
  decodeDeadLetter,
  decodeRequest,
  type RequestProducer,
  type ResultStore,
  SubmitJobError,
  type SubmitProgress,
  submitJob,
  UploadFormatError,
} from '@lagscale/validator';
import { Consumer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopic } from '../../../../test-support/kafka.js';
import { API_STORES, emptyStore, smallRuleSet } from './helpers.js';

describe.each(API_STORES)('on %s', (kind) => {
  /**
   * submitJob on a real broker: what lands on the topics (read back), what the store holds, and
   * what becomes of records and uploads that cannot be read.
   */
  const brokers = inject('kafkaBrokers');
  const run = `sub${kind === 'SQLite' ? 's' : 'o'}${Date.now().toString(36)}`;
  const requestsTopic = `${run}.requests`;
  const deadLetterTopic = `${run}.dlq`;

  let store: ResultStore;
  let producer: RequestProducer & { close(): Promise<void> };

  beforeAll(async () => {
    await createTopic(brokers, requestsTopic, 3);
    await createTopic(brokers, deadLetterTopic, 1);
    store = await emptyStore(kind);
    await store.saveRuleSet('people', 1, smallRuleSet('people', 1) as never, 1);
    await store.saveRuleSet('people', 2, smallRuleSet('people', 2) as never, 2);
    producer = createRequestProducer({ brokers });
  });

  afterAll(async () => {
    await producer.close();
    await store.close();
  });

  interface ReadMessage {
    key: string;
    value: Buffer;
    headers: Map<Buffer, Buffer>;
  }

  /** Every message of a topic from the start, until `count` were read. */
  async function readTopic(topic: string, count: number, timeoutMs = 30_000): Promise<ReadMessage[]> {
    const consumer = new Consumer({
      clientId: `${run}-reader`,
      groupId: `${run}-reader-${topic}-${Date.now()}`,
      bootstrapBrokers: [...brokers],
      maxWaitTime: 200,
    });
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    const messages: ReadMessage[] = [];
    const timer = setTimeout(() => void stream.close(), timeoutMs);
    try {
      for await (const message of stream) {
        messages.push({ key: message.key?.toString() ?? '', value: message.value as Buffer, headers: message.headers as Map<Buffer, Buffer> });
        if (messages.length >= count) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close().catch(() => {});
      await consumer.close(true);
    }
    return messages;
  }

  function header(message: ReadMessage, name: string): string | undefined {
    for (const [key, value] of message.headers) if (key.toString() === name) return value.toString();
    return undefined;
  }

  async function* lines(count: number, line: (i: number) => string, chunkLines = 250): AsyncGenerator<Buffer> {
    for (let from = 1; from <= count; from += chunkLines) {
      const part: string[] = [];
      for (let i = from; i < from + chunkLines && i <= count; i++) part.push(line(i));
      yield Buffer.from(`${part.join('\n')}\n`);
    }
  }

  describe('submitJob', () => {
    it('produces one request per record keyed (job, record number) with the rule set version; failed records go to the DLQ with the reason', async () => {
      const jobId = `${run}-a`;
      const progress: SubmitProgress[] = [];
      const line = (i: number) => (i % 100 === 0 ? `{"id": ${i}, ` : JSON.stringify({ id: i, email: `p${i}@example.org` }));
      const submitted = await submitJob(lines(1000, line), {
        store,
        producer,
        jobId,
        ruleSet: 'people',
        ruleSetVersion: 1,
        source: 'upload:people.ndjson',
        requestsTopic,
        deadLetterTopic,
        batchRecords: 64,
        onProgress: (p) => progress.push(p),
      });
      expect(submitted).toMatchObject({ format: 'ndjson', records: 1000, produced: 990, failed: 10 });
      expect(submitted.job).toMatchObject({ id: jobId, ruleSet: 'people', ruleSetVersion: 1, total: 1000, dlq: 10, source: 'upload:people.ndjson' });
      // progress grows and ends with everything read and acknowledged
      expect(progress.length).toBeGreaterThan(10);
      for (let i = 1; i < progress.length; i++)
        expect((progress[i] as SubmitProgress).recordsProduced).toBeGreaterThanOrEqual((progress[i - 1] as SubmitProgress).recordsProduced);
      expect(progress.at(-1)).toEqual({ bytesRead: submitted.bytes, recordsRead: 1000, recordsProduced: 990, recordsFailed: 10 });

      const requests = await readTopic(requestsTopic, 990);
      expect(requests).toHaveLength(990);
      const numbers = requests.map((m) => {
        const request = decodeRequest({ key: m.key, value: m.value, headers: m.headers });
        if (!request.ok) throw new Error(request.reason);
        expect(request).toMatchObject({ jobId, ruleSet: 'people', ruleSetVersion: 1 });
        expect(m.key).toBe(`${jobId}:${request.recordNumber}`);
        expect(JSON.parse(request.value.toString())).toEqual({ id: request.recordNumber, email: `p${request.recordNumber}@example.org` });
        return request.recordNumber;
      });
      expect(new Set(numbers).size).toBe(990);
      expect(numbers.filter((n) => n % 100 === 0)).toEqual([]);

      const dlq = await store.listDlq({ jobId, limit: 100 });
      expect(dlq.items.map((d) => d.recordNumber).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
      const first = dlq.items.find((d) => d.recordNumber === 100);
      expect(first).toMatchObject({ code: 'truncated_json', topic: `upload:${jobId}`, partition: 0, offset: 100 });
      expect(first?.reason).toMatch(/^line 100: truncated JSON: input ends with 1 unclosed bracket/);
      expect(Buffer.from(first?.payload ?? []).toString()).toBe('{"id": 100, ');

      const letters = await readTopic(deadLetterTopic, 10);
      const decoded = letters.map((m) => decodeDeadLetter(m.value));
      expect(decoded.map((d) => d.recordNumber).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
      expect(decoded[0]).toMatchObject({ code: 'truncated_json', jobId, original: { topic: `upload:${jobId}`, partition: 0 } });
      expect(header(letters[0] as ReadMessage, 'lagscale-dlq-code')).toBe('truncated_json');

      // the same upload again under the same id: the same job, no second dead letter in the store
      const again = await submitJob(lines(1000, line), {
        store,
        producer,
        jobId,
        ruleSet: 'people',
        ruleSetVersion: 1,
        source: 'upload:people.ndjson',
        requestsTopic,
        deadLetterTopic: null,
      });
      expect(again.job).toMatchObject({ total: 1000, dlq: 10 });
      // nothing was produced again: the job's complete upload is recognised by its digest
      expect(again).toMatchObject({ resubmitted: true, produced: 0 });
      expect(again.job.uploadSha256).toMatch(/^[0-9a-f]{64}$/);

      // other content under the same id would mix two uploads' results: refused, the job unchanged
      let refused: unknown;
      try {
        await submitJob(lines(10, line), { store, producer, jobId, ruleSet: 'people', ruleSetVersion: 1, source: 'upload:people.ndjson', requestsTopic });
      } catch (error) {
        refused = error;
      }
      expect(refused).toMatchObject({ code: 'JOB_EXISTS' });
      expect((refused as Error).message).toContain('already holds a complete upload of 1000 records with other content');
      expect(await store.getJob(jobId)).toMatchObject({ total: 1000, uploadSha256: again.job.uploadSha256 });
    });

    it('uses the latest version when none is asked, and refuses an unknown rule set or a job id taken by another definition', async () => {
      const latest = await submitJob([`${JSON.stringify({ id: 1 })}\n`], {
        store,
        producer,
        jobId: `${run}-latest`,
        ruleSet: 'people',
        source: 'test',
        requestsTopic,
      });
      expect(latest.job.ruleSetVersion).toBe(2);
      await expect(submitJob(['{}'], { store, producer, jobId: `${run}-x`, ruleSet: 'nope', source: 'test', requestsTopic })).rejects.toMatchObject({
        code: 'RULE_SET_NOT_FOUND',
      });
      await expect(
        submitJob(['{}'], { store, producer, jobId: `${run}-latest`, ruleSet: 'people', ruleSetVersion: 1, source: 'test', requestsTopic }),
      ).rejects.toMatchObject({
        code: 'JOB_EXISTS',
      });
      await expect(submitJob(['{}'], { store, producer, jobId: 'bad:id', ruleSet: 'people', source: 'test', requestsTopic })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('closes the job with the records read when the upload turns out malformed midway', async () => {
      const jobId = `${run}-broken-array`;
      const upload = ['[', ...Array.from({ length: 30 }, (_, i) => `${JSON.stringify({ id: i + 1, email: 'a@b.c' })},`), '{"id": 31}] trailing'];
      const error = await submitJob(upload, { store, producer, jobId, ruleSet: 'people', source: 'test', requestsTopic, batchRecords: 8 }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SubmitJobError);
      const failure = error as SubmitJobError;
      expect(failure.cause).toBeInstanceOf(UploadFormatError);
      expect((failure.cause as UploadFormatError).code).toBe('content_after_array');
      expect(failure.recordsKept).toBe(31);
      expect(failure.message).toContain(`(job "${jobId}" keeps the 31 records read before it)`);
      expect((await store.getJob(jobId))?.total).toBe(31);
    });

    it('leaves no job behind for an upload refused at its first byte', async () => {
      const jobId = `${run}-not-an-array`;
      const error = await submitJob(['{"id": 1}'], { store, producer, jobId, ruleSet: 'people', source: 'test', format: 'json-array', requestsTopic }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SubmitJobError);
      expect((error as SubmitJobError).recordsKept).toBeNull();
      expect(await store.getJob(jobId)).toBeUndefined();
    });

    it('dead-letters a CSV row whose JSON outgrows the record limit, and detects CSV after blank lines', async () => {
      const jobId = `${run}-csv`;
      const columns = Array.from({ length: 40 }, (_, i) => `a_fairly_long_column_name_${i}`);
      const row = (v: string) => columns.map(() => v).join(',');
      const upload = `\n\n${columns.join(',')}\n${row('1')}\n${row('x'.repeat(30))}\n`;
      const submitted = await submitJob([upload], {
        store,
        producer,
        jobId,
        ruleSet: 'people',
        source: 'test',
        requestsTopic,
        deadLetterTopic,
        limits: { maxRecordBytes: 2000 },
      });
      expect(submitted).toMatchObject({ format: 'csv', records: 2, produced: 1, failed: 1 });
      const [entry] = (await store.listDlq({ jobId, limit: 10 })).items;
      expect(entry?.code).toBe('too_large');
      expect(entry?.reason).toMatch(/^line 5: record is \d+ bytes as JSON, over the limit of 2000$/);
    });

    it('reads a large upload only as fast as Kafka acknowledges it (bounded memory)', async () => {
      const jobId = `${run}-large`;
      const count = 100_000;
      const chunkLines = 500;
      const line = (i: number) => JSON.stringify({ id: i, email: `person${i}@example.org`, amount: i % 1000, note: 'x'.repeat(100) });
      let linesRead = 0;
      let mostAhead = 0;
      async function* source(): AsyncGenerator<Buffer> {
        for await (const chunk of lines(count, line, chunkLines)) {
          linesRead = Math.min(count, linesRead + chunkLines);
          yield chunk;
        }
      }
      const heapBefore = process.memoryUsage().heapUsed;
      let heapPeak = heapBefore;
      const started = performance.now();
      const submitted = await submitJob(source(), {
        store,
        producer,
        jobId,
        ruleSet: 'people',
        source: 'test',
        requestsTopic,
        deadLetterTopic: null,
        onProgress: (p) => {
          mostAhead = Math.max(mostAhead, linesRead - p.recordsProduced);
          heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
        },
      });
      const seconds = (performance.now() - started) / 1000;
      expect(submitted).toMatchObject({ records: count, produced: count, failed: 0 });
      const mib = submitted.bytes / 1024 / 1024;
      process.stderr.write(
        `[submit] ${count} records, ${mib.toFixed(1)} MiB in ${seconds.toFixed(2)} s: ${Math.round(count / seconds)} records/s, ${(mib / seconds).toFixed(1)} MiB/s; ` +
          `at most ${mostAhead} records read ahead of Kafka; heap grew at most ${((heapPeak - heapBefore) / 1024 / 1024).toFixed(1)} MiB\n`,
      );
      // Never more read than the batches in flight (4 of 500) and the chunk being parsed.
      expect(mostAhead).toBeLessThanOrEqual(4 * 500 + 2 * chunkLines);
    }, 120_000);
  });
});
