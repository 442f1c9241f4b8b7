/**
 * Batches from a consumer group on the consumer rebalance protocol (KIP-848): what
 * `runBatchConsumer` is for a classic group, with the member reconciling instead of rebalancing.
 * A partition taken away is let go only after the batches handled from it are committed; records
 * of it fetched and not handled yet are dropped (its next owner reads them from the committed
 * offset). The other partitions are read on throughout.
 */
import type { BatchConsumerResult, GroupBatchConsumerOptions } from './batch-consumer.js';
import { type GroupRecord, Kip848Consumer, type TopicPartition } from './kip848-consumer.js';
import { OrderedCommits } from './ordered-commits.js';
import { Waker } from './waker.js';

export interface Kip848BatchConsumerOptions extends GroupBatchConsumerOptions<GroupRecord> {
  /** Called with the records whose offsets were committed (after `handle`). */
  readonly committed?: (records: readonly GroupRecord[]) => void;
  /** How long the broker waits for this member to let partitions go. Default 30 s. */
  readonly rebalanceTimeoutMs?: number;
}

const keyOf = (r: TopicPartition): string => `${r.topic}\u0000${r.partition}`;

/**
 * Consumes the group in batches until the signal, at least once: each batch is committed after
 * it is handled and settled, in order. SIGTERM (the signal): the batch in hand is handled and
 * committed, then the group is left.
 */
export async function runKip848Consumer(options: Kip848BatchConsumerOptions): Promise<BatchConsumerResult> {
  const { logger, signal } = options;
  const batchSize = options.batchSize ?? 100;
  const idleFlushMs = options.idleFlushMs ?? 200;
  const waker = new Waker(signal);
  let failure: Error | null = null;
  let buffer: GroupRecord[] = [];
  let handled = 0;
  let discarded = 0;
  /** The batch the handler is working on (a partition is let go only after it). */
  let handling: Promise<unknown> = Promise.resolve();
  const drop = (partitions: readonly TopicPartition[]): void => {
    const gone = new Set(partitions.map(keyOf));
    const kept = buffer.filter((r) => !gone.has(keyOf(r)));
    discarded += buffer.length - kept.length;
    buffer = kept;
  };
  const consumer: Kip848Consumer = new Kip848Consumer({
    connection: options.connection,
    group: options.group,
    topics: options.topics,
    ...(options.clientId === undefined ? {} : { clientId: options.clientId }),
    ...(options.rebalanceTimeoutMs === undefined ? {} : { rebalanceTimeoutMs: options.rebalanceTimeoutMs }),
    logger,
    ...(options.assigned === undefined ? {} : { assigned: options.assigned }),
    revoke: async (partitions) => {
      drop(partitions);
      await handling.catch(() => {});
      await ordered.throughNow();
      logger.info({ event: 'partitions_revoked', group: options.group, partitions }, 'partitions let go after committing what was handled from them');
    },
    lost: drop,
  });
  const onRefused = (refusal: TopicPartition & { reason: string }): void =>
    logger.warn({ event: 'commit_refused', group: options.group, ...refusal }, 'commit refused; the partition owner re-reads these records');
  const ordered = new OrderedCommits<GroupRecord>({
    group: options.group,
    logger,
    commit: (records) => consumer.commit(records, onRefused),
    ...(options.committed === undefined ? {} : { committed: options.committed }),
    ...(options.commitRefused === undefined ? {} : { refused: options.commitRefused }),
    failed: (error) => {
      failure ??= error;
      waker.wake();
    },
  });
  try {
    await consumer.start();
  } catch (error) {
    await consumer.close().catch(() => {});
    throw error;
  }

  const handle = async (records: GroupRecord[]): Promise<void> => {
    await ordered.room();
    // A partition may have been let go while waiting: its records are its next owner's now.
    const batch = records.filter((r) => consumer.holds(r));
    discarded += records.length - batch.length;
    if (batch.length === 0) return;
    const run = options.handle(batch);
    handling = run;
    const outcome = await run;
    handled += batch.length;
    ordered.handled(batch, outcome?.settled);
  };

  try {
    while (!signal.aborted) {
      if (failure !== null) throw failure;
      if (consumer.failure !== null) throw consumer.failure;
      const fetched = await consumer.fetch(buffer.length > 0 ? idleFlushMs : 500);
      // Fetches from several leaders end at different times: a partition may have been let go meanwhile.
      const records = fetched.filter((r) => consumer.holds(r));
      discarded += fetched.length - records.length;
      if (records.length > 0) buffer = buffer.length === 0 ? records : buffer.concat(records);
      while (buffer.length >= batchSize && !signal.aborted && failure === null) {
        const batch = buffer.slice(0, batchSize);
        buffer = buffer.slice(batchSize);
        await handle(batch);
      }
      if (records.length === 0 && buffer.length > 0 && !signal.aborted && failure === null) {
        const batch = buffer;
        buffer = [];
        await handle(batch);
      }
    }
    if (failure !== null) throw failure;
    await ordered.drained();
  } finally {
    // Not handled: the partitions' owners read them again from the committed offsets.
    discarded += buffer.length;
    buffer = [];
    // Also after a failure: the batches handled before it are durable, so their commits stand.
    await ordered.drained();
    await consumer.close();
  }
  return { handled, committed: ordered.committed, discarded: discarded + ordered.discarded };
}
