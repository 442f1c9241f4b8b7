/**
 * Counting a validation job exactly, for the resilience tests: every record number of a job is
 * looked up in the store's results and DLQ, and the topics' keys are counted, so that a lost or a
 * doubled record shows as a number, not as a vague mismatch.
 */
import type { ResultStore } from '@lagscale/validator';
import { Consumer } from '@platformatic/kafka';
import { endOffsets } from './helpers.js';

export interface JobAudit {
  /** Records of the job (1..total). */
  readonly records: number;
  /** Result rows of the job in the store. */
  readonly results: number;
  /** DLQ rows of the job in the store. */
  readonly dlq: number;
  /** Record numbers with neither a result nor a DLQ row (at most 20 listed). */
  readonly lost: number;
  readonly lostExamples: number[];
  /** Rows beyond one per record number (a record with two results, two DLQ rows, or both). */
  readonly duplicated: number;
  /** Well-formed records in the DLQ or malformed ones with a result: validation went wrong. */
  readonly misplaced: number;
}

/** Pages through the job's results and DLQ rows and checks each record number against the expectation. */
export async function auditJob(store: ResultStore, job: string, total: number, malformed: ReadonlySet<number>): Promise<JobAudit> {
  const seen = new Uint8Array(total + 1);
  let results = 0;
  let dlq = 0;
  let duplicated = 0;
  let misplaced = 0;
  let cursor: string | undefined;
  do {
    const page = await store.searchResults({ jobId: job, limit: 1000, facets: false, ...(cursor === undefined ? {} : { cursor }) });
    for (const item of page.items) {
      results++;
      if ((seen[item.recordNumber] ?? 0) > 0) duplicated++;
      seen[item.recordNumber] = (seen[item.recordNumber] ?? 0) + 1;
      if (malformed.has(item.recordNumber)) misplaced++;
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  cursor = undefined;
  do {
    const page = await store.listDlq({ jobId: job, limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    for (const item of page.items) {
      dlq++;
      const n = item.recordNumber ?? 0;
      if ((seen[n] ?? 0) > 0) duplicated++;
      seen[n] = (seen[n] ?? 0) + 1;
      if (!malformed.has(n)) misplaced++;
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  const lostExamples: number[] = [];
  let lost = 0;
  for (let n = 1; n <= total; n++) {
    if (seen[n] === 0) {
      lost++;
      if (lostExamples.length < 20) lostExamples.push(n);
    }
  }
  return { records: total, results, dlq, lost, lostExamples, duplicated, misplaced };
}

/** Every key of `topic` from the start to its current end that `keep` accepts, with how often each appears. */
export async function keysOf(brokers: readonly string[], topic: string, group: string, keep: (key: string) => boolean): Promise<Map<string, number>> {
  const ends = await endOffsets(brokers, topic);
  const open = new Set(ends.flatMap((end, partition) => (end > 0n ? [partition] : [])));
  const counts = new Map<string, number>();
  if (open.size === 0) return counts;
  const consumer = new Consumer({ clientId: 'lagscale-test-reader', groupId: group, bootstrapBrokers: [...brokers], autocommit: false, maxWaitTime: 200 });
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
  try {
    for await (const message of stream) {
      const key = message.key?.toString() ?? '';
      if (keep(key)) counts.set(key, (counts.get(key) ?? 0) + 1);
      if (message.offset + 1n >= (ends[message.partition] ?? 0n)) open.delete(message.partition);
      if (open.size === 0) break;
    }
  } finally {
    await stream.close().catch(() => {});
    await consumer.close(true);
  }
  return counts;
}

/** How many keys appear more than once, and how many extra copies there are in all. */
export function repeats(counts: ReadonlyMap<string, number>): { keys: number; extraCopies: number } {
  let keys = 0;
  let extraCopies = 0;
  for (const count of counts.values()) {
    if (count > 1) {
      keys++;
      extraCopies += count - 1;
    }
  }
  return { keys, extraCopies };
}
