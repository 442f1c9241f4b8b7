/**
 * A bounded table of (log-end offset, time seen) points for one partition. It answers "when was
 * offset X the log end?", which turns an offset lag into a time lag without reading records.
 *
 * The table keeps at most `capacity` points. When full, every other point of the older half is
 * dropped, so recent history stays dense and old history stays covered (log-like spacing).
 */
export class OffsetTimeTable {
  readonly #capacity: number;
  #offsets: number[] = [];
  #times: number[] = [];

  constructor(capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 4) {
      throw new RangeError(`OffsetTimeTable capacity must be an integer >= 4, got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#offsets.length;
  }

  /** Records that the log end was `offset` at `time` (ms). */
  add(offset: number, time: number): void {
    const last = this.#offsets.length - 1;
    if (last >= 0) {
      const lastOffset = this.#offsets[last] as number;
      const lastTime = this.#times[last] as number;
      if (offset < lastOffset) {
        // The log went backwards: the topic was deleted and re-created. Old points lie.
        this.#offsets = [];
        this.#times = [];
      } else if (offset === lastOffset || time <= lastTime) {
        // Same log end: keep the first time it was seen, which is when it became the log end.
        return;
      }
    }
    this.#offsets.push(offset);
    this.#times.push(time);
    if (this.#offsets.length > this.#capacity) this.#thin();
  }

  /**
   * The time (ms) at which the log end was `offset`, interpolated between the points around it,
   * extrapolated at the average rate of the whole table below its first point. Null when the
   * table cannot say (fewer than two points and `offset` is below the only one).
   */
  timeAt(offset: number): number | null {
    const offsets = this.#offsets;
    const times = this.#times;
    const n = offsets.length;
    if (n === 0) return null;
    const lastOffset = offsets[n - 1] as number;
    if (offset >= lastOffset) return times[n - 1] as number;
    const firstOffset = offsets[0] as number;
    if (offset < firstOffset) {
      if (n < 2) return null;
      const firstTime = times[0] as number;
      const rate = (lastOffset - firstOffset) / ((times[n - 1] as number) - firstTime);
      if (!(rate > 0)) return null;
      return firstTime - (firstOffset - offset) / rate;
    }
    // Largest i with offsets[i] <= offset; offsets are strictly increasing.
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((offsets[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    const o0 = offsets[lo] as number;
    const t0 = times[lo] as number;
    const o1 = offsets[lo + 1] as number;
    const t1 = times[lo + 1] as number;
    return t0 + ((offset - o0) / (o1 - o0)) * (t1 - t0);
  }

  #thin(): void {
    const half = this.#offsets.length >> 1;
    const offsets: number[] = [];
    const times: number[] = [];
    for (let i = 0; i < this.#offsets.length; i++) {
      // Keep the oldest point (it anchors extrapolation), every other one of the older half,
      // and all of the newer half.
      if (i === 0 || i >= half || i % 2 === 0) {
        offsets.push(this.#offsets[i] as number);
        times.push(this.#times[i] as number);
      }
    }
    this.#offsets = offsets;
    this.#times = times;
  }
}
