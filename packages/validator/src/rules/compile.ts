import type { ValidateFunction } from 'ajv/dist/2020.js';
import {
  applyExpression,
  applyToField,
  applyUnique,
  dateRangeCheck,
  describeValues,
  lengthCheck,
  membershipCheck,
  numberRangeCheck,
  patternCheck,
  type RangeBounds,
  type RuleApplier,
  type RuleIdentity,
  requiredCheck,
  typeCheck,
} from './checks.js';
import { checkDocumentSize, PatternBudget, RULE_SET_BUDGETS, type RuleSetBudgets } from './cost.js';
import { ExpressionSyntaxError } from './expression/errors.js';
import { type CompiledExpression, compileExpression, DEFAULT_EXPRESSION_BUDGET } from './expression/expression.js';
import { parseIsoDate } from './iso-date.js';
import { type CompiledPointer, compilePointer, InvalidPointerError } from './json-pointer.js';
import { compileRecordSchema } from './record-schema.js';
import { RegexCompileError } from './regex.js';
import { JSON_TYPES, type JsonTypeName, type RuleType, type Scalar, type Severity } from './rule-set.js';
import { RuleSetError, type RuleSetIssue } from './rule-set-error.js';
import { checkRuleSetFormat } from './rule-set-format.js';

export interface CompileOptions {
  /** Violations kept per record (default 100); more only set `truncated`. */
  readonly maxViolations?: number;
  /** Units of data-dependent work one expression evaluation may spend (default 100,000). */
  readonly expressionBudget?: number;
  /** What the document may cost to compile and to validate with (default RULE_SET_BUDGETS). */
  readonly budgets?: RuleSetBudgets;
}

export interface CompiledRule {
  readonly id: string;
  readonly type: RuleType;
  readonly severity: Severity;
  /** The rule's field pointer as written, or null. */
  readonly field: string | null;
  readonly when: CompiledExpression | null;
  readonly apply: RuleApplier;
}

/** A rule set ready to validate records: build it once, use it for every record of every job. */
export interface CompiledRuleSet {
  readonly name: string;
  readonly version: number;
  readonly description: string | undefined;
  readonly rules: readonly CompiledRule[];
  readonly hasUniqueRules: boolean;
  readonly schemaValidator: ValidateFunction | null;
  readonly maxViolations: number;
}

interface CompileContext {
  readonly issues: RuleSetIssue[];
  readonly references: ReadonlyMap<string, ReadonlySet<Scalar>>;
  readonly firstIndexOfId: Map<string, number>;
  readonly expressionBudget: number;
  readonly patterns: PatternBudget;
}

type RawObject = Record<string, unknown>;
const isObject = (value: unknown): value is RawObject => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Checks a rule set document and compiles it. Throws RuleSetError listing every mistake, each
 * with the JSON pointer of the place in the document, so a user can fix them all in one go.
 */
export function compileRuleSet(document: unknown, options: CompileOptions = {}): CompiledRuleSet {
  const budgets = options.budgets ?? RULE_SET_BUDGETS;
  // Measured before anything else reads the document: every later step is linear in its size.
  const tooLarge = checkDocumentSize(document, budgets);
  if (tooLarge !== null) throw new RuleSetError([tooLarge]);
  const issues = checkRuleSetFormat(document);
  if (!isObject(document)) throw new RuleSetError(issues);
  const name = typeof document.name === 'string' ? document.name : undefined;
  const patterns = new PatternBudget(budgets);

  const references = new Map<string, ReadonlySet<Scalar>>();
  if (isObject(document.references)) {
    for (const [list, values] of Object.entries(document.references)) if (Array.isArray(values)) references.set(list, new Set(values as Scalar[]));
  }

  let schemaValidator: ValidateFunction | null = null;
  if (isObject(document.schema) || typeof document.schema === 'boolean') schemaValidator = compileRecordSchema(document.schema, '/schema', issues, patterns);

  const context: CompileContext = {
    issues,
    references,
    firstIndexOfId: new Map(),
    expressionBudget: options.expressionBudget ?? DEFAULT_EXPRESSION_BUDGET,
    patterns,
  };
  const rules: CompiledRule[] = [];
  if (Array.isArray(document.rules)) {
    document.rules.forEach((raw: unknown, index) => {
      const rule = compileRule(raw, index, context);
      if (rule !== null) rules.push(rule);
    });
  }

  if (issues.length > 0) throw new RuleSetError(listed(issues), name);
  return {
    name: name as string,
    version: document.version as number,
    description: typeof document.description === 'string' ? document.description : undefined,
    rules,
    hasUniqueRules: rules.some((rule) => rule.type === 'unique'),
    schemaValidator,
    maxViolations: options.maxViolations ?? 100,
  };
}

/** A document can hold thousands of mistakes: the first ones are listed (a message at most 3 times), the rest counted. */
const MAX_LISTED_ISSUES = 200;
const MAX_SAME_MESSAGE = 3;

function listed(issues: RuleSetIssue[]): RuleSetIssue[] {
  const times = new Map<string, number>();
  const shown: RuleSetIssue[] = [];
  for (const issue of issues) {
    const seen = (times.get(issue.message) ?? 0) + 1;
    times.set(issue.message, seen);
    if (seen <= MAX_SAME_MESSAGE && shown.length < MAX_LISTED_ISSUES) shown.push(issue);
  }
  const more = issues.length - shown.length;
  if (more > 0) shown.push({ pointer: '', message: `${more} more problem${more === 1 ? '' : 's'} not listed (some repeat one above): fix these first` });
  return shown;
}

function compileRule(raw: unknown, index: number, context: CompileContext): CompiledRule | null {
  // Shape problems were reported by the format schema; here each value is used only if it has the right type.
  if (!isObject(raw)) return null;
  const at = `/rules/${index}`;
  const { issues } = context;
  const before = issues.length;

  const id = typeof raw.id === 'string' ? raw.id : '';
  if (id === 'schema') issues.push({ pointer: `${at}/id`, message: 'the id "schema" is reserved for JSON Schema violations' });
  if (id !== '') {
    const first = context.firstIndexOfId.get(id);
    if (first === undefined) context.firstIndexOfId.set(id, index);
    else issues.push({ pointer: `${at}/id`, message: `duplicate rule id "${id}" (first used by /rules/${first})` });
  }
  const rule: RuleIdentity = {
    id,
    severity: raw.severity === 'warning' ? 'warning' : 'error',
    message: typeof raw.message === 'string' ? raw.message : undefined,
  };
  const type = raw.type as RuleType;

  let pointer: CompiledPointer | null = null;
  if (typeof raw.field === 'string') {
    try {
      pointer = compilePointer(raw.field, { allowWildcard: type !== 'expression' });
    } catch (error) {
      if (!(error instanceof InvalidPointerError)) throw error;
      issues.push({
        pointer: `${at}/field`,
        message: type === 'expression' ? `${error.message} (an expression rule's field only names where to report)` : error.message,
      });
    }
  }
  const when = typeof raw.when === 'string' ? expressionAt(raw.when, `${at}/when`, context) : null;

  const apply = buildApplier(type, raw, at, rule, pointer, context);
  if (apply === null || issues.length > before) return null;
  return { id, type, severity: rule.severity, field: pointer?.text ?? null, when, apply };
}

function buildApplier(
  type: RuleType,
  raw: RawObject,
  at: string,
  rule: RuleIdentity,
  pointer: CompiledPointer | null,
  context: CompileContext,
): RuleApplier | null {
  const { issues } = context;
  if (type === 'expression') {
    if (typeof raw.expression !== 'string') return null;
    const expression = expressionAt(raw.expression, `${at}/expression`, context);
    return expression === null ? null : applyExpression(rule, expression, pointer?.text ?? '');
  }
  if (pointer === null) return null;
  switch (type) {
    case 'required':
      return applyToField(rule, pointer, requiredCheck);
    case 'type': {
      const types = (Array.isArray(raw.is) ? raw.is : [raw.is]) as unknown[];
      if (types.length === 0 || !types.every((t): t is JsonTypeName => (JSON_TYPES as readonly unknown[]).includes(t))) return null;
      return applyToField(rule, pointer, typeCheck(types as JsonTypeName[]));
    }
    case 'range':
      return rangeApplier(raw, at, rule, pointer, issues);
    case 'length': {
      const min = Number.isInteger(raw.min) ? (raw.min as number) : undefined;
      const max = Number.isInteger(raw.max) ? (raw.max as number) : undefined;
      if (raw.min === undefined && raw.max === undefined) issues.push({ pointer: at, message: 'a length rule needs min, max or both' });
      if (min !== undefined && max !== undefined && min > max)
        issues.push({ pointer: `${at}/min`, message: `min (${min}) is greater than max (${max}): no value can pass` });
      return applyToField(rule, pointer, lengthCheck(min, max));
    }
    case 'pattern': {
      if (typeof raw.pattern !== 'string') return null;
      try {
        const regex = context.patterns.compile(raw.pattern, { ignoreCase: raw.ignoreCase === true });
        return applyToField(rule, pointer, patternCheck(regex, raw.match !== 'search'));
      } catch (error) {
        if (!(error instanceof RegexCompileError)) throw error;
        issues.push({ pointer: `${at}/pattern`, message: error.message });
        return null;
      }
    }
    case 'enum': {
      if (!Array.isArray(raw.values)) return null;
      const values = raw.values as Scalar[];
      return applyToField(rule, pointer, membershipCheck(new Set(values), `must be one of ${describeValues(values)}`));
    }
    case 'reference':
      return referenceApplier(raw, at, rule, pointer, context);
    case 'unique':
      return applyUnique(rule, pointer);
    default:
      return null;
  }
}

const BOUND_KEYS = ['min', 'max', 'exclusiveMin', 'exclusiveMax'] as const;

function rangeApplier(raw: RawObject, at: string, rule: RuleIdentity, pointer: CompiledPointer, issues: RuleSetIssue[]): RuleApplier | null {
  const kind = raw.kind === 'date' ? 'date' : 'number';
  const given = BOUND_KEYS.filter((key) => raw[key] !== undefined);
  if (given.length === 0) {
    issues.push({ pointer: at, message: 'a range rule needs at least one of min, max, exclusiveMin, exclusiveMax' });
    return null;
  }
  const bounds: { -readonly [K in keyof RangeBounds<number>]: number } = {};
  const texts: Record<string, string> = {};
  for (const key of given) {
    const value = raw[key];
    if (kind === 'number') {
      if (typeof value === 'number') bounds[key] = value;
      else issues.push({ pointer: `${at}/${key}`, message: 'must be a number for a number range (set "kind": "date" to compare dates)' });
    } else {
      const time = typeof value === 'string' ? parseIsoDate(value) : Number.NaN;
      if (Number.isNaN(time)) issues.push({ pointer: `${at}/${key}`, message: 'must be an ISO 8601 date such as "2024-01-31" or "2024-01-31T12:00:00Z"' });
      else {
        bounds[key] = time;
        texts[key] = value as string;
      }
    }
  }
  if (raw.min !== undefined && raw.exclusiveMin !== undefined) issues.push({ pointer: `${at}/exclusiveMin`, message: 'give min or exclusiveMin, not both' });
  if (raw.max !== undefined && raw.exclusiveMax !== undefined) issues.push({ pointer: `${at}/exclusiveMax`, message: 'give max or exclusiveMax, not both' });
  const lowKey = bounds.min !== undefined ? 'min' : 'exclusiveMin';
  const highKey = bounds.max !== undefined ? 'max' : 'exclusiveMax';
  const low = bounds[lowKey];
  const high = bounds[highKey];
  if (low !== undefined && high !== undefined && (low > high || (low === high && (lowKey !== 'min' || highKey !== 'max')))) {
    const shown = (key: string) => (kind === 'date' ? texts[key] : String(bounds[key as keyof typeof bounds]));
    issues.push({ pointer: `${at}/${lowKey}`, message: `${lowKey} (${shown(lowKey)}) is not below ${highKey} (${shown(highKey)}): no value can pass` });
  }
  if (kind === 'number') return applyToField(rule, pointer, numberRangeCheck(bounds));
  const dated = (key: (typeof BOUND_KEYS)[number]) => {
    const time = bounds[key];
    return time === undefined ? undefined : { time, text: texts[key] as string };
  };
  return applyToField(
    rule,
    pointer,
    dateRangeCheck({ min: dated('min'), max: dated('max'), exclusiveMin: dated('exclusiveMin'), exclusiveMax: dated('exclusiveMax') }),
  );
}

function referenceApplier(raw: RawObject, at: string, rule: RuleIdentity, pointer: CompiledPointer, context: CompileContext): RuleApplier | null {
  const { issues, references } = context;
  if (raw.list !== undefined && raw.values !== undefined) {
    issues.push({ pointer: at, message: 'give either "list" (a name in references) or "values", not both' });
    return null;
  }
  if (Array.isArray(raw.values)) {
    return applyToField(rule, pointer, membershipCheck(new Set(raw.values as Scalar[]), 'is not in the list of allowed values'));
  }
  if (typeof raw.list !== 'string') {
    if (raw.list === undefined) issues.push({ pointer: at, message: 'a reference rule needs "list" (a name in references) or "values"' });
    return null;
  }
  const values = references.get(raw.list);
  if (values === undefined) {
    const known = [...references.keys()];
    const hint = known.length === 0 ? 'the rule set has no references' : `references defines: ${known.join(', ')}`;
    issues.push({ pointer: `${at}/list`, message: `unknown reference list "${raw.list}"; ${hint}` });
    return null;
  }
  return applyToField(rule, pointer, membershipCheck(values, `is not in the reference list "${raw.list}"`));
}

function expressionAt(source: string, pointer: string, context: CompileContext): CompiledExpression | null {
  try {
    return compileExpression(source, { budget: context.expressionBudget, compileRegex: (pattern) => context.patterns.compile(pattern) });
  } catch (error) {
    if (!(error instanceof ExpressionSyntaxError)) throw error;
    context.issues.push({ pointer, message: error.message });
    return null;
  }
}
