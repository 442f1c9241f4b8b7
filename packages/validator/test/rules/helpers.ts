import { type CompiledRuleSet, compileRuleSet, InMemoryUniquenessTracker, type RecordResult, RuleSetError, validateRecord } from '@lagscale/validator';

/** A rule set with the given rules (and optional extra top-level properties). */
export function ruleSet(rules: Record<string, unknown>[], extra: Record<string, unknown> = {}): CompiledRuleSet {
  return compileRuleSet({ name: 'test', version: 1, rules, ...extra });
}

/** One rule of severity error with id "r". */
export function rule(type: string, params: Record<string, unknown>): CompiledRuleSet {
  return ruleSet([{ id: 'r', severity: 'error', type, ...params }]);
}

export function check(compiled: CompiledRuleSet, record: unknown, recordNumber = 1): RecordResult {
  return validateRecord(compiled, record, { jobId: 'job-1', recordNumber, uniqueness: new InMemoryUniquenessTracker(), now: Date.UTC(2025, 0, 1) });
}

/** The violations as "path: message" lines. */
export function failures(compiled: CompiledRuleSet, record: unknown): string[] {
  return check(compiled, record).violations.map((v) => `${v.path}: ${v.message}`);
}

/** The issues of a rule set that must not compile, as "pointer: message" lines. */
export function ruleSetIssues(document: unknown): string[] {
  try {
    compileRuleSet(document);
  } catch (error) {
    if (error instanceof RuleSetError) return error.issues.map((issue) => `${issue.pointer}: ${issue.message}`);
    throw error;
  }
  throw new Error('the rule set compiled');
}
