import { readFileSync } from 'node:fs';
import { compileRuleSet, InMemoryUniquenessTracker, validateRecord } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';

const example = JSON.parse(readFileSync(new URL('../../examples/orders.ruleset.json', import.meta.url), 'utf8'));
const compiled = compileRuleSet(example);
const NOW = Date.UTC(2025, 0, 1);

const goodOrder = () => ({
  order_id: 'ORD-2024-000123',
  created_at: '2024-05-01T10:15:00Z',
  status: 'shipped',
  channel: 'web',
  customer: { id: 'C-10023', email: 'ana@example.com', name: 'Ana Lima', phone: '+351912345678', country: 'PT' },
  currency: 'EUR',
  items: [
    { sku: 'SKU-00042', quantity: 2, unit_price: 19.99 },
    { sku: 'SKU-01000', quantity: 1, unit_price: 5 },
  ],
  subtotal: 44.98,
  discount: 4.5,
  shipping: 4.99,
  tax: 9.31,
  total: 54.78,
  coupon: 'SPRING10',
  shipped_at: '2024-05-03T08:00:00Z',
  shipping_address: { line1: 'Rua Augusta 1', city: 'Lisboa', postal_code: '1100-148', country: 'PT' },
});

function violations(order: unknown, recordNumber = 1, uniqueness = new InMemoryUniquenessTracker()): string[] {
  return validateRecord(compiled, order, { jobId: 'orders-1', recordNumber, uniqueness, now: NOW }).violations.map(
    (v) => `${v.severity} ${v.ruleId} ${v.path}: ${v.message}`,
  );
}

describe('examples/orders.ruleset.json', () => {
  it('is a realistic rule set of about twenty rules that compiles', () => {
    expect(compiled.name).toBe('customer-orders');
    expect(compiled.rules.length).toBeGreaterThanOrEqual(20);
  });

  it('passes a good order', () => {
    expect(violations(goodOrder())).toEqual([]);
  });

  it('finds what is wrong with a bad order, rule by rule', () => {
    const order = goodOrder();
    Object.assign(order, { status: 'cancelled', currency: 'ESC', total: 60, created_at: '2025-03-01T00:00:00Z', coupon: 'spring-10' });
    Object.assign(order.customer, { email: 'ana(at)example.com', country: 'XX', phone: '912345678' });
    order.items.push({ sku: 'sku-7', quantity: 0, unit_price: -1 });
    expect(violations(order)).toEqual([
      'error created-at.not-future /created_at: created_at is in the future',
      'error customer.email.format /customer/email: does not match the pattern [^@\\s]+@[^@\\s]+\\.[a-z]{2,}',
      'warning customer.phone.e164 /customer/phone: does not match the pattern \\+[1-9][0-9]{6,14}',
      'error customer.country.known /customer/country: is not in the reference list "countries"',
      'error currency.known /currency: is not in the reference list "currencies"',
      'error items.sku.format /items/2/sku: does not match the pattern SKU-[0-9]{5}',
      'error items.quantity.range /items/2/quantity: must be >= 1, got 0',
      'error items.unit-price.range /items/2/unit_price: must be >= 0, got -1',
      'error total.adds-up /total: total must equal subtotal - discount + shipping + tax',
      'error shipped-at.after-created /shipped_at: shipped_at is before created_at',
      'error cancelled.not-shipped /status: a cancelled order cannot have shipped',
      'warning coupon.format /coupon: does not match the pattern [A-Z0-9]{4,16}',
    ]);
  });

  it('checks the shape with the schema and conditional rules with `when`', () => {
    const order: Record<string, unknown> = goodOrder();
    delete order.subtotal;
    (order.shipping_address as Record<string, unknown>).postal_code = undefined;
    expect(violations(JSON.parse(JSON.stringify(order)))).toEqual([
      'error schema:required /subtotal: is required',
      'error shipping-address.postal-code.required /shipping_address/postal_code: shipped orders need a postal code',
    ]);
    const pending = { ...goodOrder(), status: 'pending', shipped_at: null, shipping_address: { country: 'PT', postal_code: '1100148' } };
    expect(violations(pending)).toEqual(['error shipping-address.postal-code.pt /shipping_address/postal_code: does not match the pattern [0-9]{4}-[0-9]{3}']);
  });

  it('flags a repeated order_id within the upload', () => {
    const uniqueness = new InMemoryUniquenessTracker();
    expect(violations(goodOrder(), 1, uniqueness)).toEqual([]);
    expect(violations(goodOrder(), 2, uniqueness)).toEqual(['error order-id.unique /order_id: order_id appears twice in this upload']);
  });

  it('is the example shown in README.md', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /```json\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    expect(JSON.parse(block as string)).toEqual(example);
  });
});
