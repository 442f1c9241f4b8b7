import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { escapePointerSegment } from './json-pointer.js';
import { JSON_TYPES, RULE_SET_NAME_PATTERN, RULE_SET_NAME_RULE, RULE_TYPES, type RuleType } from './rule-set.js';
import type { RuleSetIssue } from './rule-set-error.js';

/**
 * The JSON Schema (2020-12) of the rule set format itself. It checks the shape (names, types,
 * which parameters each rule type takes); compile.ts adds what a schema cannot say (duplicate ids,
 * regexes RE2 can compile, expressions that parse, min <= max).
 */
const scalar = { type: ['string', 'number', 'boolean', 'null'] };
const scalarList = { type: 'array', items: scalar, minItems: 1 };
const bound = { type: ['number', 'string'] };
const count = { type: 'integer', minimum: 0 };

const COMMON_PROPERTIES = {
  id: { type: 'string', pattern: '^[a-z0-9_.-]+$', minLength: 1, maxLength: 128 },
  severity: { enum: ['error', 'warning'] },
  type: { enum: [...RULE_TYPES] },
  message: { type: 'string', minLength: 1, maxLength: 1000 },
  description: { type: 'string' },
  field: { type: 'string', maxLength: 1024 },
  when: { type: 'string', minLength: 1, maxLength: 4096 },
};

const RULE_PARAMETERS: Record<RuleType, { properties: Record<string, unknown>; required: string[] }> = {
  required: { properties: {}, required: ['field'] },
  type: {
    properties: {
      is: {
        type: ['string', 'array'],
        if: { type: 'string' },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable.
        then: { enum: [...JSON_TYPES] },
        else: { items: { enum: [...JSON_TYPES] }, minItems: 1, uniqueItems: true },
      },
    },
    required: ['field', 'is'],
  },
  range: { properties: { kind: { enum: ['number', 'date'] }, min: bound, max: bound, exclusiveMin: bound, exclusiveMax: bound }, required: ['field'] },
  length: { properties: { min: count, max: count }, required: ['field'] },
  pattern: {
    properties: { pattern: { type: 'string', minLength: 1, maxLength: 4096 }, match: { enum: ['full', 'search'] }, ignoreCase: { type: 'boolean' } },
    required: ['field', 'pattern'],
  },
  enum: { properties: { values: scalarList }, required: ['field', 'values'] },
  reference: { properties: { list: { type: 'string', minLength: 1 }, values: scalarList }, required: ['field'] },
  expression: { properties: { expression: { type: 'string', minLength: 1, maxLength: 4096 } }, required: ['expression'] },
  unique: { properties: {}, required: ['field'] },
};

const ruleSchema = {
  type: 'object',
  required: ['id', 'severity', 'type'],
  properties: COMMON_PROPERTIES,
  allOf: RULE_TYPES.map((ruleType) => ({
    if: { type: 'object', properties: { type: { const: ruleType } }, required: ['type'] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable.
    then: {
      type: 'object',
      required: RULE_PARAMETERS[ruleType].required,
      properties: { ...Object.fromEntries(Object.keys(COMMON_PROPERTIES).map((key) => [key, true])), ...RULE_PARAMETERS[ruleType].properties },
      additionalProperties: false,
    },
  })),
};

export const ruleSetFormatSchema = {
  title: 'lagscale rule set',
  type: 'object',
  required: ['name', 'version', 'rules'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', pattern: RULE_SET_NAME_PATTERN.source },
    // Beyond 2^53 - 1 a number is not exact: 1e23 and 1e23 + 1 would be the same version.
    version: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
    description: { type: 'string' },
    schema: { type: ['object', 'boolean'] },
    references: { type: 'object', propertyNames: { minLength: 1 }, additionalProperties: { type: 'array', items: scalar } },
    rules: { type: 'array', items: ruleSchema, maxItems: 1000 },
  },
} as const;

let formatValidator: ValidateFunction | undefined;

/** Shape problems of a rule set document, each with a pointer into it. */
export function checkRuleSetFormat(document: unknown): RuleSetIssue[] {
  formatValidator ??= new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true, logger: false }).compile(ruleSetFormatSchema);
  if (formatValidator(document)) return [];
  return (formatValidator.errors ?? []).filter((error) => error.keyword !== 'if').map(toIssue);
}

function toIssue(error: ErrorObject): RuleSetIssue {
  const at = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { pointer: at, message: `missing required property "${String(params.missingProperty)}"` };
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      const allowed = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return { pointer: `${at}/${escapePointerSegment(name)}`, message: `unknown property "${name}"; allowed here: ${allowed.join(', ')}` };
    }
    case 'enum':
      return { pointer: at, message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'pattern':
      if (at === '/name') return { pointer: at, message: `must be ${RULE_SET_NAME_RULE}` };
      return { pointer: at, message: `must match ${String(params.pattern)}` };
    default:
      return { pointer: at, message: error.message ?? `fails ${error.keyword}` };
  }
}
