import {
  type DecodedRequest,
  decodeDeadLetter,
  decodeRequest,
  decodeResult,
  EnvelopeError,
  encodeDeadLetter,
  encodeRequest,
  encodeResult,
  type IncomingMessage,
  JOB_HEADERS,
  type MessageHeaders,
} from '@lagscale/validator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from './fuzz-settings.js';

/**
 * Properties of the Kafka message formats: a request written by encodeRequest reads back the same
 * in every header shape a client hands over; any message decodes to a request or to a failure with
 * a code and a reason (the DLQ's), never an exception; results and dead letters round-trip, and
 * their decoders refuse anything else with an EnvelopeError.
 */

const REQUEST_CODES = new Set([
  'missing_value',
  'missing_header',
  'duplicate_header',
  'invalid_header',
  'unsupported_format',
  'missing_key',
  'invalid_key',
  'key_mismatch',
]);
const jobId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);
const recordNumber = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER));
const ruleSetName = fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((s) => Buffer.from(s).toString() === s);

/** Headers in one of the shapes clients use: a Map, an object, or pairs; names and values as Buffers, Uint8Arrays or strings. */
function reshape(headers: Record<string, Buffer>, shape: 'map' | 'object' | 'pairs', asText: boolean): MessageHeaders {
  const value = (bytes: Buffer) => (asText ? bytes.toString('utf8') : new Uint8Array(bytes));
  const entries = Object.entries(headers);
  if (shape === 'object') return Object.fromEntries(entries.map(([k, v]) => [k, value(v)]));
  if (shape === 'map') return new Map(entries.map(([k, v]) => [asText ? k : Buffer.from(k), value(v)]));
  return entries.map(([k, v]) => [asText ? k : Buffer.from(k), value(v)] as const);
}

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
  fc.constantFrom('job-1', 'job-1:7', '7', 'json', 'xml', '', 'rules', '0', '01', '9007199254740993', 'a:b:c', ':1').map((s) => Buffer.from(s)),
);
const headerName = fc.oneof(fc.constantFrom(...Object.values(JOB_HEADERS)), fc.string({ maxLength: 6 }));
/** A message as a consumer may see it: any key, value and headers, repeats and nulls included. */
const anyMessage: fc.Arbitrary<IncomingMessage> = fc.record(
  {
    key: fc.oneof(bytes, fc.constant(null), fc.string({ maxLength: 12 })),
    value: fc.oneof(bytes, fc.constant(null)),
    headers: fc.oneof(
      fc.array(fc.tuple(fc.oneof(headerName, fc.constant(null)), fc.oneof(bytes, fc.constant(null), fc.string({ maxLength: 8 }))), { maxLength: 8 }),
      fc.dictionary(headerName, fc.oneof(bytes, fc.constant(null))),
      fc.constant(null),
    ),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<IncomingMessage>;

/** A request as encodeRequest writes it, with one part changed, dropped or repeated now and then. */
const nearlyValidMessage: fc.Arbitrary<IncomingMessage> = fc
  .tuple(
    jobId,
    recordNumber,
    ruleSetName,
    fc.constantFrom('map', 'object', 'pairs'),
    fc.option(fc.tuple(fc.constantFrom('drop', 'repeat', 'replace', 'key', 'no-key', 'no-value'), fc.nat(), bytes), { freq: 4, nil: undefined }),
  )
  .map(([job, record, ruleSet, shape, change]) => {
    const message = encodeRequest({ jobId: job, recordNumber: record, ruleSet, ruleSetVersion: 3, value: Buffer.from('{}') });
    const pairs: [string, Buffer][] = Object.entries(message.headers);
    let key: Buffer | null = message.key;
    let value: Buffer | null = message.value;
    if (change !== undefined) {
      const [what, at, replacement] = change;
      const i = at % pairs.length;
      const [name] = pairs[i] as [string, Buffer];
      if (what === 'drop') pairs.splice(i, 1);
      else if (what === 'repeat') pairs.push([name, replacement]);
      else if (what === 'replace') pairs[i] = [name, replacement];
      else if (what === 'key') key = replacement;
      else if (what === 'no-key') key = null;
      else value = null;
    }
    const headers: MessageHeaders = shape === 'pairs' ? pairs : shape === 'map' ? new Map(pairs) : Object.fromEntries(pairs);
    return { key, value, headers };
  });

describe('message formats, property-based', () => {
  it('reads back every request it writes, in any header shape', () => {
    checkProperty(
      'request round trip',
      800,
      fc.property(
        jobId,
        recordNumber,
        ruleSetName,
        fc.option(fc.integer({ min: 1, max: 1e6 }), { nil: undefined }),
        fc.uint8Array({ maxLength: 40 }),
        fc.constantFrom('map', 'object', 'pairs'),
        fc.boolean(),
        (job, record, ruleSet, ruleSetVersion, value, shape, asText) => {
          const message = encodeRequest({ jobId: job, recordNumber: record, ruleSet, ruleSetVersion, value: Buffer.from(value) });
          const decoded = decodeRequest({ key: message.key, value: message.value, headers: reshape(message.headers, shape, asText) });
          expect(decoded).toEqual({ ok: true, jobId: job, recordNumber: record, ruleSet, ruleSetVersion, value: Buffer.from(value) });
        },
      ),
    );
  });

  it('decodes any message to a request or a failure with a code and a reason', () => {
    let accepted = 0;
    const codes = new Set<string>();
    checkProperty(
      'decodeRequest on arbitrary messages',
      1500,
      fc.property(fc.oneof(anyMessage, nearlyValidMessage), (message) => {
        const decoded: DecodedRequest = decodeRequest(message);
        if (decoded.ok) {
          accepted++;
          // Whatever it accepted is what encodeRequest would write for it.
          const again = encodeRequest({ ...decoded, value: decoded.value });
          expect(again.key.toString()).toBe(`${decoded.jobId}:${decoded.recordNumber}`);
          return;
        }
        codes.add(decoded.code);
        expect(REQUEST_CODES.has(decoded.code), decoded.code).toBe(true);
        expect(decoded.reason.length).toBeGreaterThan(0);
        expect(decoded.reason.length).toBeLessThan(400);
      }),
    );
    process.stdout.write(`[fuzz] decodeRequest: ${accepted} accepted; failure codes seen: ${[...codes].sort().join(', ')}\n`);
    expect(accepted).toBeGreaterThan(0);
    expect(codes.size).toBeGreaterThanOrEqual(6);
  });

  it('round-trips results and dead letters, and refuses any other bytes with an EnvelopeError', () => {
    const violation = fc.record({
      ruleId: fc.string({ maxLength: 5 }),
      severity: fc.constantFrom('error', 'warning'),
      path: fc.string({ maxLength: 5 }),
      message: fc.string({ maxLength: 8 }),
    });
    checkProperty(
      'results and dead letters round trip',
      500,
      fc.property(
        jobId,
        recordNumber,
        fc.array(violation, { maxLength: 3 }),
        fc.option(fc.record({ topic: fc.string({ minLength: 1, maxLength: 6 }), partition: fc.nat(50), offset: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }) }), {
          nil: undefined,
        }),
        fc.uint8Array({ maxLength: 40 }),
        fc.nat({ max: 50 }),
        (job, record, violations, source, payload, maxPayloadBytes) => {
          const result = encodeResult({
            jobId: job,
            recordNumber: record,
            ruleSet: { name: 'rules', version: 2 },
            result: { valid: violations.every((v) => v.severity !== 'error'), violations },
            validatedAt: 1_733_000_000_000,
            ...(source === undefined ? {} : { source }),
          });
          const decoded = decodeResult(result.value);
          expect(decoded).toMatchObject({ jobId: job, recordNumber: record, violations, validatedAt: '2024-11-30T20:53:20.000Z' });
          if (source !== undefined) expect(decoded.source).toEqual({ ...source, offset: String(source.offset) });

          const letter = encodeDeadLetter({
            code: 'invalid_json',
            reason: 'r',
            jobId: job,
            recordNumber: record,
            original: {
              topic: 't',
              partition: 0,
              offset: 5n,
              key: null,
              value: Buffer.from(payload),
              headers: [[Buffer.from([0xff]), Buffer.from([0xfe, 0x41])]],
            },
            time: 0,
            maxPayloadBytes,
          });
          const read = decodeDeadLetter(letter.value);
          expect(read.payloadBytes).toBe(payload.length);
          expect(Buffer.from(read.payload ?? '', 'base64')).toEqual(Buffer.from(payload).subarray(0, maxPayloadBytes));
          expect(read.payloadTruncated === true).toBe(payload.length > maxPayloadBytes);
        },
      ),
    );
    checkProperty(
      'decodeResult and decodeDeadLetter on arbitrary bytes',
      800,
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 60 }),
          fc.jsonValue({ maxDepth: 3 }).map((v) => new TextEncoder().encode(JSON.stringify(v))),
        ),
        (value) => {
          for (const decode of [decodeResult, decodeDeadLetter]) {
            try {
              decode(value);
            } catch (error) {
              if (!(error instanceof EnvelopeError)) throw error;
            }
          }
        },
      ),
    );
  });
});
