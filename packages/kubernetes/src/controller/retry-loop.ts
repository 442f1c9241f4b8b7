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

/** The timing of a Lease holder, client-go's defaults (seconds). */
export interface LeaseTimes {
  /** A holder that stops renewing loses the lease after this long. Default 15 s. */
  readonly leaseDurationSeconds: number;
  /** A holder stops writing when it could not renew for this long (shorter than the lease). Default 10 s. */
  readonly renewDeadlineSeconds: number;
  /** Between attempts to acquire or renew. Default 2 s. */
  readonly retryPeriodSeconds: number;
}

/** The times given, with the defaults for those left out; refuses a renew deadline not shorter than the lease. */
export function leaseTimes(given: Partial<LeaseTimes>): LeaseTimes {
  const times = {
    leaseDurationSeconds: given.leaseDurationSeconds ?? 15,
    renewDeadlineSeconds: given.renewDeadlineSeconds ?? 10,
    retryPeriodSeconds: given.retryPeriodSeconds ?? 2,
  };
  if (times.renewDeadlineSeconds >= times.leaseDurationSeconds) throw new RangeError('renewDeadlineSeconds must be shorter than leaseDurationSeconds');
  return times;
}
