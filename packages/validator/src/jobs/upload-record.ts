import type { DecodeFailureCode } from '../rules/decode.js';
import { UploadFormatError } from './upload-error.js';

/** Why one record of an upload cannot be validated; the upload goes on with the next record. */
export type RecordFailureCode = DecodeFailureCode | 'too_many_fields' | 'too_few_fields' | 'invalid_quote' | 'unterminated_quote';

export interface ParsedRecord {
  /** 1-based position among the upload's records (blank lines are not records). */
  readonly recordNumber: number;
  readonly ok: true;
  readonly value: unknown;
  /** Size of the record in the upload, without its line terminator or surrounding whitespace. */
  readonly bytes: number;
  /** 1-based line of the upload where the record starts. */
  readonly line: number;
}

export interface FailedRecord {
  readonly recordNumber: number;
  readonly ok: false;
  readonly code: RecordFailureCode;
  /** What is wrong and where; byte positions count from the start of the record. */
  readonly reason: string;
  /** The record's bytes as uploaded, for the DLQ; only the first bytes when `rawTruncated`. */
  readonly raw: Buffer;
  readonly rawTruncated?: true;
  readonly bytes: number;
  readonly line: number;
}

export type UploadRecord = ParsedRecord | FailedRecord;

export interface UploadLimits {
  /** Largest record, in bytes; a larger one is skipped (never held whole) and fails as `too_large`. Default 1 MiB. */
  readonly maxRecordBytes?: number;
  /** Deepest nesting of a JSON record (a flat object is depth 1). Default 64. */
  readonly maxDepth?: number;
  /** More records than this make the upload fail with `too_many_records`. Default: no limit. */
  readonly maxRecords?: number;
}

export const DEFAULT_MAX_RECORD_BYTES = 1 << 20;
export const DEFAULT_MAX_DEPTH = 64;
/** How much of an oversized record is kept in `raw`. */
export const OVERSIZED_RAW_PREVIEW_BYTES = 1024;

export interface ResolvedLimits {
  readonly maxRecordBytes: number;
  readonly maxDepth: number;
  readonly maxRecords: number;
}

export function resolveLimits(limits: UploadLimits): ResolvedLimits {
  const maxRecordBytes = limits.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxRecords = limits.maxRecords ?? Number.POSITIVE_INFINITY;
  for (const [name, value] of [
    ['maxRecordBytes', maxRecordBytes],
    ['maxDepth', maxDepth],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  if (maxRecords !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(maxRecords) || maxRecords < 1))
    throw new RangeError(`maxRecords must be a positive integer, got ${maxRecords}`);
  return { maxRecordBytes, maxDepth, maxRecords };
}

export function tooManyRecords(limits: ResolvedLimits, offset: number, line: number): UploadFormatError {
  return new UploadFormatError(
    'too_many_records',
    `the upload has more than ${limits.maxRecords} records (record ${limits.maxRecords + 1} starts at byte ${offset}, line ${line}): split it into uploads of at most ${limits.maxRecords} records`,
    offset,
    line,
  );
}

/** Keeps the first bytes of a record that is too large to hold, and counts the rest. */
export class OversizedRecord {
  readonly preview: Buffer;
  size = 0;
  /** The last byte seen, to drop the '\r' of a CRLF line from the size. */
  lastByte = -1;

  constructor(parts: readonly Buffer[], previewBytes: number) {
    let total = 0;
    for (const part of parts) total += part.length;
    const preview = Buffer.allocUnsafe(Math.min(previewBytes, total));
    let filled = 0;
    for (const part of parts) {
      if (filled < preview.length) filled += part.copy(preview, filled, 0, Math.min(part.length, preview.length - filled));
      this.add(part);
    }
    this.preview = preview;
  }

  add(piece: Buffer): void {
    if (piece.length === 0) return;
    this.size += piece.length;
    this.lastByte = piece[piece.length - 1] as number;
  }

  failure(recordNumber: number, line: number, limits: ResolvedLimits, code: RecordFailureCode = 'too_large', reason?: string): FailedRecord {
    return {
      recordNumber,
      ok: false,
      code,
      reason: reason ?? `record is ${this.size} bytes, over the limit of ${limits.maxRecordBytes}`,
      raw: this.preview,
      rawTruncated: true,
      bytes: this.size,
      line,
    };
  }
}

export function concatParts(parts: readonly Buffer[], length: number): Buffer {
  if (parts.length === 1) return parts[0] as Buffer;
  return Buffer.concat(parts, length);
}
