import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { RegExpEngine } from 'ajv/dist/types/index.js';
import addFormatsModule from 'ajv-formats';
import { RE2JS } from 're2js';
import { escapePointerSegment } from './json-pointer.js';
import { compileLinearRegex, RegexCompileError } from './regex.js';
import type { RuleSetIssue } from './rule-set-error.js';
import { findInPlaceCycles } from './schema-cycles.js';

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module object.
const addFormats = addFormatsModule.default;

/**
 * `pattern` and `patternProperties` in a record schema run on RE2 too: ajv's default would be a
 * backtracking JS RegExp, which one hostile pattern can stall for minutes on one record.
 */
const re2Engine: RegExpEngine = Object.assign(
  (pattern: string) => {
    const re = RE2JS.compile(pattern);
    return { test: (input: string) => re.test(input), toString: () => `re2:${pattern}` };
  },
  { code: 're2' },
);

export interface RecordSchemaViolation {
  readonly keyword: string;
  readonly path: string;
  readonly message: string;
}

/** Compiles the record schema with its own ajv instance (a schema's $id cannot clash with another rule set's). */
export function compileRecordSchema(schema: unknown, pointer: string, issues: RuleSetIssue[]): ValidateFunction | null {
  const before = issues.length;
  findSchemaPatterns(schema, pointer, issues);
  findInPlaceCycles(schema, pointer, issues);
  const ajv = new Ajv2020({
    allErrors: true,
    strict: false,
    strictSchema: true,
    logger: false,
    code: { regExp: re2Engine },
  });
  addFormats(ajv);
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
    issues.push({ pointer: at === undefined ? pointer : pointer + decodeURIComponent(at), message: `JSON Schema does not compile: ${message}` });
    return null;
  }
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

/** Reports every regex of the schema RE2 cannot compile, at its exact pointer. */
function findSchemaPatterns(schema: unknown, pointer: string, issues: RuleSetIssue[]): void {
  walkSchema(
    schema,
    pointer,
    0,
    (subschema, at) => {
      if (typeof subschema.pattern === 'string') checkPattern(subschema.pattern, `${at}/pattern`, issues);
      const patternProperties = subschema.patternProperties;
      if (patternProperties !== null && typeof patternProperties === 'object') {
        for (const key of Object.keys(patternProperties)) checkPattern(key, `${at}/patternProperties/${escapePointerSegment(key)}`, issues);
      }
    },
    issues,
  );
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

function checkPattern(pattern: string, pointer: string, issues: RuleSetIssue[]): void {
  try {
    compileLinearRegex(pattern);
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
