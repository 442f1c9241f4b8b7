import { canonicalNumberText, compileRuleSet, decodeRecord, exactJson, InMemoryUniquenessTracker, validateRecord } from '@lagscale/validator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from './fuzz-settings.js';

/**
 * Numbers JSON.parse rounds: canonicalNumberText gives one text per decimal value however it is
 * written; decodeRecord + exactJson give back the record's numbers exactly; a `unique` rule calls
 * two numbers the same exactly when they are the same decimal (an oracle over BigInt).
 */

/** A decimal value: (-1)^negative × mantissa × 10^exponent. */
interface Decimal {
  readonly negative: boolean;
  readonly mantissa: bigint;
  readonly exponent: number;
}

const decimal: fc.Arbitrary<Decimal> = fc.record({
  negative: fc.boolean(),
  mantissa: fc.oneof(
    fc.bigInt({ min: 0n, max: 10n ** 25n }),
    fc.bigInt({ min: 2n ** 53n - 3n, max: 2n ** 53n + 3n }),
    fc.bigInt({ min: 0n, max: 999n }).map((m) => m * 10n ** 12n),
  ),
  exponent: fc.oneof(fc.integer({ min: -30, max: 30 }), fc.integer({ min: -420, max: 420 })),
});

/** One way to write the value as a JSON literal: the decimal point moved `shift` places, `zeros` trailing zeros, an exponent or not. */
function write(value: Decimal, shift: number, zeros: number, exponentCase: 'e' | 'E' | 'E+'): string {
  const digits = value.mantissa.toString() + '0'.repeat(zeros);
  let exponent = value.exponent - zeros;
  // Put the point `point` digits from the left (0 < point <= length): value = 0.<digits> shifted.
  const point = Math.max(1, Math.min(digits.length, digits.length - shift));
  exponent += digits.length - point;
  let text = point === digits.length ? digits : `${digits.slice(0, point)}.${digits.slice(point)}`;
  // Leading zeros are not JSON: drop them from the integer part (keep one before a point).
  text = text.replace(/^0+(?=\d)/, '');
  if (exponent !== 0 || exponentCase === 'E+') text += `${exponentCase === 'e' ? 'e' : 'E'}${exponent >= 0 && exponentCase === 'E+' ? '+' : ''}${exponent}`;
  return `${value.negative ? '-' : ''}${text}`;
}

const writing = fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 3 }), fc.constantFrom('e' as const, 'E' as const, 'E+' as const));
const literal = fc.tuple(decimal, writing).map(([value, [shift, zeros, e]]) => ({ value, text: write(value, shift, zeros, e) }));

/** The oracle: equal decimals, by normalizing over BigInt (no floating point anywhere). */
function normalized(value: Decimal): string {
  if (value.mantissa === 0n) return '0';
  let { mantissa, exponent } = value;
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    exponent++;
  }
  return `${value.negative ? '-' : ''}${mantissa}e${exponent}`;
}

describe('exact numbers, property-based', () => {
  it("canonicalNumberText: one text per value however written; JavaScript's own text for every double", () => {
    checkProperty(
      'canonicalNumberText',
      2000,
      fc.property(decimal, writing, writing, fc.double({ noNaN: true, noDefaultInfinity: true }), (value, first, second, double) => {
        const a = canonicalNumberText(write(value, ...first));
        expect(a, write(value, ...first)).toBe(canonicalNumberText(write(value, ...second)));
        expect(canonicalNumberText(a)).toBe(a);
        expect(Number(a) === Number(write(value, ...first)), a).toBe(true); // the same double (0 and -0 alike)
        expect(canonicalNumberText(JSON.stringify(double))).toBe(JSON.stringify(double));
        expect(canonicalNumberText(double.toExponential())).toBe(String(Object.is(double, -0) ? 0 : double));
      }),
    );
  });

  it("decodeRecord + exactJson: the record with every number as written, canonical; the value is JSON.parse's", () => {
    const key = fc
      .string({ unit: fc.constantFrom('a', 'b', '"', '\\', '/', '~', 'é', ' ', '_', 'proto'), maxLength: 4 })
      .filter((k) => !/^(0|[1-9]\d*)$/.test(k));
    type Node =
      | { kind: 'number'; text: string; canonical: string }
      | { kind: 'other'; json: string }
      | { kind: 'array'; items: Node[] }
      | { kind: 'object'; entries: [string, Node][] };
    const { node } = fc.letrec<{ node: Node }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        literal.map(({ text }): Node => ({ kind: 'number', text, canonical: canonicalNumberText(text) })),
        fc
          .oneof(fc.string({ maxLength: 6 }), fc.constantFrom(true, false, null, '12345678901234567890', '1e400'))
          .map((v): Node => ({ kind: 'other', json: JSON.stringify(v) })),
        fc.array(tie('node'), { maxLength: 4 }).map((items): Node => ({ kind: 'array', items })),
        fc
          .uniqueArray(fc.tuple(fc.oneof(key, fc.constant('__proto__')), tie('node')), { maxLength: 4, selector: ([k]) => k })
          .map((entries): Node => ({ kind: 'object', entries })),
      ),
    }));
    const space = fc.constantFrom('', ' ', '\n', '\t ', '\r\n');
    const render = (n: Node, exact: boolean, gap: () => string): string => {
      switch (n.kind) {
        case 'number':
          return exact ? n.canonical : n.text;
        case 'other':
          return n.json;
        case 'array':
          return `[${gap()}${n.items.map((item) => render(item, exact, gap)).join(`${gap()},${gap()}`)}${gap()}]`;
        case 'object':
          return `{${gap()}${n.entries.map(([k, v]) => `${JSON.stringify(k)}${gap()}:${gap()}${render(v, exact, gap)}`).join(`,${gap()}`)}${gap()}}`;
      }
    };
    checkProperty(
      'decodeRecord + exactJson',
      500,
      fc.property(
        fc.oneof(
          fc.array(node, { maxLength: 5 }).map((items): Node => ({ kind: 'array', items })),
          node.filter((n) => n.kind === 'object'),
        ),
        fc.array(space, { minLength: 1, maxLength: 8 }),
        (root, spaces) => {
          let at = 0;
          const text = render(root, false, () => spaces[at++ % spaces.length] as string);
          const result = decodeRecord(Buffer.from(text, 'utf8'), { maxBytes: 1 << 20, maxDepth: 64 });
          if (!result.ok) throw new Error(`${result.reason}: ${text}`);
          expect(result.value).toEqual(JSON.parse(text));
          // Numbers JSON.parse keeps exactly are written by JSON.stringify as their canonical text: exactJson is the exact rendering.
          expect(exactJson(result.value), text).toBe(render(root, true, () => ''));
        },
      ),
    );
    checkProperty(
      'decodeRecord + exactJson on damaged records',
      500,
      fc.property(node, fc.array(fc.tuple(fc.nat(), fc.constantFrom(...'0123456789.eE+-"\\,:[]{} x')), { minLength: 1, maxLength: 4 }), (root, edits) => {
        // in an array: a record that is a bare number has nowhere to keep its exact text (see exactJson)
        const chars = [...render({ kind: 'array', items: [root] }, false, () => '')];
        for (const [at, char] of edits) chars[at % chars.length] = char;
        const text = chars.join('');
        const result = decodeRecord(Buffer.from(text, 'utf8'), { maxBytes: 1 << 20, maxDepth: 64 });
        if (!result.ok) return;
        // whatever decodes, exactJson writes as JSON that reads back as the same value
        expect(JSON.parse(exactJson(result.value)), text).toEqual(result.value);
      }),
    );
  });

  it('a unique rule calls two numbers the same exactly when they are the same decimal', () => {
    const compiled = compileRuleSet({ name: 'n', version: 1, rules: [{ id: 'n.unique', severity: 'error', type: 'unique', field: '/items/*/n' }] });
    const decode = (text: string): unknown => {
      const result = decodeRecord(Buffer.from(text, 'utf8'), { maxBytes: 1 << 16, maxDepth: 16 });
      if (!result.ok) throw new Error(result.reason);
      return result.value;
    };
    const pair = fc.oneof(
      fc.tuple(literal, writing).map(([first, how]) => [first, { value: first.value, text: write(first.value, ...how) }] as const),
      fc.tuple(literal, literal),
      fc.tuple(literal, fc.constantFrom(-1n, 1n), writing).map(([first, step, how]) => {
        const value = { ...first.value, mantissa: first.value.mantissa + step < 0n ? 1n : first.value.mantissa + step };
        return [first, { value, text: write(value, ...how) }] as const;
      }),
    );
    checkProperty(
      'unique rule on exact numbers',
      1000,
      fc.property(pair, fc.boolean(), ([first, second], sameRecord) => {
        const same = normalized(first.value) === normalized(second.value);
        const uniqueness = new InMemoryUniquenessTracker();
        const run = (text: string, recordNumber: number) => validateRecord(compiled, decode(text), { jobId: 'j', recordNumber, uniqueness }).violations.length;
        const found = sameRecord
          ? run(`{"items":[{"n":${first.text}},{"n":${second.text}}]}`, 1)
          : run(`{"items":[{"n":${first.text}}]}`, 1) + run(`{"items":[{"n":${second.text}}]}`, 2);
        expect(found, `${first.text} ${second.text}`).toBe(same ? 1 : 0);
      }),
    );
  });
});
