import { describe, expect, it } from 'vitest';
import { check, ruleSet } from './helpers.js';

const orderSchema = {
  type: 'object',
  required: ['order_id', 'items'],
  properties: {
    order_id: { type: 'string', minLength: 3 },
    email: { type: 'string', format: 'email' },
    created_at: { type: 'string', format: 'date-time' },
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['sku'],
        properties: { sku: { type: 'string' }, quantity: { type: 'integer', minimum: 1 } },
        additionalProperties: false,
      },
    },
  },
};

describe('record schema (JSON Schema 2020-12)', () => {
  const compiled = ruleSet([{ id: 'email.required', severity: 'warning', type: 'required', field: '/email' }], { schema: orderSchema });

  it('passes a record of the right shape', () => {
    expect(check(compiled, { order_id: 'ORD-1', email: 'a@b.pt', created_at: '2024-05-01T10:00:00Z', items: [{ sku: 'A', quantity: 2 }] })).toEqual({
      valid: true,
      violations: [],
    });
  });

  it('turns every schema error into a violation with ruleId schema:<keyword> and the path of the field itself', () => {
    const result = check(compiled, { order_id: 'O', email: 'nope', created_at: '2024-05-01', items: [{ sku: 'A' }, { quantity: 0, colour: 'red' }] });
    expect(result.valid).toBe(false);
    expect(result.violations).toEqual([
      { ruleId: 'schema:minLength', severity: 'error', path: '/order_id', message: 'must NOT have fewer than 3 characters' },
      { ruleId: 'schema:format', severity: 'error', path: '/email', message: 'must match format "email"' },
      { ruleId: 'schema:format', severity: 'error', path: '/created_at', message: 'must match format "date-time"' },
      { ruleId: 'schema:required', severity: 'error', path: '/items/1/sku', message: 'is required' },
      { ruleId: 'schema:additionalProperties', severity: 'error', path: '/items/1/colour', message: 'is not allowed by the schema' },
      { ruleId: 'schema:minimum', severity: 'error', path: '/items/1/quantity', message: 'must be >= 1' },
    ]);
  });

  it('reports missing properties at their own path, then runs the rules as well', () => {
    expect(check(compiled, {}).violations).toEqual([
      { ruleId: 'schema:required', severity: 'error', path: '/order_id', message: 'is required' },
      { ruleId: 'schema:required', severity: 'error', path: '/items', message: 'is required' },
      { ruleId: 'email.required', severity: 'warning', path: '/email', message: 'is required' },
    ]);
  });

  it('reports a record that is not even an object at the root', () => {
    expect(check(compiled, [1, 2]).violations[0]).toEqual({ ruleId: 'schema:type', severity: 'error', path: '', message: 'must be object' });
  });

  it('escapes property names in paths', () => {
    const strict = ruleSet([], { schema: { type: 'object', additionalProperties: false } });
    expect(check(strict, { 'a/b': 1, 'c~d': 2 }).violations.map((v) => v.path)).toEqual(['/a~1b', '/c~0d']);
  });

  it('supports 2020-12 keywords such as unevaluatedProperties and prefixItems', () => {
    const modern = ruleSet([], {
      schema: {
        type: 'object',
        properties: { point: { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }], items: false } },
        unevaluatedProperties: false,
      },
    });
    expect(check(modern, { point: [1, 2] }).valid).toBe(true);
    expect(check(modern, { point: [1, 'x', 3], extra: true }).violations.map((v) => `${v.ruleId} ${v.path}`)).toEqual([
      'schema:type /point/1',
      'schema:items /point',
      'schema:unevaluatedProperties /extra',
    ]);
  });

  it('a false schema rejects every record', () => {
    expect(check(ruleSet([], { schema: false }), {}).violations).toEqual([
      { ruleId: 'schema:false', severity: 'error', path: '', message: 'is not allowed by the schema (false)' },
    ]);
  });
});
