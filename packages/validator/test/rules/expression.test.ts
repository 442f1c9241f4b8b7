import {
  compileExpression,
  compileRuleSet,
  ExpressionEvaluationError,
  ExpressionSyntaxError,
  MAX_EXPRESSION_DEPTH,
  type Value,
  validateRecord,
} from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
import { failures, ruleSetIssues } from './helpers.js';

const NOW = Date.UTC(2025, 0, 1);

function evaluate(source: string, record: unknown = {}, budget?: number): Value {
  return compileExpression(source, budget === undefined ? {} : { budget }).evaluate(record, { budget: 0, now: () => NOW });
}

function evaluationError(source: string, record: unknown = {}, budget?: number): string {
  try {
    evaluate(source, record, budget);
  } catch (error) {
    if (error instanceof ExpressionEvaluationError) return error.message;
    throw error;
  }
  throw new Error(`${source} evaluated without error`);
}

function syntaxError(source: string): string {
  try {
    compileExpression(source);
  } catch (error) {
    if (error instanceof ExpressionSyntaxError) return error.message;
    throw error;
  }
  throw new Error(`${source} parsed`);
}

const assertion = (expression: string, extra: Record<string, unknown> = {}) =>
  compileRuleSet({ name: 'x', version: 1, rules: [{ id: 'e', severity: 'error', type: 'expression', expression, ...extra }] });

describe('expression language: precedence and associativity', () => {
  it.each([
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['10 - 4 - 3', 3],
    ['100 / 10 / 5', 2],
    ['7 % 4 * 2', 6],
    ['-2 * 3', -6],
    ['- (2 + 3)', -5],
    ['2 * -3', -6],
    ['1 + 1 < 3', true],
    ['1 + 1 in [2, 3]', true],
    ['1 < 2 == 2 < 3', true],
    ['true || false && false', true],
    ['(true || false) && false', false],
    ['!true || true', true],
    ['!(true || true)', false],
    ['1 == 1 && 2 != 3', true],
    ["'a' + 'b' == 'ab'", true],
    ['3 >= 3 && 3 <= 3 && 2 < 3 && 3 > 2', true],
  ] as const)('%s = %j', (source, expected) => {
    expect(evaluate(source)).toBe(expected);
  });

  it('does not chain comparisons', () => {
    expect(syntaxError('1 < x < 3')).toBe("column 7: comparisons cannot be chained; join them with && (at '<')");
    expect(syntaxError('a == b == c')).toBe("column 8: comparisons cannot be chained; join them with && (at '==')");
    expect(evaluate('1 < x && x < 3', { x: 2 })).toBe(true);
  });
});

describe('expression language: fields', () => {
  const record = {
    customer: { email: 'Ana@Example.PT', tags: ['vip', 'b2b'] },
    items: [
      { sku: 'A', price: 2.5 },
      { sku: 'B', price: 4 },
    ],
    meta: { 'content-type': 'json', 'a/b': 1 },
    in: 'keyword as a key',
  };

  it('reads dotted paths, indexes, quoted keys, JSON pointers and the root', () => {
    expect(evaluate('customer.email', record)).toBe('Ana@Example.PT');
    expect(evaluate('items[1].price', record)).toBe(4);
    expect(evaluate("meta['content-type']", record)).toBe('json');
    expect(evaluate("$'/meta/a~1b'", record)).toBe(1);
    expect(evaluate("$'/items/0'.sku", record)).toBe('A');
    expect(evaluate('len($)', record)).toBe(4);
    expect(evaluate('$.in', record)).toBe('keyword as a key');
  });

  it('reads a missing field as null, never an inherited property', () => {
    expect(evaluate('nothing', record)).toBe(null);
    expect(evaluate('customer.nothing.deeper', record)).toBe(null);
    expect(evaluate('items[5].sku', record)).toBe(null);
    expect(evaluate('constructor', record)).toBe(null);
    expect(evaluate('customer.email.length', record)).toBe(null);
    expect(evaluate('items.length', record)).toBe(null);
    expect(evaluate('nothing == null', record)).toBe(true);
  });
});

describe('expression language: null, three-valued logic and the verdict of a rule', () => {
  it('propagates null through arithmetic, ordering and functions', () => {
    expect(evaluate('missing + 1')).toBe(null);
    expect(evaluate('missing > 5')).toBe(null);
    expect(evaluate('len(missing)')).toBe(null);
    expect(evaluate('-missing')).toBe(null);
    expect(evaluate('!missing')).toBe(null);
  });

  it('follows Kleene logic for && and ||', () => {
    expect(evaluate('missing > 1 && false')).toBe(false);
    expect(evaluate('missing > 1 && true')).toBe(null);
    expect(evaluate('missing > 1 || true')).toBe(true);
    expect(evaluate('missing > 1 || false')).toBe(null);
  });

  it('== != and in treat null as a value', () => {
    expect(evaluate('null == null')).toBe(true);
    expect(evaluate('missing != 0')).toBe(true);
    expect(evaluate('missing in [null]')).toBe(true);
    expect(evaluate("missing in ['a']")).toBe(false);
    expect(evaluate('1 in missing')).toBe(null);
  });

  it('a rule fails on false, passes on true and on null (unknown), like a SQL CHECK', () => {
    const rule = assertion('shipped_at >= created_at', { field: '/shipped_at' });
    expect(failures(rule, { created_at: 5, shipped_at: 4 })).toEqual(['/shipped_at: expression is false: shipped_at >= created_at']);
    expect(failures(rule, { created_at: 5, shipped_at: 6 })).toEqual([]);
    expect(failures(rule, { created_at: 5 })).toEqual([]);
  });

  it('a rule whose expression gives a non-boolean is violated', () => {
    expect(failures(assertion('total * 2'), { total: 3 })).toEqual([': expression must give true or false, got number']);
  });
});

describe('expression language: failures become violations, not crashes', () => {
  it('division and remainder by zero', () => {
    expect(evaluationError('a / b', { a: 1, b: 0 })).toBe('division by zero (column 3)');
    expect(evaluationError('a % 0', { a: 1 })).toBe('remainder of division by zero (column 3)');
    const rule = assertion('total / quantity > 1', { field: '/quantity', message: 'unit price too low' });
    expect(failures(rule, { total: 10, quantity: 0 })).toEqual(['/quantity: unit price too low (expression failed: division by zero (column 7))']);
  });

  it('overflow to Infinity', () => {
    expect(evaluationError('x * 10', { x: 1e308 })).toBe("'*' overflowed (column 3)");
  });

  it('operands of the wrong type', () => {
    expect(evaluationError("'a' + 1")).toBe("'+' needs two numbers or two strings, got string and number (column 5)");
    expect(evaluationError('a - 1', { a: '5' })).toBe("'-' needs numbers, got string and number (column 3)");
    expect(evaluationError("a < 'b'", { a: 1 })).toBe('cannot compare number with string (column 3)');
    expect(evaluationError('!status', { status: 'paid' })).toBe("'!' needs a boolean, got string (column 1)");
    expect(evaluationError('a && true', { a: 1 })).toBe("'&&' needs booleans, got number (column 3)");
    expect(evaluationError('1 in tags', { tags: 'abc' })).toBe("'in' needs an array on its right, got string (column 3)");
    expect(evaluationError('len(5)')).toBe('len() needs a string, array or object, got number (column 1)');
    expect(evaluationError("date('31/01/2024')")).toBe('date(): the string is not an ISO 8601 date (column 1)');
    expect(evaluationError("number('12abc')")).toBe('number(): the string is not a number (column 1)');
    expect(evaluationError('sum(v)', { v: [1, 'x'] })).toBe('sum() needs an array of numbers, found string (column 1)');
  });

  it('bounds the work one evaluation may do', () => {
    const big = { list: Array.from({ length: 200_000 }, (_, i) => i), text: 'x'.repeat(200_000) };
    expect(evaluationError('-1 in list', big)).toBe('expression is too costly for this record (evaluation budget spent)');
    expect(evaluationError('len(text) > 0', big)).toBe('expression is too costly for this record (evaluation budget spent)');
    expect(evaluationError('text + text + text', big)).toBe('expression is too costly for this record (evaluation budget spent)');
    expect(evaluate('-1 in list', big, 1_000_000)).toBe(false);
    // The budget is per evaluation: evaluating again starts afresh.
    const compiled = compileExpression('1 in list', { budget: 300_000 });
    const state = { budget: 0, now: () => NOW };
    expect(compiled.evaluate(big, state)).toBe(true);
    expect(compiled.evaluate(big, state)).toBe(true);
  });

  it('stops comparing values nested deeper than it can afford', () => {
    const deep = (): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < 10_000; i++) value = [value];
      return value;
    };
    const record = { a: deep(), b: deep() };
    expect(evaluationError('a == b', record)).toBe('values are nested too deeply to compare (more than 64 levels)');
    expect(failures(assertion('a == b'), record)).toEqual([': expression failed: values are nested too deeply to compare (more than 64 levels)']);
  });
});

describe('expression language: values and functions', () => {
  it('compares arrays and objects by structure, scalars strictly', () => {
    expect(evaluate("tags == ['vip', 'b2b']", { tags: ['vip', 'b2b'] })).toBe(true);
    expect(evaluate("tags == ['b2b', 'vip']", { tags: ['vip', 'b2b'] })).toBe(false);
    expect(evaluate('a == b', { a: { x: 1, y: [2] }, b: { y: [2], x: 1 } })).toBe(true);
    expect(evaluate('a == b', { a: { x: 1 }, b: { x: 1, y: null } })).toBe(false);
    expect(evaluate("1 == '1'")).toBe(false);
    expect(evaluate("'vip' in tags", { tags: ['vip', 'b2b'] })).toBe(true);
    expect(
      evaluate('[1, 2] in pairs', {
        pairs: [
          [0, 1],
          [1, 2],
        ],
      }),
    ).toBe(true);
    expect(evaluate('x in [1, y]', { x: 3, y: 3 })).toBe(true);
  });

  it.each([
    ["len('😀ção')", 4],
    ['len(items)', 2],
    ["lower('ÁB') + upper('c')", 'ábC'],
    ["trim('  a ')", 'a'],
    ['abs(-2.5) + floor(1.7) + ceil(1.2) + round(2.5)', 8.5],
    ['min(3, 1, 2) + max(3, 1, 2)', 4],
    ['sum(prices)', 7.5],
    ['coalesce(missing, discount, 0)', 5],
    ["number(' 12.5 ') + number(1)", 13.5],
    ["contains('order-123', '123') && startsWith('order-123', 'order') && endsWith('order-123', '3')", true],
    ["matches(code, '^[A-Z]{2}[0-9]+$')", true],
    ["date('2024-03-01') - date('2024-02-28')", 2 * 86_400_000],
    ["date('2024-01-01T01:00:00+01:00') == date('2024-01-01')", true],
    ['now()', NOW],
    ["date('2024-12-31') > now() - days(30)", true],
    ['"double \\"quoted\\" and \\u00e9"', 'double "quoted" and é'],
  ] as const)('%s = %j', (source, expected) => {
    expect(evaluate(source, { items: [1, 2], prices: [2.5, 5], discount: 5, code: 'PT123' })).toBe(expected);
  });

  it('takes now() from the validation context', () => {
    const rule = assertion('date(created_at) <= now()', { field: '/created_at' });
    const at = (now: number) => validateRecord(rule, { created_at: '2025-01-02' }, { jobId: 'j', recordNumber: 1, now }).valid;
    expect(at(Date.UTC(2025, 0, 1))).toBe(false);
    expect(at(Date.UTC(2025, 0, 2))).toBe(true);
  });
});

describe('expression language: syntax errors carry the column', () => {
  it.each([
    ['', 'column 1: expected a value but the expression ended'],
    ['a +', 'column 4: expected a value but the expression ended'],
    ['(a + b', "column 7: expected ')' to close the '(' at column 1 but found the end of the expression"],
    ['a b', "column 3: unexpected name 'b' after a complete expression (missing an operator?)"],
    ["name == 'ana", 'column 9: unterminated string'],
    ['a = 1', "column 3: '=' is not an operator; compare with '=='"],
    ['a & b', "column 3: '&' is not an operator; use '&&'"],
    ['a # b', "column 3: unexpected character '#'"],
    ['lenght(x)', "column 1: unknown function 'lenght' (did you mean len()?)"],
    ['length(x)', "column 1: unknown function 'length' (did you mean len()?)"],
    [
      'eval(x)',
      "column 1: unknown function 'eval'; known functions: len, lower, upper, trim, number, abs, floor, ceil, round, days, min, max, sum, coalesce, now, date, contains, startsWith, endsWith, matches",
    ],
    ['len(a, b)', 'column 1: len() takes 1 argument, got 2: len(string | array | object)'],
    ['items.0.sku', "column 7: expected a field name after '.' but found number 0 (write [0] for an array element)"],
    ['items[-1]', "column 7: expected an array index or a quoted key inside [ ] but found '-'"],
    ["$'customer'", 'column 1: invalid JSON pointer "customer": must be empty or start with "/"'],
    ["'\\q'", "column 2: unknown escape '\\q' in string"],
    ['1e', 'column 3: expected digits in the exponent of the number'],
    ['in [1]', "column 1: expected a value before 'in'"],
    ['[1, 2', "column 6: expected ']' to close the '[' at column 1 but found the end of the expression"],
  ] as const)('%j → %s', (source, message) => {
    expect(syntaxError(source)).toBe(message);
  });

  it(`limits nesting to ${MAX_EXPRESSION_DEPTH} levels, and says where it went too deep`, () => {
    const nested = (levels: number) => `${'('.repeat(levels)}1${')'.repeat(levels)}`;
    expect(evaluate(nested(MAX_EXPRESSION_DEPTH - 1))).toBe(1);
    expect(syntaxError(nested(MAX_EXPRESSION_DEPTH))).toBe(`column ${MAX_EXPRESSION_DEPTH + 1}: expression is nested too deeply (more than 64 levels)`);
    expect(syntaxError(`${'!'.repeat(1000)}true`)).toMatch(/^column 65: expression is nested too deeply/);
    expect(syntaxError(`${'['.repeat(1000)}`)).toMatch(/^column 65: expression is nested too deeply/);
  });

  it('limits long flat chains and long sources', () => {
    expect(evaluate(Array.from({ length: 200 }, () => '1').join(' + '))).toBe(200);
    expect(syntaxError(Array.from({ length: 600 }, () => '1').join('+'))).toMatch(
      /^column 1: expression has too many operators in one chain \(600 levels, limit 256\)/,
    );
    expect(syntaxError(`a == '${'x'.repeat(5000)}'`)).toBe('column 4097: expression is longer than 4096 characters');
  });

  it('reports the column inside the rule set error', () => {
    expect(
      ruleSetIssues({ name: 'x', version: 1, rules: [{ id: 'e', severity: 'error', type: 'expression', expression: 'total >= subtotal +* tax' }] }),
    ).toEqual(["/rules/0/expression: column 20: expected a value but found '*'"]);
  });
});
