import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@lagscale/exporter';
import { callTolerant, type KafkaConnectionOptions, kafkaErrorName, parseBrokerAddress, toClientConnectionOptions } from '@lagscale/kafka';
import { ConnectionPool, Consumer, type Message, metadataV12, offsetCommitV8 } from '@platformatic/kafka';

export interface DemoConsumerOptions {
  readonly connection: KafkaConnectionOptions;
  readonly group: string;
  readonly topics: readonly string[];
  /** Simulated work per record, in milliseconds. */
  readonly perRecordMs: number;
  /** Records per commit. Default 50. */
  readonly batchSize?: number;
  /** Append `topic partition offset` per record here, after its offset is committed. */
  readonly out?: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export interface DemoConsumerResult {
  readonly processed: number;
  readonly committed: number;
  readonly discarded: number;
}

type Batch = Message<Buffer, Buffer, Buffer, Buffer>[];

/**
 * The built-in demo consumer the local target runs until the validator worker exists: it joins
 * the group, "works" `perRecordMs` per record, commits per batch and only then counts the batch.
 *
 * Commits are fenced: each is sent with the generation and member id the records were fetched
 * under, and never retried under a newer generation. After a rebalance the coordinator refuses
 * such a commit; the batch is not counted and whoever owns the partition now reads it again from
 * the committed offset. (The client's own commit rejoins and retries under the new generation,
 * which lets a former owner commit records its successor also reads.) So a record is counted
 * once across scale-out, scale-in and SIGTERM. A SIGKILL between commit and count can lose a count
 * line; the validator's sink makes that case idempotent instead.
 */
export async function runDemoConsumer(options: DemoConsumerOptions): Promise<DemoConsumerResult> {
  const { logger, signal } = options;
  const batchSize = options.batchSize ?? 50;
  const consumer = new Consumer({
    clientId: `lagscale-demo-${process.env.LAGSCALE_WORKER_ID ?? process.pid}`,
    groupId: options.group,
    bootstrapBrokers: [...options.connection.brokers],
    ...toClientConnectionOptions(options.connection),
    autocommit: false,
    sessionTimeout: 10_000,
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
    logger.info({ event: 'demo_consumer_assigned', generationId: consumer.generationId, assigned }, 'partitions assigned');
  });
  logger.info({ event: 'demo_consumer_started', group: options.group, topics: options.topics, perRecordMs: options.perRecordMs }, 'demo consumer joined');

  let processed = 0;
  let committed = 0;
  let discarded = 0;
  let pending: Batch = [];

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const accepted = await commits.commit(options.group, batch, (refusal) =>
      logger.warn({ event: 'demo_commit_refused', ...refusal }, 'commit refused after a rebalance; the current owner re-reads these records'),
    );
    const lines: string[] = [];
    for (const m of batch) {
      if (accepted.has(m)) lines.push(`${m.topic} ${m.partition} ${m.offset}`);
      else discarded++;
    }
    committed += lines.length;
    if (options.out && lines.length > 0) appendFileSync(options.out, `${lines.join('\n')}\n`);
  };

  const iterator = stream[Symbol.asyncIterator]();
  const stopped = new Promise<'stopped'>((resolve) => {
    if (signal.aborted) resolve('stopped');
    signal.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
  let next = iterator.next();
  try {
    while (!signal.aborted) {
      const result = await Promise.race([next, sleep(200).then(() => 'idle' as const), stopped]);
      if (result === 'stopped') break;
      if (result === 'idle') {
        await flush();
        continue;
      }
      if (result.done) break;
      next = iterator.next();
      const message = result.value as Message<Buffer, Buffer, Buffer, Buffer>;
      // Fetched before the last rebalance: its commit would be refused, so do not even work on it.
      if ((message.metadata as { consumer?: FetchedUnder }).consumer?.generationId !== consumer.generationId) {
        discarded++;
        continue;
      }
      if (options.perRecordMs > 0) await sleep(options.perRecordMs);
      pending.push(message);
      processed++;
      if (pending.length >= batchSize) await flush();
    }
    // SIGTERM: finish the batch in hand, commit it, then leave the group.
    await flush();
  } finally {
    await stream.close().catch(() => {});
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
    await commits.close();
  }
  logger.info({ event: 'demo_consumer_stopped', processed, committed, discarded }, 'demo consumer left the group');
  return { processed, committed, discarded };
}

interface FetchedUnder {
  readonly memberId: string;
  readonly generationId: number;
  readonly coordinatorId: number;
}

type Record = Message<Buffer, Buffer, Buffer, Buffer>;

/** OffsetCommit with the generation the records were fetched under; refused commits stay refused. */
class FencedCommitter {
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
    // Records fetched under the same membership commit together; per partition, the highest offset.
    type Membership = { under: FetchedUnder; last: Map<string, Record>; records: Record[] };
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
