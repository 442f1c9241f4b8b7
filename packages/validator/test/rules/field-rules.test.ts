import { InMemoryUniquenessTracker, validateRecord } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
import { check, failures, rule, ruleSet } from './helpers.js';

describe('required', () => {
  const compiled = rule('required', { field: '/customer/email' });

  it('passes a present value, even an empty string or false', () => {
    expect(failures(compiled, { customer: { email: 'a@b.pt' } })).toEqual([]);
    expect(failures(compiled, { customer: { email: '' } })).toEqual([]);
    expect(failures(compiled, { customer: { email: false } })).toEqual([]);
  });

  it('fails a missing field, a null, a missing parent and a non-object record', () => {
    for (const record of [{ customer: {} }, { customer: { email: null } }, {}, { customer: 'ana' }, 42, null]) {
      expect(failures(compiled, record)).toEqual(['/customer/email: is required']);
    }
  });

  it('does not take inherited properties for fields', () => {
    expect(failures(rule('required', { field: '/constructor' }), {})).toEqual(['/constructor: is required']);
    expect(failures(rule('required', { field: '/toString' }), { toString: 'x' })).toEqual([]);
  });

  it('reports each array element that lacks the field, with its concrete path', () => {
    const items = rule('required', { field: '/items/*/sku' });
    expect(failures(items, { items: [{ sku: 'A' }, {}, { sku: null }, 7] })).toEqual([
      '/items/1/sku: is required',
      '/items/2/sku: is required',
      '/items/3/sku: is required',
    ]);
    expect(failures(items, {})).toEqual([]);
  });

  it('escapes ~ and / in JSON pointers both ways', () => {
    const compiled = rule('required', { field: '/a~1b/c~0d' });
    expect(failures(compiled, { 'a/b': { 'c~d': 1 } })).toEqual([]);
    expect(failures(compiled, { 'a/b': {} })).toEqual(['/a~1b/c~0d: is required']);
  });

  it('indexes arrays by canonical numbers only', () => {
    expect(failures(rule('required', { field: '/list/1' }), { list: ['a', 'b'] })).toEqual([]);
    expect(failures(rule('required', { field: '/list/01' }), { list: ['a', 'b'] })).toEqual(['/list/01: is required']);
    expect(failures(rule('required', { field: '/list/-' }), { list: ['a'] })).toEqual(['/list/-: is required']);
  });

  it('uses the rule message when given', () => {
    const compiled = ruleSet([{ id: 'email', severity: 'warning', type: 'required', field: '/email', message: 'we need an email to send the receipt' }]);
    const result = check(compiled, {});
    expect(result.valid).toBe(true);
    expect(result.violations).toEqual([{ ruleId: 'email', severity: 'warning', path: '/email', message: 'we need an email to send the receipt' }]);
  });
});

describe('type', () => {
  it('tells integer from number, and number admits integers', () => {
    expect(failures(rule('type', { field: '/n', is: 'integer' }), { n: 3 })).toEqual([]);
    expect(failures(rule('type', { field: '/n', is: 'integer' }), { n: 3.5 })).toEqual(['/n: must be integer, got number']);
    expect(failures(rule('type', { field: '/n', is: 'number' }), { n: 3 })).toEqual([]);
    expect(failures(rule('type', { field: '/n', is: 'number' }), { n: '3' })).toEqual(['/n: must be number, got string']);
  });

  it('accepts a list of types, and checks null but not absence', () => {
    const compiled = rule('type', { field: '/phone', is: ['string', 'null'] });
    expect(failures(compiled, { phone: null })).toEqual([]);
    expect(failures(compiled, {})).toEqual([]);
    expect(failures(compiled, { phone: 351 })).toEqual(['/phone: must be string or null, got integer']);
    expect(failures(rule('type', { field: '/x', is: 'string' }), { x: null })).toEqual(['/x: must be string, got null']);
  });

  it('knows arrays, objects and booleans apart', () => {
    const compiled = rule('type', { field: '/x', is: 'object' });
    expect(failures(compiled, { x: {} })).toEqual([]);
    expect(failures(compiled, { x: [] })).toEqual(['/x: must be object, got array']);
    expect(failures(compiled, { x: true })).toEqual(['/x: must be object, got boolean']);
  });
});

describe('range', () => {
  it('checks inclusive and exclusive number bounds', () => {
    const inclusive = rule('range', { field: '/q', min: 1, max: 10 });
    expect(failures(inclusive, { q: 1 })).toEqual([]);
    expect(failures(inclusive, { q: 10 })).toEqual([]);
    expect(failures(inclusive, { q: 0 })).toEqual(['/q: must be >= 1, got 0']);
    expect(failures(inclusive, { q: 10.5 })).toEqual(['/q: must be <= 10, got 10.5']);
    const exclusive = rule('range', { field: '/p', exclusiveMin: 0, exclusiveMax: 1 });
    expect(failures(exclusive, { p: 0.5 })).toEqual([]);
    expect(failures(exclusive, { p: 0 })).toEqual(['/p: must be > 0, got 0']);
    expect(failures(exclusive, { p: 1 })).toEqual(['/p: must be < 1, got 1']);
  });

  it('skips a missing or null value and reports a value of the wrong type', () => {
    const compiled = rule('range', { field: '/q', min: 1 });
    expect(failures(compiled, {})).toEqual([]);
    expect(failures(compiled, { q: null })).toEqual([]);
    expect(failures(compiled, { q: '5' })).toEqual(['/q: must be a number, got string']);
  });

  it('compares ISO dates as instants when kind is date', () => {
    const compiled = rule('range', { field: '/at', kind: 'date', min: '2024-01-01', exclusiveMax: '2025-01-01T00:00:00Z' });
    expect(failures(compiled, { at: '2024-01-01' })).toEqual([]);
    expect(failures(compiled, { at: '2024-12-31T23:59:59.999Z' })).toEqual([]);
    // 00:30 at UTC+01:00 is 23:30 UTC of the day before.
    expect(failures(compiled, { at: '2024-01-01T00:30:00+01:00' })).toEqual(['/at: must be on or after 2024-01-01']);
    expect(failures(compiled, { at: '2025-01-01' })).toEqual(['/at: must be before 2025-01-01T00:00:00Z']);
    expect(failures(compiled, { at: '2024-02-30' })).toEqual(['/at: is not a valid ISO 8601 date']);
    expect(failures(compiled, { at: 1704067200000 })).toEqual(['/at: must be an ISO 8601 date string, got number']);
  });
});

describe('length', () => {
  it('counts Unicode code points in strings, not UTF-16 units', () => {
    const compiled = rule('length', { field: '/name', min: 2, max: 3 });
    expect(failures(compiled, { name: '😀😀😀' })).toEqual([]); // 6 UTF-16 units, 3 code points
    expect(failures(compiled, { name: '😀😀😀😀' })).toEqual(['/name: must have at most 3 characters, got 4']);
    expect(failures(compiled, { name: '😀' })).toEqual(['/name: must have at least 2 characters, got 1']);
    expect(failures(compiled, { name: 'ção' })).toEqual([]);
  });

  it('counts array elements and rejects other types', () => {
    const compiled = rule('length', { field: '/items', min: 1 });
    expect(failures(compiled, { items: [0] })).toEqual([]);
    expect(failures(compiled, { items: [] })).toEqual(['/items: must have at least 1 item, got 0']);
    expect(failures(compiled, { items: { a: 1 } })).toEqual(['/items: must be a string or an array, got object']);
  });
});

describe('pattern', () => {
  it('matches the whole value by default', () => {
    const compiled = rule('pattern', { field: '/sku', pattern: 'SKU-[0-9]{5}' });
    expect(failures(compiled, { sku: 'SKU-00042' })).toEqual([]);
    expect(failures(compiled, { sku: 'xSKU-00042' })).toEqual(['/sku: does not match the pattern SKU-[0-9]{5}']);
    expect(failures(compiled, { sku: 'SKU-000421' })).toEqual(['/sku: does not match the pattern SKU-[0-9]{5}']);
  });

  it('searches when match is search, and ignores case when asked', () => {
    const search = rule('pattern', { field: '/note', pattern: 'urgent', match: 'search', ignoreCase: true });
    expect(failures(search, { note: 'This is URGENT, please' })).toEqual([]);
    expect(failures(search, { note: 'whenever' })).toEqual(['/note: contains no match of the pattern urgent']);
  });

  it('takes RE2 syntax: Unicode classes and alternations that must all match in full', () => {
    expect(failures(rule('pattern', { field: '/n', pattern: '\\p{L}+' }), { n: 'Ærøskøbing' })).toEqual([]);
    // Full match of an alternation: 'ab' must match as a whole even though 'a' is the first branch.
    expect(failures(rule('pattern', { field: '/n', pattern: 'a|ab' }), { n: 'ab' })).toEqual([]);
  });

  it('reports non-strings', () => {
    expect(failures(rule('pattern', { field: '/zip', pattern: '[0-9]{5}' }), { zip: 10115 })).toEqual(['/zip: must be a string, got number']);
  });
});

describe('enum and reference', () => {
  it('enum compares with strict equality', () => {
    const compiled = rule('enum', { field: '/status', values: ['paid', 'shipped', 1, true, null] });
    expect(failures(compiled, { status: 'paid' })).toEqual([]);
    expect(failures(compiled, { status: 1 })).toEqual([]);
    expect(failures(compiled, { status: '1' })).toEqual(['/status: must be one of "paid", "shipped", 1, true, null']);
    expect(failures(compiled, { status: 'Paid' })).toEqual(['/status: must be one of "paid", "shipped", 1, true, null']);
    expect(failures(compiled, { status: ['paid'] })).toHaveLength(1);
  });

  it('reference looks values up in a named list of the rule set', () => {
    const countries = Array.from({ length: 5000 }, (_, i) => `C${i}`);
    const compiled = ruleSet([{ id: 'country', severity: 'error', type: 'reference', field: '/country', list: 'countries' }], { references: { countries } });
    expect(failures(compiled, { country: 'C4999' })).toEqual([]);
    expect(failures(compiled, { country: 'C5000' })).toEqual(['/country: is not in the reference list "countries"']);
  });

  it('reference also takes inline values, and checks every element under a wildcard', () => {
    const compiled = rule('reference', { field: '/tags/*', values: ['a', 'b'] });
    expect(failures(compiled, { tags: ['a', 'b', 'c', 'a', 'd'] })).toEqual([
      '/tags/2: is not in the list of allowed values',
      '/tags/4: is not in the list of allowed values',
    ]);
  });
});

describe('unique within a job', () => {
  const compiled = ruleSet([{ id: 'order-id.unique', severity: 'error', type: 'unique', field: '/order_id' }]);

  it('flags the second record that carries a value, with no false positive for the first', () => {
    const uniqueness = new InMemoryUniquenessTracker();
    const validate = (recordNumber: number, record: unknown) => validateRecord(compiled, record, { jobId: 'j1', recordNumber, uniqueness }).violations;
    expect(validate(1, { order_id: 'A' })).toEqual([]);
    expect(validate(2, { order_id: 'B' })).toEqual([]);
    expect(validate(3, { order_id: 'A' })).toEqual([
      { ruleId: 'order-id.unique', severity: 'error', path: '/order_id', message: 'duplicate value within the job' },
    ]);
    expect(uniqueness.size).toBe(2);
  });

  it('does not count a redelivered record against itself', () => {
    const uniqueness = new InMemoryUniquenessTracker();
    const validate = (recordNumber: number) => validateRecord(compiled, { order_id: 'A' }, { jobId: 'j1', recordNumber, uniqueness }).valid;
    expect(validate(7)).toBe(true);
    expect(validate(7)).toBe(true);
    expect(validate(8)).toBe(false);
  });

  it('keeps jobs apart: each job has its own tracker', () => {
    const job1 = new InMemoryUniquenessTracker();
    const job2 = new InMemoryUniquenessTracker();
    expect(validateRecord(compiled, { order_id: 'A' }, { jobId: 'j1', recordNumber: 1, uniqueness: job1 }).valid).toBe(true);
    expect(validateRecord(compiled, { order_id: 'A' }, { jobId: 'j2', recordNumber: 1, uniqueness: job2 }).valid).toBe(true);
  });

  it('tells 1 from "1" and ignores missing values', () => {
    const uniqueness = new InMemoryUniquenessTracker();
    const validate = (recordNumber: number, record: unknown) => validateRecord(compiled, record, { jobId: 'j', recordNumber, uniqueness }).valid;
    expect(validate(1, { order_id: 1 })).toBe(true);
    expect(validate(2, { order_id: '1' })).toBe(true);
    expect(validate(3, {})).toBe(true);
    expect(validate(4, { order_id: null })).toBe(true);
    expect(validate(5, {})).toBe(true);
  });

  it('under a wildcard, also catches a repeat inside one record', () => {
    const skus = ruleSet([{ id: 'sku.unique', severity: 'error', type: 'unique', field: '/items/*/sku' }]);
    const uniqueness = new InMemoryUniquenessTracker();
    const first = validateRecord(skus, { items: [{ sku: 'X' }, { sku: 'Y' }, { sku: 'X' }] }, { jobId: 'j', recordNumber: 1, uniqueness });
    expect(first.violations.map((v) => v.path)).toEqual(['/items/2/sku']);
    const second = validateRecord(skus, { items: [{ sku: 'Z' }, { sku: 'Y' }] }, { jobId: 'j', recordNumber: 2, uniqueness });
    expect(second.violations.map((v) => v.path)).toEqual(['/items/1/sku']);
  });

  it('refuses to run unique rules without a tracker rather than skip them', () => {
    expect(() => validateRecord(compiled, { order_id: 'A' }, { jobId: 'j', recordNumber: 1 })).toThrow(/pass context.uniqueness/);
  });
});

describe('when, severity and the result', () => {
  it('applies a rule only to records for which `when` is true', () => {
    const compiled = ruleSet([
      { id: 'postal-code', severity: 'error', type: 'required', field: '/address/postal_code', when: "status in ['shipped', 'delivered']" },
    ]);
    expect(failures(compiled, { status: 'pending' })).toEqual([]);
    expect(failures(compiled, {})).toEqual([]);
    expect(failures(compiled, { status: 'shipped' })).toEqual(['/address/postal_code: is required']);
  });

  it('reports a `when` that fails on the record instead of skipping silently', () => {
    const compiled = ruleSet([{ id: 'r', severity: 'error', type: 'required', field: '/x', when: 'a / b > 1' }]);
    expect(failures(compiled, { a: 1, b: 0 })).toEqual(['/x: condition (when) failed: division by zero (column 3)']);
  });

  it('is valid when only warnings are violated, invalid with any error', () => {
    const compiled = ruleSet([
      { id: 'w', severity: 'warning', type: 'required', field: '/w' },
      { id: 'e', severity: 'error', type: 'required', field: '/e' },
    ]);
    expect(check(compiled, { e: 1 }).valid).toBe(true);
    expect(check(compiled, { e: 1 }).violations).toHaveLength(1);
    expect(check(compiled, { w: 1 }).valid).toBe(false);
    expect(check(compiled, { w: 1, e: 1 })).toEqual({ valid: true, violations: [] });
  });

  it('keeps at most maxViolations per record but still counts every error for validity', async () => {
    const { compileRuleSet } = await import('@lagscale/validator');
    const compiled = compileRuleSet(
      { name: 't', version: 1, rules: [{ id: 'r', severity: 'error', type: 'range', field: '/v/*', min: 0 }] },
      { maxViolations: 3 },
    );
    const result = check(compiled, { v: Array.from({ length: 10 }, () => -1) });
    expect(result.valid).toBe(false);
    expect(result.violations).toHaveLength(3);
    expect(result.truncated).toBe(true);
  });
});
