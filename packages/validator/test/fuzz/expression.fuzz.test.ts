import { compileExpression, ExpressionEvaluationError, ExpressionSyntaxError, type Value } from '@lagscale/validator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from './fuzz-settings.js';

/**
 * Properties of the expression language: printing a generated syntax tree and parsing it gives
 * the tree back; any text parses or fails with ExpressionSyntaxError at a column inside it; any
 * expression on any record evaluates to a JSON value or fails with ExpressionEvaluationError, in
 * bounded time, and spends no more than its budget.
 */

/** The syntax tree without columns, as the parser would build it. */
type Tree =
  | { kind: 'literal'; value: null | boolean | number | string }
  | { kind: 'field'; keys: string[] }
  | { kind: 'array'; items: Tree[] }
  | { kind: 'not' | 'negate'; operand: Tree }
  | { kind: 'binary'; operator: string; left: Tree; right: Tree }
  | { kind: 'and' | 'or'; left: Tree; right: Tree }
  | { kind: 'call'; name: string; args: Tree[] };

const FIELD_NAMES = ['a', 'b', 'amount', 'items', 'name', 'when', 'nested', 'x_1', 'missing'];
const ONE_ARG = ['len', 'lower', 'upper', 'trim', 'number', 'abs', 'floor', 'ceil', 'round', 'days', 'sum', 'date'];
const TWO_ARGS = ['contains', 'startsWith', 'endsWith'];
const VARIADIC = ['min', 'max', 'coalesce'];
const PATTERNS = ['^[a-z]+$', 'a|b', '[0-9]{2,4}', '.*', '(x|y)*z', '\\d+'];
const BINARY = ['+', '-', '*', '/', '%', '==', '!=', '<', '<=', '>', '>=', 'in'];

const keyArbitrary = fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.string({ maxLength: 5 }), fc.nat({ max: 20 }).map(String));
const literal: fc.Arbitrary<Tree> = fc.oneof(
  fc.constant<Tree>({ kind: 'literal', value: null }),
  fc.boolean().map<Tree>((value) => ({ kind: 'literal', value })),
  fc.oneof(fc.nat({ max: 1000 }), fc.double({ min: 0, max: 1e30, noNaN: true, noDefaultInfinity: true })).map<Tree>((value) => ({ kind: 'literal', value })),
  fc.string({ unit: 'binary', maxLength: 8 }).map<Tree>((value) => ({ kind: 'literal', value })),
);
const field: fc.Arbitrary<Tree> = fc
  .tuple(fc.constantFrom(...FIELD_NAMES), fc.array(keyArbitrary, { maxLength: 3 }))
  .map(([first, rest]) => ({ kind: 'field', keys: [first, ...rest] }));

const { tree } = fc.letrec<{ tree: Tree }>((self) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    literal,
    field,
    fc.array(self('tree'), { maxLength: 3 }).map<Tree>((items) => ({ kind: 'array', items })),
    fc.tuple(fc.constantFrom<'not' | 'negate'>('not', 'negate'), self('tree')).map<Tree>(([kind, operand]) => ({ kind, operand })),
    fc.tuple(fc.constantFrom(...BINARY), self('tree'), self('tree')).map<Tree>(([operator, left, right]) => ({ kind: 'binary', operator, left, right })),
    fc.tuple(fc.constantFrom<'and' | 'or'>('and', 'or'), self('tree'), self('tree')).map<Tree>(([kind, left, right]) => ({ kind, left, right })),
    fc.tuple(fc.constantFrom(...ONE_ARG), self('tree')).map<Tree>(([name, arg]) => ({ kind: 'call', name, args: [arg] })),
    fc.tuple(fc.constantFrom(...TWO_ARGS), self('tree'), self('tree')).map<Tree>(([name, a, b]) => ({ kind: 'call', name, args: [a, b] })),
    fc.tuple(fc.constantFrom(...VARIADIC), fc.array(self('tree'), { minLength: 1, maxLength: 3 })).map<Tree>(([name, args]) => ({ kind: 'call', name, args })),
    fc
      .tuple(self('tree'), fc.constantFrom(...PATTERNS))
      .map<Tree>(([text, pattern]) => ({ kind: 'call', name: 'matches', args: [text, { kind: 'literal', value: pattern }] })),
    fc.constant<Tree>({ kind: 'call', name: 'now', args: [] }),
  ),
}));

/** Source text for a tree, every compound part in parentheses, strings and keys quoted and escaped. */
function print(node: Tree): string {
  switch (node.kind) {
    case 'literal':
      return typeof node.value === 'string' ? JSON.stringify(node.value) : String(node.value);
    case 'field': {
      const [first, ...rest] = node.keys;
      return `${first}${rest.map((key) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : /^(0|[1-9][0-9]*)$/.test(key) ? `[${key}]` : `[${JSON.stringify(key)}]`)).join('')}`;
    }
    case 'array':
      return `[${node.items.map(print).join(', ')}]`;
    case 'not':
      return `!(${print(node.operand)})`;
    case 'negate':
      return `-(${print(node.operand)})`;
    case 'binary':
      return `(${print(node.left)}) ${node.operator} (${print(node.right)})`;
    case 'and':
    case 'or':
      return `(${print(node.left)}) ${node.kind === 'and' ? '&&' : '||'} (${print(node.right)})`;
    case 'call':
      return `${node.name}(${node.args.map(print).join(', ')})`;
  }
}

/** What the parser makes of a tree: a negated number literal is folded into the literal. */
function expected(node: Tree): Tree {
  switch (node.kind) {
    case 'literal':
    case 'field':
      return node;
    case 'array':
      return { kind: 'array', items: node.items.map(expected) };
    case 'not':
      return { kind: 'not', operand: expected(node.operand) };
    case 'negate': {
      const operand = expected(node.operand);
      if (operand.kind === 'literal' && typeof operand.value === 'number') return { kind: 'literal', value: -operand.value };
      return { kind: 'negate', operand };
    }
    case 'binary':
      return { kind: 'binary', operator: node.operator, left: expected(node.left), right: expected(node.right) };
    case 'and':
    case 'or':
      return { kind: node.kind, left: expected(node.left), right: expected(node.right) };
    case 'call':
      return { kind: 'call', name: node.name, args: node.args.map(expected) };
  }
}

/** The parser's tree without columns or compiled regexes, in the shape of Tree. */
function parsed(node: unknown): Tree {
  const n = node as Record<string, unknown> & { kind: Tree['kind'] };
  switch (n.kind) {
    case 'literal':
      return { kind: 'literal', value: n.value as null | boolean | number | string };
    case 'field':
      return { kind: 'field', keys: [...(n.pointer as { keys: string[] }).keys] };
    case 'array':
      return { kind: 'array', items: (n.items as unknown[]).map(parsed) };
    case 'not':
    case 'negate':
      return { kind: n.kind, operand: parsed(n.operand) };
    case 'binary':
      return { kind: 'binary', operator: n.operator as string, left: parsed(n.left), right: parsed(n.right) };
    case 'and':
    case 'or':
      return { kind: n.kind, left: parsed(n.left), right: parsed(n.right) };
    case 'call':
      return { kind: 'call', name: n.name as string, args: (n.args as unknown[]).map(parsed) };
  }
}

/** Records with the fields the expressions name, of every JSON type, some of them large. */
const recordArbitrary = fc.dictionary(
  fc.constantFrom(...FIELD_NAMES),
  fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom('2024-05-01', '2024-05-01T10:15:00Z', '12.5', ' 7 ', 'abc'),
    fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 5 }),
    fc.nat({ max: 3 }).map((k) => 'x'.repeat(10 ** (k + 2))),
    fc.nat({ max: 3 }).map((k) => Array.from({ length: 10 ** (k + 1) }, (_, i) => i)),
  ),
  { maxKeys: 6 },
);

function isJsonValue(value: unknown): boolean {
  return value === null || ['boolean', 'number', 'string', 'object'].includes(typeof value);
}

/** The result of one evaluation as comparable data: the value, or the evaluation error's message. */
function evaluate(source: string, record: unknown, budget: number): { value: Value } | { error: string } {
  const expression = compileExpression(source, { budget });
  try {
    return { value: expression.evaluate(record, { budget: 0, now: () => 1_733_000_000_000 }) };
  } catch (error) {
    if (error instanceof ExpressionEvaluationError) return { error: error.message };
    throw error;
  }
}

describe('expression language, property-based', () => {
  it('parses the printed form of any syntax tree back to that tree', () => {
    checkProperty(
      'expression print/parse round trip',
      1000,
      fc.property(tree, (node) => {
        const source = print(node);
        fc.pre(source.length <= 4096);
        expect(parsed(compileExpression(source).ast), source).toEqual(expected(node));
      }),
    );
  });

  it('parses any text or fails with ExpressionSyntaxError at a column inside it', () => {
    const tokens = fc.constantFrom(
      ...['a', 'b.c', 'x[0]', "x['k']", '$', "$'/a~1b'", '1', '2.5', '1e3', '1e', '"s"', "'t", '\\', '(', ')', '[', ']', ',', '.', '+', '-', '*', '/', '%'],
      ...[
        '!',
        '==',
        '!=',
        '<',
        '<=',
        '>',
        '>=',
        '&&',
        '||',
        '&',
        '|',
        '=',
        'in',
        'true',
        'null',
        'len(',
        'matches(',
        "'[a-'",
        'nosuch(',
        ' ',
        '\n',
        '\u00e9',
        '\ud800',
      ],
    );
    const text = fc.oneof(
      fc.array(tokens, { maxLength: 20 }).map((parts) => parts.join('')),
      fc.string({ unit: 'binary', maxLength: 30 }),
    );
    checkProperty(
      'expression parser on arbitrary text',
      1500,
      fc.property(text, (source) => {
        try {
          compileExpression(source);
        } catch (error) {
          if (!(error instanceof ExpressionSyntaxError)) throw error;
          expect(error.column, source).toBeGreaterThanOrEqual(1);
          expect(error.column, source).toBeLessThanOrEqual(source.length + 1);
          expect(error.reason.length).toBeGreaterThan(0);
        }
      }),
    );
  });

  it('evaluates any expression on any record to a JSON value or an ExpressionEvaluationError, deterministically', () => {
    checkProperty(
      'expression evaluation on arbitrary records',
      800,
      fc.property(tree, recordArbitrary, (node, record) => {
        const source = print(node);
        fc.pre(source.length <= 4096);
        const first = evaluate(source, record, 100_000);
        if ('value' in first) expect(isJsonValue(first.value), source).toBe(true);
        // The budget is reset per evaluation: a second run gives the same.
        expect(evaluate(source, record, 100_000), source).toEqual(first);
      }),
    );
  });

  it('stays within its cost budget: bounded time, and more budget never changes a result that fit', () => {
    let slowest = 0;
    let budgetFailures = 0;
    checkProperty(
      'expression cost budget',
      500,
      fc.property(tree, recordArbitrary, fc.integer({ min: 1, max: 5000 }), (node, record, budget) => {
        const source = print(node);
        fc.pre(source.length <= 4096);
        const started = performance.now();
        const small = evaluate(source, record, budget);
        slowest = Math.max(slowest, performance.now() - started);
        if ('error' in small) {
          if (small.error.includes('budget')) budgetFailures++;
          return;
        }
        expect(evaluate(source, record, budget * 10), source).toEqual(small);
      }),
    );
    process.stdout.write(`[fuzz] expression cost budget: slowest evaluation ${slowest.toFixed(1)} ms, ${budgetFailures} stopped by the budget\n`);
    // A budget of at most 5,000 units is microseconds of work; 250 ms leaves room for a busy machine's pauses.
    expect(slowest).toBeLessThan(250);
  });

  it('evaluates any expression within a bounded time on a record whose every field is large (default budget)', () => {
    const text = 'ab, '.repeat(100_000);
    const numbers = Array.from({ length: 100_000 }, (_, i) => i);
    const wide = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]));
    const large: Record<string, unknown> = {};
    FIELD_NAMES.forEach((name, i) => {
      large[name] = [text, numbers, wide, [numbers, [...numbers]], '2024-05-01', 12.5][i % 6];
    });
    let slowest = 0;
    let stopped = 0;
    checkProperty(
      'expression time on a large record',
      300,
      fc.property(tree, (node) => {
        const source = print(node);
        fc.pre(source.length <= 4096);
        const started = performance.now();
        const result = evaluate(source, large, 100_000);
        slowest = Math.max(slowest, performance.now() - started);
        if ('error' in result && result.error.includes('budget')) stopped++;
      }),
    );
    process.stdout.write(`[fuzz] expression time on a large record: slowest ${slowest.toFixed(1)} ms, ${stopped} stopped by the budget\n`);
    // 100,000 units is about a millisecond of work; 250 ms leaves room for a busy machine's pauses.
    expect(slowest).toBeLessThan(250);
  });

  it('stops a costly expression on a large record by its budget, quickly', () => {
    const items = Array.from({ length: 200_000 }, (_, i) => i);
    // `copy` equals `items` but is not the same array: comparing them must walk (and pay for) every element.
    const big = { a: 'x'.repeat(1_000_000), items, copy: [...items] };
    const costly = fc.constantFrom(
      'len(a + a) > 0',
      "contains(upper(a), 'Y')",
      'sum(items) > 0',
      '5 in items',
      'items == copy',
      '[items] == [copy]',
      "matches(a, '^x*y$')",
      "lower(a) == upper(a) || startsWith(a + a, 'y')",
    );
    let slowest = 0;
    checkProperty(
      'expression budget on a 1 MB record',
      60,
      fc.property(costly, fc.integer({ min: 1, max: 10_000 }), (source, budget) => {
        const started = performance.now();
        const result = evaluate(source, big, budget);
        slowest = Math.max(slowest, performance.now() - started);
        expect(result, source).toEqual({ error: 'expression is too costly for this record (evaluation budget spent)' });
      }),
    );
    process.stdout.write(`[fuzz] expression budget on a 1 MB record: slowest ${slowest.toFixed(1)} ms\n`);
    expect(slowest).toBeLessThan(250);
  });
});

describe('expression regressions found by fuzzing', () => {
  it('pays per element to compare two equal arrays (found: [items] == [copy] of 200,000 numbers cost 2 units)', () => {
    const items = Array.from({ length: 200_000 }, (_, i) => i);
    const record = { items, copy: [...items], text: 'y'.repeat(200_000), same: 'y'.repeat(200_000) };
    expect(evaluate('[items] == [copy]', record, 2)).toEqual({ error: 'expression is too costly for this record (evaluation budget spent)' });
    expect(evaluate('items == copy', record, 100_000)).toEqual({ error: 'expression is too costly for this record (evaluation budget spent)' });
    expect(evaluate('items == copy', record, 200_001)).toEqual({ value: true });
    // Long strings compared for equality are paid per character, like '<' pays for them.
    expect(evaluate('text == same', record, 100_000)).toEqual({ error: 'expression is too costly for this record (evaluation budget spent)' });
    expect(evaluate("'ab' == 'ab' && 'ab' != 'abc'", record, 2)).toEqual({ value: true });
  });
});
