import { compileRuleSet, InMemoryUniquenessTracker, RuleSetError, VALIDATION_BUDGETS, validateRecord } from '@lagscale/validator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParameters } from './fuzz-settings.js';

/**
 * Rule sets of growing cost (references that fan out, deep nesting, wide anyOf, counted regex
 * repetition, uniqueItems over long arrays), each either refused when compiled, with a cost
 * problem at a pointer, or validating any generated record within the per-record time budget.
 */
interface Shape {
  /** Each definition uses the one below this many times, down a chain this long. */
  readonly fanOut: number;
  readonly chain: number;
  /** Objects nested this deep under /n. */
  readonly nesting: number;
  /** anyOf alternatives at the root. */
  readonly width: number;
  /** A pattern of `repeats` counted classes of `count` each, on /s (a rule and a schema pattern). */
  readonly count: number;
  readonly repeats: number;
  readonly patternRules: number;
}

/** Mostly modest, now and then past a limit: each dimension on its own decides little. */
const mostly = (modest: number, extreme: number, min = 0) =>
  fc.oneof({ weight: 4, arbitrary: fc.integer({ min, max: modest }) }, { weight: 1, arbitrary: fc.integer({ min, max: extreme }) });

const shape: fc.Arbitrary<Shape> = fc.record({
  fanOut: fc.integer({ min: 1, max: 4 }),
  chain: mostly(6, 24),
  nesting: mostly(30, 90),
  width: mostly(40, 3_000, 1),
  count: mostly(50, 1_000, 1),
  repeats: mostly(2, 6, 1),
  patternRules: mostly(3, 1_200),
});

function ruleSet(s: Shape): Record<string, unknown> {
  const defs: Record<string, unknown> = { d0: { type: ['string', 'number', 'object', 'array'] } };
  for (let i = 1; i <= s.chain; i++) defs[`d${i}`] = { allOf: Array.from({ length: s.fanOut }, () => ({ $ref: `#/$defs/d${i - 1}` })) };
  let nested: Record<string, unknown> = { $ref: `#/$defs/d${s.chain}` };
  for (let i = 0; i < s.nesting; i++) nested = { type: 'object', properties: { n: nested } };
  const pattern = `[a-z]{1,${s.count}}`.repeat(s.repeats);
  return {
    name: 'costly',
    version: 1,
    schema: {
      $defs: defs,
      type: 'object',
      properties: { n: nested, s: { type: 'string', pattern }, arr: { type: 'array', uniqueItems: true, items: { $ref: `#/$defs/d${s.chain}` } } },
      anyOf: Array.from({ length: s.width }, (_, i) => ({ not: { required: [`never${i}`] } })),
    },
    rules: Array.from({ length: s.patternRules }, (_, i) => ({ id: `p${i}`, severity: 'warning', type: 'pattern', field: '/s', pattern: `${pattern}|x${i}` })),
  };
}

const item = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 3 }));
const record = (s: Shape) =>
  fc
    .record({
      depth: fc.integer({ min: 0, max: Math.min(s.nesting + 1, 63) }),
      s: fc.string({ unit: fc.constantFrom('a', 'b', 'z', '0'), maxLength: 20_000 }),
      arr: fc.array(item, { maxLength: 5_000 }),
    })
    .map(({ depth, s: text, arr }) => {
      let n: unknown = arr.length > 0 ? arr[0] : 'leaf';
      for (let i = 0; i < depth; i++) n = { n };
      return { n, s: text, arr };
    });

const COST_PROBLEM = /over the limit|more than \d+|leads back|nested more than/;

describe('rule sets of growing cost', () => {
  it('are refused when compiled, or validate any record within the per-record budget', { timeout: 300_000 }, () => {
    let refused = 0;
    let accepted = 0;
    let slowest = 0;
    fc.assert(
      fc.property(
        shape.chain((s) => fc.tuple(fc.constant(s), fc.array(record(s), { minLength: 1, maxLength: 3 }))),
        ([s, records]) => {
          let compiled: ReturnType<typeof compileRuleSet>;
          try {
            compiled = compileRuleSet(ruleSet(s));
          } catch (error) {
            expect(error).toBeInstanceOf(RuleSetError);
            const issues = (error as RuleSetError).issues;
            expect(issues.length).toBeGreaterThan(0);
            expect(issues.some((issue) => COST_PROBLEM.test(issue.message))).toBe(true);
            refused++;
            return;
          }
          accepted++;
          const uniqueness = new InMemoryUniquenessTracker();
          records.forEach((r, i) => {
            const started = performance.now();
            validateRecord(compiled, r, { jobId: 'fuzz', recordNumber: i + 1, uniqueness });
            const elapsed = performance.now() - started;
            slowest = Math.max(slowest, elapsed);
            expect(elapsed).toBeLessThan(VALIDATION_BUDGETS.recordMs);
          });
        },
      ),
      fuzzParameters(60),
    );
    process.stderr.write(`[rule-set-cost] ${refused} refused, ${accepted} accepted; slowest record ${slowest.toFixed(1)} ms\n`);
    // The generator reaches both sides of the limits.
    expect(refused).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThan(0);
  });
});
