import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectionPool, Consumer, type Message, metadataV12, offsetCommitV8 } from '@platformatic/kafka';
import { type KafkaConnectionOptions, parseBrokerAddress, toClientConnectionOptions } from './connection.js';
import { callTolerant, kafkaErrorName } from './protocol.js';

/** One record as the batch consumer hands it out (key, value and headers are raw bytes). */
export type ConsumedRecord = Message<Buffer, Buffer, Buffer, Buffer>;

/** The few log calls the consumer makes; pino loggers fit. */
export interface ConsumerLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface BatchConsumerOptions {
  readonly connection: KafkaConnectionOptions;
  readonly group: string;
  readonly topics: readonly string[];
  readonly clientId?: string;
  /** Records per batch. Default 100. */
  readonly batchSize?: number;
  /** A partial batch is handled after this long without new records. Default 200 ms. */
  readonly idleFlushMs?: number;
  readonly sessionTimeoutMs?: number;
  readonly logger: ConsumerLogger;
  readonly signal: AbortSignal;
  /** Makes the batch durable (store it, work on it). Throwing stops the consumer without committing. */
  readonly handle: (batch: readonly ConsumedRecord[]) => Promise<void>;
  /** Called after each (re)join of the group, with the partitions assigned to this member. */
  readonly assigned?: (assignment: { topic: string; partitions: number[] }[]) => void;
  /** Called with the records whose offsets were committed (after `handle`). */
  readonly committed?: (records: readonly ConsumedRecord[]) => void;
}

export interface BatchConsumerResult {
  readonly handled: number;
  readonly committed: number;
  /** Records dropped because they were fetched before a rebalance, or whose commit was refused. */
  readonly discarded: number;
}

/**
 * An at-least-once group consumer that never lets a former owner commit: batches are handled,
 * then committed with the generation and member id the records were fetched under, and never
 * retried under a newer generation. After a rebalance the coordinator refuses such a commit and
 * the partition's current owner reads the records again from the committed offset, so a sink that
 * is idempotent per record ends with each record once. (The client's own commit rejoins and
 * retries under the new generation, which lets a former owner commit records its successor also
 * reads.) SIGTERM (the signal): the batch in hand is handled and committed, then the group is left.
 */
export async function runBatchConsumer(options: BatchConsumerOptions): Promise<BatchConsumerResult> {
  const { logger, signal } = options;
  const batchSize = options.batchSize ?? 100;
  const consumer = new Consumer({
    clientId: options.clientId ?? `lagscale-${process.pid}`,
    groupId: options.group,
    bootstrapBrokers: [...options.connection.brokers],
    ...toClientConnectionOptions(options.connection),
    autocommit: false,
    sessionTimeout: options.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: 1000,
    rebalanceTimeout: 30_000,
    maxWaitTime: 250,
  });
  const commits = new FencedCommitter(options.connection);
  const stream = await consumer.consume({ topics: [...options.topics], mode: 'committed', fallbackMode: 'earliest', autocommit: false });
  consumer.on('consumer:group:join', () => {
    // After a rebalance the stream re-reads committed offsets, but keeps its in-memory position for
    // partitions that have none, which may be a position from an earlier assignment. Forget them all
    // so every assigned partition restarts from its committed offset (or the earliest one).
    stream.offsetsToFetch.clear();
    const assigned = (consumer.assignments ?? []).map((a) => ({ topic: a.topic, partitions: a.partitions }));
    logger.info({ event: 'partitions_assigned', group: options.group, generationId: consumer.generationId, assigned }, 'partitions assigned');
    options.assigned?.(assigned);
  });

  // Watchdog: an assigned partition without a fetch position is never fetched. The stream's refresh
  // after a rebalance should give every partition one; if a partition still has none two checks
  // later, seed it from the committed offset (or the earliest one) and say so.
  const missingSince = new Map<string, number>();
  let checking = false;
  const checkPositions = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      for (const assignment of consumer.assignments ?? []) {
        for (const partition of assignment.partitions) {
          const key = `${assignment.topic}:${partition}`;
          if (stream.offsetsToFetch.has(key)) {
            missingSince.delete(key);
            continue;
          }
          if (!missingSince.has(key)) {
            missingSince.set(key, Date.now());
            continue;
          }
          const commits = await consumer.listCommittedOffsets({ topics: [{ topic: assignment.topic, partitions: [partition] }] });
          let position = commits.get(assignment.topic)?.[partition];
          if (position === undefined || position < 0n) {
            const earliest = await consumer.listOffsets({ topics: [assignment.topic], partitions: { [assignment.topic]: [partition] }, timestamp: -2n });
            position = earliest.get(assignment.topic)?.[partition];
          }
          if (position !== undefined && !stream.offsetsToFetch.has(key)) {
            stream.offsetsToFetch.set(key, position);
            missingSince.delete(key);
            logger.warn(
              { event: 'fetch_position_reseeded', group: options.group, topic: assignment.topic, partition, offset: String(position) },
              'an assigned partition had no fetch position; reseeded it',
            );
          }
        }
      }
    } catch (error) {
      logger.warn({ event: 'fetch_position_check_failed', group: options.group, err: (error as Error).message }, 'could not check fetch positions');
    } finally {
      checking = false;
    }
  };
  const watchdog = setInterval(() => void checkPositions(), 1000);

  let handled = 0;
  let committed = 0;
  let discarded = 0;
  let pending: ConsumedRecord[] = [];

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    await options.handle(batch);
    handled += batch.length;
    const accepted = await commits.commit(options.group, batch, (refusal) =>
      logger.warn({ event: 'commit_refused', group: options.group, ...refusal }, 'commit refused after a rebalance; the current owner re-reads these records'),
    );
    const done = batch.filter((m) => accepted.has(m));
    discarded += batch.length - done.length;
    committed += done.length;
    if (done.length > 0) options.committed?.(done);
  };

  const iterator = stream[Symbol.asyncIterator]();
  const stopped = new Promise<'stopped'>((resolve) => {
    if (signal.aborted) resolve('stopped');
    signal.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
  let next = iterator.next();
  try {
    while (!signal.aborted) {
      const result = await Promise.race([next, sleep(options.idleFlushMs ?? 200).then(() => 'idle' as const), stopped]);
      if (result === 'stopped') break;
      if (result === 'idle') {
        await flush();
        continue;
      }
      if (result.done) break;
      next = iterator.next();
      const message = result.value as ConsumedRecord;
      // Fetched before the last rebalance: its commit would be refused, so do not even work on it.
      if ((message.metadata as { consumer?: FetchedUnder }).consumer?.generationId !== consumer.generationId) {
        discarded++;
        continue;
      }
      pending.push(message);
      if (pending.length >= batchSize) await flush();
    }
    await flush();
  } finally {
    clearInterval(watchdog);
    await stream.close().catch(() => {});
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
    await commits.close();
  }
  return { handled, committed, discarded };
}

interface FetchedUnder {
  readonly memberId: string;
  readonly generationId: number;
  readonly coordinatorId: number;
}

/** OffsetCommit with the generation the records were fetched under; refused commits stay refused. */
export class FencedCommitter {
  readonly #pool: ConnectionPool;
  readonly #bootstrap: { host: string; port: number }[];
  readonly #brokers = new Map<number, { host: string; port: number }>();

  constructor(connection: KafkaConnectionOptions) {
    this.#pool = new ConnectionPool(connection.clientId ?? 'lagscale-demo-committer', toClientConnectionOptions(connection));
    this.#bootstrap = connection.brokers.map(parseBrokerAddress);
  }

  /** Returns the records whose offsets were committed. */
  async commit(
    group: string,
    batch: readonly Message<Buffer, Buffer, Buffer, Buffer>[],
    onRefused: (refusal: { topic: string; partition: number; generationId: number; reason: string }) => void,
  ): Promise<Set<Message<Buffer, Buffer, Buffer, Buffer>>> {
    const accepted = new Set<Message<Buffer, Buffer, Buffer, Buffer>>();
    // ConsumedRecords fetched under the same membership commit together; per partition, the highest offset.
    type Membership = { under: FetchedUnder; last: Map<string, ConsumedRecord>; records: ConsumedRecord[] };
    const byMembership = new Map<string, Membership>();
    for (const m of batch) {
      const under = (m.metadata as { consumer?: FetchedUnder }).consumer;
      if (!under || under.coordinatorId === null) continue;
      const key = `${under.memberId}/${under.generationId}/${under.coordinatorId}`;
      const entry: Membership = byMembership.get(key) ?? { under, last: new Map(), records: [] };
      const tp = `${m.topic}\u0000${m.partition}`;
      const previous = entry.last.get(tp);
      if (!previous || previous.offset < m.offset) entry.last.set(tp, m);
      entry.records.push(m);
      byMembership.set(key, entry);
    }
    for (const { under, last, records } of byMembership.values()) {
      const topics = new Map<
        string,
        { name: string; partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: null }[] }
      >();
      for (const m of last.values()) {
        const topic = topics.get(m.topic) ?? { name: m.topic, partitions: [] };
        topic.partitions.push({ partitionIndex: m.partition, committedOffset: m.offset + 1n, committedLeaderEpoch: -1, committedMetadata: null });
        topics.set(m.topic, topic);
      }
      const ok = new Set<string>();
      try {
        const connection = await this.#pool.get(await this.#broker(under.coordinatorId));
        const response = await callTolerant(offsetCommitV8.api, connection, group, under.generationId, under.memberId, null, [...topics.values()]);
        for (const t of response.topics) {
          for (const p of t.partitions) {
            if (p.errorCode === 0) ok.add(`${t.name}\u0000${p.partitionIndex}`);
            else onRefused({ topic: t.name, partition: p.partitionIndex, generationId: under.generationId, reason: kafkaErrorName(p.errorCode) });
          }
        }
      } catch (error) {
        for (const m of last.values())
          onRefused({ topic: m.topic, partition: m.partition, generationId: under.generationId, reason: (error as Error).message });
      }
      for (const m of records) if (ok.has(`${m.topic}\u0000${m.partition}`)) accepted.add(m);
    }
    return accepted;
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }

  async #broker(id: number): Promise<{ host: string; port: number }> {
    const known = this.#brokers.get(id);
    if (known) return known;
    const connection = await this.#pool.getFirstAvailable(this.#bootstrap);
    const metadata = await metadataV12.api.async(connection, []);
    for (const b of metadata.brokers) this.#brokers.set(b.nodeId, { host: b.host, port: b.port });
    const found = this.#brokers.get(id);
    if (!found) throw new Error(`coordinator ${id} is not in the cluster metadata`);
    return found;
  }
}
