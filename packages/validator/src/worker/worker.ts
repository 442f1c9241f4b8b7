import { randomUUID } from 'node:crypto';
import {
  type ConsumedRecord,
  type ConsumerLogger,
  ensureTopics,
  type KafkaConnectionOptions,
  runBatchConsumer,
  toClientConnectionOptions,
} from '@lagscale/kafka';
import { Producer } from '@platformatic/kafka';
import { type DecodedRequest, decodeRequest, encodeDeadLetter, encodeResult, VALIDATION_TOPICS } from '../jobs/envelope.js';
import { type CompiledRuleSet, compileRuleSet } from '../rules/compile.js';
import { decodeRecord } from '../rules/decode.js';
import type { RecordResult } from '../rules/record-run.js';
import { ClaimRecorder, type UniquenessTracker } from '../rules/uniqueness.js';
import { validateRecord } from '../rules/validate.js';
import { type DlqInput, type ResultInput, type ResultStore, StoreError, type UniquenessBacking } from '../store/store.js';
import type { WorkerMetrics } from './metrics.js';

export interface WorkerOptions {
  readonly connection: KafkaConnectionOptions;
  /** Consumer group of the workers. Default `validator`. */
  readonly group?: string;
  readonly requestsTopic?: string;
  /** Partitions of the topics the worker creates when they are missing. Default 8. */
  readonly requestPartitions?: number;
  readonly resultsTopic?: string | null;
  readonly deadLetterTopic?: string | null;
  readonly store: ResultStore & UniquenessBacking;
  readonly batchSize?: number;
  /** Records larger than this go to the DLQ (`too_large`). Default 1 MiB. */
  readonly maxRecordBytes?: number;
  readonly maxDepth?: number;
  /** Keep the original record JSON with its result (for search and display), up to this size. Default 64 KiB; 0 keeps none. */
  readonly keepRecordBytes?: number;
  readonly logger: ConsumerLogger & { error(fields: object, message: string): void };
  readonly metrics: WorkerMetrics;
  readonly signal: AbortSignal;
  /** Called once the worker joined its group and is consuming (for /readyz). */
  readonly onReady?: () => void;
  /**
   * Extra time spent per record (ms) before the batch is committed, standing in for a heavier rule set
   * or a slow downstream call: the demo uses it so scaling shows at rates a laptop can produce.
   */
  readonly recordCostMs?: number;
}

/** Rule sets by name and version, compiled once; `latest` is re-resolved every few seconds. */
class RuleSetCache {
  readonly #store: ResultStore;
  readonly #compiled = new Map<string, { version: number; compiled: CompiledRuleSet } | null>();
  readonly #latest = new Map<string, { version: number | null; at: number }>();

  constructor(store: ResultStore) {
    this.#store = store;
  }

  /** Null when the store has no such rule set (the record goes to the DLQ). */
  async get(name: string, version: number | undefined): Promise<{ version: number; compiled: CompiledRuleSet } | null> {
    let wanted = version;
    if (wanted === undefined) {
      const known = this.#latest.get(name);
      if (known && Date.now() - known.at < 5000) wanted = known.version ?? undefined;
      else {
        const stored = await this.#store.getRuleSet(name);
        this.#latest.set(name, { version: stored?.version ?? null, at: Date.now() });
        if (!stored) return null;
        wanted = stored.version;
      }
      if (wanted === undefined) return null;
    }
    const key = `${name}@${wanted}`;
    if (this.#compiled.has(key)) return this.#compiled.get(key) ?? null;
    const stored = await this.#store.getRuleSet(name, wanted);
    // Saved rule sets were checked when saved; compiling again only fails on a corrupted store.
    const entry = stored ? { version: stored.version, compiled: compileRuleSet(stored.document) } : null;
    if (entry !== null) this.#compiled.set(key, entry);
    return entry;
  }
}

const headerNames = new Map<string, Buffer>();
function headerName(name: string): Buffer {
  let bytes = headerNames.get(name);
  if (bytes === undefined) {
    bytes = Buffer.from(name);
    if (headerNames.size < 100) headerNames.set(name, bytes);
  }
  return bytes;
}

/** A job's uniqueness claims in one batch: the store's tracker, and the recorder when it takes batches. */
interface JobClaims {
  readonly shared: UniquenessTracker;
  readonly recorder: ClaimRecorder | null;
}

interface ValidatedRecord {
  readonly m: ConsumedRecord;
  readonly request: Extract<DecodedRequest, { ok: true }>;
  readonly ruleSet: { version: number; compiled: CompiledRuleSet };
  readonly value: unknown;
  readonly result: RecordResult;
  readonly job: JobClaims;
  /** The record's claims in the recorder: [claimsFrom, claimsTo). */
  readonly claimsFrom: number;
  readonly claimsTo: number;
}

interface BatchOutcome {
  readonly results: ResultInput[];
  readonly dlq: DlqInput[];
  readonly outgoingResults: { key: Buffer; value: Buffer; headers: Record<string, Buffer> }[];
  readonly outgoingDeadLetters: { key: Buffer | undefined; value: Buffer; headers: Record<string, Buffer> }[];
}

/**
 * The validation worker: consumes `validation.requests` in batches, validates each record
 * against its rule set, stores results (upsert by job and record) and dead letters (by topic,
 * partition and offset) in one durable step, publishes them to the results and DLQ topics, and
 * only then commits. Redelivery after a crash or a rebalance rewrites the same rows.
 */
export async function runWorker(options: WorkerOptions): Promise<{ handled: number; committed: number }> {
  const { store, logger, metrics } = options;
  const ruleSets = new RuleSetCache(store);
  const maxRecordBytes = options.maxRecordBytes ?? 1024 * 1024;
  const maxDepth = options.maxDepth ?? 64;
  const keepRecordBytes = options.keepRecordBytes ?? 64 * 1024;
  const resultsTopic = options.resultsTopic === undefined ? VALIDATION_TOPICS.results : options.resultsTopic;
  const deadLetterTopic = options.deadLetterTopic === undefined ? VALIDATION_TOPICS.deadLetters : options.deadLetterTopic;
  const requestsTopic = options.requestsTopic ?? VALIDATION_TOPICS.requests;
  await ensureTopics(options.connection, [
    { name: requestsTopic, partitions: options.requestPartitions ?? 8 },
    ...(resultsTopic === null ? [] : [{ name: resultsTopic, partitions: options.requestPartitions ?? 8, configs: { 'cleanup.policy': 'compact' } }]),
    ...(deadLetterTopic === null ? [] : [{ name: deadLetterTopic, partitions: 1 }]),
  ]);
  const producer =
    resultsTopic === null && deadLetterTopic === null
      ? null
      : new Producer({
          clientId: `lagscale-worker-${process.env.LAGSCALE_WORKER_ID ?? process.pid}`,
          bootstrapBrokers: [...options.connection.brokers],
          ...toClientConnectionOptions(options.connection),
          idempotent: true,
          acks: -1,
          retries: 5,
          // Results are repetitive JSON: lz4 (WebAssembly in the client, no native code) shrinks a
          // batch several times for little CPU, and the broker, sharing the cores, writes less.
          compression: 'lz4',
        });

  /** The job's uniqueness claims for one batch; null when the store has no such job (the record goes to the DLQ). */
  const jobClaims = (jobId: string): JobClaims | null => {
    let shared: UniquenessTracker;
    try {
      shared = store.uniquenessTracker(jobId);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'JOB_NOT_FOUND') return null;
      throw error;
    }
    return { shared, recorder: shared.seenAll === undefined ? null : new ClaimRecorder() };
  };

  const processBatch = async (batch: readonly ConsumedRecord[]): Promise<BatchOutcome> => {
    const outcome: BatchOutcome = { results: [], dlq: [], outgoingResults: [], outgoingDeadLetters: [] };
    const now = Date.now();
    const toDlq = (m: ConsumedRecord, code: string, reason: string, jobId?: string, recordNumber?: number): void => {
      outcome.dlq.push({
        id: randomUUID(),
        ...(jobId === undefined ? {} : { jobId }),
        ...(recordNumber === undefined ? {} : { recordNumber }),
        topic: m.topic,
        partition: m.partition,
        offset: Number(m.offset),
        reason,
        code,
        payload: m.value ?? Buffer.alloc(0),
        createdAt: now,
      });
      if (deadLetterTopic !== null) {
        outcome.outgoingDeadLetters.push(
          encodeDeadLetter({
            code,
            reason,
            jobId,
            recordNumber,
            original: { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key, value: m.value, headers: m.headers, timestamp: m.timestamp },
          }),
        );
      }
      metrics.recordOutcome('dlq');
      metrics.dlq(code);
    };
    // Rule sets first (the only awaits), then the records in one synchronous pass.
    const requests = batch.map((m) => decodeRequest({ key: m.key, value: m.value, headers: m.headers }));
    const batchRuleSets = new Map<string, { version: number; compiled: CompiledRuleSet } | null>();
    for (const request of requests) {
      if (!request.ok) continue;
      const key = `${request.ruleSet}\u0000${request.ruleSetVersion ?? ''}`;
      if (!batchRuleSets.has(key)) batchRuleSets.set(key, await ruleSets.get(request.ruleSet, request.ruleSetVersion));
    }
    const jobs = new Map<string, JobClaims | null>();
    const validated: ValidatedRecord[] = [];
    batch.forEach((m, index) => {
      const request = requests[index] as DecodedRequest;
      if (!request.ok) {
        toDlq(m, request.code, request.reason, request.jobId, request.recordNumber);
        return;
      }
      const ruleSet = batchRuleSets.get(`${request.ruleSet}\u0000${request.ruleSetVersion ?? ''}`) ?? null;
      if (ruleSet === null) {
        const which = request.ruleSetVersion === undefined ? `"${request.ruleSet}"` : `"${request.ruleSet}" version ${request.ruleSetVersion}`;
        toDlq(m, 'unknown_rule_set', `rule set ${which} does not exist; create it, then replay this record`, request.jobId, request.recordNumber);
        return;
      }
      const decoded = decodeRecord(request.value, { maxBytes: maxRecordBytes, maxDepth });
      if (!decoded.ok) {
        toDlq(m, decoded.code, decoded.reason, request.jobId, request.recordNumber);
        return;
      }
      let job = jobs.get(request.jobId);
      if (job === undefined) {
        job = jobClaims(request.jobId);
        jobs.set(request.jobId, job);
      }
      if (job === null) {
        toDlq(m, 'unknown_job', `job "${request.jobId}" does not exist; create it, then replay this record`, request.jobId, request.recordNumber);
        return;
      }
      const claimsFrom = job.recorder?.claims.length ?? 0;
      const context = { jobId: request.jobId, recordNumber: request.recordNumber, uniqueness: job.recorder ?? job.shared, now };
      const result = validateRecord(ruleSet.compiled, decoded.value, context);
      validated.push({ m, request, ruleSet, value: decoded.value, result, job, claimsFrom, claimsTo: job.recorder?.claims.length ?? 0 });
    });
    // The batch's uniqueness claims, one write per job; records answered otherwise than the
    // store answers are validated again against it (see ClaimRecorder).
    const realAnswers = new Map<JobClaims, boolean[]>();
    for (const job of jobs.values()) {
      if (job !== null && job.recorder !== null && job.recorder.claims.length > 0) realAnswers.set(job, job.shared.seenAll?.(job.recorder.claims) ?? []);
    }
    for (const record of validated) {
      const { request, job } = record;
      let result = record.result;
      const real = realAnswers.get(job);
      if (real !== undefined && job.recorder !== null) {
        for (let i = record.claimsFrom; i < record.claimsTo; i++) {
          if (real[i] === job.recorder.answers[i]) continue;
          const context = { jobId: request.jobId, recordNumber: request.recordNumber, uniqueness: job.shared, now };
          result = validateRecord(record.ruleSet.compiled, record.value, context);
          break;
        }
      }
      metrics.recordOutcome(result.valid ? 'valid' : 'invalid');
      for (const v of result.violations) metrics.violation(v.severity);
      outcome.results.push({
        jobId: request.jobId,
        recordNumber: request.recordNumber,
        valid: result.valid,
        violations: result.violations,
        ...(result.truncated ? { truncated: true } : {}),
        ...(keepRecordBytes > 0 && request.value.length <= keepRecordBytes ? { record: request.value.toString('utf8') } : {}),
      });
      if (resultsTopic !== null) {
        outcome.outgoingResults.push(
          encodeResult({
            jobId: request.jobId,
            recordNumber: request.recordNumber,
            ruleSet: { name: request.ruleSet, version: record.ruleSet.version },
            result,
            validatedAt: now,
            source: { topic: record.m.topic, partition: record.m.partition, offset: record.m.offset },
          }),
        );
      }
    }
    return outcome;
  };

  let lastSend: Promise<unknown> = Promise.resolve();
  try {
    const consumed = await runBatchConsumer({
      connection: options.connection,
      group: options.group ?? 'validator',
      topics: [requestsTopic],
      clientId: `lagscale-worker-${process.env.LAGSCALE_WORKER_ID ?? process.pid}`,
      batchSize: options.batchSize ?? 500,
      logger,
      signal: options.signal,
      assigned: () => options.onReady?.(),
      handle: async (batch) => {
        const started = performance.now();
        const outcome = await processBatch(batch);
        // Durable first (the store), then the topics, then (by the consumer) the commit. The
        // commit waits for the topics to acknowledge; the next batch does not.
        await store.upsertResults(outcome.results);
        if (outcome.dlq.length > 0) await store.addDlqBatch(outcome.dlq);
        const cost = options.recordCostMs ?? 0;
        if (cost > 0) await new Promise((resolve) => setTimeout(resolve, cost * batch.length));
        metrics.batch((performance.now() - started) / 1000);
        if (producer === null) return;
        // Without serializers the client wants header names as bytes too (the few names, made once).
        const headers = (h: Record<string, Buffer>): Map<Buffer, Buffer> => {
          const map = new Map<Buffer, Buffer>();
          for (const name in h) map.set(headerName(name), h[name] as Buffer);
          return map;
        };
        const messages = [
          ...outcome.outgoingResults.map((m) => ({ key: m.key, value: m.value, headers: headers(m.headers), topic: resultsTopic as string })),
          ...outcome.outgoingDeadLetters.map((m) => ({
            ...(m.key === undefined ? {} : { key: m.key }),
            value: m.value,
            headers: headers(m.headers),
            topic: deadLetterTopic as string,
          })),
        ];
        if (messages.length === 0) return;
        // One send at a time, in batch order: with two in flight the client's idempotent producer
        // can have the broker refuse one (OUT_OF_ORDER_SEQUENCE_NUMBER).
        const sent = lastSend.then(() => producer.send({ messages: messages as Parameters<typeof producer.send>[0]['messages'] }));
        lastSend = sent.catch(() => {});
        return { settled: sent.then(() => {}) };
      },
    });
    return { handled: consumed.handled, committed: consumed.committed };
  } finally {
    await producer?.close();
  }
}
