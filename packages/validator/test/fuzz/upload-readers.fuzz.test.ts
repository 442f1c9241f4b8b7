import { decodeRecord, parseCsv, parseJsonArray, parseNdjson, UploadFormatError, type UploadRecord } from '@lagscale/validator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkAsyncProperty, chunksOf, cutsArbitrary } from './fuzz-settings.js';

/**
 * Properties of the upload readers (NDJSON, CSV, JSON array): a generated upload gives exactly the
 * records written into it (each line, row or element one record, a good one or a failed one with a
 * reason: count in = count out); any chunking of the same bytes gives the same records and the
 * same error; arbitrary, mutated and truncated bytes end in records and at most an
 * UploadFormatError, never another exception.
 */

type Reader = (source: AsyncIterable<Uint8Array>) => AsyncIterable<UploadRecord>;
const READERS: Record<'ndjson' | 'csv' | 'json-array', Reader> = {
  ndjson: (source) => parseNdjson(source, { maxRecordBytes: 512, maxDepth: 8 }),
  csv: (source) => parseCsv(source, { maxRecordBytes: 512 }),
  'json-array': (source) => parseJsonArray(source, { maxRecordBytes: 512, maxDepth: 8 }),
};
const FAILURE_CODES = new Set([
  'too_large',
  'empty',
  'invalid_utf8',
  'too_deep',
  'truncated_json',
  'invalid_json',
  'too_many_fields',
  'too_few_fields',
  'invalid_quote',
  'unterminated_quote',
]);
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

interface Outcome {
  readonly records: UploadRecord[];
  readonly error?: string;
}

/** Reads the bytes in the given chunks: the records, and the UploadFormatError that ended the upload. Any other error fails the property. */
async function read(reader: Reader, bytes: Uint8Array, cuts: readonly number[] = []): Promise<Outcome> {
  const records: UploadRecord[] = [];
  try {
    for await (const record of reader(chunksOf(bytes, cuts))) records.push(record);
  } catch (error) {
    if (!(error instanceof UploadFormatError)) throw error;
    expect(error.offset).toBeGreaterThanOrEqual(0);
    expect(error.offset).toBeLessThanOrEqual(bytes.length);
    expect(error.line).toBeGreaterThanOrEqual(1);
    return { records, error: `${error.code} at ${error.offset} line ${error.line}: ${error.message}` };
  }
  return { records };
}

/** Records as comparable data (raw bytes as hex). */
function comparable(outcome: Outcome): unknown {
  return { ...outcome, records: outcome.records.map((r) => (r.ok ? r : { ...r, raw: r.raw.toString('hex') })) };
}

/** Every record numbered 1, 2, 3... in order; every failure with a documented code and a reason. */
function expectAccounted(outcome: Outcome): void {
  outcome.records.forEach((record, index) => {
    expect(record.recordNumber).toBe(index + 1);
    expect(record.line).toBeGreaterThanOrEqual(1);
    if (!record.ok) {
      expect(FAILURE_CODES.has(record.code), record.code).toBe(true);
      expect(record.reason.length).toBeGreaterThan(0);
      expect(record.reason).not.toMatch(/TypeError|RangeError|undefined|NaN/);
    }
  });
}

/** Text that survives UTF-8 encoding unchanged (no lone surrogates). */
const text = (maxLength: number) => fc.string({ unit: 'binary', maxLength }).filter((s) => Buffer.from(s, 'utf8').toString('utf8') === s);
const jsonValue = fc.jsonValue({ maxDepth: 3 }).filter((v) => Buffer.byteLength(JSON.stringify(v)) < 400);
const lineEnd = fc.constantFrom('\n', '\r\n');

// ---------------------------------------------------------------------------------------------
// NDJSON

type NdjsonLine = { kind: 'json'; value: unknown; pad: string } | { kind: 'other'; text: string } | { kind: 'blank'; text: string };
const ndjsonLine: fc.Arbitrary<NdjsonLine> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('json' as const), value: jsonValue, pad: fc.constantFrom('', ' ', '\t', '  ') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('other' as const), text: text(40).map((s) => s.replace(/[\r\n]/g, '')) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('blank' as const), text: fc.constantFrom('', ' ', '\t', ' \t ') }) },
);

function ndjsonUpload(lines: readonly NdjsonLine[], ends: readonly string[], finalEnd: boolean, bom: boolean): { bytes: Buffer; expected: unknown[] } {
  const parts: string[] = [];
  const expected: unknown[] = [];
  lines.forEach((line, i) => {
    const content = line.kind === 'json' ? `${line.pad}${JSON.stringify(line.value)}${line.pad}` : line.text;
    parts.push(content, i < lines.length - 1 || finalEnd ? (ends[i % ends.length] as string) : '');
    if (/^[ \t]*$/.test(content)) return; // a blank line is no record
    const bytes = Buffer.from(content, 'utf8');
    if (bytes.length > 512) expected.push('too_large');
    else {
      const decoded = decodeRecord(bytes, { maxBytes: 512, maxDepth: 8 });
      expected.push(decoded.ok ? { value: decoded.value } : decoded.code);
    }
  });
  return { bytes: Buffer.concat([bom ? BOM : Buffer.alloc(0), Buffer.from(parts.join(''), 'utf8')]), expected };
}

// ---------------------------------------------------------------------------------------------
// CSV

interface CsvUpload {
  columns: string[];
  rows: { fields: string[]; quote: boolean[] }[];
}
const csvUpload: fc.Arbitrary<CsvUpload> = fc
  .uniqueArray(
    text(8).filter((name) => name.trim() !== ''),
    { minLength: 1, maxLength: 4 },
  )
  .chain((columns) =>
    fc.record({
      columns: fc.constant(columns),
      rows: fc.array(
        fc.record({
          fields: fc.array(text(12), { minLength: columns.length, maxLength: columns.length }),
          quote: fc.array(fc.boolean(), { minLength: columns.length, maxLength: columns.length }),
        }),
        { maxLength: 8 },
      ),
    }),
  );

function csvField(value: string, quote: boolean, delimiter = ','): string {
  // Quoted when asked, and whenever the text needs it (a lone empty field would make an empty line).
  const needs = /["\r\n]/.test(value) || value.includes(delimiter) || value === '';
  return quote || needs ? `"${value.replaceAll('"', '""')}"` : value;
}

function csvBytes(upload: CsvUpload, ends: readonly string[], finalEnd: boolean, bom: boolean, delimiter = ','): Buffer {
  const lines = [upload.columns, ...upload.rows.map((row) => row.fields)].map((fields, r) =>
    fields.map((field, c) => csvField(field, r === 0 ? false : (upload.rows[r - 1]?.quote[c] ?? false), delimiter)).join(delimiter),
  );
  const text = lines.map((line, i) => `${line}${i < lines.length - 1 || finalEnd ? (ends[i % ends.length] as string) : ''}`).join('');
  return Buffer.concat([bom ? BOM : Buffer.alloc(0), Buffer.from(text, 'utf8')]);
}

function csvObject(columns: readonly string[], fields: readonly string[]): Record<string, string> {
  const value: Record<string, string> = {};
  columns.forEach((name, c) => {
    Object.defineProperty(value, name, { value: fields[c], enumerable: true, writable: true, configurable: true });
  });
  return value;
}

// ---------------------------------------------------------------------------------------------

/** Same records and the same error whole and in the chunks at `cuts`; returns the whole outcome. */
async function sameWholeAndChunked(reader: Reader, bytes: Uint8Array, cuts: readonly number[]): Promise<Outcome> {
  const whole = await read(reader, bytes);
  const chunked = await read(reader, bytes, cuts);
  expect(comparable(chunked), `cut at [${cuts.join(', ')}] of ${Buffer.from(bytes).toString('hex')}`).toEqual(comparable(whole));
  expectAccounted(whole);
  return whole;
}

/** Bytes with their cut points, for the readers. */
const withCuts = <T extends { bytes: Buffer }>(upload: fc.Arbitrary<T>) =>
  upload.chain((generated) => fc.tuple(fc.constant(generated), cutsArbitrary(generated.bytes.length)));

/** Arbitrary bytes, and well-formed uploads of the format with bytes changed, inserted or cut off. */
function damaged(wellFormed: fc.Arbitrary<Buffer>): fc.Arbitrary<{ bytes: Buffer }> {
  const edit = fc.tuple(
    fc.nat(),
    fc.constantFrom(0x22, 0x2c, 0x0a, 0x0d, 0x5b, 0x5d, 0x7b, 0x7d, 0x5c, 0x20, 0xef, 0xbb, 0xbf, 0xff, 0xc3, 0x00),
    fc.boolean(),
  );
  return fc.oneof(
    fc.uint8Array({ maxLength: 120 }).map((bytes) => ({ bytes: Buffer.from(bytes) })),
    fc.tuple(wellFormed, fc.array(edit, { maxLength: 4 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean()).map(([base, edits, keep, truncate]) => {
      let bytes = Buffer.from(base);
      for (const [at, byte, insert] of edits) {
        const i = bytes.length === 0 ? 0 : at % bytes.length;
        bytes = insert
          ? Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)])
          : Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i + 1)]);
      }
      if (truncate) bytes = bytes.subarray(0, Math.floor(bytes.length * keep));
      return { bytes };
    }),
  );
}

const ndjsonBytes = fc
  .tuple(fc.array(ndjsonLine, { maxLength: 8 }), fc.array(lineEnd, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.boolean())
  .map(([lines, ends, finalEnd, bom]) => ndjsonUpload(lines, ends, finalEnd, bom));
const csvGenerated = fc
  .tuple(csvUpload, fc.array(fc.constantFrom('\n', '\r\n', '\r'), { minLength: 1, maxLength: 3 }), fc.boolean(), fc.boolean())
  .map(([upload, ends, finalEnd, bom]) => ({ upload, bytes: csvBytes(upload, ends, finalEnd, bom) }));
const jsonArrayGenerated = fc
  .tuple(fc.array(jsonValue, { maxLength: 8 }), fc.array(fc.constantFrom('', ' ', '\n', '\r\n  ', '\t'), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([values, spaces, bom]) => {
    const space = (i: number) => spaces[i % spaces.length] as string;
    const body = values.map((value, i) => `${space(i)}${JSON.stringify(value)}${space(i + 1)}`).join(',');
    const text = `${space(3)}[${body}${values.length === 0 ? space(2) : ''}]${space(5)}`;
    return { values, bytes: Buffer.concat([bom ? BOM : Buffer.alloc(0), Buffer.from(text, 'utf8')]) };
  });

describe('upload readers, property-based', () => {
  it('NDJSON: one record per non-blank line, as decodeRecord reads the line, under any chunking', async () => {
    await checkAsyncProperty(
      'NDJSON generated uploads',
      300,
      fc.asyncProperty(withCuts(ndjsonBytes), async ([upload, cuts]) => {
        const outcome = await sameWholeAndChunked(READERS.ndjson, upload.bytes, cuts);
        expect(outcome.error).toBeUndefined();
        expect(outcome.records.map((r) => (r.ok ? { value: r.value } : r.code))).toEqual(upload.expected);
      }),
    );
  });

  it('CSV: the rows written, quotes, delimiters and line breaks inside fields included, under any chunking', async () => {
    await checkAsyncProperty(
      'CSV generated uploads',
      300,
      fc.asyncProperty(withCuts(csvGenerated), async ([{ upload, bytes }, cuts]) => {
        const outcome = await sameWholeAndChunked(READERS.csv, bytes, cuts);
        expect(outcome.error).toBeUndefined();
        expect(outcome.records.map((r) => (r.ok ? r.value : `${r.code}: ${r.reason}`))).toEqual(
          upload.rows.map((row) => csvObject(upload.columns, row.fields)),
        );
      }),
    );
  });

  it('CSV with another delimiter (semicolon, tab, pipe, space, NUL): the rows written, under any chunking', async () => {
    const generated = fc
      .tuple(csvUpload, fc.constantFrom(';', '\t', '|', ' ', '\u0000'), fc.constantFrom('\n', '\r\n'), fc.boolean())
      .map(([upload, delimiter, end, finalEnd]) => ({ upload, delimiter, bytes: csvBytes(upload, [end], finalEnd, false, delimiter) }));
    await checkAsyncProperty(
      'CSV generated uploads with other delimiters',
      300,
      fc.asyncProperty(withCuts(generated), async ([{ upload, delimiter, bytes }, cuts]) => {
        const outcome = await sameWholeAndChunked((source) => parseCsv(source, { maxRecordBytes: 512, delimiter }), bytes, cuts);
        expect(outcome.error).toBeUndefined();
        expect(outcome.records.map((r) => (r.ok ? r.value : `${r.code}: ${r.reason}`))).toEqual(
          upload.rows.map((row) => csvObject(upload.columns, row.fields)),
        );
      }),
    );
  });

  it('JSON array: one record per element, under any chunking', async () => {
    await checkAsyncProperty(
      'JSON array generated uploads',
      300,
      fc.asyncProperty(withCuts(jsonArrayGenerated), async ([upload, cuts]) => {
        const outcome = await sameWholeAndChunked(READERS['json-array'], upload.bytes, cuts);
        expect(outcome.error).toBeUndefined();
        expect(outcome.records.map((r) => (r.ok ? JSON.stringify(r.value) : `${r.code}: ${r.reason}`))).toEqual(upload.values.map((v) => JSON.stringify(v)));
      }),
    );
  });

  it('small record limits: every line, row or element is still one record (too_large when over), under any chunking', async () => {
    const limits = fc.record(
      { maxRecordBytes: fc.integer({ min: 1, max: 40 }), maxDepth: fc.integer({ min: 1, max: 4 }), maxRecords: fc.integer({ min: 1, max: 6 }) },
      { requiredKeys: ['maxRecordBytes', 'maxDepth'] },
    );
    const upload = fc.oneof(
      ndjsonBytes.map((u) => ({ format: 'ndjson' as const, bytes: u.bytes, count: u.expected.length })),
      csvGenerated.map((u) => ({ format: 'csv' as const, bytes: u.bytes, count: u.upload.rows.length })),
      jsonArrayGenerated.map((u) => ({ format: 'json-array' as const, bytes: u.bytes, count: u.values.length })),
    );
    let tooLarge = 0;
    await checkAsyncProperty(
      'readers with small limits',
      400,
      fc.asyncProperty(withCuts(upload), limits, async ([{ format, bytes, count }, cuts], limit) => {
        const reader: Reader =
          format === 'ndjson'
            ? (source) => parseNdjson(source, limit)
            : format === 'csv'
              ? (source) => parseCsv(source, limit)
              : (source) => parseJsonArray(source, limit);
        const outcome = await sameWholeAndChunked(reader, bytes, cuts);
        // The CSV header over the limit refuses the upload; past maxRecords the upload stops there; otherwise every record is there.
        if (outcome.error?.startsWith('invalid_csv_header')) expect(outcome.records).toEqual([]);
        else if (limit.maxRecords !== undefined && count > limit.maxRecords) {
          expect(outcome.error).toMatch(/^too_many_records/);
          expect(outcome.records.length).toBe(limit.maxRecords);
        } else {
          expect(outcome.error).toBeUndefined();
          expect(outcome.records.length).toBe(count);
        }
        for (const record of outcome.records) {
          if (!record.ok && record.code === 'too_large') {
            tooLarge++;
            expect(record.bytes).toBeGreaterThan(limit.maxRecordBytes);
            expect(record.raw.length).toBeLessThanOrEqual(Math.min(1024, limit.maxRecordBytes));
          } else expect(record.bytes).toBeLessThanOrEqual(limit.maxRecordBytes);
        }
      }),
    );
    process.stdout.write(`[fuzz] readers with small limits: ${tooLarge} records over the limit\n`);
    expect(tooLarge).toBeGreaterThan(0);
  });

  for (const [format, wellFormed] of [
    ['ndjson', ndjsonBytes.map((u) => u.bytes)],
    ['csv', csvGenerated.map((u) => u.bytes)],
    ['json-array', jsonArrayGenerated.map((u) => u.bytes)],
  ] as const) {
    it(`${format}: arbitrary, damaged and truncated bytes give records and at most an UploadFormatError, the same under any chunking`, async () => {
      await checkAsyncProperty(
        `${format} damaged uploads`,
        400,
        fc.asyncProperty(withCuts(damaged(wellFormed)), async ([{ bytes }, cuts]) => {
          await sameWholeAndChunked(READERS[format], bytes, cuts);
        }),
      );
    });
  }
});

describe('upload reader regressions found by fuzzing', () => {
  it('skips an NDJSON blank line longer than maxRecordBytes, as a short one (found: " \\t " with a limit of 1 byte was a too_large record)', async () => {
    const reader: Reader = (source) => parseNdjson(source, { maxRecordBytes: 1 });
    for (const text of [' \t ', ' \t \r\n1\n', `${' '.repeat(5000)}\r\n2\n${'\t'.repeat(3)}`, `3\n${' '.repeat(10)}x\n`]) {
      const bytes = Buffer.from(text);
      for (const cuts of [[], [1], [1, 2], Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)]) {
        const outcome = await read(
          reader,
          bytes,
          cuts.filter((c) => c < bytes.length),
        );
        expect(
          outcome.records.map((r) => (r.ok ? r.value : r.code)),
          JSON.stringify(text),
        ).toEqual(text.startsWith('3') ? [3, 'too_large'] : text.includes('2') ? [2] : text.includes('1') ? [1] : []);
      }
    }
  });
});
