import { type CompiledRuleSet, compileRuleSet, InMemoryUniquenessTracker, RULE_TYPES, RuleSetError, validateRecord } from '@lagscale/validator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from './fuzz-settings.js';

/**
 * Properties of the rule set parser and compiler: any JSON document compiles or fails with a
 * RuleSetError whose every issue has a JSON pointer into the document and a message; a rule set
 * that compiles validates any record without throwing, and reports only its own rule ids.
 */

const pointerText = fc.oneof(
  fc.constantFrom('', '/a', '/a/b', '/items/*/sku', '/items/0', '/~0x/~1y', '/*', 'no-slash', '/bad~2escape', '/a/*/*'),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }).map((keys) => keys.map((k) => `/${k}`).join('')),
);
const expressionText = fc.oneof(
  fc.constantFrom(
    'a > 1',
    'len(name) <= 3',
    "matches(a, '[a-')",
    'a +',
    'b in [1, 2]',
    'date(a) < now() - days(1)',
    'x == null || x.y',
    'nosuch(1)',
    '!',
    '(((a)))',
  ),
  fc.string({ maxLength: 20 }),
);
const bound = fc.oneof(
  fc.integer({ min: -10, max: 10 }),
  fc.double(),
  fc.constantFrom('2024-01-31', '2024-02-30', 'x', '2024-01-31T12:00:00Z'),
  fc.constant(null),
);
const scalar = fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean(), fc.constant(null));
const regexText = fc.oneof(fc.constantFrom('[a-z]+', '(a)\\1', '(?=x)', 'a{2,1}', '\\p{L}+', '(', '.*', '[^@ ]+@[^@ ]+'), fc.string({ maxLength: 8 }));

/** One rule: mostly the right shape for its type, with any part of it wrong now and then. */
const rule = fc.record(
  {
    id: fc.oneof(fc.constantFrom('a', 'b', 'c.d', 'schema', 'e-1'), fc.string({ maxLength: 5 })),
    severity: fc.oneof(fc.constantFrom('error', 'warning'), fc.jsonValue({ maxDepth: 0 })),
    type: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...RULE_TYPES) }, fc.string({ maxLength: 6 })),
    field: pointerText,
    when: expressionText,
    message: fc.string({ maxLength: 6 }),
    is: fc.oneof(
      fc.constantFrom('string', 'number', 'integer', 'object', 'array', 'boolean', 'null', 'date'),
      fc.array(fc.constantFrom('string', 'null', 'x'), { maxLength: 3 }),
    ),
    kind: fc.constantFrom('number', 'date', 'time'),
    min: bound,
    max: bound,
    exclusiveMin: bound,
    exclusiveMax: bound,
    pattern: regexText,
    match: fc.constantFrom('full', 'search', 'all'),
    ignoreCase: fc.oneof(fc.boolean(), fc.constant('yes')),
    values: fc.array(scalar, { maxLength: 4 }),
    list: fc.constantFrom('countries', 'missing', ''),
    expression: expressionText,
    extra: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: ['id', 'severity', 'type'] },
);

/** A record schema: keywords with values of the right or the wrong type. */
const { schema } = fc.letrec<{ schema: unknown }>((self) => ({
  schema: fc.oneof(
    { depthSize: 'small' },
    fc.boolean(),
    fc.record(
      {
        type: fc.oneof(
          fc.constantFrom('object', 'string', 'number', 'integer', 'array', 'null', 'nope'),
          fc.array(fc.constantFrom('string', 'null'), { maxLength: 2 }),
        ),
        properties: fc.dictionary(fc.constantFrom('a', 'b', 'name', 'items'), self('schema'), { maxKeys: 3 }),
        required: fc.oneof(fc.array(fc.constantFrom('a', 'b', 'name'), { maxLength: 2 }), fc.constant('a')),
        items: self('schema'),
        pattern: regexText,
        minimum: fc.oneof(fc.integer(), fc.constant('1')),
        maxLength: fc.oneof(fc.nat(), fc.constant(-1)),
        format: fc.constantFrom('email', 'date-time', 'uuid', 'no-such-format'),
        enum: fc.array(scalar, { maxLength: 3 }),
        $ref: fc.constantFrom('#', '#/$defs/a', '#/properties/a', 'other.json', '#/nowhere'),
        $defs: fc.dictionary(fc.constantFrom('a', 'b'), self('schema'), { maxKeys: 2 }),
        allOf: fc.array(self('schema'), { maxLength: 2 }),
        not: self('schema'),
        unknownKeyword: fc.constant(1),
      },
      { requiredKeys: [] },
    ),
  ),
}));

const ruleSetDocument = fc.record(
  {
    name: fc.oneof(fc.constantFrom('orders', 'Prüfung_2', 'a/b', '', '.x'), fc.string({ maxLength: 6 })),
    version: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.constantFrom(1.5, 1e23, '1', null)),
    description: fc.string({ maxLength: 5 }),
    schema,
    references: fc.dictionary(fc.constantFrom('countries', 'codes', ''), fc.oneof(fc.array(scalar, { maxLength: 3 }), fc.constant('x')), { maxKeys: 2 }),
    rules: fc.oneof({ weight: 6, arbitrary: fc.array(rule, { maxLength: 6 }) }, fc.jsonValue({ maxDepth: 2 })),
    extra: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: ['name', 'rules'] },
);

/** Rules of the right shape for their type, so that most documents compile. */
const validPointer = fc.constantFrom('/a', '/b', '/name', '/items/*', '/items/*/sku', '/x/y', '', '/~0x');
const validExpression = fc.constantFrom(
  'a > 1',
  'len(name) <= 3',
  "matches(name, '^[A-Z]')",
  'b in [1, 2, null]',
  'date(a) < now() - days(1)',
  'x == null || x.y',
  "coalesce(a, b) != ''",
  'sum(items) >= 0',
);
const base = (type: string) => ({ type: fc.constant(type), severity: fc.constantFrom('error', 'warning'), field: validPointer });
const validRule = fc.oneof(
  fc.record(base('required')),
  fc.record({ ...base('type'), is: fc.oneof(fc.constantFrom('string', 'number', 'integer', 'null'), fc.constant(['string', 'null'])) }),
  fc.record({ ...base('range'), min: fc.integer({ min: -5, max: 0 }), max: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ ...base('range'), kind: fc.constant('date'), min: fc.constant('2024-01-01'), exclusiveMax: fc.constant('2025-01-01T00:00:00Z') }),
  fc.record({ ...base('length'), min: fc.nat({ max: 2 }), max: fc.integer({ min: 3, max: 9 }) }),
  fc.record({
    ...base('pattern'),
    pattern: fc.constantFrom('[a-z]+', '\\p{L}+', '[^@ ]+@[^@ ]+', 'x|y'),
    match: fc.constantFrom('full', 'search'),
    ignoreCase: fc.boolean(),
  }),
  fc.record({ ...base('enum'), values: fc.array(scalar, { minLength: 1, maxLength: 4 }) }),
  fc.record({ ...base('reference'), list: fc.constant('countries') }),
  fc.record({ ...base('reference'), values: fc.array(scalar, { minLength: 1, maxLength: 3 }) }),
  fc.record({ type: fc.constant('expression'), severity: fc.constantFrom('error', 'warning'), expression: validExpression }),
  fc.record({ ...base('unique') }),
);
const { validSchema } = fc.letrec<{ validSchema: unknown }>((self) => ({
  validSchema: fc.oneof(
    { depthSize: 'small' },
    fc.constant(true),
    fc.record({ type: fc.constantFrom('string', 'number', 'integer', 'null'), maxLength: fc.nat({ max: 5 }) }, { requiredKeys: ['type'] }),
    fc.record({ type: fc.constant('array'), items: self('validSchema'), maxItems: fc.nat({ max: 4 }) }, { requiredKeys: ['type'] }),
    fc.record(
      {
        type: fc.constant('object'),
        properties: fc.dictionary(fc.constantFrom('a', 'b', 'name', 'items'), self('validSchema'), { maxKeys: 3 }),
        required: fc.uniqueArray(fc.constantFrom('a', 'b', 'name'), { maxLength: 2 }),
        additionalProperties: fc.boolean(),
      },
      { requiredKeys: ['type'] },
    ),
    fc.record({ anyOf: fc.array(self('validSchema'), { minLength: 1, maxLength: 2 }) }),
    fc.record(
      { type: fc.constant('string'), format: fc.constantFrom('email', 'date-time', 'uuid'), pattern: fc.constantFrom('^[a-z]', '\\d') },
      { requiredKeys: ['type'] },
    ),
  ),
}));
/** A document that compiles, most of the time: valid rules with unique ids, one part replaced by a wrong value now and then. */
const mostlyValidDocument = fc
  .record({
    rules: fc.array(
      fc.tuple(validRule, fc.option(validExpression, { nil: undefined }), fc.option(fc.string({ minLength: 1, maxLength: 5 }), { nil: undefined })),
      { maxLength: 6 },
    ),
    schema: fc.option(validSchema, { nil: undefined }),
    wrong: fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      fc.tuple(fc.nat(), fc.constantFrom('field', 'min', 'pattern', 'when', 'expression', 'values', 'is'), fc.jsonValue({ maxDepth: 1 })),
    ),
  })
  .map(({ rules, schema: recordSchema, wrong }) => {
    const built: Record<string, unknown>[] = rules.map(([r, when, message], index) => ({
      id: `r${index}`,
      ...r,
      ...(when === undefined ? {} : { when }),
      ...(message === undefined ? {} : { message }),
    }));
    if (wrong !== undefined && built.length > 0) {
      const [at, key, value] = wrong;
      (built[at % built.length] as Record<string, unknown>)[key] = value;
    }
    return {
      name: 'fuzzed',
      version: 1,
      references: { countries: ['PT', 'ES', null] },
      ...(recordSchema === undefined ? {} : { schema: recordSchema }),
      rules: built,
    };
  });

/** The value a JSON pointer names in a document, or undefined. */
function resolve(document: unknown, pointer: string): { found: boolean } {
  if (pointer === '') return { found: true };
  let current = document;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return { found: false };
    current = (current as Record<string, unknown>)[key];
  }
  return { found: true };
}

/** Compiles, or returns the RuleSetError; any other exception fails the property. */
function compile(document: unknown): CompiledRuleSet | RuleSetError {
  try {
    return compileRuleSet(document);
  } catch (error) {
    if (error instanceof RuleSetError) return error;
    throw error;
  }
}

const recordArbitrary = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(
    fc.constantFrom('a', 'b', 'name', 'items', 'x', 'q', '~x', 'y'),
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('2024-05-01', 'a@b.c', '')),
    {
      maxKeys: 5,
    },
  ),
);

describe('rule sets, property-based', () => {
  let compiledCount = 0;
  let refusedCount = 0;

  it('compiles any document or refuses it with issues that point into it', () => {
    checkProperty(
      'compileRuleSet on generated documents',
      250,
      fc.property(
        fc.oneof({ weight: 4, arbitrary: ruleSetDocument }, { weight: 4, arbitrary: mostlyValidDocument }, fc.jsonValue({ maxDepth: 3 })),
        (document) => {
          const result = compile(document);
          if (!(result instanceof RuleSetError)) {
            compiledCount++;
            return;
          }
          refusedCount++;
          expect(result.issues.length, JSON.stringify(document)).toBeGreaterThan(0);
          for (const issue of result.issues) {
            expect(issue.pointer === '' || issue.pointer.startsWith('/'), issue.pointer).toBe(true);
            expect(issue.message.length).toBeGreaterThan(0);
            // The place itself may be missing (a required property), but its parent is in the document.
            const parent = issue.pointer.slice(0, Math.max(0, issue.pointer.lastIndexOf('/')));
            expect(resolve(document, parent).found, `${issue.pointer}: ${issue.message} in ${JSON.stringify(document)}`).toBe(true);
          }
        },
      ),
    );
    process.stdout.write(`[fuzz] rule sets: ${compiledCount} compiled, ${refusedCount} refused with issues\n`);
    expect(compiledCount).toBeGreaterThan(0);
  });

  it('validates any record with a rule set that compiled, without throwing, reporting only its own rules', () => {
    let violations = 0;
    let used = 0;
    checkProperty(
      'validateRecord with generated rule sets',
      150,
      fc.property(mostlyValidDocument, fc.array(recordArbitrary, { minLength: 1, maxLength: 4 }), (document, records) => {
        const compiled = compile(document);
        if (compiled instanceof RuleSetError) return;
        used++;
        const ids = new Set(compiled.rules.map((r) => r.id));
        const uniqueness = new InMemoryUniquenessTracker();
        records.forEach((record, index) => {
          const result = validateRecord(compiled, record, { jobId: 'fuzz', recordNumber: index + 1, uniqueness, now: 1_733_000_000_000 });
          expect(typeof result.valid).toBe('boolean');
          for (const violation of result.violations) {
            violations++;
            expect(ids.has(violation.ruleId) || violation.ruleId.startsWith('schema:'), violation.ruleId).toBe(true);
            expect(violation.path === '' || violation.path.startsWith('/'), violation.path).toBe(true);
            expect(violation.message.length).toBeGreaterThan(0);
          }
          if (result.violations.some((v) => v.severity === 'error')) expect(result.valid).toBe(false);
        });
      }),
    );
    process.stdout.write(`[fuzz] rule sets: ${used} compiled rule sets validated records, ${violations} violations reported\n`);
    expect(used).toBeGreaterThan(50);
  });
});
