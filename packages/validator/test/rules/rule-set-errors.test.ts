import { compileRuleSet, RuleSetError } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
import { ruleSetIssues } from './helpers.js';

const ok = (id: string, extra: Record<string, unknown> = {}) => ({ id, severity: 'error', type: 'required', field: '/x', ...extra });

describe('compileRuleSet: every mistake, with its exact pointer', () => {
  it('lists all the mistakes of a document at once, in document order', () => {
    const issues = ruleSetIssues({
      name: 'orders',
      version: 0,
      references: { countries: ['PT', 'ES'] },
      rules: [
        ok('a'),
        ok('b'),
        { id: 'c', severity: 'error', type: 'pattern', field: '/x', pattern: 'ok' },
        { id: 'd', severity: 'error', type: 'pattern', field: '/x', pattern: '(a)\\1' },
        ok('a'),
        { id: 'f', severity: 'error', type: 'reference', field: '/country', list: 'countriez' },
        { id: 'g', severity: 'error', type: 'expression', expression: 'total > (subtotal + ' },
        { id: 'h', severity: 'error', type: 'required', field: 'customer/email' },
        { id: 'i', severity: 'error', type: 'range', field: '/q', min: 10, max: 5 },
        { id: 'j', severity: 'error', type: 'length', field: '/s', min: 3, max: 1 },
        { id: 'k', severity: 'fatal', type: 'required', field: '/x' },
        { id: 'l', severity: 'error', type: 'range', field: '/q', mn: 1, max: 3 },
        { id: 'M', severity: 'error', type: 'required', field: '/x' },
        { id: 'n', severity: 'error', type: 'rnage', field: '/x' },
        { id: 'o', severity: 'error', type: 'enum', field: '/x' },
      ],
    });
    expect(issues).toEqual([
      '/rules/3/pattern: RE2 cannot compile "(a)\\1": backreferences are not supported',
      '/rules/4/id: duplicate rule id "a" (first used by /rules/0)',
      '/rules/5/list: unknown reference list "countriez"; references defines: countries',
      '/rules/6/expression: column 21: expected a value but the expression ended',
      '/rules/7/field: invalid JSON pointer "customer/email": must be empty or start with "/"',
      '/rules/8/min: min (10) is not below max (5): no value can pass',
      '/rules/9/min: min (3) is greater than max (1): no value can pass',
      '/rules/10/severity: must be one of "error", "warning"',
      '/rules/11/mn: unknown property "mn"; allowed here: id, severity, type, message, description, field, when, kind, min, max, exclusiveMin, exclusiveMax',
      '/rules/12/id: must match ^[a-z0-9_.-]+$',
      '/rules/13/type: must be one of "required", "type", "range", "length", "pattern", "enum", "reference", "expression", "unique"',
      '/rules/14: missing required property "values"',
      '/version: must be >= 1',
    ]);
  });

  it('says what is wrong in the error message too, one line per problem', () => {
    let caught: unknown;
    try {
      compileRuleSet({ name: 'orders', version: 1, rules: [ok('a'), ok('a')] });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RuleSetError);
    expect((caught as RuleSetError).code).toBe('RULE_SET_INVALID');
    expect((caught as Error).message).toBe('rule set "orders" is invalid (1 problem):\n  /rules/1/id: duplicate rule id "a" (first used by /rules/0)');
  });

  it('rejects a document that is not an object, or lacks what it must have', () => {
    expect(ruleSetIssues('rules')).toEqual([': must be object']);
    expect(ruleSetIssues({ version: 1.5, rules: {} })).toEqual([': missing required property "name"', '/rules: must be array', '/version: must be integer']);
  });

  it('names unknown top-level properties', () => {
    expect(ruleSetIssues({ name: 'x', version: 1, rules: [], refs: {} })).toEqual([
      '/refs: unknown property "refs"; allowed here: $schema, name, version, description, schema, references, rules',
    ]);
  });

  it('checks regexes: lookaround, possessive quantifiers, syntax errors, and in matches()', () => {
    expect(
      ruleSetIssues({
        name: 'x',
        version: 1,
        rules: [
          { id: 'a', severity: 'error', type: 'pattern', field: '/x', pattern: '(?=x)x' },
          { id: 'b', severity: 'error', type: 'pattern', field: '/x', pattern: '(?<!x)y' },
          { id: 'c', severity: 'error', type: 'pattern', field: '/x', pattern: '[a-z' },
          { id: 'd', severity: 'error', type: 'pattern', field: '/x', pattern: 'a{2000}' },
          { id: 'e', severity: 'error', type: 'expression', expression: "matches(code, '(\\\\w)\\\\1')" },
          { id: 'f', severity: 'error', type: 'expression', expression: 'matches(code, pattern_field)' },
        ],
      }),
    ).toEqual([
      '/rules/0/pattern: RE2 cannot compile "(?=x)x": lookahead is not supported',
      '/rules/1/pattern: RE2 cannot compile "(?<!x)y": lookbehind is not supported',
      '/rules/2/pattern: RE2 cannot compile "[a-z": missing closing ] at `[a-z`',
      '/rules/3/pattern: RE2 cannot compile "a{2000}": invalid repeat count at `{2000}`',
      '/rules/4/expression: column 15: RE2 cannot compile "(\\w)\\1": backreferences are not supported',
      '/rules/5/expression: column 15: the pattern of matches() must be a string literal',
    ]);
  });

  it('checks range bounds: kind, presence, min and exclusiveMin together, empty ranges', () => {
    const range = (params: Record<string, unknown>) => ({ id: 'r', severity: 'error', type: 'range', field: '/x', ...params });
    const issuesOf = (params: Record<string, unknown>) => ruleSetIssues({ name: 'x', version: 1, rules: [range(params)] });
    expect(issuesOf({})).toEqual(['/rules/0: a range rule needs at least one of min, max, exclusiveMin, exclusiveMax']);
    expect(issuesOf({ min: '2024-01-01' })).toEqual(['/rules/0/min: must be a number for a number range (set "kind": "date" to compare dates)']);
    expect(issuesOf({ kind: 'date', min: '2024-02-30' })).toEqual(['/rules/0/min: must be an ISO 8601 date such as "2024-01-31" or "2024-01-31T12:00:00Z"']);
    expect(issuesOf({ min: 1, exclusiveMin: 0 })).toEqual(['/rules/0/exclusiveMin: give min or exclusiveMin, not both']);
    expect(issuesOf({ exclusiveMin: 5, max: 5 })).toEqual(['/rules/0/exclusiveMin: exclusiveMin (5) is not below max (5): no value can pass']);
    expect(issuesOf({ kind: 'date', min: '2025-01-01', max: '2024-01-01' })).toEqual([
      '/rules/0/min: min (2025-01-01) is not below max (2024-01-01): no value can pass',
    ]);
    expect(() => compileRuleSet({ name: 'x', version: 1, rules: [range({ min: 5, max: 5 })] })).not.toThrow();
  });

  it('checks reference rules: list or values, not both, not neither; a rule set without references', () => {
    const reference = (params: Record<string, unknown>) => ({ id: 'r', severity: 'error', type: 'reference', field: '/x', ...params });
    expect(ruleSetIssues({ name: 'x', version: 1, rules: [reference({})] })).toEqual([
      '/rules/0: a reference rule needs "list" (a name in references) or "values"',
    ]);
    expect(ruleSetIssues({ name: 'x', version: 1, references: { a: ['1'] }, rules: [reference({ list: 'a', values: ['1'] })] })).toEqual([
      '/rules/0: give either "list" (a name in references) or "values", not both',
    ]);
    expect(ruleSetIssues({ name: 'x', version: 1, rules: [reference({ list: 'a' })] })).toEqual([
      '/rules/0/list: unknown reference list "a"; the rule set has no references',
    ]);
  });

  it('checks JSON pointers: escapes, and no wildcard where a rule reports one place', () => {
    expect(
      ruleSetIssues({
        name: 'x',
        version: 1,
        rules: [
          { id: 'a', severity: 'error', type: 'required', field: '/a~2b' },
          { id: 'b', severity: 'error', type: 'expression', field: '/items/*', expression: 'true' },
          { id: 'c', severity: 'error', type: 'required', field: '' },
        ],
      }),
    ).toEqual([
      '/rules/0/field: invalid JSON pointer "/a~2b": "~" must be followed by 0 or 1 (write ~0 for "~", ~1 for "/")',
      `/rules/1/field: JSON pointer "/items/*" cannot contain the "*" wildcard here (an expression rule's field only names where to report)`,
    ]);
  });

  it('checks expressions in `when` as well, with the column', () => {
    expect(ruleSetIssues({ name: 'x', version: 1, rules: [ok('a', { when: "status = 'paid'" })] })).toEqual([
      "/rules/0/when: column 8: '=' is not an operator; compare with '=='",
    ]);
  });

  it('reserves the id "schema" for JSON Schema violations', () => {
    expect(ruleSetIssues({ name: 'x', version: 1, rules: [ok('schema')] })).toEqual(['/rules/0/id: the id "schema" is reserved for JSON Schema violations']);
  });

  it('checks the record schema against the 2020-12 meta-schema and RE2, at the exact place', () => {
    expect(
      ruleSetIssues({
        name: 'x',
        version: 1,
        rules: [],
        schema: {
          type: 'object',
          properties: { a: { type: 'strin' }, b: { type: 'string', pattern: '(x+)\\1' }, c: { minLength: -1 } },
          patternProperties: { '^(?!x_)': { type: 'string' } },
        },
      }),
    ).toEqual([
      '/schema/patternProperties/^(?!x_): RE2 cannot compile "^(?!x_)": lookahead is not supported',
      '/schema/properties/a/type: not a valid JSON Schema (2020-12): must be one of "array", "boolean", "integer", "null", "number", "object", "string", or must be array',
      '/schema/properties/b/pattern: RE2 cannot compile "(x+)\\1": backreferences are not supported',
      '/schema/properties/c/minLength: not a valid JSON Schema (2020-12): must be >= 0',
    ]);
  });

  it('reports schema compile failures: unknown formats at their place, unresolvable $refs', () => {
    expect(ruleSetIssues({ name: 'x', version: 1, rules: [], schema: { properties: { email: { type: 'string', format: 'emial' } } } })).toEqual([
      '/schema/properties/email: JSON Schema does not compile: unknown format "emial" ignored in schema at path "#/properties/email"',
    ]);
    const [issue] = ruleSetIssues({ name: 'x', version: 1, rules: [], schema: { $ref: 'other.json#/x' } });
    expect(issue).toBe(
      '/schema/$ref: reference "other.json#/x" names no subschema of this document (the validator never fetches schemas): point it at a $defs entry, an $anchor or an $id here',
    );
  });

  it('finds an unknown keyword (a typo, most likely) that ajv reports without a place', () => {
    expect(ruleSetIssues({ name: 'x', version: 1, rules: [], schema: { type: 'object', properties: { a: { type: 'object', requird: ['b'] } } } })).toEqual([
      '/schema/properties/a/requird: unknown JSON Schema keyword "requird" (a typo? annotations go in "description", "examples" or "$comment")',
    ]);
  });

  it('accepts the same $id in two rule sets compiled side by side', () => {
    const document = { name: 'x', version: 1, rules: [], schema: { $id: 'orders', type: 'object' } };
    expect(() => {
      compileRuleSet(document);
      compileRuleSet(document);
    }).not.toThrow();
  });
});
