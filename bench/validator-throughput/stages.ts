/**
 * Per-stage CPU cost of the validation worker's batch work, without Kafka: envelope decode, record
 * decode, rule run, store upsert, result encode. One core, in-process. Prints µs per record.
 *   npx tsx bench/validator-throughput/stages.ts   (env: RECORDS)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileRuleSet, decodeRecord, decodeRequest, encodeResult, InMemoryUniquenessTracker, SqliteResultStore, validateRecord } from '@lagscale/validator';
import { OrderRecords } from '../../packages/validator/test/worker/order-records.js';

const RECORDS = Number(process.env.RECORDS ?? 100_000);
const RULE_SET_FILE = fileURLToPath(new URL('../../packages/validator/examples/orders.ruleset.json', import.meta.url));
const doc = JSON.parse(readFileSync(RULE_SET_FILE, 'utf8')) as { name: string; version: number };
const gen = new OrderRecords();
const messages = Array.from({ length: RECORDS }, (_, i) => gen.request('job', doc.name, i + 1, false).message);
const compiled = compileRuleSet(doc as never);
const time = (name: string, fn: () => void): void => {
  fn();
  const start = performance.now();
  fn();
  const ms = performance.now() - start;
  console.log(`${name.padEnd(28)} ${((ms * 1000) / RECORDS).toFixed(2)} µs/record`);
};
const requests = messages.map((m) => decodeRequest(m as never));
time('decodeRequest', () => {
  for (const m of messages) decodeRequest(m as never);
});
const values = requests.map((r) => (r.ok ? r.value : Buffer.alloc(0)));
time('decodeRecord', () => {
  for (const v of values) decodeRecord(v, { maxBytes: 1 << 20, maxDepth: 64 });
});
time('JSON.parse(toString)', () => {
  for (const v of values) JSON.parse(v.toString('utf8'));
});
const decoded = values.map((v) => {
  const d = decodeRecord(v, { maxBytes: 1 << 20, maxDepth: 64 });
  if (!d.ok) throw new Error('bad');
  return d.value;
});
let uniqueness = new InMemoryUniquenessTracker();
time('validateRecord', () => {
  uniqueness = new InMemoryUniquenessTracker();
  decoded.forEach((value, i) => {
    validateRecord(compiled, value, { jobId: 'job', recordNumber: i + 1, uniqueness, now: 0 });
  });
});
uniqueness = new InMemoryUniquenessTracker();
const results = decoded.map((value, i) => validateRecord(compiled, value, { jobId: 'job', recordNumber: i + 1, uniqueness, now: 0 }));
time('encodeResult', () => {
  results.forEach((result, i) => {
    encodeResult({
      jobId: 'job',
      recordNumber: i + 1,
      ruleSet: { name: doc.name, version: 1 },
      result,
      validatedAt: 0,
      source: { topic: 't', partition: 0, offset: BigInt(i) },
    });
  });
});
const dir = mkdtempSync(join(tmpdir(), 'stages-'));
const store = SqliteResultStore.open(join(dir, 's.db'), { backgroundCheckpoint: process.env.BG === '1' });
await store.saveRuleSet(doc.name, doc.version, doc as never, Date.now());
await store.createJob({ id: 'job', ruleSet: doc.name, ruleSetVersion: doc.version, total: RECORDS, createdAt: 0, source: 'bench' });
const inputs = results.map((result, i) => ({
  jobId: 'job',
  recordNumber: i + 1,
  valid: result.valid,
  violations: result.violations,
  record: values[i]?.toString('utf8'),
}));
let round = 0;
const upsert = async (): Promise<void> => {
  const start = performance.now();
  for (let i = 0; i < inputs.length; i += 500)
    await store.upsertResults(inputs.slice(i, i + 500).map((r) => ({ ...r, recordNumber: r.recordNumber + round * RECORDS })));
  round++;
  console.log(`${'store.upsertResults (500)'.padEnd(28)} ${(((performance.now() - start) * 1000) / RECORDS).toFixed(2)} µs/record`);
};
await upsert();
await upsert();
await store.close();
rmSync(dir, { recursive: true, force: true });
{
  const dir2 = mkdtempSync(join(tmpdir(), 'stages-'));
  const s2 = SqliteResultStore.open(join(dir2, 's.db'), { backgroundCheckpoint: process.env.BG === '1' });
  await s2.saveRuleSet(doc.name, doc.version, doc as never, Date.now());
  await s2.createJob({ id: 'job', ruleSet: doc.name, ruleSetVersion: doc.version, total: RECORDS, createdAt: 0, source: 'bench' });
  for (const [name, map] of [
    ['no violations, no record', (r: (typeof inputs)[number]) => ({ ...r, violations: [], valid: true, record: undefined })],
    ['no violations', (r: (typeof inputs)[number]) => ({ ...r, violations: [], valid: true })],
    ['as is', (r: (typeof inputs)[number]) => r],
  ] as const) {
    const start = performance.now();
    for (let i = 0; i < inputs.length; i += 500)
      await s2.upsertResults(inputs.slice(i, i + 500).map((r) => ({ ...map(r), recordNumber: r.recordNumber + round * RECORDS })));
    round++;
    console.log(`${`upsert ${name}`.padEnd(28)} ${(((performance.now() - start) * 1000) / RECORDS).toFixed(2)} µs/record`);
  }
  await s2.close();
  rmSync(dir2, { recursive: true, force: true });
}
