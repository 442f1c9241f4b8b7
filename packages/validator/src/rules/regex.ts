import { RE2JS, RE2JSSyntaxException } from 're2js';

/**
 * Every pattern a rule set can hold (pattern rules, `matches()` in expressions, `pattern` and
 * `patternProperties` in the record schema) runs on RE2, whose matching time is linear in the
 * input: a rule set written by a user cannot make a worker spin on one record.
 *
 * Linear in the input, but also in the size of the compiled program: RE2 steps every live
 * instruction for each character, so `(?:[a-q]{1000}){4}` (4,000 instructions) costs thousands
 * of times more per character than `[a-q]+`. Hence a bound on the program size of each pattern,
 * checked before compiling (from the pattern's text) and after (the exact count).
 */
export class RegexCompileError extends Error {
  override readonly name = 'RegexCompileError';
}

/** RE2 instructions one pattern may compile to. A bounded repetition `x{n}` costs n copies of x. */
export const MAX_PATTERN_INSTRUCTIONS = 2_000;

export interface LinearRegex {
  /** True when the whole input matches. */
  fullMatch(input: string): boolean;
  /** True when some part of the input matches. */
  search(input: string): boolean;
  readonly source: string;
  /** Size of the compiled program: matching costs up to this many steps per input character. */
  readonly instructions: number;
}

export interface RegexOptions {
  readonly ignoreCase?: boolean;
  /** Default MAX_PATTERN_INSTRUCTIONS. */
  readonly maxInstructions?: number;
}

export function compileLinearRegex(pattern: string, options: RegexOptions = {}): LinearRegex {
  const limit = options.maxInstructions ?? MAX_PATTERN_INSTRUCTIONS;
  // Refused before compiling: one 4 KB pattern of repetitions compiles for seconds.
  const estimate = estimateRegexSize(pattern);
  if (estimate > limit * 2) throw new RegexCompileError(tooLarge(pattern, `about ${estimate}`, limit));
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern, options.ignoreCase === true ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (error) {
    throw new RegexCompileError(describeRegexError(pattern, error));
  }
  const instructions = programSize(re) ?? estimate;
  if (instructions > limit) throw new RegexCompileError(tooLarge(pattern, String(instructions), limit));
  return {
    source: pattern,
    instructions,
    fullMatch: (input) => re.testExact(input),
    search: (input) => re.test(input),
  };
}

function tooLarge(pattern: string, size: string, limit: number): string {
  return (
    `RE2 pattern "${shorten(pattern)}" compiles to ${size} instructions, over the limit of ${limit} ` +
    '(matching costs each instruction per character; a bounded repetition x{n} makes n copies of x: use + or * where the count does not matter)'
  );
}

/** The exact program size; re2js keeps it on an internal field, so a missing one falls back to the estimate. */
function programSize(re: RE2JS): number | undefined {
  const prog = (re as unknown as { re2Input?: { prog?: { numInst?: () => number } } }).re2Input?.prog;
  return typeof prog?.numInst === 'function' ? prog.numInst() : undefined;
}

/**
 * An estimate of the RE2 program size of a pattern from its text, in one pass, without compiling:
 * an atom (literal, class, escape) is 1, a group the sum of its alternatives plus one per `|`, a
 * repetition {n,m} max(n, m) copies of its atom (m missing: n + 1) plus the optional ones' ALTs.
 * Close to the compiled size for the patterns that matter (counted repetitions); never zero.
 */
export function estimateRegexSize(pattern: string): number {
  // A stack of groups; each holds the size of its finished alternatives and of the current one,
  // and the size of the last atom (what a quantifier repeats).
  const stack: { done: number; current: number; last: number }[] = [{ done: 0, current: 0, last: 0 }];
  const top = () => stack[stack.length - 1] as { done: number; current: number; last: number };
  const atom = (size: number) => {
    const group = top();
    group.current += size;
    group.last = size;
  };
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (c === '\\') {
      i = skipEscape(pattern, i);
      atom(1);
    } else if (c === '[') {
      i = skipClass(pattern, i);
      atom(1);
    } else if (c === '(') {
      stack.push({ done: 0, current: 0, last: 0 });
      i++;
      if (pattern[i] === '?') {
        // (?flags), (?flags:...), (?P<name>...), (?<name>...): skip to the group's body.
        const close = pattern.slice(i).search(/[:)>]/);
        i = close < 0 ? pattern.length : i + close + 1;
        if (pattern[i - 1] === ')') {
          stack.pop();
        }
      }
    } else if (c === ')') {
      i++;
      if (stack.length > 1) {
        const group = stack.pop() as { done: number; current: number; last: number };
        atom(group.done + group.current + 1);
      }
    } else if (c === '|') {
      const group = top();
      group.done += group.current + 1;
      group.current = 0;
      group.last = 0;
      i++;
    } else if (c === '*' || c === '+' || c === '?') {
      top().current += 1;
      i += pattern[i + 1] === '?' ? 2 : 1;
    } else if (c === '{') {
      const repeat = /^\{(\d{1,6})(,(\d{0,6}))?\}/.exec(pattern.slice(i, i + 16));
      if (repeat === null) {
        atom(1);
        i++;
        continue;
      }
      const min = Number(repeat[1]);
      const max = repeat[2] === undefined ? min : repeat[3] === '' ? min + 1 : Number(repeat[3]);
      const group = top();
      const copies = Math.max(min, max, 1);
      group.current += group.last * (copies - 1) + Math.max(0, max - min);
      group.last *= copies;
      i += repeat[0].length;
      if (pattern[i] === '?') i++;
    } else {
      atom(1);
      i++;
    }
  }
  let size = 0;
  while (stack.length > 0) {
    const group = stack.pop() as { done: number; current: number; last: number };
    size += group.done + group.current;
  }
  return size + 2;
}

function skipEscape(pattern: string, at: number): number {
  const next = pattern[at + 1];
  if (next === 'p' || next === 'P' || next === 'x') {
    if (pattern[at + 2] === '{') {
      const close = pattern.indexOf('}', at + 3);
      return close < 0 ? pattern.length : close + 1;
    }
    return at + (next === 'x' ? 4 : 3);
  }
  if (next === 'Q') {
    // \Q...\E quotes literally: each character is an atom; counted as one here, then the rest.
    const end = pattern.indexOf('\\E', at + 2);
    return end < 0 ? pattern.length : end + 2;
  }
  return at + 2;
}

function skipClass(pattern: string, at: number): number {
  let i = at + 1;
  if (pattern[i] === '^') i++;
  if (pattern[i] === ']') i++;
  while (i < pattern.length && pattern[i] !== ']') {
    if (pattern[i] === '\\') i = skipEscape(pattern, i);
    else if (pattern[i] === '[' && pattern[i + 1] === ':') {
      const close = pattern.indexOf(':]', i + 2);
      i = close < 0 ? i + 1 : close + 2;
    } else i++;
  }
  return i + 1;
}

function shorten(pattern: string): string {
  return pattern.length > 80 ? `${pattern.slice(0, 77)}...` : pattern;
}

/** `RE2 cannot compile "(a)\1": backreferences are not supported` and the like. */
export function describeRegexError(pattern: string, error: unknown): string {
  return `RE2 cannot compile "${shorten(pattern)}": ${reasonOf(pattern, error)}`;
}

function reasonOf(pattern: string, error: unknown): string {
  // RE2 leaves out the features that need backtracking; say which one instead of "invalid escape".
  if (/\\[1-9]|\\k<|\(\?P=/.test(pattern)) return 'backreferences are not supported';
  if (pattern.includes('(?=') || pattern.includes('(?!')) return 'lookahead is not supported';
  if (pattern.includes('(?<=') || pattern.includes('(?<!')) return 'lookbehind is not supported';
  if (/[*+?}]\+/.test(pattern) && error instanceof RE2JSSyntaxException && error.getDescription().includes('repetition')) {
    return 'possessive quantifiers are not supported';
  }
  if (error instanceof RE2JSSyntaxException) {
    const source = error.getPattern();
    return source === null || source === '' ? error.getDescription() : `${error.getDescription()} at \`${source}\``;
  }
  return error instanceof Error ? error.message : String(error);
}
