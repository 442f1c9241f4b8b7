/**
 * Records per second of validateRecord on the orders example with generated records (about one
 * in eight carries a mistake), on one core. Also decode + validate from NDJSON bytes.
 *   npx tsx packages/validator/scripts/measure-rules.ts [records]
 */
import { readFileSync } from 'node:fs';
import { compileRuleSet, decodeRecord, InMemoryUniquenessTracker, validateRecord } from '../src/index.js';

const count = Number(process.argv[2] ?? 100_000);
const ruleSet = compileRuleSet(JSON.parse(readFileSync(new URL('../examples/orders.ruleset.json', import.meta.url), 'utf8')));

// Deterministic generator (mulberry32) so runs compare.
let seed = 42;
const random = (): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
const countries = ['PT', 'DE', 'FR', 'US', 'GB', 'ES', 'NL', 'SE'];
const statuses = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'];

function order(n: number): Record<string, unknown> {
  const items = Array.from({ length: 1 + Math.floor(random() * 4) }, () => ({
    sku: `SKU-${String(Math.floor(random() * 100_000)).padStart(5, '0')}`,
    quantity: 1 + Math.floor(random() * 5),
    unit_price: Math.round(random() * 20_000) / 100,
  }));
  const subtotal = Math.round(items.reduce((sum, item) => sum + item.quantity * item.unit_price, 0) * 100) / 100;
  const discount = random() < 0.2 ? Math.round(subtotal * 10) / 100 : 0;
  const shipping = 4.99;
  const tax = Math.round((subtotal - discount) * 23) / 100;
  const status = pick(statuses);
  const country = pick(countries);
  const created = Date.UTC(2024, 0, 1) + Math.floor(random() * 300) * 86_400_000;
  const record: Record<string, unknown> = {
    order_id: `ORD-2024-${String(n).padStart(6, '0')}`,
    created_at: new Date(created).toISOString(),
    status,
    channel: pick(['web', 'app', 'store', 'phone']),
    customer: { id: `C-${n % 5000}`, email: `customer${n % 5000}@example.com`, name: 'Ana Lima', phone: '+351912345678', country },
    currency: 'EUR',
    items,
    subtotal,
    discount,
    shipping,
    tax,
    total: Math.round((subtotal - discount + shipping + tax) * 100) / 100,
    coupon: discount > 0 ? 'SPRING10' : null,
    shipped_at: status === 'shipped' || status === 'delivered' ? new Date(created + 2 * 86_400_000).toISOString() : null,
    shipping_address: { line1: 'Rua Augusta 1', city: 'Lisboa', postal_code: country === 'PT' ? '1100-148' : '10115', country },
  };
  // About one record in eight gets one mistake.
  switch (Math.floor(random() * 64)) {
    case 0:
      record.total = (record.total as number) + 1;
      break;
    case 1:
      record.currency = 'XXX';
      break;
    case 2:
      (record.customer as Record<string, unknown>).email = 'not-an-email';
      break;
    case 3:
      record.items = [];
      break;
    case 4:
      record.order_id = `ORD-2024-${String(n - 1).padStart(6, '0')}`;
      break;
    case 5:
      delete record.subtotal;
      break;
    case 6:
      (items[0] as Record<string, unknown>).quantity = 0;
      break;
    case 7:
      record.status = 'lost';
      break;
  }
  return record;
}

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
