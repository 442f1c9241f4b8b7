import type { Violation } from '../rules/record-run.js';
import type { RuleSetIssue } from '../rules/rule-set-error.js';
import type { ValidationInput, ValidationOutput } from '../worker/batch-validation.js';

/** A record the task must not validate again (it overran or crashed a thread before): its dead letter. */
export interface SkippedRecord {
  readonly index: number;
  readonly code: string;
  readonly reason: string;
}

export type ToThread =
  | {
      readonly type: 'batch';
      readonly id: number;
      readonly input: ValidationInput;
      /** The document of each rule set key the input names (compiled once per thread, kept while used). */
      readonly documents: readonly (readonly [string, unknown])[];
    }
  | { readonly type: 'check'; readonly id: number; readonly document: unknown }
  | {
      readonly type: 'dryRun';
      readonly id: number;
      readonly key: string;
      readonly document: unknown;
      /** Each record as JSON text (decoded in the thread, exact numbers kept). */
      readonly records: readonly string[];
      readonly now: number;
      readonly skipped: readonly SkippedRecord[];
    };

export interface DryRunResult {
  readonly index: number;
  readonly valid: boolean;
  readonly violations: readonly Violation[];
  readonly truncated?: true;
  readonly deadLetter?: { readonly code: string; readonly reason: string };
}

export type FromThread =
  | { readonly id: number; readonly type: 'batch'; readonly output: ValidationOutput }
  /** `issues` null: the document compiles. */
  | { readonly id: number; readonly type: 'check'; readonly issues: readonly RuleSetIssue[] | null }
  /** `unusable`: the stored document does not compile (any more), with the reason. */
  | { readonly id: number; readonly type: 'dryRun'; readonly results: readonly DryRunResult[]; readonly unusable?: string }
  | { readonly id: number; readonly type: 'error'; readonly error: string };
