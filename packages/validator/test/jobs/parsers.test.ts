import { detectFormat, parseUpload, UploadFormatError } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';
import { bytesOf, collect, show } from './helpers.js';

describe('detectFormat', () => {
  it('takes a specific content type first, then the extension, then the first bytes', () => {
    const csvBytes = bytesOf('id,name\n1,a\n');
    expect(detectFormat(undefined, 'application/x-ndjson; charset=utf-8', csvBytes)).toBe('ndjson');
    expect(detectFormat('orders.json', 'text/csv', bytesOf('[1]'))).toBe('csv');
    expect(detectFormat('orders.JSONL', 'application/octet-stream', bytesOf('[1]\n[2]\n'))).toBe('ndjson');
    expect(detectFormat('orders.csv', undefined, bytesOf('{"a":1}'))).toBe('csv');
    expect(detectFormat('export.csv', 'application/vnd.ms-excel', csvBytes)).toBe('csv');
  });

  it('tells a JSON array from NDJSON by the first significant byte', () => {
    expect(detectFormat('orders.json', 'application/json', bytesOf('\uFEFF \r\n [{"a":1}]'))).toBe('json-array');
    expect(detectFormat('orders.json', 'application/json', bytesOf('{"a":1}\n{"a":2}\n'))).toBe('ndjson');
    expect(detectFormat(undefined, undefined, bytesOf('  [1, 2]'))).toBe('json-array');
    expect(detectFormat(undefined, undefined, bytesOf('{"a":1}'))).toBe('ndjson');
    expect(detectFormat(undefined, 'text/plain', csvLike())).toBe('csv');
    expect(detectFormat(undefined, undefined, new Uint8Array())).toBe('csv');
    // Named JSON but neither: the JSON array parser will say what is wrong.
    expect(detectFormat('data.json', undefined, bytesOf('"just a string"'))).toBe('json-array');
  });

  it('refuses a spreadsheet with what to do', () => {
    expect(() => detectFormat('orders.csv', 'application/vnd.ms-excel', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14]))).toThrow(UploadFormatError);
    expect(() => detectFormat('orders.xls', undefined, new Uint8Array([0xd0, 0xcf, 0x11, 0xe0]))).toThrow(
      'the upload is an .xls spreadsheet, not text: export it as CSV (UTF-8), NDJSON or a JSON array and upload that',
    );
  });
});

describe('parseUpload', () => {
  it('reads each format with the same record shape', async () => {
    expect((await collect(parseUpload([bytesOf('{"a":1}\n')], 'ndjson'))).map(show)).toEqual([{ a: 1 }]);
    expect((await collect(parseUpload([bytesOf('a\n1\n')], 'csv', { inferTypes: true }))).map(show)).toEqual([{ a: 1 }]);
    expect((await collect(parseUpload([bytesOf('[{"a":1}]')], 'json-array'))).map(show)).toEqual([{ a: 1 }]);
  });
});

function csvLike(): Uint8Array {
  return bytesOf('name;city\nAna;Porto\n');
}
