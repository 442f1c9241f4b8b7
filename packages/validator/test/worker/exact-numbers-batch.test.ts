import type { RuleSetDocument } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
// From the sources, like validateBatch: the decoder's notes on a record live in its module, so the
// rules must be the same module instance as the decoder (the package's build is another one).
import { compileRuleSet } from '../../src/rules/compile.js';
import { OUTCOME, ruleSetKey, type ValidationInput, validateBatch } from '../../src/worker/batch-validation.js';
import { InlineValidator, ValidationThreads } from '../../src/worker/validation-threads.js';
import { packBatch } from './batch-input.js';

/**
 * The worker's path for `unique` rules: records arrive as bytes, validateBatch decodes and
 * validates them (in validation threads or inline) and lists the claims the store is asked for.
 * Integers beyond 2^53 must reach the claims as the records wrote them.
 */
const document: RuleSetDocument = {
  name: 'accounts',
  version: 1,
  rules: [
    { id: 'account.unique', severity: 'error', type: 'unique', field: '/account' },
    { id: 'refs.unique', severity: 'error', type: 'unique', field: '/refs/*' },
  ],
} as RuleSetDocument;
const KEY = ruleSetKey(document.name, document.version);

function pack(values: readonly string[]): ValidationInput {
  return packBatch(
    values.map((value) => ({ value, key: KEY })),
    { maxBytes: 1 << 16, maxDepth: 16 },
  );
}

const records = [
  '{"account": 9007199254740992, "refs": [1]}',
  '{"account": 9007199254740993, "refs": [90071992547409931, 90071992547409932]}',
  '{"account": 9007199254740993}',
  '{"account": 9.007199254740993e15, "refs": [90071992547409932]}',
];

describe('validateBatch with integers beyond 2^53', () => {
  it('claims each as written: 9007199254740992 and 9007199254740993 are two accounts, the same one twice a duplicate', () => {
    const compiled = compileRuleSet(document);
    const output = validateBatch(pack(records), () => compiled);
    expect([...output.outcomes]).toEqual([OUTCOME.valid, OUTCOME.valid, OUTCOME.invalid, OUTCOME.invalid]);
    expect(output.violationRecords).toEqual([2, 3]);
    expect(output.violations.map((list) => list.map((v) => `${v.ruleId} ${v.path}`))).toEqual([
      ['account.unique /account'],
      ['account.unique /account', 'refs.unique /refs/0'],
    ]);
    expect(output.claims.keys).toEqual([
      '9007199254740992',
      '1',
      '9007199254740993',
      '90071992547409931',
      '90071992547409932',
      '9007199254740993',
      '9007199254740993',
      '90071992547409932',
    ]);
    expect([...output.claims.answers]).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
  });

  it('answers the same in validation threads as inline', async () => {
    const inline = await new InlineValidator().validate(pack(records), new Map([[KEY, document]]));
    const threads = new ValidationThreads(1);
    try {
      expect(await threads.validate(pack(records), new Map([[KEY, document]]))).toEqual(inline);
    } finally {
      await threads.close();
    }
    expect(inline.claims.keys[2]).toBe('9007199254740993');
  });
});
