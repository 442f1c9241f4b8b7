import { compileLinearRegex, compileRuleSet } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
import { failures } from './helpers.js';

/**
 * Patterns that make a backtracking engine (JS RegExp) take exponential time on inputs that
 * almost match. RE2 runs them in time linear in the input: 30,000 characters take milliseconds.
 */
const HOSTILE: readonly { pattern: string; input: (n: number) => string; jsSmall: number; jsLarger: number }[] = [
  { pattern: '(a+)+$', input: (n) => `${'a'.repeat(n)}!`, jsSmall: 17, jsLarger: 21 },
  { pattern: '(a|aa)*b', input: (n) => 'a'.repeat(n), jsSmall: 22, jsLarger: 28 },
  { pattern: '(x+x+)+y', input: (n) => `${'x'.repeat(n)}zy`, jsSmall: 17, jsLarger: 21 },
  { pattern: '^(\\w+\\s?)*$', input: (n) => `${'a'.repeat(n)}!`, jsSmall: 17, jsLarger: 21 },
];
const N = 30_000;

function millis(run: () => void): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

describe('hostile patterns run in linear time on RE2', () => {
  for (const { pattern, input, jsSmall, jsLarger } of HOSTILE) {
    it(`${pattern} on ${N.toLocaleString('en')} characters: well under 100 ms, where JS RegExp grows exponentially`, () => {
      const regex = compileLinearRegex(pattern);
      regex.search(input(100)); // warm up: the claim is about the input's length, not a cold start
      const text = input(N);
      expect(text.length).toBeGreaterThanOrEqual(N);
      let searched = true;
      let matched = true;
      const searchTime = millis(() => {
        searched = regex.search(text);
      });
      const fullTime = millis(() => {
        matched = regex.fullMatch(text);
      });
      expect(searched).toBe(false);
      expect(matched).toBe(false);
      expect(searchTime, `search ${searchTime.toFixed(1)} ms`).toBeLessThan(100);
      expect(fullTime).toBeLessThan(100);

      // Baseline: the same pattern in JS RegExp at a tiny n. A few more characters multiply its
      // time (each added character doubles the work for most of these), so 30,000 would never end.
      const js = new RegExp(pattern);
      js.test(input(10)); // compile and warm up
      const small = millis(() => js.test(input(jsSmall)));
      const larger = millis(() => js.test(input(jsLarger)));
      expect(larger, `JS RegExp: ${small.toFixed(2)} ms at n=${jsSmall}, ${larger.toFixed(2)} ms at n=${jsLarger}`).toBeGreaterThan(3 * small);
    });
  }

  it('doubles, not explodes, when the input doubles', () => {
    const regex = compileLinearRegex('(a+)+$');
    regex.search(`${'a'.repeat(1000)}!`);
    const best = (n: number) => Math.min(...[0, 1, 2].map(() => millis(() => regex.search(`${'a'.repeat(n)}!`))));
    const at30k = best(30_000);
    const at120k = best(120_000);
    // Linear: about 4x; allow for noise but nothing like exponential.
    expect(at120k).toBeLessThan(at30k * 12 + 5);
  });

  it('a pattern rule and a schema pattern both use RE2 on record values', () => {
    const compiled = compileRuleSet({
      name: 'hostile',
      version: 1,
      schema: { type: 'object', properties: { code: { type: 'string', pattern: '^(a+)+$' } } },
      rules: [{ id: 'code', severity: 'error', type: 'pattern', field: '/code', pattern: '(a|aa)*b' }],
    });
    failures(compiled, { code: 'aaa!' }); // warm up: the claim is about the input's length, not a cold start
    const record = { code: `${'a'.repeat(N)}!` };
    let found: string[] = [];
    const time = millis(() => {
      found = failures(compiled, record);
    });
    expect(found).toEqual(['/code: must match pattern "^(a+)+$"', '/code: does not match the pattern (a|aa)*b']);
    expect(time, `${time.toFixed(1)} ms`).toBeLessThan(100);
  });
});
