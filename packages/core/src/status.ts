/**
 * Consumer status in Burrow's terms, from a sliding window of observations of one
 * (group, partition). The rules are plain functions of the window so they read like a table.
 *
 * Burrow tells STOP from STALL by the commit timestamps it reads from __consumer_offsets.
 * Offsets read with OffsetFetch carry no timestamp, so here the difference comes from the group:
 * a partition whose committed offset does not move while lag > 0 is STALL when a live member
 * owns it (the consumer is there but makes no progress) and STOP when nobody owns it (the
 * consumer is gone and commits stopped).
 */

export const STATUSES = ['OK', 'WARN', 'ERR', 'STOP', 'STALL', 'REWIND'] as const;
export type Status = (typeof STATUSES)[number];

/** 0 = fine, 1 = warning, 2 = error. */
export function statusSeverity(status: Status): 0 | 1 | 2 {
  if (status === 'OK') return 0;
  if (status === 'WARN') return 1;
  return 2;
}

/** Order among equally severe statuses when a group picks its worst partition. */
const TIE_ORDER: Record<Status, number> = { OK: 0, WARN: 1, ERR: 2, STOP: 3, STALL: 4, REWIND: 5 };

export function worstStatus(statuses: Iterable<Status>): Status {
  let worst: Status = 'OK';
  for (const status of statuses) {
    const a = statusSeverity(status);
    const b = statusSeverity(worst);
    if (a > b || (a === b && TIE_ORDER[status] > TIE_ORDER[worst])) worst = status;
  }
  return worst;
}

export interface WindowPoint {
  readonly time: number;
  /** Null when the group has no committed offset for the partition. */
  readonly committed: number | null;
  /** Null when the lag is unknown (log end unavailable). */
  readonly lag: number | null;
}

/**
 * The last N observations of one (group, partition), oldest first, kept in a ring so that watching
 * thousands of partitions does not allocate per point. One plain array of unboxed doubles (time,
 * committed, lag per slot; NaN stands for null), not typed arrays: a small typed array costs its
 * object, an ArrayBuffer and a native backing store, about 400 bytes before its data, and an
 * exporter holds one window per partition-group pair.
 */
export class StatusWindow {
  readonly #values: number[];
  readonly #capacity: number;
  #start = 0;
  #length = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.#values = new Array<number>(capacity * 3).fill(Number.NaN);
  }

  static from(points: readonly WindowPoint[], capacity = points.length): StatusWindow {
    const window = new StatusWindow(Math.max(1, capacity));
    for (const p of points) window.push(p.time, p.committed, p.lag);
    return window;
  }

  get length(): number {
    return this.#length;
  }

  push(time: number, committed: number | null, lag: number | null): void {
    const capacity = this.#capacity;
    const at = ((this.#start + this.#length) % capacity) * 3;
    this.#values[at] = time;
    this.#values[at + 1] = committed ?? Number.NaN;
    this.#values[at + 2] = lag ?? Number.NaN;
    if (this.#length < capacity) this.#length++;
    else this.#start = (this.#start + 1) % capacity;
  }

  #slot(i: number): number {
    return ((this.#start + i) % this.#capacity) * 3;
  }

  time(i: number): number {
    return this.#values[this.#slot(i)] as number;
  }

  committed(i: number): number | null {
    const v = this.#values[this.#slot(i) + 1] as number;
    return Number.isNaN(v) ? null : v;
  }

  lag(i: number): number | null {
    const v = this.#values[this.#slot(i) + 2] as number;
    return Number.isNaN(v) ? null : v;
  }
}

export interface StatusInput {
  /** Oldest first; the last point is the current observation. */
  readonly window: StatusWindow;
  /** How many points make a full window: STOP/STALL/WARN need one. */
  readonly windowSize: number;
  readonly hasOwner: boolean;
  /** Why the offsets are unknown, when they are. */
  readonly error?: string | undefined;
  /**
   * Lag at or below this counts as caught up (Burrow's `allowed-lag`): a consumer that always
   * trails by a batch is OK, not STALL or WARN. Default 0.
   */
  readonly allowedLag?: number;
  /**
   * How the group shows progress: `commits` of a committed offset (consumer groups, the default)
   * or `acknowledgements` advancing a share-partition's start offset (share groups).
   */
  readonly progress?: 'commits' | 'acknowledgements';
}

export interface StatusResult {
  readonly status: Status;
  readonly reason: string;
}

const CAUGHT_UP: StatusResult = { status: 'OK', reason: 'caught up' };
const KEEPING_UP: StatusResult = { status: 'OK', reason: 'consumer is keeping up' };
const ZERO_IN_WINDOW: StatusResult = { status: 'OK', reason: 'lag was zero within the window' };
const NOT_COMMITTED: StatusResult = { status: 'OK', reason: 'no committed offset' };

const WORDS = {
  commits: {
    offset: 'committed offset',
    none: 'no committed offset',
    progress: 'commits',
    owned: 'while a member owns the partition',
    unowned: 'no member owns the partition',
    acting: 'the consumer commits',
  },
  acknowledgements: {
    offset: 'start offset',
    none: 'share-partition not initialised',
    progress: 'acknowledgements',
    owned: 'while the group has members',
    unowned: 'the group has no members',
    acting: 'the consumers acknowledge',
  },
} as const;

export function evaluatePartitionStatus(input: StatusInput): StatusResult {
  const { window, windowSize, hasOwner } = input;
  const words = WORDS[input.progress ?? 'commits'];
  const n = window.length;
  const last = n - 1;
  const currentLag = n === 0 ? null : window.lag(last);
  if (currentLag === null) return { status: 'ERR', reason: input.error ?? 'offsets unavailable' };
  const currentCommitted = window.committed(last);
  if (currentCommitted === null) return input.progress === 'acknowledgements' ? { status: 'OK', reason: words.none } : NOT_COMMITTED;
  const allowed = input.allowedLag ?? 0;
  if (currentLag === 0) return CAUGHT_UP;
  if (currentLag <= allowed) return { status: 'OK', reason: `lag ${currentLag} is within the allowed lag ${allowed}` };
  for (let i = 1; i < n; i++) {
    const before = window.committed(i - 1);
    const after = window.committed(i);
    if (before !== null && after !== null && after < before) {
      return { status: 'REWIND', reason: `${words.offset} moved back from ${before} to ${after}` };
    }
  }
  for (let i = 0; i < n; i++) {
    const lag = window.lag(i);
    if (lag !== null && lag <= allowed)
      return allowed === 0 ? ZERO_IN_WINDOW : { status: 'OK', reason: `lag was within the allowed lag ${allowed} in the window` };
  }
  if (n < windowSize) return { status: 'OK', reason: `warming up (${n}/${windowSize} observations)` };
  if (window.committed(0) === currentCommitted) {
    const seconds = Math.round((window.time(last) - window.time(0)) / 1000);
    return hasOwner
      ? { status: 'STALL', reason: `${words.offset} stuck at ${currentCommitted} for ${seconds}s with lag ${currentLag} ${words.owned}` }
      : { status: 'STOP', reason: `no ${words.progress} for ${seconds}s with lag ${currentLag} and ${words.unowned}` };
  }
  const firstLag = window.lag(0);
  for (let i = 1; i < n; i++) {
    const before = window.lag(i - 1);
    const after = window.lag(i);
    if (before === null || after === null || after < before) return KEEPING_UP;
  }
  if (firstLag !== null && currentLag > firstLag) {
    return { status: 'WARN', reason: `lag rose from ${firstLag} to ${currentLag} over the window while ${words.acting}` };
  }
  return KEEPING_UP;
}

/**
 * A group's status and its reason: ERR with the group's error, else its worst partition's status
 * (the first such partition names the reason), `whenEmpty` without partitions, else all OK.
 */
export function groupStatus(
  partitions: readonly { readonly topic: string; readonly partition: number; readonly status: Status; readonly statusReason: string }[],
  error: string | undefined,
  whenEmpty: string,
): StatusResult {
  if (error !== undefined) return { status: 'ERR', reason: error };
  const worst = worstStatus(partitions.map((p) => p.status));
  const worstPartition = worst === 'OK' ? undefined : partitions.find((p) => p.status === worst);
  if (worstPartition !== undefined) return { status: worst, reason: `${worstPartition.topic}[${worstPartition.partition}]: ${worstPartition.statusReason}` };
  return { status: worst, reason: partitions.length === 0 ? whenEmpty : 'all partitions OK' };
}
