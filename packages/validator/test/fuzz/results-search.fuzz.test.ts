import type { SqliteResultStore } from '@lagscale/validator';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, ordersRuleSet, tempStore } from '../api/helpers.js';
import { checkAsyncProperty } from './fuzz-settings.js';

/**
 * GET /api/v1/jobs/:id/results?text=... on a SQLite store (FTS5 trigram index), in process: any
 * text, as any bytes in the URL, answers 200 with the records whose messages hold it, or a 400
 * that says what cannot be searched; never a 500. The same on the store level, for both stores,
 * is in the store contract ("searchResults by text").
 */

const JOB = 'text-search-1';
/** Messages with what FTS5 reads as syntax (quotes, operators, column filters, prefix and start marks). */
const MESSAGES = [
  'says "hello" to col:val',
  'NEAR(a b) AND x* OR ^start',
  "it's a {brace} [bracket] -minus +plus ~tilde",
  'back\\slash ?question *star',
  'Total must equal the SUM of items',
  'tab\there, control \u0001 and delete \u007f',
];

/** Each byte as %XX: the URL carries exactly these bytes, valid UTF-8 or not. */
function percentEncoded(bytes: Uint8Array): string {
  return [...bytes].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
}

function expectedFor(text: string): number[] {
  const wanted = text.trim().toLowerCase();
  return MESSAGES.flatMap((message, index) => (message.toLowerCase().includes(wanted) ? [index + 1] : []));
}

describe('results search by text, property-based (SQLite, in process)', () => {
  let store: SqliteResultStore;
  let app: FastifyInstance;
  const statuses = new Map<number, number>();

  beforeAll(async () => {
    store = tempStore();
    expect(store.textSearch).toBe('fts5');
    await store.saveRuleSet(ordersRuleSet.name, ordersRuleSet.version, ordersRuleSet as never, 1000);
    await store.createJob({ id: JOB, ruleSet: ordersRuleSet.name, ruleSetVersion: ordersRuleSet.version, total: null, createdAt: 2000, source: 'test' });
    await store.upsertResults(
      MESSAGES.map((message, index) => ({
        jobId: JOB,
        recordNumber: index + 1,
        valid: false,
        violations: [{ ruleId: 'r', severity: 'error', path: '/a', message }],
      })),
    );
    app = await buildApi({ store });
  });

  afterAll(async () => {
    await app.close();
    await store.close();
    process.stdout.write(`[fuzz] results search statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}\n`);
  });

  async function search(encodedText: string): Promise<{ status: number; body: { items?: { recordNumber: number }[]; error?: string; message?: string } }> {
    const response = await app.inject({ method: 'GET', url: `/api/v1/jobs/${JOB}/results?text=${encodedText}` });
    statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
    return { status: response.statusCode, body: response.json() };
  }

  it('regression: text=%00%00%00 is a 400 that says NUL cannot be searched, not a 500 (FTS5 "unterminated string")', async () => {
    for (const text of ['%00%00%00', 'abc%00', '%22%00%22', `${'x'.repeat(10)}%00`]) {
      const { status, body } = await search(text);
      expect(status, text).toBe(400);
      expect(body).toEqual({ error: 'invalid_request', message: 'text cannot contain NUL (U+0000, %00 in a URL): search for the text around it' });
    }
  });

  it('takes quotes, FTS5 operators, column filters, * and ^ literally', async () => {
    for (const text of ['"hello"', '"', '""', 'col:val', 'NEAR(a b)', 'x* OR', '^start', '*star', 'a" OR "b', 'SUM OF', "it's", '\u0001 and', 'text:tab']) {
      const { status, body } = await search(encodeURIComponent(text));
      expect(status, text).toBe(200);
      expect(
        body.items?.map((item) => item.recordNumber),
        text,
      ).toEqual(expectedFor(text));
    }
  });

  it('takes 200 characters and refuses 201 with a 400 naming the parameter', async () => {
    expect((await search('x'.repeat(200))).status).toBe(200);
    expect((await search(encodeURIComponent('é'.repeat(200)))).status).toBe(200);
    const { status, body } = await search('x'.repeat(201));
    expect(status).toBe(400);
    expect(body).toMatchObject({ error: 'invalid_request', details: [{ pointer: '/text', in: 'querystring' }] });
  });

  it('answers any text, as any bytes, with 200 and the matching records or a 400; never a 500', async () => {
    const syntax = fc.constantFrom(...'"\'*?\\:^()[]{}-+~/&|<>=.,%#_ \t\n\u0001\u007fAaNnDdOoRrEeSsUuMmé中😀\u0000');
    const text = fc.oneof(
      fc.string({ unit: syntax, minLength: 1, maxLength: 10 }),
      fc
        .tuple(fc.constantFrom(...MESSAGES), fc.nat(), fc.integer({ min: 1, max: 12 }), fc.string({ unit: syntax, maxLength: 2 }))
        .map(([message, at, length, tail]) => `${message.slice(at % message.length, (at % message.length) + length)}${tail}`),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'grapheme', minLength: 190, maxLength: 210 }),
    );
    const encoded = fc.oneof(
      { weight: 4, arbitrary: text.map((t) => ({ bytes: Buffer.from(t, 'utf8'), text: t })) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 30 }).map((bytes) => ({ bytes: Buffer.from(bytes), text: undefined })) },
    );
    await checkAsyncProperty(
      'GET results?text=',
      300,
      fc.asyncProperty(encoded, async ({ bytes, text }) => {
        const { status, body } = await search(percentEncoded(bytes));
        expect(status, `${JSON.stringify(text)} ${body.message ?? ''}`).toBeLessThan(500);
        if (status === 400) {
          expect(body.error).toBe('invalid_request');
          expect(typeof body.message).toBe('string');
          return;
        }
        expect(status).toBe(200);
        // Text that is ASCII (as sent, in valid UTF-8) has an exact answer: the messages holding it.
        if (text !== undefined && Buffer.byteLength(text, 'utf8') === text.length) {
          expect(text.includes('\u0000') && text.trim() !== '').toBe(false);
          expect(body.items?.map((item) => item.recordNumber)).toEqual(expectedFor(text));
        }
      }),
    );
  });
});
