/**
 * The external scaler's per-ScaledObject state, bounded: at most `maxEntries` entries (the least
 * recently used goes first) and none older than `idleMs` since its last use. Whoever can reach the
 * scaler can make it hold an entry, so the bound is what keeps its memory flat; KEDA itself asks
 * for each ScaledObject every pollingInterval (and the HPA every 15 s), which keeps real entries
 * fresh. Pure: the clock is passed in.
 */

export type EvictionReason = 'size' | 'idle';

export interface TriggerStateStoreOptions {
  readonly maxEntries: number;
  readonly idleMs: number;
  readonly now?: () => number;
}

interface Entry<T> {
  readonly value: T;
  usedAt: number;
}

export class TriggerStateStore<T> {
  // A Map iterates in insertion order; a use re-inserts, so the first entry is the least recently used.
  readonly #entries = new Map<string, Entry<T>>();
  readonly #maxEntries: number;
  readonly #idleMs: number;
  readonly #now: () => number;
  /** Entries dropped so far, by why. */
  readonly evictions = new Map<EvictionReason, number>([
    ['size', 0],
    ['idle', 0],
  ]);

  constructor(options: TriggerStateStoreOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) throw new RangeError(`maxEntries: must be an integer >= 1, got ${options.maxEntries}`);
    if (!(options.idleMs > 0)) throw new RangeError(`idleMs: must be > 0, got ${options.idleMs}`);
    this.#maxEntries = options.maxEntries;
    this.#idleMs = options.idleMs;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  get maxEntries(): number {
    return this.#maxEntries;
  }

  /** The entry under `key` (made by `create` if there is none), marked as just used. */
  acquire(key: string, create: () => T): T {
    const now = this.#now();
    this.sweep(now);
    const found = this.#entries.get(key);
    if (found !== undefined) {
      this.#entries.delete(key);
      found.usedAt = now;
      this.#entries.set(key, found);
      return found.value;
    }
    while (this.#entries.size >= this.#maxEntries) this.#evictOldest('size');
    const entry: Entry<T> = { value: create(), usedAt: now };
    this.#entries.set(key, entry);
    return entry.value;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Drops the entries unused for longer than idleMs; cheap (stops at the first fresh one). */
  sweep(now = this.#now()): void {
    for (const [key, entry] of this.#entries) {
      if (now - entry.usedAt <= this.#idleMs) break;
      this.#entries.delete(key);
      this.#count('idle');
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  #evictOldest(reason: EvictionReason): void {
    const oldest = this.#entries.keys().next();
    if (oldest.done) return;
    this.#entries.delete(oldest.value);
    this.#count(reason);
  }

  #count(reason: EvictionReason): void {
    this.evictions.set(reason, (this.evictions.get(reason) ?? 0) + 1);
  }
}
