/**
 * What validating may cost in time and memory, enforced where validation runs (threads of its
 * own, which are stopped and replaced when a record or a compile overruns). The numbers, and why:
 * - a record: 1 s. The example rule set takes about 33 µs a record; 1 s is 30,000 times that, so
 *   only a record or rule set built to be costly reaches it, and a batch of them still moves on.
 * - a compile: 10 s. A rule set at every static limit (cost.ts) compiles in about 1 s here.
 * - a thread's heap: 512 MB. A record is at most 1 MiB of JSON (about 10-20 MB decoded); what
 *   needs more is a rule set or record built to exhaust memory, and it costs a thread, not the process.
 * - a record whose thread dies twice (out of memory, say) is dead-lettered rather than tried again.
 */
export interface ValidationBudgets {
  /** Milliseconds one record may take to decode and validate. */
  readonly recordMs: number;
  /** Milliseconds one rule set may take to compile. */
  readonly compileMs: number;
  /** Old-generation heap of one validation thread, in MB. */
  readonly threadHeapMb: number;
  /** Deaths of a thread while on one record before that record is dead-lettered. */
  readonly deathsPerRecord: number;
}

export const VALIDATION_BUDGETS: ValidationBudgets = Object.freeze({
  recordMs: 1_000,
  compileMs: 10_000,
  threadHeapMb: 512,
  deathsPerRecord: 2,
});

export function resolveBudgets(given: Partial<ValidationBudgets> = {}): ValidationBudgets {
  const budgets = { ...VALIDATION_BUDGETS, ...given };
  for (const [name, value] of Object.entries(budgets)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`validation budget ${name} must be a positive integer, got ${String(value)}`);
  }
  return budgets;
}
