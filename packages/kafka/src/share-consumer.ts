/**
 * A share-group consumer (KIP-932) on the Kafka client's connections: membership by
 * ShareGroupHeartbeat, records by ShareFetch in one share session per partition leader, and
 * acknowledgements per record, carried on the next fetch or sent alone (ShareAcknowledge).
 *
 * What the broker guarantees and this relies on: a record is acquired by one member at a time,
 * under a lock (30 s by default); a record not acknowledged when the lock expires, or released, is
 * delivered again (up to the group's delivery limit, 5 by default, after which it is archived).
 * So a record is settled once it is accepted or rejected, and a consumer that dies leaves its
 * records to others after the lock. Where this consumer cannot tell whether a request took effect
 * (a connection lost, a session gone), it drops the acknowledgements it held: those records come
 * back, and the caller's sink must be idempotent per record.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConnectionPool, IS_CONTROL, type RecordsBatch } from '@platformatic/kafka';
import type { ConsumedRecord, ConsumerLogger } from './batch-consumer.js';
import { type ClusterView, memberConnections } from './cluster-view.js';
import type { KafkaConnectionOptions } from './connection.js';
import { COORDINATOR_MOVED, callTolerant, kafkaErrorName } from './protocol.js';
import {
  ACKNOWLEDGE,
  type AcknowledgementBatch,
  type AcknowledgeType,
  type ShareFetchResponse,
  type ShareTopicRequest,
  shareAcknowledgeV1,
  shareAcknowledgeV2,
  shareFetchV1,
  shareFetchV2,
  shareGroupHeartbeat,
} from './share-consumer-protocol.js';

/** A record as fetched: what a classic consumer hands out too, without the commit API. */
export type FetchedRecord = Pick<ConsumedRecord, 'topic' | 'partition' | 'offset' | 'key' | 'value' | 'headers' | 'timestamp'>;

/** A record a share consumer acquired: settle it with `acknowledge` before its lock expires. */
export interface ShareRecord extends FetchedRecord {
  /** 1 on the first delivery; more when it came back after a release, an expired lock or a crash. */
  readonly deliveryCount: number;
  /** When it was acquired (performance.now()), for lock renewal. */
  readonly acquiredAt: number;
  /** The share session it was acquired in; acknowledgements for an older session are dropped. */
  readonly session: { readonly node: number; readonly generation: number };
}

export interface ShareConsumerOptions {
  readonly connection: KafkaConnectionOptions;
  readonly group: string;
  readonly topics: readonly string[];
  readonly clientId?: string;
  /** Records one fetch acquires at most. Default 500. */
  readonly maxRecords?: number;
  /** Bytes one fetch returns at most (the first record batch is always returned). Default 2 MiB. */
  readonly maxBytes?: number;
  readonly logger: ConsumerLogger;
  /** Called when the assignment changes, with the share-partitions this member fetches from. */
  readonly assigned?: (assignment: { topic: string; partitions: number[] }[]) => void;
  /** Called when the broker refused acknowledgements (the records come back to someone). */
  readonly acknowledgeRefused?: (refusal: { topic: string; partition: number; records: number; reason: string }) => void;
}

export class ShareConsumerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

const SESSION_ERRORS = new Set([122, 123]); // SHARE_SESSION_NOT_FOUND, INVALID_SHARE_SESSION_EPOCH
const MEMBER_ERRORS = new Set([25, 110]); // UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH
const LEADER_ERRORS = new Set([3, 5, 6, 74, 75, 100]);
/** Heartbeat answers that stop the consumer: no share groups here, not allowed, or the group is full. */
const FATAL_HEARTBEAT_ERRORS = new Set([35, 30, 81]);
const MAX_EPOCH = 2147483647;

interface Session {
  readonly node: number;
  /** 0: not open (the next fetch opens one). */
  epoch: number;
  /** Bumped whenever the session is opened anew: acknowledgements of older records are dropped. */
  generation: number;
  /** topicId → partitions in the session. */
  readonly partitions: Map<string, Set<number>>;
  /** `topicId:partition` → offset → acknowledge type, not yet sent. */
  readonly pending: Map<string, Map<bigint, AcknowledgeType>>;
  /** One request at a time per session (epochs are sequential). */
  queue: Promise<unknown>;
}

/**
 * One member of a share group. `start` joins; `fetch` acquires records from every leader of the
 * assigned partitions (sending the acknowledgements held for each); `acknowledge` queues a
 * record's outcome; `flush` sends what is queued without fetching; `renew` extends the locks of
 * records still being worked on (brokers with ShareAcknowledge v2); `close` sends what is queued,
 * closes the sessions and leaves the group.
 */
export class ShareConsumer {
  readonly #options: ShareConsumerOptions;
  readonly #logger: ConsumerLogger;
  readonly #memberId = randomUUID();
  readonly #coordinatorPool: ConnectionPool;
  readonly #fetchPool: ConnectionPool;
  readonly #cluster: ClusterView;
  readonly #sessions = new Map<number, Session>();
  #epoch = 0;
  #heartbeatMs = 5000;
  #assignment = new Map<string, number[]>();
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #heartbeating: Promise<void> | null = null;
  #closed = false;
  #fatal: Error | null = null;
  #lockMs = 30_000;
  #v2 = false;

  constructor(options: ShareConsumerOptions) {
    this.#options = options;
    this.#logger = options.logger;
    const clientId = options.clientId ?? `lagscale-share-${process.pid}`;
    ({ coordinatorPool: this.#coordinatorPool, fetchPool: this.#fetchPool, cluster: this.#cluster } = memberConnections({ ...options, clientId }));
  }

  get memberId(): string {
    return this.#memberId;
  }

  /** The acquisition lock the brokers last reported (ms). */
  get lockMs(): number {
    return this.#lockMs;
  }

  /** Whether the brokers take lock renewal (ShareAcknowledge v2). */
  get canRenew(): boolean {
    return this.#v2;
  }

  /** A heartbeat error that ended membership for good (the group is full, share groups are off, not authorized). */
  get failure(): Error | null {
    return this.#fatal;
  }

  /** Joins the group; fails when the brokers cannot run share groups or refuse this member. */
  async start(): Promise<void> {
    await this.#cluster.refresh(true);
    await this.#checkVersions();
    await this.#heartbeat();
    if (this.#fatal !== null) throw this.#fatal;
    this.#scheduleHeartbeat();
  }

  /**
   * Acquires records from every leader of the assigned partitions, waiting up to `maxWaitMs` for
   * some. Acknowledgements queued for a leader go with its fetch.
   */
  async fetch(maxWaitMs: number, maxRecords = this.#options.maxRecords ?? 500): Promise<ShareRecord[]> {
    if (this.#fatal !== null) throw this.#fatal;
    const byNode = await this.#cluster.byLeader(this.#assignment);
    if (byNode.size === 0) {
      await sleep(Math.min(maxWaitMs, 200));
      return [];
    }
    const results = await Promise.all([...byNode].map(([node, wanted]) => this.#fetchFrom(node, wanted, maxWaitMs, maxRecords)));
    return results.flat();
  }

  /** Queues a record's outcome; it goes to the broker with the next fetch or flush. */
  acknowledge(record: ShareRecord, type: AcknowledgeType): void {
    const session = this.#sessions.get(record.session.node);
    if (session === undefined || session.generation !== record.session.generation) return; // that session is gone: the record comes back
    const topicId = this.#cluster.topicId(record.topic);
    if (topicId === undefined) return;
    const key = `${topicId}:${record.partition}`;
    let offsets = session.pending.get(key);
    if (offsets === undefined) {
      offsets = new Map();
      session.pending.set(key, offsets);
    }
    offsets.set(record.offset, type);
  }

  /** Sends the queued acknowledgements now (ShareAcknowledge), without fetching. */
  async flush(closeSessions = false): Promise<void> {
    await Promise.all(
      [...this.#sessions.values()].map((session) =>
        this.#inSession(session, async () => {
          if (session.epoch === 0) return;
          if (session.pending.size === 0 && !closeSessions) return;
          await this.#acknowledge(session, this.#takePending(session), closeSessions, false);
        }),
      ),
    );
  }

  /**
   * Extends the acquisition locks of records still being worked on (a slow store, say), so they are
   * not delivered to another member meanwhile. A no-op on brokers without ShareAcknowledge v2.
   */
  async renew(records: readonly ShareRecord[]): Promise<void> {
    if (!this.#v2 || records.length === 0) return;
    const bySession = new Map<Session, Map<string, Map<bigint, AcknowledgeType>>>();
    for (const record of records) {
      const session = this.#sessions.get(record.session.node);
      const topicId = this.#cluster.topicId(record.topic);
      if (session === undefined || session.generation !== record.session.generation || topicId === undefined) continue;
      const acks = bySession.get(session) ?? new Map<string, Map<bigint, AcknowledgeType>>();
      const key = `${topicId}:${record.partition}`;
      const offsets = acks.get(key) ?? new Map<bigint, AcknowledgeType>();
      offsets.set(record.offset, ACKNOWLEDGE.renew);
      acks.set(key, offsets);
      bySession.set(session, acks);
    }
    await Promise.all(
      [...bySession].map(([session, acks]) =>
        this.#inSession(session, async () => {
          if (session.epoch !== 0) await this.#acknowledge(session, acks, false, true);
        }),
      ),
    );
  }

  /** Sends what is queued, closes the share sessions and leaves the group. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeatTimer !== null) clearTimeout(this.#heartbeatTimer);
    await this.#heartbeating?.catch(() => {});
    await this.flush(true).catch((error: Error) =>
      this.#logger.warn({ event: 'share_session_close_failed', group: this.#options.group, err: error.message }, 'could not close a share session'),
    );
    if (this.#fatal === null && this.#epoch > 0) {
      try {
        await this.#sendHeartbeat(-1, null);
      } catch (error) {
        this.#logger.warn(
          { event: 'leave_group_failed', group: this.#options.group, err: (error as Error).message },
          'could not leave the share group; the broker drops this member after its session timeout',
        );
      }
    }
    await Promise.all([this.#coordinatorPool.close(), this.#fetchPool.close()]);
  }

  // ---- membership ----

  #scheduleHeartbeat(): void {
    if (this.#closed) return;
    // Faster while nothing is assigned yet: the assignment arrives with a heartbeat.
    const delay = this.#assignment.size === 0 ? Math.min(this.#heartbeatMs, 500) : this.#heartbeatMs;
    this.#heartbeatTimer = setTimeout(() => {
      this.#heartbeating = this.#heartbeat().finally(() => {
        this.#heartbeating = null;
        this.#scheduleHeartbeat();
      });
    }, delay);
  }

  async #heartbeat(): Promise<void> {
    try {
      const joining = this.#epoch === 0;
      const response = await this.#sendHeartbeat(this.#epoch, joining ? this.#options.topics : null);
      if (response.errorCode === 0) {
        this.#epoch = response.memberEpoch;
        if (response.heartbeatIntervalMs > 0) this.#heartbeatMs = response.heartbeatIntervalMs;
        if (response.assignment !== null) await this.#assign(response.assignment);
        return;
      }
      const reason = response.errorMessage ?? kafkaErrorName(response.errorCode);
      if (MEMBER_ERRORS.has(response.errorCode)) {
        this.#logger.warn({ event: 'share_member_fenced', group: this.#options.group, reason }, 'the share group fenced this member; joining again');
        this.#epoch = 0;
      } else if (COORDINATOR_MOVED.has(response.errorCode)) this.#cluster.coordinatorMoved();
      else if (FATAL_HEARTBEAT_ERRORS.has(response.errorCode)) {
        this.#fatal = new ShareConsumerError(kafkaErrorName(response.errorCode), `share group ${this.#options.group}: ${reason}`);
      } else this.#logger.warn({ event: 'share_heartbeat_refused', group: this.#options.group, reason }, 'share group heartbeat refused');
    } catch (error) {
      this.#cluster.coordinatorMoved();
      this.#logger.warn(
        { event: 'share_heartbeat_failed', group: this.#options.group, err: (error as Error).message },
        'share group heartbeat failed; finding the coordinator again',
      );
    }
  }

  async #sendHeartbeat(memberEpoch: number, topics: readonly string[] | null) {
    const connection = await this.#cluster.coordinatorConnection();
    return shareGroupHeartbeat.async(connection, { groupId: this.#options.group, memberId: this.#memberId, memberEpoch, subscribedTopicNames: topics });
  }

  async #assign(assignment: readonly { topicId: string; partitions: readonly number[] }[]): Promise<void> {
    this.#assignment = new Map(assignment.map((t) => [t.topicId, [...t.partitions]]));
    await this.#cluster.knowTopics(this.#assignment.keys());
    const named = [...this.#assignment].map(([id, partitions]) => ({
      topic: this.#cluster.topicName(id) ?? id,
      partitions: [...partitions].sort((a, b) => a - b),
    }));
    this.#logger.info({ event: 'share_partitions_assigned', group: this.#options.group, epoch: this.#epoch, assigned: named }, 'share-partitions assigned');
    this.#options.assigned?.(named);
  }

  /** Which API versions the brokers take: ShareFetch/ShareAcknowledge v2 renew locks. */
  async #checkVersions(): Promise<void> {
    const versions = await this.#cluster.apiVersions();
    if ((versions.get(76) ?? -1) < 1) {
      throw new ShareConsumerError(
        'UNSUPPORTED_VERSION',
        `the brokers do not run share groups (no ShareGroupHeartbeat v1): Kafka 4.2 or later with share.version >= 1 is needed for share group ${this.#options.group}`,
      );
    }
    this.#v2 = (versions.get(78) ?? 0) >= 2 && (versions.get(79) ?? 0) >= 2;
  }

  // ---- sessions ----

  #session(node: number): Session {
    let session = this.#sessions.get(node);
    if (session === undefined) {
      session = { node, epoch: 0, generation: 0, partitions: new Map(), pending: new Map(), queue: Promise.resolve() };
      this.#sessions.set(node, session);
    }
    return session;
  }

  #inSession<T>(session: Session, work: () => Promise<T>): Promise<T> {
    const run = session.queue.then(work, work);
    session.queue = run.catch(() => {});
    return run;
  }

  /** The session is gone or in doubt: the next fetch opens a new one; acknowledgements held for it are dropped. */
  #resetSession(session: Session, reason: string): void {
    const dropped = [...session.pending.values()].reduce((n, offsets) => n + offsets.size, 0);
    if (session.epoch !== 0 || dropped > 0) {
      this.#logger.warn(
        { event: 'share_session_reset', group: this.#options.group, broker: session.node, reason, droppedAcknowledgements: dropped },
        'share session reset; records it held come back after their lock',
      );
    }
    session.epoch = 0;
    session.generation++;
    session.partitions.clear();
    session.pending.clear();
  }

  #takePending(session: Session): Map<string, Map<bigint, AcknowledgeType>> {
    const taken = new Map(session.pending);
    session.pending.clear();
    return taken;
  }

  async #fetchFrom(node: number, wanted: Map<string, Set<number>>, maxWaitMs: number, maxRecords: number): Promise<ShareRecord[]> {
    const session = this.#session(node);
    return this.#inSession(session, async () => {
      const opening = session.epoch === 0;
      const acks = opening ? new Map<string, Map<bigint, AcknowledgeType>>() : this.#takePending(session);
      const topics = new Map<string, Map<number, AcknowledgementBatch[]>>();
      const add = (topicId: string, partition: number, batches: AcknowledgementBatch[]): void => {
        const partitions = topics.get(topicId) ?? new Map<number, AcknowledgementBatch[]>();
        partitions.set(partition, [...(partitions.get(partition) ?? []), ...batches]);
        topics.set(topicId, partitions);
      };
      for (const [topicId, partitions] of wanted) {
        for (const partition of partitions) if (opening || !session.partitions.get(topicId)?.has(partition)) add(topicId, partition, []);
      }
      for (const [key, offsets] of acks) {
        const [topicId, partition] = splitKey(key);
        add(topicId, partition, acknowledgementBatches(offsets));
      }
      // Partitions no longer ours here (reassigned, or their leader moved), once nothing is held for them.
      const forgotten: { topicId: string; partitions: number[] }[] = [];
      if (!opening) {
        for (const [topicId, partitions] of session.partitions) {
          const gone = [...partitions].filter((p) => !wanted.get(topicId)?.has(p) && !acks.has(`${topicId}:${p}`));
          if (gone.length > 0) forgotten.push({ topicId, partitions: gone });
        }
      }
      const request = {
        groupId: this.#options.group,
        memberId: this.#memberId,
        sessionEpoch: session.epoch,
        maxWaitMs,
        maxBytes: this.#options.maxBytes ?? 2 * 1024 * 1024,
        maxRecords,
        topics: [...topics].map(([topicId, partitions]) => ({
          topicId,
          partitions: [...partitions].map(([partition, acknowledgements]) => ({ partition, acknowledgements })),
        })),
        forgotten,
      };
      let response: ShareFetchResponse;
      try {
        const connection = await this.#fetchPool.get(this.#cluster.broker(node));
        response = await callTolerant(this.#v2 ? shareFetchV2 : shareFetchV1, connection, request);
      } catch (error) {
        this.#resetSession(session, (error as Error).message);
        await this.#cluster.refresh().catch(() => {});
        return [];
      }
      if (response.errorCode !== 0) {
        const reason = response.errorMessage ?? kafkaErrorName(response.errorCode);
        this.#resetSession(session, reason);
        if (!SESSION_ERRORS.has(response.errorCode)) await sleep(Math.min(maxWaitMs, 500));
        return [];
      }
      session.epoch = session.epoch >= MAX_EPOCH ? 1 : session.epoch + 1;
      if (response.acquisitionLockTimeoutMs > 0) this.#lockMs = response.acquisitionLockTimeoutMs;
      for (const [topicId, partitions] of wanted) {
        const set = session.partitions.get(topicId) ?? new Set<number>();
        for (const p of partitions) set.add(p);
        session.partitions.set(topicId, set);
      }
      for (const f of forgotten) for (const p of f.partitions) session.partitions.get(f.topicId)?.delete(p);
      return this.#records(session, response, acks);
    });
  }

  /** The records acquired in a fetch answer; acknowledgement refusals reported; moved leaders noted. */
  #records(session: Session, response: ShareFetchResponse, sent: Map<string, Map<bigint, AcknowledgeType>>): ShareRecord[] {
    const records: ShareRecord[] = [];
    const now = performance.now();
    for (const endpoint of response.nodeEndpoints) this.#cluster.noteBroker(endpoint.nodeId, { host: endpoint.host, port: endpoint.port });
    for (const topic of response.topics) {
      const name = this.#cluster.topicName(topic.topicId);
      if (name === undefined) continue;
      for (const p of topic.partitions) {
        const key = `${topic.topicId}:${p.partition}`;
        if (p.acknowledgeErrorCode !== 0)
          this.#refused(name, p.partition, sent.get(key)?.size ?? 0, p.acknowledgeErrorMessage ?? kafkaErrorName(p.acknowledgeErrorCode));
        if (p.errorCode !== 0) {
          if (LEADER_ERRORS.has(p.errorCode)) {
            this.#cluster.leaderMoved(topic.topicId, p.partition, p.leaderId);
            session.partitions.get(topic.topicId)?.delete(p.partition);
          }
          continue;
        }
        const generation = { node: session.node, generation: session.generation };
        for (const record of acquiredRecords(name, p.partition, p.batches, p.acquired, now, generation)) {
          if ('gap' in record) this.acknowledge({ ...record.gap, session: generation } as ShareRecord, ACKNOWLEDGE.gap);
          else records.push(record);
        }
      }
    }
    return records;
  }

  #refused(topic: string, partition: number, records: number, reason: string): void {
    this.#logger.warn(
      { event: 'share_acknowledge_refused', group: this.#options.group, topic, partition, records, reason },
      'the broker refused acknowledgements; those records are delivered again',
    );
    this.#options.acknowledgeRefused?.({ topic, partition, records, reason });
  }

  async #acknowledge(session: Session, acks: Map<string, Map<bigint, AcknowledgeType>>, close: boolean, renew: boolean): Promise<void> {
    const topics = new Map<string, ShareTopicRequest['partitions'][number][]>();
    for (const [key, offsets] of acks) {
      const [topicId, partition] = splitKey(key);
      topics.set(topicId, [...(topics.get(topicId) ?? []), { partition, acknowledgements: acknowledgementBatches(offsets) }]);
    }
    const request = {
      groupId: this.#options.group,
      memberId: this.#memberId,
      sessionEpoch: close ? -1 : session.epoch,
      renew,
      topics: [...topics].map(([topicId, partitions]) => ({ topicId, partitions })),
    };
    try {
      const connection = await this.#fetchPool.get(this.#cluster.broker(session.node));
      const response = await callTolerant(this.#v2 ? shareAcknowledgeV2 : shareAcknowledgeV1, connection, request);
      if (response.errorCode !== 0) {
        this.#resetSession(session, response.errorMessage ?? kafkaErrorName(response.errorCode));
        return;
      }
      if (close) session.epoch = 0;
      else session.epoch = session.epoch >= MAX_EPOCH ? 1 : session.epoch + 1;
      for (const topic of response.topics) {
        const name = this.#cluster.topicName(topic.topicId) ?? topic.topicId;
        for (const p of topic.partitions) {
          if (p.errorCode !== 0)
            this.#refused(name, p.partition, acks.get(`${topic.topicId}:${p.partition}`)?.size ?? 0, p.errorMessage ?? kafkaErrorName(p.errorCode));
        }
      }
    } catch (error) {
      this.#resetSession(session, (error as Error).message);
    }
  }
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf(':');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}

/** Offsets and their types as the protocol wants them: runs of consecutive offsets of one type. */
export function acknowledgementBatches(offsets: ReadonlyMap<bigint, AcknowledgeType>): AcknowledgementBatch[] {
  const sorted = [...offsets].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const batches: AcknowledgementBatch[] = [];
  let first: bigint | null = null;
  let last = 0n;
  let type: AcknowledgeType = ACKNOWLEDGE.accept;
  for (const [offset, t] of sorted) {
    if (first !== null && offset === last + 1n && t === type) {
      last = offset;
      continue;
    }
    if (first !== null) batches.push({ firstOffset: first, lastOffset: last, types: [type] });
    first = offset;
    last = offset;
    type = t;
  }
  if (first !== null) batches.push({ firstOffset: first, lastOffset: last, types: [type] });
  return batches;
}

type Acquired = ShareRecord | { gap: Omit<ShareRecord, 'session'> };

/**
 * The records of a fetch answer that this member acquired (the batches may hold others), and the
 * acquired offsets inside those batches that hold no record for a consumer (control records,
 * offsets compacted away): those are acknowledged as gaps. Acquired offsets outside every batch
 * are left alone, so they come back rather than be settled unseen.
 */
export function* acquiredRecords(
  topic: string,
  partition: number,
  batches: readonly RecordsBatch[],
  acquired: readonly { firstOffset: bigint; lastOffset: bigint; deliveryCount: number }[],
  now: number,
  session: ShareRecord['session'],
): Generator<Acquired> {
  const deliveryOf = (offset: bigint): number | null => {
    for (const range of acquired) if (offset >= range.firstOffset && offset <= range.lastOffset) return range.deliveryCount;
    return null;
  };
  for (const batch of batches) {
    const present = new Set<bigint>();
    const control = (batch.attributes & IS_CONTROL) !== 0;
    if (!control) {
      for (const r of batch.records) {
        const offset = batch.firstOffset + BigInt(r.offsetDelta);
        const deliveryCount = deliveryOf(offset);
        if (deliveryCount === null) continue;
        present.add(offset);
        yield {
          topic,
          partition,
          offset,
          key: r.key ?? Buffer.alloc(0),
          value: r.value ?? Buffer.alloc(0),
          headers: new Map(r.headers.map(([k, v]) => [k ?? Buffer.alloc(0), v ?? Buffer.alloc(0)])),
          timestamp: batch.firstTimestamp + r.timestampDelta,
          deliveryCount,
          acquiredAt: now,
          session,
        };
      }
    }
    const end = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    for (let offset = batch.firstOffset; offset <= end; offset++) {
      if (present.has(offset) || deliveryOf(offset) === null) continue;
      yield {
        gap: { topic, partition, offset, key: Buffer.alloc(0), value: Buffer.alloc(0), headers: new Map(), timestamp: 0n, deliveryCount: 0, acquiredAt: now },
      };
    }
  }
}
