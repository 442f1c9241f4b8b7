import type { ProducedMessage, RequestProducer } from '@lagscale/validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, tempStore } from './helpers.js';

/**
 * Numbers beyond 2^53 through the API: a dry run and an upload keep the exact value the caller
 * wrote (JSON.parse rounds 9007199254740993 to ...992), so a `unique` rule tells them apart.
 */
const uniqueIds = { name: 'ids', version: 1, rules: [{ id: 'id-unique', severity: 'error', type: 'unique', field: '/id' }] };

describe('numbers beyond 2^53 through the API', () => {
  const produced: ProducedMessage[] = [];
  const producer: RequestProducer = {
    send: async ({ messages }) => {
      produced.push(...messages);
    },
  };
  const store = tempStore();
  let app: Awaited<ReturnType<typeof buildApi>>;
  beforeAll(async () => {
    app = await buildApi({ store, producer });
    expect((await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: uniqueIds })).statusCode).toBe(201);
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('compares them exactly in a dry run', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/rulesets/ids/dry-run',
      headers: { 'content-type': 'application/json' },
      payload: '{"records": [{"id": 9007199254740992}, {"id": 9007199254740993}, {"id": 9007199254740993}]}',
    });
    expect(response.statusCode).toBe(200);
    expect((response.json() as { results: { valid: boolean }[] }).results.map((r) => r.valid)).toEqual([true, true, false]);
  });

  it('produces an uploaded record with each number exact (in canonical form)', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/jobs?ruleSet=ids&format=ndjson',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: '{"id": 9007199254740993}\n{"id": 12345678901234567890123}\n',
    });
    expect(response.statusCode).toBe(201);
    expect(produced.map((m) => m.value.toString('utf8'))).toEqual(['{"id":9007199254740993}', '{"id":1.2345678901234567890123e+22}']);
  });
});
