import { compilePointer, InvalidPointerError, pointerFromKeys } from '../json-pointer.js';
import { compileLinearRegex, type LinearRegex, RegexCompileError } from '../regex.js';
import type { BinaryOperator, ExpressionNode } from './ast.js';
import { ExpressionSyntaxError } from './errors.js';
import { FUNCTIONS } from './functions.js';
import { describeChar, type Token, tokenize } from './lexer.js';

export const MAX_EXPRESSION_LENGTH = 4096;
export const MAX_EXPRESSION_DEPTH = 64;
/** Longest path from the root of the syntax tree to a leaf; the evaluator recurses along it. */
export const MAX_EXPRESSION_HEIGHT = 256;

/**
 * Pratt parser. Binding powers, loosest first:
 *   ||  10   &&  20   == !=  30   < <= > >= in  40   + -  50   * / %  60   prefix ! -  70
 * Comparisons do not chain (`a < b < c` is an error): in most languages it means something
 * nobody intended.
 */
interface InfixOperator {
  readonly power: number;
  readonly build: 'binary' | 'and' | 'or';
  readonly comparison: boolean;
}

const INFIX: ReadonlyMap<string, InfixOperator> = new Map<string, InfixOperator>([
  ['||', { power: 10, build: 'or', comparison: false }],
  ['&&', { power: 20, build: 'and', comparison: false }],
  ['==', { power: 30, build: 'binary', comparison: true }],
  ['!=', { power: 30, build: 'binary', comparison: true }],
  ['<', { power: 40, build: 'binary', comparison: true }],
  ['<=', { power: 40, build: 'binary', comparison: true }],
  ['>', { power: 40, build: 'binary', comparison: true }],
  ['>=', { power: 40, build: 'binary', comparison: true }],
  ['in', { power: 40, build: 'binary', comparison: true }],
  ['+', { power: 50, build: 'binary', comparison: false }],
  ['-', { power: 50, build: 'binary', comparison: false }],
  ['*', { power: 60, build: 'binary', comparison: false }],
  ['/', { power: 60, build: 'binary', comparison: false }],
  ['%', { power: 60, build: 'binary', comparison: false }],
]);
const PREFIX_POWER = 70;
const KEYWORDS = new Set(['true', 'false', 'null', 'in']);

/** Compiles the pattern of a `matches()` call; a rule set's compile passes one that charges its pattern budget. */
export type RegexCompiler = (pattern: string) => LinearRegex;

export function parseExpression(source: string, compileRegex: RegexCompiler = compileLinearRegex): ExpressionNode {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new ExpressionSyntaxError(`expression is longer than ${MAX_EXPRESSION_LENGTH} characters`, MAX_EXPRESSION_LENGTH + 1);
  }
  const parser = new Parser(tokenize(source), compileRegex);
  const node = parser.expression(0);
  parser.expectEnd();
  // Nesting is capped while parsing; a long flat chain (a + a + a ...) is capped here.
  const height = treeHeight(node);
  if (height > MAX_EXPRESSION_HEIGHT) {
    throw new ExpressionSyntaxError(
      `expression has too many operators in one chain (${height} levels, limit ${MAX_EXPRESSION_HEIGHT}); use 'in [...]' for long alternatives`,
      1,
    );
  }
  return node;
}

function treeHeight(root: ExpressionNode): number {
  let height = 0;
  const pending: [ExpressionNode, number][] = [[root, 1]];
  for (let entry = pending.pop(); entry !== undefined; entry = pending.pop()) {
    const [node, level] = entry;
    height = Math.max(height, level);
    switch (node.kind) {
      case 'array':
        for (const item of node.items) pending.push([item, level + 1]);
        break;
      case 'call':
        for (const arg of node.args) pending.push([arg, level + 1]);
        break;
      case 'not':
      case 'negate':
        pending.push([node.operand, level + 1]);
        break;
      case 'binary':
      case 'and':
      case 'or':
        pending.push([node.left, level + 1], [node.right, level + 1]);
        break;
      default:
        break;
    }
  }
  return height;
}

class Parser {
  #position = 0;
  #depth = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly compileRegex: RegexCompiler,
  ) {}

  expression(minPower: number): ExpressionNode {
    const start = this.#peek();
    if (++this.#depth > MAX_EXPRESSION_DEPTH) {
      throw new ExpressionSyntaxError(`expression is nested too deeply (more than ${MAX_EXPRESSION_DEPTH} levels)`, start.column);
    }
    let left = this.#prefix();
    let lastComparison = -1;
    for (;;) {
      const token = this.#peek();
      const operator = infixOf(token);
      if (operator === undefined || operator.power <= minPower) break;
      if (operator.comparison && operator.power === lastComparison) {
        throw new ExpressionSyntaxError(`comparisons cannot be chained; join them with && (at '${token.text}')`, token.column);
      }
      this.#next();
      const right = this.expression(operator.power);
      if (operator.build === 'binary') {
        left = { kind: 'binary', operator: token.text as BinaryOperator, left, right, column: token.column };
      } else {
        left = { kind: operator.build, left, right, column: token.column };
      }
      lastComparison = operator.comparison ? operator.power : -1;
    }
    this.#depth--;
    return left;
  }

  expectEnd(): void {
    const token = this.#peek();
    if (token.kind !== 'end') {
      throw new ExpressionSyntaxError(`unexpected ${describe(token)} after a complete expression (missing an operator?)`, token.column);
    }
  }

  #prefix(): ExpressionNode {
    const token = this.#next();
    const { column } = token;
    switch (token.kind) {
      case 'number':
      case 'string':
        return { kind: 'literal', value: token.value, column };
      case 'pointer': {
        let keys: readonly string[];
        try {
          keys = compilePointer(String(token.value), { allowWildcard: false }).keys;
        } catch (error) {
          if (error instanceof InvalidPointerError) throw new ExpressionSyntaxError(error.message, column);
          throw error;
        }
        return this.#path([...keys], column);
      }
      case 'root':
        return this.#path([], column);
      case 'identifier': {
        if (token.text === 'true' || token.text === 'false') return { kind: 'literal', value: token.text === 'true', column };
        if (token.text === 'null') return { kind: 'literal', value: null, column };
        if (token.text === 'in') throw new ExpressionSyntaxError("expected a value before 'in'", column);
        if (this.#peek().text === '(' && this.#peek().kind === 'operator') return this.#call(token);
        return this.#path([token.text], column);
      }
      case 'operator':
        return this.#prefixOperator(token);
      case 'end':
        throw new ExpressionSyntaxError('expected a value but the expression ended', column);
    }
  }

  #prefixOperator(token: Token): ExpressionNode {
    const { column } = token;
    switch (token.text) {
      case '(': {
        const inner = this.expression(0);
        this.#expect(')', `to close the '(' at column ${column}`);
        return inner;
      }
      case '[': {
        const items: ExpressionNode[] = [];
        if (!this.#accept(']')) {
          do items.push(this.expression(0));
          while (this.#accept(','));
          this.#expect(']', `to close the '[' at column ${column}`);
        }
        return { kind: 'array', items, column };
      }
      case '!':
        return { kind: 'not', operand: this.expression(PREFIX_POWER), column };
      case '-': {
        const operand = this.expression(PREFIX_POWER);
        if (operand.kind === 'literal' && typeof operand.value === 'number') return { kind: 'literal', value: -operand.value, column };
        return { kind: 'negate', operand, column };
      }
      default:
        throw new ExpressionSyntaxError(`expected a value but found ${describe(token)}`, column);
    }
  }

  /** `customer.email`, `items[0].sku`, `meta['content-type']`, `$'/a~1b'.c`. */
  #path(keys: string[], column: number): ExpressionNode {
    for (;;) {
      if (this.#accept('.')) {
        const name = this.#next();
        if (name.kind !== 'identifier') {
          const hint = name.kind === 'number' ? ` (write [${name.text}] for an array element)` : '';
          throw new ExpressionSyntaxError(`expected a field name after '.' but found ${describe(name)}${hint}`, name.column);
        }
        keys.push(name.text);
      } else if (this.#peek().kind === 'operator' && this.#peek().text === '[') {
        const open = this.#next();
        const key = this.#next();
        if (key.kind === 'string') keys.push(String(key.value));
        else if (key.kind === 'number' && Number.isSafeInteger(key.value) && /^\d+$/.test(key.text)) keys.push(String(key.value));
        else throw new ExpressionSyntaxError(`expected an array index or a quoted key inside [ ] but found ${describe(key)}`, key.column);
        this.#expect(']', `to close the '[' at column ${open.column}`);
      } else {
        return { kind: 'field', pointer: pointerFromKeys(keys), column };
      }
    }
  }

  #call(name: Token): ExpressionNode {
    const definition = FUNCTIONS.get(name.text);
    if (definition === undefined) {
      const suggestion = closest(name.text, [...FUNCTIONS.keys()]);
      const hint = suggestion === undefined ? `; known functions: ${[...FUNCTIONS.keys()].join(', ')}` : ` (did you mean ${suggestion}()?)`;
      throw new ExpressionSyntaxError(`unknown function '${name.text}'${hint}`, name.column);
    }
    this.#next(); // (
    const args: ExpressionNode[] = [];
    if (!this.#accept(')')) {
      do args.push(this.expression(0));
      while (this.#accept(','));
      this.#expect(')', `to close the call of ${name.text}() at column ${name.column}`);
    }
    if (args.length < definition.minArgs || args.length > definition.maxArgs) {
      const wanted =
        definition.minArgs === definition.maxArgs
          ? `${definition.minArgs} argument${definition.minArgs === 1 ? '' : 's'}`
          : `${definition.minArgs} to ${definition.maxArgs} arguments`;
      throw new ExpressionSyntaxError(`${name.text}() takes ${wanted}, got ${args.length}: ${definition.signature}`, name.column);
    }
    if (name.text === 'matches') {
      const pattern = args[1];
      if (pattern?.kind !== 'literal' || typeof pattern.value !== 'string') {
        throw new ExpressionSyntaxError('the pattern of matches() must be a string literal', pattern?.column ?? name.column);
      }
      try {
        return { kind: 'call', name: name.text, args, column: name.column, regex: this.compileRegex(pattern.value) };
      } catch (error) {
        if (error instanceof RegexCompileError) throw new ExpressionSyntaxError(error.message, pattern.column);
        throw error;
      }
    }
    return { kind: 'call', name: name.text, args, column: name.column };
  }

  #peek(): Token {
    return this.tokens[this.#position] ?? (this.tokens[this.tokens.length - 1] as Token);
  }

  #next(): Token {
    const token = this.#peek();
    if (token.kind !== 'end') this.#position++;
    return token;
  }

  #accept(operator: string): boolean {
    const token = this.#peek();
    if (token.kind === 'operator' && token.text === operator) {
      this.#position++;
      return true;
    }
    return false;
  }

  #expect(operator: string, why: string): void {
    const token = this.#peek();
    if (!this.#accept(operator)) throw new ExpressionSyntaxError(`expected '${operator}' ${why} but found ${describe(token)}`, token.column);
  }
}

function infixOf(token: Token): InfixOperator | undefined {
  if (token.kind === 'operator' || (token.kind === 'identifier' && token.text === 'in')) return INFIX.get(token.text);
  return undefined;
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'the end of the expression';
    case 'identifier':
      return KEYWORDS.has(token.text) ? `'${token.text}'` : `name '${token.text}'`;
    case 'operator':
      return token.text.length === 1 ? describeChar(token.text) : `'${token.text}'`;
    default:
      return `${token.kind} ${token.text}`;
  }
}

/** The known name within edit distance 2, for "did you mean". */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const lower = name.toLowerCase();
    // "length" for len(), "lowercase" for lower()
    if (candidate.length >= 3 && lower.startsWith(candidate.toLowerCase())) return candidate;
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
