/**
 * Records per second of validateRecord on the orders example with generated records (about one
 * in eight carries a mistake), on one core. Also decode + validate from NDJSON bytes.
 *   npx tsx packages/validator/scripts/measure-rules.ts [records]
 */
import { readFileSync } from 'node:fs';
import { compileRuleSet, decodeRecord, InMemoryUniquenessTracker, SampleOrders, validateRecord } from '../src/index.js';

const count = Number(process.argv[2] ?? 100_000);
const ruleSet = compileRuleSet(JSON.parse(readFileSync(new URL('../examples/orders.ruleset.json', import.meta.url), 'utf8')));

// One record in eight carries a mistake; every 50th repeats an earlier order id.
const orders = new SampleOrders({ invalidEvery: 8, duplicateOf: (n) => (n % 50 === 0 ? n - 1 : undefined) });
const order = (n: number): Record<string, unknown> => orders.order(n + 1).record;

const records = Array.from({ length: count }, (_, n) => order(n));
const lines = records.map((record) => Buffer.from(JSON.stringify(record)));
const limits = { maxBytes: 1 << 20, maxDepth: 64 };

function run(decode: boolean): { seconds: number; invalid: number; violations: number } {
  const uniqueness = new InMemoryUniquenessTracker();
  let invalid = 0;
  let violations = 0;
  const start = process.hrtime.bigint();
  for (let n = 0; n < count; n++) {
    let record: unknown = records[n];
    if (decode) {
      const decoded = decodeRecord(lines[n] as Buffer, limits);
      if (!decoded.ok) throw new Error(decoded.reason);
      record = decoded.value;
    }
    const result = validateRecord(ruleSet, record, { jobId: 'measure', recordNumber: n, uniqueness, now: Date.UTC(2025, 0, 1) });
    if (!result.valid) invalid++;
    violations += result.violations.length;
  }
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, invalid, violations };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
for (const decode of [false, true]) {
  run(decode); // warm-up
  const rounds = [run(decode), run(decode), run(decode)];
  const rates = rounds.map((round) => count / round.seconds);
  const { invalid, violations } = rounds[0] as { invalid: number; violations: number };
  const label = decode ? 'decodeRecord + validateRecord' : 'validateRecord';
  console.log(
    `${label}: ${Math.round(median(rates)).toLocaleString('en')} records/s (median of 3 runs of ${count.toLocaleString('en')}; ` +
      `${ruleSet.rules.length} rules + schema; ${invalid} invalid, ${violations} violations)`,
  );
}
