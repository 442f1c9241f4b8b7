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

export interface StatusInput {
  /** Oldest first; the last point is the current observation. */
  readonly window: readonly WindowPoint[];
  /** How many points make a full window: STOP/STALL/WARN need one. */
  readonly windowSize: number;
  readonly hasOwner: boolean;
  /** Why the offsets are unknown, when they are. */
  readonly error?: string | undefined;
}

export interface StatusResult {
  readonly status: Status;
  readonly reason: string;
}

export function evaluatePartitionStatus(input: StatusInput): StatusResult {
  const { window, windowSize, hasOwner } = input;
  const current = window[window.length - 1];
  if (current === undefined || current.lag === null) {
    return { status: 'ERR', reason: input.error ?? 'offsets unavailable' };
  }
  if (current.committed === null) {
    return { status: 'OK', reason: 'no committed offset' };
  }
  for (let i = 1; i < window.length; i++) {
    const before = (window[i - 1] as WindowPoint).committed;
    const after = (window[i] as WindowPoint).committed;
    if (before !== null && after !== null && after < before) {
      return { status: 'REWIND', reason: `committed offset moved back from ${before} to ${after}` };
    }
  }
  if (window.some((p) => p.lag === 0)) {
    return { status: 'OK', reason: current.lag === 0 ? 'caught up' : 'lag was zero within the window' };
  }
  const full = window.length >= windowSize;
  if (!full) return { status: 'OK', reason: `warming up (${window.length}/${windowSize} observations)` };
  const first = window[0] as WindowPoint;
  if (first.committed === current.committed) {
    const seconds = Math.round((current.time - first.time) / 1000);
    return hasOwner
      ? { status: 'STALL', reason: `committed offset stuck at ${current.committed} for ${seconds}s with lag ${current.lag} while a member owns the partition` }
      : { status: 'STOP', reason: `no commits for ${seconds}s with lag ${current.lag} and no member owns the partition` };
  }
  let rising = true;
  for (let i = 1; i < window.length; i++) {
    const before = (window[i - 1] as WindowPoint).lag;
    const after = (window[i] as WindowPoint).lag;
    if (before === null || after === null || after < before) {
      rising = false;
      break;
    }
  }
  if (rising && (current.lag as number) > (first.lag ?? 0)) {
    return { status: 'WARN', reason: `lag rose from ${first.lag} to ${current.lag} over the window while the consumer commits` };
  }
  return { status: 'OK', reason: 'consumer is keeping up' };
}
