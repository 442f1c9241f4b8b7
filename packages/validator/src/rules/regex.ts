import { RE2JS, RE2JSSyntaxException } from 're2js';

/**
 * Every pattern a rule set can hold (pattern rules, `matches()` in expressions, `pattern` and
 * `patternProperties` in the record schema) runs on RE2, whose matching time is linear in the
 * input: a rule set written by a user cannot make a worker spin on one record.
 */
export class RegexCompileError extends Error {
  override readonly name = 'RegexCompileError';
}

export interface LinearRegex {
  /** True when the whole input matches. */
  fullMatch(input: string): boolean;
  /** True when some part of the input matches. */
  search(input: string): boolean;
  readonly source: string;
}

export function compileLinearRegex(pattern: string, options: { ignoreCase?: boolean } = {}): LinearRegex {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern, options.ignoreCase === true ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (error) {
    throw new RegexCompileError(describeRegexError(pattern, error));
  }
  return {
    source: pattern,
    fullMatch: (input) => re.testExact(input),
    search: (input) => re.test(input),
  };
}

/** `RE2 cannot compile "(a)\1": backreferences are not supported` and the like. */
export function describeRegexError(pattern: string, error: unknown): string {
  const shown = pattern.length > 80 ? `${pattern.slice(0, 77)}...` : pattern;
  return `RE2 cannot compile "${shown}": ${reasonOf(pattern, error)}`;
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
