/**
 * Where the worker's records come from. Every source feeds the same pipeline (decode, validate,
 * store, dead-letter, publish) through one handler, and settles what the pipeline made durable in
 * its own way: a consumer group commits offsets after each batch (joined with the classic protocol,
 * or with the consumer protocol of KIP-848, which moves partitions without stopping the group's
 * members); a share group (KIP-932)
 * accepts each stored record, rejects each dead-lettered one and releases what it gives up.
 */
import {
  type BatchHandled,
  type ConsumerLogger,
  type FetchedRecord,
  type KafkaConnectionOptions,
  runBatchConsumer,
  runKip848Consumer,
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

/** How a consumer group's members join: `classic` (JoinGroup/SyncGroup rebalances) or `consumer` (KIP-848, Kafka 4.0+). */
export type GroupProtocol = 'classic' | 'consumer';

/**
 * A consumer group: partitions assigned by the group, offsets committed after each durable batch.
 * With the classic protocol every member stops at a rebalance; with the consumer protocol the
 * broker moves partitions one member at a time, each let go after its handled records are committed.
 */
export function consumerGroupSource(options: SourceOptions & { readonly protocol: GroupProtocol }): RecordSource {
  return {
    describe: `consumer group ${options.group}${options.protocol === 'consumer' ? ' (consumer protocol)' : ''}`,
    run: (run) => {
      const common = { ...consumerOptions(options, run), commitRefused: (count: number) => options.metrics.commitRefused(count) };
      return options.protocol === 'consumer' ? runKip848Consumer(common) : runBatchConsumer(common);
    },
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
