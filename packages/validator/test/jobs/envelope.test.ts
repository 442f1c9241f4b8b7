import {
  type DecodedRequest,
  deadLetterPayload,
  decodeBytes,
  decodeDeadLetter,
  decodeRequest,
  decodeResult,
  EnvelopeError,
  encodeDeadLetter,
  encodeRequest,
  encodeResult,
  type IncomingMessage,
  JOB_HEADERS,
  VALIDATION_TOPICS,
} from '@lagscale/validator';
import { describe, expect, it } from 'vitest';

const record = Buffer.from('{"order_id": "ORD-2024-000001", "total": 12.5}');

/** A request as a Kafka consumer hands it over: Buffer keys and values in a Map. */
function consumed(headers: Record<string, string | Buffer>, key: string | Buffer | null = 'job-1:7', value: Buffer | null = record): IncomingMessage {
  return {
    key: typeof key === 'string' ? Buffer.from(key) : key,
    value,
    headers: new Map(Object.entries(headers).map(([k, v]) => [Buffer.from(k), Buffer.isBuffer(v) ? v : Buffer.from(v)])),
  };
}

const good = {
  'lagscale-job': 'job-1',
  'lagscale-record': '7',
  'lagscale-ruleset': 'customer-orders',
  'lagscale-ruleset-version': '3',
  'lagscale-format': 'json',
};

function failure(result: DecodedRequest): string {
  return result.ok ? 'ok' : `${result.code}: ${result.reason}`;
}

describe('request messages', () => {
  it('round-trips a request, the record bytes untouched', () => {
    const message = encodeRequest({ jobId: 'job-1', recordNumber: 7, ruleSet: 'customer-orders', ruleSetVersion: 3, value: record });
    expect(message.key.toString()).toBe('job-1:7');
    expect(message.value).toBe(record);
    expect(Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v.toString()]))).toEqual(good);
    expect(VALIDATION_TOPICS.requests).toBe('validation.requests');
    const expected = { ok: true, jobId: 'job-1', recordNumber: 7, ruleSet: 'customer-orders', ruleSetVersion: 3, value: record };
    // As produced (a plain object of Buffers), as consumed (a Map of Buffers), as [key, value] pairs of strings.
    expect(decodeRequest(message)).toEqual(expected);
    expect(decodeRequest(consumed(good))).toEqual(expected);
    expect(decodeRequest({ key: 'job-1:7', value: record, headers: Object.entries(good) })).toEqual(expected);
  });

  it('leaves the rule set version out to mean the latest', () => {
    const message = encodeRequest({ jobId: 'J.2_x-y', recordNumber: 1, ruleSet: 'orders', value: '{"a":1}' });
    expect(Object.keys(message.headers)).toEqual(['lagscale-job', 'lagscale-record', 'lagscale-ruleset', 'lagscale-format']);
    expect(decodeRequest(message)).toEqual({
      ok: true,
      jobId: 'J.2_x-y',
      recordNumber: 1,
      ruleSet: 'orders',
      ruleSetVersion: undefined,
      value: Buffer.from('{"a":1}'),
    });
  });

  it('gives every malformed request a code and a precise reason', () => {
    const without = (name: string) => Object.fromEntries(Object.entries(good).filter(([k]) => k !== name));
    const cases: [IncomingMessage, string][] = [
      [consumed(good, 'job-1:7', null), 'missing_value: the message has no value (a tombstone?): the value must be the record as JSON'],
      [consumed(without('lagscale-job')), 'missing_header: header lagscale-job is missing'],
      [consumed(without('lagscale-record')), 'missing_header: header lagscale-record is missing'],
      [consumed(without('lagscale-ruleset')), 'missing_header: header lagscale-ruleset is missing'],
      [consumed(without('lagscale-format')), 'missing_header: header lagscale-format is missing'],
      [
        { key: 'job-1:7', value: record, headers: [...Object.entries(good), ['lagscale-record', '8']] },
        'duplicate_header: header lagscale-record appears 2 times: send it once',
      ],
      [
        consumed({ ...good, 'lagscale-job': 'job 1' }),
        `invalid_header: header lagscale-job is "job 1": a job id is 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      ],
      [consumed({ ...good, 'lagscale-job': Buffer.from([0x6a, 0xff]) }), 'invalid_header: header lagscale-job is not valid UTF-8'],
      [{ key: 'job-1:7', value: record, headers: { ...good, 'lagscale-job': null } }, 'invalid_header: header lagscale-job has no value'],
      [consumed({ ...good, 'lagscale-record': '0' }), 'invalid_header: header lagscale-record is "0": it must be the record number, a decimal integer from 1'],
      [
        consumed({ ...good, 'lagscale-record': '07' }),
        'invalid_header: header lagscale-record is "07": it must be the record number, a decimal integer from 1',
      ],
      [
        consumed({ ...good, 'lagscale-record': '9007199254740993' }),
        'invalid_header: header lagscale-record is "9007199254740993": it must be the record number, a decimal integer from 1',
      ],
      [consumed({ ...good, 'lagscale-ruleset': '' }), 'invalid_header: header lagscale-ruleset is "": it must be a rule set name of 1 to 200 characters'],
      [
        consumed({ ...good, 'lagscale-ruleset-version': 'v3' }),
        'invalid_header: header lagscale-ruleset-version is "v3": it must be a version, a decimal integer from 1 (leave the header out for the latest version)',
      ],
      [
        consumed({ ...good, 'lagscale-format': 'avro' }),
        'unsupported_format: header lagscale-format is "avro": the only format is "json" (the value is the record\'s JSON)',
      ],
      [consumed(good, null), 'missing_key: the message has no key: it must be "<job id>:<record number>", here "job-1:7"'],
      [consumed(good, ''), 'missing_key: the message has no key: it must be "<job id>:<record number>", here "job-1:7"'],
      [consumed(good, 'job-1'), 'invalid_key: the key is "job-1": it must be "<job id>:<record number>", here "job-1:7"'],
      [consumed(good, 'job-1:x'), 'invalid_key: the key is "job-1:x": it must be "<job id>:<record number>", here "job-1:7"'],
      [consumed(good, 'a:b:7'), 'invalid_key: the key is "a:b:7": it must be "<job id>:<record number>", here "job-1:7"'],
      [consumed(good, Buffer.from([0xc3, 0x28])), 'invalid_key: the key is not UTF-8: it must be "<job id>:<record number>", here "job-1:7"'],
      [consumed(good, 'job-1:8'), 'key_mismatch: the key "job-1:8" does not match the headers (lagscale-job "job-1", lagscale-record 7): it must be "job-1:7"'],
      [consumed(good, 'job-2:7'), 'key_mismatch: the key "job-2:7" does not match the headers (lagscale-job "job-1", lagscale-record 7): it must be "job-1:7"'],
    ];
    for (const [message, expected] of cases) expect(failure(decodeRequest(message))).toBe(expected);
    // Whatever could be read comes along, so the DLQ entry still belongs to its job.
    expect(decodeRequest(consumed(good, 'job-1:8'))).toMatchObject({ ok: false, jobId: 'job-1', recordNumber: 7 });
    expect(decodeRequest(consumed({ ...good, 'lagscale-record': 'x' }))).toEqual(expect.objectContaining({ jobId: 'job-1' }));
    expect(decodeRequest(consumed({ ...good, 'lagscale-record': 'x' }))).not.toHaveProperty('recordNumber');
    expect(decodeRequest({ value: record })).toMatchObject({ ok: false, code: 'missing_header' });
  });

  it("reads a client's Map of bytes as it reads [name, value] pairs, whatever request came before", () => {
    // The worker's path (a Map of Buffers) reuses what the last request had; pairs take the full reading.
    const variants: [Record<string, string>, string][] = [
      [good, 'job-1:7'],
      [{ ...good, 'lagscale-job': 'job-2', 'lagscale-record': '8' }, 'job-2:8'],
      [{ ...good, 'lagscale-ruleset-version': '4' }, 'job-1:7'],
      [Object.fromEntries(Object.entries(good).filter(([name]) => name !== 'lagscale-ruleset-version')), 'job-1:7'],
      [{ ...good, 'lagscale-record': '9007199254740991' }, 'job-1:9007199254740991'],
      [{ ...good, 'lagscale-record': '9007199254740992' }, 'job-1:9007199254740992'],
      [{ ...good, 'lagscale-record': '9999999999999999' }, 'job-1:9999999999999999'],
      [{ ...good, 'lagscale-record': '07' }, 'job-1:07'],
      [{ ...good, 'lagscale-job': 'jöb' }, 'jöb:7'],
      [{ ...good, 'lagscale-job': 'job-1x' }, 'job-1:7'],
      [{ ...good, 'lagscale-ruleset-version': '0' }, 'job-1:7'],
      [{ ...good, 'lagscale-format': 'JSON' }, 'job-1:7'],
      [{ ...good, 'other-header': 'x' }, 'job-1:7'],
      [good, 'job-1:7 '],
      [good, 'job-1:70'],
    ];
    const pairs = (headers: Record<string, string>): [string, string][] => Object.entries(headers);
    let read = 0;
    for (const [before] of variants) {
      for (const [headers, key] of variants) {
        decodeRequest(consumed(before, key));
        expect(decodeRequest(consumed(headers, key))).toEqual(decodeRequest({ key, value: record, headers: pairs(headers) }));
        read++;
      }
    }
    expect(read).toBe(variants.length ** 2);
    // The same header twice (two Buffers with the same bytes) is refused from a Map too.
    const twice = consumed(good);
    (twice.headers as Map<Buffer, Buffer>).set(Buffer.from('lagscale-record'), Buffer.from('7'));
    expect(failure(decodeRequest(twice))).toBe('duplicate_header: header lagscale-record appears 2 times: send it once');
    expect(decodeRequest(consumed(good))).toEqual({ ok: true, jobId: 'job-1', recordNumber: 7, ruleSet: 'customer-orders', ruleSetVersion: 3, value: record });
  });

  it('refuses to write a request that would not decode', () => {
    const base = { jobId: 'job-1', recordNumber: 1, ruleSet: 'orders', value: record };
    expect(() => encodeRequest({ ...base, jobId: 'a:b' })).toThrow(EnvelopeError);
    expect(() => encodeRequest({ ...base, jobId: 'a:b' })).toThrow(`jobId "a:b" is not a job id`);
    expect(() => encodeRequest({ ...base, recordNumber: 0 })).toThrow('recordNumber must be an integer from 1, got 0');
    expect(() => encodeRequest({ ...base, ruleSetVersion: 1.5 })).toThrow('ruleSetVersion must be an integer from 1, got 1.5');
    expect(() => encodeRequest({ ...base, ruleSet: '' })).toThrow('ruleSet must be 1 to 200 characters, got ""');
  });
});

describe('result messages', () => {
  it('round-trips a result, keyed like its request', () => {
    const result = {
      valid: false,
      violations: [{ ruleId: 'currency.known', severity: 'error' as const, path: '/currency', message: 'is not in the reference list "currencies"' }],
    };
    const message = encodeResult({
      jobId: 'job-1',
      recordNumber: 7,
      ruleSet: { name: 'customer-orders', version: 3 },
      result,
      validatedAt: Date.UTC(2025, 0, 2, 3, 4, 5),
      source: { topic: 'validation.requests', partition: 2, offset: 12345678901234567n },
    });
    expect(message.key.toString()).toBe('job-1:7');
    expect(message.headers[JOB_HEADERS.valid]?.toString()).toBe('false');
    expect(message.headers[JOB_HEADERS.ruleSetVersion]?.toString()).toBe('3');
    expect(decodeResult(message.value)).toEqual({
      v: 1,
      jobId: 'job-1',
      recordNumber: 7,
      ruleSet: { name: 'customer-orders', version: 3 },
      ...result,
      validatedAt: '2025-01-02T03:04:05.000Z',
      source: { topic: 'validation.requests', partition: 2, offset: '12345678901234567' },
    });
    const truncated = encodeResult({
      jobId: 'j',
      recordNumber: 1,
      ruleSet: { name: 'r', version: 1 },
      result: { valid: true, violations: [], truncated: true },
    });
    expect(decodeResult(truncated.value)).toMatchObject({ valid: true, truncated: true });
    expect(decodeResult(truncated.value)).not.toHaveProperty('source');
  });

  it('says which field of a result is wrong', () => {
    const bad = (value: unknown) => () => decodeResult(Buffer.from(JSON.stringify(value)));
    const ok = JSON.parse(
      encodeResult({ jobId: 'j', recordNumber: 1, ruleSet: { name: 'r', version: 1 }, result: { valid: true, violations: [] } }).value.toString(),
    );
    expect(bad([])).toThrow('the result must be an object');
    expect(bad({ ...ok, v: 2 })).toThrow("the result's v must be 1");
    expect(bad({ ...ok, recordNumber: 0 })).toThrow("the result's recordNumber must be an integer from 1");
    expect(bad({ ...ok, violations: [{ ruleId: 'a', severity: 'fatal', path: '', message: '' }] })).toThrow(
      `the result's violations[0].severity must be "error" or "warning"`,
    );
    expect(() => decodeResult(Buffer.from('{'))).toThrow('the result is not JSON');
  });
});

describe('dead letter messages', () => {
  it('keeps where the message was, its key, headers and payload, and why', () => {
    const original = {
      topic: 'validation.requests',
      partition: 0,
      offset: 42n,
      timestamp: 1735787045000n,
      key: Buffer.from('job-1:7'),
      value: Buffer.from([0x7b, 0xff, 0x7d]),
      headers: new Map<Buffer, Buffer>([
        [Buffer.from('lagscale-job'), Buffer.from('job-1')],
        [Buffer.from('trace'), Buffer.from([0x00, 0xfe])],
      ]),
    };
    const message = encodeDeadLetter({
      code: 'invalid_utf8',
      reason: 'invalid UTF-8 at byte 1',
      jobId: 'job-1',
      recordNumber: 7,
      original,
      time: Date.UTC(2025, 0, 2),
    });
    expect(message.key?.toString()).toBe('job-1:7');
    expect(message.headers[JOB_HEADERS.deadLetterCode]?.toString()).toBe('invalid_utf8');
    expect(message.headers[JOB_HEADERS.jobId]?.toString()).toBe('job-1');
    const letter = decodeDeadLetter(message.value);
    expect(letter).toEqual({
      v: 1,
      code: 'invalid_utf8',
      reason: 'invalid UTF-8 at byte 1',
      jobId: 'job-1',
      recordNumber: 7,
      original: {
        topic: 'validation.requests',
        partition: 0,
        offset: '42',
        key: { utf8: 'job-1:7' },
        headers: [
          { key: 'lagscale-job', value: { utf8: 'job-1' } },
          { key: 'trace', value: { base64: 'AP4=' } }, // not UTF-8
        ],
        timestamp: '2025-01-02T03:04:05.000Z',
      },
      payload: Buffer.from([0x7b, 0xff, 0x7d]).toString('base64'),
      payloadBytes: 3,
      time: '2025-01-02T00:00:00.000Z',
    });
    expect(deadLetterPayload(letter)).toEqual(original.value);
    expect(decodeBytes(letter.original.headers[1]?.value ?? { utf8: '' })).toEqual(Buffer.from([0x00, 0xfe]));
  });

  it('cuts a large payload, keeping its size, and handles a message without key or value', () => {
    const value = Buffer.alloc(2000, 0x61);
    const cut = decodeDeadLetter(
      encodeDeadLetter({ code: 'too_large', reason: 'r', original: { topic: 't', partition: 1, offset: 0, value }, maxPayloadBytes: 100 }).value,
    );
    expect(cut).toMatchObject({ payloadBytes: 2000, payloadTruncated: true });
    expect(deadLetterPayload(cut)).toEqual(value.subarray(0, 100));
    const tombstone = encodeDeadLetter({ code: 'missing_value', reason: 'r', original: { topic: 't', partition: 1, offset: '9', key: null, value: null } });
    expect(tombstone.key).toBeUndefined();
    expect(decodeDeadLetter(tombstone.value)).toMatchObject({ payload: null, payloadBytes: 0, original: { key: null, headers: [], offset: '9' } });
    expect(() => encodeDeadLetter({ code: 'x', reason: 'r', original: { topic: 't', partition: -1, offset: 0 } })).toThrow(
      'partition must be an integer from 0, got -1',
    );
    expect(() => encodeDeadLetter({ code: 'x', reason: 'r', original: { topic: 't', partition: 0, offset: '-1' } })).toThrow(
      'offset must be an integer from 0, got -1',
    );
    expect(() =>
      decodeDeadLetter(Buffer.from('{"v":1,"code":"x","reason":"r","original":{"topic":"t","partition":0,"offset":1,"key":null,"headers":[]}}')),
    ).toThrow("the dead letter's original.offset must be a string");
  });
});
