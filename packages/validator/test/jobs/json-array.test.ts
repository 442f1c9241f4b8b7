import { parseJsonArray, type UploadLimits } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
import { bytesOf, outcome, sameUnderEveryCut, show } from './helpers.js';

const jsonArray =
  (limits: UploadLimits = {}) =>
  (source: AsyncIterable<Uint8Array>) =>
    parseJsonArray(source, limits);

describe('parseJsonArray', () => {
  it('reads the elements of a top-level array, whatever the chunk boundaries', async () => {
    // Strings holding commas, brackets, escaped quotes and a final backslash; nesting; scalars.
    const input = bytesOf('\uFEFF [\n  {"a": "x,]}", "b": [1, {"c": "\\"],"}]},\n  "ção\\\\", 12.5 ,null,\n  [[]]\n]\n');
    const { records, error } = await sameUnderEveryCut(jsonArray(), input);
    expect(error).toBeUndefined();
    expect(records).toEqual([
      { recordNumber: 1, ok: true, value: { a: 'x,]}', b: [1, { c: '"],' }] }, bytes: 38, line: 2 },
      { recordNumber: 2, ok: true, value: 'ção\\', bytes: 9, line: 3 },
      { recordNumber: 3, ok: true, value: 12.5, bytes: 4, line: 3 },
      { recordNumber: 4, ok: true, value: null, bytes: 4, line: 3 },
      { recordNumber: 5, ok: true, value: [[]], bytes: 4, line: 4 },
    ]);
    expect((await sameUnderEveryCut(jsonArray(), bytesOf('[]'))).records).toEqual([]);
    expect((await sameUnderEveryCut(jsonArray(), bytesOf(' [ \n ] \n'))).records).toEqual([]);
  });

  it('fails a malformed element and goes on at the next top-level comma', async () => {
    const input = bytesOf('[{"a":1}, {"a":}, {"b": [1, 2}, {x}, {"c": 3}]');
    const { records, error } = await sameUnderEveryCut(jsonArray(), input);
    expect(error).toBeUndefined();
    expect(records.map(show)).toEqual([
      { a: 1 },
      "invalid_json: invalid JSON at byte 5: expected a value, found '}'",
      "invalid_json: invalid JSON at byte 11: expected ',' or ']', found '}'", // '}' closes up to its '{'
      "invalid_json: invalid JSON at byte 1: expected a property name in double quotes, found 'x'",
      { c: 3 },
    ]);
    expect(records[1]).toMatchObject({ recordNumber: 2, raw: bytesOf('{"a":}'), bytes: 6, line: 1 });
  });

  it('after a string left open, goes on at the next line or the next top-level comma', async () => {
    // One record per line: the broken record ends at its line break.
    const perLine = bytesOf('[{"a": 1},\n {"a": "x},\n {"b": 2}\n, {"c": 3}, "d\n]');
    const { records, error } = await sameUnderEveryCut(jsonArray(), perLine);
    expect(error).toBeUndefined();
    expect(records.map(show)).toEqual([
      { a: 1 },
      'truncated_json: truncated JSON: input ends inside a string at byte 10',
      { b: 2 },
      { c: 3 },
      'truncated_json: truncated JSON: input ends inside a string at byte 2',
    ]);
    // Pretty-printed: the string ends at the line break, the element at its closing brace.
    const pretty = bytesOf('[\n  {\n    "a": "x,\n    "b": 1\n  },\n  {\n    "c": 2\n  }\n]\n');
    const second = await sameUnderEveryCut(jsonArray(), pretty);
    expect(second.error).toBeUndefined();
    expect(second.records.map(show)).toEqual(['invalid_json: invalid JSON at byte 14: control character U+000A inside a string (escape it)', { c: 2 }]);
  });

  it('fails empty elements: two commas in a row, a trailing comma', async () => {
    const { records } = await sameUnderEveryCut(jsonArray(), bytesOf('[1,,2, ]'));
    expect(records.map(show)).toEqual([1, 'empty: element is empty: nothing before the comma', 2, "empty: element is empty: a trailing comma before ']'"]);
    expect(records.map((r) => r.recordNumber)).toEqual([1, 2, 3, 4]);
  });

  it('fails an element with bad UTF-8 at its byte', async () => {
    const { records } = await sameUnderEveryCut(jsonArray(), bytesOf([...bytesOf('["ok", "a'), 0xc0, 0xaf, ...bytesOf('", 1]')]));
    expect(records.map(show)).toEqual(['ok', 'invalid_utf8: invalid UTF-8 at byte 2', 1]);
  });

  it('skips an element over the size limit, trailing whitespace not counted', async () => {
    const limits = { maxRecordBytes: 12 };
    const input = bytesOf(`["1234567890"    \n, ${JSON.stringify('x'.repeat(40))}, {"a": [1, 2, 3, 4, 5]}, 7]`);
    const { records } = await sameUnderEveryCut(jsonArray(limits), input);
    expect(records.map(show)).toEqual([
      '1234567890',
      'too_large: record is 42 bytes, over the limit of 12',
      'too_large: record is 22 bytes, over the limit of 12',
      7,
    ]);
    expect(records[1]).toMatchObject({ rawTruncated: true, raw: bytesOf('"xxxxxxxxxxx') });
  });

  it('fails an element nested past the limit, and follows nesting of any depth', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const { records } = await outcome(jsonArray({ maxDepth: 3 }), bytesOf(`[[[1]], ${deep}, {"a": [[2]]}]`), [7, 100, 5000]);
    expect(records.map(show)).toEqual([[[1]], 'too_deep: nesting deeper than 3 levels at byte 3', { a: [[2]] }]);
  });

  it('fails the upload when it is not one array, naming the byte and what to do', async () => {
    const cases: [string, string][] = [
      [
        '{"a": 1}\n{"a": 2}\n',
        "not_an_array: the upload starts with '{' at byte 0 (line 1), not '[': a JSON array upload is one top-level array of records (for one JSON object per line, upload NDJSON)",
      ],
      [
        '\uFEFF\n id,name\n',
        "not_an_array: the upload starts with 'i' at byte 5 (line 2), not '[': a JSON array upload is one top-level array of records (is it CSV or NDJSON?)",
      ],
      ['  \n', "empty_upload: the upload is empty: a JSON array upload starts with '['"],
      [
        '[1] [2]',
        "content_after_array: unexpected '[' after the end of the JSON array, at byte 4 (line 1): an upload is one array; for one record per line, upload NDJSON",
      ],
    ];
    for (const [text, message] of cases) {
      const { records, error } = await sameUnderEveryCut(jsonArray(), bytesOf(text));
      expect(error).toBe(`UploadFormatError ${message}`);
      expect(records.map(show)).toEqual(text.startsWith('[1]') ? [1] : []);
    }
  });

  it('fails the upload when it ends inside the array, after the complete records', async () => {
    const cases: [string, unknown[], string][] = [
      [
        '[{"a": 1},\n {"b": [2',
        [{ a: 1 }],
        'truncated_array: the upload ends at byte 20 inside record 2, which starts at byte 12 (line 2), before the JSON array is closed: upload the whole file if it was cut short, or look for an unclosed quote or bracket there',
      ],
      [
        '[1, "abc',
        [1],
        'truncated_array: the upload ends at byte 8 inside a string that starts at byte 4 (line 1), in record 2, before the JSON array is closed: upload the whole file if it was cut short, or look for an unclosed quote or bracket there',
      ],
      [
        '[1, 2, ',
        [1, 2],
        "truncated_array: the upload ends at byte 7 after 2 records, before the array's closing ']', before the JSON array is closed: upload the whole file if it was cut short, or look for an unclosed quote or bracket there",
      ],
    ];
    for (const [text, values, message] of cases) {
      const { records, error } = await sameUnderEveryCut(jsonArray(), bytesOf(text));
      expect(records.map(show)).toEqual(values);
      expect(error).toBe(`UploadFormatError ${message}`);
    }
  });

  it('fails the upload past maxRecords', async () => {
    const { records, error } = await outcome(jsonArray({ maxRecords: 2 }), bytesOf('[1,2,\n3]'));
    expect(records.map(show)).toEqual([1, 2]);
    expect(error).toContain('too_many_records: the upload has more than 2 records (record 3 starts at byte 6, line 2)');
  });
});
