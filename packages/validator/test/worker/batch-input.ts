import type { ValidationInput } from '../../src/worker/batch-validation.js';

/** One record of a test batch: its JSON text and rule set key, the rest defaulted. */
export interface TestRecord {
  readonly value: string;
  readonly key: string;
  readonly jobId?: string;
  readonly recordNumber?: number;
  readonly jobKnown?: boolean;
}

/** A batch as the worker's main thread packs it for validation (one byte buffer, flat arrays). */
export function packBatch(records: readonly TestRecord[], limits: { maxBytes?: number; maxDepth?: number; now?: number } = {}): ValidationInput {
  const bytes = records.map((r) => Buffer.from(r.value, 'utf8'));
  const ends = new Uint32Array(records.length);
  let at = 0;
  bytes.forEach((b, i) => {
    at += b.length;
    ends[i] = at;
  });
  return {
    now: limits.now ?? Date.parse('2025-06-01T00:00:00Z'),
    maxBytes: limits.maxBytes ?? 1 << 20,
    maxDepth: limits.maxDepth ?? 64,
    data: new Uint8Array(Buffer.concat(bytes)),
    ends,
    ruleSets: records.map((r) => r.key),
    jobIds: records.map((r) => r.jobId ?? 'job-1'),
    recordNumbers: Float64Array.from(records.map((r, i) => r.recordNumber ?? i + 1)),
    jobKnown: Uint8Array.from(records.map((r) => (r.jobKnown === false ? 0 : 1))),
  };
}

/**
 * A pattern within every static limit (906 RE2 instructions, under 2,000) whose automaton cannot
 * be cached for random a/b text (2^900 states), so matching steps hundreds of instructions for
 * each character: only the record's time budget stops it.
 */
export const COSTLY_PATTERN = '[ab]*a[ab]{900}z';
/** A value that matches it. */
export const MATCHING_CODE = `a${'b'.repeat(900)}z`;

/** `length` random a's and b's (a fixed seed): 3-5 s of matching COSTLY_PATTERN per 100,000 (measured here). */
export function randomAb(length: number): string {
  let seed = 7;
  let text = '';
  for (let i = 0; i < length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    text += seed & 0x10000 ? 'a' : 'b';
  }
  return text;
}
