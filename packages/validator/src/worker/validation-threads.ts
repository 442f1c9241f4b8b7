import { type CompiledRuleSet, compileRuleSet } from '../rules/compile.js';
import type { RuleSetDocument } from '../rules/rule-set.js';
import { RuleSetUnusableError } from '../rules/validate.js';
import { resolveBudgets, type ValidationBudgets } from '../sandbox/budgets.js';
import type { SkippedRecord } from '../sandbox/messages.js';
import { BudgetExceededError, type SandboxIncident, SandboxPool, ThreadDiedError } from '../sandbox/pool.js';
import { PHASE } from '../sandbox/progress.js';
import { type ValidationInput, type ValidationOutput, validateBatch } from './batch-validation.js';

/** Runs `validateBatch` for the worker: in threads of its own, or inline on the calling thread. */
export interface BatchValidator {
  /** `ruleSets` holds the document of every rule set key the input names. */
  validate(input: ValidationInput, ruleSets: ReadonlyMap<string, RuleSetDocument>): Promise<ValidationOutput>;
  close(): Promise<void>;
}

/**
 * Rule sets compiled once per key, for the life of the validator (inline validation only: the
 * threads keep their own). A document that does not compile is remembered as its error: its
 * records go to the DLQ.
 */
export class CompiledRuleSets {
  readonly #compiled = new Map<string, CompiledRuleSet | RuleSetUnusableError>();

  add(key: string, document: RuleSetDocument): void {
    if (!this.#compiled.has(key)) this.#compiled.set(key, compileOrError(key, document));
  }

  get(key: string): CompiledRuleSet {
    const compiled = this.#compiled.get(key);
    if (compiled === undefined) throw new Error(`rule set ${key} was not handed to the validator`);
    if (compiled instanceof RuleSetUnusableError) throw compiled;
    return compiled;
  }
}

/** The compiled rule set, or why it cannot be used (a store holding a document no longer accepted, say). */
export function compileOrError(key: string, document: RuleSetDocument): CompiledRuleSet | RuleSetUnusableError {
  try {
    return compileRuleSet(document);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return new RuleSetUnusableError(`rule set ${key} cannot be used: ${message.slice(0, 1000)}; save a corrected version, then replay this record`);
  }
}

/**
 * Validation on the calling thread: no time budget can be enforced there (a costly record holds
 * the event loop), so it is for tests and benchmarks; the worker's default is a thread.
 */
export class InlineValidator implements BatchValidator {
  readonly #ruleSets = new CompiledRuleSets();

  async validate(input: ValidationInput, ruleSets: ReadonlyMap<string, RuleSetDocument>): Promise<ValidationOutput> {
    for (const [key, document] of ruleSets) this.#ruleSets.add(key, document);
    return validateBatch(input, (key) => this.#ruleSets.get(key));
  }

  async close(): Promise<void> {}
}

/** Rule set keys whose compile overran its budget: their records are dead-lettered without another try. */
const KEPT_COSTLY_RULE_SETS = 1_000;

/**
 * Validation threads: batches go to them in turn, so that decoding and rule runs of one batch
 * overlap the consumer, the store and the producer of others on the worker's main thread. Each
 * record and each compile has a time budget, and each thread a heap: a record that overruns is
 * dead-lettered as `validation_timeout`, one on which a thread dies twice as `validation_crashed`,
 * a rule set whose compile overruns as `rule_set_too_costly` (and its later records with it); the
 * thread is replaced and the rest of the batch validated. Nothing a record or a rule set holds
 * fails the batch or makes the worker rejoin its group.
 */
export class ValidationThreads implements BatchValidator {
  readonly #pool: SandboxPool;
  readonly #costly = new Map<string, string>();
  readonly #compileDeaths = new Map<string, number>();
  #nextId = 1;

  constructor(count: number, options: { budgets?: Partial<ValidationBudgets>; onIncident?: (incident: SandboxIncident) => void } = {}) {
    this.#pool = new SandboxPool({
      threads: count,
      budgets: resolveBudgets(options.budgets),
      label: 'validation',
      ...(options.onIncident === undefined ? {} : { onIncident: options.onIncident }),
    });
  }

  async validate(input: ValidationInput, ruleSets: ReadonlyMap<string, RuleSetDocument>): Promise<ValidationOutput> {
    const budgets = this.#pool.budgets;
    const skipped = new Map<number, SkippedRecord>((input.skipped ?? []).map((skip) => [skip.index, skip]));
    const skipCostly = () => {
      input.ruleSets.forEach((key, index) => {
        const reason = this.#costly.get(key);
        if (reason !== undefined && !skipped.has(index)) skipped.set(index, { index, code: 'rule_set_too_costly', reason });
      });
    };
    skipCostly();
    const deaths = new Map<number, number>();
    let deathsOffRecord = 0;
    for (;;) {
      const documents = [...ruleSets].filter(([key]) => !this.#costly.has(key));
      try {
        // The input is copied, not moved: a thread stopped midway must not take the batch's bytes with it.
        const reply = await this.#pool.run({ type: 'batch', id: this.#nextId++, input: { ...input, skipped: [...skipped.values()] }, documents });
        if (reply.type === 'batch') return reply.output;
        throw new Error(`validation thread: ${reply.type === 'error' ? reply.error : `unexpected reply ${reply.type}`}`);
      } catch (error) {
        if (error instanceof BudgetExceededError && error.phase === PHASE.compile) {
          const key = input.ruleSets[error.index] as string;
          this.#markCostly(
            key,
            `rule set ${key} took more than ${budgets.compileMs} ms to compile, over the budget; save a smaller version, then replay this record`,
          );
          skipCostly();
        } else if (error instanceof ThreadDiedError && error.phase === PHASE.compile) {
          const key = input.ruleSets[error.index] as string;
          const count = (this.#compileDeaths.get(key) ?? 0) + 1;
          if (this.#compileDeaths.size >= KEPT_COSTLY_RULE_SETS) this.#compileDeaths.clear();
          this.#compileDeaths.set(key, count);
          if (count >= budgets.deathsPerRecord) {
            this.#markCostly(
              key,
              `the validation thread died ${count} times compiling rule set ${key} (${error.reason.slice(0, 300)}); save a smaller version, then replay this record`,
            );
            skipCostly();
          }
        } else if (error instanceof BudgetExceededError) {
          const key = input.ruleSets[error.index] as string;
          skipped.set(error.index, {
            index: error.index,
            code: 'validation_timeout',
            reason: `validating this record against rule set ${key} took more than ${budgets.recordMs} ms, over the budget per record; simplify the rule set or split the record, then replay it`,
          });
        } else if (error instanceof ThreadDiedError && error.index >= 0 && error.phase !== PHASE.idle) {
          const count = (deaths.get(error.index) ?? 0) + 1;
          deaths.set(error.index, count);
          if (count >= budgets.deathsPerRecord) {
            const key = input.ruleSets[error.index] as string;
            skipped.set(error.index, {
              index: error.index,
              code: 'validation_crashed',
              reason: `the validation thread died ${count} times on this record with rule set ${key} (${error.reason.slice(0, 300)}); simplify the rule set or split the record, then replay it`,
            });
          }
        } else if (error instanceof ThreadDiedError && ++deathsOffRecord < 3) {
          // Died between records (rare: memory filled by earlier ones): the batch is tried again.
        } else throw error;
      }
    }
  }

  #markCostly(key: string, reason: string): void {
    if (this.#costly.size >= KEPT_COSTLY_RULE_SETS) this.#costly.delete(this.#costly.keys().next().value as string);
    this.#costly.set(key, reason);
    this.#compileDeaths.delete(key);
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
