import type { RecordResult, Violation } from '../rules/record-run.js';
import type { Severity } from '../rules/rule-set.js';

/**
 * The Kafka message formats of the validation service: requests (one record each) on
 * `validation.requests`, results on `validation.results`, and records that cannot be validated on
 * `validation.dlq`. Plain functions over bytes: no Kafka client here.
 */
export const VALIDATION_TOPICS = { requests: 'validation.requests', results: 'validation.results', deadLetters: 'validation.dlq' } as const;

export const JOB_HEADERS = {
  jobId: 'lagscale-job',
  recordNumber: 'lagscale-record',
  ruleSet: 'lagscale-ruleset',
  /** Optional on a request: without it the worker uses the rule set's latest version. */
  ruleSetVersion: 'lagscale-ruleset-version',
  format: 'lagscale-format',
  /** On a result: "true" or "false". */
  valid: 'lagscale-valid',
  /** On a dead letter: why it is there. */
  deadLetterCode: 'lagscale-dlq-code',
} as const;

/** The only record format so far: the message value is the record's JSON. */
export const RECORD_FORMAT = 'json';

/** A job id: 1 to 128 of letters, digits, '.', '_', '-', starting with a letter or digit (no ':', which separates it from the record number in keys). */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_RULE_SET_NAME_LENGTH = 200;
const DECIMAL = /^[1-9][0-9]{0,15}$/;

/** Thrown for a message this module is asked to write that would break the format, or a result or dead letter that does not follow it. */
export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';

  constructor(
    readonly code: 'invalid_argument' | 'invalid_message',
    message: string,
  ) {
    super(message);
  }
}

type Bytes = Uint8Array | string;

/** Headers as Kafka clients hand them over: a Map (keys and values as Buffers or strings), a plain object, or [key, value] pairs (which may repeat a key). */
export type MessageHeaders =
  | ReadonlyMap<Bytes, Bytes | null | undefined>
  | Readonly<Record<string, Bytes | null | undefined>>
  | ReadonlyArray<readonly [Bytes | null, Bytes | null | undefined]>;

/** A message ready for a producer: a Kafka client takes these fields as they are. */
export interface OutgoingMessage {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly headers: Record<string, Buffer>;
}

/** A consumed message, as much of it as the formats need. */
export interface IncomingMessage {
  readonly key?: Bytes | null | undefined;
  readonly value?: Uint8Array | null | undefined;
  readonly headers?: MessageHeaders | null | undefined;
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface ValidationRequest {
  readonly jobId: string;
  /** 1-based position of the record in its job. */
  readonly recordNumber: number;
  readonly ruleSet: string;
  readonly ruleSetVersion?: number | undefined;
  /** The record's JSON, sent as it is (a string as UTF-8). */
  readonly value: Bytes;
}

export type RequestFailureCode =
  | 'missing_value'
  | 'missing_header'
  | 'duplicate_header'
  | 'invalid_header'
  | 'unsupported_format'
  | 'missing_key'
  | 'invalid_key'
  | 'key_mismatch';

export type DecodedRequest =
  | {
      readonly ok: true;
      readonly jobId: string;
      readonly recordNumber: number;
      readonly ruleSet: string;
      readonly ruleSetVersion: number | undefined;
      readonly value: Buffer;
    }
  | {
      readonly ok: false;
      readonly code: RequestFailureCode;
      /** For the DLQ: which header or key, what it holds, what it should hold. */
      readonly reason: string;
      /** What could be read, so the failure can still be counted against its job. */
      readonly jobId?: string;
      readonly recordNumber?: number;
    };

export function requestKey(jobId: string, recordNumber: number): string {
  return `${jobId}:${recordNumber}`;
}

/** The message for one record: key `<job id>:<record number>`, the record's bytes as the value, and the job headers. */
export function encodeRequest(request: ValidationRequest): OutgoingMessage {
  checkJobId(request.jobId);
  checkPositiveInteger('recordNumber', request.recordNumber);
  if (request.ruleSet.length === 0 || request.ruleSet.length > MAX_RULE_SET_NAME_LENGTH)
    throw new EnvelopeError('invalid_argument', `ruleSet must be 1 to ${MAX_RULE_SET_NAME_LENGTH} characters, got ${quote(request.ruleSet)}`);
  if (request.ruleSetVersion !== undefined) checkPositiveInteger('ruleSetVersion', request.ruleSetVersion);
  const headers: Record<string, Buffer> = {
    [JOB_HEADERS.jobId]: Buffer.from(request.jobId),
    [JOB_HEADERS.recordNumber]: Buffer.from(String(request.recordNumber)),
    [JOB_HEADERS.ruleSet]: Buffer.from(request.ruleSet),
  };
  if (request.ruleSetVersion !== undefined) headers[JOB_HEADERS.ruleSetVersion] = Buffer.from(String(request.ruleSetVersion));
  headers[JOB_HEADERS.format] = Buffer.from(RECORD_FORMAT);
  return { key: Buffer.from(requestKey(request.jobId, request.recordNumber)), value: toBuffer(request.value), headers };
}

/**
 * Reads a request written by `encodeRequest` or by any producer that follows the format. A
 * message that does not is a failure with a code and a reason for the DLQ; the value is not
 * decoded here (the worker decodes it with its limits).
 */
export function decodeRequest(message: IncomingMessage): DecodedRequest {
  return decodeUsualRequest(message) ?? decodeAnyRequest(message);
}

/** The request headers in slot order (see decodeUsualRequest). */
const REQUEST_HEADER_BYTES = [JOB_HEADERS.jobId, JOB_HEADERS.recordNumber, JOB_HEADERS.ruleSet, JOB_HEADERS.ruleSetVersion, JOB_HEADERS.format].map((name) =>
  Buffer.from(name, 'latin1'),
);
const SLOT = { jobId: 0, recordNumber: 1, ruleSet: 2, ruleSetVersion: 3, format: 4 } as const;

/** A header value read and accepted before, kept to read the same bytes again without a string or a check. */
class LastHeaderValue<T> {
  #bytes: Buffer | undefined;
  #value: T | undefined;

  constructor(readonly read: (text: string) => T | undefined) {}

  /** The value of `bytes`, or undefined when the full reading must decide (not UTF-8, or refused by `read`). */
  valueOf(bytes: Uint8Array): T | undefined {
    if (this.#bytes !== undefined && sameBytes(this.#bytes, bytes)) return this.#value;
    const text = utf8Text(bytes);
    const value = text === undefined ? undefined : this.read(text);
    if (value !== undefined) {
      this.#bytes = Buffer.from(bytes);
      this.#value = value;
    }
    return value;
  }
}

const lastJobId = new LastHeaderValue((text) => (JOB_ID_PATTERN.test(text) ? text : undefined));
const lastRuleSet = new LastHeaderValue((text) => (text.length > 0 && text.length <= MAX_RULE_SET_NAME_LENGTH ? text : undefined));
const lastRuleSetVersion = new LastHeaderValue(parseDecimal);
const lastFormat = new LastHeaderValue((text) => (text === RECORD_FORMAT ? text : undefined));

/**
 * The usual request (headers a Map of bytes, as a Kafka client hands them; every header once and
 * valid; the key made of them) read with few objects: the worker reads every record this way.
 * Values equal to the last accepted ones (a job's records share them) reuse their text, the record
 * number is read from its digits and the key is compared byte for byte. Null for anything else,
 * which `decodeAnyRequest` reads and, when wrong, names: the result is the same either way.
 */
function decodeUsualRequest(message: IncomingMessage): DecodedRequest | null {
  const { value, key, headers } = message;
  if (value === null || value === undefined || !(key instanceof Uint8Array) || !(headers instanceof Map)) return null;
  const slots: (Uint8Array | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
  for (const [name, bytes] of headers as ReadonlyMap<Bytes, Bytes | null | undefined>) {
    if (!(name instanceof Uint8Array)) return null;
    const slot = REQUEST_HEADER_BYTES.findIndex((known) => sameBytes(known, name));
    if (slot < 0) continue;
    if (slots[slot] !== undefined || !(bytes instanceof Uint8Array)) return null;
    slots[slot] = bytes;
  }
  const jobIdBytes = slots[SLOT.jobId];
  const numberBytes = slots[SLOT.recordNumber];
  const ruleSetBytes = slots[SLOT.ruleSet];
  const versionBytes = slots[SLOT.ruleSetVersion];
  const formatBytes = slots[SLOT.format];
  if (jobIdBytes === undefined || numberBytes === undefined || ruleSetBytes === undefined || formatBytes === undefined) return null;
  const jobId = lastJobId.valueOf(jobIdBytes);
  const recordNumber = decimalOf(numberBytes);
  const ruleSet = lastRuleSet.valueOf(ruleSetBytes);
  const ruleSetVersion = versionBytes === undefined ? undefined : lastRuleSetVersion.valueOf(versionBytes);
  if (jobId === undefined || recordNumber === undefined || ruleSet === undefined || (versionBytes !== undefined && ruleSetVersion === undefined)) return null;
  if (lastFormat.valueOf(formatBytes) === undefined) return null;
  // The key: "<job id>:<record number>", the very bytes of the two headers.
  if (key.length !== jobIdBytes.length + 1 + numberBytes.length || key[jobIdBytes.length] !== 0x3a) return null;
  for (let i = 0; i < jobIdBytes.length; i++) if (key[i] !== jobIdBytes[i]) return null;
  for (let i = 0, at = jobIdBytes.length + 1; i < numberBytes.length; i++, at++) if (key[at] !== numberBytes[i]) return null;
  return { ok: true, jobId, recordNumber, ruleSet, ruleSetVersion, value: toBuffer(value) };
}

/** `parseDecimal` of ASCII digits, read from the bytes. */
function decimalOf(bytes: Uint8Array): number | undefined {
  // DECIMAL: 1 to 16 digits, the first not 0.
  if (bytes.length === 0 || bytes.length > 16 || bytes[0] === 0x30) return undefined;
  let number = 0;
  for (let i = 0; i < bytes.length; i++) {
    const digit = (bytes[i] as number) - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    // Exact while the number is a safe integer; past that it stays past it, and is refused below like Number() of the text.
    number = number * 10 + digit;
  }
  return Number.isSafeInteger(number) ? number : undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Any request, read header by header: every way it can be wrong is named. */
function decodeAnyRequest(message: IncomingMessage): DecodedRequest {
  if (message.value === null || message.value === undefined)
    return { ok: false, code: 'missing_value', reason: 'the message has no value (a tombstone?): the value must be the record as JSON' };
  const headers = collectHeaders(message.headers);
  const known: { jobId?: string; recordNumber?: number } = {};
  const fail = (code: RequestFailureCode, reason: string): DecodedRequest => ({ ok: false, code, reason, ...known });

  const jobId = readHeader(headers, JOB_HEADERS.jobId, true);
  if (!jobId.ok) return fail(jobId.code, jobId.reason);
  if (!JOB_ID_PATTERN.test(jobId.text)) return fail('invalid_header', `header ${JOB_HEADERS.jobId} is ${quote(jobId.text)}: ${JOB_ID_RULE}`);
  known.jobId = jobId.text;

  const recordNumber = readHeader(headers, JOB_HEADERS.recordNumber, true);
  if (!recordNumber.ok) return fail(recordNumber.code, recordNumber.reason);
  const number = parseDecimal(recordNumber.text);
  if (number === undefined)
    return fail('invalid_header', `header ${JOB_HEADERS.recordNumber} is ${quote(recordNumber.text)}: it must be the record number, a decimal integer from 1`);
  known.recordNumber = number;

  const ruleSet = readHeader(headers, JOB_HEADERS.ruleSet, true);
  if (!ruleSet.ok) return fail(ruleSet.code, ruleSet.reason);
  if (ruleSet.text.length === 0 || ruleSet.text.length > MAX_RULE_SET_NAME_LENGTH)
    return fail(
      'invalid_header',
      `header ${JOB_HEADERS.ruleSet} is ${quote(ruleSet.text)}: it must be a rule set name of 1 to ${MAX_RULE_SET_NAME_LENGTH} characters`,
    );

  const version = readHeader(headers, JOB_HEADERS.ruleSetVersion, false);
  if (!version.ok) return fail(version.code, version.reason);
  let ruleSetVersion: number | undefined;
  if (version.present) {
    ruleSetVersion = parseDecimal(version.text);
    if (ruleSetVersion === undefined)
      return fail(
        'invalid_header',
        `header ${JOB_HEADERS.ruleSetVersion} is ${quote(version.text)}: it must be a version, a decimal integer from 1 (leave the header out for the latest version)`,
      );
  }

  const format = readHeader(headers, JOB_HEADERS.format, true);
  if (!format.ok) return fail(format.code, format.reason);
  if (format.text !== RECORD_FORMAT)
    return fail(
      'unsupported_format',
      `header ${JOB_HEADERS.format} is ${quote(format.text)}: the only format is "${RECORD_FORMAT}" (the value is the record's JSON)`,
    );

  const key = message.key === null || message.key === undefined ? undefined : toBuffer(message.key);
  if (key === undefined || key.length === 0)
    return fail('missing_key', `the message has no key: it must be "<job id>:<record number>", here "${requestKey(jobId.text, number)}"`);
  const keyText = utf8Text(key);
  const separator = keyText?.indexOf(':') ?? -1;
  const keyJob = keyText?.slice(0, separator);
  const keyNumber = keyText === undefined ? undefined : parseDecimal(keyText.slice(separator + 1));
  if (keyText === undefined || separator < 0 || keyJob === undefined || !JOB_ID_PATTERN.test(keyJob) || keyNumber === undefined) {
    const shown = keyText === undefined ? 'not UTF-8' : quote(keyText);
    return fail('invalid_key', `the key is ${shown}: it must be "<job id>:<record number>", here "${requestKey(jobId.text, number)}"`);
  }
  if (keyJob !== jobId.text || keyNumber !== number)
    return fail(
      'key_mismatch',
      `the key ${quote(keyText)} does not match the headers (${JOB_HEADERS.jobId} ${quote(jobId.text)}, ${JOB_HEADERS.recordNumber} ${recordNumber.text}): it must be "${requestKey(jobId.text, number)}"`,
    );
  return { ok: true, jobId: jobId.text, recordNumber: number, ruleSet: ruleSet.text, ruleSetVersion, value: toBuffer(message.value) };
}

const JOB_ID_RULE = "a job id is 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit";

type HeaderRead =
  | { readonly ok: true; readonly present: true; readonly text: string }
  | { readonly ok: true; readonly present: false; readonly text: '' }
  | { readonly ok: false; readonly code: RequestFailureCode; readonly reason: string };

function readHeader(headers: Map<string, (Buffer | null)[]>, name: string, required: boolean): HeaderRead {
  const values = headers.get(name);
  if (values === undefined || values.length === 0) {
    if (!required) return { ok: true, present: false, text: '' };
    return { ok: false, code: 'missing_header', reason: `header ${name} is missing` };
  }
  if (values.length > 1) return { ok: false, code: 'duplicate_header', reason: `header ${name} appears ${values.length} times: send it once` };
  const value = values[0];
  if (value === null || value === undefined) return { ok: false, code: 'invalid_header', reason: `header ${name} has no value` };
  const text = utf8Text(value);
  if (text === undefined) return { ok: false, code: 'invalid_header', reason: `header ${name} is not valid UTF-8` };
  return { ok: true, present: true, text };
}

function collectHeaders(headers: MessageHeaders | null | undefined): Map<string, (Buffer | null)[]> {
  const collected = new Map<string, (Buffer | null)[]>();
  for (const [key, value] of headerEntries(headers)) {
    // Latin-1 for names: exact for the ASCII names looked up, and a name that is not ASCII matches none either way.
    const name = key === null ? '' : typeof key === 'string' ? key : headerName(key);
    const bytes = value === null || value === undefined ? null : toBuffer(value);
    const list = collected.get(name);
    if (list === undefined) collected.set(name, [bytes]);
    else list.push(bytes);
  }
  return collected;
}

/** The names of JOB_HEADERS as bytes: a name that is one of them is matched without making a string (one less per header). */
const KNOWN_HEADER_NAMES = Object.values(JOB_HEADERS).map((name) => ({ name, bytes: Buffer.from(name, 'latin1') }));

/** A header name read as Latin-1 (see collectHeaders). */
function headerName(key: Uint8Array): string {
  for (const known of KNOWN_HEADER_NAMES) if (sameBytes(known.bytes, key)) return known.name;
  return latin1(key);
}

function headerEntries(headers: MessageHeaders | null | undefined): Iterable<readonly [Bytes | null, Bytes | null | undefined]> {
  if (headers === null || headers === undefined) return [];
  if (headers instanceof Map || Array.isArray(headers)) return headers as Iterable<readonly [Bytes | null, Bytes | null | undefined]>;
  return Object.entries(headers as Readonly<Record<string, Bytes | null | undefined>>);
}

// ---------------------------------------------------------------------------------------------
// Results

/** Where a message was read: topic, partition, offset (a decimal string: offsets outgrow 2^53). */
export interface KafkaPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export interface PositionInput {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint | number | string;
}

/** The value of a message on `validation.results`, as JSON. */
export interface ValidationResultMessage {
  readonly v: 1;
  readonly jobId: string;
  readonly recordNumber: number;
  /** The rule set the record was validated against, with the version actually used. */
  readonly ruleSet: { readonly name: string; readonly version: number };
  readonly valid: boolean;
  readonly violations: readonly Violation[];
  readonly truncated?: true;
  /** ISO 8601. */
  readonly validatedAt: string;
  /** The request's place on `validation.requests`, when it came from there. */
  readonly source?: KafkaPosition;
}

export interface ResultMessageInput {
  readonly jobId: string;
  readonly recordNumber: number;
  readonly ruleSet: { readonly name: string; readonly version: number };
  readonly result: RecordResult;
  readonly validatedAt?: Date | number;
  readonly source?: PositionInput;
}

/**
 * A result keyed like its request, so a compacted results topic keeps the latest result per record.
 * A worker writes one per record, so the value is written field by field (the same JSON, keys in
 * the order of `ValidationResultMessage`, as `JSON.stringify` of that object) and the header
 * values shared by a batch (job, rule set, version, valid, time) are made once.
 */
export function encodeResult(input: ResultMessageInput): OutgoingMessage {
  checkJobId(input.jobId);
  checkPositiveInteger('recordNumber', input.recordNumber);
  checkPositiveInteger('ruleSet.version', input.ruleSet.version);
  const recordNumber = String(input.recordNumber);
  const version = String(input.ruleSet.version);
  const valid = input.result.valid ? 'true' : 'false';
  let value = `{"v":1,"jobId":${JSON.stringify(input.jobId)},"recordNumber":${recordNumber},"ruleSet":{"name":${JSON.stringify(input.ruleSet.name)},"version":${version}},"valid":${valid},"violations":${input.result.violations.length === 0 ? '[]' : JSON.stringify(input.result.violations)}`;
  if (input.result.truncated === true) value += ',"truncated":true';
  value += `,"validatedAt":"${input.validatedAt === undefined ? isoTime(undefined) : batchIsoTime(input.validatedAt)}"`;
  if (input.source !== undefined) {
    const source = position(input.source);
    value += `,"source":{"topic":${JSON.stringify(source.topic)},"partition":${source.partition},"offset":"${source.offset}"}`;
  }
  value += '}';
  return {
    key: Buffer.from(`${input.jobId}:${recordNumber}`),
    value: Buffer.from(value),
    headers: {
      [JOB_HEADERS.jobId]: sharedBytes(input.jobId),
      [JOB_HEADERS.recordNumber]: Buffer.from(recordNumber),
      [JOB_HEADERS.ruleSet]: sharedBytes(input.ruleSet.name),
      [JOB_HEADERS.ruleSetVersion]: sharedBytes(version),
      [JOB_HEADERS.valid]: sharedBytes(valid),
    },
  };
}

/**
 * Header values that repeat from message to message (job ids, rule set names and versions,
 * "true"/"false"), as bytes made once. Bounded: past the limit the map starts again. Clients only
 * read these buffers, so sharing them is safe.
 */
const sharedHeaderValues = new Map<string, Buffer>();
function sharedBytes(text: string): Buffer {
  let bytes = sharedHeaderValues.get(text);
  if (bytes === undefined) {
    bytes = Buffer.from(text);
    if (sharedHeaderValues.size >= 1000) sharedHeaderValues.clear();
    sharedHeaderValues.set(text, bytes);
  }
  return bytes;
}

/** A batch's results share one validation time: the last one written is remembered. */
let lastIsoTime: { readonly time: Date | number; readonly text: string } | undefined;
function batchIsoTime(time: Date | number): string {
  if (lastIsoTime !== undefined && lastIsoTime.time === time) return lastIsoTime.text;
  const text = isoTime(time);
  if (typeof time === 'number') lastIsoTime = { time, text };
  return text;
}

export function decodeResult(value: Uint8Array): ValidationResultMessage {
  const check = new ShapeCheck('result');
  const root = check.object('', parseJson(value, 'result'));
  check.literal('v', root.v, 1);
  const ruleSet = check.object('ruleSet', root.ruleSet);
  const violations = check.array('violations', root.violations).map((item, index) => {
    const at = `violations[${index}]`;
    const violation = check.object(at, item);
    const severity = check.string(`${at}.severity`, violation.severity);
    if (severity !== 'error' && severity !== 'warning') throw check.error(`${at}.severity`, 'must be "error" or "warning"');
    return {
      ruleId: check.string(`${at}.ruleId`, violation.ruleId),
      severity: severity as Severity,
      path: check.string(`${at}.path`, violation.path),
      message: check.string(`${at}.message`, violation.message),
    };
  });
  return {
    v: 1,
    jobId: check.string('jobId', root.jobId),
    recordNumber: check.positiveInteger('recordNumber', root.recordNumber),
    ruleSet: { name: check.string('ruleSet.name', ruleSet.name), version: check.positiveInteger('ruleSet.version', ruleSet.version) },
    valid: check.boolean('valid', root.valid),
    violations,
    ...(root.truncated === undefined ? {} : { truncated: check.literal('truncated', root.truncated, true as const) }),
    validatedAt: check.string('validatedAt', root.validatedAt),
    ...(root.source === undefined ? {} : { source: check.position('source', root.source) }),
  };
}

// ---------------------------------------------------------------------------------------------
// Dead letters

/** Bytes in JSON: as text when they are UTF-8, else base64. */
export type EncodedBytes = { readonly utf8: string } | { readonly base64: string };

/** The value of a message on `validation.dlq`, as JSON. */
export interface DeadLetterMessage {
  readonly v: 1;
  /** A request failure code, a decode failure code, or another the worker defines. */
  readonly code: string;
  readonly reason: string;
  /** When known (from the headers or the key), so the failure counts against its job. */
  readonly jobId?: string;
  readonly recordNumber?: number;
  readonly original: KafkaPosition & {
    readonly key: EncodedBytes | null;
    /** In order, repeats kept. */
    readonly headers: readonly { readonly key: string; readonly value: EncodedBytes | null }[];
    /** The message's timestamp, ISO 8601, when known. */
    readonly timestamp?: string;
  };
  /** The original value, base64; null for a message without one. */
  readonly payload: string | null;
  /** Size of the original value, even when `payload` holds only its first bytes. */
  readonly payloadBytes: number;
  readonly payloadTruncated?: true;
  /** When the message was dead-lettered, ISO 8601. */
  readonly time: string;
}

/**
 * By default the payload kept is cut at 512 KiB: base64 grows it by a third, and the DLQ message
 * must stay under the topic's max.message.bytes (1 MiB by default) or it cannot be written at all.
 */
export const DEFAULT_DEAD_LETTER_MAX_PAYLOAD_BYTES = 512 * 1024;

/** Like any outgoing message, but without a key when the original had none. */
export interface DeadLetterOutgoingMessage extends Omit<OutgoingMessage, 'key'> {
  readonly key: Buffer | undefined;
}

export interface DeadLetterMessageInput {
  readonly code: string;
  readonly reason: string;
  readonly jobId?: string | undefined;
  readonly recordNumber?: number | undefined;
  readonly original: PositionInput & IncomingMessage & { readonly timestamp?: Date | number | bigint | undefined };
  readonly time?: Date | number;
  readonly maxPayloadBytes?: number;
  /** The original's size when `original.value` is only its first bytes (an oversized upload record). */
  readonly originalBytes?: number;
}

/** A dead letter keeps the original key (so it lands with the job's other messages) and says why in a header too. */
export function encodeDeadLetter(input: DeadLetterMessageInput): DeadLetterOutgoingMessage {
  const { original } = input;
  const maxPayloadBytes = input.maxPayloadBytes ?? DEFAULT_DEAD_LETTER_MAX_PAYLOAD_BYTES;
  if (!Number.isSafeInteger(maxPayloadBytes) || maxPayloadBytes < 0)
    throw new EnvelopeError('invalid_argument', `maxPayloadBytes must be a non-negative integer, got ${maxPayloadBytes}`);
  const key = original.key === null || original.key === undefined ? undefined : toBuffer(original.key);
  const value = original.value === null || original.value === undefined ? undefined : toBuffer(original.value);
  const headers: { key: string; value: EncodedBytes | null }[] = [];
  for (const [name, bytes] of headerEntries(original.headers))
    headers.push({
      key: name === null ? '' : toBuffer(name).toString('utf8'),
      value: bytes === null || bytes === undefined ? null : encodeBytes(toBuffer(bytes)),
    });
  const kept = value !== undefined && value.length > maxPayloadBytes ? value.subarray(0, maxPayloadBytes) : value;
  const message: DeadLetterMessage = {
    v: 1,
    code: input.code,
    reason: input.reason,
    ...(input.jobId === undefined ? {} : { jobId: input.jobId }),
    ...(input.recordNumber === undefined ? {} : { recordNumber: input.recordNumber }),
    original: {
      ...position(original),
      key: key === undefined ? null : encodeBytes(key),
      headers,
      ...(original.timestamp === undefined ? {} : { timestamp: isoTime(Number(original.timestamp)) }),
    },
    payload: kept === undefined ? null : kept.toString('base64'),
    payloadBytes: Math.max(input.originalBytes ?? 0, value?.length ?? 0),
    ...(kept !== value || (input.originalBytes ?? 0) > (value?.length ?? 0) ? { payloadTruncated: true as const } : {}),
    time: isoTime(input.time),
  };
  const outgoingHeaders: Record<string, Buffer> = { [JOB_HEADERS.deadLetterCode]: Buffer.from(input.code) };
  if (input.jobId !== undefined) outgoingHeaders[JOB_HEADERS.jobId] = Buffer.from(input.jobId);
  if (input.recordNumber !== undefined) outgoingHeaders[JOB_HEADERS.recordNumber] = Buffer.from(String(input.recordNumber));
  return { key, value: Buffer.from(JSON.stringify(message)), headers: outgoingHeaders };
}

export function decodeDeadLetter(value: Uint8Array): DeadLetterMessage {
  const check = new ShapeCheck('dead letter');
  const root = check.object('', parseJson(value, 'dead letter'));
  check.literal('v', root.v, 1);
  const original = check.object('original', root.original);
  const headers = check.array('original.headers', original.headers).map((item, index) => {
    const header = check.object(`original.headers[${index}]`, item);
    return {
      key: check.string(`original.headers[${index}].key`, header.key),
      value: header.value === null ? null : check.bytes(`original.headers[${index}].value`, header.value),
    };
  });
  return {
    v: 1,
    code: check.string('code', root.code),
    reason: check.string('reason', root.reason),
    ...(root.jobId === undefined ? {} : { jobId: check.string('jobId', root.jobId) }),
    ...(root.recordNumber === undefined ? {} : { recordNumber: check.positiveInteger('recordNumber', root.recordNumber) }),
    original: {
      ...check.position('original', original),
      key: original.key === null ? null : check.bytes('original.key', original.key),
      headers,
      ...(original.timestamp === undefined ? {} : { timestamp: check.string('original.timestamp', original.timestamp) }),
    },
    payload: root.payload === null ? null : check.string('payload', root.payload),
    payloadBytes: check.nonNegativeInteger('payloadBytes', root.payloadBytes),
    ...(root.payloadTruncated === undefined ? {} : { payloadTruncated: check.literal('payloadTruncated', root.payloadTruncated, true as const) }),
    time: check.string('time', root.time),
  };
}

/** The original value kept in a dead letter (its first bytes when `payloadTruncated`). */
export function deadLetterPayload(message: DeadLetterMessage): Buffer | null {
  return message.payload === null ? null : Buffer.from(message.payload, 'base64');
}

export function encodeBytes(bytes: Buffer): EncodedBytes {
  const text = utf8Text(bytes);
  return text === undefined ? { base64: bytes.toString('base64') } : { utf8: text };
}

export function decodeBytes(encoded: EncodedBytes): Buffer {
  return 'utf8' in encoded ? Buffer.from(encoded.utf8, 'utf8') : Buffer.from(encoded.base64, 'base64');
}

// ---------------------------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true });

function utf8Text(bytes: Uint8Array): string | undefined {
  // Headers and keys are short and nearly always ASCII, which reads faster byte by byte.
  if (bytes.length <= 64) {
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) {
      if ((bytes[i] as number) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return latin1(bytes);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function latin1(bytes: Uint8Array): string {
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('latin1');
}

function toBuffer(bytes: Bytes): Buffer {
  if (typeof bytes === 'string') return Buffer.from(bytes, 'utf8');
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function parseDecimal(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const number = Number(text);
  return Number.isSafeInteger(number) ? number : undefined;
}

/** A header or key value in a reason: quoted, control characters escaped, long ones cut. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

function checkJobId(jobId: string): void {
  if (!JOB_ID_PATTERN.test(jobId)) throw new EnvelopeError('invalid_argument', `jobId ${quote(jobId)} is not a job id: ${JOB_ID_RULE}`);
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new EnvelopeError('invalid_argument', `${name} must be an integer from 1, got ${value}`);
}

function isoTime(time: Date | number | undefined): string {
  const date = time === undefined ? new Date() : new Date(time);
  if (Number.isNaN(date.getTime())) throw new EnvelopeError('invalid_argument', `not a valid time: ${String(time)}`);
  return date.toISOString();
}

function position(input: PositionInput): KafkaPosition {
  if (input.topic.length === 0) throw new EnvelopeError('invalid_argument', 'the original topic is empty');
  if (!Number.isSafeInteger(input.partition) || input.partition < 0)
    throw new EnvelopeError('invalid_argument', `partition must be an integer from 0, got ${input.partition}`);
  const offset = String(input.offset);
  if (!/^(0|[1-9][0-9]*)$/.test(offset)) throw new EnvelopeError('invalid_argument', `offset must be an integer from 0, got ${offset}`);
  return { topic: input.topic, partition: input.partition, offset };
}

function parseJson(value: Uint8Array, what: string): unknown {
  const text = utf8Text(value);
  if (text === undefined) throw new EnvelopeError('invalid_message', `the ${what} is not UTF-8`);
  try {
    return JSON.parse(text);
  } catch {
    throw new EnvelopeError('invalid_message', `the ${what} is not JSON`);
  }
}

/** Checks the fields of a decoded message, failing with the field's path and what it should be. */
class ShapeCheck {
  constructor(private readonly what: string) {}

  error(path: string, what: string): EnvelopeError {
    return new EnvelopeError('invalid_message', `the ${this.what}${path === '' ? '' : `'s ${path}`} ${what}`);
  }

  string(path: string, value: unknown): string {
    if (typeof value !== 'string') throw this.error(path, 'must be a string');
    return value;
  }

  boolean(path: string, value: unknown): boolean {
    if (typeof value !== 'boolean') throw this.error(path, 'must be true or false');
    return value;
  }

  positiveInteger(path: string, value: unknown): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw this.error(path, 'must be an integer from 1');
    return value;
  }

  nonNegativeInteger(path: string, value: unknown): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw this.error(path, 'must be an integer from 0');
    return value;
  }

  literal<T>(path: string, value: unknown, expected: T): T {
    if (value !== expected) throw this.error(path, `must be ${JSON.stringify(expected)}`);
    return expected;
  }

  object(path: string, value: unknown): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw this.error(path, 'must be an object');
    return value as Record<string, unknown>;
  }

  array(path: string, value: unknown): unknown[] {
    if (!Array.isArray(value)) throw this.error(path, 'must be an array');
    return value;
  }

  bytes(path: string, value: unknown): EncodedBytes {
    const v = this.object(path, value);
    if (typeof v.utf8 === 'string') return { utf8: v.utf8 };
    if (typeof v.base64 === 'string') return { base64: v.base64 };
    throw this.error(path, 'must be {"utf8": text} or {"base64": text}');
  }

  position(path: string, value: unknown): KafkaPosition {
    const v = this.object(path, value);
    const offset = this.string(`${path}.offset`, v.offset);
    if (!/^(0|[1-9][0-9]*)$/.test(offset)) throw this.error(`${path}.offset`, 'must be a decimal integer in a string');
    return { topic: this.string(`${path}.topic`, v.topic), partition: this.nonNegativeInteger(`${path}.partition`, v.partition), offset };
  }
}
