import { setTimeout as sleep } from 'node:timers/promises';
import { type ConsumerLogger, ensureTopics, FAILOVER_PRODUCER_RETRIES, type KafkaConnectionOptions, toClientConnectionOptions } from '@lagscale/kafka';
import { Producer } from '@platformatic/kafka';
import { VALIDATION_TOPICS } from '../jobs/envelope.js';
import type { ValidationBudgets } from '../sandbox/budgets.js';
import type { SandboxIncident } from '../sandbox/pool.js';
import type { ResultStore } from '../store/store.js';
import type { WorkerMetrics } from './metrics.js';
import { createValidationPipeline } from './pipeline.js';
import { consumerGroupSource, type GroupProtocol, type RecordSource, shareGroupSource } from './sources.js';
import { type BatchValidator, InlineValidator, ValidationThreads } from './validation-threads.js';

export interface WorkerOptions {
  readonly connection: KafkaConnectionOptions;
  /** Consumer group of the workers. Default `validator`. */
  readonly group?: string;
  /**
   * Consume as a member of this share group (KIP-932, Kafka 4.2+) instead of the consumer group:
   * records are acquired one by one, so more workers than partitions all work, and each record
   * is accepted once its result is stored, rejected once its dead letter is, released when given up.
   */
  readonly shareGroup?: string;
  /**
   * How the consumer group's members join: `classic` (default) or `consumer` (KIP-848, Kafka 4.0+:
   * partitions move one at a time, after their handled records are committed; no member stops).
   */
  readonly groupProtocol?: GroupProtocol;
  readonly requestsTopic?: string;
  /** Partitions of the topics the worker creates when they are missing. Default 8. */
  readonly requestPartitions?: number;
  /**
   * Also publish each result to this topic (compacted, keyed like the request), for consumers
   * downstream of validation. Default none: the store is the results' home, and publishing costs
   * the worker and the broker about as much as storing.
   */
  readonly resultsTopic?: string | null;
  readonly deadLetterTopic?: string | null;
  readonly store: ResultStore;
  /** Default DEFAULT_BATCH_SIZE. */
  readonly batchSize?: number;
  /** Records larger than this go to the DLQ (`too_large`). Default 1 MiB. */
  readonly maxRecordBytes?: number;
  readonly maxDepth?: number;
  /** Keep the original record JSON with its result (for search and display), up to this size. Default 64 KiB; 0 keeps none. */
  readonly keepRecordBytes?: number;
  readonly logger: ConsumerLogger & { error(fields: object, message: string): void };
  readonly metrics: WorkerMetrics;
  readonly signal: AbortSignal;
  /** Called once the worker joined its group and is consuming (for /readyz), and again after each rejoin. */
  readonly onReady?: () => void;
  /** The consumer failed after it had worked and rejoins in `retryInMs` (for /readyz: not ready meanwhile). */
  readonly onConsumerLost?: (error: Error, retryInMs: number) => void;
  /**
   * Extra time spent per record (ms) before the batch is committed, standing in for a heavier rule set
   * or a slow downstream call: the demo uses it so scaling shows at rates a laptop can produce.
   */
  readonly recordCostMs?: number;
  /**
   * Threads that decode and validate records, beside the main thread's consumer, store writes and
   * producer. Default 1; 0 validates on the main thread, where no time budget can be enforced
   * (tests and benchmarks only).
   */
  readonly validationThreads?: number;
  /** Time and memory one record, one compile and one thread may take (see sandbox/budgets.ts). */
  readonly validationBudgets?: Partial<ValidationBudgets>;
  /** A validation thread was stopped (a record or compile over its budget) or died, and was replaced. */
  readonly onValidationIncident?: (incident: SandboxIncident) => void;
}

/**
 * Records per batch: one store transaction, one claim write and one offset commit each. A store
 * transaction costs more than its rows (the pages a batch's random uniqueness keys touch), so
 * 1,000 records a batch did 11% more than 500 on the orders benchmark, and 2,000 another 8%.
 */
export const DEFAULT_BATCH_SIZE = 1000;

/**
 * The validation worker: consumes `validation.requests` in batches, validates each record
 * against its rule set, stores results (upsert by job and record) and dead letters (by topic,
 * partition and offset) in one durable step, publishes them to the results and DLQ topics, and
 * only then commits. Redelivery after a crash or a rebalance rewrites the same rows.
 */
export async function runWorker(options: WorkerOptions): Promise<{ handled: number; committed: number }> {
  const { store, logger, metrics } = options;
  const resultsTopic = options.resultsTopic ?? null;
  const deadLetterTopic = options.deadLetterTopic === undefined ? VALIDATION_TOPICS.deadLetters : options.deadLetterTopic;
  const requestsTopic = options.requestsTopic ?? VALIDATION_TOPICS.requests;
  await ensureTopics(options.connection, [
    { name: requestsTopic, partitions: options.requestPartitions ?? 8 },
    ...(resultsTopic === null ? [] : [{ name: resultsTopic, partitions: options.requestPartitions ?? 8, configs: { 'cleanup.policy': 'compact' } }]),
    ...(deadLetterTopic === null ? [] : [{ name: deadLetterTopic, partitions: 1 }]),
  ]);
  const threads = options.validationThreads ?? 1;
  const validator: BatchValidator =
    threads === 0
      ? new InlineValidator()
      : new ValidationThreads(threads, {
          ...(options.validationBudgets === undefined ? {} : { budgets: options.validationBudgets }),
          onIncident: (incident) => {
            metrics.validationIncident(incident.kind);
            logger.warn({ event: 'validation_thread_replaced', ...incident }, `a validation thread was replaced: ${incident.detail}`);
            options.onValidationIncident?.(incident);
          },
        });
  const producer =
    resultsTopic === null && deadLetterTopic === null
      ? null
      : new Producer({
          clientId: `lagscale-worker-${process.env.LAGSCALE_WORKER_ID ?? process.pid}`,
          bootstrapBrokers: [...options.connection.brokers],
          ...toClientConnectionOptions(options.connection),
          idempotent: true,
          acks: -1,
          ...FAILOVER_PRODUCER_RETRIES,
          // Results are repetitive JSON: lz4 (WebAssembly in the client, no native code) shrinks a
          // batch several times for little CPU, and the broker, sharing the cores, writes less.
          compression: 'lz4',
        });

  const sourceOptions = {
    connection: options.connection,
    topic: requestsTopic,
    clientId: `lagscale-worker-${process.env.LAGSCALE_WORKER_ID ?? process.pid}`,
    batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
    logger,
    metrics,
  };
  const source: RecordSource =
    options.shareGroup === undefined
      ? consumerGroupSource({ ...sourceOptions, group: options.group ?? 'validator', protocol: options.groupProtocol ?? 'classic' })
      : shareGroupSource({ ...sourceOptions, group: options.shareGroup });
  const handle = createValidationPipeline({
    store,
    logger,
    metrics,
    validator,
    producer,
    resultsTopic,
    deadLetterTopic,
    maxRecordBytes: options.maxRecordBytes ?? 1024 * 1024,
    maxDepth: options.maxDepth ?? 64,
    keepRecordBytes: options.keepRecordBytes ?? 64 * 1024,
    recordCostMs: options.recordCostMs ?? 0,
  });
  const consumeOnce = (onAssigned: () => void) => source.run({ handle, assigned: onAssigned, signal: options.signal });
  try {
    return await consumeUntilStopped(consumeOnce, options);
  } finally {
    await validator.close();
    await producer?.close();
  }
}

/** The longest wait between two rejoins of a consumer that keeps failing. */
const MAX_REJOIN_DELAY_MS = 30_000;

/**
 * Runs the consumer until the signal stops it. A consumer that fails after it had been assigned
 * partitions (a broker failover outlasting the client's fetch retries, a coordinator that moved
 * mid-rejoin) is started again in this process, after 1, 2, 4 ... 30 s while it keeps failing:
 * nothing is lost, since only durable batches were committed and the rejoined consumer reads on
 * from those commits, and the store's writes are idempotent by record. Exiting instead would cost
 * a pod restart (and on Kubernetes, CrashLoopBackOff's growing delays) for a cluster that is back
 * in seconds. A consumer that never got an assignment in this process (wrong brokers, credentials,
 * ACLs) still fails start-up with its error.
 */
async function consumeUntilStopped(
  consumeOnce: (onAssigned: () => void) => Promise<{ handled: number; committed: number }>,
  options: WorkerOptions,
): Promise<{ handled: number; committed: number; rejoins: number }> {
  const total = { handled: 0, committed: 0, rejoins: 0 };
  let everAssigned = false;
  let failuresInARow = 0;
  for (;;) {
    let assigned = false;
    try {
      const run = await consumeOnce(() => {
        assigned = true;
        everAssigned = true;
        options.onReady?.();
      });
      total.handled += run.handled;
      total.committed += run.committed;
      return total;
    } catch (error) {
      if (options.signal.aborted || !everAssigned) throw error;
      failuresInARow = assigned ? 1 : failuresInARow + 1;
      const retryInMs = Math.min(MAX_REJOIN_DELAY_MS, 1000 * 2 ** (failuresInARow - 1));
      total.rejoins++;
      options.metrics.consumerRestarted();
      options.onConsumerLost?.(error as Error, retryInMs);
      options.logger.warn(
        { event: 'consumer_rejoining', err: (error as Error).message, failuresInARow, retryInMs },
        `the Kafka consumer failed after it had worked; rejoining the group in ${retryInMs / 1000} s (only durable batches were committed)`,
      );
      // Rejects when the signal stops the worker meanwhile: it then ends as asked.
      await sleep(retryInMs, undefined, { signal: options.signal }).catch(() => {});
      if (options.signal.aborted) return total;
    }
  }
}
