/** The rule set document as users write it (JSON). See README.md for the format. */

export type Severity = 'error' | 'warning';

export const RULE_TYPES = ['required', 'type', 'range', 'length', 'pattern', 'enum', 'reference', 'expression', 'unique'] as const;
export type RuleType = (typeof RULE_TYPES)[number];

export const JSON_TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'] as const;
export type JsonTypeName = (typeof JSON_TYPES)[number];

export type Scalar = string | number | boolean | null;

interface RuleBase {
  /** Unique within the rule set: `[a-z0-9_.-]+`. */
  id: string;
  severity: Severity;
  /** Replaces the default message of a violation. */
  message?: string;
  description?: string;
  /** JSON pointer of the field the rule checks; a `*` segment is every element of an array. */
  field?: string;
  /** An expression; the rule applies only to records for which it is true. */
  when?: string;
}

export interface RequiredRule extends RuleBase {
  type: 'required';
  field: string;
}

export interface TypeRule extends RuleBase {
  type: 'type';
  field: string;
  is: JsonTypeName | JsonTypeName[];
}

export interface RangeRule extends RuleBase {
  type: 'range';
  field: string;
  /** `number` (default) or `date`: ISO 8601 strings compared as instants. */
  kind?: 'number' | 'date';
  min?: number | string;
  max?: number | string;
  exclusiveMin?: number | string;
  exclusiveMax?: number | string;
}

export interface LengthRule extends RuleBase {
  type: 'length';
  field: string;
  /** Unicode code points for strings, elements for arrays. */
  min?: number;
  max?: number;
}

export interface PatternRule extends RuleBase {
  type: 'pattern';
  field: string;
  /** RE2 syntax. */
  pattern: string;
  /** `full` (default): the whole value must match; `search`: some part of it. */
  match?: 'full' | 'search';
  ignoreCase?: boolean;
}

export interface EnumRule extends RuleBase {
  type: 'enum';
  field: string;
  values: Scalar[];
}

export interface ReferenceRule extends RuleBase {
  type: 'reference';
  field: string;
  /** Name of a list in the rule set's `references`... */
  list?: string;
  /** ...or the values inline. */
  values?: Scalar[];
}

export interface ExpressionRule extends RuleBase {
  type: 'expression';
  /** Must not be false for the record. */
  expression: string;
}

export interface UniqueRule extends RuleBase {
  type: 'unique';
  field: string;
}

export type Rule = RequiredRule | TypeRule | RangeRule | LengthRule | PatternRule | EnumRule | ReferenceRule | ExpressionRule | UniqueRule;

export interface RuleSetDocument {
  $schema?: string;
  name: string;
  version: number;
  description?: string;
  /** JSON Schema (2020-12) for the shape of a record. */
  schema?: Record<string, unknown> | boolean;
  /** Named lists for `reference` rules. */
  references?: Record<string, Scalar[]>;
  rules: Rule[];
}

/**
 * A rule set name: it appears in URL paths and message headers, so letters and digits of any
 * script, '.', '_' and '-' only, starting with a letter or digit (no '/', no lone surrogate).
 */
export const RULE_SET_NAME_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N}._-]{0,199}$/u;
export const RULE_SET_NAME_RULE = "1 to 200 letters, digits, '.', '_' or '-', starting with a letter or digit";
