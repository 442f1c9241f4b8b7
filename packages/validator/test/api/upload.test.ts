import { createLogger } from '@lagscale/exporter';
import { type ResultStore, runWorker, WorkerMetrics } from '@lagscale/validator';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopic, waitFor } from '../../../../test-support/kafka.js';
import { API_STORES, buildApi, emptyStore, smallRuleSet } from './helpers.js';

describe.each(API_STORES)('on %s', (kind) => {
  /**
   * Uploads through the HTTP API on a real broker, processed by a real worker (in this process, on
   * the same SQLite store): NDJSON streamed in two parts, CSV and a JSON array; malformed records
   * end up in the DLQ with their reason, progress reaches 1, and a replayed DLQ entry with a
   * corrected value gets its result.
   */
  const brokers = inject('kafkaBrokers');
  const run = `up${kind === 'SQLite' ? 's' : 'o'}${Date.now().toString(36)}`;
  const requestsTopic = `${run}.requests`;
  const deadLetterTopic = `${run}.dlq`;

  let store: ResultStore;
  let app: FastifyInstance;
  let url: string;
  const stopWorker = new AbortController();
  let worker: Promise<unknown>;

  beforeAll(async () => {
    await createTopic(brokers, requestsTopic, 4);
    await createTopic(brokers, deadLetterTopic, 1);
    store = await emptyStore(kind);
    await store.saveRuleSet('people', 1, smallRuleSet('people', 1) as never, Date.now());
    app = await buildApi({ store, connection: { brokers }, requestsTopic, deadLetterTopic, upload: { batchRecords: 10, lingerMs: 20 } });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });

    url = address;
    const started = Date.now();
    worker = runWorker({
      connection: { brokers },
      group: `${run}-workers`,
      requestsTopic,
      resultsTopic: null,
      deadLetterTopic,
      store,
      batchSize: 50,
      logger: createLogger('upload-test-worker', 'warn'),
      metrics: new WorkerMetrics(),
      signal: stopWorker.signal,
    });
    // A warm-up job: a new broker creates its offsets topic on the first group join, which takes a
    // while. (The worker's onReady is not called for the first join: the batch consumer listens for
    // joins only after consume() returned.)
    const warmUp = await fetch(`${url}/api/v1/jobs?ruleSet=people&jobId=${run}-warm-up`, { method: 'POST', body: person(1) });
    expect(warmUp.status).toBe(201);
    await waitFor('the warm-up job', async () => (await store.getJob(`${run}-warm-up`))?.progress === 1, 170_000, 200);
    process.stderr.write(`[upload test] the worker processed its first job ${Date.now() - started} ms after it started\n`);
  });

  afterAll(async () => {
    stopWorker.abort();
    await worker;
    await app.close();
    await store.close();
  });

  interface JobBody {
    id: string;
    total: number | null;
    results: number;
    valid: number;
    invalid: number;
    dlq: number;
    progress: number | null;
    source: string;
  }

  async function jobWhenDone(id: string): Promise<JobBody> {
    return waitFor(
      `job ${id} to reach progress 1`,
      async () => {
        const job = (await (await fetch(`${url}/api/v1/jobs/${id}`)).json()) as JobBody;
        return job.progress === 1 ? job : undefined;
      },
      60_000,
      100,
    );
  }

  async function dlqOf(id: string): Promise<{ id: string; recordNumber: number; code: string; reason: string; topic: string; payloadText: string | null }[]> {
    return ((await (await fetch(`${url}/api/v1/dlq?jobId=${id}`)).json()) as { items: never[] }).items;
  }

  function person(i: number): string {
    return JSON.stringify({ id: i, email: i % 10 === 0 ? `person${i}-at-example.org` : `person${i}@example.org`, amount: i });
  }

  describe('uploads through the HTTP API', () => {
    it('streams NDJSON: records reach the worker before the body ends; malformed lines go to the DLQ; progress reaches 1', async () => {
      const jobId = `${run}-ndjson`;
      const lines = Array.from({ length: 200 }, (_, k) => {
        const i = k + 1;
        if (i === 50) return '{"id": 50, "email": "truncated@example.org"';
        if (i === 120) return '{"id": 120} trailing';
        if (i === 150) return JSON.stringify({ id: 1, email: 'again@example.org' }); // a duplicate id
        return person(i);
      });
      let release: () => void = () => {};
      const secondHalf = new Promise<void>((resolve) => {
        release = resolve;
      });
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode(`${lines.slice(0, 100).join('\n')}\n`));
          await secondHalf;
          controller.enqueue(new TextEncoder().encode(`${lines.slice(100).join('\n')}\n`));
          controller.close();
        },
      });
      const response = fetch(`${url}/api/v1/jobs?ruleSet=people&jobId=${jobId}&filename=people.ndjson`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body,
        duplex: 'half',
      } as RequestInit);
      // Half the body is in: the worker already stores results for it.
      const early = await waitFor('results before the upload ended', async () => {
        const job = await store.getJob(jobId);
        return job !== undefined && job.results >= 50 ? job : undefined;
      });
      expect(early.total).toBeNull();
      release();
      const created = await response;
      expect(created.status).toBe(201);
      const job = (await created.json()) as JobBody;
      expect(job).toMatchObject({ id: jobId, total: 200, source: 'upload:people.ndjson' });

      const done = await jobWhenDone(jobId);
      // 20 bad e-mails (every 10th, minus the 50th in the DLQ and the 120th), and the duplicate id
      expect(done).toMatchObject({ total: 200, results: 198, dlq: 2, progress: 1 });
      const badEmails = Array.from({ length: 20 }, (_, k) => (k + 1) * 10).filter((i) => i !== 50 && i !== 120 && i !== 150);
      expect(done.invalid).toBe(badEmails.length + 1);
      expect(done.valid).toBe(198 - done.invalid);

      const dlq = await dlqOf(jobId);
      expect(dlq.map((d) => [d.recordNumber, d.code]).sort()).toEqual([
        [120, 'invalid_json'],
        [50, 'truncated_json'],
      ]);
      const truncated = dlq.find((d) => d.recordNumber === 50);
      expect(truncated?.reason).toMatch(/^line 50: truncated JSON/);
      expect(truncated?.topic).toBe(`upload:${jobId}`);
      expect(truncated?.payloadText).toBe(lines[49]);

      const duplicate = (await (await fetch(`${url}/api/v1/jobs/${jobId}/results/150`)).json()) as { valid: boolean; violations: { ruleId: string }[] };
      expect(duplicate.valid).toBe(false);
      expect(duplicate.violations.map((v) => v.ruleId)).toEqual(['id.unique']);
    });

    it('reads CSV with a header (inferring types); a ragged row goes to the DLQ', async () => {
      const jobId = `${run}-csv`;
      const rows = ['id,email,amount', '1,a@example.org,10', '2,not-an-email,20', '3,c@example.org,30,extra', '4,d@example.org,5000', '5,e@example.org,50'];
      const response = await fetch(`${url}/api/v1/jobs?ruleSet=people&jobId=${jobId}&inferTypes=true`, {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: `${rows.join('\r\n')}\r\n`,
      });
      expect(response.status).toBe(201);
      expect(((await response.json()) as JobBody).total).toBe(5);
      const done = await jobWhenDone(jobId);
      expect(done).toMatchObject({ results: 4, valid: 3, invalid: 1, dlq: 1 });
      const [ragged] = await dlqOf(jobId);
      expect(ragged).toMatchObject({ recordNumber: 3, code: 'too_many_fields', payloadText: '3,c@example.org,30,extra' });
      expect(ragged?.reason).toBe('line 4: record has 4 fields, the header has 3 columns');
      // the amount over 1000 is a warning: valid, with a violation
      const warned = (await (await fetch(`${url}/api/v1/jobs/${jobId}/results?severity=warning`)).json()) as {
        items: { recordNumber: number; valid: boolean }[];
      };
      expect(warned.items).toEqual([expect.objectContaining({ recordNumber: 4, valid: true })]);
    });

    it('detects a JSON array, DLQs a malformed element, and replays it with a corrected value', async () => {
      const jobId = `${run}-array`;
      const body = `[\n${person(1)},\n{"id": 2, "email": },\n${person(3)}\n]`;
      const response = await fetch(`${url}/api/v1/jobs?ruleSet=people&jobId=${jobId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(response.status).toBe(201);
      const before = await jobWhenDone(jobId);
      expect(before).toMatchObject({ total: 3, results: 2, dlq: 1, valid: 2 });
      const [entry] = await dlqOf(jobId);
      expect(entry).toMatchObject({ recordNumber: 2, code: 'invalid_json' });

      const replay = await fetch(`${url}/api/v1/dlq/${entry?.id}/replay`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: { id: 2, email: 'fixed@example.org', amount: 7 } }),
      });
      expect(replay.status).toBe(202);
      const replayed = (await replay.json()) as { id: string; replayedAt: number };
      expect(replayed.id).toBe(entry?.id);
      const result = await waitFor('the replayed record to have a result', async () => {
        const r = await fetch(`${url}/api/v1/jobs/${jobId}/results/2`);
        return r.status === 200 ? ((await r.json()) as { valid: boolean; record: string }) : undefined;
      });
      expect(result.valid).toBe(true);
      expect(JSON.parse(result.record)).toEqual({ id: 2, email: 'fixed@example.org', amount: 7 });
      const after = await jobWhenDone(jobId);
      expect(after).toMatchObject({ total: 3, results: 3, dlq: 0, valid: 3 });
      const stored = (await (await fetch(`${url}/api/v1/dlq/${entry?.id}`)).json()) as { replayedAt: number | null };
      expect(stored.replayedAt).toBe(replayed.replayedAt);
    });

    it('refuses uploads that cannot be taken, with what to do', async () => {
      const post = (query: string, init: RequestInit = {}) => fetch(`${url}/api/v1/jobs${query}`, { method: 'POST', ...init });
      const unknown = await post('?ruleSet=nope', { body: person(1) });
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { error: string }).error).toBe('rule_set_not_found');

      const noRuleSet = await post('', { body: person(1) });
      expect(noRuleSet.status).toBe(400);
      expect(await noRuleSet.json()).toMatchObject({ error: 'invalid_request', details: [{ pointer: '/ruleSet', message: 'is required', in: 'querystring' }] });

      const form = await post('?ruleSet=people', { body: new FormData() });
      expect(form.status).toBe(415);
      expect(((await form.json()) as { message: string }).message).toContain("send the file's bytes as the body");

      const taken = await post(`?ruleSet=people&jobId=${run}-csv&filename=other.csv`, { headers: { 'content-type': 'text/csv' }, body: 'id\n1\n' });
      expect(taken.status).toBe(409);
      expect(((await taken.json()) as { error: string }).error).toBe('job_exists');

      const notArray = await post(`?ruleSet=people&format=json&jobId=${run}-not-array`, { body: person(1) });
      expect(notArray.status).toBe(400);
      expect(await notArray.json()).toMatchObject({ error: 'upload_invalid', message: expect.stringContaining('array') });
      expect(await store.getJob(`${run}-not-array`)).toBeUndefined();

      const empty = await post(`?ruleSet=people&jobId=${run}-empty`, { headers: { 'content-type': 'text/csv' } });
      expect(empty.status).toBe(400);
      expect(((await empty.json()) as { error: string }).error).toBe('upload_invalid');
    });

    it('closes the job with the records read when the client goes away mid-upload', async () => {
      const jobId = `${run}-aborted`;
      const abort = new AbortController();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`${Array.from({ length: 40 }, (_, k) => person(k + 1)).join('\n')}\n`));
          // never closed: the client gives up instead
        },
      });
      const response = fetch(`${url}/api/v1/jobs?ruleSet=people&jobId=${jobId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body,
        duplex: 'half',
        signal: abort.signal,
      } as RequestInit).catch((error: unknown) => error);
      await waitFor('the first records to be produced', async () => (await store.getJob(jobId)) !== undefined);
      abort.abort();
      expect(await response).toBeInstanceOf(Error);
      const job = await waitFor('the job to be closed', async () => {
        const j = await store.getJob(jobId);
        return j?.total !== null ? j : undefined;
      });
      expect(job?.total).toBe(40);
      expect((await jobWhenDone(jobId)).results).toBe(40);
    });

    it('answers 413 for an upload over the size limit: at once with a Content-Length, mid-stream without', async () => {
      const limited = await buildApi({
        store,
        connection: { brokers },
        requestsTopic,
        deadLetterTopic,
        limits: { maxUploadBytes: 2000 },
        upload: { batchRecords: 5 },
      });
      try {
        const lines = Array.from({ length: 100 }, (_, k) => person(k + 1)).join('\n');
        const declared = await limited.inject({
          method: 'POST',
          url: `/api/v1/jobs?ruleSet=people&jobId=${run}-big1`,
          headers: { 'content-type': 'application/x-ndjson' },
          payload: lines,
        });
        expect(declared.statusCode).toBe(413);
        expect(declared.json()).toMatchObject({ error: 'upload_too_large' });
        expect(await store.getJob(`${run}-big1`)).toBeUndefined();

        const address = await limited.listen({ host: '127.0.0.1', port: 0 });
        const chunks = Array.from({ length: Math.ceil(lines.length / 500) }, (_, i) => lines.slice(i * 500, (i + 1) * 500));
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            // apart, so that the server reads them one by one
            await new Promise((resolve) => setTimeout(resolve, 30));
            const next = chunks.shift();
            if (next === undefined) controller.close();
            else controller.enqueue(new TextEncoder().encode(next));
          },
        });
        const streamed = await fetch(`${address}/api/v1/jobs?ruleSet=people&jobId=${run}-big2`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body,
          duplex: 'half',
        } as RequestInit);
        expect(streamed.status).toBe(413);
        const refused = (await streamed.json()) as { error: string; message: string };
        expect(refused.error).toBe('upload_too_large');
        const kept = Number(/keeps the (\d+) records/.exec(refused.message)?.[1]);
        expect(kept).toBeGreaterThan(0);
        expect((await store.getJob(`${run}-big2`))?.total).toBe(kept);
        const done = await jobWhenDone(`${run}-big2`);
        expect(done.results).toBe(kept);
      } finally {
        await limited.close();
      }
    });
  });

  describe('what a hostile-input probe sent, through a real worker', () => {
    let workerSettled = false;
    beforeAll(() => {
      void worker.then(
        () => {
          workerSettled = true;
        },
        () => {
          workerSettled = true;
        },
      );
    });

    it('keeps the real size of an oversized record in its DLQ entry, marks it truncated, and refuses to replay the fragment', async () => {
      const limited = await buildApi({ store, connection: { brokers }, requestsTopic, deadLetterTopic, limits: { maxRecordBytes: 10_000 } });
      try {
        const jobId = `${run}-oversized`;
        const field = 'x'.repeat(50_000);
        const answer = await limited.inject({
          method: 'POST',
          url: `/api/v1/jobs?ruleSet=people&jobId=${jobId}`,
          headers: { 'content-type': 'text/csv' },
          payload: `id,email,amount\n1,a@b.c,1\n2,${field},2\n3,c@d.e,3\n`,
        });
        expect(answer.statusCode).toBe(201);
        const done = await jobWhenDone(jobId);
        expect(done).toMatchObject({ total: 3, results: 2, dlq: 1 });
        const [entry] = (await (await fetch(`${url}/api/v1/dlq?jobId=${jobId}`)).json()).items as {
          id: string;
          code: string;
          payloadSize: number;
          payloadTruncated: boolean;
        }[];
        expect(entry).toMatchObject({ code: 'too_large', payloadTruncated: true });
        expect(entry?.payloadSize).toBe(`2,${field},2`.length);
        const replay = await fetch(`${url}/api/v1/dlq/${entry?.id}/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expect(replay.status).toBe(409);
        expect(await replay.json()).toMatchObject({ error: 'dlq_not_replayable' });
        expect((await store.getDlq(entry?.id as string))?.replayedAt).toBeNull();
      } finally {
        await limited.close();
      }
    });

    it('answers the same complete upload again with the job (200, nothing produced) and refuses other content under its id (409)', async () => {
      const jobId = `${run}-resubmit`;
      const body = `${Array.from({ length: 30 }, (_, k) => person(k + 1)).join('\n')}\n`;
      const post = (payload: string) => fetch(`${url}/api/v1/jobs?ruleSet=people&jobId=${jobId}`, { method: 'POST', body: payload });
      expect((await post(body)).status).toBe(201);
      const done = await jobWhenDone(jobId);
      expect(done).toMatchObject({ total: 30, results: 30 });
      const again = await post(body);
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ id: jobId, total: 30, results: 30 });
      const other = await post(`${Array.from({ length: 10 }, (_, k) => person(k + 500)).join('\n')}\n`);
      expect(other.status).toBe(409);
      expect(await other.json()).toMatchObject({ error: 'job_exists', message: expect.stringContaining('with other content') });
      const empty = await fetch(`${url}/api/v1/jobs?ruleSet=people&jobId=${run}-blank`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: '\n \n',
      });
      expect(empty.status).toBe(400);
      expect(await empty.json()).toMatchObject({ error: 'upload_invalid', message: expect.stringContaining('holds no records') });
      expect(await store.getJob(`${run}-blank`)).toBeUndefined();
      // Nothing of the refused uploads reached the job.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await store.getJob(jobId)).toMatchObject({ total: 30, results: 30, dlq: 0 });
    });

    it('keeps the records read before a JSON array is cut short, however few', async () => {
      const jobId = `${run}-cut-array`;
      const answer = await fetch(`${url}/api/v1/jobs?ruleSet=people&format=json&jobId=${jobId}`, { method: 'POST', body: `[${person(1)},${person(2)}` });
      expect(answer.status).toBe(400);
      // The second record is not closed by "," or "]": only the first is known whole.
      expect(await answer.json()).toMatchObject({ error: 'upload_invalid', message: expect.stringContaining('keeps the 1 record read before it') });
      expect(await jobWhenDone(jobId)).toMatchObject({ total: 1, results: 1 });
    });

    it('stops an upload that sends nothing for the idle limit (408), keeping what it read', async () => {
      const limited = await buildApi({
        store,
        connection: { brokers },
        requestsTopic,
        deadLetterTopic,
        limits: { uploadIdleMs: 400 },
        upload: { batchRecords: 1 },
      });
      try {
        const address = await limited.listen({ host: '127.0.0.1', port: 0 });
        const jobId = `${run}-stalled`;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(`${Array.from({ length: 5 }, (_, k) => person(k + 1)).join('\n')}\n`));
            // then nothing, never closed
          },
        });
        const started = Date.now();
        const answer = await fetch(`${address}/api/v1/jobs?ruleSet=people&jobId=${jobId}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body,
          duplex: 'half',
        } as RequestInit);
        expect(answer.status).toBe(408);
        expect(await answer.json()).toMatchObject({ error: 'upload_timeout', message: expect.stringContaining('keeps the 5 records') });
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(await jobWhenDone(jobId)).toMatchObject({ total: 5, results: 5 });
      } finally {
        await limited.close();
      }
    });

    it('sends the records of a rule set that cannot be compiled to the DLQ, and the worker lives on to finish other jobs', async () => {
      // A document saved before the recursion check existed (written to the store directly).
      await store.saveRuleSet('poisoned', 1, { ...smallRuleSet('poisoned', 1), schema: { $ref: '#' } } as never, Date.now());
      const poisoned = `${run}-poisoned`;
      const body = `${Array.from({ length: 25 }, (_, k) => person(k + 1)).join('\n')}\n`;
      expect((await fetch(`${url}/api/v1/jobs?ruleSet=poisoned&jobId=${poisoned}`, { method: 'POST', body })).status).toBe(201);
      const healthy = `${run}-after-poison`;
      expect((await fetch(`${url}/api/v1/jobs?ruleSet=people&jobId=${healthy}`, { method: 'POST', body })).status).toBe(201);
      expect(await jobWhenDone(poisoned)).toMatchObject({ total: 25, results: 0, dlq: 25 });
      expect(await jobWhenDone(healthy)).toMatchObject({ total: 25, results: 25, dlq: 0 });
      const letters = await dlqOf(poisoned);
      expect(new Set(letters.map((letter) => letter.code))).toEqual(new Set(['rule_set_invalid']));
      expect(letters[0]?.reason).toContain('rule set poisoned@1 cannot be used');
      expect(workerSettled).toBe(false);
    });
  });
});
