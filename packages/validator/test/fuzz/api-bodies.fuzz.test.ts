import { parseUpload, type SqliteResultStore, type UploadFormat, UploadFormatError } from '@lagscale/validator';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopic } from '../../../../test-support/kafka.js';
import { buildApi, smallRuleSet, tempStore } from '../api/helpers.js';
import { endOffsets } from '../worker/helpers.js';
import { checkAsyncProperty } from './fuzz-settings.js';

/**
 * Properties of the HTTP API's bodies, in process (fastify's inject, no network): a rule set
 * create, check or dry run with any body answers 2xx or 4xx with `{error, message}`, never 5xx;
 * a dry run gives one result per record sent; an upload (on the real test broker) accounts for
 * every record: produced to Kafka or stored in the DLQ with a reason, count in = count out.
 */

const statusCounts = new Map<number, number>();

/** A 4xx has the documented error body; a 5xx fails the property. */
function expectAnswered(response: LightMyRequestResponse, what: string): void {
  statusCounts.set(response.statusCode, (statusCounts.get(response.statusCode) ?? 0) + 1);
  expect(response.statusCode, `${what} answered ${response.statusCode}: ${response.body.slice(0, 500)}`).toBeLessThan(500);
  if (response.statusCode >= 400) {
    const body = response.json() as { error?: unknown; message?: unknown };
    expect(typeof body.error, response.body).toBe('string');
    expect(typeof body.message, response.body).toBe('string');
  }
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
];

/** A body: JSON of a value, JSON cut short, a JSON value with bytes changed, or random bytes. */
function bodyOf(values: fc.Arbitrary<unknown>): fc.Arbitrary<Buffer> {
  const text = values.map((v) => Buffer.from(JSON.stringify(v) ?? 'null', 'utf8'));
  return fc.oneof(
    { weight: 6, arbitrary: text },
    fc.tuple(text, fc.double({ min: 0, max: 1, noNaN: true })).map(([bytes, keep]) => bytes.subarray(0, Math.floor(bytes.length * keep))),
    fc.tuple(text, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([bytes, at, byte]) => {
      const copy = Buffer.from(bytes);
      if (copy.length > 0) copy[at % copy.length] = byte;
      return copy;
    }),
    fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b)),
    fc
      .constantFrom('', '{"__proto__": {}}', '{"a":'.repeat(100), '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]')
      .map((s) => Buffer.from(s)),
  );
}

const rule = fc.record(
  {
    id: fc.oneof(fc.constantFrom('a', 'b.c', 'schema'), fc.string({ maxLength: 4 })),
    severity: fc.constantFrom('error', 'warning', 'info'),
    type: fc.constantFrom('required', 'type', 'range', 'length', 'pattern', 'enum', 'reference', 'expression', 'unique', 'nope'),
    field: fc.constantFrom('/id', '/a/*', 'x', '/~2'),
    min: fc.oneof(fc.integer(), fc.string({ maxLength: 3 })),
    max: fc.integer(),
    pattern: fc.constantFrom('[a-z]+', '(a)\\1', '('),
    values: fc.array(fc.jsonValue({ maxDepth: 0 }), { maxLength: 3 }),
    expression: fc.constantFrom('id > 1', 'len(', 'a in b'),
    is: fc.constantFrom('string', 'thing'),
  },
  { requiredKeys: ['id', 'type'] },
);
const ruleSetLike = fc.oneof(
  // Valid documents, under names of any script, with or without a version.
  fc
    .tuple(fc.stringMatching(/^[\p{L}\p{N}][\p{L}\p{N}._-]{0,12}$/u), fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }))
    .map(([name, version]) => smallRuleSet(name, version)),
  fc.record(
    {
      name: fc.oneof(fc.constantFrom('people', 'fuzz-1', 'a/b', ''), fc.string({ maxLength: 5 })),
      version: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.constantFrom(1.5, '2', 1e23)),
      rules: fc.oneof(fc.array(rule, { maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })),
      schema: fc.oneof(fc.constant({ type: 'object' }), fc.constant({ $ref: '#' }), fc.jsonValue({ maxDepth: 2 })),
      references: fc.dictionary(fc.string({ maxLength: 3 }), fc.array(fc.jsonValue({ maxDepth: 0 }), { maxLength: 2 })),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 3 }),
);

describe('HTTP API bodies, property-based (in process)', () => {
  let store: SqliteResultStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    store = tempStore();
    // One rule set with a rule of every type, for dry runs.
    await store.saveRuleSet(
      'everything',
      1,
      {
        ...smallRuleSet('everything', 1),
        references: { codes: ['A', 'B'] },
        schema: { type: 'object', properties: { id: { type: ['integer', 'string'] } } },
        rules: [
          ...(smallRuleSet('everything', 1).rules as object[]),
          { id: 'code.ref', severity: 'error', type: 'reference', field: '/code', list: 'codes' },
          { id: 'tags.len', severity: 'warning', type: 'length', field: '/tags', max: 3 },
          { id: 'kind.enum', severity: 'error', type: 'enum', field: '/kind', values: ['a', 'b', null] },
          { id: 'when.date', severity: 'error', type: 'range', kind: 'date', field: '/when', min: '2024-01-01' },
          { id: 'total.expr', severity: 'error', type: 'expression', expression: 'sum(items) <= amount', when: 'amount != null' },
          { id: 'items.type', severity: 'error', type: 'type', field: '/items/*', is: 'number' },
        ],
      } as never,
      1000,
    );
    app = await buildApi({ store, limits: { maxJsonBodyBytes: 4096, maxRecordBytes: 2048, maxDepth: 16 } });
  });

  afterAll(async () => {
    await app.close();
    await store.close();
    process.stdout.write(`[fuzz] API statuses: ${JSON.stringify(Object.fromEntries([...statusCounts].sort((a, b) => a[0] - b[0])))}\n`);
  });

  it('creates or refuses any rule set body with a 2xx or a 4xx error body', async () => {
    await checkAsyncProperty(
      'POST /api/v1/rulesets bodies',
      250,
      fc.asyncProperty(bodyOf(ruleSetLike), fc.constantFrom(...CONTENT_TYPES), async (payload, contentType) => {
        const response = await app.inject({ method: 'POST', url: '/api/v1/rulesets', headers: { 'content-type': contentType }, payload });
        expectAnswered(response, 'create');
        if (response.statusCode === 201 || response.statusCode === 200) {
          const saved = response.json() as { name: string; version: number };
          const fetched = await app.inject({ method: 'GET', url: `/api/v1/rulesets/${encodeURIComponent(saved.name)}/versions/${saved.version}` });
          expect(fetched.statusCode).toBe(200);
        }
      }),
    );
  });

  it('refuses a "__proto__" key however it is spelled and wherever it is nested (400 invalid_json), on every JSON route', async () => {
    // Each character of the key written plainly or as a \\u escape of either case.
    const spelled = fc.array(fc.constantFrom('plain', 'lower', 'upper'), { minLength: 9, maxLength: 9 }).map((ways) =>
      [...'__proto__']
        .map((c, i) => {
          const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
          return ways[i] === 'plain' ? c : `\\u${ways[i] === 'upper' ? hex.toUpperCase() : hex}`;
        })
        .join(''),
    );
    const nesting = fc.array(fc.constantFrom('object', 'array'), { maxLength: 5 });
    const routes = ['/api/v1/rulesets', '/api/v1/rulesets/check', '/api/v1/rulesets/everything/dry-run'];
    await checkAsyncProperty(
      '"__proto__" keys in JSON bodies',
      200,
      fc.asyncProperty(spelled, nesting, fc.constantFrom(...routes), async (key, levels, url) => {
        let body = `{"a":1,"${key}":{"polluted":true}}`;
        for (const level of levels) body = level === 'object' ? `{"x":${body}}` : `[0,${body}]`;
        body = url.endsWith('dry-run') ? `{"records":[${body}]}` : url.endsWith('check') ? `{"document":${body}}` : body;
        const response = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: body });
        expectAnswered(response, `${url} ${body}`);
        expect(response.statusCode, body).toBe(400);
        expect(response.json(), body).toMatchObject({ error: 'invalid_json', message: expect.stringContaining('__proto__') });
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
    );
  });

  it('checks any document: 200 with valid and errors, or a 4xx for a body that is not {document}', async () => {
    await checkAsyncProperty(
      'POST /api/v1/rulesets/check bodies',
      250,
      fc.asyncProperty(
        bodyOf(
          fc.oneof(
            ruleSetLike.map((document) => ({ document })),
            fc.jsonValue({ maxDepth: 2 }),
          ),
        ),
        async (payload) => {
          const response = await app.inject({ method: 'POST', url: '/api/v1/rulesets/check', headers: { 'content-type': 'application/json' }, payload });
          expectAnswered(response, 'check');
          if (response.statusCode === 200) {
            const body = response.json() as { valid: boolean; errors?: { pointer: string; message: string }[] };
            expect(typeof body.valid).toBe('boolean');
            if (!body.valid) expect(body.errors?.length).toBeGreaterThan(0);
          }
        },
      ),
    );
  });

  it('dry-runs any records: one result per record sent, or a 4xx', async () => {
    const records = fc.array(
      fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.record(
          {
            id: fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null)),
            email: fc.constantFrom('a@b.c', 'nope', ''),
            amount: fc.oneof(fc.double(), fc.constant(null), fc.string({ maxLength: 2 })),
            code: fc.constantFrom('A', 'C', 1),
            tags: fc.array(fc.string({ maxLength: 2 }), { maxLength: 5 }),
            kind: fc.jsonValue({ maxDepth: 0 }),
            when: fc.constantFrom('2023-12-31', '2024-06-01T00:00:00Z', 'soon', 5),
            items: fc.array(fc.oneof(fc.double({ noNaN: true }), fc.string({ maxLength: 1 })), { maxLength: 4 }),
          },
          { requiredKeys: [] },
        ),
      ),
      { maxLength: 6 },
    );
    const body = fc.oneof(
      { weight: 4, arbitrary: records.map((r) => ({ records: r })) },
      fc.record({ records, version: fc.jsonValue({ maxDepth: 0 }) }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    await checkAsyncProperty(
      'POST /api/v1/rulesets/everything/dry-run bodies',
      250,
      fc.asyncProperty(bodyOf(body), fc.constantFrom('everything', 'missing'), async (payload, name) => {
        const response = await app.inject({
          method: 'POST',
          url: `/api/v1/rulesets/${name}/dry-run`,
          headers: { 'content-type': 'application/json' },
          payload,
        });
        expectAnswered(response, 'dry run');
        if (response.statusCode === 200) {
          const sent = (JSON.parse(payload.toString('utf8')) as { records: unknown[] }).records;
          const results = (response.json() as { results: { index: number; valid: boolean }[] }).results;
          expect(results.map((r) => r.index)).toEqual(sent.map((_, i) => i));
        }
      }),
    );
  });
});

describe('HTTP API uploads, property-based (real broker): every record produced or dead-lettered', () => {
  const brokers = inject('kafkaBrokers');
  const run = `fz${Date.now().toString(36)}`;
  const requestsTopic = `${run}.requests`;
  let store: SqliteResultStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    await createTopic(brokers, requestsTopic, 2);
    store = tempStore();
    await store.saveRuleSet('people', 1, smallRuleSet('people', 1) as never, Date.now());
    app = await buildApi({
      store,
      connection: { brokers },
      requestsTopic,
      deadLetterTopic: null,
      limits: { maxRecordBytes: 300, maxDepth: 8, maxUploadRecords: 50 },
      upload: { batchRecords: 7, lingerMs: 5 },
    });
  });

  afterAll(async () => {
    await app.close();
    await store.close();
  });

  /** The records the parser reads from the body, as the reference count: [read, failed] (null when the upload itself is refused). */
  async function expectedCounts(body: Buffer, format: UploadFormat): Promise<{ records: number; failed: number } | null> {
    let records = 0;
    let failed = 0;
    try {
      for await (const record of parseUpload([body], format, { maxRecordBytes: 300, maxDepth: 8, maxRecords: 50 })) {
        records++;
        if (!record.ok) failed++;
      }
    } catch (error) {
      if (error instanceof UploadFormatError) return null;
      throw error;
    }
    return { records, failed };
  }

  it('answers 2xx with the exact counts or a 4xx, and Kafka holds exactly the records produced', async () => {
    const line = fc.oneof(
      fc.record({ id: fc.integer({ min: 1, max: 99 }), email: fc.constantFrom('a@b.c', 'bad') }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, '')),
      fc.constantFrom('{"id": 1', '', '"x"', '[1,2', 'id,email', '"a,b",c', `{"big":"${'x'.repeat(400)}"}`),
    );
    const upload = fc
      .tuple(fc.constantFrom<UploadFormat>('ndjson', 'csv', 'json-array'), fc.array(line, { maxLength: 12 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
      .map(([format, lines, end, damaged]) => {
        let text = format === 'json-array' ? `[${lines.join(`,${end}`)}]` : format === 'csv' ? `id,email${end}${lines.join(end)}` : lines.join(end);
        if (damaged) text = text.slice(0, Math.floor(text.length / 2));
        return { format, body: Buffer.from(text, 'utf8') };
      });
    let jobs = 0;
    let producedTotal = 0;
    let dlqTotal = 0;
    let refused = 0;
    await checkAsyncProperty(
      'POST /api/v1/jobs uploads',
      40,
      fc.asyncProperty(upload, async ({ format, body }) => {
        const query = `ruleSet=people&jobId=${run}-${jobs}&format=${format === 'json-array' ? 'json' : format}`;
        jobs++;
        const response = await app.inject({
          method: 'POST',
          url: `/api/v1/jobs?${query}`,
          headers: { 'content-type': 'application/octet-stream' },
          payload: body,
        });
        expectAnswered(response, `upload ${query}`);
        const expected = await expectedCounts(body, format);
        if (response.statusCode >= 400) {
          refused++;
          // Only an upload the parser refuses as a whole, or one without records, is refused; records read before stay accounted below.
          expect(expected === null || expected.records === 0, response.body).toBe(true);
        } else {
          const job = response.json() as { total: number; dlq: number };
          expect(job.total).toBe(expected?.records);
          expect(job.dlq).toBe(expected?.failed);
        }
        const stored = await store.getJob(`${run}-${jobs - 1}`);
        if (stored !== undefined) {
          const dlq = await store.listDlq({ jobId: stored.id, limit: 1000 });
          for (const entry of dlq.items) expect(entry.reason.length).toBeGreaterThan(0);
          expect(dlq.items.length).toBe(stored.dlq);
          producedTotal += (stored.total ?? 0) - dlq.items.length;
          dlqTotal += dlq.items.length;
        }
      }),
    );
    // Query strings of every kind on a small body: never a 5xx, whatever the delimiter, id or version.
    // Each parameter valid most of the time, so that a wrong one is often the only one wrong.
    const mostly = <T>(valid: fc.Arbitrary<T>, wrong: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: valid }, wrong);
    const query = fc.record(
      {
        ruleSet: mostly(fc.constant('people'), fc.constantFrom('missing', 'a/b', '')),
        version: mostly(fc.constant('1'), fc.constantFrom('2', '0', 'x', '1.5')),
        format: mostly(fc.constantFrom('ndjson', 'csv', 'json'), fc.constant('xml')),
        jobId: mostly(fc.constant('ok'), fc.oneof(fc.constantFrom('-bad', 'a:b', 'x'.repeat(200)), fc.string({ maxLength: 6 }))),
        filename: mostly(fc.constantFrom('a.csv', 'b.ndjson', 'c.json'), fc.constantFrom('', 'x.xlsx')),
        delimiter: mostly(fc.constantFrom(';', '\t', ','), fc.oneof(fc.constantFrom('"', '\n', '\r', 'é', '\u0000', ',,', ''), fc.string({ maxLength: 1 }))),
        inferTypes: mostly(fc.constantFrom('true', 'false'), fc.constant('maybe')),
      },
      { requiredKeys: ['ruleSet'] },
    );
    await checkAsyncProperty(
      'POST /api/v1/jobs query strings',
      60,
      fc.asyncProperty(query, fc.constantFrom('id,email\n1,a@b.c\n', '{"id":1}\n', '[{"id":1}]'), async (params, body) => {
        const search = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
        if (params.jobId !== undefined) search.set('jobId', params.jobId === 'ok' ? `${run}-q${jobs++}` : params.jobId);
        const response = await app.inject({
          method: 'POST',
          url: `/api/v1/jobs?${search}`,
          headers: { 'content-type': 'application/octet-stream' },
          payload: body,
        });
        expectAnswered(response, `upload ?${search}`);
        if (response.statusCode < 300) {
          const job = response.json() as { id: string; total: number; dlq: number };
          const dlq = await store.listDlq({ jobId: job.id, limit: 1000 });
          producedTotal += job.total - dlq.items.length;
          dlqTotal += dlq.items.length;
        } else {
          // A refused upload may have produced records before its error: they are its job's, counted from the store.
          const stored = search.get('jobId') === null ? undefined : await store.getJob(search.get('jobId') as string);
          if (stored !== undefined && stored.total !== null) {
            const dlq = await store.listDlq({ jobId: stored.id, limit: 1000 });
            producedTotal += stored.total - dlq.items.length;
            dlqTotal += dlq.items.length;
          }
        }
      }),
    );
    // The CSV delimiter alone varied (fuzzing found '"', CR, LF and non-ASCII ones answered 500).
    await checkAsyncProperty(
      'POST /api/v1/jobs CSV delimiters',
      60,
      fc.asyncProperty(
        fc.oneof(fc.constantFrom('"', '\n', '\r', 'é', ';', '\t', '|'), fc.string({ unit: 'binary', minLength: 1, maxLength: 2 })),
        async (delimiter) => {
          const jobId = `${run}-d${jobs++}`;
          const url = `/api/v1/jobs?ruleSet=people&format=csv&jobId=${jobId}&delimiter=${encodeURIComponent(delimiter)}`;
          const response = await app.inject({
            method: 'POST',
            url,
            headers: { 'content-type': 'text/csv' },
            payload: `id${delimiter}email\n1${delimiter}a@b.c\n`,
          });
          expectAnswered(response, `upload with delimiter ${JSON.stringify(delimiter)}`);
          if (response.statusCode < 300) producedTotal += (response.json() as { total: number }).total;
          else expect(await store.getJob(jobId), 'a refused delimiter makes no job').toBeUndefined();
        },
      ),
    );
    const inKafka = (await endOffsets(brokers, requestsTopic)).reduce((sum, end) => sum + Number(end), 0);
    process.stdout.write(
      `[fuzz] uploads: ${jobs} jobs (${refused} refused), ${producedTotal} records produced, ${dlqTotal} dead-lettered; ${inKafka} messages in Kafka\n`,
    );
    expect(inKafka, 'every record read is in Kafka once (or in the DLQ instead)').toBe(producedTotal);
  });

  it('regression found by fuzzing: a CSV delimiter parseCsv cannot use is a 400, not a 500, and makes no job', async () => {
    for (const delimiter of ['"', '\n', '\r', 'é']) {
      const jobId = `${run}-regression-${delimiter.charCodeAt(0)}`;
      const response = await app.inject({
        method: 'POST',
        url: `/api/v1/jobs?ruleSet=people&format=csv&jobId=${jobId}&delimiter=${encodeURIComponent(delimiter)}`,
        headers: { 'content-type': 'text/csv' },
        payload: 'id,email\n1,a@b.c\n',
      });
      expect(response.statusCode, JSON.stringify(delimiter)).toBe(400);
      expect(response.json(), JSON.stringify(delimiter)).toMatchObject({ error: 'invalid_request', details: [{ pointer: '/delimiter', in: 'querystring' }] });
      expect(await store.getJob(jobId)).toBeUndefined();
    }
  });
});
