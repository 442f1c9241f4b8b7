/**
 * A consumer group member on the consumer rebalance protocol (KIP-848, `group.protocol=consumer`,
 * Kafka 4.0 and later), on the Kafka client's connections: membership by ConsumerGroupHeartbeat,
 * records by Fetch from each partition's leader, offsets committed with the member epoch.
 *
 * The broker computes the assignment and the member reconciles towards it one step at a time:
 * a partition taken away is given up only after the records handled from it are committed (the
 * `revoke` hook), and the broker hands it to its next owner only once this member says it let go.
 * So no former owner ever commits over its successor, and the partitions that stay put are read
 * straight through a rebalance: nobody stops. A member that misses its session is fenced: its
 * partitions are lost at once (`lost`), its commits are refused, and it joins again.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ConnectionPool,
  consumerGroupHeartbeatV1,
  fetchV17,
  IS_CONTROL,
  IS_TRANSACTIONAL,
  listOffsetsV9,
  offsetCommitV9,
  offsetFetchV9,
  type RecordsBatch,
} from '@platformatic/kafka';
import type { ConsumerLogger } from './batch-consumer.js';
import { type ClusterView, memberConnections } from './cluster-view.js';
import type { KafkaConnectionOptions } from './connection.js';
import { COORDINATOR_MOVED, callTolerant, kafkaErrorName } from './protocol.js';
import type { FetchedRecord } from './share-consumer.js';

/** A fetched record, stamped with the claim on its partition it was fetched under. */
export interface GroupRecord extends FetchedRecord {
  /** Changes whenever the partition is taken anew: a record of an older claim is never committed. */
  readonly claim: number;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

export interface Kip848ConsumerOptions {
  readonly connection: KafkaConnectionOptions;
  readonly group: string;
  readonly topics: readonly string[];
  readonly clientId?: string;
  /** Bytes one fetch returns at most, and per partition (the first record batch is always returned). Defaults 2 MiB, 256 KiB. */
  readonly maxBytes?: number;
  readonly maxBytesPerPartition?: number;
  /** How long the broker waits for this member to give partitions up. Default 30 s. */
  readonly rebalanceTimeoutMs?: number;
  readonly logger: ConsumerLogger;
  /** Called when the partitions this member reads change. */
  readonly assigned?: (assignment: { topic: string; partitions: number[] }[]) => void;
  /**
   * Called before partitions are given up: resolves once what was handled from them is committed
   * (records fetched from them and not handled must be dropped). Nothing is fetched from them meanwhile.
   */
  readonly revoke: (partitions: readonly TopicPartition[]) => Promise<void>;
  /** Called when partitions were lost without a chance to commit (this member was fenced). */
  readonly lost?: (partitions: readonly TopicPartition[]) => void;
}

export class Kip848ConsumerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

const UNKNOWN_MEMBER_ID = 25;
const FENCED_MEMBER_EPOCH = 110;
const STALE_MEMBER_EPOCH = 113;
const UNSTABLE_OFFSET_COMMIT = 88;
const OFFSET_OUT_OF_RANGE = 1;
const LEADER_ERRORS = new Set([3, 5, 6, 74, 75, 100]);
/** Heartbeat answers that end membership for good: unsupported, not authorized, the group is full or of another type. */
const FATAL_HEARTBEAT_ERRORS = new Set([35, 30, 81, 24, 115]);
const READ_COMMITTED = 1;
const EARLIEST = -2n;
/**
 * A commit refused for a reason that passes (the coordinator moving or loading, a connection lost,
 * an epoch that just changed) is sent again while its partition is still held, for up to this
 * long: records handled and not committed would otherwise wait for the next commit of their
 * partition, and the last records of a partition have none.
 */
const COMMIT_RETRY_MS = 60_000;
/** Refusals that pass: coordinator loading, not available, moved; request timed out; a stale epoch. */
const TRANSIENT_COMMIT_ERRORS = new Set([7, 14, 15, 16, STALE_MEMBER_EPOCH]);

interface Owned {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
  /** The next offset to fetch. */
  position: bigint;
  readonly claim: number;
  /** Being given up: not fetched, its handled records still committed. */
  revoking: boolean;
}

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * One member of a consumer group on the consumer protocol. `start` joins; `fetch` reads from the
 * owned partitions; `commit` commits handled records with the current member epoch (only records
 * of a claim still held); `close` leaves the group.
 */
export class Kip848Consumer {
  readonly #options: Kip848ConsumerOptions;
  readonly #logger: ConsumerLogger;
  readonly #memberId = randomUUID();
  readonly #coordinatorPool: ConnectionPool;
  readonly #fetchPool: ConnectionPool;
  readonly #cluster: ClusterView;
  readonly #owned = new Map<string, Owned>();
  #epoch = 0;
  #heartbeatMs = 5000;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #heartbeating: Promise<void> | null = null;
  /** A heartbeat was asked for while one was under way. */
  #heartbeatAgain = false;
  /** The owned partitions as last told to the coordinator (null: tell again). */
  #ownedSent: string | null = null;
  /** The newest assignment not reconciled yet, and the reconciliation under way. */
  #target: { topicId: string; partitions: number[] }[] | null = null;
  #reconciling: Promise<void> | null = null;
  /** Bumped when this member is fenced: a reconciliation begun before it adds nothing. */
  #membership = 0;
  #nextClaim = 1;
  #closed = false;
  #fatal: Error | null = null;

  constructor(options: Kip848ConsumerOptions) {
    this.#options = options;
    this.#logger = options.logger;
    const clientId = options.clientId ?? `lagscale-${process.pid}`;
    ({ coordinatorPool: this.#coordinatorPool, fetchPool: this.#fetchPool, cluster: this.#cluster } = memberConnections({ ...options, clientId }));
  }

  get memberId(): string {
    return this.#memberId;
  }

  get memberEpoch(): number {
    return this.#epoch;
  }

  /** A heartbeat error that ended membership for good. */
  get failure(): Error | null {
    return this.#fatal;
  }

  /** Whether a record's partition is still held under the claim it was fetched under (and not being given up). */
  holds(record: GroupRecord): boolean {
    const owned = this.#owned.get(keyOf(record.topic, record.partition));
    return owned !== undefined && owned.claim === record.claim && !owned.revoking;
  }

  /** Joins the group; fails when the brokers cannot run the consumer protocol or refuse this member. */
  async start(): Promise<void> {
    await this.#cluster.refresh(true);
    const versions = await this.#cluster.apiVersions();
    if ((versions.get(68) ?? -1) < 1 || (versions.get(1) ?? -1) < 17 || (versions.get(8) ?? -1) < 9) {
      throw new Kip848ConsumerError(
        'UNSUPPORTED_VERSION',
        `the brokers do not run the consumer rebalance protocol (ConsumerGroupHeartbeat v1): Kafka 4.0 or later is needed for group.protocol=consumer (group ${this.#options.group})`,
      );
    }
    await this.#heartbeat();
    if (this.#fatal !== null) throw this.#fatal;
    this.#scheduleHeartbeat();
  }

  /** Reads from every leader of the owned partitions, waiting up to `maxWaitMs` for records. */
  async fetch(maxWaitMs: number): Promise<GroupRecord[]> {
    if (this.#fatal !== null) throw this.#fatal;
    const readable = new Map<string, number[]>();
    for (const owned of this.#owned.values()) {
      if (owned.revoking) continue;
      readable.set(owned.topicId, [...(readable.get(owned.topicId) ?? []), owned.partition]);
    }
    const byNode = await this.#cluster.byLeader(readable);
    if (byNode.size === 0) {
      await sleep(Math.min(maxWaitMs, 200));
      return [];
    }
    const results = await Promise.all([...byNode].map(([node, partitions]) => this.#fetchFrom(node, partitions, maxWaitMs)));
    return results.flat();
  }

  /**
   * Commits the highest offset per partition of `records` whose claim is still held, with the
   * current member epoch; returns the records whose offsets were committed. Records of a claim
   * given up or lost are not committed (their partition's owner reads them again).
   */
  async commit(records: readonly GroupRecord[], onRefused: (refusal: TopicPartition & { reason: string }) => void): Promise<Set<GroupRecord>> {
    const last = new Map<string, GroupRecord>();
    for (const r of records) {
      const key = keyOf(r.topic, r.partition);
      const owned = this.#owned.get(key);
      if (owned === undefined || owned.claim !== r.claim) continue;
      const previous = last.get(key);
      if (previous === undefined || previous.offset < r.offset) last.set(key, r);
    }
    const committed = new Set<string>();
    const deadline = performance.now() + COMMIT_RETRY_MS;
    let left = [...last.values()];
    for (let attempt = 1; left.length > 0; attempt++) {
      const retry: GroupRecord[] = [];
      const refusals = await this.#sendCommit(left, committed);
      for (const { record, code, reason } of refusals) {
        const owned = this.#owned.get(keyOf(record.topic, record.partition));
        const again = TRANSIENT_COMMIT_ERRORS.has(code) && owned?.claim === record.claim && performance.now() < deadline && this.#fatal === null;
        if (again) retry.push(record);
        else onRefused({ topic: record.topic, partition: record.partition, reason });
      }
      left = retry;
      if (left.length > 0) {
        if (attempt === 1)
          this.#logger.warn({ event: 'commit_retrying', group: this.#options.group, reason: refusals[0]?.reason }, 'commit not taken yet; sending it again');
        await sleep(Math.min(100 * 2 ** attempt, 2000));
      }
    }
    return new Set(
      records.filter((r) => {
        const key = keyOf(r.topic, r.partition);
        return committed.has(key) && last.get(key)?.claim === r.claim;
      }),
    );
  }

  /** Leaves the group (after the caller committed what it handled) and closes the connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeatTimer !== null) clearTimeout(this.#heartbeatTimer);
    await this.#heartbeating?.catch(() => {});
    if (this.#fatal === null && this.#epoch > 0) {
      try {
        await this.#sendHeartbeat(-1, null, null);
        this.#logger.info({ event: 'group_left', group: this.#options.group, memberId: this.#memberId }, 'left the group');
      } catch (error) {
        this.#logger.warn(
          { event: 'leave_group_failed', group: this.#options.group, err: (error as Error).message },
          'could not leave the group; the broker drops this member after its session timeout',
        );
      }
    }
    await Promise.all([this.#coordinatorPool.close(), this.#fetchPool.close()]);
  }

  // ---- membership ----

  #scheduleHeartbeat(delay = this.#epoch === 0 || this.#owned.size === 0 ? Math.min(this.#heartbeatMs, 500) : this.#heartbeatMs): void {
    if (this.#closed) return;
    if (this.#heartbeatTimer !== null) clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = setTimeout(() => {
      this.#heartbeatTimer = null;
      this.#heartbeating = this.#heartbeat().finally(() => {
        this.#heartbeating = null;
        if (this.#heartbeatAgain) {
          this.#heartbeatAgain = false;
          this.#scheduleHeartbeat(0);
        } else if (this.#heartbeatTimer === null) this.#scheduleHeartbeat();
      });
    }, delay);
  }

  /** Tells the coordinator now (after this member let partitions go or took them). */
  #heartbeatNow(): void {
    if (this.#heartbeating !== null) this.#heartbeatAgain = true;
    else this.#scheduleHeartbeat(0);
  }

  async #heartbeat(): Promise<void> {
    try {
      const joining = this.#epoch === 0;
      const owned = this.#ownedList();
      const ownedKey = JSON.stringify(owned);
      const tell = joining || ownedKey !== this.#ownedSent;
      const response = await this.#sendHeartbeat(this.#epoch, joining ? this.#options.topics : null, tell ? owned : null);
      if (response.errorCode === 0) {
        if (tell) this.#ownedSent = ownedKey;
        this.#epoch = response.memberEpoch;
        if (response.heartbeatIntervalMs > 0) this.#heartbeatMs = response.heartbeatIntervalMs;
        if (response.assignment !== null) this.#reconcileTo(response.assignment.topicPartitions);
        return;
      }
      const reason = response.errorMessage ?? kafkaErrorName(response.errorCode);
      if (response.errorCode === FENCED_MEMBER_EPOCH || response.errorCode === UNKNOWN_MEMBER_ID) this.#fenced(reason);
      else if (COORDINATOR_MOVED.has(response.errorCode)) this.#cluster.coordinatorMoved();
      else if (FATAL_HEARTBEAT_ERRORS.has(response.errorCode)) {
        this.#fatal = new Kip848ConsumerError(kafkaErrorName(response.errorCode), `group ${this.#options.group}: ${reason}`);
      } else this.#logger.warn({ event: 'heartbeat_refused', group: this.#options.group, reason }, 'group heartbeat refused');
    } catch (error) {
      this.#cluster.coordinatorMoved();
      this.#logger.warn(
        { event: 'heartbeat_failed', group: this.#options.group, err: (error as Error).message },
        'group heartbeat failed; finding the coordinator again',
      );
    }
  }

  async #sendHeartbeat(memberEpoch: number, topics: readonly string[] | null, owned: { topicId: string; partitions: number[] }[] | null) {
    const connection = await this.#cluster.coordinatorConnection();
    const rebalanceTimeoutMs = topics === null ? -1 : (this.#options.rebalanceTimeoutMs ?? 30_000);
    return callTolerant(
      consumerGroupHeartbeatV1.api,
      connection,
      this.#options.group,
      this.#memberId,
      memberEpoch,
      null,
      null,
      rebalanceTimeoutMs,
      topics === null ? null : [...topics],
      null,
      null,
      owned as { topicId: string; partitions: number[] }[],
    );
  }

  /** The partitions held (those being given up included, until they are let go), as the heartbeat names them. */
  #ownedList(): { topicId: string; partitions: number[] }[] {
    const byTopic = new Map<string, number[]>();
    for (const o of this.#owned.values()) byTopic.set(o.topicId, [...(byTopic.get(o.topicId) ?? []), o.partition]);
    return [...byTopic].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([topicId, partitions]) => ({ topicId, partitions: partitions.sort((a, b) => a - b) }));
  }

  /** Fenced (the session expired, or the coordinator forgot this member): every partition is lost now; join again. */
  #fenced(reason: string): void {
    const lost = [...this.#owned.values()].map((o) => ({ topic: o.topic, partition: o.partition }));
    this.#owned.clear();
    this.#membership++;
    this.#target = null;
    this.#epoch = 0;
    this.#ownedSent = null;
    this.#logger.warn({ event: 'member_fenced', group: this.#options.group, reason, lost: lost.length }, 'the group fenced this member; joining again');
    if (lost.length > 0) {
      this.#options.lost?.(lost);
      this.#reportAssigned();
    }
  }

  #reconcileTo(target: { topicId: string; partitions: number[] }[]): void {
    this.#target = target;
    if (this.#reconciling !== null) return;
    this.#reconciling = this.#reconcile()
      .catch((error: Error) =>
        this.#logger.warn({ event: 'reconcile_failed', group: this.#options.group, err: error.message }, 'could not take the assignment; trying again'),
      )
      .finally(() => {
        this.#reconciling = null;
        if (this.#target !== null && !this.#closed) this.#reconcileTo(this.#target);
      });
  }

  /** Steps towards the newest assignment: lets go of partitions taken away (after their commits), then takes the new ones. */
  async #reconcile(): Promise<void> {
    while (this.#target !== null && !this.#closed) {
      const target = this.#target;
      this.#target = null;
      const membership = this.#membership;
      await this.#cluster.knowTopics(target.map((t) => t.topicId));
      const wanted = new Map<string, { topic: string; topicId: string; partition: number }>();
      for (const t of target) {
        const topic = this.#cluster.topicName(t.topicId);
        if (topic === undefined) continue;
        for (const partition of t.partitions) wanted.set(keyOf(topic, partition), { topic, topicId: t.topicId, partition });
      }
      const revoked = [...this.#owned.entries()].filter(([key]) => !wanted.has(key));
      if (revoked.length > 0) {
        for (const [, o] of revoked) o.revoking = true;
        await this.#options.revoke(revoked.map(([, o]) => ({ topic: o.topic, partition: o.partition })));
        for (const [key, o] of revoked) if (this.#owned.get(key) === o) this.#owned.delete(key);
      }
      const added = [...wanted].filter(([key]) => !this.#owned.has(key)).map(([, p]) => p);
      if (added.length > 0) {
        let positions: Map<string, bigint>;
        try {
          positions = await this.#startPositions(added);
        } catch (error) {
          this.#target ??= target; // taken again on the next turn
          throw error;
        }
        if (membership !== this.#membership || this.#closed) return;
        for (const p of added) {
          const key = keyOf(p.topic, p.partition);
          this.#owned.set(key, { ...p, position: positions.get(key) ?? 0n, claim: this.#nextClaim++, revoking: false });
        }
      }
      if (revoked.length > 0 || added.length > 0) {
        this.#reportAssigned();
        this.#heartbeatNow();
      }
    }
  }

  #reportAssigned(): void {
    const byTopic = new Map<string, number[]>();
    for (const o of this.#owned.values()) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), o.partition]);
    const assigned = [...byTopic].map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a - b) }));
    this.#logger.info({ event: 'partitions_assigned', group: this.#options.group, memberEpoch: this.#epoch, assigned }, 'partitions assigned');
    this.#options.assigned?.(assigned);
  }

  // ---- offsets ----

  /** Where to start reading newly taken partitions: the committed offset, or the earliest one. */
  async #startPositions(partitions: readonly { topic: string; partition: number }[]): Promise<Map<string, bigint>> {
    const byTopic = new Map<string, number[]>();
    for (const p of partitions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
    const request = [
      { groupId: this.#options.group, memberId: null, memberEpoch: -1, topics: [...byTopic].map(([name, partitionIndexes]) => ({ name, partitionIndexes })) },
    ];
    for (let attempt = 1; ; attempt++) {
      const response = await callTolerant(offsetFetchV9.api, await this.#cluster.coordinatorConnection(), request, true);
      const group = response.groups[0];
      const codes = [group?.errorCode ?? 0, ...(group?.topics ?? []).flatMap((t) => t.partitions.map((p) => p.errorCode))].filter((c) => c !== 0);
      if (codes.length === 0 && group !== undefined) {
        const positions = new Map<string, bigint>();
        const missing: { topic: string; partition: number }[] = [];
        for (const t of group.topics) {
          for (const p of t.partitions) {
            if (p.committedOffset >= 0n) positions.set(keyOf(t.name, p.partitionIndex), p.committedOffset);
            else missing.push({ topic: t.name, partition: p.partitionIndex });
          }
        }
        for (const [key, offset] of await this.#earliest(missing)) positions.set(key, offset);
        return positions;
      }
      if (codes.some((c) => COORDINATOR_MOVED.has(c))) this.#cluster.coordinatorMoved();
      const retriable = codes.every((c) => COORDINATOR_MOVED.has(c) || c === UNSTABLE_OFFSET_COMMIT);
      if (!retriable || attempt >= 20) throw new Error(`cannot read the committed offsets of group ${this.#options.group}: ${kafkaErrorName(codes[0] ?? -1)}`);
      await sleep(Math.min(100 * attempt, 1000));
    }
  }

  /** The earliest offsets of partitions (ListOffsets on each leader). */
  async #earliest(partitions: readonly { topic: string; partition: number }[]): Promise<Map<string, bigint>> {
    const found = new Map<string, bigint>();
    if (partitions.length === 0) return found;
    const byTopicId = new Map<string, number[]>();
    for (const p of partitions) {
      const id = this.#cluster.topicId(p.topic);
      if (id !== undefined) byTopicId.set(id, [...(byTopicId.get(id) ?? []), p.partition]);
    }
    for (const [node, topics] of await this.#cluster.byLeader(byTopicId)) {
      const request = [...topics].map(([topicId, list]) => ({
        name: this.#cluster.topicName(topicId) ?? topicId,
        partitions: [...list].map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: EARLIEST })),
      }));
      const response = await callTolerant(listOffsetsV9.api, await this.#fetchPool.get(this.#cluster.broker(node)), -1, READ_COMMITTED, request);
      for (const t of response.topics) for (const p of t.partitions) if (p.errorCode === 0) found.set(keyOf(t.name, p.partitionIndex), p.offset);
    }
    if (found.size < partitions.length) throw new Error(`cannot read the earliest offsets of ${partitions.length - found.size} partitions`);
    return found;
  }

  /** Sends one OffsetCommit for `records` (the last handled per partition); adds the partitions committed to `committed`. */
  async #sendCommit(records: readonly GroupRecord[], committed: Set<string>): Promise<{ record: GroupRecord; code: number; reason: string }[]> {
    const byTopic = new Map<string, { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: null }[]>();
    for (const r of records) {
      byTopic.set(r.topic, [
        ...(byTopic.get(r.topic) ?? []),
        { partitionIndex: r.partition, committedOffset: r.offset + 1n, committedLeaderEpoch: -1, committedMetadata: null },
      ]);
    }
    const refusals: { record: GroupRecord; code: number; reason: string }[] = [];
    const find = (topic: string, partition: number) => records.find((r) => r.topic === topic && r.partition === partition);
    try {
      const connection = await this.#cluster.coordinatorConnection();
      const topics = [...byTopic].map(([name, partitions]) => ({ name, partitions }));
      const response = await callTolerant(offsetCommitV9.api, connection, this.#options.group, this.#epoch, this.#memberId, null, topics);
      for (const t of response.topics) {
        for (const p of t.partitions) {
          const record = find(t.name, p.partitionIndex);
          if (record === undefined) continue;
          if (p.errorCode === 0) committed.add(keyOf(t.name, p.partitionIndex));
          else refusals.push({ record, code: p.errorCode, reason: kafkaErrorName(p.errorCode) });
          if (COORDINATOR_MOVED.has(p.errorCode)) this.#cluster.coordinatorMoved();
        }
      }
    } catch (error) {
      this.#cluster.coordinatorMoved();
      for (const record of records) refusals.push({ record, code: 15, reason: (error as Error).message });
    }
    return refusals;
  }

  // ---- fetching ----

  async #fetchFrom(node: number, partitions: Map<string, Set<number>>, maxWaitMs: number): Promise<GroupRecord[]> {
    const asked = new Map<string, { owned: Owned; offset: bigint }>();
    const topics = [...partitions].map(([topicId, list]) => ({
      topicId,
      partitions: [...list].flatMap((partition) => {
        const topic = this.#cluster.topicName(topicId);
        const owned = topic === undefined ? undefined : this.#owned.get(keyOf(topic, partition));
        if (owned === undefined) return [];
        asked.set(`${topicId}:${partition}`, { owned, offset: owned.position });
        return [
          {
            partition,
            currentLeaderEpoch: -1,
            fetchOffset: owned.position,
            lastFetchedEpoch: -1,
            partitionMaxBytes: this.#options.maxBytesPerPartition ?? 256 * 1024,
          },
        ];
      }),
    }));
    let response: Awaited<ReturnType<typeof fetchV17.api.async>>;
    try {
      const connection = await this.#fetchPool.get(this.#cluster.broker(node));
      response = await callTolerant(fetchV17.api, connection, maxWaitMs, 1, this.#options.maxBytes ?? 2 * 1024 * 1024, READ_COMMITTED, 0, -1, topics, [], '');
    } catch (error) {
      this.#logger.warn(
        { event: 'fetch_failed', group: this.#options.group, broker: node, err: (error as Error).message },
        'fetch failed; reading metadata again',
      );
      await this.#cluster.refresh(true).catch(() => {});
      await sleep(Math.min(maxWaitMs, 500));
      return [];
    }
    const records: GroupRecord[] = [];
    const reset: { topic: string; partition: number }[] = [];
    for (const topic of response.responses) {
      for (const p of topic.partitions) {
        const was = asked.get(`${topic.topicId}:${p.partitionIndex}`);
        // Given up, lost or taken anew while the fetch was out: its records are not ours to hand out.
        if (was === undefined || this.#owned.get(keyOf(was.owned.topic, p.partitionIndex)) !== was.owned || was.owned.position !== was.offset) continue;
        if (p.errorCode === OFFSET_OUT_OF_RANGE) reset.push({ topic: was.owned.topic, partition: p.partitionIndex });
        else if (LEADER_ERRORS.has(p.errorCode)) this.#cluster.leaderMoved(topic.topicId, p.partitionIndex);
        if (p.errorCode !== 0 || p.records === undefined) continue;
        const read = committedRecords(was.owned.topic, p.partitionIndex, p.records, p.abortedTransactions, was.offset, was.owned.claim);
        if (read.next !== null) was.owned.position = read.next;
        if (!was.owned.revoking) for (const r of read.records) records.push(r);
      }
    }
    if (reset.length > 0) await this.#resetToEarliest(reset);
    return records;
  }

  /** Offsets gone from the log (retention): read on from the earliest one, as a new group would. */
  async #resetToEarliest(partitions: readonly { topic: string; partition: number }[]): Promise<void> {
    try {
      for (const [key, offset] of await this.#earliest(partitions)) {
        const owned = this.#owned.get(key);
        if (owned === undefined) continue;
        this.#logger.warn(
          {
            event: 'offset_reset',
            group: this.#options.group,
            topic: owned.topic,
            partition: owned.partition,
            from: String(owned.position),
            to: String(offset),
          },
          'the position is no longer in the log; reading from the earliest offset',
        );
        owned.position = offset;
      }
    } catch (error) {
      this.#logger.warn({ event: 'offset_reset_failed', group: this.#options.group, err: (error as Error).message }, 'could not reset positions; trying again');
    }
  }
}

/**
 * The records of a fetch answer a read-committed consumer hands out, from offset `from` on: not
 * control records, not records of aborted transactions (`aborted`: each producer's first offset
 * in the fetched range). `next` is the offset after the last batch (null: no batch).
 */
export function committedRecords(
  topic: string,
  partition: number,
  batches: readonly RecordsBatch[],
  aborted: readonly { producerId: bigint; firstOffset: bigint }[],
  from: bigint,
  claim: number,
): { records: GroupRecord[]; next: bigint | null } {
  const records: GroupRecord[] = [];
  const abortedFrom = [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  const aborting = new Set<bigint>();
  let nextAborted = 0;
  let next: bigint | null = null;
  for (const batch of batches) {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    next = last + 1n;
    while (nextAborted < abortedFrom.length && (abortedFrom[nextAborted] as { firstOffset: bigint }).firstOffset <= last) {
      aborting.add((abortedFrom[nextAborted] as { producerId: bigint }).producerId);
      nextAborted++;
    }
    const transactional = (batch.attributes & IS_TRANSACTIONAL) !== 0;
    if ((batch.attributes & IS_CONTROL) !== 0) {
      // An abort marker (control type 0) ends that producer's aborted transaction.
      if (batch.records[0]?.key?.readInt16BE(2) === 0) aborting.delete(batch.producerId);
      continue;
    }
    if (transactional && aborting.has(batch.producerId)) continue;
    for (const r of batch.records) {
      const offset = batch.firstOffset + BigInt(r.offsetDelta);
      if (offset < from) continue;
      records.push({
        topic,
        partition,
        offset,
        key: r.key ?? Buffer.alloc(0),
        value: r.value ?? Buffer.alloc(0),
        headers: new Map(r.headers.map(([k, v]) => [k ?? Buffer.alloc(0), v ?? Buffer.alloc(0)])),
        timestamp: batch.firstTimestamp + r.timestampDelta,
        claim,
      });
    }
  }
  return { records, next };
}
