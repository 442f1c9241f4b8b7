import { type DecodeResult, decodeRecord } from '@lagscale/validator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from './fuzz-settings.js';

/** Properties of decodeRecord (a Kafka record value into a JSON value, or a DLQ code and reason). */

const CODES = new Set(['too_large', 'empty', 'invalid_utf8', 'too_deep', 'truncated_json', 'invalid_json']);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** What JSON.parse says of the bytes (after strict UTF-8 decoding), as the reference. */
function reference(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(strictUtf8.decode(bytes)) };
  } catch {
    return { ok: false };
  }
}

/** Deepest nesting of arrays and objects (a flat object is 1), iteratively. */
function depthOf(value: unknown): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (item === null || typeof item !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    for (const inner of Object.values(item)) pending.push([inner, depth + 1]);
  }
  return deepest;
}

/** A decode failure is one of the documented codes with a short reason that names no internals. */
function expectWellFormedFailure(result: DecodeResult): void {
  if (result.ok) return;
  expect(CODES.has(result.code), result.code).toBe(true);
  expect(result.reason.length).toBeGreaterThan(0);
  expect(result.reason.length).toBeLessThan(200);
  expect(result.reason).not.toMatch(/TypeError|RangeError|undefined|NaN|JSON\.parse rejected/);
}

const json = fc.jsonValue({ maxDepth: 6 });
const whitespace = fc.constantFrom('', ' ', '\n', '\r\n', '\t', '  \n ');
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const limits = { maxBytes: 1 << 20, maxDepth: 64 };

describe('decodeRecord, property-based', () => {
  it('never throws on arbitrary bytes, and agrees with JSON.parse wherever the depth allows', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // Mostly JSON, with a few bytes changed: the paths that JSON.parse almost accepts.
      fc
        .tuple(
          json.map((v) => Buffer.from(JSON.stringify(v))),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        )
        .map(([base, edits]) => {
          const copy = Buffer.from(base);
          for (const [at, byte] of edits) if (copy.length > 0) copy[at % copy.length] = byte;
          return copy;
        }),
    );
    checkProperty(
      'decodeRecord on arbitrary and mutated bytes',
      1000,
      fc.property(bytes, fc.integer({ min: 1, max: 8 }), (input, maxDepth) => {
        const result = decodeRecord(input, { maxBytes: 1 << 20, maxDepth });
        const expected = reference(input);
        if (result.ok) {
          expect(expected.ok).toBe(true);
          if (expected.ok) expect(JSON.stringify(result.value)).toBe(JSON.stringify(expected.value));
          expect(depthOf(result.value)).toBeLessThanOrEqual(maxDepth);
          return;
        }
        expectWellFormedFailure(result);
        if (result.code === 'too_deep') expect(expected.ok ? depthOf(expected.value) > maxDepth : true).toBe(true);
        else expect(expected.ok, result.reason).toBe(false);
      }),
    );
  });

  it('round-trips every JSON value, with any whitespace around it and an optional byte order mark', () => {
    checkProperty(
      'decodeRecord round trip of JSON values',
      1000,
      fc.property(json, whitespace, whitespace, fc.boolean(), fc.boolean(), (value, before, after, bom, pretty) => {
        const text = `${before}${JSON.stringify(value, null, pretty ? 2 : undefined)}${after}`;
        const bytes = Buffer.concat([bom ? BOM : Buffer.alloc(0), Buffer.from(text, 'utf8')]);
        const result = decodeRecord(bytes, limits);
        expect(result.ok).toBe(true);
        // Through JSON text: -0 is written as 0, as any JSON reader reads it.
        if (result.ok) expect(JSON.stringify(result.value)).toBe(JSON.stringify(value));
      }),
    );
  });

  it('never accepts a record cut short, unless the cut leaves valid JSON; a cut inside a character is invalid UTF-8', () => {
    const containers = fc.oneof(
      fc.array(json, { minLength: 1, maxLength: 5 }),
      fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), json, { minKeys: 1, maxKeys: 5 }),
    );
    checkProperty(
      'decodeRecord on truncated records',
      600,
      fc.property(containers, fc.double({ min: 0, max: 1, noNaN: true }), (value, fraction) => {
        const whole = Buffer.from(JSON.stringify(value), 'utf8');
        const cut = whole.subarray(0, Math.min(whole.length - 1, Math.floor(whole.length * fraction)));
        const result = decodeRecord(cut, limits);
        // An object or array cut anywhere before its last byte is never complete.
        expect(result.ok).toBe(false);
        expectWellFormedFailure(result);
        if (!result.ok) expect(['empty', 'truncated_json', 'invalid_utf8']).toContain(result.code);
      }),
    );
  });

  it('refuses nesting past the limit with too_deep, and accepts nesting at the limit', () => {
    // Arrays and objects nested to a chosen depth, brackets inside strings sprinkled in.
    const nested = fc
      .tuple(fc.integer({ min: 1, max: 40 }), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), fc.string({ maxLength: 4 }))
      .map(([depth, kinds, filler]) => {
        let text = JSON.stringify(`[{${filler}`);
        for (let level = 0; level < depth; level++) text = kinds[level] ? `[${text}]` : `{"k${level}":${text}}`;
        return { depth, text };
      });
    checkProperty(
      'decodeRecord depth limit',
      500,
      fc.property(nested, fc.integer({ min: 1, max: 40 }), ({ depth, text }, maxDepth) => {
        const result = decodeRecord(Buffer.from(text), { maxBytes: 1 << 20, maxDepth });
        if (depth <= maxDepth) expect(result.ok).toBe(true);
        else expect(result).toMatchObject({ ok: false, code: 'too_deep' });
      }),
    );
  });

  it('refuses a record over maxBytes before reading it, whatever it holds', () => {
    checkProperty(
      'decodeRecord size limit',
      300,
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), (bytes) => {
        const result = decodeRecord(bytes, { maxBytes: bytes.length - 1, maxDepth: 64 });
        expect(result).toEqual({ ok: false, code: 'too_large', reason: `record is ${bytes.length} bytes, over the limit of ${bytes.length - 1}` });
      }),
    );
  });
});
