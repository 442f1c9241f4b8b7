import type {
  ClusterObservation,
  CollectionError,
  CommittedOffset,
  GroupMemberObservation,
  GroupObservation,
  PartitionObservation,
  ShareGroupObservation,
  TopicObservation,
} from '@lagscale/core';
import {
  apiVersionsV3,
  type Connection,
  ConnectionPool,
  describeConfigsV4,
  describeGroupsV5,
  fetchV12,
  findCoordinatorV4,
  listGroupsV4,
  listOffsetsV9,
  metadataV12,
  offsetFetchV9,
} from '@platformatic/kafka';
import { type BrokerAddress, type KafkaConnectionOptions, parseBrokerAddress, toClientConnectionOptions } from './connection.js';
import { COORDINATOR_MOVED, callTolerant, consumerGroupDescribe, decodeConsumerAssignment, kafkaErrorName, toOffset } from './protocol.js';
import { readShareGroups } from './share-groups.js';

export interface CollectorOptions {
  readonly connection: KafkaConnectionOptions;
  /**
   * Groups to watch (consumer or share groups); empty or absent means every group in the cluster.
   * A function is asked at each collection (a controller's groups come and go).
   */
  readonly groups?: readonly string[] | (() => readonly string[]);
  /** With all groups: keep only groups whose id matches. */
  readonly groupPattern?: RegExp;
  /** Groups measured to the last stable offset: the collector then also reads LSOs. */
  readonly readCommittedGroups?: readonly string[];
  /** Read the timestamp of the record at each lagging committed offset (exact time lag). */
  readonly exactTimeLag?: boolean;
  /** Report topic offsets for every topic, not only those the watched groups consume. */
  readonly allTopics?: boolean;
}

interface BrokerNode extends BrokerAddress {
  readonly id: number;
}

const EARLIEST = -2n;
const LATEST = -1n;
const READ_UNCOMMITTED = 0;
const READ_COMMITTED = 1;
const COORDINATOR_KEY_GROUP = 0;
const SHARE_SUPPORT_RECHECK_MS = 5 * 60_000;

interface PartitionOffsets {
  logEnd: number | null;
  logStart: number | null;
  lastStable: number | null;
  error?: string;
}

/**
 * Reads everything one lag cycle needs from the cluster with as few requests as the protocol
 * allows: one Metadata, ListGroups per broker (all-groups mode), one FindCoordinator for the
 * unknown coordinators, one DescribeGroups and one OffsetFetch per coordinator for all its
 * groups, and one ListOffsets per leader and offset kind. A broker that fails makes only its
 * own partitions or groups unknown; the rest of the cycle is still reported.
 */
export class OffsetCollector {
  readonly #options: CollectorOptions;
  readonly #pool: ConnectionPool;
  readonly #bootstrap: BrokerAddress[];
  readonly #brokers = new Map<number, BrokerNode>();
  readonly #coordinators = new Map<string, number>();
  readonly #withoutConsumerGroupDescribe = new Set<number>();
  /** Per broker: whether it takes the share-group APIs, and which offsets version (from ApiVersions, asked once). */
  readonly #shareSupport = new Map<number, { describe: boolean; offsetsV0: boolean; checkedAt: number }>();
  #requests = 0;
  #closed = false;

  constructor(options: CollectorOptions) {
    this.#options = options;
    const connectionOptions = toClientConnectionOptions(options.connection);
    this.#bootstrap = options.connection.brokers.map(parseBrokerAddress);
    this.#pool = new ConnectionPool(options.connection.clientId ?? 'lagscale', connectionOptions);
    // The pool re-emits connection failures; they are reported per request, so keep them off the process.
    this.#pool.on('failed', () => {});
  }

  /** Requests sent since the collector was created. */
  get requestCount(): number {
    return this.#requests;
  }

  async collect(): Promise<ClusterObservation> {
    if (this.#closed) throw new Error('collector is closed');
    const started = performance.now();
    const requestsBefore = this.#requests;
    const errors: CollectionError[] = [];

    const metadata = await this.#metadata();
    const topicMeta = new Map<string, { error?: string; partitions: { partition: number; leader: number; leaderEpoch: number; error?: string }[] }>();
    for (const topic of metadata.topics) {
      const name = topic.name;
      if (!name) continue;
      topicMeta.set(name, {
        ...(topic.errorCode === 0 ? {} : { error: `topic ${name}: ${kafkaErrorName(topic.errorCode)}` }),
        partitions: topic.partitions
          .map((p) => ({
            partition: p.partitionIndex,
            leader: p.leaderId,
            leaderEpoch: p.leaderEpoch,
            ...(p.errorCode === 0 || p.errorCode === 5 ? {} : { error: kafkaErrorName(p.errorCode) }),
          }))
          .sort((a, b) => a.partition - b.partition),
      });
    }

    const groupIds = await this.#groupIds(errors);
    const described = await this.#describeGroups(groupIds.consumer, errors);
    // A named group that is no consumer group here (no members, no offsets) may be a share group:
    // only those are asked as share groups, so watching consumer groups costs no extra request.
    const named = this.#namedGroups().length > 0;
    const shareCandidates = named
      ? described.filter((g) => g.error === undefined && g.members.length === 0 && g.offsets.length === 0).map((g) => g.group)
      : groupIds.share;
    const shareGroups = await this.#describeShareGroups(shareCandidates, errors);
    const shareIds = new Set(shareGroups.map((g) => g.group));
    const groups = described.filter((g) => !shareIds.has(g.group));

    const wanted = new Set<string>();
    if (this.#options.allTopics) {
      for (const name of topicMeta.keys()) if (!name.startsWith('__')) wanted.add(name);
    }
    for (const group of [...groups, ...shareGroups]) {
      if ('offsets' in group) for (const o of group.offsets) wanted.add(o.topic);
      else for (const p of group.partitions) wanted.add(p.topic);
      for (const m of group.members) for (const a of m.assignment) wanted.add(a.topic);
    }
    const needLso = groups.some((g) => this.#options.readCommittedGroups?.includes(g.group));
    const offsets = await this.#listOffsets(wanted, topicMeta, needLso, errors);
    const time = Date.now();

    const shareStarts = shareGroups.flatMap((g) => g.partitions.flatMap((p) => (p.startOffset === null ? [] : [{ ...p, offset: p.startOffset }])));
    const timestamps = this.#options.exactTimeLag
      ? await this.#readRecordTimestamps([...groups.flatMap((g) => g.offsets), ...shareStarts], offsets, topicMeta, errors)
      : null;

    const topics: TopicObservation[] = [...wanted].sort().map((name) => {
      const meta = topicMeta.get(name);
      if (meta === undefined) return { topic: name, partitions: [], error: `topic ${name} not found (deleted?)` };
      return {
        topic: name,
        ...(meta.error === undefined ? {} : { error: meta.error }),
        partitions: meta.partitions.map((p): PartitionObservation => {
          const read = offsets.get(name)?.get(p.partition);
          const error = read?.error ?? p.error;
          return {
            partition: p.partition,
            leader: p.leader,
            logEndOffset: read?.logEnd ?? null,
            logStartOffset: read?.logStart ?? null,
            lastStableOffset: read?.lastStable ?? null,
            ...(error === undefined ? {} : { error }),
          };
        }),
      };
    });

    return {
      time,
      topics,
      groups: groups.map(({ coordinator: _, ...group }) =>
        timestamps === null
          ? group
          : {
              ...group,
              offsets: group.offsets.map((o) => {
                const ts = timestamps.get(`${o.topic}\u0000${o.partition}\u0000${o.offset}`);
                return ts === undefined ? o : { ...o, recordTimestamp: ts };
              }),
            },
      ),
      shareGroups:
        timestamps === null
          ? shareGroups
          : shareGroups.map((group) => ({
              ...group,
              partitions: group.partitions.map((p) => {
                const ts = p.startOffset === null ? undefined : timestamps.get(`${p.topic}\u0000${p.partition}\u0000${p.startOffset}`);
                return ts === undefined ? p : { ...p, recordTimestamp: ts };
              }),
            })),
      errors,
      stats: { durationMs: performance.now() - started, requests: this.#requests - requestsBefore, brokers: this.#brokers.size },
    };
  }

  /** Ids of every consumer and share group in the cluster (or those matching the pattern). */
  async listGroupIds(): Promise<string[]> {
    await this.#metadata();
    const errors: CollectionError[] = [];
    const { consumer, share } = await this.#groupIds(errors, true);
    const ids = [...new Set([...consumer, ...share])].sort();
    if (ids.length === 0 && errors.length > 0) throw new Error(errors.map((e) => `${e.operation} ${e.broker}: ${e.message}`).join('; '));
    return ids;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool.close();
  }

  #describeBroker(node: BrokerNode | BrokerAddress): string {
    return 'id' in node ? `broker ${node.id} (${node.host}:${node.port})` : `${node.host}:${node.port}`;
  }

  async #connection(node: BrokerNode | BrokerAddress): Promise<Connection> {
    try {
      return await this.#pool.get({ host: node.host, port: node.port });
    } catch (error) {
      throw new Error(`${this.#describeBroker(node)} unreachable: ${describeError(error)}`);
    }
  }

  async #send<T>(node: BrokerNode | BrokerAddress, request: (connection: Connection) => Promise<T>): Promise<T> {
    const connection = await this.#connection(node);
    this.#requests++;
    try {
      return await request(connection);
    } catch (error) {
      throw new Error(`${this.#describeBroker(node)}: ${describeError(error)}`);
    }
  }

  /** Metadata from the first broker that answers: known brokers first, then the bootstrap list. */
  async #metadata(): Promise<Awaited<ReturnType<typeof metadataV12.api.async>>> {
    const candidates: (BrokerNode | BrokerAddress)[] = [...this.#brokers.values(), ...this.#bootstrap];
    const failures: string[] = [];
    for (const node of candidates) {
      try {
        const metadata = await this.#send(node, (c) => callTolerant(metadataV12.api, c, null, false, false));
        this.#brokers.clear();
        for (const b of metadata.brokers) this.#brokers.set(b.nodeId, { id: b.nodeId, host: b.host, port: b.port });
        return metadata;
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    throw new KafkaUnavailableError(
      `cannot read cluster metadata from any broker (${[...new Set(failures)].join('; ')}). Check the broker addresses (--brokers / KAFKA_BROKERS), TLS and SASL settings, and that Kafka is running.`,
    );
  }

  /** The groups named in the options now (none: every group). */
  #namedGroups(): readonly string[] {
    const groups = this.#options.groups;
    return (typeof groups === 'function' ? groups() : groups) ?? [];
  }

  /** Consumer groups (classic and KIP-848) and share groups to read; named groups are first read as consumer groups. */
  async #groupIds(errors: CollectionError[], all = false): Promise<{ consumer: string[]; share: string[] }> {
    const explicit = all ? [] : this.#namedGroups();
    if (explicit.length > 0) return { consumer: [...new Set(explicit)], share: [] };
    const ids = new Set<string>();
    const shareIds = new Set<string>();
    await Promise.all(
      [...this.#brokers.values()].map(async (node) => {
        try {
          const response = await this.#send(node, (c) => callTolerant(listGroupsV4.api, c, [], []));
          if (response.errorCode !== 0) throw new Error(kafkaErrorName(response.errorCode));
          for (const g of response.groups) {
            const kind = g.protocolType === 'share' ? shareIds : g.protocolType === 'consumer' || g.protocolType === '' ? ids : null;
            if (kind === null) continue;
            if (this.#options.groupPattern && !this.#options.groupPattern.test(g.groupId)) continue;
            kind.add(g.groupId);
            this.#coordinators.set(g.groupId, node.id);
          }
        } catch (error) {
          errors.push({ broker: this.#describeBroker(node), operation: 'ListGroups', message: describeError(error) });
        }
      }),
    );
    return { consumer: [...ids].sort(), share: [...shareIds].sort() };
  }

  /**
   * Share groups (KIP-932), from their coordinators: two requests per coordinator for all its
   * groups. Brokers are asked only after ApiVersions says they take the share-group APIs (a broker
   * sent an API it does not know closes the connection); a named group that is not a share group
   * is dropped here and read as a consumer group.
   */
  async #describeShareGroups(groupIds: readonly string[], errors: CollectionError[]): Promise<ShareGroupObservation[]> {
    if (groupIds.length === 0) return [];
    const failed = new Map<string, string>();
    await this.#findCoordinators(groupIds, errors, failed);
    const byCoordinator = new Map<number, string[]>();
    for (const g of groupIds) {
      if (failed.has(g)) continue;
      const node = this.#coordinators.get(g) as number;
      byCoordinator.set(node, [...(byCoordinator.get(node) ?? []), g]);
    }
    const results: ShareGroupObservation[] = [];
    await Promise.all(
      [...byCoordinator].map(async ([nodeId, ids]) => {
        const node = this.#brokers.get(nodeId) as BrokerNode;
        try {
          const support = await this.#shareSupportOf(node);
          if (!support.describe) return;
          const answer = await readShareGroups(
            ids,
            { send: (request) => this.#send(node, request), broker: this.#describeBroker(node), offsetsV0: support.offsetsV0 },
            errors,
          );
          if (answer.offsetsV0 || answer.disabled) this.#shareSupport.set(nodeId, { ...support, offsetsV0: answer.offsetsV0, describe: !answer.disabled });
          for (const g of answer.moved) this.#coordinators.delete(g);
          results.push(...answer.groups);
          for (const g of answer.moved)
            results.push({ group: g, state: 'Unknown', members: [], partitions: [], error: `coordinator ${this.#describeBroker(node)} moved` });
        } catch (error) {
          const message = describeError(error);
          errors.push({ broker: this.#describeBroker(node), operation: 'ShareGroupDescribe/DescribeShareGroupOffsets', message });
          for (const g of ids) {
            this.#coordinators.delete(g);
            results.push({ group: g, state: 'Unknown', members: [], partitions: [], error: `coordinator ${message}` });
          }
        }
      }),
    );
    // Named groups whose coordinator could not be found are reported by the consumer-group path.
    if (this.#namedGroups().length === 0) {
      for (const [g, reason] of failed) results.push({ group: g, state: 'Unknown', members: [], partitions: [], error: reason });
    }
    return results.sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  }

  /**
   * The brokers' `group.share.max.size` (KIP-932: the most members a share group admits), from
   * one broker's configuration (DescribeConfigs, one request); null when no broker answers or
   * none has the setting (a broker older than Kafka 4.0). Read-only.
   */
  async shareGroupMaxSize(): Promise<number | null> {
    if (this.#closed) throw new Error('collector is closed');
    if (this.#brokers.size === 0) await this.#metadata();
    for (const node of this.#brokers.values()) {
      try {
        const response = await this.#send(node, (c) =>
          callTolerant(
            describeConfigsV4.api,
            c,
            [{ resourceType: 4, resourceName: String(node.id), configurationKeys: ['group.share.max.size'] }],
            false,
            false,
          ),
        );
        const result = response.results[0];
        if (result === undefined || result.errorCode !== 0) continue;
        const value = Number(result.configs.find((config) => config.name === 'group.share.max.size')?.value);
        return Number.isInteger(value) && value > 0 ? value : null;
      } catch {
        // Another broker may answer; none answering is the caller's default.
      }
    }
    return null;
  }

  /** Asked again every few minutes: a cluster can be upgraded, or share groups turned on (share.version), while lagscale runs. */
  async #shareSupportOf(node: BrokerNode): Promise<{ describe: boolean; offsetsV0: boolean; checkedAt: number }> {
    const known = this.#shareSupport.get(node.id);
    if (known !== undefined && Date.now() - known.checkedAt < SHARE_SUPPORT_RECHECK_MS) return known;
    const versions = await this.#send(node, (c) => callTolerant(apiVersionsV3.api, c, 'lagscale', '0'));
    const range = (key: number) => versions.apiKeys.find((api) => api.apiKey === key);
    const describe = range(77);
    const offsets = range(90);
    const support = {
      describe: describe !== undefined && describe.maxVersion >= 1 && describe.minVersion <= 1 && offsets !== undefined,
      offsetsV0: offsets === undefined || offsets.maxVersion < 1,
      checkedAt: Date.now(),
    };
    this.#shareSupport.set(node.id, support);
    return support;
  }

  async #findCoordinators(groupIds: readonly string[], errors: CollectionError[], failed: Map<string, string>): Promise<void> {
    const unknown = groupIds.filter((g) => !this.#coordinators.has(g) || !this.#brokers.has(this.#coordinators.get(g) as number));
    if (unknown.length === 0) return;
    const failures: string[] = [];
    for (const node of this.#brokers.values()) {
      try {
        const response = await this.#send(node, (c) => callTolerant(findCoordinatorV4.api, c, COORDINATOR_KEY_GROUP, unknown));
        for (const c of response.coordinators) {
          if (c.errorCode === 0) {
            this.#coordinators.set(c.key, c.nodeId);
            if (!this.#brokers.has(c.nodeId)) this.#brokers.set(c.nodeId, { id: c.nodeId, host: c.host, port: c.port });
          } else {
            failed.set(c.key, `no coordinator: ${kafkaErrorName(c.errorCode)}`);
          }
        }
        return;
      } catch (error) {
        failures.push(describeError(error));
      }
    }
    errors.push({ broker: 'cluster', operation: 'FindCoordinator', message: failures.join('; ') });
    for (const g of unknown) failed.set(g, `no coordinator: ${failures[0] ?? 'no broker answered'}`);
  }

  async #describeGroups(groupIds: readonly string[], errors: CollectionError[]): Promise<(GroupObservation & { coordinator: number | null })[]> {
    const results = new Map<string, GroupObservation & { coordinator: number | null }>();
    const failed = new Map<string, string>();
    let pending = [...groupIds];
    // A second round re-asks groups whose coordinator moved between the lookup and the request.
    for (let round = 0; round < 2 && pending.length > 0; round++) {
      failed.clear();
      await this.#findCoordinators(pending, errors, failed);
      const byCoordinator = new Map<number, string[]>();
      for (const g of pending) {
        if (failed.has(g)) continue;
        const node = this.#coordinators.get(g) as number;
        const list = byCoordinator.get(node) ?? [];
        list.push(g);
        byCoordinator.set(node, list);
      }
      const retry: string[] = [];
      await Promise.all(
        [...byCoordinator].map(async ([nodeId, ids]) => {
          const node = this.#brokers.get(nodeId) as BrokerNode;
          try {
            const [described, fetched] = await Promise.all([
              this.#send(node, (c) => callTolerant(describeGroupsV5.api, c, ids, false)),
              this.#send(node, (c) =>
                callTolerant(
                  offsetFetchV9.api,
                  c,
                  ids.map((groupId) => ({ groupId, memberId: null, memberEpoch: -1, topics: null })),
                  false,
                ),
              ),
            ]);
            const descriptions = new Map(described.groups.map((g) => [g.groupId, g]));
            const modern = await this.#describeConsumerProtocolGroups(
              node,
              described.groups.filter((g) => g.errorCode === 69 || (g.errorCode === 0 && g.groupState === 'Dead')).map((g) => g.groupId),
              errors,
            );
            for (const f of fetched.groups) {
              const d = descriptions.get(f.groupId);
              const code = f.errorCode !== 0 ? f.errorCode : (d?.errorCode ?? 0);
              if (COORDINATOR_MOVED.has(code)) {
                this.#coordinators.delete(f.groupId);
                retry.push(f.groupId);
                failed.set(f.groupId, `coordinator ${this.#describeBroker(node)}: ${kafkaErrorName(code)}`);
                continue;
              }
              if (code !== 0 && code !== 69) {
                failed.set(f.groupId, `${this.#describeBroker(node)}: ${kafkaErrorName(code)}`);
                continue;
              }
              const offsets: CommittedOffset[] = [];
              for (const t of f.topics) {
                for (const p of t.partitions) {
                  if (p.errorCode === 0 && p.committedOffset >= 0n)
                    offsets.push({ topic: t.name, partition: p.partitionIndex, offset: toOffset(p.committedOffset) });
                }
              }
              const described = modern.get(f.groupId);
              const members: GroupMemberObservation[] =
                described?.members ??
                (d?.members ?? []).map((m) => ({
                  memberId: m.memberId,
                  clientId: m.clientId,
                  host: m.clientHost.replace(/^\//, ''),
                  instanceId: m.groupInstanceId ?? null,
                  assignment: d?.protocolType === 'consumer' ? decodeConsumerAssignment(m.memberAssignment) : [],
                }));
              results.set(f.groupId, {
                group: f.groupId,
                state: described?.state ?? d?.groupState ?? 'Unknown',
                protocolType: described ? 'consumer' : (d?.protocolType ?? ''),
                members,
                offsets,
                coordinator: nodeId,
              });
            }
          } catch (error) {
            const message = describeError(error);
            errors.push({ broker: this.#describeBroker(node), operation: 'DescribeGroups/OffsetFetch', message });
            for (const g of ids) {
              this.#coordinators.delete(g);
              failed.set(g, `coordinator ${message}`);
            }
          }
        }),
      );
      pending = retry;
    }
    return groupIds.map(
      (g) =>
        results.get(g) ?? { group: g, state: 'Unknown', protocolType: '', members: [], offsets: [], coordinator: null, error: failed.get(g) ?? 'not read' },
    );
  }

  /**
   * Groups of the consumer rebalance protocol (KIP-848, the default for new consumers in Kafka 4)
   * are not classic groups: DescribeGroups calls them Dead (or GROUP_ID_NOT_FOUND) and
   * ConsumerGroupDescribe tells their members and assignments. Brokers without that API, or groups
   * that really do not exist, leave the classic answer in place.
   */
  async #describeConsumerProtocolGroups(
    node: BrokerNode,
    groupIds: string[],
    errors: CollectionError[],
  ): Promise<Map<string, { state: string; members: GroupMemberObservation[] }>> {
    const result = new Map<string, { state: string; members: GroupMemberObservation[] }>();
    if (groupIds.length === 0 || this.#withoutConsumerGroupDescribe.has(node.id)) return result;
    try {
      const response = await this.#send(node, (c) => consumerGroupDescribe.async(c, groupIds));
      for (const g of response.groups) {
        if (g.errorCode !== 0) continue;
        result.set(g.groupId, {
          state: g.groupState,
          members: g.members.map((m) => ({
            memberId: m.memberId,
            clientId: m.clientId,
            host: m.clientHost.replace(/^\//, ''),
            instanceId: m.instanceId ?? null,
            assignment: m.assignment.map((t) => ({ topic: t.topicName, partitions: [...t.partitions] })),
          })),
        });
      }
    } catch (error) {
      // Reported once; brokers before 3.7 do not know the API, and asking again each cycle helps nobody.
      this.#withoutConsumerGroupDescribe.add(node.id);
      errors.push({ broker: this.#describeBroker(node), operation: 'ConsumerGroupDescribe', message: `${describeError(error)} (not asked again)` });
    }
    return result;
  }

  async #listOffsets(
    topics: ReadonlySet<string>,
    topicMeta: ReadonlyMap<string, { partitions: { partition: number; leader: number; leaderEpoch: number }[] }>,
    needLso: boolean,
    errors: CollectionError[],
  ): Promise<Map<string, Map<number, PartitionOffsets>>> {
    const result = new Map<string, Map<number, PartitionOffsets>>();
    const byLeader = new Map<number, Map<string, { partitionIndex: number; currentLeaderEpoch: number }[]>>();
    for (const topic of topics) {
      const byTopic = new Map<number, PartitionOffsets>();
      result.set(topic, byTopic);
      for (const p of topicMeta.get(topic)?.partitions ?? []) {
        const entry: PartitionOffsets = { logEnd: null, logStart: null, lastStable: null };
        byTopic.set(p.partition, entry);
        if (p.leader < 0 || !this.#brokers.has(p.leader)) {
          entry.error = 'partition has no leader (its broker is down?)';
          continue;
        }
        let leaderTopics = byLeader.get(p.leader);
        if (!leaderTopics) {
          leaderTopics = new Map();
          byLeader.set(p.leader, leaderTopics);
        }
        const list = leaderTopics.get(topic) ?? [];
        list.push({ partitionIndex: p.partition, currentLeaderEpoch: p.leaderEpoch });
        leaderTopics.set(topic, list);
      }
    }
    const kinds: { field: 'logEnd' | 'logStart' | 'lastStable'; timestamp: bigint; isolation: number }[] = [
      { field: 'logEnd', timestamp: LATEST, isolation: READ_UNCOMMITTED },
      { field: 'logStart', timestamp: EARLIEST, isolation: READ_UNCOMMITTED },
    ];
    if (needLso) kinds.push({ field: 'lastStable', timestamp: LATEST, isolation: READ_COMMITTED });

    await Promise.all(
      [...byLeader].flatMap(([leader, leaderTopics]) =>
        kinds.map(async (kind) => {
          const node = this.#brokers.get(leader) as BrokerNode;
          const request = [...leaderTopics].map(([name, partitions]) => ({
            name,
            partitions: partitions.map((p) => ({ ...p, timestamp: kind.timestamp })),
          }));
          try {
            const response = await this.#send(node, (c) => callTolerant(listOffsetsV9.api, c, -1, kind.isolation, request));
            for (const t of response.topics) {
              for (const p of t.partitions) {
                const entry = result.get(t.name)?.get(p.partitionIndex);
                if (!entry) continue;
                if (p.errorCode !== 0) entry.error = `ListOffsets at ${this.#describeBroker(node)}: ${kafkaErrorName(p.errorCode)}`;
                else entry[kind.field] = toOffset(p.offset);
              }
            }
          } catch (error) {
            const message = describeError(error);
            if (kind.field === 'logEnd') errors.push({ broker: this.#describeBroker(node), operation: 'ListOffsets', message });
            for (const [name, partitions] of leaderTopics) {
              for (const p of partitions) {
                const entry = result.get(name)?.get(p.partitionIndex) as PartitionOffsets;
                entry.error = message;
                entry.logEnd = null;
              }
            }
          }
        }),
      ),
    );
    for (const byTopic of result.values()) {
      for (const entry of byTopic.values()) {
        if (entry.error !== undefined) {
          entry.logEnd = null;
          entry.lastStable = null;
        }
      }
    }
    return result;
  }

  /** Exact mode: one Fetch per leader for the records at the lagging committed offsets. */
  /** The timestamp of the record at each position (a committed offset, a share-partition start) below its log end. */
  async #readRecordTimestamps(
    positions: Iterable<{ readonly topic: string; readonly partition: number; readonly offset: number }>,
    offsets: ReadonlyMap<string, ReadonlyMap<number, PartitionOffsets>>,
    topicMeta: ReadonlyMap<string, { partitions: { partition: number; leader: number; leaderEpoch: number }[] }>,
    errors: CollectionError[],
  ): Promise<Map<string, number | null>> {
    const wanted = new Map<string, { topic: string; partition: number; offset: number; leader: number; epoch: number }>();
    for (const o of positions) {
      const read = offsets.get(o.topic)?.get(o.partition);
      if (!read || read.logEnd === null || o.offset >= read.logEnd) continue;
      const meta = topicMeta.get(o.topic)?.partitions.find((p) => p.partition === o.partition);
      if (!meta || meta.leader < 0) continue;
      wanted.set(`${o.topic}\u0000${o.partition}\u0000${o.offset}`, {
        topic: o.topic,
        partition: o.partition,
        offset: o.offset,
        leader: meta.leader,
        epoch: meta.leaderEpoch,
      });
    }
    const timestamps = new Map<string, number | null>();
    // One partition may be wanted at several offsets (several groups); Fetch takes each once, so
    // requests go out in rounds, each with at most one offset per partition.
    const rounds: (typeof wanted extends Map<string, infer V> ? V : never)[][] = [];
    const used = new Map<string, number>();
    for (const item of wanted.values()) {
      const tp = `${item.topic}\u0000${item.partition}`;
      const round = used.get(tp) ?? 0;
      used.set(tp, round + 1);
      const list = rounds[round] ?? [];
      list.push(item);
      rounds[round] = list;
    }
    for (const round of rounds) {
      const byLeader = new Map<number, typeof round>();
      for (const item of round) byLeader.set(item.leader, [...(byLeader.get(item.leader) ?? []), item]);
      await Promise.all(
        [...byLeader].map(async ([leader, items]) => {
          const node = this.#brokers.get(leader);
          if (!node) return;
          const byTopic = new Map<string, typeof items>();
          for (const item of items) byTopic.set(item.topic, [...(byTopic.get(item.topic) ?? []), item]);
          const request = [...byTopic].map(([topic, list]) => ({
            topicId: topic,
            partitions: list.map((i) => ({
              partition: i.partition,
              currentLeaderEpoch: i.epoch,
              fetchOffset: BigInt(i.offset),
              lastFetchedEpoch: -1,
              partitionMaxBytes: 65536,
            })),
          }));
          try {
            const response = await this.#send(node, (c) => callTolerant(fetchV12.api, c, 0, 1, 8 * 1024 * 1024, READ_UNCOMMITTED, 0, -1, request, [], ''));
            for (const t of response.responses) {
              for (const p of t.partitions) {
                const item = byTopic.get(t.topicId)?.find((i) => i.partition === p.partitionIndex);
                if (!item) continue;
                timestamps.set(`${item.topic}\u0000${item.partition}\u0000${item.offset}`, recordTimestamp(p.records ?? [], item.offset));
              }
            }
          } catch (error) {
            errors.push({ broker: this.#describeBroker(node), operation: 'Fetch', message: describeError(error) });
          }
        }),
      );
    }
    return timestamps;
  }
}

/** Timestamp of the first record at or after `offset` (compaction leaves gaps), or null. */
function recordTimestamp(
  batches: readonly { firstOffset: bigint; firstTimestamp: bigint; records: readonly { offsetDelta: number; timestampDelta: bigint }[] }[],
  offset: number,
): number | null {
  for (const batch of batches) {
    const base = toOffset(batch.firstOffset);
    for (const record of batch.records) {
      if (base + record.offsetDelta >= offset) return Number(batch.firstTimestamp + record.timestampDelta);
    }
  }
  return null;
}

export class KafkaUnavailableError extends Error {
  readonly code = 'LAGSCALE_KAFKA_UNAVAILABLE';
}

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const nested = (error as { errors?: unknown[] }).errors;
  const cause = (error as { cause?: unknown }).cause;
  let message = error.message;
  if (Array.isArray(nested) && nested.length > 0) message += ` (${nested.map(describeError).join('; ')})`;
  else if (cause instanceof Error) message += ` (${describeError(cause)})`;
  return message;
}
