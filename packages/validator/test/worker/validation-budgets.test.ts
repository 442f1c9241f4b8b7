import type { RuleSetDocument, SandboxIncident } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
import { OUTCOME, type ValidationInput } from '../../src/worker/batch-validation.js';
import { ValidationThreads } from '../../src/worker/validation-threads.js';
import { COSTLY_PATTERN, MATCHING_CODE, packBatch, randomAb, type TestRecord } from './batch-input.js';

/**
 * Rule sets and records within every static limit that still cost too much at run time: the
 * thread is stopped at its budget (or dies on its heap), replaced, the record dead-lettered with
 * the reason, and the rest of the batch validated, without the batch failing.
 */
const costlyPattern: RuleSetDocument = {
  name: 'costly-pattern',
  version: 1,
  rules: [{ id: 'code', severity: 'error', type: 'pattern', field: '/code', pattern: COSTLY_PATTERN }],
};
const plain: RuleSetDocument = { name: 'plain', version: 1, rules: [{ id: 'code', severity: 'error', type: 'required', field: '/code' }] };
// Every item of a long array of numbers fails: the schema validator makes an error object for each.
const strings: RuleSetDocument = {
  name: 'strings',
  version: 1,
  schema: { type: 'object', properties: { code: { type: 'array', items: { type: 'string' } } } },
  rules: [],
};

function pack(records: readonly TestRecord[]): ValidationInput {
  return packBatch(records, { now: Date.now() });
}

const documents = new Map<string, RuleSetDocument>([
  ['costly-pattern@1', costlyPattern],
  ['plain@1', plain],
  ['strings@1', strings],
]);

describe('validation budgets in the worker threads', () => {
  it('dead-letters a record over the time budget as validation_timeout and validates the rest of the batch', { timeout: 30_000 }, async () => {
    const incidents: SandboxIncident[] = [];
    const threads = new ValidationThreads(1, { budgets: { recordMs: 300 }, onIncident: (incident) => incidents.push(incident) });
    try {
      const started = performance.now();
      const output = await threads.validate(
        pack([
          { value: JSON.stringify({ code: MATCHING_CODE }), key: 'costly-pattern@1' },
          // 200,000 random a/b characters: 3-5 s per 100,000 of them (measured here).
          { value: JSON.stringify({ code: randomAb(200_000) }), key: 'costly-pattern@1' },
          { value: '{"code": "x"}', key: 'plain@1' },
          { value: '{}', key: 'plain@1' },
        ]),
        documents,
      );
      const elapsed = performance.now() - started;
      expect([...output.outcomes]).toEqual([OUTCOME.valid, OUTCOME.deadLetter, OUTCOME.valid, OUTCOME.invalid]);
      expect(output.deadLetterCodes).toEqual(['validation_timeout']);
      expect(output.deadLetterReasons[0]).toMatch(/rule set costly-pattern@1 took more than 300 ms, over the budget per record/);
      expect(incidents.map((incident) => incident.kind)).toEqual(['timeout']);
      // Stopped near the budget (the watchdog looks every 50 ms), not after the seconds the match would take.
      expect(elapsed).toBeLessThan(5_000);
      // The replacement thread goes on with the next batch.
      const next = await threads.validate(pack([{ value: '{"code": "x"}', key: 'plain@1' }]), documents);
      expect([...next.outcomes]).toEqual([OUTCOME.valid]);
    } finally {
      await threads.close();
    }
  });

  it('dead-letters a record on which the thread runs out of memory twice as validation_crashed', { timeout: 60_000 }, async () => {
    const incidents: SandboxIncident[] = [];
    const threads = new ValidationThreads(1, { budgets: { threadHeapMb: 64, recordMs: 60_000 }, onIncident: (incident) => incidents.push(incident) });
    try {
      // 1 MB of JSON: 500,000 failing items, whose error objects need about 115 MB of heap, and the thread has 64.
      const huge = `{"code": [${'0,'.repeat(500_000)}0]}`;
      const output = await threads.validate(
        pack([
          { value: '{"code": ["x"]}', key: 'strings@1' },
          { value: huge, key: 'strings@1' },
          { value: '{"code": ["y"]}', key: 'strings@1' },
        ]),
        documents,
      );
      expect([...output.outcomes]).toEqual([OUTCOME.valid, OUTCOME.deadLetter, OUTCOME.valid]);
      expect(output.deadLetterCodes).toEqual(['validation_crashed']);
      expect(output.deadLetterReasons[0]).toMatch(/the validation thread died 2 times on this record with rule set strings@1 \(.*memory/);
      expect(incidents.map((incident) => incident.kind)).toEqual(['crash', 'crash']);
    } finally {
      await threads.close();
    }
  });

  it('remembers a rule set whose compile overruns its budget and dead-letters its records without compiling again', { timeout: 60_000 }, async () => {
    const properties = Object.fromEntries(Array.from({ length: 4_000 }, (_, i) => [`p${i}`, { type: 'string', maxLength: 10 + i }]));
    const wide: RuleSetDocument = { name: 'wide', version: 1, schema: { type: 'object', properties }, rules: [] };
    const incidents: SandboxIncident[] = [];
    const threads = new ValidationThreads(1, { budgets: { compileMs: 300 }, onIncident: (incident) => incidents.push(incident) });
    const both = new Map([...documents, ['wide@1', wide]]);
    try {
      const records = [
        { value: '{"p1": "x"}', key: 'wide@1' },
        { value: '{"code": "x"}', key: 'plain@1' },
        { value: '{"p2": "y"}', key: 'wide@1' },
      ];
      const output = await threads.validate(pack(records), both);
      expect([...output.outcomes]).toEqual([OUTCOME.deadLetter, OUTCOME.valid, OUTCOME.deadLetter]);
      expect(output.deadLetterCodes).toEqual(['rule_set_too_costly', 'rule_set_too_costly']);
      expect(output.deadLetterReasons[0]).toMatch(/rule set wide@1 took more than 300 ms to compile/);
      expect(incidents).toHaveLength(1);
      const again = await threads.validate(pack(records), both);
      expect(again.deadLetterCodes).toEqual(['rule_set_too_costly', 'rule_set_too_costly']);
      expect(incidents).toHaveLength(1);
    } finally {
      await threads.close();
    }
  });
});
