import { Worker } from 'node:worker_threads';
import { threadModule } from '../thread-module.js';
import type { ValidationBudgets } from './budgets.js';
import type { FromThread, ToThread } from './messages.js';
import { PHASE, type Phase, Progress } from './progress.js';

/** A task's thread overran its budget on one record or one compile and was stopped. */
export class BudgetExceededError extends Error {
  override readonly name = 'BudgetExceededError';
  constructor(
    readonly phase: Exclude<Phase, typeof PHASE.idle>,
    readonly index: number,
    readonly elapsedMs: number,
    readonly budgetMs: number,
  ) {
    super(`${phase === PHASE.compile ? 'compiling a rule set' : `record ${index}`} took more than ${budgetMs} ms (stopped after ${Math.round(elapsedMs)} ms)`);
  }
}

/** A task's thread died (out of memory, say); `index` is the record it was on, -1 when none. */
export class ThreadDiedError extends Error {
  override readonly name = 'ThreadDiedError';
  constructor(
    readonly phase: Phase,
    readonly index: number,
    readonly reason: string,
  ) {
    super(`the validation thread died${index >= 0 ? ` on record ${index}` : ''}: ${reason}`);
  }
}

/** What a pool reports about its threads, for logs, metrics and /readyz. */
export interface SandboxIncident {
  readonly kind: 'timeout' | 'crash';
  readonly thread: string;
  readonly detail: string;
}

interface Task {
  readonly message: ToThread;
  readonly transfer: readonly ArrayBuffer[];
  readonly resolve: (result: FromThread) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  readonly name: string;
  worker: Worker;
  progress: Progress;
  task: Task | null;
  /** Set when the pool stopped the thread on purpose (a budget), before its exit. */
  stopped: BudgetExceededError | null;
  lastError: string | null;
  watchdog: NodeJS.Timeout | null;
}

const WATCH_EVERY_MS = 50;

/**
 * Threads that run validation tasks (compile a rule set, validate a batch, a dry run) where they
 * can be stopped: each task runs on one thread, which tells through shared memory which record
 * or compile it is on; a thread past its budget is terminated and replaced, and so is one that
 * dies. The task then fails with BudgetExceededError or ThreadDiedError naming the record, and the
 * caller decides (dead-letter that record and run the rest again). Tasks wait in a bounded queue.
 */
export class SandboxPool {
  readonly #slots: Slot[];
  readonly #queue: Task[] = [];
  readonly #budgets: ValidationBudgets;
  readonly #maxQueued: number;
  readonly #onIncident: (incident: SandboxIncident) => void;
  readonly #label: string;
  #closed = false;
  #started = 0;

  constructor(options: {
    threads: number;
    budgets: ValidationBudgets;
    /** Tasks that may wait for a thread; more are refused with PoolBusyError. Default unbounded. */
    maxQueued?: number;
    label: string;
    onIncident?: (incident: SandboxIncident) => void;
  }) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new RangeError(`validation threads must be an integer ≥ 1, got ${options.threads}`);
    this.#budgets = options.budgets;
    this.#maxQueued = options.maxQueued ?? Number.POSITIVE_INFINITY;
    this.#onIncident = options.onIncident ?? (() => {});
    this.#label = options.label;
    this.#slots = Array.from({ length: options.threads }, () => this.#newSlot());
  }

  get budgets(): ValidationBudgets {
    return this.#budgets;
  }

  /** Runs a task on the next free thread. Rejects with BudgetExceededError, ThreadDiedError or PoolBusyError. */
  run(message: ToThread, transfer: readonly ArrayBuffer[] = []): Promise<FromThread> {
    if (this.#closed) return Promise.reject(new Error(`the ${this.#label} threads are closed`));
    if (this.#queue.length >= this.#maxQueued) return Promise.reject(new PoolBusyError(this.#maxQueued));
    return new Promise<FromThread>((resolve, reject) => {
      this.#queue.push({ message, transfer, resolve, reject });
      this.#dispatch();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const task of this.#queue.splice(0)) task.reject(new Error(`the ${this.#label} threads were closed`));
    await Promise.all(
      this.#slots.map(async (slot) => {
        this.#stopWatching(slot);
        const task = slot.task;
        slot.task = null;
        await slot.worker.terminate();
        task?.reject(new Error(`the ${this.#label} threads were closed`));
      }),
    );
  }

  #newSlot(): Slot {
    const progress = new Progress();
    const name = `lagscale-${this.#label}-${++this.#started}`;
    const worker = new Worker(threadModule(import.meta.url, 'thread.js', 'validation thread'), {
      name,
      workerData: { progress: progress.buffer },
      resourceLimits: { maxOldGenerationSizeMb: this.#budgets.threadHeapMb },
    });
    const slot: Slot = { name, worker, progress, task: null, stopped: null, lastError: null, watchdog: null };
    worker.on('message', (message: FromThread) => {
      const task = slot.task;
      if (task === null || task.message.id !== message.id) return;
      this.#stopWatching(slot);
      slot.task = null;
      task.resolve(message);
      this.#dispatch();
    });
    worker.on('error', (error) => {
      slot.lastError = error.message;
    });
    worker.on('exit', (code) => this.#exited(slot, code));
    // Idle threads do not keep the process alive; a task in flight is awaited by its caller anyway.
    worker.unref();
    return slot;
  }

  #exited(slot: Slot, code: number): void {
    if (this.#closed) return;
    this.#stopWatching(slot);
    const task = slot.task;
    slot.task = null;
    const at = slot.progress.read();
    const stopped = slot.stopped;
    const index = this.#slots.indexOf(slot);
    if (index >= 0) this.#slots[index] = this.#newSlot();
    if (stopped !== null) {
      this.#onIncident({ kind: 'timeout', thread: slot.name, detail: stopped.message });
      task?.reject(stopped);
    } else {
      const reason = slot.lastError ?? `exited with code ${code}`;
      this.#onIncident({ kind: 'crash', thread: slot.name, detail: reason });
      task?.reject(new ThreadDiedError(at.phase, at.phase === PHASE.idle ? -1 : at.index, reason));
    }
    this.#dispatch();
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) return;
      if (slot.task !== null || slot.stopped !== null) continue;
      const task = this.#queue.shift() as Task;
      slot.task = task;
      slot.worker.postMessage(task.message, task.transfer as ArrayBuffer[]);
      this.#watch(slot);
    }
  }

  #watch(slot: Slot): void {
    slot.watchdog = setInterval(() => {
      const at = slot.progress.read();
      if (at.phase === PHASE.idle || slot.stopped !== null) return;
      const budget = at.phase === PHASE.compile ? this.#budgets.compileMs : this.#budgets.recordMs;
      const elapsed = performance.timeOrigin + performance.now() - at.since;
      if (elapsed <= budget) return;
      slot.stopped = new BudgetExceededError(at.phase, at.index, elapsed, budget);
      void slot.worker.terminate();
    }, WATCH_EVERY_MS);
    slot.watchdog.unref();
  }

  #stopWatching(slot: Slot): void {
    if (slot.watchdog !== null) clearInterval(slot.watchdog);
    slot.watchdog = null;
  }
}

/** More tasks wait than the pool takes: the caller answers "busy" (the API: 503 with Retry-After). */
export class PoolBusyError extends Error {
  override readonly name = 'PoolBusyError';
  constructor(readonly maxQueued: number) {
    super(`${maxQueued} validation tasks are already waiting; try again shortly`);
  }
}
