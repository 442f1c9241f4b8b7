import { exactJson } from '../rules/decode.js';
import type { RuleSetIssue } from '../rules/rule-set-error.js';
import { resolveBudgets, type ValidationBudgets } from '../sandbox/budgets.js';
import type { DryRunResult, SkippedRecord } from '../sandbox/messages.js';
import { BudgetExceededError, PoolBusyError, type SandboxIncident, SandboxPool, ThreadDiedError } from '../sandbox/pool.js';
import { PHASE } from '../sandbox/progress.js';
import type { StoredRuleSet } from '../store/store.js';
import { ApiError } from './errors.js';

/** Records of one dry run that may overrun their budget before the rest are not run at all. */
const TIMEOUTS_PER_DRY_RUN = 3;

/**
 * The API's checks, saves and dry runs compile and validate in a thread of their own, never on the
 * event loop: a costly rule set or record is stopped at its budget (the thread replaced) and
 * answered for, while /healthz and every other request go on. One thread by default, started on
 * first use; at most `maxQueued` tasks wait for it (more answer 503 `validation_busy`).
 */
export class RuleSetSandbox {
  readonly #budgets: ValidationBudgets;
  readonly #threads: number;
  readonly #maxQueued: number;
  readonly #onIncident: (incident: SandboxIncident) => void;
  #pool: SandboxPool | undefined;
  #nextId = 1;

  constructor(options: { budgets?: Partial<ValidationBudgets>; threads?: number; maxQueued?: number; onIncident?: (incident: SandboxIncident) => void } = {}) {
    this.#budgets = resolveBudgets(options.budgets);
    this.#threads = options.threads ?? 1;
    this.#maxQueued = options.maxQueued ?? 16;
    this.#onIncident = options.onIncident ?? (() => {});
  }

  get budgets(): ValidationBudgets {
    return this.#budgets;
  }

  /** The document's mistakes (cost over a budget among them), or null when it compiles. */
  async check(document: unknown): Promise<readonly RuleSetIssue[] | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await this.#run({ type: 'check', id: this.#nextId++, document });
        if (reply.type === 'check') return reply.issues;
        throw new Error(reply.type === 'error' ? reply.error : `unexpected reply ${reply.type}`);
      } catch (error) {
        if (error instanceof BudgetExceededError) {
          return [
            {
              pointer: '',
              message: `compiling this rule set took more than ${this.#budgets.compileMs} ms, over the budget: make it smaller (fewer subschemas, patterns or rules)`,
            },
          ];
        }
        if (!(error instanceof ThreadDiedError)) throw error;
        if (attempt >= this.#budgets.deathsPerRecord) {
          return [
            { pointer: '', message: `compiling this rule set stopped the validation thread ${attempt} times (${error.reason.slice(0, 200)}): make it smaller` },
          ];
        }
      }
    }
  }

  /** Validates the records as a worker would (without a job), each within the record budget. */
  async dryRun(stored: StoredRuleSet, records: readonly unknown[], now: number): Promise<DryRunResult[]> {
    const key = `${stored.name}@${stored.version}`;
    // As text, not as values: a number the body's parse rounded (beyond 2^53) keeps its exact
    // literal only beside the decoded value, and a structured clone would drop it.
    const texts = records.map((record) => exactJson(record));
    const skipped = new Map<number, SkippedRecord>();
    const deaths = new Map<number, number>();
    let timeouts = 0;
    for (;;) {
      try {
        const reply = await this.#run({
          type: 'dryRun',
          id: this.#nextId++,
          key,
          document: stored.document,
          records: texts,
          now,
          skipped: [...skipped.values()],
        });
        if (reply.type === 'error') throw new Error(reply.error);
        if (reply.type !== 'dryRun') throw new Error(`unexpected reply ${reply.type}`);
        if (reply.unusable !== undefined)
          throw new ApiError(409, 'rule_set_invalid', `rule set "${stored.name}" version ${stored.version} cannot be used: ${reply.unusable}`);
        return [...reply.results];
      } catch (error) {
        if (error instanceof BudgetExceededError && error.phase === PHASE.compile) {
          throw new ApiError(
            409,
            'rule_set_too_costly',
            `rule set "${stored.name}" version ${stored.version} took more than ${this.#budgets.compileMs} ms to compile, over the budget; save a smaller version`,
          );
        }
        if (error instanceof BudgetExceededError) {
          skipped.set(error.index, {
            index: error.index,
            code: 'validation_timeout',
            reason: `validating this record against rule set ${key} took more than ${this.#budgets.recordMs} ms, over the budget per record`,
          });
          if (++timeouts >= TIMEOUTS_PER_DRY_RUN) this.#skipRest(records.length, skipped, key);
        } else if (error instanceof ThreadDiedError && error.index >= 0) {
          const count = (deaths.get(error.index) ?? 0) + 1;
          deaths.set(error.index, count);
          if (count >= this.#budgets.deathsPerRecord || error.phase === PHASE.compile) {
            if (error.phase === PHASE.compile)
              throw new ApiError(
                409,
                'rule_set_too_costly',
                `compiling rule set "${stored.name}" version ${stored.version} stopped the validation thread (${error.reason.slice(0, 200)})`,
              );
            skipped.set(error.index, {
              index: error.index,
              code: 'validation_crashed',
              reason: `the validation thread died ${count} times on this record with rule set ${key} (${error.reason.slice(0, 200)})`,
            });
          }
        } else throw error;
      }
    }
  }

  #skipRest(count: number, skipped: Map<number, SkippedRecord>, key: string): void {
    for (let index = 0; index < count; index++) {
      if (skipped.has(index)) continue;
      skipped.set(index, {
        index,
        code: 'validation_timeout',
        reason: `not validated: ${TIMEOUTS_PER_DRY_RUN} records of this dry run overran the budget per record with rule set ${key}`,
      });
    }
  }

  async #run(message: Parameters<SandboxPool['run']>[0]) {
    this.#pool ??= new SandboxPool({
      threads: this.#threads,
      budgets: this.#budgets,
      maxQueued: this.#maxQueued,
      label: 'api-validation',
      onIncident: this.#onIncident,
    });
    try {
      return await this.#pool.run(message);
    } catch (error) {
      if (error instanceof PoolBusyError) throw new ApiError(503, 'validation_busy', error.message);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#pool?.close();
  }
}
