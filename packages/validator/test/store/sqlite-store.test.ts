import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compileRuleSet,
  MIGRATIONS,
  type ResultInput,
  type RuleSetDocument,
  SCHEMA_VERSION,
  SqliteResultStore,
  type SqliteResultStoreOptions,
  validateRecord,
} from '@lagscale/validator';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { random } from './results-oracle.js';
import { describeStoreContract, storeError } from './store-contract.js';

let dir: string;
const opened: SqliteResultStore[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lagscale-store-'));
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(options: SqliteResultStoreOptions = {}, file = join(dir, 'results.db')): SqliteResultStore {
  const store = SqliteResultStore.open(file, options);
  opened.push(store);
  return store;
}

describeStoreContract({
  open: async (options = {}) => open(options),
  another: async () => open({}, join(dir, 'results.db')),
});

function document(name: string, version: number, extra: Partial<RuleSetDocument> = {}): RuleSetDocument {
  return { name, version, rules: [{ id: 'a.required', severity: 'error', type: 'required', field: '/a' }], ...extra };
}

/** A store with rule set "orders" v1 and the given jobs (total null). */
async function storeWithJobs(jobIds: readonly string[], options: SqliteResultStoreOptions = {}): Promise<SqliteResultStore> {
  const store = open(options);
  await store.saveRuleSet('orders', 1, document('orders', 1), 1000);
  for (const [index, id] of jobIds.entries()) {
    await store.createJob({ id, ruleSet: 'orders', ruleSetVersion: 1, total: null, createdAt: 2000 + index, source: 'test' });
  }
  return store;
}

describe('migrations', () => {
  it('creates the schema in an empty file, in WAL mode, and applies nothing when reopened', async () => {
    const file = join(dir, 'results.db');
    const first = open({}, file);
    expect(first.migrationsApplied).toEqual(MIGRATIONS.map((migration) => migration.version));
    expect(first.schemaVersion).toBe(SCHEMA_VERSION);
    expect(first.textSearch).toBe('fts5');
    await first.saveRuleSet('orders', 1, document('orders', 1), 1000);
    await first.close();

    const raw = new Database(file, { readonly: true });
    const applied = raw.prepare('SELECT version, description, applied_at FROM schema_migrations ORDER BY version').all();
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    expect(applied.map((row) => (row as { version: number }).version)).toEqual([1, 2, 3]);

    const second = open({}, file);
    expect(second.migrationsApplied).toEqual([]);
    expect((await second.getRuleSet('orders'))?.version).toBe(1);
    await second.close();
    const again = new Database(file, { readonly: true });
    expect(again.prepare('SELECT version, description, applied_at FROM schema_migrations ORDER BY version').all()).toEqual(applied);
    again.close();
  });

  it('upgrades a database that has only the first step, indexing the messages it already has', async () => {
    const file = join(dir, 'old.db');
    const raw = new Database(file);
    raw.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const firstStep = MIGRATIONS[0];
    if (firstStep === undefined) throw new Error('no migrations');
    firstStep.up(raw, { fts5: true });
    raw.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(firstStep.version, firstStep.description, 1);
    raw.exec(`INSERT INTO rule_sets VALUES ('orders', 1, '{}', 1);
      INSERT INTO jobs (job_key, id, rule_set, rule_set_version, total, created_at, source, result_count, valid_count, violation_count) VALUES (1, 'old-job', 'orders', 1, 1, 1, 'test', 1, 0, 1);
      INSERT INTO results VALUES (1, 1, 0, 1, 0, 0, NULL, 0);
      INSERT INTO messages VALUES (1, 'is not in the reference list "currencies"');
      INSERT INTO violations VALUES (1, 1, 0, 'currency.known', 'error', '/currency', 1);`);
    raw.close();

    const store = open({}, file);
    expect(store.migrationsApplied).toEqual([2, 3]);
    const page = await store.searchResults({ jobId: 'old-job', text: 'REFERENCE list', limit: 10 });
    expect(page.items.map((item) => item.violations)).toEqual([
      [{ ruleId: 'currency.known', severity: 'error', path: '/currency', message: 'is not in the reference list "currencies"' }],
    ]);
  });

  it('refuses a database written by a newer version, saying what to do', async () => {
    const file = join(dir, 'results.db');
    await open({}, file).close();
    const raw = new Database(file);
    raw.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(SCHEMA_VERSION + 1, 'from the future', 1);
    raw.close();
    const error = await storeError(() => SqliteResultStore.open(file));
    expect(error.code).toBe('SCHEMA_TOO_NEW');
    expect(error.message).toBe(
      `result store ${file} has schema version ${SCHEMA_VERSION + 1}, written by a newer lagscale; this one knows up to version ${SCHEMA_VERSION}: upgrade lagscale, or point it at another file`,
    );
  });
});

describe('background checkpoint', () => {
  it('copies committed pages into the database file from its thread, below the 1,000-page threshold', async () => {
    const file = join(dir, 'checkpointed.db');
    // With the thread: the file grows past 1 MB by itself (polled: on busy cores the thread may
    // take longer than its 100 ms). Without it: the file stays small for at least as long.
    let waited = 0;
    for (const background of [true, false]) {
      const path = `${file}.${background}`;
      const store = open({ backgroundCheckpoint: background }, path);
      await store.saveRuleSet('orders', 1, document('orders', 1), 1000);
      await store.createJob({ id: 'job-1', ruleSet: 'orders', ruleSetVersion: 1, total: null, createdAt: 2000, source: 'test' });
      // a few hundred pages of WAL: under the automatic checkpoint's 1,000
      for (let batch = 0; batch < 20; batch++) {
        await store.upsertResults(
          Array.from({ length: 100 }, (_, i) => ({ jobId: 'job-1', recordNumber: batch * 100 + i + 1, valid: true, violations: [], record: 'x'.repeat(1000) })),
        );
      }
      const started = Date.now();
      if (background) {
        await expect.poll(() => statSync(path).size, { timeout: 10_000, interval: 50 }).toBeGreaterThan(1_000_000);
        waited = Date.now() - started;
      } else {
        await new Promise((resolve) => setTimeout(resolve, Math.max(400, waited)));
        expect(statSync(path).size).toBeLessThan(200_000);
      }
      await store.close();
    }
  });
});

describe('uniqueness tracker', () => {
  it('answers like the in-memory tracker: the first record owns a value, and its redelivery is not a duplicate', async () => {
    const store = await storeWithJobs(['job-1', 'job-2']);
    const tracker = store.uniquenessTracker('job-1');
    expect(tracker.seen('id.unique', '"A"', 1)).toBe(false);
    expect(tracker.seen('id.unique', '"A"', 1)).toBe(false); // record 1 redelivered
    expect(tracker.seen('id.unique', '"A"', 2)).toBe(true);
    expect(tracker.seen('id.unique', '"A"', 2)).toBe(true); // record 2 redelivered: still a duplicate
    expect(tracker.seen('email.unique', '"A"', 2)).toBe(false); // rules are separate
    expect(store.uniquenessTracker('job-2').seen('id.unique', '"A"', 2)).toBe(false); // so are jobs
  });

  it('is shared by every process that opens the file', async () => {
    const file = join(dir, 'results.db');
    const first = await storeWithJobs(['job-1']);
    const second = open({}, file);
    expect(first.uniquenessTracker('job-1').seen('id.unique', '"A"', 1)).toBe(false);
    expect(second.uniquenessTracker('job-1').seen('id.unique', '"A"', 3)).toBe(true);
    expect(second.uniquenessTracker('job-1').seen('id.unique', '"A"', 1)).toBe(false);
  });

  it('tells long values apart (they are stored hashed)', async () => {
    const tracker = (await storeWithJobs(['job-1'])).uniquenessTracker('job-1');
    const long = 'x'.repeat(5000);
    expect(tracker.seen('r', long, 1)).toBe(false);
    expect(tracker.seen('r', `${long}y`, 2)).toBe(false);
    expect(tracker.seen('r', long, 3)).toBe(true);
    expect(tracker.seen('r', long, 1)).toBe(false);
  });

  it('backs unique rules of the rule engine, across a redelivery', async () => {
    const store = await storeWithJobs(['job-1']);
    const compiled = compileRuleSet({ name: 'ids', version: 1, rules: [{ id: 'id.unique', severity: 'error', type: 'unique', field: '/id' }] });
    const uniqueness = store.uniquenessTracker('job-1');
    const run = (recordNumber: number, record: unknown) => validateRecord(compiled, record, { jobId: 'job-1', recordNumber, uniqueness });
    expect(run(1, { id: 'A' }).valid).toBe(true);
    expect(run(2, { id: 'B' }).valid).toBe(true);
    expect(run(3, { id: 'A' }).violations).toEqual([{ ruleId: 'id.unique', severity: 'error', path: '/id', message: 'duplicate value within the job' }]);
    expect(run(1, { id: 'A' }).valid).toBe(true); // redelivered
    expect(run(3, { id: 'A' }).valid).toBe(false); // redelivered
  });

  it('needs the job to exist', async () => {
    const store = await storeWithJobs([]);
    expect((await storeError(() => store.uniquenessTracker('ghost'))).code).toBe('JOB_NOT_FOUND');
  });
});

describe('throughput', () => {
  it('upserts 100k results in batches of 500 (printed, not asserted)', async () => {
    const store = await storeWithJobs(['job-1']);
    const next = random(99);
    const rules = [
      { ruleId: 'order-id.format', severity: 'error' as const, path: '/order_id', message: 'does not match the pattern' },
      { ruleId: 'currency.known', severity: 'error' as const, path: '/currency', message: 'is not in the reference list "currencies"' },
      { ruleId: 'items.sku.format', severity: 'error' as const, path: '/items/0/sku', message: 'does not match the pattern' },
      { ruleId: 'total.manual-review', severity: 'warning' as const, path: '/total', message: 'orders of 10000 or more need a manual review' },
    ];
    const total = 100_000;
    const batches: ResultInput[][] = [];
    for (let start = 1; start <= total; start += 500) {
      const batch: ResultInput[] = [];
      for (let recordNumber = start; recordNumber < start + 500; recordNumber++) {
        // like the orders example: about one record in eight has a mistake
        const violations = next() < 0.125 ? [rules[Math.floor(next() * rules.length)] as (typeof rules)[number]] : [];
        const record = JSON.stringify({ order_id: `ORD-2024-${String(recordNumber).padStart(6, '0')}`, currency: 'EUR', total: recordNumber % 977 });
        batch.push({ jobId: 'job-1', recordNumber, valid: !violations.some((violation) => violation.severity === 'error'), violations, record });
      }
      batches.push(batch);
    }
    const started = performance.now();
    for (const batch of batches) await store.upsertResults(batch);
    const seconds = (performance.now() - started) / 1000;
    const redeliveryStarted = performance.now();
    for (const batch of batches.slice(0, 20)) await store.upsertResults(batch);
    const redeliverySeconds = (performance.now() - redeliveryStarted) / 1000;
    const summaryStarted = performance.now();
    const summary = await store.jobSummary('job-1');
    const summaryMs = performance.now() - summaryStarted;
    const searchStarted = performance.now();
    await store.searchResults({ jobId: 'job-1', ruleId: 'currency.known', limit: 50 });
    const searchMs = performance.now() - searchStarted;
    process.stdout.write(
      `[store] upserted ${total} results in batches of 500 in ${seconds.toFixed(2)} s: ${Math.round(total / seconds)} results/s; ` +
        `10k redelivered: ${Math.round(10_000 / redeliverySeconds)} results/s; summary ${summaryMs.toFixed(1)} ms; ` +
        `search by rule with facets ${searchMs.toFixed(1)} ms\n`,
    );
    expect(summary?.records).toBe(total);
  });
});
