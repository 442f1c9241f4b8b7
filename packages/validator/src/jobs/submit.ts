import { createHash } from 'node:crypto';
import { ensureTopics, FAILOVER_PRODUCER_RETRIES, type KafkaConnectionOptions, sendThroughFailover, toClientConnectionOptions } from '@lagscale/kafka';
import { Producer } from '@platformatic/kafka';
import { exactJson } from '../rules/decode.js';
import { type Job, type ResultStore, StoreError } from '../store/store.js';
import { encodeDeadLetter, encodeRequest, JOB_ID_PATTERN, requestKey, VALIDATION_TOPICS } from './envelope.js';
import { type CsvOptions, detectFormat, type FailedRecord, OVERSIZED_RAW_PREVIEW_BYTES, parseUpload, type UploadFormat, type UploadLimits } from './parsers.js';
import { UploadFormatError } from './upload-error.js';
import type { UploadSource } from './upload-source.js';

/**
 * Submitting a job: an upload read as a stream of records, each produced to
 * `validation.requests` for the workers. The HTTP API and `lagscale validate` both use this.
 */

/** What the submitter needs of a Kafka producer: `send` of byte messages (no serializers). */
export interface RequestProducer {
  send(options: { messages: ProducedMessage[] }): Promise<unknown>;
}

export interface ProducedMessage {
  readonly topic: string;
  readonly key?: Buffer;
  readonly value: Buffer;
  /** Names as bytes too: @platformatic/kafka without serializers wants Buffers throughout. */
  readonly headers: Map<Buffer, Buffer>;
}

/**
 * Records larger than this fail as `too_large` (and go to the DLQ) instead of being produced: with
 * its key and headers a record must fit the topic's default max.message.bytes (1 MiB + 12 bytes).
 */
export const DEFAULT_SUBMIT_MAX_RECORD_BYTES = 1_000_000;
/** A produce request holds at most this many value bytes, so one partition's batch never exceeds max.message.bytes. */
const DEFAULT_BATCH_BYTES = 900 * 1024;
const DEFAULT_BATCH_RECORDS = 500;
const DEFAULT_IN_FLIGHT_BATCHES = 4;
/** A batch is sent when its first record has waited this long, so a slow upload still reaches the workers. */
const DEFAULT_LINGER_MS = 200;
/** Bytes looked at to detect the format: the first non-blank one decides, or the file type. */
const SNIFF_BYTES = 64;
const MAX_SNIFF_BYTES = 64 * 1024;

export interface SubmitProgress {
  /** Bytes of the upload read so far. */
  readonly bytesRead: number;
  /** Records read (parsed or failed). */
  readonly recordsRead: number;
  /** Records acknowledged by Kafka. */
  readonly recordsProduced: number;
  /** Records that could not be read, stored in the DLQ with the parser's reason. */
  readonly recordsFailed: number;
}

export interface SubmitJobOptions {
  readonly store: ResultStore;
  readonly producer: RequestProducer;
  /** Must match `JOB_ID_PATTERN`. Submitting again with the same id and definition rewrites the same records (workers upsert). */
  readonly jobId: string;
  readonly ruleSet: string;
  /** Default: the latest version, fixed for the whole job when it is created. */
  readonly ruleSetVersion?: number;
  /** For people: `upload:orders.ndjson`. */
  readonly source: string;
  /** Default: from the content type, the file name, then the first bytes (`detectFormat`). */
  readonly format?: UploadFormat;
  readonly filename?: string;
  readonly contentType?: string;
  readonly csv?: Pick<CsvOptions, 'delimiter' | 'inferTypes'>;
  /** Per record: default `maxRecordBytes` is `DEFAULT_SUBMIT_MAX_RECORD_BYTES`, `maxDepth` 64. */
  readonly limits?: UploadLimits;
  /** The whole upload: more bytes make it fail with `UploadTooLargeError`. Default: no limit. */
  readonly maxUploadBytes?: number;
  readonly batchRecords?: number;
  readonly batchBytes?: number;
  /** Produce requests awaiting their acknowledgement; reading pauses beyond this (bounded memory). */
  readonly maxInFlightBatches?: number;
  readonly lingerMs?: number;
  readonly requestsTopic?: string;
  /** Dead letters of records that could not be read are also published here; null: only stored. */
  readonly deadLetterTopic?: string | null;
  /** Called after every acknowledged batch and at the end. */
  readonly onProgress?: (progress: SubmitProgress) => void;
  readonly signal?: AbortSignal;
  readonly now?: () => number;
}

export interface SubmittedJob {
  /** As stored after the total was set. */
  readonly job: Job;
  readonly format: UploadFormat;
  readonly records: number;
  readonly produced: number;
  readonly failed: number;
  readonly bytes: number;
  /** The job's complete upload was submitted again (the same bytes): nothing was produced. */
  readonly resubmitted?: true;
}

/** No byte of the upload arrived for `idleMs`: the client stalled (or is holding the connection open). */
export class UploadIdleError extends Error {
  override readonly name = 'UploadIdleError';
  readonly code = 'upload_timeout';

  constructor(readonly idleMs: number) {
    super(`no byte of the upload arrived for ${idleMs / 1000} s; send it again (with the same job id to complete the job)`);
  }
}

/**
 * The chunks of `source`, failing with UploadIdleError when the next one takes longer than
 * `idleMs` (`onIdle` is told first, to stop reading the source), so nothing waits forever.
 */
export async function* withIdleTimeout<T>(source: AsyncIterable<T>, idleMs: number, onIdle: (error: UploadIdleError) => void): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new UploadIdleError(idleMs);
        onIdle(error);
        reject(error);
      }, idleMs);
    });
    try {
      const step = await Promise.race([iterator.next(), idle]);
      if (step.done === true) return;
      yield step.value;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The upload is over `maxUploadBytes`. */
export class UploadTooLargeError extends Error {
  override readonly name = 'UploadTooLargeError';
  readonly code = 'upload_too_large';

  constructor(readonly limit: number) {
    super(`the upload is over the limit of ${limit} bytes: split it into smaller uploads`);
  }
}

/**
 * A submission that stopped before the end of the upload. Records read before the failure were
 * produced (or dead-lettered) and the job was closed with them as its total, so it still completes;
 * `recordsKept` says how many (null when no job was created, or when Kafka failed and it is unknown
 * which records arrived). `cause` is the original error: an `UploadFormatError`,
 * `UploadTooLargeError`, the stream's error, or Kafka's.
 */
export class SubmitJobError extends Error {
  override readonly name = 'SubmitJobError';

  constructor(
    message: string,
    override readonly cause: unknown,
    readonly jobId: string,
    readonly recordsKept: number | null,
  ) {
    super(message);
  }
}

/** A Kafka producer for `submitJob` and DLQ replays: idempotent, acks from all replicas, one send at a time (see `serialSends`). */
export function createRequestProducer(
  connection: KafkaConnectionOptions,
  clientId = `lagscale-submit-${process.pid}`,
): RequestProducer & { close(): Promise<void> } {
  const producer = new Producer({
    clientId,
    bootstrapBrokers: [...connection.brokers],
    ...toClientConnectionOptions(connection),
    idempotent: true,
    acks: -1,
    ...FAILOVER_PRODUCER_RETRIES,
  });
  // Through a broker failover too: a send to a leader that died is sent again to the new one.
  return { ...serialSends({ send: ({ messages }) => sendThroughFailover(producer, messages) }), close: () => producer.close() };
}

/**
 * The same producer, but a send starts only when the one before it has settled. With
 * @platformatic/kafka 1.35 concurrent sends of an idempotent producer reach the broker with their
 * sequence numbers out of order (OUT_OF_ORDER_SEQUENCE_NUMBER), so every sender of requests goes
 * through this; the next batch is read and encoded meanwhile.
 */
export function serialSends(producer: RequestProducer): RequestProducer {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    send: (options) => {
      const run = tail.then(() => producer.send(options));
      tail = run.catch(() => undefined);
      return run;
    },
  };
}

/**
 * Creates the validation topics when they are missing, as the worker would (requests and results:
 * `partitions` each, results compacted; DLQ: 1). Submitting before any worker started would otherwise
 * let the broker auto-create `validation.requests` with one partition, and one worker at most.
 */
export async function ensureValidationTopics(connection: KafkaConnectionOptions, partitions = 8): Promise<string[]> {
  return ensureTopics(connection, [
    { name: VALIDATION_TOPICS.requests, partitions },
    { name: VALIDATION_TOPICS.results, partitions, configs: { 'cleanup.policy': 'compact' } },
    { name: VALIDATION_TOPICS.deadLetters, partitions: 1 },
  ]);
}

/** Where a record that failed to parse is filed in the DLQ: no Kafka position, so the upload's own (a ':' never occurs in a topic name). */
export function uploadDlqTopic(jobId: string): string {
  return `upload:${jobId}`;
}

/**
 * Reads an upload and produces one request per record, keyed `<job>:<record number>`, with the
 * job's rule set version in the headers. The upload is never held whole: at most
 * `maxInFlightBatches` batches wait for Kafka while the next one is read.
 *
 * A record that cannot be read (bad JSON, a ragged CSV row, over the size limit) is not lost: it
 * is stored in the DLQ with the parser's reason (topic `upload:<job>`, partition 0, offset = its
 * record number, so a resubmission does not repeat it) and published to `validation.dlq`. It counts
 * towards the job's total, and as done, so progress reaches 1.
 *
 * The job is created when the first record is ready (an upload refused at its first byte leaves no
 * job behind); its total is set once every record is acknowledged. Resolves with the job.
 */
export async function submitJob(upload: UploadSource, options: SubmitJobOptions): Promise<SubmittedJob> {
  const { store, jobId } = options;
  const now = options.now ?? Date.now;
  if (!JOB_ID_PATTERN.test(jobId))
    throw new StoreError(
      'INVALID_ARGUMENT',
      `job id ${JSON.stringify(jobId)} is not valid: 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  const stored = await store.getRuleSet(options.ruleSet, options.ruleSetVersion);
  if (stored === undefined) {
    const which = options.ruleSetVersion === undefined ? `rule set "${options.ruleSet}"` : `rule set "${options.ruleSet}" version ${options.ruleSetVersion}`;
    throw new StoreError('RULE_SET_NOT_FOUND', `${which} does not exist: create it first`);
  }
  const definition = { id: jobId, ruleSet: stored.name, ruleSetVersion: stored.version, total: null, source: options.source };
  const existing = await store.getJob(jobId);
  if (
    existing !== undefined &&
    (existing.ruleSet !== definition.ruleSet || existing.ruleSetVersion !== definition.ruleSetVersion || existing.source !== definition.source)
  ) {
    throw new StoreError(
      'JOB_EXISTS',
      `job "${jobId}" already exists for rule set "${existing.ruleSet}" version ${existing.ruleSetVersion} from ${existing.source}: use another job id`,
    );
  }
  const counted = new CountedUpload(upload, options.maxUploadBytes, options.signal);
  if (existing !== undefined && existing.uploadSha256 !== null) return resubmitted(existing, counted, options);
  const limits: UploadLimits = { maxRecordBytes: DEFAULT_SUBMIT_MAX_RECORD_BYTES, ...options.limits };
  const maxRecordBytes = limits.maxRecordBytes ?? DEFAULT_SUBMIT_MAX_RECORD_BYTES;
  const requestsTopic = options.requestsTopic ?? VALIDATION_TOPICS.requests;
  const deadLetterTopic = options.deadLetterTopic === undefined ? VALIDATION_TOPICS.deadLetters : options.deadLetterTopic;

  let job: Promise<Job> | undefined;
  const ensureJob = (): Promise<Job> => {
    job ??= store.createJob({ ...definition, createdAt: now() });
    return job;
  };
  let recordsRead = 0;
  let recordsFailed = 0;
  const progress = (): SubmitProgress => ({ bytesRead: counted.bytes, recordsRead, recordsProduced: batcher.produced, recordsFailed });
  const batcher = new RequestBatcher(serialSends(options.producer), {
    batchRecords: positive('batchRecords', options.batchRecords, DEFAULT_BATCH_RECORDS),
    batchBytes: positive('batchBytes', options.batchBytes, DEFAULT_BATCH_BYTES),
    maxInFlight: positive('maxInFlightBatches', options.maxInFlightBatches, DEFAULT_IN_FLIGHT_BATCHES),
    lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS,
    beforeSend: async () => {
      await ensureJob();
    },
    onAcknowledged: () => options.onProgress?.(progress()),
  });

  let format: UploadFormat | undefined = options.format;
  // Which side failed decides what the job keeps: a failure of the upload (its format, its size,
  // the client going away) leaves every record read before it handled; a failure of Kafka or the
  // store leaves it unknown which records arrived.
  let handlingFailed = false;
  try {
    const head = await counted.peekFirstByte(SNIFF_BYTES, MAX_SNIFF_BYTES);
    format ??= detectFormat(options.filename, options.contentType, head);
    const failure: Omit<FailureContext, 'record'> = { store, jobId, ensureJob, batcher, deadLetterTopic, now };
    for await (const record of parseUpload(counted, format, { ...limits, ...options.csv })) {
      handlingFailed = true;
      recordsRead++;
      if (record.ok) {
        // exactJson: a number JSON.parse rounded (beyond 2^53, say) goes on as the record wrote it.
        const value = Buffer.from(exactJson(record.value), 'utf8');
        if (value.length <= maxRecordBytes) {
          const message = encodeRequest({ jobId, recordNumber: record.recordNumber, ruleSet: stored.name, ruleSetVersion: stored.version, value });
          await batcher.add({ topic: requestsTopic, key: message.key, value: message.value, headers: headerMap(message.headers) }, 1);
        } else {
          // A CSV row becomes an object naming every column: it can outgrow the limit.
          const reason = `record is ${value.length} bytes as JSON, over the limit of ${maxRecordBytes}`;
          const raw = value.subarray(0, OVERSIZED_RAW_PREVIEW_BYTES);
          await fileFailure({ ...failure, record: { ...record, ok: false, code: 'too_large', reason, raw, rawTruncated: true, bytes: value.length } });
          recordsFailed++;
        }
      } else {
        await fileFailure({ ...failure, record });
        recordsFailed++;
      }
      handlingFailed = false;
    }
    handlingFailed = true;
    if (recordsRead === 0 && job === undefined) throw new UploadFormatError('empty_upload', 'the upload holds no records: send at least one', counted.bytes, 1);
    await batcher.drain();
    await ensureJob();
    await store.setJobTotal(jobId, recordsRead, counted.sha256());
  } catch (error) {
    throw await closeAfterFailure(error, { store, jobId, job, ensureJob, batcher, recordsRead, handlingFailed });
  }
  options.onProgress?.(progress());
  const done = (await store.getJob(jobId)) as Job;
  return { job: done, format, records: recordsRead, produced: batcher.produced, failed: recordsFailed, bytes: counted.bytes };
}

interface FailureContext {
  readonly record: FailedRecord;
  readonly store: ResultStore;
  readonly jobId: string;
  readonly ensureJob: () => Promise<Job>;
  readonly batcher: RequestBatcher;
  readonly deadLetterTopic: string | null;
  readonly now: () => number;
}

async function fileFailure(context: FailureContext): Promise<void> {
  const { jobId, record } = context;
  await context.ensureJob();
  const topic = uploadDlqTopic(jobId);
  const createdAt = context.now();
  const reason = `line ${record.line}: ${record.reason}`;
  await context.store.addDlq({
    id: `${jobId}.upload.${record.recordNumber}`,
    jobId,
    recordNumber: record.recordNumber,
    topic,
    partition: 0,
    offset: record.recordNumber,
    reason,
    code: record.code,
    payload: record.raw,
    ...(record.rawTruncated ? { payloadSize: record.bytes } : {}),
    createdAt,
  });
  if (context.deadLetterTopic === null) return;
  const letter = encodeDeadLetter({
    code: record.code,
    reason,
    jobId,
    recordNumber: record.recordNumber,
    original: { topic, partition: 0, offset: record.recordNumber, key: requestKey(jobId, record.recordNumber), value: record.raw },
    ...(record.rawTruncated ? { originalBytes: record.bytes } : {}),
    time: createdAt,
  });
  const key = letter.key === undefined ? {} : { key: letter.key };
  await context.batcher.add({ topic: context.deadLetterTopic, ...key, value: letter.value, headers: headerMap(letter.headers) }, 0);
}

/**
 * A job whose upload was read to the end, submitted again: its records are all in, so nothing is
 * produced. The same bytes (a client retrying after a lost answer) answer the job; other bytes
 * would mix two uploads' results and are refused.
 */
async function resubmitted(existing: Job, counted: CountedUpload, options: SubmitJobOptions): Promise<SubmittedJob> {
  const head = await counted.peekFirstByte(SNIFF_BYTES, MAX_SNIFF_BYTES);
  const format = options.format ?? detectFormat(options.filename, options.contentType, head);
  for await (const _chunk of counted);
  if (counted.sha256() !== existing.uploadSha256)
    throw new StoreError(
      'JOB_EXISTS',
      `job "${existing.id}" already holds a complete upload of ${existing.total} records with other content: use another job id for this one`,
    );
  options.onProgress?.({ bytesRead: counted.bytes, recordsRead: 0, recordsProduced: 0, recordsFailed: 0 });
  return { job: existing, format, records: existing.total ?? 0, produced: 0, failed: 0, bytes: counted.bytes, resubmitted: true };
}

/**
 * After a failure: let the batches in flight settle and, when the upload failed (not Kafka or the
 * store), send what is left and close the job with the records read as its total. Returns the
 * error to throw.
 */
async function closeAfterFailure(
  error: unknown,
  context: {
    store: ResultStore;
    jobId: string;
    job: Promise<Job> | undefined;
    ensureJob: () => Promise<Job>;
    batcher: RequestBatcher;
    recordsRead: number;
    handlingFailed: boolean;
  },
): Promise<SubmitJobError> {
  const { jobId } = context;
  const reason = error instanceof Error ? error.message : String(error);
  const kafkaFailure = await context.batcher.settle();
  // Records read before the upload failed are kept however few: none sent yet still makes the job.
  if (context.job === undefined && (context.recordsRead === 0 || context.handlingFailed || kafkaFailure !== undefined))
    return new SubmitJobError(reason, error, jobId, null);
  if (context.handlingFailed || kafkaFailure !== undefined) {
    const again = `job "${jobId}" holds part of the records: submit the upload again with the same job id to complete it`;
    return new SubmitJobError(`${reason} (${again})`, error, jobId, null);
  }
  try {
    await (context.job ?? context.ensureJob());
    await context.batcher.drain();
    await context.store.setJobTotal(jobId, context.recordsRead);
  } catch (closing) {
    return new SubmitJobError(`${reason} (and job "${jobId}" could not be closed: ${(closing as Error).message})`, error, jobId, null);
  }
  const kept = context.recordsRead;
  return new SubmitJobError(`${reason} (job "${jobId}" keeps the ${kept} record${kept === 1 ? '' : 's'} read before it)`, error, jobId, kept);
}

/** Header names are few and fixed: one Buffer each, shared by every message. */
const headerNames = new Map<string, Buffer>();

export function headerMap(headers: Record<string, Buffer>): Map<Buffer, Buffer> {
  const map = new Map<Buffer, Buffer>();
  for (const [name, value] of Object.entries(headers)) {
    let key = headerNames.get(name);
    if (key === undefined) {
      key = Buffer.from(name);
      if (headerNames.size < 64) headerNames.set(name, key);
    }
    map.set(key, value);
  }
  return map;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

interface BatcherOptions {
  readonly batchRecords: number;
  readonly batchBytes: number;
  readonly maxInFlight: number;
  readonly lingerMs: number;
  readonly beforeSend: () => Promise<void>;
  readonly onAcknowledged: () => void;
}

/**
 * Messages grouped into produce requests: a batch goes when it has `batchRecords` messages, when
 * the next message would take it over `batchBytes`, or when its first message has waited
 * `lingerMs`. At most `maxInFlight` requests wait for acknowledgements; `add` waits beyond that,
 * which pauses the reading of the upload.
 */
class RequestBatcher {
  /** Records (requests, not dead letters) acknowledged. */
  produced = 0;
  /** The first send that failed; every later call throws it. */
  failure: unknown;

  readonly #producer: RequestProducer;
  readonly #options: BatcherOptions;
  #messages: ProducedMessage[] = [];
  #records = 0;
  #bytes = 0;
  #since = 0;
  readonly #inFlight: Promise<void>[] = [];

  constructor(producer: RequestProducer, options: BatcherOptions) {
    this.#producer = producer;
    this.#options = options;
  }

  /** `records`: how many job records the message stands for (1 for a request, 0 for a dead letter). */
  async add(message: ProducedMessage, records: number): Promise<void> {
    this.#throwIfFailed();
    const size = message.value.length + (message.key?.length ?? 0);
    if (this.#messages.length > 0 && this.#bytes + size > this.#options.batchBytes) await this.#send();
    if (this.#messages.length === 0) this.#since = Date.now();
    this.#messages.push(message);
    this.#records += records;
    this.#bytes += size;
    if (this.#messages.length >= this.#options.batchRecords || Date.now() - this.#since >= this.#options.lingerMs) await this.#send();
  }

  /** Sends what is left and waits for every acknowledgement. */
  async drain(): Promise<void> {
    if (this.#messages.length > 0) await this.#send();
    while (this.#inFlight.length > 0) await this.#inFlight.shift();
    this.#throwIfFailed();
  }

  /** Waits for the requests in flight without sending more; the failure of one, if any. */
  async settle(): Promise<unknown> {
    while (this.#inFlight.length > 0) await this.#inFlight.shift();
    return this.failure;
  }

  async #send(): Promise<void> {
    const messages = this.#messages;
    const records = this.#records;
    this.#messages = [];
    this.#records = 0;
    this.#bytes = 0;
    await this.#options.beforeSend();
    const sent = this.#producer.send({ messages }).then(
      () => {
        this.produced += records;
        this.#options.onAcknowledged();
      },
      (error: unknown) => {
        this.failure ??= error;
      },
    );
    this.#inFlight.push(sent);
    while (this.#inFlight.length >= this.#options.maxInFlight) await this.#inFlight.shift();
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/**
 * The upload's chunks, counted (for progress and the size limit) and stoppable by a signal, with
 * the first bytes readable ahead (to detect the format) without being consumed.
 */
class CountedUpload implements AsyncIterable<Buffer> {
  bytes = 0;
  readonly #hash = createHash('sha256');
  readonly #iterator: AsyncIterator<Uint8Array | string>;
  readonly #limit: number | undefined;
  readonly #signal: AbortSignal | undefined;
  #peeked: Buffer[] = [];

  constructor(source: UploadSource, limit: number | undefined, signal: AbortSignal | undefined) {
    this.#iterator =
      Symbol.asyncIterator in source
        ? (source as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]()
        : toAsync(source as Iterable<Uint8Array | string>);
    this.#limit = limit;
    this.#signal = signal;
  }

  /**
   * The first bytes, kept for the iteration: at least `want` (or all there are), more when they
   * are all blank, up to `most`, so that the first significant byte is among them.
   */
  async peekFirstByte(want: number, most: number): Promise<Buffer> {
    let head = Buffer.concat(this.#peeked);
    while (head.length < most && (head.length < want || isBlank(head))) {
      const next = await this.#next();
      if (next === undefined) break;
      this.#peeked.push(next);
      head = Buffer.concat([head, next]);
    }
    return head;
  }

  /** The digest of every byte read; call once, after the last chunk. */
  sha256(): string {
    return this.#hash.digest('hex');
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const peeked = this.#peeked;
    this.#peeked = [];
    yield* peeked;
    for (;;) {
      const next = await this.#next();
      if (next === undefined) return;
      yield next;
    }
  }

  async #next(): Promise<Buffer | undefined> {
    this.#signal?.throwIfAborted();
    const step = await this.#iterator.next();
    if (step.done === true) return undefined;
    const chunk =
      typeof step.value === 'string' ? Buffer.from(step.value, 'utf8') : Buffer.from(step.value.buffer, step.value.byteOffset, step.value.byteLength);
    this.bytes += chunk.length;
    this.#hash.update(chunk);
    // The rest is left unread (not destroyed): an HTTP server can still answer before closing.
    if (this.#limit !== undefined && this.bytes > this.#limit) throw new UploadTooLargeError(this.#limit);
    return chunk;
  }
}

/** Only whitespace and a UTF-8 byte order mark. */
function isBlank(bytes: Buffer): boolean {
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  for (let i = start; i < bytes.length; i++) {
    const b = bytes[i];
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false;
  }
  return true;
}

async function* toAsync(source: Iterable<Uint8Array | string>): AsyncGenerator<Uint8Array | string> {
  yield* source;
}
