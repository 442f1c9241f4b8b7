/**
 * Runs `attempt` now and then again `periodMs` after each attempt ends (never two at once), until
 * stopped; `stop()` waits for an attempt under way. The shape of client-go's leader election loop.
 */
export class RetryLoop {
  readonly #attempt: () => Promise<void>;
  readonly #periodMs: number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> = Promise.resolve();
  #stopped = true;

  constructor(attempt: () => Promise<void>, periodMs: number) {
    this.#attempt = attempt;
    this.#periodMs = periodMs;
  }

  start(): void {
    this.#stopped = false;
    const loop = (): void => {
      this.#running = this.#attempt().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(loop, this.#periodMs);
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#running;
  }
}
