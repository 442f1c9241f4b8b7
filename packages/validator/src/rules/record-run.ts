import type { EvaluationState } from './expression/functions.js';
import type { Severity } from './rule-set.js';
import type { UniquenessTracker } from './uniqueness.js';

export interface ValidationContext {
  readonly jobId: string;
  /** The record's position in its job; identifies it to uniqueness tracking. */
  readonly recordNumber: number;
  /** Needed when the rule set has `unique` rules. */
  readonly uniqueness?: UniquenessTracker;
  /** Epoch milliseconds for now() in expressions; the clock is read (once per record) when absent. */
  readonly now?: number;
}

export interface Violation {
  /** The rule's id, or `schema:<keyword>` for a JSON Schema violation. */
  readonly ruleId: string;
  readonly severity: Severity;
  /** JSON pointer of the offending field in the record. */
  readonly path: string;
  readonly message: string;
}

export interface RecordResult {
  /** No violation of severity error. */
  readonly valid: boolean;
  readonly violations: readonly Violation[];
  /** Set when more violations were found than the rule set keeps per record (they still count for `valid`). */
  readonly truncated?: true;
}

/** What validating one record accumulates; also the expression evaluator's state. */
export class RecordRun implements EvaluationState {
  budget = 0;
  violations: Violation[] | null = null;
  errorCount = 0;
  truncated = false;
  #now: number | undefined;

  constructor(
    readonly context: ValidationContext,
    private readonly maxViolations: number,
  ) {
    this.#now = context.now;
  }

  now(): number {
    this.#now ??= Date.now();
    return this.#now;
  }

  report(ruleId: string, severity: Severity, path: string, message: string): void {
    if (severity === 'error') this.errorCount++;
    this.violations ??= [];
    if (this.violations.length >= this.maxViolations) {
      this.truncated = true;
      return;
    }
    this.violations.push({ ruleId, severity, path, message });
  }
}
