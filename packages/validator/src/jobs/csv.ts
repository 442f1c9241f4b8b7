import { firstInvalidUtf8 } from '../rules/decode.js';
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

export interface CsvOptions extends UploadLimits {
  /** Field separator, one ASCII character: ',' (default), ';', '\t'... */
  readonly delimiter?: string;
  /**
   * Off (default): every value is a string. On: an unquoted field becomes a number when it is a
   * JSON number (not `007`, not an integer beyond 2^53), `true`/`false` a boolean, and empty or
   * `null` null (the words in any case). A quoted field is always a string.
   */
  readonly inferTypes?: boolean;
}

/**
 * CSV with a header line (RFC 4180): quoted fields with `""` for a quote and line breaks inside,
 * records ended by CRLF, LF or CR, a UTF-8 byte order mark dropped. Each record becomes an object
 * keyed by the header's column names. Empty lines are skipped and not numbered. A record with
 * more or fewer fields than the header is a failed record; a header with an empty or repeated
 * column name fails the upload. A quote inside an unquoted field is kept as it is.
 */
export async function* parseCsv(source: UploadSource, options: CsvOptions = {}): AsyncGenerator<UploadRecord> {
  const limits = resolveLimits(options);
  const delimiter = delimiterCode(options.delimiter ?? ',');
  const inferTypes = options.inferTypes ?? false;
  const input = new UploadBytes(source);
  const splitter = new CsvSplitter(delimiter, limits);
  let columns: readonly string[] | undefined;
  let recordNumber = 0;

  const toRecord = (raw: RawCsvRecord): UploadRecord => {
    if (columns === undefined) throw new Error('unreachable: a record before the header');
    if (++recordNumber > limits.maxRecords) throw tooManyRecords(limits, raw.offset + input.bomLength, raw.line);
    return csvRecord(raw, recordNumber, columns, delimiter, inferTypes, limits);
  };

  for await (const chunk of input) {
    for (const raw of splitter.push(chunk)) {
      if (columns === undefined) columns = readHeader(raw, delimiter, input.bomLength, limits);
      else yield toRecord(raw);
    }
  }
  for (const raw of splitter.end()) {
    if (columns === undefined) columns = readHeader(raw, delimiter, input.bomLength, limits);
    else yield toRecord(raw);
  }
  if (columns === undefined) {
    throw new UploadFormatError('empty_upload', 'the upload is empty: a CSV upload starts with a header line naming the columns', input.bomLength, 1);
  }
}

function delimiterCode(delimiter: string): number {
  const code = delimiter.charCodeAt(0);
  if (delimiter.length !== 1 || code > 0x7e || delimiter === '"' || delimiter === '\r' || delimiter === '\n')
    throw new RangeError(`the CSV delimiter must be one ASCII character other than a quote or a line break, got ${JSON.stringify(delimiter)}`);
  return code;
}

/** One record's bytes, without its line terminator, as the splitter found it. */
interface RawCsvRecord {
  /** Absent when the record was too large to hold. */
  readonly bytes?: Buffer;
  readonly oversized?: OversizedRecord;
  /** Where the record starts in the upload (BOM excluded) and its line. */
  readonly offset: number;
  readonly line: number;
  /** The upload ended inside a quoted field opened here. */
  readonly unclosedQuote?: { readonly line: number; readonly byte: number };
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

const State = { FieldStart: 0, Unquoted: 1, Quoted: 2, QuoteInQuoted: 3 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * Finds record boundaries across chunks: a line break ends a record unless it is inside quotes.
 * Only a quote at the start of a field opens a quoted field, as the field parser reads it.
 */
class CsvSplitter {
  #state: State = State.FieldStart;
  #parts: Buffer[] = [];
  #held = 0;
  #oversized: OversizedRecord | undefined;
  #offset = 0; // of the next chunk
  #recordOffset = 0;
  #line = 1;
  #recordLine = 1;
  #previous = -1; // the byte before, for CRLF
  #quoteLine = 0;
  #quoteByte = 0;
  readonly #previewBytes: number;

  constructor(
    private readonly delimiter: number,
    private readonly limits: ResolvedLimits,
  ) {
    this.#previewBytes = Math.min(OVERSIZED_RAW_PREVIEW_BYTES, limits.maxRecordBytes);
  }

  push(chunk: Buffer): RawCsvRecord[] {
    const records: RawCsvRecord[] = [];
    const delimiter = this.delimiter;
    let state = this.#state;
    let start = 0; // of the current record's bytes in this chunk
    let previous = this.#previous;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (b === LF) {
        if (previous !== CR) this.#line++;
      } else if (b === CR) this.#line++;
      previous = b;
      switch (state) {
        case State.Quoted:
          if (b === QUOTE) state = State.QuoteInQuoted;
          continue;
        case State.FieldStart:
          if (b === QUOTE) {
            state = State.Quoted;
            this.#quoteLine = this.#line;
            this.#quoteByte = this.#held + (this.#oversized?.size ?? 0) + i - start;
            continue;
          }
          break;
        case State.QuoteInQuoted:
          if (b === QUOTE) {
            state = State.Quoted;
            continue;
          }
          break;
        case State.Unquoted:
          break;
      }
      if (b === delimiter) state = State.FieldStart;
      else if (b === LF || b === CR) {
        const record = this.#endRecord(chunk.subarray(start, i));
        if (record !== undefined) records.push(record);
        start = i + 1;
        this.#recordOffset = this.#offset + start;
        this.#recordLine = this.#line;
        state = State.FieldStart;
      } else state = State.Unquoted;
    }
    this.#state = state;
    this.#previous = previous;
    this.#hold(chunk.subarray(start));
    this.#offset += chunk.length;
    return records;
  }

  end(): RawCsvRecord[] {
    const unclosedQuote = this.#state === State.Quoted ? { line: this.#quoteLine, byte: this.#quoteByte } : undefined;
    const record = this.#endRecord(Buffer.alloc(0), unclosedQuote);
    return record === undefined ? [] : [record];
  }

  #hold(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.#oversized !== undefined) this.#oversized.add(piece);
    else if (this.#held + piece.length > this.limits.maxRecordBytes) {
      this.#parts.push(piece);
      this.#oversized = new OversizedRecord(this.#parts, this.#previewBytes);
      this.#parts = [];
      this.#held = 0;
    } else {
      this.#parts.push(piece);
      this.#held += piece.length;
    }
  }

  #endRecord(last: Buffer, unclosedQuote?: RawCsvRecord['unclosedQuote']): RawCsvRecord | undefined {
    const where = { offset: this.#recordOffset, line: this.#recordLine, ...(unclosedQuote === undefined ? {} : { unclosedQuote }) };
    this.#hold(last);
    const oversized = this.#oversized;
    const parts = this.#parts;
    const held = this.#held;
    this.#oversized = undefined;
    this.#parts = [];
    this.#held = 0;
    if (oversized !== undefined) return { ...where, oversized };
    if (held === 0) return undefined; // an empty line
    return { ...where, bytes: concatParts(parts, held) };
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

type ParsedFields =
  | { readonly ok: true; readonly fields: string[]; readonly quoted: boolean[] }
  | { readonly ok: false; readonly reason: string; readonly code: 'invalid_utf8' | 'invalid_quote' };

/** The fields of one complete record (quotes balanced, as the splitter ensures). */
function parseFields(bytes: Buffer, delimiter: number): ParsedFields {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    return { ok: false, code: 'invalid_utf8', reason: at.truncated ? `truncated UTF-8 sequence at byte ${at.offset}` : `invalid UTF-8 at byte ${at.offset}` };
  }
  const separator = String.fromCharCode(delimiter);
  const fields: string[] = [];
  const quoted: boolean[] = [];
  let i = 0;
  for (;;) {
    if (text.charCodeAt(i) === QUOTE) {
      let value = '';
      let from = i + 1;
      for (;;) {
        const close = text.indexOf('"', from);
        // Only the last record of an upload can end inside quotes; it is reported before this.
        if (close === -1) return { ok: false, code: 'invalid_quote', reason: 'a quoted field is not closed' };
        value += text.slice(from, close);
        if (text.charCodeAt(close + 1) === QUOTE) {
          value += '"';
          from = close + 2;
          continue;
        }
        i = close + 1;
        break;
      }
      fields.push(value);
      quoted.push(true);
      if (i >= text.length) break;
      if (text[i] !== separator) {
        const at = Buffer.byteLength(text.slice(0, i), 'utf8');
        return {
          ok: false,
          code: 'invalid_quote',
          reason: `invalid quote at byte ${at}: a quoted field must be followed by '${separator}' or the end of the line, found ${describeChar(text[i] as string)} (write a quote inside quotes as "")`,
        };
      }
      i++;
      if (i === text.length) {
        fields.push('');
        quoted.push(false);
        break;
      }
      continue;
    }
    const next = text.indexOf(separator, i);
    if (next === -1) {
      fields.push(text.slice(i));
      quoted.push(false);
      break;
    }
    fields.push(text.slice(i, next));
    quoted.push(false);
    i = next + 1;
    if (i === text.length) {
      fields.push('');
      quoted.push(false);
      break;
    }
  }
  return { ok: true, fields, quoted };
}

function readHeader(raw: RawCsvRecord, delimiter: number, bomLength: number, limits: ResolvedLimits): string[] {
  const at = raw.offset + bomLength;
  const fail = (code: 'invalid_csv_header' | 'empty_column_name' | 'duplicate_column_name', what: string) =>
    new UploadFormatError(code, `the CSV header (line ${raw.line}) ${what}`, at, raw.line);
  if (raw.unclosedQuote !== undefined)
    throw fail('invalid_csv_header', `opens a quoted field at line ${raw.unclosedQuote.line} that is never closed: close the quote`);
  if (raw.bytes === undefined)
    throw fail('invalid_csv_header', `is over ${limits.maxRecordBytes} bytes: is the first line really a header of column names, and is the delimiter right?`);
  const parsed = parseFields(raw.bytes, delimiter);
  if (!parsed.ok) throw fail('invalid_csv_header', `cannot be read: ${parsed.reason}`);
  const seen = new Map<string, number>();
  parsed.fields.forEach((name, index) => {
    if (name.trim() === '') throw fail('empty_column_name', `has no name for column ${index + 1}: name every column`);
    const first = seen.get(name);
    if (first !== undefined)
      throw fail('duplicate_column_name', `names column ${index + 1} ${JSON.stringify(name)}, like column ${first + 1}: column names must be unique`);
    seen.set(name, index);
  });
  return parsed.fields;
}

function csvRecord(
  raw: RawCsvRecord,
  recordNumber: number,
  columns: readonly string[],
  delimiter: number,
  inferTypes: boolean,
  limits: ResolvedLimits,
): UploadRecord {
  const { line } = raw;
  if (raw.unclosedQuote !== undefined) {
    const reason = `a quoted field opened at line ${raw.unclosedQuote.line} (byte ${raw.unclosedQuote.byte} of the record) is never closed: the upload ends inside quotes`;
    if (raw.oversized !== undefined) return raw.oversized.failure(recordNumber, line, limits, 'unterminated_quote', reason);
    const bytes = raw.bytes ?? Buffer.alloc(0);
    return failed(recordNumber, line, 'unterminated_quote', reason, bytes);
  }
  if (raw.bytes === undefined) {
    if (raw.oversized === undefined) throw new Error('unreachable: a record with neither bytes nor size');
    return raw.oversized.failure(recordNumber, line, limits);
  }
  const bytes = raw.bytes;
  const parsed = parseFields(bytes, delimiter);
  if (!parsed.ok) return failed(recordNumber, line, parsed.code, parsed.reason, bytes);
  const { fields, quoted } = parsed;
  if (fields.length !== columns.length) {
    const code = fields.length > columns.length ? 'too_many_fields' : 'too_few_fields';
    return failed(recordNumber, line, code, `record has ${fields.length} fields, the header has ${columns.length} columns`, bytes);
  }
  const value: Record<string, unknown> = {};
  for (let c = 0; c < columns.length; c++) {
    const name = columns[c] as string;
    const text = fields[c] as string;
    const field = inferTypes ? inferValue(text, quoted[c] === true) : text;
    // A column named "__proto__" must be an own property, as JSON.parse makes it.
    if (name === '__proto__') Object.defineProperty(value, name, { value: field, enumerable: true, writable: true, configurable: true });
    else value[name] = field;
  }
  return { recordNumber, ok: true, value, bytes: bytes.length, line };
}

function failed(recordNumber: number, line: number, code: FailedRecord['code'], reason: string, bytes: Buffer): FailedRecord {
  return { recordNumber, ok: false, code, reason, raw: Buffer.from(bytes), bytes: bytes.length, line };
}

const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

function inferValue(text: string, quoted: boolean): unknown {
  if (quoted) return text;
  if (text === '') return null;
  const lower = text.length === 4 || text.length === 5 ? text.toLowerCase() : '';
  if (lower === 'null') return null;
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (!JSON_NUMBER.test(text)) return text;
  const number = Number(text);
  if (!Number.isFinite(number)) return text;
  // An integer that a double cannot hold exactly (an id, an account number) stays a string.
  if (Number.isInteger(number) && !Number.isSafeInteger(number) && !/[.eE]/.test(text)) return text;
  return number;
}
