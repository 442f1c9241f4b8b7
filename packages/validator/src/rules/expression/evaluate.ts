import { resolvePointer } from '../json-pointer.js';
import type { ExpressionNode, Literal } from './ast.js';
import { ExpressionEvaluationError } from './errors.js';
import { type EvaluationState, FUNCTIONS, spend, typeName, type Value } from './functions.js';

/** An expression compiled to nested closures: no AST walk and no lookups per record. */
export type Evaluator = (record: unknown, state: EvaluationState) => Value;

const MAX_COMPARE_DEPTH = 64;

export function compileNode(node: ExpressionNode): Evaluator {
  switch (node.kind) {
    case 'literal': {
      const value = node.value;
      return () => value;
    }
    case 'field': {
      const pointer = node.pointer;
      return (record) => {
        const value = resolvePointer(record, pointer);
        return value === undefined ? null : (value as Value);
      };
    }
    case 'array': {
      if (node.items.every((item) => item.kind === 'literal')) {
        const constant = Object.freeze(node.items.map((item) => (item as { value: Literal }).value));
        return () => constant;
      }
      const items = node.items.map(compileNode);
      return (record, state) => items.map((item) => item(record, state));
    }
    case 'not': {
      const operand = compileNode(node.operand);
      const column = node.column;
      return (record, state) => {
        const value = operand(record, state);
        if (value === null) return null;
        if (typeof value !== 'boolean') throw new ExpressionEvaluationError(`'!' needs a boolean, got ${typeName(value)} (column ${column})`);
        return !value;
      };
    }
    case 'negate': {
      const operand = compileNode(node.operand);
      const column = node.column;
      return (record, state) => {
        const value = operand(record, state);
        if (value === null) return null;
        if (typeof value !== 'number') throw new ExpressionEvaluationError(`'-' needs a number, got ${typeName(value)} (column ${column})`);
        return -value;
      };
    }
    case 'and':
    case 'or':
      return compileLogical(node.kind, compileNode(node.left), compileNode(node.right), node.column);
    case 'binary':
      if (node.operator === 'in' && node.right.kind === 'array' && node.right.items.every((item) => item.kind === 'literal')) {
        return compileInSet(compileNode(node.left), node.right.items as readonly { value: Literal }[]);
      }
      return compileBinary(node.operator, compileNode(node.left), compileNode(node.right), node.column);
    case 'call': {
      const definition = FUNCTIONS.get(node.name);
      if (definition === undefined) throw new Error(`unknown function ${node.name} passed the parser`);
      const args = node.args.map(compileNode);
      const values: Value[] = new Array<Value>(args.length).fill(null);
      return (record, state) => {
        // One argument array per call site: the language has no recursion, so a call site is never re-entered.
        for (let i = 0; i < args.length; i++) values[i] = (args[i] as Evaluator)(record, state);
        return definition.apply(values, state, node);
      };
    }
  }
}

/** Kleene three-valued logic: null is "unknown", so `null && false` is false and `null || true` is true. */
function compileLogical(kind: 'and' | 'or', left: Evaluator, right: Evaluator, column: number): Evaluator {
  const operator = kind === 'and' ? '&&' : '||';
  const decisive = kind === 'or';
  const check = (value: Value): void => {
    if (value !== null && typeof value !== 'boolean') {
      throw new ExpressionEvaluationError(`'${operator}' needs booleans, got ${typeName(value)} (column ${column})`);
    }
  };
  return (record, state) => {
    const a = left(record, state);
    if (a === decisive) return decisive;
    check(a);
    const b = right(record, state);
    if (b === decisive) return decisive;
    check(b);
    return a === null || b === null ? null : !decisive;
  };
}

function compileInSet(left: Evaluator, items: readonly { value: Literal }[]): Evaluator {
  const members = new Set<Literal>(items.map((item) => item.value));
  return (record, state) => members.has(left(record, state) as Literal);
}

function compileBinary(operator: string, left: Evaluator, right: Evaluator, column: number): Evaluator {
  const fail = (message: string): never => {
    throw new ExpressionEvaluationError(`${message} (column ${column})`);
  };
  const finite = (n: number): number => (Number.isFinite(n) ? n : fail(`'${operator}' overflowed`));
  const numbers = (a: Value, b: Value): void => {
    if (typeof a !== 'number' || typeof b !== 'number') fail(`'${operator}' needs numbers, got ${typeName(a)} and ${typeName(b)}`);
  };
  switch (operator) {
    case '+':
      return (record, state) => {
        const a = left(record, state);
        const b = right(record, state);
        if (a === null || b === null) return null;
        if (typeof a === 'number' && typeof b === 'number') return finite(a + b);
        if (typeof a === 'string' && typeof b === 'string') {
          spend(state, a.length + b.length);
          return a + b;
        }
        return fail(`'+' needs two numbers or two strings, got ${typeName(a)} and ${typeName(b)}`);
      };
    case '-':
    case '*':
    case '/':
    case '%':
      return (record, state) => {
        const a = left(record, state);
        const b = right(record, state);
        if (a === null || b === null) return null;
        numbers(a, b);
        const x = a as number;
        const y = b as number;
        if (operator === '-') return finite(x - y);
        if (operator === '*') return finite(x * y);
        if (y === 0) return fail(operator === '/' ? 'division by zero' : 'remainder of division by zero');
        return finite(operator === '/' ? x / y : x % y);
      };
    case '<':
    case '<=':
    case '>':
    case '>=':
      return (record, state) => {
        const a = left(record, state);
        const b = right(record, state);
        if (a === null || b === null) return null;
        const bothNumbers = typeof a === 'number' && typeof b === 'number';
        const bothStrings = typeof a === 'string' && typeof b === 'string';
        if (!bothNumbers && !bothStrings) return fail(`cannot compare ${typeName(a)} with ${typeName(b)}`);
        if (bothStrings) spend(state, Math.min((a as string).length, (b as string).length));
        if (operator === '<') return a < b;
        if (operator === '<=') return a <= b;
        if (operator === '>') return a > b;
        return a >= b;
      };
    case '==':
      return (record, state) => equals(left(record, state), right(record, state), state, 0);
    case '!=':
      return (record, state) => !equals(left(record, state), right(record, state), state, 0);
    case 'in':
      return (record, state) => {
        const needle = left(record, state);
        const haystack = right(record, state);
        if (haystack === null) return null;
        if (!Array.isArray(haystack)) return fail(`'in' needs an array on its right, got ${typeName(haystack)}`);
        spend(state, haystack.length);
        for (const item of haystack) if (equals(needle, item === undefined ? null : (item as Value), state, 0)) return true;
        return false;
      };
    default:
      throw new Error(`no evaluator for operator ${operator}`);
  }
}

/** Strict equality for scalars (1 != '1'), structural for arrays and objects; null == null. */
function equals(a: Value, b: Value, state: EvaluationState, depth: number): boolean {
  // Strings of the same length are compared character by character: data-dependent work too.
  if (typeof a === 'string' && typeof b === 'string') {
    if (a.length === b.length) spend(state, a.length);
    return a === b;
  }
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (depth > MAX_COMPARE_DEPTH) throw new ExpressionEvaluationError(`values are nested too deeply to compare (more than ${MAX_COMPARE_DEPTH} levels)`);
  spend(state, 1);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    // Every element is visited, scalars included (fuzzing found 200,000-element arrays compared for one unit).
    spend(state, a.length);
    for (let i = 0; i < a.length; i++) if (!equals(a[i] ?? null, b[i] ?? null, state, depth + 1)) return false;
    return true;
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  spend(state, keys.length);
  for (const key of keys) {
    if (!Object.hasOwn(b, key)) return false;
    const x = (a as Record<string, Value>)[key] ?? null;
    const y = (b as Record<string, Value>)[key] ?? null;
    if (!equals(x, y, state, depth + 1)) return false;
  }
  return true;
}
