import { decodeRecord } from '../rules/decode.js';
import {
  concatParts,
  OVERSIZED_RAW_PREVIEW_BYTES,
  OversizedRecord,
  type ResolvedLimits,
  resolveLimits,
  tooManyRecords,
  type UploadLimits,
  type UploadRecord,
} from './upload-record.js';
import { UploadBytes, type UploadSource } from './upload-source.js';

const LF = 0x0a;
const CR = 0x0d;

/**
 * NDJSON (JSON Lines): one JSON value per line, `\n` or `\r\n`. Blank lines are skipped and not
 * numbered. A line that does not decode is a failed record and the next line is read as usual;
 * a line over `maxRecordBytes` is skipped to its newline without being held.
 */
export async function* parseNdjson(source: UploadSource, options: UploadLimits = {}): AsyncGenerator<UploadRecord> {
  const limits = resolveLimits(options);
  const input = new UploadBytes(source);
  const previewBytes = Math.min(OVERSIZED_RAW_PREVIEW_BYTES, limits.maxRecordBytes);
  // The current line while it spans chunks: slices of them, `held` bytes in all.
  let parts: Buffer[] = [];
  let held = 0;
  let oversized: OversizedRecord | undefined;
  /** Whether the oversized line so far is only spaces, tabs and CRs: then it is a blank line, skipped like a short one. */
  let oversizedBlank = true;
  let line = 1;
  let lineOffset = 0; // where the current line starts, BOM excluded
  let chunkOffset = 0;
  let recordNumber = 0;

  /** The record of a complete line (its '\n' excluded), or undefined for a blank line. */
  const finishLine = (bytes: Buffer | undefined): UploadRecord | undefined => {
    let tooLarge = oversized;
    oversized = undefined;
    if (tooLarge !== undefined && oversizedBlank) return undefined;
    oversizedBlank = true;
    if (tooLarge === undefined) {
      if (bytes === undefined || isBlank(bytes)) return undefined;
      const content = bytes[bytes.length - 1] === CR ? bytes.subarray(0, -1) : bytes;
      if (content.length <= limits.maxRecordBytes) {
        if (++recordNumber > limits.maxRecords) throw tooManyRecords(limits, lineOffset + input.bomLength, line);
        return decodeLine(content, recordNumber, line, limits);
      }
      tooLarge = new OversizedRecord([content], previewBytes);
    } else if (tooLarge.lastByte === CR) tooLarge.size--;
    if (++recordNumber > limits.maxRecords) throw tooManyRecords(limits, lineOffset + input.bomLength, line);
    return tooLarge.failure(recordNumber, line, limits);
  };

  for await (const chunk of input) {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      const end = newline === -1 ? chunk.length : newline;
      const piece = chunk.subarray(start, end);
      let bytes: Buffer | undefined;
      if (oversized !== undefined) {
        oversized.add(piece);
        if (oversizedBlank) oversizedBlank = isBlank(piece);
      } else if (held + piece.length > limits.maxRecordBytes + 1) {
        // Over the limit even allowing for a '\r': stop holding the line, count the rest of it.
        parts.push(piece);
        oversizedBlank = parts.every(isBlank);
        oversized = new OversizedRecord(parts, previewBytes);
        parts = [];
        held = 0;
      } else if (newline === -1) {
        if (piece.length > 0) {
          parts.push(piece);
          held += piece.length;
        }
      } else if (held === 0) bytes = piece;
      else {
        parts.push(piece);
        bytes = concatParts(parts, held + piece.length);
        parts = [];
        held = 0;
      }
      if (newline === -1) break;
      const record = finishLine(bytes);
      if (record !== undefined) yield record;
      line++;
      start = newline + 1;
      lineOffset = chunkOffset + start;
    }
    chunkOffset += chunk.length;
  }
  // The last line has no newline.
  const record = finishLine(held > 0 ? concatParts(parts, held) : undefined);
  if (record !== undefined) yield record;
}

function decodeLine(content: Buffer, recordNumber: number, line: number, limits: ResolvedLimits): UploadRecord {
  const decoded = decodeRecord(content, { maxBytes: limits.maxRecordBytes, maxDepth: limits.maxDepth });
  if (decoded.ok) return { recordNumber, ok: true, value: decoded.value, bytes: content.length, line };
  // A copy: the slice would keep the whole chunk it came from alive.
  return { recordNumber, ok: false, code: decoded.code, reason: decoded.reason, raw: Buffer.from(content), bytes: content.length, line };
}

/** Only spaces, tabs and carriage returns. */
function isBlank(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b !== 0x20 && b !== 0x09 && b !== CR) return false;
  }
  return true;
}
