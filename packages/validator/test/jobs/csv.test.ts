import { type CsvOptions, parseCsv } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
import { bytesOf, collect, outcome, sameUnderEveryCut, show } from './helpers.js';

const csv =
  (options: CsvOptions = {}) =>
  (source: AsyncIterable<Uint8Array>) =>
    parseCsv(source, options);

describe('parseCsv', () => {
  it('reads RFC 4180 records as objects keyed by the header, whatever the chunk boundaries', async () => {
    const input = bytesOf(
      '\uFEFFid,name,note\r\n' +
        '1,Ana,plain\r\n' +
        '2,"Silva, João","say ""hi"""\r\n' +
        '\r\n' + // an empty line is skipped
        '3,"two\r\nlines",""\r\n' +
        '4,ção,x', // no final line break
    );
    const { records, error } = await sameUnderEveryCut(csv(), input);
    expect(error).toBeUndefined();
    expect(records).toEqual([
      { recordNumber: 1, ok: true, value: { id: '1', name: 'Ana', note: 'plain' }, bytes: 11, line: 2 },
      { recordNumber: 2, ok: true, value: { id: '2', name: 'Silva, João', note: 'say "hi"' }, bytes: 29, line: 3 },
      { recordNumber: 3, ok: true, value: { id: '3', name: 'two\r\nlines', note: '' }, bytes: 17, line: 5 },
      { recordNumber: 4, ok: true, value: { id: '4', name: 'ção', note: 'x' }, bytes: 9, line: 7 },
    ]);
  });

  it('ends records at LF or a lone CR too', async () => {
    const { records } = await sameUnderEveryCut(csv(), bytesOf('a,b\n1,2\r3,"x\ry"\n\n5,6\n'));
    expect(records.map((r) => [r.line, show(r)])).toEqual([
      [2, { a: '1', b: '2' }],
      [3, { a: '3', b: 'x\ry' }],
      [6, { a: '5', b: '6' }],
    ]);
  });

  it('fails a ragged row with the counts and goes on', async () => {
    const { records, error } = await sameUnderEveryCut(csv(), bytesOf('a,b,c\n1,2,3\n1,2\n1,2,3,4\n,,\n'));
    expect(error).toBeUndefined();
    expect(records.map(show)).toEqual([
      { a: '1', b: '2', c: '3' },
      'too_few_fields: record has 2 fields, the header has 3 columns',
      'too_many_fields: record has 4 fields, the header has 3 columns',
      { a: '', b: '', c: '' },
    ]);
    expect(records[2]).toMatchObject({ recordNumber: 3, line: 4, raw: bytesOf('1,2,3,4'), bytes: 7 });
  });

  it('fails a record with text after a closing quote, and keeps a quote inside an unquoted field', async () => {
    const { records } = await sameUnderEveryCut(csv(), bytesOf('a,b\n"x"y,1\n5\'10",2\nção,"q" \n'));
    expect(records.map(show)).toEqual([
      `invalid_quote: invalid quote at byte 3: a quoted field must be followed by ',' or the end of the line, found 'y' (write a quote inside quotes as "")`,
      { a: '5\'10"', b: '2' },
      `invalid_quote: invalid quote at byte 9: a quoted field must be followed by ',' or the end of the line, found ' ' (write a quote inside quotes as "")`,
    ]);
  });

  it('fails the last record when the upload ends inside quotes, naming the line of the quote', async () => {
    const { records, error } = await sameUnderEveryCut(csv(), bytesOf('a,b\n1,2\n3,"open\nstill open\n'));
    expect(error).toBeUndefined();
    expect(records.map(show)).toEqual([
      { a: '1', b: '2' },
      'unterminated_quote: a quoted field opened at line 3 (byte 2 of the record) is never closed: the upload ends inside quotes',
    ]);
    expect(records[1]).toMatchObject({ line: 3, raw: bytesOf('3,"open\nstill open\n') });
  });

  it('fails a record with bad UTF-8, at its byte', async () => {
    const { records } = await sameUnderEveryCut(csv(), bytesOf([...bytesOf('a,b\nok,1\n"x'), 0xff, ...bytesOf('",2\nç,3')]));
    expect(records.map(show)).toEqual([{ a: 'ok', b: '1' }, 'invalid_utf8: invalid UTF-8 at byte 2', { a: 'ç', b: '3' }]);
  });

  it('skips a record over the size limit, line breaks inside quotes included, without holding it', async () => {
    const input = bytesOf(`a,b\n1,"${'x\n'.repeat(20)}"\n2,ok\n`);
    const { records } = await sameUnderEveryCut(csv({ maxRecordBytes: 16 }), input);
    expect(records.map(show)).toEqual(['too_large: record is 44 bytes, over the limit of 16', { a: '2', b: 'ok' }]);
    expect(records[0]).toMatchObject({ line: 2, rawTruncated: true, raw: bytesOf('1,"x\nx\nx\nx\nx\nx\nx') });
    expect(records[1]).toMatchObject({ recordNumber: 2, line: 23 });
  });

  it('fails the upload on an empty or repeated column name, saying where and what to do', async () => {
    const cases: [string, string][] = [
      ['id,,name\n1,2,3\n', 'empty_column_name: the CSV header (line 1) has no name for column 2: name every column'],
      ['\uFEFF\n\nid, \n', 'empty_column_name: the CSV header (line 3) has no name for column 2: name every column'],
      ['id,name,"id"\n', 'duplicate_column_name: the CSV header (line 1) names column 3 "id", like column 1: column names must be unique'],
      ['id,"name\n', 'invalid_csv_header: the CSV header (line 1) opens a quoted field at line 1 that is never closed: close the quote'],
      ['', 'empty_upload: the upload is empty: a CSV upload starts with a header line naming the columns'],
    ];
    for (const [text, message] of cases) {
      const { records, error } = await sameUnderEveryCut(csv(), bytesOf(text));
      expect(records).toEqual([]);
      expect(error).toBe(`UploadFormatError ${message}`);
    }
    const error = await collect(parseCsv([bytesOf('\uFEFF\r\nid,id\n')])).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'duplicate_column_name', offset: 5, line: 2 });
  });

  it('gives no records for a header alone', async () => {
    expect(await collect(parseCsv([bytesOf('a,b\r\n')]))).toEqual([]);
  });

  it('keeps strings by default and infers numbers, booleans and null on request', async () => {
    const strings = await collect(parseCsv([bytesOf('v,w\n42,true\n,null\n')]));
    expect(strings.map(show)).toEqual([
      { v: '42', w: 'true' },
      { v: '', w: 'null' },
    ]);
    const inferred = await collect(
      parseCsv([bytesOf('v,w\n42,-1.5e3\n007,12345678901234567890\n1e400,true\nFALSE,null\n,""\n"42", 1\nNaN,0.5\n')], { inferTypes: true }),
    );
    expect(inferred.map(show)).toEqual([
      { v: 42, w: -1500 },
      { v: '007', w: '12345678901234567890' },
      { v: '1e400', w: true },
      { v: false, w: null },
      { v: null, w: '' },
      { v: '42', w: ' 1' },
      { v: 'NaN', w: 0.5 },
    ]);
  });

  it('takes another delimiter, and refuses one that cannot work', async () => {
    const records = await collect(parseCsv([bytesOf('a;b\n"1;2";3\n')], { delimiter: ';' }));
    expect(records.map(show)).toEqual([{ a: '1;2', b: '3' }]);
    expect((await collect(parseCsv([bytesOf('a\tb\n1\t2\n')], { delimiter: '\t' }))).map(show)).toEqual([{ a: '1', b: '2' }]);
    await expect(collect(parseCsv([], { delimiter: '"' }))).rejects.toThrow(
      'the CSV delimiter must be one ASCII character other than a quote or a line break, got "\\""',
    );
  });

  it('makes a "__proto__" column an own property, as JSON.parse would', async () => {
    const [record] = await collect(parseCsv([bytesOf('__proto__,a\nx,1\n')]));
    expect(record?.ok && Object.keys(record.value as object)).toEqual(['__proto__', 'a']);
    expect(record?.ok && Object.getPrototypeOf(record.value)).toBe(Object.prototype);
  });

  it('fails the upload past maxRecords', async () => {
    const { records, error } = await outcome(csv({ maxRecords: 1 }), bytesOf('a\n1\n2\n'));
    expect(records.map(show)).toEqual([{ a: '1' }]);
    expect(error).toContain('too_many_records: the upload has more than 1 records (record 2 starts at byte 4, line 3)');
  });
});
