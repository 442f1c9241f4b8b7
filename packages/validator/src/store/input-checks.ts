import type { DlqInput, ResultInput } from './store.js';
import { StoreError } from './store.js';

/** Checks of what callers hand a store, shared by every implementation so they refuse alike. */

export const MAX_PAGE_LIMIT = 1000;

/** Longest text a results search takes, in characters (code points); the API's `text` has the same limit. */
export const MAX_SEARCH_TEXT_CHARS = 200;

/** JSON with object keys sorted at every level, so equal documents give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) return inner;
    // Without a prototype: a key "__proto__" is an own property, as JSON.parse made it, not the prototype.
    const sorted: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(inner).sort()) sorted[key] = (inner as Record<string, unknown>)[key];
    return sorted;
  });
}

export function checkResultInput(result: ResultInput, index: number): void {
  if (typeof result !== 'object' || result === null) throw invalid(`${resultIndex(index)} is not an object`);
  if (typeof result.jobId !== 'string' || result.jobId === '') throw invalid(`${resultIndex(index)}: jobId must be a non-empty string`);
  if (!Number.isSafeInteger(result.recordNumber) || result.recordNumber < 0) {
    throw invalid(`${resultIndex(index)} (job "${result.jobId}"): recordNumber must be an integer ≥ 0, got ${String(result.recordNumber)}`);
  }
  if (typeof result.valid !== 'boolean') throw invalid(`${resultPlace(result, index)}: valid must be true or false`);
  if (!Array.isArray(result.violations)) throw invalid(`${resultPlace(result, index)}: violations must be an array`);
  if (result.record !== undefined && typeof result.record !== 'string' && !(result.record instanceof Uint8Array))
    throw invalid(`${resultPlace(result, index)}: record must be JSON text (a string, or its UTF-8 bytes)`);
  result.violations.forEach((violation, seq) => {
    if (
      typeof violation?.ruleId !== 'string' ||
      (violation.severity !== 'error' && violation.severity !== 'warning') ||
      typeof violation.path !== 'string' ||
      typeof violation.message !== 'string'
    ) {
      throw invalid(`${resultPlace(result, index)}: violation ${seq} must have string ruleId, path and message and severity "error" or "warning"`);
    }
  });
}

// The places in the messages above are made only for a message: the checks run for every stored result.
function resultIndex(index: number): string {
  return `result ${index} of the batch`;
}

function resultPlace(result: ResultInput, index: number): string {
  return `${resultIndex(index)} (job "${result.jobId}", record ${result.recordNumber})`;
}

export function pageLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT)
    throw invalid(`limit must be an integer from 1 to ${MAX_PAGE_LIMIT}, got ${String(limit)}`);
  return limit;
}

/**
 * The `text` of a results search as the stores search it: trimmed, or undefined when there is
 * none (absent, empty or only white space). Every character is searched literally; refused are
 * text over MAX_SEARCH_TEXT_CHARS (it bounds the work of one search: the SQLite store's trigram
 * phrase has at most 198 trigrams), NUL, which no violation message is meant to hold and which
 * SQLite's FTS5 reads as the end of its query, and unpaired surrogates, which no UTF-8 can carry.
 */
export function searchText(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  requireString('text', text);
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (trimmed.includes('\u0000')) throw invalid('text cannot contain NUL (U+0000, %00 in a URL): search for the text around it');
  // With the u flag the class matches only a surrogate without its pair.
  if (/[\uD800-\uDFFF]/u.test(trimmed)) throw invalid('text is not valid Unicode (it has an unpaired surrogate)');
  // Counting code points only when the UTF-16 length could be over the limit.
  if (trimmed.length > MAX_SEARCH_TEXT_CHARS && [...trimmed].length > MAX_SEARCH_TEXT_CHARS)
    throw invalid(`text is ${[...trimmed].length} characters long, over the limit of ${MAX_SEARCH_TEXT_CHARS}: search for a shorter part of the message`);
  return trimmed;
}

export function requireName(what: string, value: string): void {
  if (typeof value !== 'string' || value === '') throw invalid(`${what} must be a non-empty string`);
}

export function requireString(what: string, value: string): void {
  if (typeof value !== 'string') throw invalid(`${what} must be a string`);
}

export function requireInteger(what: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw invalid(`${what} must be an integer ≥ ${min}, got ${String(value)}`);
}

export function requireTime(what: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw invalid(`${what} must be epoch milliseconds (an integer), got ${String(value)}`);
}

export function invalid(message: string): StoreError {
  return new StoreError('INVALID_ARGUMENT', message);
}

export function jobNotFound(jobIds: readonly string[]): StoreError {
  const list = jobIds.map((id) => `"${id}"`).join(', ');
  return new StoreError(
    'JOB_NOT_FOUND',
    `${jobIds.length === 1 ? 'job' : 'jobs'} ${list} ${jobIds.length === 1 ? 'does' : 'do'} not exist: create the job first`,
  );
}

export function checkDlqInput(entry: DlqInput): void {
  requireName('DLQ entry id', entry.id);
  if (entry.jobId !== undefined) requireName('DLQ jobId', entry.jobId);
  if (entry.recordNumber !== undefined) requireInteger('DLQ recordNumber', entry.recordNumber, 0);
  requireName('DLQ topic', entry.topic);
  requireInteger('DLQ partition', entry.partition, 0);
  requireInteger('DLQ offset', entry.offset, 0);
  if (typeof entry.reason !== 'string' || typeof entry.code !== 'string') throw invalid('DLQ reason and code must be strings');
  if (!(entry.payload instanceof Uint8Array)) throw invalid('DLQ payload must be bytes (a Uint8Array or Buffer)');
  if (entry.payloadSize !== undefined) requireInteger('DLQ payloadSize', entry.payloadSize, 0);
  requireTime('createdAt', entry.createdAt);
}

export function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw invalid(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}
