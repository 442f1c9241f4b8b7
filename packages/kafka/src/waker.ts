/**
 * A consumer loop's one wait: it ends after a time, when the signal stops the loop, or when
 * whoever has news for the loop (records arrived, a batch settled, an error) calls `wake`.
 */
export class Waker {
  readonly #signal: AbortSignal;
  #wake: (() => void) | null = null;

  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  /** Ends the wait under way, if any. */
  wake(): void {
    this.#wake?.();
  }

  /** Resolves after `ms`, on the signal, or on `wake`, whichever comes first. */
  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#signal.removeEventListener('abort', done);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }
}
