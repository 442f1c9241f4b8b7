import { Worker } from 'node:worker_threads';
import { type CompiledRuleSet, compileRuleSet } from '../rules/compile.js';
import type { RuleSetDocument } from '../rules/rule-set.js';
import { RuleSetUnusableError } from '../rules/validate.js';
import { threadModule } from '../thread-module.js';
import { transferables, type ValidationInput, type ValidationOutput, validateBatch } from './batch-validation.js';

/** Runs `validateBatch` for the worker: in threads of its own, or inline on the calling thread. */
export interface BatchValidator {
  /** `ruleSets` holds the document of every rule set key the input names. */
  validate(input: ValidationInput, ruleSets: ReadonlyMap<string, RuleSetDocument>): Promise<ValidationOutput>;
  close(): Promise<void>;
}

export type ToThread =
  | { readonly type: 'ruleSet'; readonly key: string; readonly document: RuleSetDocument }
  | { readonly type: 'batch'; readonly id: number; readonly input: ValidationInput };

export type FromThread = { readonly id: number; readonly output: ValidationOutput } | { readonly id: number; readonly error: string };

/**
 * Rule sets compiled once per key, for the life of the worker: the main thread sends a thread
 * each key once, so none may be forgotten (a compiled rule set is small). A document that does
 * not compile is remembered as its error: its records go to the DLQ, the thread lives on.
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

export class InlineValidator implements BatchValidator {
  readonly #ruleSets = new CompiledRuleSets();

  async validate(input: ValidationInput, ruleSets: ReadonlyMap<string, RuleSetDocument>): Promise<ValidationOutput> {
    for (const [key, document] of ruleSets) this.#ruleSets.add(key, document);
    return validateBatch(input, (key) => this.#ruleSets.get(key));
  }

  async close(): Promise<void> {}
}

interface Thread {
  readonly worker: Worker;
  /** Rule set keys the thread has compiled. */
  readonly known: Set<string>;
}

/**
 * Validation threads: batches go to them in turn, so that decoding and rule runs of one batch
 * overlap the consumer, the store and the producer of others on the worker's main thread. A
 * thread that fails fails every batch it holds, and the worker with them.
 */
export class ValidationThreads implements BatchValidator {
  readonly #threads: Thread[];
  readonly #pending = new Map<number, { resolve: (output: ValidationOutput) => void; reject: (error: Error) => void; thread: Thread }>();
  #nextId = 1;
  #turn = 0;
  #closing = false;
  /** Set when a thread failed: every later batch is refused with it (the worker stops). */
  #failure: Error | null = null;

  constructor(count: number) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`validation threads must be an integer ≥ 1, got ${count}`);
    this.#threads = Array.from({ length: count }, (_, index) => this.#start(index));
  }

  #start(index: number): Thread {
    const worker = new Worker(threadModule(import.meta.url, 'validation-thread.js', 'validation thread'), { name: `lagscale-validation-${index + 1}` });
    const thread: Thread = { worker, known: new Set() };
    worker.on('message', (message: FromThread) => {
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      if ('error' in message) pending.reject(new Error(`validation thread ${index + 1}: ${message.error}`));
      else pending.resolve(message.output);
    });
    const fail = (error: Error): void => {
      this.#failure ??= error;
      for (const [id, pending] of this.#pending) {
        if (pending.thread !== thread) continue;
        this.#pending.delete(id);
        pending.reject(error);
      }
    };
    worker.on('error', (error) => fail(new Error(`validation thread ${index + 1} failed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (!this.#closing) fail(new Error(`validation thread ${index + 1} exited (code ${code})`));
    });
    // Idle threads do not keep the process alive; a batch in flight is awaited by the worker anyway.
    worker.unref();
    return thread;
  }

  validate(input: ValidationInput, ruleSets: ReadonlyMap<string, RuleSetDocument>): Promise<ValidationOutput> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.#closing) return Promise.reject(new Error('the validation threads are closed'));
    const thread = this.#threads[this.#turn++ % this.#threads.length] as Thread;
    for (const [key, document] of ruleSets) {
      if (thread.known.has(key)) continue;
      thread.worker.postMessage({ type: 'ruleSet', key, document } satisfies ToThread);
      thread.known.add(key);
    }
    const id = this.#nextId++;
    return new Promise<ValidationOutput>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, thread });
      thread.worker.postMessage({ type: 'batch', id, input } satisfies ToThread, transferables(input));
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#threads.map((thread) => thread.worker.terminate()));
    for (const pending of this.#pending.values()) pending.reject(new Error('the validation threads were closed'));
    this.#pending.clear();
  }
}
