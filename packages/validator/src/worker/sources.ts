/**
 * Where the worker's records come from. Every source feeds the same pipeline (decode, validate,
 * store, dead-letter, publish) through one handler, and settles what the pipeline made durable in
 * its own way: a classic consumer group commits offsets after each batch; a share group (KIP-932)
 * accepts each stored record, rejects each dead-lettered one and releases what it gives up.
 */
import {
  type BatchHandled,
  type ConsumerLogger,
  type FetchedRecord,
  type KafkaConnectionOptions,
  runBatchConsumer,
  runShareConsumer,
  setGroupConfigs,
} from '@lagscale/kafka';
import type { WorkerMetrics } from './metrics.js';

export interface SourceRun {
  /** Makes a batch durable; its `settled` names the records it dead-lettered. */
  readonly handle: (batch: readonly FetchedRecord[]) => Promise<BatchHandled>;
  /** Called when the source holds an assignment (joined, consuming). */
  readonly assigned: () => void;
  readonly signal: AbortSignal;
}

export interface RecordSource {
  /** `consumer group validator`, `share group validator`: for logs. */
  readonly describe: string;
  /** One membership, until the signal or a failure. */
  run(run: SourceRun): Promise<{ handled: number; committed: number }>;
}

interface SourceOptions {
  readonly connection: KafkaConnectionOptions;
  readonly group: string;
  readonly topic: string;
  readonly clientId: string;
  readonly batchSize: number;
  readonly logger: ConsumerLogger;
  readonly metrics: WorkerMetrics;
}

function consumerOptions(options: SourceOptions, run: SourceRun) {
  return {
    connection: options.connection,
    group: options.group,
    topics: [options.topic],
    clientId: options.clientId,
    batchSize: options.batchSize,
    logger: options.logger,
    signal: run.signal,
    assigned: run.assigned,
    handle: run.handle,
  };
}

/** A classic consumer group: partitions assigned by rebalance, offsets committed after each durable batch. */
export function consumerGroupSource(options: SourceOptions): RecordSource {
  return {
    describe: `consumer group ${options.group}`,
    run: (run) => runBatchConsumer(consumerOptions(options, run)),
  };
}

/**
 * A share group: records acquired one by one by any number of members (more than the topic's
 * partitions), each acknowledged after the pipeline settled its batch. The group is set to start
 * from the earliest records (a new share group otherwise starts at the log end and would skip the
 * backlog it was started for).
 */
export function shareGroupSource(options: SourceOptions): RecordSource {
  let configured = false;
  return {
    describe: `share group ${options.group}`,
    run: async (run) => {
      if (!configured) {
        await setGroupConfigs(options.connection, options.group, { 'share.auto.offset.reset': 'earliest' });
        configured = true;
      }
      const result = await runShareConsumer({
        ...consumerOptions(options, run),
        acknowledged: (type, count) => options.metrics.shareAcknowledged(type, count),
        redelivered: (records) => options.metrics.shareRedelivered(records.length),
      });
      return { handled: result.handled, committed: result.accepted + result.rejected };
    },
  };
}
