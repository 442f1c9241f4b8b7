import { Worker } from 'node:worker_threads';
import { threadModule } from '../thread-module.js';

/**
 * Moves a writer's WAL checkpoints to a thread of their own: copying the WAL into the database
 * and syncing it otherwise happens inside a commit every 1,000 pages, and the writer (the
 * worker's main thread) waits for the disk. The thread runs a PASSIVE checkpoint (it never
 * blocks readers or writers) every `intervalMs`; the writer keeps a far higher automatic
 * threshold as a safety net, should the thread fall behind.
 */
export class BackgroundCheckpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;

  #closing = false;

  /** `onFailure` runs if the thread fails or ends unasked: the writer should checkpoint itself again. */
  constructor(file: string, intervalMs: number, onFailure: (error: Error) => void) {
    this.#worker = new Worker(threadModule(import.meta.url, 'sqlite-checkpoint-thread.js', 'checkpoint thread'), {
      workerData: { file, intervalMs },
      name: 'lagscale-sqlite-checkpoint',
    });
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.on('error', (error) => onFailure(error));
    this.#worker.once('exit', (code) => {
      if (!this.#closing) onFailure(new Error(`the checkpoint thread ended (code ${code})`));
    });
    this.#worker.unref();
  }

  /** Stops after the checkpoint in progress, if any, and closes the thread's connection. */
  async close(): Promise<void> {
    // Held until it exits: unreferenced, a process with nothing else to do would end first.
    this.#closing = true;
    this.#worker.ref();
    this.#worker.postMessage('close');
    await this.#exited;
  }
}
