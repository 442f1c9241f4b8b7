import { type CsvOptions, parseCsv } from './csv.js';
import { parseJsonArray } from './json-array.js';
import { parseNdjson } from './ndjson.js';
import { UploadFormatError } from './upload-error.js';
import type { UploadRecord } from './upload-record.js';
import type { UploadSource } from './upload-source.js';

export { type CsvOptions, parseCsv } from './csv.js';
export { parseJsonArray } from './json-array.js';
export { parseNdjson } from './ndjson.js';
export { UploadFormatError, type UploadFormatErrorCode } from './upload-error.js';
export {
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_RECORD_BYTES,
  type FailedRecord,
  OVERSIZED_RAW_PREVIEW_BYTES,
  type ParsedRecord,
  type RecordFailureCode,
  type UploadLimits,
  type UploadRecord,
} from './upload-record.js';
export type { UploadSource } from './upload-source.js';

export type UploadFormat = 'ndjson' | 'csv' | 'json-array';

export type UploadOptions = CsvOptions;

/** Reads an upload of the given format as records; see each parser for the format's rules. */
export function parseUpload(source: UploadSource, format: UploadFormat, options: UploadOptions = {}): AsyncGenerator<UploadRecord> {
  switch (format) {
    case 'ndjson':
      return parseNdjson(source, options);
    case 'csv':
      return parseCsv(source, options);
    case 'json-array':
      return parseJsonArray(source, options);
  }
}

const NDJSON_TYPES = new Set([
  'application/x-ndjson',
  'application/ndjson',
  'application/jsonl',
  'application/x-jsonlines',
  'application/jsonlines',
  'text/jsonl',
]);
// Windows browsers send application/vnd.ms-excel for a .csv file.
const CSV_TYPES = new Set(['text/csv', 'application/csv', 'text/x-csv', 'application/x-csv', 'application/vnd.ms-excel']);
const JSON_TYPES = new Set(['application/json', 'text/json']);
const NDJSON_EXTENSIONS = new Set(['ndjson', 'jsonl', 'ldjson', 'jsonlines']);

/**
 * The format of an upload, from (in this order) a specific content type, the file name's
 * extension, and the first bytes: '[' is a JSON array, '{' NDJSON, anything else CSV. For a .json
 * name or an application/json type only the first bytes decide, between a JSON array and NDJSON.
 * A spreadsheet (xlsx, xls) is refused with what to do.
 */
export function detectFormat(filename: string | undefined, contentType: string | undefined, firstBytes: Uint8Array): UploadFormat {
  refuseSpreadsheet(firstBytes);
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (NDJSON_TYPES.has(type)) return 'ndjson';
  if (CSV_TYPES.has(type)) return 'csv';
  const dot = filename?.lastIndexOf('.') ?? -1;
  const extension = filename !== undefined && dot >= 0 ? filename.slice(dot + 1).toLowerCase() : '';
  if (NDJSON_EXTENSIONS.has(extension)) return 'ndjson';
  if (extension === 'csv') return 'csv';
  const first = firstSignificantByte(firstBytes);
  if (first === 0x5b) return 'json-array';
  if (first === 0x7b) return 'ndjson';
  // Named JSON but neither: the JSON array parser says what is wrong with it.
  if (extension === 'json' || JSON_TYPES.has(type)) return 'json-array';
  return 'csv';
}

function firstSignificantByte(bytes: Uint8Array): number | undefined {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return bytes[i];
}

function refuseSpreadsheet(bytes: Uint8Array): void {
  const zip = bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  const ole = bytes[0] === 0xd0 && bytes[1] === 0xcf && bytes[2] === 0x11 && bytes[3] === 0xe0;
  if (zip || ole)
    throw new UploadFormatError(
      'unsupported_format',
      `the upload is ${zip ? 'a zip archive (an .xlsx spreadsheet?)' : 'an .xls spreadsheet'}, not text: export it as CSV (UTF-8), NDJSON or a JSON array and upload that`,
      0,
      1,
    );
}
