import { parseIsoDate } from '../iso-date.js';
import type { ExpressionNode } from './ast.js';
import { ExpressionEvaluationError } from './errors.js';

/** What an expression works with: JSON values, with a missing field read as null. */
export type Value = null | boolean | number | string | object;

/** Per-evaluation state: the remaining cost budget and the clock. */
export interface EvaluationState {
  /** Units left; data-dependent work (scanning strings and arrays) spends one unit per element. */
  budget: number;
  /** Epoch milliseconds for now(). */
  now(): number;
}

export type CallNode = Extract<ExpressionNode, { kind: 'call' }>;

export interface FunctionDefinition {
  readonly signature: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  readonly apply: (args: readonly Value[], state: EvaluationState, call: CallNode) => Value;
}

/**
 * `matches()` is charged one unit per character for every this many instructions of its pattern:
 * a unit is about 10 ns of work, and RE2's automaton covers a few dozen instructions in that time.
 */
const REGEX_INSTRUCTIONS_PER_UNIT = 32;

export function spend(state: EvaluationState, units: number): void {
  state.budget -= units;
  if (state.budget < 0) throw new ExpressionEvaluationError('expression is too costly for this record (evaluation budget spent)');
}

export function typeName(value: Value): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

export function codePointLength(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length--;
        i++;
      }
    }
  }
  return length;
}

const DAY_MS = 86_400_000;

function wrongType(call: CallNode, expected: string, got: Value): ExpressionEvaluationError {
  return new ExpressionEvaluationError(`${call.name}() needs ${expected}, got ${typeName(got)} (column ${call.column})`);
}

function stringFunction(signature: string, apply: (text: string) => Value): FunctionDefinition {
  return {
    signature,
    minArgs: 1,
    maxArgs: 1,
    apply: ([value = null], state, call) => {
      if (value === null) return null;
      if (typeof value !== 'string') throw wrongType(call, 'a string', value);
      spend(state, value.length);
      return apply(value);
    },
  };
}

function numberFunction(signature: string, apply: (n: number) => number): FunctionDefinition {
  return {
    signature,
    minArgs: 1,
    maxArgs: 1,
    apply: ([value = null], _state, call) => {
      if (value === null) return null;
      if (typeof value !== 'number') throw wrongType(call, 'a number', value);
      return apply(value);
    },
  };
}

function twoStrings(signature: string, apply: (text: string, part: string) => boolean): FunctionDefinition {
  return {
    signature,
    minArgs: 2,
    maxArgs: 2,
    apply: ([text = null, part = null], state, call) => {
      if (text === null || part === null) return null;
      if (typeof text !== 'string') throw wrongType(call, 'a string', text);
      if (typeof part !== 'string') throw wrongType(call, 'a string', part);
      spend(state, text.length);
      return apply(text, part);
    },
  };
}

function extremum(name: 'min' | 'max'): FunctionDefinition {
  return {
    signature: `${name}(number, ...)`,
    minArgs: 1,
    maxArgs: 16,
    apply: (args, _state, call) => {
      let best = name === 'min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      for (const value of args) {
        if (value === null) return null;
        if (typeof value !== 'number') throw wrongType(call, 'numbers', value);
        best = name === 'min' ? Math.min(best, value) : Math.max(best, value);
      }
      return best;
    },
  };
}

export const FUNCTIONS: ReadonlyMap<string, FunctionDefinition> = new Map<string, FunctionDefinition>([
  [
    'len',
    {
      signature: 'len(string | array | object)',
      minArgs: 1,
      maxArgs: 1,
      apply: ([value = null], state, call) => {
        if (value === null) return null;
        if (typeof value === 'string') {
          spend(state, value.length);
          return codePointLength(value);
        }
        if (Array.isArray(value)) return value.length;
        if (typeof value === 'object') {
          const size = Object.keys(value).length;
          spend(state, size);
          return size;
        }
        throw wrongType(call, 'a string, array or object', value);
      },
    },
  ],
  ['lower', stringFunction('lower(string)', (text) => text.toLowerCase())],
  ['upper', stringFunction('upper(string)', (text) => text.toUpperCase())],
  ['trim', stringFunction('trim(string)', (text) => text.trim())],
  [
    'number',
    {
      signature: 'number(string | number)',
      minArgs: 1,
      maxArgs: 1,
      apply: ([value = null], _state, call) => {
        if (value === null || typeof value === 'number') return value;
        if (typeof value !== 'string') throw wrongType(call, 'a string or number', value);
        const trimmed = value.trim();
        const parsed = trimmed === '' || trimmed.length > 64 ? Number.NaN : Number(trimmed);
        if (!Number.isFinite(parsed)) throw new ExpressionEvaluationError(`number(): the string is not a number (column ${call.column})`);
        return parsed;
      },
    },
  ],
  ['abs', numberFunction('abs(number)', Math.abs)],
  ['floor', numberFunction('floor(number)', Math.floor)],
  ['ceil', numberFunction('ceil(number)', Math.ceil)],
  ['round', numberFunction('round(number)', Math.round)],
  ['days', numberFunction('days(number)', (n) => n * DAY_MS)],
  ['min', extremum('min')],
  ['max', extremum('max')],
  [
    'sum',
    {
      signature: 'sum(array of numbers)',
      minArgs: 1,
      maxArgs: 1,
      apply: ([value = null], state, call) => {
        if (value === null) return null;
        if (!Array.isArray(value)) throw wrongType(call, 'an array', value);
        spend(state, value.length);
        let total = 0;
        for (const item of value) {
          if (item === null || item === undefined) return null;
          if (typeof item !== 'number') {
            throw new ExpressionEvaluationError(`sum() needs an array of numbers, found ${typeName(item as Value)} (column ${call.column})`);
          }
          total += item;
        }
        return total;
      },
    },
  ],
  [
    'coalesce',
    {
      signature: 'coalesce(value, ...)',
      minArgs: 1,
      maxArgs: 16,
      apply: (args) => {
        for (const value of args) if (value !== null) return value;
        return null;
      },
    },
  ],
  ['now', { signature: 'now()', minArgs: 0, maxArgs: 0, apply: (_args, state) => state.now() }],
  [
    'date',
    {
      signature: 'date(string)',
      minArgs: 1,
      maxArgs: 1,
      apply: ([value = null], _state, call) => {
        if (value === null) return null;
        if (typeof value !== 'string') throw wrongType(call, 'an ISO 8601 date string', value);
        const time = parseIsoDate(value);
        if (Number.isNaN(time)) throw new ExpressionEvaluationError(`date(): the string is not an ISO 8601 date (column ${call.column})`);
        return time;
      },
    },
  ],
  ['contains', twoStrings('contains(string, part)', (text, part) => text.includes(part))],
  ['startsWith', twoStrings('startsWith(string, prefix)', (text, part) => text.startsWith(part))],
  ['endsWith', twoStrings('endsWith(string, suffix)', (text, part) => text.endsWith(part))],
  [
    'matches',
    {
      signature: "matches(string, 'RE2 pattern')",
      minArgs: 2,
      maxArgs: 2,
      apply: ([value = null], state, call) => {
        if (value === null) return null;
        if (typeof value !== 'string') throw wrongType(call, 'a string', value);
        // The parser guarantees the regex for matches(). RE2 steps its live instructions for each
        // character: a large program costs more per character (charged before it runs).
        const regex = call.regex;
        if (regex === undefined) return false;
        spend(state, value.length * Math.max(1, Math.ceil(regex.instructions / REGEX_INSTRUCTIONS_PER_UNIT)));
        return regex.search(value);
      },
    },
  ],
]);
