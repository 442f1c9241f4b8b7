import { canonicalJson } from '@lagscale/validator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from './fuzz-settings.js';

/**
 * canonicalJson (how stores compare a rule set version saved again): it reads back as the same
 * value, does not depend on the order keys were written in, is its own fixed point, and keeps a
 * "__proto__" key that JSON.parse made an own property.
 */

/** The same value with every object's keys in the reverse order, built through JSON text as a parser would. */
function reordered(value: unknown): unknown {
  const text = JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) return inner;
    // fromEntries defines own properties, so a "__proto__" key stays a key.
    return Object.fromEntries(Object.entries(inner).reverse());
  });
  return JSON.parse(text);
}

const document = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  // Keys a JSON document may really hold, "__proto__" included (JSON.parse makes it an own key).
  fc
    .dictionary(fc.constantFrom('__proto__', 'constructor', 'a', 'b', 'é', '', 'toString'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 })
    .map((object) => JSON.parse(JSON.stringify(object)) as unknown),
  fc.constantFrom('{"__proto__":{"b":1,"a":2},"z":[{"y":1,"x":2}]}', '{"b":1,"a":{"__proto__":null}}').map((text) => JSON.parse(text) as unknown),
);

describe('canonicalJson, property-based', () => {
  it('reads back as the same value, whatever the key order, and is its own fixed point', () => {
    checkProperty(
      'canonicalJson round trip',
      1000,
      fc.property(document, (value) => {
        const canonical = canonicalJson(value);
        const back = JSON.parse(canonical) as unknown;
        // Same value: the same canonical text, and the same JSON once keys are sorted either way.
        expect(canonicalJson(back)).toBe(canonical);
        expect(canonicalJson(reordered(value))).toBe(canonical);
        expect(JSON.stringify(back)).toBe(JSON.stringify(JSON.parse(canonical)));
        // Nothing vanishes: as many keys in the text as in the value.
        const keys = (v: unknown): number =>
          v === null || typeof v !== 'object'
            ? 0
            : Object.keys(v).length * (Array.isArray(v) ? 0 : 1) + Object.values(v).reduce((n: number, inner) => n + keys(inner), 0);
        expect(keys(back)).toBe(keys(value));
      }),
    );
  });
});
