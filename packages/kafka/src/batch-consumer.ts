import { ConnectionPool, Consumer, findCoordinatorV4, type Message, metadataV12, offsetCommitV8 } from '@platformatic/kafka';
import { type KafkaConnectionOptions, parseBrokerAddress, toClientConnectionOptions } from './connection.js';
import { OrderedCommits } from './ordered-commits.js';
import { COORDINATOR_MOVED, callTolerant, kafkaErrorName } from './protocol.js';
import { Waker } from './waker.js';

/** A commit whose coordinator moved is sent to the group's coordinator now up to this many times in all, this far apart. */
const COMMIT_COORDINATOR_ATTEMPTS = 5;
const COMMIT_COORDINATOR_RETRY_MS = 500;

/** Leaving the group gets this long; then the connections are closed anyway (the group drops the member after its session timeout). */
const LEAVE_TIMEOUT_MS = 5000;

/** How long the coordinator waits for members to rejoin in a rebalance. */
const REBALANCE_TIMEOUT_MS = 30_000;

/** One record as the batch consumer hands it out (key, value and headers are raw bytes). */
export type ConsumedRecord = Message<Buffer, Buffer, Buffer, Buffer>;

/** The few log calls the consumer makes; pino loggers fit. */
export interface ConsumerLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** What every batch consumer of a group takes: a classic group's (`runBatchConsumer`) and a share group's (`runShareConsumer`). */
export interface GroupBatchConsumerOptions<R> {
  readonly connection: KafkaConnectionOptions;
  readonly group: string;
  readonly topics: readonly string[];
  readonly clientId?: string;
  /** Records per batch. Default 100. */
  readonly batchSize?: number;
  /** A partial batch is handled after this long without new records. Default 200 ms. */
  readonly idleFlushMs?: number;
  readonly logger: ConsumerLogger;
  readonly signal: AbortSignal;
  /**
   * Makes the batch durable (store it, work on it). Throwing stops the consumer without settling
   * the batch. It may hand back work still under way for the batch (see `BatchHandled`).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a plain async handler (Promise<void>) must fit
  readonly handle: (batch: readonly R[]) => Promise<void | BatchHandled>;
  /** Called after each (re)join or assignment change, with the partitions this member reads. */
  readonly assigned?: (assignment: { topic: string; partitions: number[] }[]) => void;
  /** Called with how many handled records a commit left uncommitted (consumer groups; for metrics). */
  readonly commitRefused?: (count: number) => void;
}

export interface BatchConsumerOptions extends GroupBatchConsumerOptions<ConsumedRecord> {
  readonly sessionTimeoutMs?: number;
  /** Called with the records whose offsets were committed (after `handle`). */
  readonly committed?: (records: readonly ConsumedRecord[]) => void;
}

/**
 * The rest of a handled batch's work, e.g. publishing its results: the batch is committed only
 * after `settled` resolves, but the next batch is handled meanwhile. Batches are still committed in
 * order. A rejection stops the consumer like a failed `handle`: that batch and the later ones are
 * not committed.
 */
export interface BatchHandled {
  // biome-ignore lint/suspicious/noConfusingVoidType: a plain settled promise (Promise<void>) must fit
  readonly settled: Promise<void | BatchVerdicts>;
}

/**
 * What became of a settled batch's records, for consumers that acknowledge record by record
 * (share groups): the records dead-lettered (rejected: never delivered again); every other record
 * of the batch is accepted. A classic consumer commits the batch's offsets either way.
 */
export interface BatchVerdicts {
  readonly rejected: ReadonlySet<unknown>;
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
    rebalanceTimeout: REBALANCE_TIMEOUT_MS,
    // A JoinGroup is answered only when the rebalance completes, which may take the rebalance
    // timeout (a member that died mid-rebalance is waited for that long): requests wait longer.
    requestTimeout: Math.max(options.connection.requestTimeoutMs ?? 0, REBALANCE_TIMEOUT_MS + 5000),
    maxWaitTime: 250,
    // Modest fetches, several batches buffered: a fetch response is parsed in one synchronous pass,
    // so the client's 10 MiB default stalled the loop for long stretches and churned the GC, while
    // a buffer of a few batches keeps the next fetch in flight as a batch is handled. The broker
    // still returns a first record batch larger than these limits, so a big record cannot stall.
    maxBytes: 2 * 1024 * 1024,
    maxBytesPerPartition: 256 * 1024,
    highWaterMark: Math.max(1024, 8 * batchSize),
  });
  const commits = new FencedCommitter(options.connection);
  /**
   * The assignment of the last join, by topic. Only records of these partitions, stamped with this
   * generation while no newer one is being joined, are handled: the client stamps a record with
   * the generation current when its fetch *response* is parsed, not when the fetch was sent, so a
   * fetch sent before a rebalance can yield records stamped with the new generation, of partitions
   * that are someone else's now (the coordinator would accept their commit: it checks the
   * generation, not the owner) or from a position past records dropped as stale.
   */
  let joined: { generationId: number; partitions: Map<string, Set<number>> } | null = null;
  /**
   * Per partition ("topic:partition") still ours, the lowest offset of a record dropped as fetched
   * before the last rebalance. The fetch response that stamps records with the new generation
   * also moves the partition's fetch position past them, even when it was sent from the old
   * position, so records past the dropped ones may come next; committing those would skip the
   * dropped ones for good. The partition's records are used again only from one at or below this
   * offset (the refetch from the committed offset); later ones are dropped and the partition is
   * sent back there.
   */
  const refetchFrom = new Map<string, bigint>();
  let positions: Map<string, bigint> | undefined;
  // Registered before consume(), which joins the group: the first join counts too.
  consumer.on('consumer:group:join', () => {
    // After a rebalance the stream re-reads committed offsets, but keeps its in-memory position for
    // partitions that have none, which may be a position from an earlier assignment. Forget them all
    // so every assigned partition restarts from its committed offset (or the earliest one).
    positions?.clear();
    const assignments = consumer.assignments ?? [];
    joined = { generationId: consumer.generationId, partitions: new Map(assignments.map((a) => [a.topic, new Set(a.partitions)])) };
    for (const key of refetchFrom.keys()) {
      const split = key.lastIndexOf(':');
      if (!joined.partitions.get(key.slice(0, split))?.has(Number(key.slice(split + 1)))) refetchFrom.delete(key);
    }
    const assigned = assignments.map((a) => ({ topic: a.topic, partitions: a.partitions }));
    logger.info({ event: 'partitions_assigned', group: options.group, generationId: consumer.generationId, assigned }, 'partitions assigned');
    options.assigned?.(assigned);
  });
  let stream: Awaited<ReturnType<typeof consumer.consume>>;
  try {
    stream = await consumer.consume({ topics: [...options.topics], mode: 'committed', fallbackMode: 'earliest', autocommit: false });
  } catch (error) {
    // A failed first join leaves nothing to commit; the client's connections would keep the process alive.
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
    await commits.close();
    throw error;
  }
  positions = stream.offsetsToFetch;

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
  let discarded = 0;
  let pending: ConsumedRecord[] = [];
  const waker = new Waker(signal);
  let failure: Error | null = null;

  // Commits run beside the next batch: an OffsetCommit waits for the coordinator (several ms on
  // Kafka 4, which batches its writes), and waiting for it before reading on halved the rate.
  // Only handled records are committed, each with the generation it was fetched under.
  const onRefused = (refusal: { topic: string; partition: number; generationId: number; reason: string }): void =>
    logger.warn({ event: 'commit_refused', group: options.group, ...refusal }, 'commit refused after a rebalance; the current owner re-reads these records');
  const ordered = new OrderedCommits<ConsumedRecord>({
    group: options.group,
    logger,
    commit: (records) => commits.commit(options.group, records, onRefused),
    ...(options.committed === undefined ? {} : { committed: options.committed }),
    ...(options.commitRefused === undefined ? {} : { refused: options.commitRefused }),
    failed: (error) => {
      failure ??= error;
      waker.wake();
    },
  });

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    await ordered.room();
    const batch = pending;
    pending = [];
    const outcome = await options.handle(batch);
    handled += batch.length;
    ordered.handled(batch, outcome?.settled);
  };

  // The stream is read in paused mode: each turn takes every record it holds (up to a batch) in one
  // synchronous pass, and waits only when it is empty. (An async iterator plus an idle timer per
  // record cost more CPU than the fetch itself.) 'readable' follows a read() that returned null.
  let ended = false;
  const onReadable = (): void => waker.wake();
  const onEnd = (): void => {
    ended = true;
    waker.wake();
  };
  const onError = (error: Error): void => {
    failure ??= error;
    waker.wake();
  };
  stream.on('readable', onReadable);
  stream.once('end', onEnd);
  stream.once('error', onError);
  const idleFlushMs = options.idleFlushMs ?? 200;
  /** Whether a record may be handled and committed (see `joined` and `refetchFrom`). */
  const usable = (message: ConsumedRecord): boolean => {
    const current = joined;
    // Not ours (any more): fetched before the last rebalance.
    if (current === null || current.partitions.get(message.topic)?.has(message.partition) !== true) return false;
    // Fetched before the last rebalance, or one is under way: its commit could be refused or
    // come from a stale position, so do not even work on it; it is fetched again.
    if ((message.metadata as { consumer?: FetchedUnder }).consumer?.generationId !== current.generationId || consumer.generationId !== current.generationId) {
      const key = `${message.topic}:${message.partition}`;
      const lowest = refetchFrom.get(key);
      if (lowest === undefined || message.offset < lowest) refetchFrom.set(key, message.offset);
      return false;
    }
    return refetchFrom.size === 0 || refetchedInOrder(message);
  };
  /** False (and the partition sent back) for a record that would skip records dropped as stale. */
  const refetchedInOrder = (message: ConsumedRecord): boolean => {
    const key = `${message.topic}:${message.partition}`;
    const from = refetchFrom.get(key);
    if (from === undefined) return true;
    if (message.offset <= from) {
      refetchFrom.delete(key);
      return true;
    }
    const position = stream.offsetsToFetch.get(key);
    if (position === undefined || position > from) {
      stream.offsetsToFetch.set(key, from);
      logger.warn(
        {
          event: 'fetch_position_rewound',
          group: options.group,
          topic: message.topic,
          partition: message.partition,
          from: String(from),
          skippedTo: String(message.offset),
        },
        'records fetched before a rebalance were dropped but the stream went on past them; fetching the partition again from the first dropped one',
      );
    }
    return false;
  };
  let lastArrival = performance.now();
  try {
    while (!signal.aborted) {
      if (failure !== null) throw failure;
      let arrived = false;
      while (pending.length < batchSize) {
        const message = stream.read() as ConsumedRecord | null;
        if (message === null) break;
        arrived = true;
        if (usable(message)) pending.push(message);
        else discarded++;
      }
      if (pending.length >= batchSize) {
        await flush();
        continue;
      }
      if (ended) break;
      const now = performance.now();
      if (arrived) lastArrival = now;
      // A partial batch is handled after idleFlushMs without new records.
      const idleLeft = idleFlushMs - (now - lastArrival);
      if (idleLeft <= 0) {
        await flush();
        lastArrival = performance.now();
        continue;
      }
      await waker.wait(idleLeft);
    }
    if (failure !== null) throw failure;
    await flush();
    await ordered.drained();
  } finally {
    clearInterval(watchdog);
    // Also after a failure: the batches handled before it are durable, so their commits stand.
    await ordered.drained();
    await stream.close().catch(() => {});
    // The client may still report a rejoin it had under way when the group is left; it no longer matters.
    consumer.on('error', (error: Error) =>
      logger.warn(
        { event: 'consumer_error_after_close', group: options.group, err: error.message },
        'the Kafka client reported an error while leaving the group',
      ),
    );
    await closeConsumer(consumer, (error) =>
      logger.warn(
        { event: 'leave_group_failed', group: options.group, err: error.message },
        'could not leave the group (its coordinator moved?); closed the connections anyway, the group drops this member after its session timeout',
      ),
    );
    await commits.close();
  }
  return { handled, committed: ordered.committed, discarded: discarded + ordered.discarded };
}

/**
 * Closes a consumer for good. The client's close first leaves the group and, when that fails (the
 * coordinator it knows died and the group moved), returns the error with every connection still
 * open, so the process never exits: a drained worker then hung until the pool SIGKILLed it. Here
 * the connections are closed anyway (the client's base close, which only closes them).
 */
async function closeConsumer(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>, onLeaveFailed: (error: Error) => void): Promise<void> {
  // Leaving waits for the coordinator's answer; one that does not come (a connection left half
  // open by a broker that died and came back) would hold the drain for the request timeout (35 s).
  const error = await new Promise<Error | null>((resolve) => {
    const timer = setTimeout(() => resolve(new Error(`no answer to leaving the group within ${LEAVE_TIMEOUT_MS} ms`)), LEAVE_TIMEOUT_MS);
    consumer.close(true, (e?: Error | null) => {
      clearTimeout(timer);
      resolve(e ?? null);
    });
  });
  if (error === null) return;
  onLeaveFailed(error);
  const baseClose = (Object.getPrototypeOf(Consumer.prototype) as { close(this: unknown, callback: (error?: Error | null) => void): unknown }).close;
  await new Promise<void>((resolve) => baseClose.call(consumer, () => resolve()));
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
  /** Per group, the coordinator found after the one the consumer named stopped answering for it. */
  readonly #moved = new Map<string, { from: number; to: number }>();

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
    // Records of one fetch share their metadata, and a partition's records come in runs: the keys
    // are made once per run, not per record.
    let lastUnder: FetchedUnder | undefined;
    let entry: Membership | undefined;
    let lastTopic: string | undefined;
    let lastPartition = -1;
    let tp = '';
    for (const m of batch) {
      const under = (m.metadata as { consumer?: FetchedUnder }).consumer;
      if (!under || under.coordinatorId === null) continue;
      if (under !== lastUnder || entry === undefined) {
        const key = `${under.memberId}/${under.generationId}/${under.coordinatorId}`;
        entry = byMembership.get(key) ?? { under, last: new Map(), records: [] };
        byMembership.set(key, entry);
        lastUnder = under;
      }
      if (m.topic !== lastTopic || m.partition !== lastPartition) {
        tp = `${m.topic}\u0000${m.partition}`;
        lastTopic = m.topic;
        lastPartition = m.partition;
      }
      const previous = entry.last.get(tp);
      if (!previous || previous.offset < m.offset) entry.last.set(tp, m);
      entry.records.push(m);
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
      // The coordinator the records were fetched under may have died and the group moved to
      // another broker (which loaded its state, generations included): a commit answered
      // NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE, or that cannot reach it, is sent again to the
      // group's coordinator now, still with the generation the records were fetched under, so the
      // new coordinator refuses it as the old one would after a rebalance. Without this a worker
      // kept committing to the dead coordinator: every commit refused, its group's lag frozen.
      const moved = this.#moved.get(group);
      let coordinator = moved !== undefined && moved.from === under.coordinatorId ? moved.to : under.coordinatorId;
      for (let attempt = 1; ; attempt++) {
        let refusals: { topic: string; partition: number; reason: string; moved: boolean }[] = [];
        try {
          const connection = await this.#pool.get(await this.#broker(coordinator));
          const response = await callTolerant(offsetCommitV8.api, connection, group, under.generationId, under.memberId, null, [...topics.values()]);
          for (const t of response.topics) {
            for (const p of t.partitions) {
              if (p.errorCode === 0) ok.add(`${t.name}\u0000${p.partitionIndex}`);
              else
                refusals.push({ topic: t.name, partition: p.partitionIndex, reason: kafkaErrorName(p.errorCode), moved: COORDINATOR_MOVED.has(p.errorCode) });
            }
          }
        } catch (error) {
          refusals = [...last.values()].map((m) => ({ topic: m.topic, partition: m.partition, reason: (error as Error).message, moved: true }));
        }
        if (refusals.length > 0 && refusals.every((r) => r.moved) && attempt < COMMIT_COORDINATOR_ATTEMPTS) {
          const found = await this.#findCoordinator(group).catch(() => null);
          if (found !== null) {
            this.#moved.set(group, { from: under.coordinatorId, to: found });
            coordinator = found;
          }
          await new Promise((resolve) => setTimeout(resolve, COMMIT_COORDINATOR_RETRY_MS));
          continue;
        }
        for (const r of refusals) onRefused({ topic: r.topic, partition: r.partition, generationId: under.generationId, reason: r.reason });
        break;
      }
      for (const m of records) if (ok.has(`${m.topic}\u0000${m.partition}`)) accepted.add(m);
    }
    return accepted;
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }

  /** The group's coordinator now (FindCoordinator on any broker that answers). */
  async #findCoordinator(group: string): Promise<number> {
    const connection = await this.#pool.getFirstAvailable([...this.#brokers.values(), ...this.#bootstrap]);
    const response = await callTolerant(findCoordinatorV4.api, connection, 0, [group]);
    const found = response.coordinators.find((c) => c.key === group);
    if (found === undefined || found.errorCode !== 0)
      throw new Error(`no coordinator for group ${group}: ${found ? kafkaErrorName(found.errorCode) : 'no answer'}`);
    this.#brokers.set(found.nodeId, { host: found.host, port: found.port });
    return found.nodeId;
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
