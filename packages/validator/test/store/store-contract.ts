import type { ResultInput, ResultQuery, ResultStore, RuleSetDocument } from '@lagscale/validator';
import { StoreError } from '@lagscale/validator';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkAsyncProperty } from '../fuzz/fuzz-settings.js';
import { byKey, expectedFacets, expectedRecordNumbers, expectedSummary, generateResults, latest } from './results-oracle.js';

/** Options every store takes. */
export interface ContractStoreOptions {
  readonly maxRecordBytes?: number;
  readonly maxDlqPayloadBytes?: number;
}

/**
 * How the contract reaches one kind of store. Each `open` gives an empty store of its own; the
 * harness closes what it opened after each test. Reads must see every write that returned before
 * them (a store with a refresh interval refreshes first).
 */
export interface StoreHarness {
  open(options?: ContractStoreOptions): Promise<ResultStore>;
  /** Another handle on the same data as `store`, as a second worker process would open it. */
  another(store: ResultStore): Promise<ResultStore>;
}

function document(name: string, version: number, extra: Partial<RuleSetDocument> = {}): RuleSetDocument {
  return { name, version, rules: [{ id: 'a.required', severity: 'error', type: 'required', field: '/a' }], ...extra };
}

/** The StoreError a call throws (or rejects with). */
export async function storeError(call: () => unknown): Promise<StoreError> {
  try {
    await call();
  } catch (error) {
    if (error instanceof StoreError) return error;
    throw error;
  }
  throw new Error('expected a StoreError, but the call succeeded');
}

/** Every record number of a search, page by page. */
async function allPages(store: ResultStore, query: Omit<ResultQuery, 'limit' | 'cursor'>, limit: number): Promise<{ numbers: number[]; pages: number }> {
  const numbers: number[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.searchResults({ ...query, limit, facets: false, ...(cursor === undefined ? {} : { cursor }) });
    expect(page.facets).toBeUndefined();
    expect(page.items.length).toBeLessThanOrEqual(limit);
    numbers.push(...page.items.map((item) => item.recordNumber));
    cursor = page.nextCursor ?? undefined;
    pages++;
  } while (cursor !== undefined);
  return { numbers, pages };
}

/** What every ResultStore must do, whatever keeps the data: one suite, run against each store. */
export function describeStoreContract(harness: StoreHarness): void {
  const open = (options?: ContractStoreOptions) => harness.open(options);

  /** A store with rule set "orders" v1 and the given jobs (total null). */
  async function storeWithJobs(jobIds: readonly string[], options: ContractStoreOptions = {}): Promise<ResultStore> {
    const store = await open(options);
    await store.saveRuleSet('orders', 1, document('orders', 1), 1000);
    for (const [index, id] of jobIds.entries()) {
      await store.createJob({ id, ruleSet: 'orders', ruleSetVersion: 1, total: null, createdAt: 2000 + index, source: 'test' });
    }
    return store;
  }

  describe('rule sets', () => {
    it('saves versions, gives the latest or the one asked for, and lists them', async () => {
      const store = await open();
      expect((await store.saveRuleSet('orders', 1, document('orders', 1), 1000)).created).toBe(true);
      await store.saveRuleSet('orders', 2, document('orders', 2, { description: 'v2' }), 2000);
      await store.saveRuleSet('customers', 7, document('customers', 7), 1500);

      expect(await store.getRuleSet('orders')).toEqual({ name: 'orders', version: 2, document: document('orders', 2, { description: 'v2' }), createdAt: 2000 });
      expect((await store.getRuleSet('orders', 1))?.document).toEqual(document('orders', 1));
      expect(await store.getRuleSet('orders', 3)).toBeUndefined();
      expect(await store.getRuleSet('nothing')).toBeUndefined();
      expect(await store.listRuleSets()).toEqual([
        { name: 'customers', latestVersion: 7, versions: [7], updatedAt: 1500 },
        { name: 'orders', latestVersion: 2, versions: [1, 2], updatedAt: 2000 },
      ]);
    });

    it('takes the same version again as a no-op, whatever the key order', async () => {
      const store = await open();
      await store.saveRuleSet('orders', 1, document('orders', 1, { description: 'd' }), 1000);
      const reordered = { rules: [{ field: '/a', type: 'required', severity: 'error', id: 'a.required' }], description: 'd', version: 1, name: 'orders' };
      const again = await store.saveRuleSet('orders', 1, reordered as RuleSetDocument, 5000);
      expect(again).toEqual({
        created: false,
        ruleSet: { name: 'orders', version: 1, document: document('orders', 1, { description: 'd' }), createdAt: 1000 },
      });
    });

    it('refuses to change a saved version, naming the next free one', async () => {
      const store = await open();
      await store.saveRuleSet('orders', 1, document('orders', 1), 1000);
      await store.saveRuleSet('orders', 2, document('orders', 2), 1000);
      const error = await storeError(() => store.saveRuleSet('orders', 1, document('orders', 1, { description: 'changed' }), 3000));
      expect(error.code).toBe('RULE_SET_VERSION_CHANGED');
      expect(error.message).toBe(
        'rule set "orders" version 1 already exists with a different document, and versions are immutable: save the change as version 3',
      );
      expect((await store.getRuleSet('orders', 1))?.document).toEqual(document('orders', 1));
    });

    it('refuses a document whose name or version disagrees with where it is saved', async () => {
      const store = await open();
      const error = await storeError(() => store.saveRuleSet('orders', 2, document('orders', 1), 1000));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe('rule set saved as "orders" version 2 but its document says "orders" version 1: they must agree');
    });
  });

  describe('jobs', () => {
    it('needs a saved rule set version, and takes the same job twice but not a different one', async () => {
      const store = await storeWithJobs([]);
      const job = { id: 'job-1', ruleSet: 'orders', ruleSetVersion: 1, total: null, createdAt: 5000, source: 'upload:orders.ndjson' };
      const missing = await storeError(() => store.createJob({ ...job, ruleSetVersion: 9 }));
      expect(missing.code).toBe('RULE_SET_NOT_FOUND');
      expect(missing.message).toBe('job "job-1": rule set "orders" version 9 is not stored: save it first');

      const created = await store.createJob(job);
      expect(created).toEqual({ ...job, results: 0, valid: 0, invalid: 0, dlq: 0, progress: null, uploadSha256: null });
      expect(await store.createJob({ ...job, createdAt: 6000 })).toEqual(created);
      const clash = await storeError(() => store.createJob({ ...job, source: 'topic:validation.requests' }));
      expect(clash.code).toBe('JOB_EXISTS');
      expect(clash.message).toBe('job "job-1" already exists for rule set "orders" version 1 from upload:orders.ndjson: use another job id');
    });

    it('counts progress from results and dead letters once the total is known', async () => {
      const store = await storeWithJobs(['job-1']);
      await store.upsertResults(generateResults('job-1', 8));
      expect((await store.getJob('job-1'))?.progress).toBeNull();
      await store.setJobTotal('job-1', 10);
      expect((await store.getJob('job-1'))?.progress).toBe(0.8);
      await store.addDlq({
        id: 'd1',
        jobId: 'job-1',
        recordNumber: 9,
        topic: 't',
        partition: 0,
        offset: 9,
        reason: 'r',
        code: 'invalid_json',
        payload: Buffer.from('{'),
        createdAt: 1,
      });
      const job = await store.getJob('job-1');
      expect(job?.progress).toBe(0.9);
      expect(job?.dlq).toBe(1);
      await store.markDlqReplayed('d1', 2);
      expect((await store.getJob('job-1'))?.progress).toBe(0.8);
      expect((await storeError(() => store.setJobTotal('nope', 1))).code).toBe('JOB_NOT_FOUND');
    });

    it('lists jobs newest first, page by page', async () => {
      const store = await storeWithJobs(['a', 'b', 'c', 'd', 'e']);
      await store.createJob({ id: 'f', ruleSet: 'orders', ruleSetVersion: 1, total: 3, createdAt: 2004, source: 'test' }); // same time as "e"
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listJobs({ limit: 4, ...(cursor === undefined ? {} : { cursor }) });
        seen.push(...page.items.map((job) => job.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(seen).toEqual(['f', 'e', 'd', 'c', 'b', 'a']);
    });
  });

  describe('upsertResults', () => {
    it('stores a batch twice with the same counts (a redelivery replaces, never duplicates)', async () => {
      const store = await storeWithJobs(['job-1']);
      const batch = generateResults('job-1', 200);
      await store.upsertResults(batch);
      const job = await store.getJob('job-1');
      const summary = await store.jobSummary('job-1');
      const search = await store.searchResults({ jobId: 'job-1', valid: false, limit: 1000 });

      await store.upsertResults(batch);
      expect(await store.getJob('job-1')).toEqual(job);
      expect(await store.jobSummary('job-1')).toEqual(summary);
      expect(await store.searchResults({ jobId: 'job-1', valid: false, limit: 1000 })).toEqual(search);
      expect(job?.results).toBe(200);
      expect(summary?.violations).toBe(batch.reduce((sum, result) => sum + result.violations.length, 0));
    });

    it('keeps counts right when a redelivered record comes back with another outcome', async () => {
      const store = await storeWithJobs(['job-1', 'job-2']);
      const first = generateResults('job-1', 300, 1);
      const other = generateResults('job-2', 50, 2);
      // records 100..399: 100..300 again with other violations, 301..399 new; job-2 in the same batch
      const second = [...generateResults('job-1', 300, 3, 100), ...other];
      // the same record twice in one batch: the last one wins
      const twice = [
        { jobId: 'job-1', recordNumber: 5, valid: false, violations: [{ ruleId: 'x', severity: 'error' as const, path: '/x', message: 'first' }] },
        { jobId: 'job-1', recordNumber: 5, valid: true, violations: [] },
      ];
      await store.upsertResults(first);
      await store.upsertResults(second);
      await store.upsertResults(twice);
      const stored = latest([first, second, twice]);

      for (const jobId of ['job-1', 'job-2']) {
        const summary = await store.jobSummary(jobId);
        if (summary === undefined) throw new Error(`no summary for ${jobId}`);
        const expected = expectedSummary(stored, jobId);
        expect({ ...summary, byRule: byKey(summary.byRule), byField: byKey(summary.byField), bySeverity: byKey(summary.bySeverity) }).toEqual({
          ...expected,
          byFieldTruncated: false,
        });
        const job = await store.getJob(jobId);
        expect([job?.results, job?.valid, job?.invalid]).toEqual([expected.records, expected.valid, expected.invalid]);
      }
      const all = await store.searchResults({ jobId: 'job-1', limit: 1000, facets: false });
      expect(all.items.find((item) => item.recordNumber === 5)).toMatchObject({ valid: true, violations: [] });
    });

    it('stores nothing of a batch that names an unknown job', async () => {
      const store = await storeWithJobs(['job-1']);
      const error = await storeError(() => store.upsertResults([...generateResults('job-1', 3), ...generateResults('ghost', 2)]));
      expect(error.code).toBe('JOB_NOT_FOUND');
      expect(error.message).toBe('job "ghost" does not exist: create the job first');
      expect((await store.getJob('job-1'))?.results).toBe(0);
    });

    it('refuses malformed results before writing anything, saying which one', async () => {
      const store = await storeWithJobs(['job-1']);
      const bad = { jobId: 'job-1', recordNumber: 2, valid: false, violations: [{ ruleId: 'r', severity: 'fatal', path: '/a', message: 'm' }] };
      const error = await storeError(() => store.upsertResults([...generateResults('job-1', 1), bad as unknown as ResultInput]));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe(
        'result 1 of the batch (job "job-1", record 2): violation 0 must have string ruleId, path and message and severity "error" or "warning"',
      );
      expect((await store.getJob('job-1'))?.results).toBe(0);
    });

    it('keeps records up to the size cap (in UTF-8 bytes) and says when one was dropped', async () => {
      const store = await storeWithJobs(['job-1'], { maxRecordBytes: 32 });
      const fits = JSON.stringify('€'.repeat(9)); // 27 + 2 quotes = 29 bytes
      const over = JSON.stringify('€'.repeat(11)); // 35 bytes, 13 characters
      await store.upsertResults([
        { jobId: 'job-1', recordNumber: 1, valid: true, violations: [], record: fits },
        { jobId: 'job-1', recordNumber: 2, valid: true, violations: [], record: over },
        { jobId: 'job-1', recordNumber: 3, valid: true, violations: [] },
      ]);
      const page = await store.searchResults({ jobId: 'job-1', limit: 10 });
      expect(page.items.map((item) => [item.record, item.recordOmitted])).toEqual([
        [fits, false],
        [undefined, true],
        [undefined, false],
      ]);
    });

    it('keeps a record handed over as UTF-8 bytes as the same text, with the same cap', async () => {
      const store = await storeWithJobs(['job-1'], { maxRecordBytes: 32 });
      const fits = JSON.stringify('€'.repeat(9));
      const over = JSON.stringify('€'.repeat(11));
      await store.upsertResults([
        { jobId: 'job-1', recordNumber: 1, valid: true, violations: [], record: Buffer.from(fits) },
        { jobId: 'job-1', recordNumber: 2, valid: true, violations: [], record: new TextEncoder().encode(over) },
      ]);
      // a redelivery of record 1 as bytes replaces it the same way
      await store.upsertResults([{ jobId: 'job-1', recordNumber: 1, valid: true, violations: [], record: Buffer.from(fits) }]);
      const page = await store.searchResults({ jobId: 'job-1', limit: 10 });
      expect(page.items.map((item) => [item.record, item.recordOmitted])).toEqual([
        [fits, false],
        [undefined, true],
      ]);
      expect((await store.getResult('job-1', 1))?.record).toBe(fits);
    });
  });

  describe('searchResults', () => {
    const queries: Omit<ResultQuery, 'limit' | 'jobId'>[] = [
      {},
      { valid: false },
      { valid: true },
      { ruleId: 'items.b.range' },
      { severity: 'warning' },
      { severity: 'warning', valid: true },
      { field: '/items' },
      { field: '/items/1' },
      { field: '/c', severity: 'error' },
      { text: 'sum OF' },
      { text: 'match "[a-z' },
      { text: 'is' },
      { ruleId: 'c.pattern', valid: false, text: 'match' },
      { ruleId: 'no.such.rule' },
    ];
    let store: ResultStore;
    let stored: ResultInput[];

    beforeEach(async () => {
      store = await storeWithJobs(['job-1', 'job-2']);
      const first = generateResults('job-1', 400);
      const again = generateResults('job-1', 100, 11, 250); // some records replaced
      const other = generateResults('job-2', 100, 5);
      await store.upsertResults(first.slice(0, 200));
      await store.upsertResults([...first.slice(200), ...other]);
      await store.upsertResults(again);
      stored = latest([first, other, again]);
    });

    it.each(queries)('pages through every match of %j once, in record order', async (filter) => {
      const query = { jobId: 'job-1', ...filter };
      const expected = expectedRecordNumbers(stored, query);
      const { numbers, pages } = await allPages(store, query, 7);
      expect(numbers).toEqual(expected);
      expect(pages).toBe(Math.max(1, Math.ceil(expected.length / 7)));
    });

    it.each(queries)('counts facets of %j over every match', async (filter) => {
      const query = { jobId: 'job-1', ...filter };
      const page = await store.searchResults({ ...query, limit: 5 });
      const facets = page.facets;
      if (facets === undefined) throw new Error('no facets');
      const expected = expectedFacets(stored, query);
      expect({ records: facets.records, byRule: byKey(facets.byRule), bySeverity: byKey(facets.bySeverity) }).toEqual(expected);
      const violations = facets.byRule.map((count) => count.violations);
      expect(violations).toEqual([...violations].sort((a, b) => b - a));
    });

    it('returns each record with all its violations in reported order, not only the matching ones', async () => {
      const page = await store.searchResults({ jobId: 'job-1', ruleId: 'c.pattern', limit: 3 });
      for (const item of page.items) {
        const input = stored.find((result) => result.jobId === 'job-1' && result.recordNumber === item.recordNumber);
        expect(item).toEqual({
          jobId: 'job-1',
          recordNumber: input?.recordNumber,
          valid: input?.valid,
          violations: input?.violations,
          truncated: input?.truncated === true,
          record: input?.record,
          recordOmitted: false,
        });
      }
    });

    it('refuses a cursor of another job or another list, and a made-up one', async () => {
      const page = await store.searchResults({ jobId: 'job-1', limit: 2 });
      const cursor = page.nextCursor ?? '';
      expect((await storeError(() => store.searchResults({ jobId: 'job-2', limit: 2, cursor }))).message).toBe(
        'the cursor belongs to a search of another job, not "job-2"',
      );
      expect((await storeError(() => store.listDlq({ limit: 2, cursor }))).code).toBe('INVALID_CURSOR');
      const madeUp = await storeError(() => store.searchResults({ jobId: 'job-1', limit: 2, cursor: 'bm9wZQ' }));
      expect(madeUp.code).toBe('INVALID_CURSOR');
      expect(madeUp.message).toBe('cursor "bm9wZQ" is not a results cursor: pass back the nextCursor of the previous page unchanged');
    });

    it('refuses bad limits, severities and fields, and an unknown job', async () => {
      expect((await storeError(() => store.searchResults({ jobId: 'job-1', limit: 0 }))).message).toBe('limit must be an integer from 1 to 1000, got 0');
      expect((await storeError(() => store.searchResults({ jobId: 'job-1', limit: 5, field: 'items' }))).message).toBe(
        'field must be a JSON pointer starting with "/", got "items"',
      );
      expect((await storeError(() => store.searchResults({ jobId: 'job-1', limit: 5, severity: 'info' as 'error' }))).code).toBe('INVALID_ARGUMENT');
      expect((await storeError(() => store.searchResults({ jobId: 'ghost', limit: 5 }))).code).toBe('JOB_NOT_FOUND');
    });
  });

  describe('searchResults by text', () => {
    /** Messages full of what query languages read as syntax: FTS5's and Lucene's. */
    const MESSAGES = [
      'says "hello" to col:val',
      'NEAR(a b) AND x* OR ^start',
      'back\\slash ?question *star',
      'tab\there and NOT this',
      "{braces} [brackets] (parens) -minus +plus ~tilde 'single' a/b",
      'plain message, nothing special',
      'control \u0001 and delete \u007f inside',
    ];
    let store: ResultStore;

    beforeEach(async () => {
      store = await storeWithJobs(['job-t']);
      await store.upsertResults(
        MESSAGES.map((message, index) => ({
          jobId: 'job-t',
          recordNumber: index + 1,
          valid: false,
          violations: [{ ruleId: 'r', severity: 'error', path: '/a', message }],
        })),
      );
    });

    /** Record numbers whose message holds the text, ASCII case ignored (every message is ASCII). */
    function expectedFor(text: string): number[] {
      const wanted = text.trim().toLowerCase();
      return MESSAGES.flatMap((message, index) => (message.toLowerCase().includes(wanted) ? [index + 1] : []));
    }

    async function found(text: string): Promise<number[]> {
      const page = await store.searchResults({ jobId: 'job-t', limit: 100, facets: false, text });
      return page.items.map((item) => item.recordNumber);
    }

    it('takes any text literally, as part of a message: quotes, operators, column filters, wildcards', async () => {
      for (const text of [
        '"hello"',
        'col:val',
        'o" to c',
        'NEAR(a b)',
        'x* OR ^',
        '^start',
        '*star',
        '?question',
        'back\\slash',
        'K\\S',
        '"',
        '""',
        '*',
        '\\',
        '(parens) -minus +plus ~',
        'AND',
        ' and not ',
        "'single'",
        'a/b',
        '\u0001 and',
        '\u007f',
        'x*',
        'nothing"special',
      ]) {
        expect(await found(text), JSON.stringify(text)).toEqual(expectedFor(text));
      }
    });

    it('refuses NUL, unpaired surrogates and text over 200 characters, saying why', async () => {
      for (const text of ['\u0000\u0000\u0000', 'ab\u0000cd', '\u0000']) {
        const error = await storeError(() => found(text));
        expect(error.code).toBe('INVALID_ARGUMENT');
        expect(error.message).toBe('text cannot contain NUL (U+0000, %00 in a URL): search for the text around it');
      }
      expect((await storeError(() => found('ab\uD800cd'))).message).toBe('text is not valid Unicode (it has an unpaired surrogate)');
      expect((await storeError(() => found('x'.repeat(201)))).message).toBe(
        'text is 201 characters long, over the limit of 200: search for a shorter part of the message',
      );
      // 200 characters, of which the emoji are two UTF-16 units each, and spaces around that are trimmed
      expect(await found(` ${'😀'.repeat(100)}${'x'.repeat(100)}  `)).toEqual([]);
      expect(await found('   ')).toEqual(MESSAGES.map((_, index) => index + 1));
    });

    it('searches the longest text of letters with several case forms (a case-insensitive pattern of 200 characters)', async () => {
      for (const letters of ['kK\u212a', 's\u017fS', 'i\u0130I\u0131', 'aAbB', 'x?*\\']) {
        const text = letters.repeat(70).slice(0, 200);
        expect(await found(text)).toEqual([]);
      }
    });

    it('answers any text (fuzzed) with the messages that hold it, or refuses it as invalid', async () => {
      const syntax = fc.constantFrom(...'"\'*?\\:^()[]{}-+~/!&|<>=.,@#$%_ \t\n\u0001\u007fAaNnDdOoRrEeé中😀\u0000');
      const slice = fc
        .tuple(fc.constantFrom(...MESSAGES), fc.nat(), fc.integer({ min: 1, max: 12 }))
        .map(([message, at, length]) => message.slice(at % message.length, (at % message.length) + length));
      const text = fc.oneof(
        fc.string({ unit: syntax, minLength: 1, maxLength: 8 }),
        slice,
        fc.tuple(slice, fc.string({ unit: syntax, maxLength: 2 })).map(([a, b]) => `${a}${b}`),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
      );
      await checkAsyncProperty(
        'results text search',
        100,
        fc.asyncProperty(text, async (text) => {
          const trimmed = text.trim();
          let numbers: number[];
          try {
            numbers = await found(text);
          } catch (error) {
            // the only refusals: NUL and unpaired surrogates (nothing here is over 200 characters)
            expect(error).toBeInstanceOf(StoreError);
            expect((error as StoreError).code).toBe('INVALID_ARGUMENT');
            expect(trimmed.includes('\u0000') || /[\uD800-\uDFFF]/u.test(trimmed)).toBe(true);
            return;
          }
          expect(trimmed.includes('\u0000')).toBe(false);
          // the oracle knows ASCII case only; other text must not match these ASCII messages
          if (Buffer.byteLength(trimmed, 'utf8') === trimmed.length) expect(numbers).toEqual(expectedFor(text));
          else if (!/[\u212a\u017f\u0130\u0131]/.test(trimmed)) expect(numbers).toEqual([]);
        }),
      );
    });
  });

  describe('jobSummary', () => {
    it('gives totals and counts by rule, field and severity', async () => {
      const store = await storeWithJobs(['job-1']);
      const v = (ruleId: string, severity: 'error' | 'warning', path: string) => ({ ruleId, severity, path, message: `${ruleId} failed` });
      await store.upsertResults([
        { jobId: 'job-1', recordNumber: 1, valid: true, violations: [] },
        { jobId: 'job-1', recordNumber: 2, valid: true, violations: [v('w', 'warning', '/c')] },
        { jobId: 'job-1', recordNumber: 3, valid: false, violations: [v('e', 'error', '/items/0/b'), v('e', 'error', '/items/1/b'), v('w', 'warning', '/c')] },
        { jobId: 'job-1', recordNumber: 4, valid: false, violations: [v('e', 'error', '/items/0/b')], truncated: true },
      ]);
      expect(await store.jobSummary('job-1')).toEqual({
        jobId: 'job-1',
        records: 4,
        valid: 2,
        invalid: 2,
        warningsOnly: 1,
        truncated: 1,
        violations: 5,
        byRule: [
          { ruleId: 'e', severity: 'error', records: 2, violations: 3 },
          { ruleId: 'w', severity: 'warning', records: 2, violations: 2 },
        ],
        byField: [
          { path: '/c', records: 2, violations: 2 },
          { path: '/items/0/b', records: 2, violations: 2 },
          { path: '/items/1/b', records: 1, violations: 1 },
        ],
        byFieldTruncated: false,
        bySeverity: [
          { severity: 'error', records: 2, violations: 3 },
          { severity: 'warning', records: 2, violations: 2 },
        ],
      });
      expect(await store.jobSummary('ghost')).toBeUndefined();
    });
  });

  describe('dead-letter queue', () => {
    const entry = (id: string, offset: number, jobId?: string) => ({
      id,
      ...(jobId === undefined ? {} : { jobId, recordNumber: offset }),
      topic: 'validation.requests',
      partition: 2,
      offset,
      reason: `invalid JSON at byte ${offset}`,
      code: 'invalid_json',
      payload: Buffer.from(`{"bad": ${offset}`),
      createdAt: 1000 + offset,
    });

    it('keeps one entry per topic, partition and offset, under the id it was first given', async () => {
      const store = await storeWithJobs(['job-1']);
      expect(await store.addDlq(entry('d1', 10, 'job-1'))).toEqual({ id: 'd1', created: true });
      expect(await store.addDlq(entry('d1-redelivered', 10, 'job-1'))).toEqual({ id: 'd1', created: false });
      expect(await store.addDlq(entry('d1', 10, 'job-1'))).toEqual({ id: 'd1', created: false });
      expect((await store.listDlq({ limit: 10 })).items.map((item) => item.id)).toEqual(['d1']);
      const clash = await storeError(() => store.addDlq(entry('d1', 11)));
      expect(clash.code).toBe('DLQ_ID_CONFLICT');
      expect(clash.message).toBe('DLQ entry "d1" already exists for validation.requests/2@10, not validation.requests/2@11: use a new id');

      expect(await store.getDlq('d1')).toEqual({
        id: 'd1',
        jobId: 'job-1',
        recordNumber: 10,
        topic: 'validation.requests',
        partition: 2,
        offset: 10,
        reason: 'invalid JSON at byte 10',
        code: 'invalid_json',
        payload: Buffer.from('{"bad": 10'),
        payloadSize: 10,
        payloadTruncated: false,
        createdAt: 1010,
        replayedAt: null,
      });
      await store.markDlqReplayed('d1', 5000);
      expect((await store.getDlq('d1'))?.replayedAt).toBe(5000);
      expect((await storeError(() => store.markDlqReplayed('nope', 1))).code).toBe('DLQ_NOT_FOUND');
      expect(await store.getDlq('nope')).toBeUndefined();
    });

    it('adds a batch of entries in one transaction: redeliveries answer the first entry, a conflict stores none', async () => {
      const store = await storeWithJobs(['job-1']);
      expect(await store.addDlqBatch([])).toEqual([]);
      expect(await store.addDlqBatch([entry('d1', 10, 'job-1'), entry('d2', 11), entry('d1-again', 10, 'job-1')])).toEqual([
        { id: 'd1', created: true },
        { id: 'd2', created: true },
        { id: 'd1', created: false },
      ]);
      const clash = await storeError(() => store.addDlqBatch([entry('d3', 12), entry('d2', 13)]));
      expect(clash.code).toBe('DLQ_ID_CONFLICT');
      expect((await store.listDlq({ limit: 10 })).items.map((item) => item.id)).toEqual(['d2', 'd1']);
      expect((await storeError(() => store.addDlqBatch([entry('', 14)]))).code).toBe('INVALID_ARGUMENT');
    });

    it('cuts payloads to the cap and keeps the size they had', async () => {
      const store = await storeWithJobs([], { maxDlqPayloadBytes: 4 });
      await store.addDlq(entry('d1', 1234567));
      const stored = await store.getDlq('d1');
      expect([stored?.payload, stored?.payloadSize, stored?.payloadTruncated]).toEqual([Buffer.from('{"ba'), 15, true]);
    });

    it('lists newest first, page by page, for one job or all', async () => {
      const store = await storeWithJobs(['job-1']);
      for (let offset = 1; offset <= 7; offset++) await store.addDlq(entry(`d${offset}`, offset, offset % 2 === 0 ? 'job-1' : undefined));
      const ids = async (jobId?: string) => {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.listDlq({ limit: 2, ...(jobId === undefined ? {} : { jobId }), ...(cursor === undefined ? {} : { cursor }) });
          seen.push(...page.items.map((item) => item.id));
          cursor = page.nextCursor ?? undefined;
        } while (cursor !== undefined);
        return seen;
      };
      expect(await ids()).toEqual(['d7', 'd6', 'd5', 'd4', 'd3', 'd2', 'd1']);
      expect(await ids('job-1')).toEqual(['d6', 'd4', 'd2']);
    });
  });

  describe('closing', () => {
    it('refuses calls after close', async () => {
      const store = await storeWithJobs(['job-1']);
      await store.close();
      const error = await storeError(() => store.getJob('job-1'));
      expect(error.code).toBe('STORE_CLOSED');
    });
  });

  describe('claimUnique', () => {
    const claim = (ruleId: string, key: string, recordNumber: number) => ({ ruleId, key, recordNumber });

    it('gives a value to the first record that claims it; its redelivery is not a duplicate, a later record is', async () => {
      const store = await storeWithJobs(['job-1', 'job-2']);
      expect(await store.claimUnique('job-1', [])).toEqual([]);
      expect(await store.claimUnique('job-1', [claim('id.unique', '"A"', 1), claim('id.unique', '"B"', 2), claim('id.unique', '"A"', 3)])).toEqual([
        false,
        false,
        true,
      ]);
      // redeliveries of the same records answer the same
      expect(await store.claimUnique('job-1', [claim('id.unique', '"A"', 3), claim('id.unique', '"A"', 1)])).toEqual([true, false]);
      // rules and jobs are separate
      expect(await store.claimUnique('job-1', [claim('email.unique', '"A"', 3)])).toEqual([false]);
      expect(await store.claimUnique('job-2', [claim('id.unique', '"A"', 9)])).toEqual([false]);
    });

    it('is first writer wins across handles, as between two workers', async () => {
      const first = await storeWithJobs(['job-1']);
      const second = await harness.another(first);
      const [a, b] = await Promise.all([
        first.claimUnique('job-1', [claim('id.unique', '"X"', 10)]),
        second.claimUnique('job-1', [claim('id.unique', '"X"', 20)]),
      ]);
      // exactly one of the two records owns the value, and both handles agree which
      expect([a[0], b[0]].filter((duplicate) => duplicate === false)).toHaveLength(1);
      const owner = a[0] === false ? 10 : 20;
      expect(await first.claimUnique('job-1', [claim('id.unique', '"X"', owner)])).toEqual([false]);
      expect(await second.claimUnique('job-1', [claim('id.unique', '"X"', 30 - owner)])).toEqual([true]);
    });

    it('tells long values apart', async () => {
      const store = await storeWithJobs(['job-1']);
      const long = 'x'.repeat(5000);
      expect(await store.claimUnique('job-1', [claim('r', long, 1), claim('r', `${long}y`, 2), claim('r', long, 3)])).toEqual([false, false, true]);
    });

    it('needs the job to exist', async () => {
      const store = await storeWithJobs([]);
      expect((await storeError(() => store.claimUnique('ghost', [claim('r', '"A"', 1)]))).code).toBe('JOB_NOT_FOUND');
    });
  });
}
