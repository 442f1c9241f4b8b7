import { Readable } from 'node:stream';
import { parseNdjson, UploadFormatError, type UploadLimits } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
import { bytesOf, chunked, collect, outcome, sameUnderEveryCut, show } from './helpers.js';

const ndjson =
  (limits: UploadLimits = {}) =>
  (source: AsyncIterable<Uint8Array>) =>
    parseNdjson(source, limits);

describe('parseNdjson', () => {
  it('reads one JSON value per line, whatever the chunk boundaries', async () => {
    // BOM, CRLF and LF, blank lines (empty, spaces, a lone CR), a multi-byte character, no final newline.
    const input = bytesOf('\uFEFF{"a":1}\r\n\n  \n{"nome":"ção"}\n\r\n[1,2]\r\n"x"');
    const { records, error } = await sameUnderEveryCut(ndjson(), input);
    expect(error).toBeUndefined();
    expect(records).toEqual([
      { recordNumber: 1, ok: true, value: { a: 1 }, bytes: 7, line: 1 },
      { recordNumber: 2, ok: true, value: { nome: 'ção' }, bytes: 16, line: 4 },
      { recordNumber: 3, ok: true, value: [1, 2], bytes: 5, line: 6 },
      { recordNumber: 4, ok: true, value: 'x', bytes: 3, line: 7 },
    ]);
  });

  it('fails a malformed line with the reason and goes on with the next', async () => {
    const input = bytesOf('{"a":1}\n{"a":}\n{"b":\n[1,2,]\n{"c":3}\n');
    const { records, error } = await sameUnderEveryCut(ndjson(), input);
    expect(error).toBeUndefined();
    expect(records.map(show)).toEqual([
      { a: 1 },
      "invalid_json: invalid JSON at byte 5: expected a value, found '}'",
      'truncated_json: truncated JSON: input ends with 1 unclosed bracket at byte 5',
      "invalid_json: invalid JSON at byte 5: unexpected ']' after ',' (a trailing comma?)",
      { c: 3 },
    ]);
    expect(records[1]).toMatchObject({ recordNumber: 2, ok: false, raw: bytesOf('{"a":}'), bytes: 6, line: 2 });
  });

  it('fails a line with bad UTF-8 and says at which byte of the line', async () => {
    const input = bytesOf([...bytesOf('{"a":"ok"}\n{"a":"'), 0xc3, 0x28, ...bytesOf('"}\r\n{"a":"'), 0xe2, 0x82, ...bytesOf('\n"ção"\n')]);
    const { records } = await sameUnderEveryCut(ndjson(), input);
    expect(records.map(show)).toEqual([{ a: 'ok' }, 'invalid_utf8: invalid UTF-8 at byte 6', 'invalid_utf8: truncated UTF-8 sequence at byte 6', 'ção']);
    expect(records[1]).toMatchObject({ raw: bytesOf([...bytesOf('{"a":"'), 0xc3, 0x28, 0x22, 0x7d]) });
  });

  it('keeps the last line when the upload ends without a newline, even cut short', async () => {
    const { records } = await sameUnderEveryCut(ndjson(), bytesOf('{"a":1}\n{"a":[1,2'));
    expect(records.map(show)).toEqual([{ a: 1 }, 'truncated_json: truncated JSON: input ends with 2 unclosed brackets at byte 9']);
  });

  it('skips a line over the size limit to its newline, keeping its first bytes', async () => {
    const limits = { maxRecordBytes: 10 };
    // 10 bytes exactly (with and without CRLF) pass; 11 do not.
    const input = bytesOf('"12345678"\r\n"123456789"\n"12345678"\n"1234567890123456789"\r\n{}');
    const { records } = await sameUnderEveryCut(ndjson(limits), input);
    expect(records.map(show)).toEqual([
      '12345678',
      'too_large: record is 11 bytes, over the limit of 10',
      '12345678',
      'too_large: record is 21 bytes, over the limit of 10',
      {},
    ]);
    expect(records[3]).toMatchObject({ recordNumber: 4, bytes: 21, line: 4, rawTruncated: true, raw: bytesOf('"123456789') });
  });

  it('applies the depth limit of decodeRecord', async () => {
    const records = await collect(parseNdjson(chunked(bytesOf('[[[1]]]\n[[[[1]]]]\n'), []), { maxDepth: 3 }));
    expect(records.map(show)).toEqual([[[[1]]], 'too_deep: nesting deeper than 3 levels at byte 3']);
  });

  it('fails the upload past maxRecords, after the records before', async () => {
    const { records, error } = await outcome(ndjson({ maxRecords: 2 }), bytesOf('1\n\n2\n3\n'));
    expect(records.map(show)).toEqual([1, 2]);
    expect(error).toBe(
      'UploadFormatError too_many_records: the upload has more than 2 records (record 3 starts at byte 5, line 4): split it into uploads of at most 2 records',
    );
  });

  it('reads a Node stream, text chunks, and nothing from an empty upload', async () => {
    expect((await collect(parseNdjson(Readable.from([Buffer.from('{"a":'), Buffer.from('1}\n2')])))).map(show)).toEqual([{ a: 1 }, 2]);
    expect(await collect(parseNdjson(['{"a":"ç', 'ão"}\n']))).toMatchObject([{ value: { a: 'ção' }, bytes: 13 }]);
    expect(await collect(parseNdjson([]))).toEqual([]);
    expect(await collect(parseNdjson([Buffer.from('\uFEFF\n\n')]))).toEqual([]);
  });

  it('refuses UTF-16, and chunks that are not bytes', async () => {
    const utf16 = Buffer.from('\uFEFF{"a":1}\n', 'utf16le');
    const error = await collect(parseNdjson(chunked(utf16, [1, 2]))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UploadFormatError);
    expect(error).toMatchObject({ code: 'unsupported_encoding', offset: 0, line: 1 });
    await expect(collect(parseNdjson(Readable.from([1, 2], { objectMode: true }) as never))).rejects.toThrow(
      'an upload chunk must be bytes or text, got number (is the stream in object mode?)',
    );
  });

  it('rejects limits that are not positive integers', async () => {
    await expect(collect(parseNdjson([], { maxRecordBytes: 0 }))).rejects.toThrow('maxRecordBytes must be a positive integer, got 0');
    await expect(collect(parseNdjson([], { maxRecords: 1.5 }))).rejects.toThrow('maxRecords must be a positive integer, got 1.5');
  });
});
