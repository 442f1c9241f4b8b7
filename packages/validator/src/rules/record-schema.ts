import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { FuncKeywordDefinition, RegExpEngine } from 'ajv/dist/types/index.js';
import addFormatsModule from 'ajv-formats';
import { checkSchemaCost, PatternBudget } from './cost.js';
import { escapePointerSegment } from './json-pointer.js';
import { RegexCompileError } from './regex.js';
import type { RuleSetIssue } from './rule-set-error.js';

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module object.
const addFormats = addFormatsModule.default;

export interface RecordSchemaViolation {
  readonly keyword: string;
  readonly path: string;
  readonly message: string;
}

/** The only dialect the validator speaks; `$schema` may name it (with or without the empty fragment) or be left out. */
const DIALECT = 'https://json-schema.org/draft/2020-12/schema';

/**
 * Compiles the record schema with its own ajv instance (a schema's $id cannot clash with another
 * rule set's), after the checks that bound what compiling and validating it can cost (see
 * cost.ts): its size and references, its nesting, and its patterns, each compiled once through
 * the rule set's pattern budget and run on RE2 (ajv's default would be a backtracking JS RegExp,
 * which one hostile pattern can stall for minutes on one record).
 */
export function compileRecordSchema(
  schema: unknown,
  pointer: string,
  issues: RuleSetIssue[],
  patterns: PatternBudget = new PatternBudget(),
): ValidateFunction | null {
  const before = issues.length;
  if (!checkSchemaCost(schema, pointer, patterns.budgets, issues)) return null;
  // A dialect other than 2020-12 stops here: ajv's meta-schema check would throw on it, not report it.
  if (!checkSchemaParts(schema, pointer, patterns, issues)) return null;
  const ajv = new Ajv2020({
    allErrors: true,
    strict: false,
    strictSchema: true,
    logger: false,
    code: { regExp: re2Engine(patterns) },
  });
  addFormats(ajv);
  // ajv compares every pair of items when their type is not known in advance (quadratic in the
  // array's length: 20,000 strings took seconds); this one hashes each item once.
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword(uniqueItemsKeyword);
  if (ajv.validateSchema(schema as object) !== true) issues.push(...metaSchemaIssues(ajv.errors ?? [], pointer));
  if (issues.length > before) return null;
  try {
    return ajv.compile(schema as object);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const unknownKeyword = /^strict mode: unknown keyword: "([^"]+)"/.exec(message)?.[1];
    if (unknownKeyword !== undefined) {
      issues.push({
        pointer: findKeyword(schema, pointer, unknownKeyword) ?? pointer,
        message: `unknown JSON Schema keyword "${unknownKeyword}" (a typo? annotations go in "description", "examples" or "$comment")`,
      });
      return null;
    }
    // ajv names the place as a URI fragment for some errors ("unknown format ... at path "#/properties/x"").
    const at = /at path "#([^"]*)"/.exec(message)?.[1];
    issues.push({ pointer: at === undefined ? pointer : pointer + safeDecode(at), message: `JSON Schema does not compile: ${message}` });
    return null;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** ajv's regex engine: the rule set's budget compiles each pattern (once; the schema check compiled it already). */
function re2Engine(patterns: PatternBudget): RegExpEngine {
  return Object.assign(
    (pattern: string) => {
      const re = patterns.compile(pattern);
      return { test: (input: string) => re.search(input), toString: () => `re2:${pattern}` };
    },
    { code: 're2' },
  );
}

const uniqueItemsKeyword: FuncKeywordDefinition = {
  keyword: 'uniqueItems',
  type: 'array',
  schemaType: 'boolean',
  errors: true,
  validate: function uniqueItems(this: unknown, wanted: boolean, data: unknown[]): boolean {
    if (!wanted || data.length < 2) return true;
    const first = new Map<string, number>();
    for (let i = 0; i < data.length; i++) {
      const key = canonicalJson(data[i]);
      const earlier = first.get(key);
      if (earlier !== undefined) {
        (uniqueItems as unknown as { errors: Partial<ErrorObject>[] }).errors = [
          { keyword: 'uniqueItems', params: { i, j: earlier }, message: `must NOT have duplicate items (items ## ${earlier} and ${i} are identical)` },
        ];
        return false;
      }
      first.set(key, i);
    }
    return true;
  },
};

/** JSON with object keys sorted: two values JSON Schema calls equal give the same text. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(',')}}`;
}

/** One issue per place: the meta-schema's anyOf alternatives are merged ("must be one of ... or array"). */
function metaSchemaIssues(errors: readonly ErrorObject[], pointer: string): RuleSetIssue[] {
  const byPath = new Map<string, string[]>();
  for (const error of errors) {
    if (error.keyword === 'if' || error.keyword === 'anyOf' || error.keyword === 'oneOf' || error.keyword === '$dynamicRef') continue;
    const params = error.params as Record<string, unknown>;
    const message =
      error.keyword === 'enum'
        ? `must be one of ${(params.allowedValues as unknown[]).map((value) => JSON.stringify(value)).join(', ')}`
        : (error.message ?? `fails ${error.keyword}`);
    const messages = byPath.get(error.instancePath) ?? [];
    if (!messages.includes(message)) messages.push(message);
    byPath.set(error.instancePath, messages);
  }
  return [...byPath].map(([path, messages]) => ({ pointer: pointer + path, message: `not a valid JSON Schema (2020-12): ${messages.join(', or ')}` }));
}

const SUBSCHEMA = new Set([
  'not',
  'if',
  'then',
  'else',
  'items',
  'contains',
  'additionalProperties',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contentSchema',
]);
const SUBSCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
const SUBSCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
const MAX_SCHEMA_DEPTH = 64;

type SchemaVisitor = (schema: Readonly<Record<string, unknown>>, pointer: string) => void;

/** Calls `visit` for the schema and each subschema, with its pointer; keywords holding data (const, enum...) are not entered. */
function walkSchema(schema: unknown, pointer: string, depth: number, visit: SchemaVisitor, issues: RuleSetIssue[]): void {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return;
  if (depth > MAX_SCHEMA_DEPTH) {
    issues.push({ pointer, message: `schema is nested more than ${MAX_SCHEMA_DEPTH} levels deep` });
    return;
  }
  visit(schema as Record<string, unknown>, pointer);
  for (const [keyword, value] of Object.entries(schema)) {
    const at = `${pointer}/${escapePointerSegment(keyword)}`;
    if (SUBSCHEMA.has(keyword)) walkSchema(value, at, depth + 1, visit, issues);
    else if (SUBSCHEMA_LISTS.has(keyword) && Array.isArray(value)) {
      for (const [i, item] of value.entries()) walkSchema(item, `${at}/${i}`, depth + 1, visit, issues);
    } else if (SUBSCHEMA_MAPS.has(keyword) && value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) walkSchema(item, `${at}/${escapePointerSegment(key)}`, depth + 1, visit, issues);
    }
  }
}

/**
 * Walks the schema once (its nesting bounded: ajv compiles recursively): each `$schema` must name
 * 2020-12, and each regex must compile within the pattern budget, reported at its exact pointer.
 */
function checkSchemaParts(schema: unknown, pointer: string, patterns: PatternBudget, issues: RuleSetIssue[]): boolean {
  let dialectsKnown = true;
  walkSchema(
    schema,
    pointer,
    0,
    (subschema, at) => {
      const dialect = subschema.$schema;
      if (dialect !== undefined && dialect !== DIALECT && dialect !== `${DIALECT}#`) {
        dialectsKnown = false;
        issues.push({
          pointer: `${at}/$schema`,
          message: `only JSON Schema 2020-12 is supported: remove "$schema" or set it to "${DIALECT}"`,
        });
      }
      if (typeof subschema.pattern === 'string') checkPattern(subschema.pattern, `${at}/pattern`, patterns, issues);
      const patternProperties = subschema.patternProperties;
      if (patternProperties !== null && typeof patternProperties === 'object') {
        for (const key of Object.keys(patternProperties)) checkPattern(key, `${at}/patternProperties/${escapePointerSegment(key)}`, patterns, issues);
      }
    },
    issues,
  );
  return dialectsKnown;
}

/** Where a keyword ajv does not know first appears (ajv's strict-mode error does not say). */
function findKeyword(schema: unknown, pointer: string, keyword: string): string | undefined {
  let found: string | undefined;
  walkSchema(
    schema,
    pointer,
    0,
    (subschema, at) => {
      if (found === undefined && Object.hasOwn(subschema, keyword)) found = `${at}/${escapePointerSegment(keyword)}`;
    },
    [],
  );
  return found;
}

function checkPattern(pattern: string, pointer: string, patterns: PatternBudget, issues: RuleSetIssue[]): void {
  try {
    patterns.compile(pattern);
  } catch (error) {
    if (!(error instanceof RegexCompileError)) throw error;
    issues.push({ pointer, message: error.message });
  }
}

/** ajv's errors as violations: the path points at the offending field itself where ajv knows it. */
export function schemaViolations(errors: readonly ErrorObject[]): RecordSchemaViolation[] {
  const violations: RecordSchemaViolation[] = [];
  for (const error of errors) {
    // "must match then schema" repeats the errors of the branch it stands for.
    if (error.keyword === 'if') continue;
    const params = error.params as Record<string, unknown>;
    switch (error.keyword) {
      case 'required':
        violations.push({ keyword: 'required', path: `${error.instancePath}/${escapePointerSegment(String(params.missingProperty))}`, message: 'is required' });
        break;
      case 'additionalProperties':
        violations.push({
          keyword: 'additionalProperties',
          path: `${error.instancePath}/${escapePointerSegment(String(params.additionalProperty))}`,
          message: 'is not allowed by the schema',
        });
        break;
      case 'unevaluatedProperties':
        violations.push({
          keyword: 'unevaluatedProperties',
          path: `${error.instancePath}/${escapePointerSegment(String(params.unevaluatedProperty))}`,
          message: 'is not allowed by the schema',
        });
        break;
      case 'false schema':
        violations.push({ keyword: 'false', path: error.instancePath, message: 'is not allowed by the schema (false)' });
        break;
      default:
        violations.push({ keyword: error.keyword, path: error.instancePath, message: error.message ?? `fails ${error.keyword}` });
    }
  }
  return violations;
}
