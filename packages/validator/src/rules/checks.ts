import { ExpressionEvaluationError } from './expression/errors.js';
import type { CompiledExpression } from './expression/expression.js';
import { codePointLength, typeName, type Value } from './expression/functions.js';
import { parseIsoDate } from './iso-date.js';
import { type CompiledPointer, resolvePointer, visitPointer } from './json-pointer.js';
import type { RecordRun } from './record-run.js';
import type { LinearRegex } from './regex.js';
import type { JsonTypeName, Scalar, Severity } from './rule-set.js';
import { uniqueKey } from './uniqueness.js';

/**
 * Checks of one field value: null when the value passes, else the default message. `undefined`
 * is a missing field. Only `required` fails a missing or null value and only `type` looks at null;
 * the others leave absence to `required`.
 */
export type ValueCheck = (value: unknown) => string | null;

/** Runs one compiled rule against a record, reporting into the run. */
export type RuleApplier = (record: unknown, run: RecordRun) => void;

export interface RuleIdentity {
  readonly id: string;
  readonly severity: Severity;
  /** The rule's own message, which replaces the default one. */
  readonly message: string | undefined;
}

export function applyToField(rule: RuleIdentity, pointer: CompiledPointer, check: ValueCheck): RuleApplier {
  const { id, severity, message } = rule;
  if (!pointer.wildcard) {
    const path = pointer.text;
    return (record, run) => {
      const failure = check(resolvePointer(record, pointer));
      if (failure !== null) run.report(id, severity, path, message ?? failure);
    };
  }
  return (record, run) => {
    visitPointer(record, pointer, (value, path) => {
      const failure = check(value);
      if (failure !== null) run.report(id, severity, path, message ?? failure);
    });
  };
}

export const requiredCheck: ValueCheck = (value) => (value === undefined || value === null ? 'is required' : null);

/** The JSON type of a value as a bit; "number" in a rule admits integers too. */
const TYPE_BITS: Record<JsonTypeName, number> = { null: 1, boolean: 2, integer: 4, number: 8, string: 16, array: 32, object: 64 };

export function typeCheck(types: readonly JsonTypeName[]): ValueCheck {
  let allowed = 0;
  for (const type of types) allowed |= type === 'number' ? TYPE_BITS.number | TYPE_BITS.integer : TYPE_BITS[type];
  const expected = `must be ${types.join(' or ')}`;
  return (value) => {
    if (value === undefined) return null;
    const actual = jsonTypeOf(value);
    return (allowed & TYPE_BITS[actual]) !== 0 ? null : `${expected}, got ${actual}`;
  };
}

function jsonTypeOf(value: unknown): JsonTypeName {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'number':
      return Number.isInteger(value) ? 'integer' : 'number';
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    default:
      return 'object';
  }
}

export interface RangeBounds<T> {
  readonly min?: T;
  readonly max?: T;
  readonly exclusiveMin?: T;
  readonly exclusiveMax?: T;
}

export function numberRangeCheck(bounds: RangeBounds<number>): ValueCheck {
  const { min, max, exclusiveMin, exclusiveMax } = bounds;
  return (value) => {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'number') return `must be a number, got ${typeName(value as Value)}`;
    if (min !== undefined && value < min) return `must be >= ${min}, got ${value}`;
    if (exclusiveMin !== undefined && value <= exclusiveMin) return `must be > ${exclusiveMin}, got ${value}`;
    if (max !== undefined && value > max) return `must be <= ${max}, got ${value}`;
    if (exclusiveMax !== undefined && value >= exclusiveMax) return `must be < ${exclusiveMax}, got ${value}`;
    return null;
  };
}

/** Bounds as epoch milliseconds, with the text the rule set gave for messages. */
export function dateRangeCheck(bounds: RangeBounds<{ readonly time: number; readonly text: string }>): ValueCheck {
  const { min, max, exclusiveMin, exclusiveMax } = bounds;
  return (value) => {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string') return `must be an ISO 8601 date string, got ${typeName(value as Value)}`;
    const time = parseIsoDate(value);
    if (Number.isNaN(time)) return 'is not a valid ISO 8601 date';
    if (min !== undefined && time < min.time) return `must be on or after ${min.text}`;
    if (exclusiveMin !== undefined && time <= exclusiveMin.time) return `must be after ${exclusiveMin.text}`;
    if (max !== undefined && time > max.time) return `must be on or before ${max.text}`;
    if (exclusiveMax !== undefined && time >= exclusiveMax.time) return `must be before ${exclusiveMax.text}`;
    return null;
  };
}

export function lengthCheck(min: number | undefined, max: number | undefined): ValueCheck {
  const low = min ?? 0;
  const high = max ?? Number.POSITIVE_INFINITY;
  return (value) => {
    if (value === undefined || value === null) return null;
    let length: number;
    let unit: string;
    if (typeof value === 'string') {
      // A string of n UTF-16 units holds between n/2 and n code points: most values need no count.
      if (value.length <= high && Math.ceil(value.length / 2) >= low) return null;
      length = codePointLength(value);
      unit = 'character';
    } else if (Array.isArray(value)) {
      length = value.length;
      unit = 'item';
    } else {
      return `must be a string or an array, got ${typeName(value as Value)}`;
    }
    if (length < low) return `must have at least ${low} ${unit}${low === 1 ? '' : 's'}, got ${length}`;
    if (length > high) return `must have at most ${high} ${unit}${high === 1 ? '' : 's'}, got ${length}`;
    return null;
  };
}

export function patternCheck(regex: LinearRegex, full: boolean): ValueCheck {
  const shown = regex.source.length > 60 ? `${regex.source.slice(0, 57)}...` : regex.source;
  const failure = full ? `does not match the pattern ${shown}` : `contains no match of the pattern ${shown}`;
  return (value) => {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string') return `must be a string, got ${typeName(value as Value)}`;
    return (full ? regex.fullMatch(value) : regex.search(value)) ? null : failure;
  };
}

export function membershipCheck(values: ReadonlySet<Scalar>, failure: string): ValueCheck {
  return (value) => {
    if (value === undefined || value === null) return null;
    return values.has(value as Scalar) ? null : failure;
  };
}

export function describeValues(values: readonly Scalar[]): string {
  const shown = values.slice(0, 10).map((value) => JSON.stringify(value));
  return values.length > 10 ? `${shown.join(', ')}, ... (${values.length} values)` : shown.join(', ');
}

/**
 * Each value (not null) must not have appeared in another record of the job; a wildcard field
 * must also not repeat a value within the record. Values are compared by `uniqueKey`: their JSON,
 * with numbers as exact as the record wrote them.
 */
export function applyUnique(rule: RuleIdentity, pointer: CompiledPointer): RuleApplier {
  const { id, severity, message } = rule;
  const failure = message ?? 'duplicate value within the job';
  if (!pointer.wildcard) {
    return (record, run) => {
      const value = resolvePointer(record, pointer);
      if (value === undefined || value === null) return;
      if (trackerOf(run, id).seen(id, uniqueKey(record, pointer.text, value), run.context.recordNumber)) run.report(id, severity, pointer.text, failure);
    };
  }
  return (record, run) => {
    const tracker = trackerOf(run, id);
    const inRecord = new Set<string>();
    visitPointer(record, pointer, (value, path) => {
      if (value === undefined || value === null) return;
      const key = uniqueKey(record, path, value);
      const repeated = inRecord.has(key);
      inRecord.add(key);
      if (tracker.seen(id, key, run.context.recordNumber) || repeated) run.report(id, severity, path, failure);
    });
  };
}

function trackerOf(run: RecordRun, ruleId: string) {
  const tracker = run.context.uniqueness;
  if (tracker === undefined) throw new TypeError(`rule "${ruleId}" is a unique rule: pass context.uniqueness to validateRecord`);
  return tracker;
}

/** The expression must not be false; null (unknown, e.g. a missing field) passes, like a SQL CHECK. */
export function applyExpression(rule: RuleIdentity, expression: CompiledExpression, path: string): RuleApplier {
  const { id, severity, message } = rule;
  const source = expression.source.length > 120 ? `${expression.source.slice(0, 117)}...` : expression.source;
  const failure = message ?? `expression is false: ${source}`;
  return (record, run) => {
    let result: Value;
    try {
      result = expression.evaluate(record, run);
    } catch (error) {
      if (!(error instanceof ExpressionEvaluationError)) throw error;
      run.report(id, severity, path, message === undefined ? `expression failed: ${error.message}` : `${message} (expression failed: ${error.message})`);
      return;
    }
    if (result === false) run.report(id, severity, path, failure);
    else if (result !== true && result !== null) run.report(id, severity, path, `expression must give true or false, got ${typeName(result)}`);
  };
}

/** `when`: true applies the rule; false or null skips it; anything else is reported. */
export function conditionHolds(
  rule: Pick<RuleIdentity, 'id' | 'severity'>,
  condition: CompiledExpression,
  path: string,
  record: unknown,
  run: RecordRun,
): boolean {
  let result: Value;
  try {
    result = condition.evaluate(record, run);
  } catch (error) {
    if (!(error instanceof ExpressionEvaluationError)) throw error;
    run.report(rule.id, rule.severity, path, `condition (when) failed: ${error.message}`);
    return false;
  }
  if (result === true) return true;
  if (result !== false && result !== null) run.report(rule.id, rule.severity, path, `condition (when) must give true or false, got ${typeName(result)}`);
  return false;
}
