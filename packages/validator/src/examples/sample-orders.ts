/**
 * Order records for the orders example rule set (examples/orders.ruleset.json), shaped like a
 * shop's exports: varied items, statuses, countries, discounts and shipping dates, with a share of
 * records that break an error rule on purpose. Deterministic (mulberry32 from a seed) so runs
 * compare. The demo, the worker tests and bench/validator-throughput use it.
 */

export interface SampleOrderOptions {
  /** Seed of the generator. Default 42. */
  readonly seed?: number;
  /** One record in this many breaks one rule (about 4% by default). 0: none. */
  readonly invalidEvery?: number;
  /** The earlier record whose order_id this record repeats (the `order-id.unique` rule flags one of the two), if any. */
  readonly duplicateOf?: (recordNumber: number) => number | undefined;
}

const COUNTRIES = ['PT', 'DE', 'FR', 'US', 'GB', 'ES', 'NL', 'SE', 'IT', 'PL'];
const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'];
const CHANNELS = ['web', 'app', 'store', 'phone'];
const CURRENCIES = ['EUR', 'EUR', 'EUR', 'USD', 'GBP', 'SEK'];
const NAMES = ['Ana Lima', 'Jonas Weber', 'Claire Martin', 'Sam Taylor', 'Lucía García', 'Piet de Vries', 'Karin Berg'];
const CITIES = ['Lisboa', 'Berlin', 'Paris', 'Boston', 'London', 'Madrid', 'Utrecht', 'Malmö', 'Milano', 'Kraków'];

export class SampleOrders {
  #seed: number;
  readonly #invalidEvery: number;
  readonly #duplicateOf: (recordNumber: number) => number | undefined;

  constructor(options: SampleOrderOptions = {}) {
    this.#seed = options.seed ?? 42;
    this.#invalidEvery = options.invalidEvery ?? 25;
    this.#duplicateOf = options.duplicateOf ?? (() => undefined);
  }

  /** One order; `invalid` when a mistake that breaks an error rule was put in. */
  order(n: number): { record: Record<string, unknown>; invalid: boolean } {
    const random = (): number => this.#random();
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
    const items = Array.from({ length: 1 + Math.floor(random() * 4) }, () => ({
      sku: `SKU-${String(Math.floor(random() * 100_000)).padStart(5, '0')}`,
      quantity: 1 + Math.floor(random() * 5),
      unit_price: Math.round(random() * 20_000) / 100,
    }));
    const subtotal = Math.round(items.reduce((sum, item) => sum + item.quantity * item.unit_price, 0) * 100) / 100;
    const discount = random() < 0.2 ? Math.round(subtotal * 10) / 100 : 0;
    const shipping = random() < 0.3 ? 0 : 4.99;
    const tax = Math.round((subtotal - discount) * 23) / 100;
    const status = pick(STATUSES);
    const country = pick(COUNTRIES);
    const created = Date.UTC(2024, 0, 1) + Math.floor(random() * 300) * 86_400_000 + Math.floor(random() * 86_400) * 1000;
    const customer = n % 5000;
    const record: Record<string, unknown> = {
      order_id: `ORD-2024-${String((this.#duplicateOf(n) ?? n) % 1_000_000).padStart(6, '0')}`,
      created_at: new Date(created).toISOString(),
      status,
      channel: pick(CHANNELS),
      customer: {
        id: `C-${customer}`,
        email: `customer${customer}@example.com`,
        name: pick(NAMES),
        phone: random() < 0.2 ? null : `+3519${String(10_000_000 + customer).slice(0, 8)}`,
        country,
      },
      currency: pick(CURRENCIES),
      items,
      subtotal,
      discount,
      shipping,
      tax,
      total: Math.round((subtotal - discount + shipping + tax) * 100) / 100,
      // some coupons are typed in lower case: a warning, the record stays valid
      coupon: discount > 0 ? (n % 3 === 0 ? 'spring10' : 'SPRING10') : null,
      shipped_at: status === 'shipped' || status === 'delivered' ? new Date(created + 2 * 86_400_000).toISOString() : null,
      shipping_address: {
        line1: `Rua Augusta ${1 + (n % 200)}`,
        city: pick(CITIES),
        postal_code: country === 'PT' ? `1100-${String(100 + (n % 900))}` : String(10_000 + (n % 90_000)),
        country,
      },
    };
    if (this.#invalidEvery === 0 || n % this.#invalidEvery !== 0) return { record, invalid: false };
    // Each mistake breaks a rule of severity error.
    switch (Math.floor(n / this.#invalidEvery) % 7) {
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
        delete record.subtotal;
        break;
      case 5:
        (items[0] as Record<string, unknown>).quantity = 0;
        break;
      default:
        record.status = 'lost';
        break;
    }
    return { record, invalid: true };
  }

  #random(): number {
    this.#seed = (this.#seed + 0x6d2b79f5) | 0;
    let t = Math.imul(this.#seed ^ (this.#seed >>> 15), 1 | this.#seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
