/**
 * A bounded table of log-end offsets and when they were seen, for one partition. It answers "when
 * was the record at offset X written?", which turns an offset lag into a time lag without reading
 * records.
 *
 * Each point is a log end with the first and the last time it was seen: a log end that stays flat
 * (the producer is idle) is one point whose last-seen time moves on. The record at offset x was
 * written after the last moment the log end was still <= x (the last-seen time of the newest
 * point at or below x) and no later than the first moment it was > x (the first-seen time of the
 * next point). `timeAt` interpolates between those two bounds by offset. The error is at most the
 * gap between the two observations, one collection interval in steady polling; at x itself (the
 * first record after a flat run) it reports the lower bound, so an age is over- rather than
 * under-stated by at most that gap. Keeping only the first-seen time (as before) dated the first
 * record after an idle hour an hour early.
 *
 * The table keeps at most `capacity` points. When full, every other point of the older half is
 * dropped, so recent history stays dense and old history stays covered (log-like spacing).
 */
export class OffsetTimeTable {
  readonly #capacity: number;
  #offsets: number[] = [];
  /** When each log end was first seen. */
  #times: number[] = [];
  /** When each log end was last seen (the end of a flat run). */
  #lastSeen: number[] = [];

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
        this.#lastSeen = [];
      } else if (time <= lastTime) {
        return;
      } else if (offset === lastOffset) {
        // The same log end again: the first time it was seen stays, the run of it gets longer.
        this.#lastSeen[last] = Math.max(this.#lastSeen[last] as number, time);
        return;
      }
    }
    this.#offsets.push(offset);
    this.#times.push(time);
    this.#lastSeen.push(time);
    if (this.#offsets.length > this.#capacity) this.#thin();
  }

  /**
   * The time (ms) the record at `offset` was written, interpolated between the last time the log
   * end was still at or below it and the first time it was past it (see the class comment). At or
   * past the newest log end: the last time that log end was seen. Below the first point:
   * extrapolated at the average rate of the whole table, but no further back than the table's own
   * span before its first point (a rate measured over minutes says little about hours earlier).
   * Null when the table cannot say (one point and `offset` below it, or a log that never moved).
   */
  timeAt(offset: number): number | null {
    const offsets = this.#offsets;
    const times = this.#times;
    const n = offsets.length;
    if (n === 0) return null;
    const lastOffset = offsets[n - 1] as number;
    if (offset >= lastOffset) return this.#lastSeen[n - 1] as number;
    const firstOffset = offsets[0] as number;
    if (offset < firstOffset) {
      if (n < 2) return null;
      const firstTime = times[0] as number;
      const span = (times[n - 1] as number) - firstTime;
      const rate = (lastOffset - firstOffset) / span;
      if (!(rate > 0)) return null;
      return Math.max(firstTime - (firstOffset - offset) / rate, firstTime - span);
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
    const after = this.#lastSeen[lo] as number;
    const o1 = offsets[lo + 1] as number;
    const before = times[lo + 1] as number;
    return after + ((offset - o0) / (o1 - o0)) * (before - after);
  }

  #thin(): void {
    const half = this.#offsets.length >> 1;
    const offsets: number[] = [];
    const times: number[] = [];
    const lastSeen: number[] = [];
    for (let i = 0; i < this.#offsets.length; i++) {
      // Keep the oldest point (it anchors extrapolation), every other one of the older half,
      // and all of the newer half. A dropped point's flat run is lost with it: the interpolation
      // between its neighbours then spreads it over their offsets.
      if (i === 0 || i >= half || i % 2 === 0) {
        offsets.push(this.#offsets[i] as number);
        times.push(this.#times[i] as number);
        lastSeen.push(this.#lastSeen[i] as number);
      }
    }
    this.#offsets = offsets;
    this.#times = times;
    this.#lastSeen = lastSeen;
  }
}
