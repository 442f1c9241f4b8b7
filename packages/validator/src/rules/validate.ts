import { conditionHolds } from './checks.js';
import type { CompiledRuleSet } from './compile.js';
import { type RecordResult, RecordRun, type ValidationContext, type Violation } from './record-run.js';
import { schemaViolations } from './record-schema.js';

const NO_VIOLATIONS: readonly Violation[] = Object.freeze([]);

/**
 * Validates one decoded record: the record schema first (violations `schema:<keyword>`), then
 * every rule in order. Never throws for anything a record contains; a record that makes an
 * expression fail gets a violation of that rule.
 */
export function validateRecord(compiled: CompiledRuleSet, record: unknown, context: ValidationContext): RecordResult {
  if (compiled.hasUniqueRules && context.uniqueness === undefined) {
    throw new TypeError(`rule set "${compiled.name}" has unique rules: pass context.uniqueness (an InMemoryUniquenessTracker for dry runs)`);
  }
  const run = new RecordRun(context, compiled.maxViolations);
  const schema = compiled.schemaValidator;
  if (schema !== null && !schema(record)) {
    for (const violation of schemaViolations(schema.errors ?? [])) run.report(`schema:${violation.keyword}`, 'error', violation.path, violation.message);
  }
  for (const rule of compiled.rules) {
    if (rule.when !== null && !conditionHolds(rule, rule.when, rule.field ?? '', record, run)) continue;
    rule.apply(record, run);
  }
  const violations = run.violations ?? NO_VIOLATIONS;
  const valid = run.errorCount === 0;
  return run.truncated ? { valid, violations, truncated: true } : { valid, violations };
}

/** A rule set that could not be compiled where the records are validated: its records go to the DLQ with the reason. */
export class RuleSetUnusableError extends Error {
  override readonly name = 'RuleSetUnusableError';
  readonly code = 'rule_set_invalid';
}

/** The DLQ code and reason of a record whose validation threw. */
export function validationFailure(error: unknown): { code: string; reason: string } {
  if (error instanceof RuleSetUnusableError) return { code: error.code, reason: error.message };
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return {
    code: 'validation_failed',
    reason: `validating this record failed (${message.slice(0, 500)}); fix the rule set or the record, then replay it`,
  };
}
