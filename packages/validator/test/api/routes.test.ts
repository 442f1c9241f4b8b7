import type { ResultStore } from '@lagscale/validator';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_STORES, buildApi, emptyStore, ordersRuleSet, smallRuleSet } from './helpers.js';

describe.each(API_STORES)('on %s', (kind) => {
  /**
   * Every validator route through fastify's inject, on a SQLite store in a temp dir: the shapes of
   * docs/http-api.md, and the 4xx bodies that say what was wrong. Uploads and replays, which need
   * Kafka and a worker, are in upload.test.ts.
   */
  let store: ResultStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    store = await emptyStore(kind);
    app = await buildApi({ store, limits: { maxJsonBodyBytes: 64 * 1024, maxDepth: 16, maxRecordBytes: 2000 } });
  });

  afterAll(async () => {
    await app.close();
    await store.close();
  });

  function expectErrorBody(body: unknown, error: string): { error: string; message: string; details?: { pointer: string; message: string; in?: string }[] } {
    const parsed = body as { error: string; message: string };
    expect(parsed.error).toBe(error);
    expect(typeof parsed.message).toBe('string');
    expect(parsed.message.length).toBeGreaterThan(10);
    return parsed;
  }

  describe('rule sets', () => {
    it('creates version 1, assigns the next version, answers 200 for the same version again and 409 for a changed one', async () => {
      const first = await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: smallRuleSet('customers') });
      expect(first.statusCode).toBe(201);
      expect(first.json()).toMatchObject({ name: 'customers', version: 1, document: { name: 'customers', version: 1 } });
      expect(typeof first.json().createdAt).toBe('number');

      const second = await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: smallRuleSet('customers') });
      expect(second.statusCode).toBe(201);
      expect(second.json().version).toBe(2);

      const again = await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: smallRuleSet('customers', 2) });
      expect(again.statusCode).toBe(200);
      expect(again.json().version).toBe(2);

      const changed = await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: { ...smallRuleSet('customers', 2), description: 'changed' } });
      expect(changed.statusCode).toBe(409);
      expect(expectErrorBody(changed.json(), 'rule_set_version_exists').message).toContain('save the change as version 3');
    });

    it('lists rule sets with their versions, gets the latest and one version, 404 for unknown ones', async () => {
      const list = await app.inject({ method: 'GET', url: '/api/v1/rulesets' });
      expect(list.statusCode).toBe(200);
      const customers = (list.json().items as { name: string }[]).find((item) => item.name === 'customers');
      expect(customers).toMatchObject({ name: 'customers', latestVersion: 2, versions: [1, 2] });

      const latest = await app.inject({ method: 'GET', url: '/api/v1/rulesets/customers' });
      expect(latest.json()).toMatchObject({ name: 'customers', version: 2 });
      const v1 = await app.inject({ method: 'GET', url: '/api/v1/rulesets/customers/versions/1' });
      expect(v1.json()).toMatchObject({ name: 'customers', version: 1 });

      const unknown = await app.inject({ method: 'GET', url: '/api/v1/rulesets/nope' });
      expect(unknown.statusCode).toBe(404);
      expect(expectErrorBody(unknown.json(), 'rule_set_not_found').message).toContain('"nope"');
      const unknownVersion = await app.inject({ method: 'GET', url: '/api/v1/rulesets/customers/versions/9' });
      expect(unknownVersion.statusCode).toBe(404);
      expect(unknownVersion.json().message).toContain('version 9');
      const badVersion = await app.inject({ method: 'GET', url: '/api/v1/rulesets/customers/versions/zero' });
      expect(badVersion.statusCode).toBe(400);
      expect(expectErrorBody(badVersion.json(), 'invalid_request').details).toEqual([{ pointer: '/version', message: 'must be integer', in: 'params' }]);
    });

    it('refuses a bad rule set with 422 and one JSON pointer per mistake', async () => {
      const bad = {
        name: 'broken',
        version: 1,
        rules: [
          { id: 'a', severity: 'error', type: 'required', field: '/a' },
          { id: 'a', severity: 'error', type: 'pattern', field: '/b', pattern: '(x)\\1' },
          { id: 'c', severity: 'fatal', type: 'required', field: '/c' },
          { id: 'd', severity: 'error', type: 'expression', expression: 'total > ' },
        ],
      };
      const response = await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: bad });
      expect(response.statusCode).toBe(422);
      const body = expectErrorBody(response.json(), 'rule_set_invalid');
      expect(body.details?.map((d) => d.pointer)).toEqual(['/rules/1/id', '/rules/1/pattern', '/rules/2/severity', '/rules/3/expression']);
      expect(body.details?.[0]?.message).toContain('duplicate rule id "a"');
      expect(body.details?.[2]?.message).toBe('must be one of "error", "warning"');
      // nothing was saved
      expect((await app.inject({ method: 'GET', url: '/api/v1/rulesets/broken' })).statusCode).toBe(404);
    });

    it('checks a document without saving it', async () => {
      const ok = await app.inject({ method: 'POST', url: '/api/v1/rulesets/check', payload: { document: smallRuleSet('draft') } });
      expect(ok.json()).toEqual({ valid: true });
      const bad = await app.inject({
        method: 'POST',
        url: '/api/v1/rulesets/check',
        payload: { document: { name: 'draft', rules: [{ id: 'x', severity: 'error', type: 'range', field: '/n', min: 5, max: 1 }] } },
      });
      expect(bad.statusCode).toBe(200);
      expect(bad.json().valid).toBe(false);
      expect(bad.json().errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/rules/0/min']);
      expect((await app.inject({ method: 'GET', url: '/api/v1/rulesets/draft' })).statusCode).toBe(404);
    });

    it('dry-runs records: violations per record, uniqueness within the request, the version asked for', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/rulesets/customers/dry-run',
        payload: { records: [{ id: 1, email: 'a@b.c', amount: 5 }, { id: 1, email: 'nope', amount: 5000 }, { email: 'x@y.z' }] },
      });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.name).toBe('customers');
      expect(body.version).toBe(2);
      expect(body.results).toEqual([
        { index: 0, valid: true, violations: [] },
        {
          index: 1,
          valid: false,
          violations: [
            { ruleId: 'email.format', severity: 'error', path: '/email', message: 'is not an e-mail address' },
            { ruleId: 'amount.range', severity: 'warning', path: '/amount', message: expect.any(String) },
            { ruleId: 'id.unique', severity: 'error', path: '/id', message: expect.any(String) },
          ],
        },
        { index: 2, valid: false, violations: [{ ruleId: 'id.required', severity: 'error', path: '/id', message: expect.any(String) }] },
      ]);
      const v1 = await app.inject({ method: 'POST', url: '/api/v1/rulesets/customers/dry-run', payload: { records: [{ id: 2 }], version: 1 } });
      expect(v1.json().version).toBe(1);
    });

    it('refuses dry runs with no records, too many, an oversized record, or an unknown rule set', async () => {
      const none = await app.inject({ method: 'POST', url: '/api/v1/rulesets/customers/dry-run', payload: { records: [] } });
      expect(none.statusCode).toBe(400);
      expect(expectErrorBody(none.json(), 'invalid_request').details).toEqual([
        { pointer: '/records', message: 'must NOT have fewer than 1 items', in: 'body' },
      ]);
      const many = await app.inject({
        method: 'POST',
        url: '/api/v1/rulesets/customers/dry-run',
        payload: { records: Array.from({ length: 101 }, (_, i) => ({ id: i })) },
      });
      expect(many.statusCode).toBe(400);
      const big = await app.inject({
        method: 'POST',
        url: '/api/v1/rulesets/customers/dry-run',
        payload: { records: [{ id: 1 }, { id: 2, text: 'x'.repeat(3000) }] },
      });
      expect(big.statusCode).toBe(413);
      expect(expectErrorBody(big.json(), 'record_too_large').details?.[0]?.pointer).toBe('/records/1');
      const extra = await app.inject({ method: 'POST', url: '/api/v1/rulesets/customers/dry-run', payload: { records: [{}], verison: 2 } });
      expect(extra.statusCode).toBe(400);
      expect(extra.json().details).toEqual([{ pointer: '/verison', message: 'is not allowed here', in: 'body' }]);
      const unknown = await app.inject({ method: 'POST', url: '/api/v1/rulesets/nope/dry-run', payload: { records: [{}] } });
      expect(unknown.statusCode).toBe(404);
    });
  });

  describe('request limits', () => {
    it('answers 413 for a JSON body over the limit', async () => {
      const response = await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: { ...smallRuleSet('huge'), description: 'x'.repeat(70 * 1024) } });
      expect(response.statusCode).toBe(413);
      expect(expectErrorBody(response.json(), 'body_too_large').message).toContain(`limit of ${64 * 1024} bytes`);
    });

    it('answers 400 json_too_deep for a body nested beyond the limit, naming the byte', async () => {
      const deep = `{"records":[${'['.repeat(20)}1${']'.repeat(20)}]}`;
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/rulesets/customers/dry-run',
        headers: { 'content-type': 'application/json' },
        payload: deep,
      });
      expect(response.statusCode).toBe(400);
      expect(expectErrorBody(response.json(), 'json_too_deep').message).toBe(
        'the JSON body has nesting deeper than 16 levels at byte 26: flatten it to at most 16 levels',
      );
    });

    it('answers 400 invalid_json with the byte where the JSON breaks, and refuses __proto__ keys', async () => {
      const broken = await app.inject({ method: 'POST', url: '/api/v1/rulesets', headers: { 'content-type': 'application/json' }, payload: '{"name": "x",}' });
      expect(broken.statusCode).toBe(400);
      expect(expectErrorBody(broken.json(), 'invalid_json').message).toMatch(/^the body is not valid JSON: invalid JSON at byte 13/);
      const proto = await app.inject({
        method: 'POST',
        url: '/api/v1/rulesets/check',
        headers: { 'content-type': 'application/json' },
        payload: '{"document": {"__proto__": {"polluted": true}}}',
      });
      expect(proto.statusCode).toBe(400);
      expect(proto.json().message).toContain('"__proto__"');
    });

    it('answers 415 for a body that is not JSON on a JSON route', async () => {
      const response = await app.inject({ method: 'POST', url: '/api/v1/rulesets', headers: { 'content-type': 'text/plain' }, payload: 'name: x' });
      expect(response.statusCode).toBe(415);
      expectErrorBody(response.json(), 'unsupported_media_type');
    });
  });

  describe('jobs, results and the DLQ (read routes)', () => {
    const jobId = 'read-routes-1';

    beforeAll(async () => {
      await store.saveRuleSet(ordersRuleSet.name, ordersRuleSet.version, ordersRuleSet as never, 1000);
      await store.createJob({
        id: jobId,
        ruleSet: ordersRuleSet.name,
        ruleSetVersion: ordersRuleSet.version,
        total: 5,
        createdAt: 2000,
        source: 'upload:orders.ndjson',
      });
      await store.createJob({
        id: 'read-routes-0',
        ruleSet: ordersRuleSet.name,
        ruleSetVersion: ordersRuleSet.version,
        total: null,
        createdAt: 1500,
        source: 'test',
      });
      await store.upsertResults([
        { jobId, recordNumber: 1, valid: true, violations: [], record: '{"order_id":"o-1"}' },
        {
          jobId,
          recordNumber: 2,
          valid: false,
          violations: [
            { ruleId: 'currency.known', severity: 'error', path: '/currency', message: 'is not in the reference list "currencies"' },
            { ruleId: 'items.sku', severity: 'warning', path: '/items/0/sku', message: 'does not match the SKU pattern' },
          ],
          record: '{"order_id":"o-2"}',
        },
        {
          jobId,
          recordNumber: 3,
          valid: true,
          violations: [{ ruleId: 'items.sku', severity: 'warning', path: '/items/1/sku', message: 'does not match the SKU pattern' }],
        },
        { jobId, recordNumber: 4, valid: false, violations: [{ ruleId: 'total.sum', severity: 'error', path: '/total', message: 'Total must equal the sum' }] },
      ]);
      await store.addDlq({
        id: 'dlq-1',
        jobId,
        recordNumber: 5,
        topic: 'validation.requests',
        partition: 3,
        offset: 42,
        reason: 'invalid JSON at byte 5',
        code: 'invalid_json',
        payload: Buffer.from('{"a": }'),
        createdAt: 3000,
      });
      await store.addDlq({
        id: 'dlq-2',
        topic: 'validation.requests',
        partition: 0,
        offset: 7,
        reason: 'header lagscale-job is missing',
        code: 'missing_header',
        payload: Buffer.from([0xff, 0xfe]),
        createdAt: 3100,
      });
    });

    it('gets a job with its counts and progress (DLQ entries count as done), 404 for an unknown one', async () => {
      const response = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}` });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        id: jobId,
        ruleSet: ordersRuleSet.name,
        ruleSetVersion: ordersRuleSet.version,
        total: 5,
        createdAt: 2000,
        source: 'upload:orders.ndjson',
        results: 4,
        valid: 2,
        invalid: 2,
        dlq: 1,
        progress: 1,
        uploadSha256: null,
      });
      const unknown = await app.inject({ method: 'GET', url: '/api/v1/jobs/no-such-job' });
      expect(unknown.statusCode).toBe(404);
      expect(expectErrorBody(unknown.json(), 'job_not_found').message).toContain('"no-such-job"');
      const badId = await app.inject({ method: 'GET', url: '/api/v1/jobs/bad:id' });
      expect(badId.statusCode).toBe(400);
      expect(badId.json().details[0]).toMatchObject({ pointer: '/id', in: 'params' });
    });

    it('lists jobs newest first with cursor pagination', async () => {
      const first = await app.inject({ method: 'GET', url: '/api/v1/jobs?limit=1' });
      expect(first.json().items.map((j: { id: string }) => j.id)).toEqual([jobId]);
      expect(first.json().items[0].progress).toBe(1);
      const cursor = first.json().nextCursor as string;
      const second = await app.inject({ method: 'GET', url: `/api/v1/jobs?limit=1&cursor=${encodeURIComponent(cursor)}` });
      expect(second.json().items.map((j: { id: string }) => j.id)).toEqual(['read-routes-0']);
      expect(second.json().items[0].progress).toBeNull();
      expect(second.json().nextCursor).toBeNull();
    });

    it('summarizes a job by rule, field and severity', async () => {
      const response = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/summary` });
      const summary = response.json();
      expect(summary).toMatchObject({ jobId, records: 4, valid: 2, invalid: 2, warningsOnly: 1, truncated: 0, violations: 4, byFieldTruncated: false });
      expect(summary.byRule).toContainEqual({ ruleId: 'items.sku', severity: 'warning', records: 2, violations: 2 });
      expect(summary.bySeverity).toContainEqual({ severity: 'error', records: 2, violations: 2 });
      expect(summary.byField).toContainEqual({ path: '/currency', records: 1, violations: 1 });
      expect((await app.inject({ method: 'GET', url: '/api/v1/jobs/nope/summary' })).statusCode).toBe(404);
    });

    it('searches results by validity, rule, severity, field and text, with facets and cursors', async () => {
      const invalid = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/results?valid=false` });
      expect(invalid.json().items.map((r: { recordNumber: number }) => r.recordNumber)).toEqual([2, 4]);
      expect(invalid.json().facets.records).toBe(2);
      expect(invalid.json().items[0]).toMatchObject({
        jobId,
        recordNumber: 2,
        valid: false,
        truncated: false,
        recordOmitted: false,
        record: '{"order_id":"o-2"}',
      });

      const byRule = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/results?ruleId=items.sku&severity=warning` });
      expect(byRule.json().items.map((r: { recordNumber: number }) => r.recordNumber)).toEqual([2, 3]);
      const byField = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/results?field=/items` });
      expect(byField.json().items.map((r: { recordNumber: number }) => r.recordNumber)).toEqual([2, 3]);
      const byText = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/results?text=${encodeURIComponent('SUM')}` });
      expect(byText.json().items.map((r: { recordNumber: number }) => r.recordNumber)).toEqual([4]);

      const page1 = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/results?limit=3` });
      expect(page1.json().items).toHaveLength(3);
      expect(page1.json().facets).toMatchObject({ records: 4 });
      const page2 = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/results?limit=3&cursor=${encodeURIComponent(page1.json().nextCursor)}` });
      expect(page2.json().items.map((r: { recordNumber: number }) => r.recordNumber)).toEqual([4]);
      expect(page2.json().nextCursor).toBeNull();
      expect(page2.json().facets).toBeUndefined();
    });

    it('refuses a bad search with 400 and the details of every mistake', async () => {
      const response = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/results?valid=maybe&severity=fatal&limit=5000&colour=red` });
      expect(response.statusCode).toBe(400);
      const body = expectErrorBody(response.json(), 'invalid_request');
      expect(body.details).toEqual(
        expect.arrayContaining([
          { pointer: '/colour', message: 'is not a parameter of this route', in: 'querystring' },
          { pointer: '/valid', message: 'must be boolean', in: 'querystring' },
          { pointer: '/severity', message: 'must be one of "error", "warning"', in: 'querystring' },
          { pointer: '/limit', message: 'must be <= 1000', in: 'querystring' },
        ]),
      );
      const cursor = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/results?cursor=garbage` });
      expect(cursor.statusCode).toBe(400);
      expectErrorBody(cursor.json(), 'invalid_cursor');
      const unknownJob = await app.inject({ method: 'GET', url: '/api/v1/jobs/nope/results' });
      expect(unknownJob.statusCode).toBe(404);
      expectErrorBody(unknownJob.json(), 'job_not_found');
    });

    it('gets one result with its record text; 404 result_not_found for a record without one', async () => {
      const one = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/results/2` });
      expect(one.statusCode).toBe(200);
      expect(one.json()).toMatchObject({ recordNumber: 2, valid: false, record: '{"order_id":"o-2"}' });
      expect(one.json().violations).toHaveLength(2);
      const missing = await app.inject({ method: 'GET', url: `/api/v1/jobs/${jobId}/results/5` });
      expect(missing.statusCode).toBe(404);
      expect(expectErrorBody(missing.json(), 'result_not_found').message).toContain('in the DLQ');
      expect((await app.inject({ method: 'GET', url: '/api/v1/jobs/nope/results/1' })).statusCode).toBe(404);
    });

    it('lists DLQ entries (all, or by job) with the payload as base64 and as text when it is UTF-8', async () => {
      const all = await app.inject({ method: 'GET', url: '/api/v1/dlq' });
      expect(all.json().items.map((e: { id: string }) => e.id)).toEqual(['dlq-2', 'dlq-1']);
      expect(all.json().items[0]).toMatchObject({ jobId: null, recordNumber: null, payloadBase64: '//4=', payloadText: null, payloadSize: 2 });
      const byJob = await app.inject({ method: 'GET', url: `/api/v1/dlq?jobId=${jobId}` });
      expect(byJob.json()).toEqual({
        items: [
          {
            id: 'dlq-1',
            jobId,
            recordNumber: 5,
            topic: 'validation.requests',
            partition: 3,
            offset: 42,
            reason: 'invalid JSON at byte 5',
            code: 'invalid_json',
            payloadBase64: Buffer.from('{"a": }').toString('base64'),
            payloadText: '{"a": }',
            payloadSize: 7,
            payloadTruncated: false,
            createdAt: 3000,
            replayedAt: null,
          },
        ],
        nextCursor: null,
      });
      const one = await app.inject({ method: 'GET', url: '/api/v1/dlq/dlq-1' });
      expect(one.json().id).toBe('dlq-1');
      const missing = await app.inject({ method: 'GET', url: '/api/v1/dlq/nope' });
      expect(missing.statusCode).toBe(404);
      expectErrorBody(missing.json(), 'dlq_not_found');
    });

    it('refuses to replay an entry without a job, and answers 503 without Kafka', async () => {
      const noJob = await app.inject({ method: 'POST', url: '/api/v1/dlq/dlq-2/replay' });
      expect(noJob.statusCode).toBe(409);
      expectErrorBody(noJob.json(), 'dlq_not_replayable');
      // This app was built without a Kafka connection.
      const noKafka = await app.inject({ method: 'POST', url: '/api/v1/dlq/dlq-1/replay', payload: { value: { order_id: 'o-5' } } });
      expect(noKafka.statusCode).toBe(503);
      expectErrorBody(noKafka.json(), 'kafka_unavailable');
      expect((await store.getDlq('dlq-1'))?.replayedAt).toBeNull();
    });

    it('answers 404 not_found for an unknown route', async () => {
      const response = await app.inject({ method: 'GET', url: '/api/v1/nothing-here' });
      expect(response.statusCode).toBe(404);
      expectErrorBody(response.json(), 'not_found');
    });
  });
});
