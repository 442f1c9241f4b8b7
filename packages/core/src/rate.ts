/**
 * A rate (per second) of a counter that only grows, smoothed by an exponentially weighted moving
 * average whose weight depends on the time between samples, so irregular cycles weigh fairly.
 * The counter going backwards (topic re-created, offsets reset) restarts the estimate.
 */
export class SmoothedRate {
  readonly #tauMs: number;
  #lastValue: number | null = null;
  #lastTime = 0;
  #rate: number | null = null;

  /** @param halfLifeSeconds time after which an old sample has half its weight. */
  constructor(halfLifeSeconds = 10) {
    if (!(halfLifeSeconds > 0)) {
      throw new RangeError(`rate half-life must be > 0 seconds, got ${halfLifeSeconds}`);
    }
    this.#tauMs = (halfLifeSeconds * 1000) / Math.LN2;
  }

  /** Per-second rate, or null until two samples were seen. */
  get value(): number | null {
    return this.#rate;
  }

  update(value: number, time: number): number | null {
    if (this.#lastValue === null || value < this.#lastValue) {
      this.#lastValue = value;
      this.#lastTime = time;
      this.#rate = null;
      return null;
    }
    const dtMs = time - this.#lastTime;
    if (dtMs <= 0) return this.#rate;
    const instant = ((value - this.#lastValue) * 1000) / dtMs;
    const alpha = 1 - Math.exp(-dtMs / this.#tauMs);
    this.#rate = this.#rate === null ? instant : this.#rate + alpha * (instant - this.#rate);
    this.#lastValue = value;
    this.#lastTime = time;
    return this.#rate;
  }
}
