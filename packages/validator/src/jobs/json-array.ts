import { decodeRecord } from '../rules/decode.js';
import { describeChar } from '../rules/expression/lexer.js';
import { UploadFormatError } from './upload-error.js';
import {
  concatParts,
  type FailedRecord,
  OVERSIZED_RAW_PREVIEW_BYTES,
  OversizedRecord,
  type ResolvedLimits,
  resolveLimits,
  tooManyRecords,
  type UploadLimits,
  type UploadRecord,
} from './upload-record.js';
import { UploadBytes, type UploadSource } from './upload-source.js';

/**
 * A JSON array of records, `[ {...}, {...} ]`, read element by element: a small tokenizer follows
 * strings, escapes and brackets to find each top-level comma, and each element is then decoded
 * with the limits, so the upload is never held whole.
 *
 * A malformed element is a failed record, and reading resumes at the next top-level comma: a
 * closing bracket of the wrong kind closes up to its match, and a line break ends an unclosed
 * string (and the element, when it started on that line: one record per line). When the
 * structure cannot be followed to the array's end (the upload ends inside it), or the upload is
 * not one array, an `UploadFormatError` names the byte offset.
 */
export async function* parseJsonArray(source: UploadSource, options: UploadLimits = {}): AsyncGenerator<UploadRecord> {
  const limits = resolveLimits(options);
  const input = new UploadBytes(source);
  const tokenizer = new JsonArrayTokenizer(limits, () => input.bomLength);
  let recordNumber = 0;
  const toRecord = (element: ArrayElement): UploadRecord => {
    if (++recordNumber > limits.maxRecords) throw tooManyRecords(limits, element.offset + input.bomLength, element.line);
    return elementRecord(element, recordNumber, limits);
  };
  for await (const chunk of input) {
    for (const element of tokenizer.push(chunk)) yield toRecord(element);
    // Elements before the error in the same chunk come first.
    if (tokenizer.error !== undefined) throw tokenizer.error;
  }
  tokenizer.end(recordNumber);
}

type EmptyElement = 'nothing before the comma' | 'trailing comma';

interface ArrayElement {
  /** The element without surrounding whitespace; absent when it was too large to hold. */
  readonly bytes?: Buffer;
  readonly oversized?: OversizedRecord;
  /** Set for an empty element: what the commas around it look like. */
  readonly empty?: EmptyElement;
  readonly offset: number;
  readonly line: number;
}

const Phase = { BeforeArray: 0, BeforeElement: 1, InElement: 2, AfterArray: 3 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Whitespace after an element (before its comma) is held with it and trimmed at the comma; this
 * much of it may go past `maxRecordBytes` before the element counts as too large.
 */
const TRAILING_WHITESPACE_SLACK = 64 * 1024;

class JsonArrayTokenizer {
  /** Why the upload cannot be read on; set by push, which stops there. */
  error: UploadFormatError | undefined;
  #phase: Phase = Phase.BeforeArray;
  /** A comma was seen since '[': an element must follow. */
  #afterComma = false;
  /** The last element was ended at a line break inside a string (see push). */
  #resynced = false;
  #inString = false;
  #escaped = false;
  #stringStart = 0;
  #stringLine = 0;
  /** Open brackets inside the current element; deeper than the cap, only counted. */
  #open: number[] = [];
  #openBeyondCap = 0;
  readonly #openCap: number;
  /** Whitespace bytes at the end of what the element holds so far. */
  #trailingWhitespace = 0;
  #parts: Buffer[] = [];
  #held = 0;
  #oversized: OversizedRecord | undefined;
  #elementOffset = 0;
  #elementLine = 0;
  #offset = 0; // of the next chunk, BOM excluded
  #line = 1;
  readonly #holdLimit: number;
  readonly #previewBytes: number;

  constructor(
    private readonly limits: ResolvedLimits,
    private readonly bomLength: () => number,
  ) {
    this.#openCap = limits.maxDepth + 1;
    this.#holdLimit = limits.maxRecordBytes + TRAILING_WHITESPACE_SLACK;
    this.#previewBytes = Math.min(OVERSIZED_RAW_PREVIEW_BYTES, limits.maxRecordBytes);
  }

  push(chunk: Buffer): ArrayElement[] {
    const elements: ArrayElement[] = [];
    let start = -1; // where the current element's bytes start in this chunk, when in one
    if (this.#phase === Phase.InElement) start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (b === LF) this.#line++;
      switch (this.#phase) {
        case Phase.InElement: {
          if (this.#inString) {
            this.#trailingWhitespace = 0;
            if (this.#escaped) this.#escaped = false;
            else if (b === BACKSLASH) this.#escaped = true;
            else if (b === QUOTE) this.#inString = false;
            else if (b === LF || b === CR) {
              // A raw line break cannot be inside a JSON string, so the string was left open.
              // When the element started on this line (one record per line), it ends here and
              // the next line is the next element; otherwise (a pretty-printed element) the
              // string ends here and the element's brackets are followed as before.
              this.#inString = false;
              if (this.#stringLine === this.#elementLine) {
                elements.push(this.#endElement(chunk.subarray(start, i)));
                this.#phase = Phase.BeforeElement;
                this.#afterComma = false;
                this.#resynced = true;
              }
            }
            continue;
          }
          if (b === SPACE || b === LF || b === CR || b === TAB) {
            this.#trailingWhitespace++;
            continue;
          }
          if (b === COMMA && this.#open.length === 0 && this.#openBeyondCap === 0) {
            elements.push(this.#endElement(chunk.subarray(start, i)));
            this.#phase = Phase.BeforeElement;
            this.#afterComma = true;
            continue;
          }
          if (b === CLOSE_BRACKET || b === CLOSE_BRACE) {
            if (this.#close(b)) {
              elements.push(this.#endElement(chunk.subarray(start, i)));
              this.#phase = Phase.AfterArray;
              continue;
            }
          } else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
            if (this.#open.length < this.#openCap) this.#open.push(b);
            else this.#openBeyondCap++;
          } else if (b === QUOTE) {
            this.#inString = true;
            this.#stringStart = this.#offset + i;
            this.#stringLine = this.#line;
          }
          this.#trailingWhitespace = 0;
          continue;
        }
        case Phase.BeforeElement: {
          if (b === SPACE || b === LF || b === CR || b === TAB) continue;
          if (b === CLOSE_BRACKET) {
            if (this.#afterComma) elements.push(this.#emptyElement(i, 'trailing comma'));
            this.#phase = Phase.AfterArray;
            continue;
          }
          if (b === COMMA) {
            // After an element ended at a line break, a comma at the start of the next line is its separator.
            if (!this.#resynced) elements.push(this.#emptyElement(i, 'nothing before the comma'));
            this.#resynced = false;
            this.#afterComma = true;
            continue;
          }
          this.#resynced = false;
          this.#phase = Phase.InElement;
          this.#elementOffset = this.#offset + i;
          this.#elementLine = this.#line;
          start = i;
          i--; // read this byte again, inside the element
          continue;
        }
        case Phase.BeforeArray: {
          if (b === SPACE || b === LF || b === CR || b === TAB) continue;
          if (b !== OPEN_BRACKET) {
            this.error = this.#notAnArray(b, i);
            return elements;
          }
          this.#phase = Phase.BeforeElement;
          continue;
        }
        case Phase.AfterArray: {
          if (b === SPACE || b === LF || b === CR || b === TAB) continue;
          this.error = this.#fatal(
            'content_after_array',
            `unexpected ${describeChar(String.fromCharCode(b))} after the end of the JSON array, at byte ${this.#at(i)} (line ${this.#line}): an upload is one array; for one record per line, upload NDJSON`,
            i,
          );
          return elements;
        }
      }
    }
    if (this.#phase === Phase.InElement) this.#hold(chunk.subarray(start));
    this.#offset += chunk.length;
    return elements;
  }

  /** Checks that the upload ended where it may; `records` says how many elements were read. */
  end(records: number): void {
    switch (this.#phase) {
      case Phase.AfterArray:
        return;
      case Phase.BeforeArray:
        throw new UploadFormatError('empty_upload', "the upload is empty: a JSON array upload starts with '['", this.bomLength() + this.#offset, this.#line);
      case Phase.BeforeElement:
        throw this.#truncated(`after ${records} records, before the array's closing ']'`);
      case Phase.InElement: {
        const where = this.#inString
          ? `inside a string that starts at byte ${this.#stringStart + this.bomLength()} (line ${this.#stringLine}), in record ${records + 1}`
          : `inside record ${records + 1}, which starts at byte ${this.#elementOffset + this.bomLength()} (line ${this.#elementLine})`;
        throw this.#truncated(where);
      }
    }
  }

  /** Follows a closing bracket; true when it closes the array itself. */
  #close(b: number): boolean {
    if (this.#openBeyondCap > 0) {
      this.#openBeyondCap--;
      return false;
    }
    const opener = b === CLOSE_BRACKET ? OPEN_BRACKET : OPEN_BRACE;
    const open = this.#open;
    if (open[open.length - 1] === opener) {
      open.pop();
      return false;
    }
    // Mismatched (the element is malformed and will fail to decode): close up to the match, if any.
    const match = open.lastIndexOf(opener);
    if (match >= 0) {
      open.length = match;
      return false;
    }
    // A ']' with no '[' open in the element closes the array; a stray '}' is just a bad byte.
    if (b === CLOSE_BRACKET) {
      open.length = 0;
      return true;
    }
    return false;
  }

  #hold(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.#oversized !== undefined) this.#oversized.add(piece);
    else if (this.#held + piece.length > this.#holdLimit) {
      this.#parts.push(piece);
      this.#oversized = new OversizedRecord(this.#parts, this.#previewBytes);
      this.#parts = [];
      this.#held = 0;
    } else {
      this.#parts.push(piece);
      this.#held += piece.length;
    }
  }

  #endElement(last: Buffer): ArrayElement {
    this.#hold(last);
    const where = { offset: this.#elementOffset, line: this.#elementLine };
    const trailing = this.#trailingWhitespace;
    const oversized = this.#oversized;
    const parts = this.#parts;
    const held = this.#held;
    this.#parts = [];
    this.#held = 0;
    this.#oversized = undefined;
    this.#trailingWhitespace = 0;
    this.#open.length = 0;
    this.#openBeyondCap = 0;
    this.#inString = false;
    this.#escaped = false;
    if (oversized !== undefined) {
      oversized.size -= trailing;
      return { ...where, oversized };
    }
    const bytes = concatParts(parts, held).subarray(0, held - trailing);
    if (bytes.length > this.limits.maxRecordBytes) return { ...where, oversized: new OversizedRecord([bytes], this.#previewBytes) };
    return { ...where, bytes };
  }

  #emptyElement(i: number, empty: EmptyElement): ArrayElement {
    return { empty, offset: this.#offset + i, line: this.#line };
  }

  #at(i: number): number {
    return this.bomLength() + this.#offset + i;
  }

  #fatal(code: 'not_an_array' | 'content_after_array', message: string, i: number): UploadFormatError {
    return new UploadFormatError(code, message, this.#at(i), this.#line);
  }

  #notAnArray(b: number, i: number): UploadFormatError {
    const hint = b === OPEN_BRACE ? 'for one JSON object per line, upload NDJSON' : 'is it CSV or NDJSON?';
    return this.#fatal(
      'not_an_array',
      `the upload starts with ${describeChar(String.fromCharCode(b))} at byte ${this.#at(i)} (line ${this.#line}), not '[': a JSON array upload is one top-level array of records (${hint})`,
      i,
    );
  }

  #truncated(where: string): UploadFormatError {
    const at = this.bomLength() + this.#offset;
    return new UploadFormatError(
      'truncated_array',
      `the upload ends at byte ${at} ${where}, before the JSON array is closed: upload the whole file if it was cut short, or look for an unclosed quote or bracket there`,
      at,
      this.#line,
    );
  }
}

function elementRecord(element: ArrayElement, recordNumber: number, limits: ResolvedLimits): UploadRecord {
  const { line } = element;
  if (element.empty !== undefined) {
    const reason = element.empty === 'trailing comma' ? "element is empty: a trailing comma before ']'" : 'element is empty: nothing before the comma';
    return { recordNumber, ok: false, code: 'empty', reason, raw: Buffer.alloc(0), bytes: 0, line };
  }
  if (element.oversized !== undefined) return element.oversized.failure(recordNumber, line, limits);
  const bytes = element.bytes ?? Buffer.alloc(0);
  const decoded = decodeRecord(bytes, { maxBytes: limits.maxRecordBytes, maxDepth: limits.maxDepth });
  if (decoded.ok) return { recordNumber, ok: true, value: decoded.value, bytes: bytes.length, line };
  const failure: FailedRecord = { recordNumber, ok: false, code: decoded.code, reason: decoded.reason, raw: Buffer.from(bytes), bytes: bytes.length, line };
  return failure;
}
