import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileRuleSet, type RuleSetDocument } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
import { OUTCOME, ruleSetKey, type ValidationInput, validateBatch } from '../../src/worker/batch-validation.js';
import { InlineValidator, ValidationThreads } from '../../src/worker/validation-threads.js';
import { packBatch } from './batch-input.js';

const document = JSON.parse(readFileSync(fileURLToPath(new URL('../../examples/orders.ruleset.json', import.meta.url)), 'utf8')) as RuleSetDocument;
const KEY = ruleSetKey(document.name, document.version);

const order = (id: string, overrides: Record<string, unknown> = {}): string =>
  JSON.stringify({
    order_id: id,
    created_at: '2025-03-01T10:00:00Z',
    status: 'paid',
    customer: { id: 'C-1', email: 'ann@example.org', country: 'DE' },
    currency: 'EUR',
    items: [{ sku: 'SKU-00001', quantity: 1, unit_price: 10 }],
    subtotal: 10,
    total: 10,
    ...overrides,
  });

function pack(records: readonly { value: string; jobId?: string; recordNumber: number; jobKnown?: boolean }[]): ValidationInput {
  return packBatch(records.map((r) => ({ ...r, key: KEY })));
}

const batch = () =>
  pack([
    { value: order('ORD-2025-000001'), recordNumber: 1 },
    { value: order('ORD-2025-000002', { currency: 'XXX' }), recordNumber: 2 },
    { value: '{"order_id": "ORD-2025-000003", "items": [', recordNumber: 3 },
    { value: order('ORD-2025-000004'), recordNumber: 4, jobId: 'gone', jobKnown: false },
    { value: order('ORD-2025-000001'), recordNumber: 5 },
    { value: order('ORD-2025-000006'), recordNumber: 6, jobId: 'job-2' },
  ]);

describe('validateBatch', () => {
  it('decodes and validates each record, dead-letters what cannot be validated, and lists the claims in record order', () => {
    const compiled = compileRuleSet(document);
    const output = validateBatch(batch(), () => compiled);
    expect([...output.outcomes]).toEqual([OUTCOME.valid, OUTCOME.invalid, OUTCOME.deadLetter, OUTCOME.deadLetter, OUTCOME.invalid, OUTCOME.valid]);
    expect(output.deadLetterRecords).toEqual([2, 3]);
    expect(output.deadLetterCodes).toEqual(['truncated_json', 'unknown_job']);
    expect(output.deadLetterReasons[1]).toBe('job "gone" does not exist; create it, then replay this record');
    expect(output.violationRecords).toEqual([1, 4]);
    expect(output.violations[0]?.map((v) => v.ruleId)).toEqual(['currency.known']);
    // record 5 repeats record 1's order id within the batch
    expect(output.violations[1]?.map((v) => v.ruleId)).toEqual(['order-id.unique']);
    // one unique rule: a claim per validated record, none for the dead letters
    expect([...output.claimsFrom]).toEqual([0, 1, 2, 2, 2, 3]);
    expect([...output.claimsTo]).toEqual([1, 2, 2, 2, 3, 4]);
    expect(output.claims.jobIds).toEqual(['job-1', 'job-1', 'job-1', 'job-2']);
    expect(output.claims.keys).toEqual(['"ORD-2025-000001"', '"ORD-2025-000002"', '"ORD-2025-000001"', '"ORD-2025-000006"']);
    expect(output.claims.recordNumbers).toEqual([1, 2, 5, 6]);
    expect([...output.claims.answers]).toEqual([0, 0, 1, 0]);
  });

  it('gives the same output in a validation thread as inline', async () => {
    const inline = await new InlineValidator().validate(batch(), new Map([[KEY, document]]));
    const threads = new ValidationThreads(2);
    try {
      for (let i = 0; i < 3; i++) expect(await threads.validate(batch(), new Map([[KEY, document]]))).toEqual(inline);
    } finally {
      await threads.close();
    }
  });

  it('dead-letters the records of a rule set that does not compile, and the thread lives on', async () => {
    for (const validator of [new ValidationThreads(1), new InlineValidator()]) {
      try {
        const broken = new Map([[KEY, { name: 'broken', version: 1, rules: [], schema: { $ref: '#' } } as unknown as RuleSetDocument]]);
        const output = await validator.validate(batch(), broken);
        // Record 3 is malformed JSON and record 4's job is gone: those reasons come first.
        expect(output.deadLetterCodes).toEqual([
          'rule_set_invalid',
          'rule_set_invalid',
          'truncated_json',
          'unknown_job',
          'rule_set_invalid',
          'rule_set_invalid',
        ]);
        expect(output.deadLetterReasons[0]).toMatch(/^rule set customer-orders@3 cannot be used: .*\/schema\/\$ref: this reference leads back/s);
        expect(output.claims.jobIds).toEqual([]);
        // The same thread validates the next batch of a good rule set.
        const good = await validator.validate(
          { ...pack([{ value: order('ORD-2025-000009'), recordNumber: 1 }]), ruleSets: ['other@1'] },
          new Map([['other@1', document]]),
        );
        expect(good.outcomes[0]).not.toBe(OUTCOME.deadLetter);
      } finally {
        await validator.close();
      }
    }
  });

  it('dead-letters a record whose validation throws (the rule set is not checked), and validates the others', () => {
    const compiled = compileRuleSet(document);
    let calls = 0;
    const throwing = Object.assign(
      (record: unknown) => {
        calls++;
        if ((record as { order_id?: string }).order_id === 'ORD-2025-000002') throw new RangeError('Maximum call stack size exceeded');
        return true;
      },
      { errors: null },
    );
    const poisoned = { ...compiled, schemaValidator: throwing as unknown as typeof compiled.schemaValidator };
    const output = validateBatch(
      pack([
        { value: order('ORD-2025-000001'), recordNumber: 1 },
        { value: order('ORD-2025-000002'), recordNumber: 2 },
        { value: order('ORD-2025-000003'), recordNumber: 3 },
      ]),
      () => poisoned,
    );
    expect(calls).toBe(3);
    expect([...output.outcomes]).toEqual([OUTCOME.valid, OUTCOME.deadLetter, OUTCOME.valid]);
    expect(output.deadLetterCodes).toEqual(['validation_failed']);
    expect(output.deadLetterReasons[0]).toContain('RangeError: Maximum call stack size exceeded');
    // Only the two validated records claimed their order ids.
    expect(output.claims.recordNumbers).toEqual([1, 3]);
  });

  it('fails a batch whose rule set the thread was not given, and refuses batches once closed', async () => {
    const threads = new ValidationThreads(1);
    await expect(threads.validate(batch(), new Map())).rejects.toThrow(/validation thread: .*rule set customer-orders@3 was not handed to the validator/s);
    await threads.close();
    await expect(threads.validate(batch(), new Map([[KEY, document]]))).rejects.toThrow('the validation threads are closed');
  });
});
