/**
 * Which queue a request waits in: `scale` (PATCH /scale and the reads a decision needs) always
 * goes before `status` (status writes and Events).
 */
export type RequestLane = 'scale' | 'status';

export const REQUEST_LANES: readonly RequestLane[] = ['scale', 'status'];

/** A clock the limiter waits on; tests pass a fake one. */
export interface LimiterClock {
  now(): number;
  /** Calls `run` after `ms`; the returned function cancels it. */
  schedule(run: () => void, ms: number): () => void;
}

export interface RequestLimiterOptions {
  /** Requests per second, sustained. Default 50; 0 lets every request through at once (still counted). */
  readonly qps?: number;
  /** Requests that may go at once after a quiet spell. Default 100. */
  readonly burst?: number;
  readonly clock?: LimiterClock;
}

export interface LaneCounters {
  /** Requests let through. */
  requests: number;
  /** Seconds spent queued, summed over those requests. */
  queueWaitSeconds: number;
  /** Requests waiting now. */
  queued: number;
}

const realClock: LimiterClock = {
  now: () => Date.now(),
  schedule: (run, ms) => {
    const timer = setTimeout(run, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

interface Waiting {
  readonly lane: RequestLane;
  readonly since: number;
  readonly go: () => void;
}

/**
 * A token bucket in front of the controller's API requests, as client-go's QPS and burst, with two
 * lanes: a free token always goes to the oldest waiting scale request first, so a burst of status
 * writes delays a scale write by at most the one token being waited for, never by the whole queue.
 */
export class RequestLimiter {
  readonly #qps: number;
  readonly #burst: number;
  readonly #clock: LimiterClock;
  #tokens: number;
  #refilledAt: number;
  readonly #queues: Record<RequestLane, Waiting[]> = { scale: [], status: [] };
  #cancelTimer: (() => void) | null = null;
  readonly counters: Record<RequestLane, LaneCounters> = {
    scale: { requests: 0, queueWaitSeconds: 0, queued: 0 },
    status: { requests: 0, queueWaitSeconds: 0, queued: 0 },
  };

  constructor(options: RequestLimiterOptions = {}) {
    this.#qps = options.qps ?? 50;
    this.#burst = Math.max(1, options.burst ?? 100);
    if (!(this.#qps >= 0) || !Number.isFinite(this.#qps)) throw new RangeError(`qps must be a number >= 0, got ${options.qps}`);
    this.#clock = options.clock ?? realClock;
    this.#tokens = this.#burst;
    this.#refilledAt = this.#clock.now();
  }

  /** Runs `request` once the lane's turn and a token come. */
  async run<T>(lane: RequestLane, request: () => Promise<T>): Promise<T> {
    await this.acquire(lane);
    return request();
  }

  /** Resolves when the request may go. */
  acquire(lane: RequestLane): Promise<void> {
    if (this.#qps === 0) {
      this.counters[lane].requests++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#queues[lane].push({ lane, since: this.#clock.now(), go: resolve });
      this.counters[lane].queued++;
      this.#dispatch();
    });
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#qps);
    this.#refilledAt = now;
  }

  #dispatch(): void {
    this.#refill();
    for (;;) {
      const next = this.#queues.scale[0] ?? this.#queues.status[0];
      if (next === undefined) return;
      // Refills add fractions of a token: allow for their rounding.
      if (this.#tokens < 1 - 1e-9) break;
      this.#tokens--;
      this.#queues[next.lane].shift();
      const counters = this.counters[next.lane];
      counters.queued--;
      counters.requests++;
      counters.queueWaitSeconds += (this.#clock.now() - next.since) / 1000;
      next.go();
    }
    if (this.#cancelTimer !== null) return;
    const wait = Math.max(1, Math.ceil(((1 - this.#tokens) / this.#qps) * 1000 - 1e-6));
    this.#cancelTimer = this.#clock.schedule(() => {
      this.#cancelTimer = null;
      this.#dispatch();
    }, wait);
  }
}
