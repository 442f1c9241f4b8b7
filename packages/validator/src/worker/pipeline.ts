/**
 * The validation pipeline every record source feeds: decode a batch's envelopes, validate its
 * records (in the validation threads, within their budgets), make results and dead letters durable
 * in the store, publish them to the results and DLQ topics, and hand back, once all of it is done,
 * which records were dead-lettered. A source commits (consumer group) or acknowledges (share group)
 * only after that: the integrity guarantees live here, whatever the source.
 */
import { randomUUID } from 'node:crypto';
import type { BatchHandled, FetchedRecord } from '@lagscale/kafka';
import { sendThroughFailover } from '@lagscale/kafka';
import type { Producer } from '@platformatic/kafka';
import { type DecodedRequest, decodeRequest, encodeDeadLetter, encodeResult } from '../jobs/envelope.js';
import { tooLargeReason } from '../rules/decode.js';
import type { RecordResult, Violation } from '../rules/record-run.js';
import type { RuleSetDocument } from '../rules/rule-set.js';
import type { UniqueClaim } from '../rules/uniqueness.js';
import type { DlqInput, ResultInput, ResultStore } from '../store/store.js';
import { OUTCOME, ruleSetKey, type ValidationInput, type ValidationOutput } from './batch-validation.js';
import type { WorkerMetrics } from './metrics.js';
import type { BatchValidator } from './validation-threads.js';
import type { WorkerOptions } from './worker.js';

/** Rule set lookups kept by the worker's main thread (names and versions in use are far fewer). */
const KEPT_RULE_SETS = 10_000;

/**
 * Rule sets by name and version, read once; `latest` is re-resolved every few seconds. They are
 * compiled where the records are validated (the threads, within their budgets), not here.
 */
class RuleSetCache {
  readonly #store: ResultStore;
  readonly #compiled = new Map<string, ResolvedRuleSet | null>();
  readonly #latest = new Map<string, { version: number | null; at: number }>();

  constructor(store: ResultStore) {
    this.#store = store;
  }

  /** Null when the store has no such rule set (the record goes to the DLQ). */
  async get(name: string, version: number | undefined): Promise<ResolvedRuleSet | null> {
    let wanted = version;
    if (wanted === undefined) {
      const known = this.#latest.get(name);
      if (known && Date.now() - known.at < 5000) wanted = known.version ?? undefined;
      else {
        const stored = await this.#store.getRuleSet(name);
        // Names come from the requests, which anyone who can produce to the topic writes: bounded.
        if (this.#latest.size >= KEPT_RULE_SETS) this.#latest.clear();
        this.#latest.set(name, { version: stored?.version ?? null, at: Date.now() });
        if (!stored) return null;
        wanted = stored.version;
      }
      if (wanted === undefined) return null;
    }
    const key = ruleSetKey(name, wanted);
    if (this.#compiled.has(key)) return this.#compiled.get(key) ?? null;
    const stored = await this.#store.getRuleSet(name, wanted);
    // Saved rule sets were checked when saved; one that no longer compiles (saved by an older
    // version, or a corrupted store) sends its records to the DLQ with the reason, from the thread.
    const entry = stored ? { key, version: stored.version, document: stored.document } : null;
    if (entry !== null) {
      if (this.#compiled.size >= KEPT_RULE_SETS) this.#compiled.clear();
      this.#compiled.set(key, entry);
    }
    return entry;
  }
}

interface ResolvedRuleSet {
  readonly key: string;
  readonly version: number;
  readonly document: RuleSetDocument;
}

/** A record's bytes without the UTF-8 byte order mark decoding drops too. */
function withoutByteOrderMark(bytes: Buffer): Buffer {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
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

type Request = Extract<DecodedRequest, { ok: true }>;

/** A batch after the main thread's part: early dead letters found, the rest packed for validation. */
interface PreparedBatch {
  readonly now: number;
  readonly outcome: BatchOutcome;
  /** The records sent to validation, in input order. */
  readonly records: readonly { readonly m: FetchedRecord; readonly request: Request; readonly ruleSet: ResolvedRuleSet }[];
  readonly input: ValidationInput;
  readonly documents: ReadonlyMap<string, RuleSetDocument>;
  /** Whether the store has each job of the batch (a record of an unknown job goes to the DLQ). */
  readonly jobs: ReadonlyMap<string, boolean>;
}

interface BatchOutcome {
  readonly results: ResultInput[];
  /** The consumed record of each result, by index (a result the store refuses goes to the DLQ). */
  readonly resultRecords: FetchedRecord[];
  readonly dlq: DlqInput[];
  readonly outgoingResults: { key: Buffer; value: Buffer; headers: Record<string, Buffer> }[];
  readonly outgoingDeadLetters: { key: Buffer | undefined; value: Buffer; headers: Record<string, Buffer> }[];
  /** The records dead-lettered (a share group rejects them: never delivered again). */
  readonly deadLettered: Set<FetchedRecord>;
}

export interface PipelineOptions {
  readonly store: ResultStore;
  readonly logger: WorkerOptions['logger'];
  readonly metrics: WorkerMetrics;
  readonly validator: BatchValidator;
  /** Publishes results and dead letters; null when neither topic is set. */
  readonly producer: Producer<Buffer, Buffer, Buffer, Buffer> | null;
  readonly resultsTopic: string | null;
  readonly deadLetterTopic: string | null;
  readonly maxRecordBytes: number;
  readonly maxDepth: number;
  readonly keepRecordBytes: number;
  readonly recordCostMs: number;
}

/**
 * The pipeline as one handler for a record source: each call takes a batch through the main
 * thread's part and returns at once with `settled`, which resolves (naming the dead-lettered
 * records) when the batch is stored and published. Batches are stored in the order they came.
 */
export function createValidationPipeline(options: PipelineOptions): (batch: readonly FetchedRecord[]) => Promise<BatchHandled> {
  const { store, logger, metrics, validator, producer, resultsTopic, deadLetterTopic, maxRecordBytes, maxDepth, keepRecordBytes } = options;
  const ruleSets = new RuleSetCache(store);
  /** Jobs known to exist (a job is never removed); an unknown one is asked about again each batch. */
  const knownJobs = new Set<string>();
  const jobExists = async (jobId: string): Promise<boolean> => {
    if (knownJobs.has(jobId)) return true;
    if ((await store.getJob(jobId)) === undefined) return false;
    if (knownJobs.size < 100_000) knownJobs.add(jobId);
    return true;
  };

  const toDlq = (outcome: BatchOutcome, now: number, m: FetchedRecord, code: string, reason: string, jobId?: string, recordNumber?: number): void => {
    outcome.deadLettered.add(m);
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

  /** The main thread's part before validation: envelopes, rule sets (the only awaits) and jobs. */
  const prepareBatch = async (batch: readonly FetchedRecord[]): Promise<PreparedBatch> => {
    const outcome: BatchOutcome = { results: [], resultRecords: [], dlq: [], outgoingResults: [], outgoingDeadLetters: [], deadLettered: new Set() };
    const now = Date.now();
    const requests = batch.map((m) => decodeRequest({ key: m.key, value: m.value, headers: m.headers }));
    const batchRuleSets = new Map<string, ResolvedRuleSet | null>();
    // A batch's records nearly all name the same rule set: its key is made once per run of them.
    let lastName: string | undefined;
    let lastVersion: number | undefined;
    let lastKey = '';
    const ruleSetKeys = requests.map((request) => {
      if (!request.ok) return '';
      if (request.ruleSet !== lastName || request.ruleSetVersion !== lastVersion) {
        lastName = request.ruleSet;
        lastVersion = request.ruleSetVersion;
        lastKey = `${request.ruleSet}\u0000${request.ruleSetVersion ?? ''}`;
      }
      return lastKey;
    });
    for (let index = 0; index < requests.length; index++) {
      const request = requests[index] as DecodedRequest;
      if (!request.ok) continue;
      const key = ruleSetKeys[index] as string;
      if (!batchRuleSets.has(key)) batchRuleSets.set(key, await ruleSets.get(request.ruleSet, request.ruleSetVersion));
    }
    const jobs = new Map<string, boolean>();
    for (const request of requests) {
      if (request.ok && !jobs.has(request.jobId)) jobs.set(request.jobId, await jobExists(request.jobId));
    }
    const documents = new Map<string, RuleSetDocument>();
    const records: { m: FetchedRecord; request: Request; ruleSet: ResolvedRuleSet }[] = [];
    let bytes = 0;
    batch.forEach((m, index) => {
      const request = requests[index] as DecodedRequest;
      if (!request.ok) {
        toDlq(outcome, now, m, request.code, request.reason, request.jobId, request.recordNumber);
        return;
      }
      const ruleSet = batchRuleSets.get(ruleSetKeys[index] as string) ?? null;
      if (ruleSet === null) {
        const which = request.ruleSetVersion === undefined ? `"${request.ruleSet}"` : `"${request.ruleSet}" version ${request.ruleSetVersion}`;
        toDlq(outcome, now, m, 'unknown_rule_set', `rule set ${which} does not exist; create it, then replay this record`, request.jobId, request.recordNumber);
        return;
      }
      if (request.value.length > maxRecordBytes) {
        toDlq(outcome, now, m, 'too_large', tooLargeReason(request.value.length, maxRecordBytes), request.jobId, request.recordNumber);
        return;
      }
      documents.set(ruleSet.key, ruleSet.document);
      records.push({ m, request, ruleSet });
      bytes += request.value.length;
    });
    const data = new Uint8Array(bytes);
    const ends = new Uint32Array(records.length);
    const recordNumbers = new Float64Array(records.length);
    const jobKnown = new Uint8Array(records.length);
    let at = 0;
    records.forEach(({ request }, i) => {
      data.set(request.value, at);
      at += request.value.length;
      ends[i] = at;
      recordNumbers[i] = request.recordNumber;
      jobKnown[i] = jobs.get(request.jobId) === true ? 1 : 0;
    });
    const input: ValidationInput = {
      now,
      maxBytes: maxRecordBytes,
      maxDepth,
      data,
      ends,
      ruleSets: records.map((r) => r.ruleSet.key),
      jobIds: records.map((r) => r.request.jobId),
      recordNumbers,
      jobKnown,
    };
    return { now, outcome, records, input, documents, jobs };
  };

  /**
   * The records the store answered otherwise than the batch alone did, validated again (in the
   * threads, within the same budgets) against the store's answers: by index, the new result or
   * the dead letter.
   */
  const revalidate = async (
    prepared: PreparedBatch,
    output: ValidationOutput,
    real: Uint8Array,
  ): Promise<Map<number, RecordResult | { deadLetter: { code: string; reason: string } }>> => {
    const indexes: number[] = [];
    prepared.records.forEach((_, i) => {
      if (output.outcomes[i] === OUTCOME.deadLetter) return;
      for (let flat = output.claimsFrom[i] as number; flat < (output.claimsTo[i] as number); flat++) {
        if (real[flat] !== output.claims.answers[flat]) {
          indexes.push(i);
          return;
        }
      }
    });
    const redone = new Map<number, RecordResult | { deadLetter: { code: string; reason: string } }>();
    if (indexes.length === 0) return redone;
    const chosen = indexes.map((i) => prepared.records[i] as PreparedBatch['records'][number]);
    const data = new Uint8Array(chosen.reduce((total, r) => total + r.request.value.length, 0));
    const ends = new Uint32Array(chosen.length);
    let at = 0;
    chosen.forEach((r, n) => {
      data.set(r.request.value, at);
      at += r.request.value.length;
      ends[n] = at;
    });
    const input: ValidationInput = {
      now: prepared.input.now,
      maxBytes: prepared.input.maxBytes,
      maxDepth: prepared.input.maxDepth,
      data,
      ends,
      ruleSets: chosen.map((r) => r.ruleSet.key),
      jobIds: chosen.map((r) => r.request.jobId),
      recordNumbers: Float64Array.from(chosen.map((r) => r.request.recordNumber)),
      jobKnown: new Uint8Array(chosen.length).fill(1),
      answered: { ...output.claims, answers: real },
    };
    const again = await validator.validate(input, prepared.documents);
    const violationsOf = new Map(again.violationRecords.map((n, v) => [n, again.violations[v] as Violation[]]));
    const deadLetterOf = new Map(again.deadLetterRecords.map((n, d) => [n, d]));
    indexes.forEach((i, n) => {
      const d = deadLetterOf.get(n);
      if (d !== undefined) {
        redone.set(i, { deadLetter: { code: again.deadLetterCodes[d] as string, reason: again.deadLetterReasons[d] as string } });
        return;
      }
      redone.set(i, {
        valid: again.outcomes[n] === OUTCOME.valid,
        violations: violationsOf.get(n) ?? [],
        ...(again.truncated[n] === 1 ? { truncated: true as const } : {}),
      });
    });
    return redone;
  };

  /**
   * The main thread's part after validation. The batch's uniqueness claims are made for real, one
   * store call per job; a record answered otherwise than the store answers is validated again
   * against the store's answers (see ClaimRecorder). Then the results, dead letters and outgoing
   * messages.
   */
  const finishBatch = async (prepared: PreparedBatch, output: ValidationOutput): Promise<BatchOutcome> => {
    const { outcome, now, records } = prepared;
    const real = new Uint8Array(output.claims.jobIds.length);
    const byJob = new Map<string, number[]>();
    output.claims.jobIds.forEach((jobId, flat) => {
      const list = byJob.get(jobId);
      if (list === undefined) byJob.set(jobId, [flat]);
      else list.push(flat);
    });
    for (const [jobId, flats] of byJob) {
      const claims: UniqueClaim[] = flats.map((flat) => ({
        ruleId: output.claims.ruleIds[flat] as string,
        key: output.claims.keys[flat] as string,
        recordNumber: output.claims.recordNumbers[flat] as number,
      }));
      const answers = await store.claimUnique(jobId, claims);
      flats.forEach((flat, i) => {
        real[flat] = answers[i] ? 1 : 0;
      });
    }
    const again = await revalidate(prepared, output, real);
    const violationsOf = new Map<number, Violation[]>();
    output.violationRecords.forEach((index, i) => {
      violationsOf.set(index, output.violations[i] as Violation[]);
    });
    const deadLetterOf = new Map<number, number>();
    output.deadLetterRecords.forEach((index, i) => {
      deadLetterOf.set(index, i);
    });
    records.forEach(({ m, request, ruleSet }, i) => {
      const kind = output.outcomes[i];
      if (kind === OUTCOME.deadLetter) {
        const d = deadLetterOf.get(i) as number;
        toDlq(outcome, now, m, output.deadLetterCodes[d] as string, output.deadLetterReasons[d] as string, request.jobId, request.recordNumber);
        return;
      }
      let result: RecordResult = {
        valid: kind === OUTCOME.valid,
        violations: violationsOf.get(i) ?? [],
        ...(output.truncated[i] === 1 ? { truncated: true as const } : {}),
      };
      const redone = again.get(i);
      if (redone !== undefined && 'deadLetter' in redone) {
        toDlq(outcome, now, m, redone.deadLetter.code, redone.deadLetter.reason, request.jobId, request.recordNumber);
        return;
      }
      if (redone !== undefined) result = redone;
      metrics.recordOutcome(result.valid ? 'valid' : 'invalid');
      for (const v of result.violations) metrics.violation(v.severity);
      outcome.results.push({
        jobId: request.jobId,
        recordNumber: request.recordNumber,
        valid: result.valid,
        violations: result.violations,
        ...(result.truncated ? { truncated: true } : {}),
        // The bytes, which the validation thread decoded as UTF-8: the store keeps them as text.
        ...(keepRecordBytes > 0 && request.value.length <= keepRecordBytes ? { record: withoutByteOrderMark(request.value) } : {}),
      });
      outcome.resultRecords.push(m);
      if (resultsTopic !== null) {
        outcome.outgoingResults.push(
          encodeResult({
            jobId: request.jobId,
            recordNumber: request.recordNumber,
            ruleSet: { name: request.ruleSet, version: ruleSet.version },
            result,
            validatedAt: now,
            source: { topic: m.topic, partition: m.partition, offset: m.offset },
          }),
        );
      }
    });
    return outcome;
  };

  /** Claims and store writes of the batches one after the other, in batch order, whichever thread finishes first. */
  let inOrder: Promise<unknown> = Promise.resolve();
  let lastSend: Promise<unknown> = Promise.resolve();
  /** Results and dead letters to their topics; one send at a time, in batch order. */
  const publish = async (outcome: BatchOutcome): Promise<void> => {
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
    // With two in flight the client's idempotent producer can have the broker refuse one
    // (OUT_OF_ORDER_SEQUENCE_NUMBER).
    // Through a broker failover too: a send to a leader that died is sent again to the new one.
    const sent = lastSend.then(() =>
      sendThroughFailover(producer, messages as Parameters<typeof producer.send>[0]['messages'], {
        onRetry: (attempt, error, remaining) =>
          logger.warn({ event: 'publish_retry', attempt, remaining, err: error.message }, 'publishing results failed; sending again with fresh metadata'),
      }),
    );
    lastSend = sent.catch(() => {});
    await sent;
  };
  return async (batch: readonly FetchedRecord[]): Promise<BatchHandled> => {
    const started = performance.now();
    const prepared = await prepareBatch(batch);
    // Validation runs beside the next batches; the store write (in batch order), the topics
    // and (by the source) the commit or acknowledgements follow it, and those wait for all of them.
    const validated = validator.validate(prepared.input, prepared.documents);
    // Observed now: a failure is reported through `stored`, possibly after earlier batches.
    validated.catch(() => {});
    const stored = inOrder
      .then(() => validated)
      .then(async (output) => {
        const outcome = await finishBatch(prepared, output);
        const { rejected } = await store.upsertResults(outcome.results);
        // A result the store refuses for good (a mapping limit, say) is not retried forever:
        // its record goes to the DLQ with the store's reason, and the batch goes on.
        for (const { index, reason } of rejected) {
          const result = outcome.results[index] as ResultInput;
          const m = outcome.resultRecords[index] as FetchedRecord;
          logger.error({ jobId: result.jobId, recordNumber: result.recordNumber, reason }, 'the store refused a result; its record goes to the DLQ');
          toDlq(outcome, prepared.now, m, 'store_rejected', reason, result.jobId, result.recordNumber);
        }
        if (outcome.dlq.length > 0) await store.addDlqBatch(outcome.dlq);
        // The demo's extra cost per record, spent a batch at a time like work on one core.
        const cost = options.recordCostMs;
        if (cost > 0) await new Promise((resolve) => setTimeout(resolve, cost * batch.length));
        metrics.batch((performance.now() - started) / 1000);
        return outcome;
      });
    inOrder = stored.catch(() => {});
    const settled = stored.then(async (outcome) => {
      await publish(outcome);
      return { rejected: outcome.deadLettered as ReadonlySet<unknown> };
    });
    return { settled };
  };
}
