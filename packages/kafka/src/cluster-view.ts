/**
 * What a group member keeps of the cluster: the brokers, the topics' ids and partition leaders
 * (from Metadata), and its group's coordinator (from FindCoordinator), looked up again when they
 * move. The share consumer and the consumer-protocol consumer both stand on it.
 */
import { apiVersionsV3, type Connection, ConnectionPool, findCoordinatorV4, metadataV12 } from '@platformatic/kafka';
import { type KafkaConnectionOptions, parseBrokerAddress, toClientConnectionOptions } from './connection.js';
import { callTolerant, kafkaErrorName } from './protocol.js';

export interface BrokerEndpoint {
  readonly host: string;
  readonly port: number;
}

/** Partitions by topic id. */
export type TopicPartitions = Map<string, Set<number>>;

export class ClusterView {
  readonly #pool: ConnectionPool;
  readonly #bootstrap: readonly BrokerEndpoint[];
  readonly #topics: readonly string[];
  readonly #group: string;
  readonly #brokers = new Map<number, BrokerEndpoint>();
  readonly #topicNames = new Map<string, string>();
  readonly #leaders = new Map<string, number>();
  #coordinator: number | null = null;
  #metadataAt = 0;

  /** `pool` carries the metadata and coordinator requests; `topics` are the ones the member reads. */
  constructor(pool: ConnectionPool, bootstrap: readonly BrokerEndpoint[], topics: readonly string[], group: string) {
    this.#pool = pool;
    this.#bootstrap = bootstrap;
    this.#topics = topics;
    this.#group = group;
  }

  broker(node: number): BrokerEndpoint {
    const broker = this.#brokers.get(node);
    if (broker === undefined) throw new Error(`broker ${node} is not in the cluster metadata`);
    return broker;
  }

  /** A broker named in an answer (a moved leader's endpoint, say). */
  noteBroker(node: number, endpoint: BrokerEndpoint): void {
    this.#brokers.set(node, endpoint);
  }

  topicName(topicId: string): string | undefined {
    return this.#topicNames.get(topicId);
  }

  topicId(topic: string): string | undefined {
    for (const [id, name] of this.#topicNames) if (name === topic) return id;
    return undefined;
  }

  /** A partition's leader moved (`leader` when the answer named the new one): metadata is read again soon. */
  leaderMoved(topicId: string, partition: number, leader = -1): void {
    if (leader >= 0) this.#leaders.set(`${topicId}:${partition}`, leader);
    this.#metadataAt = 0;
  }

  /** Reads the topics' ids and leaders, at most every 500 ms unless forced. */
  async refresh(force = false): Promise<void> {
    if (!force && performance.now() - this.#metadataAt < 500) return;
    this.#metadataAt = performance.now();
    const connection = await this.anyConnection();
    const metadata = await callTolerant(metadataV12.api, connection, [...this.#topics], false);
    for (const b of metadata.brokers) this.#brokers.set(b.nodeId, { host: b.host, port: b.port });
    for (const topic of metadata.topics) {
      if (topic.errorCode !== 0 || topic.name === null || topic.name === undefined) continue;
      this.#topicNames.set(topic.topicId, topic.name);
      for (const p of topic.partitions) this.#leaders.set(`${topic.topicId}:${p.partitionIndex}`, p.leaderId);
    }
  }

  /** Metadata is read again when the assignment names a topic id not known yet. */
  async knowTopics(topicIds: Iterable<string>): Promise<void> {
    for (const id of topicIds) {
      if (!this.#topicNames.has(id)) {
        await this.refresh(true);
        return;
      }
    }
  }

  async anyConnection(): Promise<Connection> {
    return this.#pool.getFirstAvailable([...this.#brokers.values(), ...this.#bootstrap]);
  }

  /** The API key → max version the brokers answer with. */
  async apiVersions(): Promise<Map<number, number>> {
    const versions = await callTolerant(apiVersionsV3.api, await this.anyConnection(), 'lagscale', '0');
    return new Map(versions.apiKeys.map((k) => [k.apiKey, k.maxVersion]));
  }

  async coordinatorConnection(): Promise<Connection> {
    if (this.#coordinator === null) {
      const response = await callTolerant(findCoordinatorV4.api, await this.anyConnection(), 0, [this.#group]);
      const found = response.coordinators.find((c) => c.key === this.#group);
      if (found === undefined || found.errorCode !== 0) {
        throw new Error(`no coordinator for group ${this.#group}: ${found ? kafkaErrorName(found.errorCode) : 'no answer'}`);
      }
      this.#brokers.set(found.nodeId, { host: found.host, port: found.port });
      this.#coordinator = found.nodeId;
    }
    return this.#pool.get(this.broker(this.#coordinator));
  }

  /** The coordinator moved or stopped answering: it is looked up again on the next request. */
  coordinatorMoved(): void {
    this.#coordinator = null;
  }

  /** `partitions` grouped by their leader now; partitions without a known leader are left out (and metadata is read again). */
  async byLeader(partitions: Iterable<[string, Iterable<number>]>): Promise<Map<number, TopicPartitions>> {
    const byNode = new Map<number, TopicPartitions>();
    let unknown = false;
    for (const [topicId, list] of partitions) {
      for (const partition of list) {
        const leader = this.#leaders.get(`${topicId}:${partition}`);
        if (leader === undefined || leader < 0) {
          unknown = true;
          continue;
        }
        const topics = byNode.get(leader) ?? new Map<string, Set<number>>();
        const set = topics.get(topicId) ?? new Set<number>();
        set.add(partition);
        topics.set(topicId, set);
        byNode.set(leader, topics);
      }
    }
    if (unknown) await this.refresh().catch(() => {});
    return byNode;
  }
}

/** What a group member talks through: one pool for the coordinator and metadata, one for fetches (which wait longer), and its view of the cluster. */
export interface MemberConnections {
  readonly coordinatorPool: ConnectionPool;
  readonly fetchPool: ConnectionPool;
  readonly cluster: ClusterView;
}

export function memberConnections(options: {
  readonly connection: KafkaConnectionOptions;
  readonly clientId: string;
  readonly topics: readonly string[];
  readonly group: string;
}): MemberConnections {
  const connection = toClientConnectionOptions(options.connection);
  const coordinatorPool = new ConnectionPool(options.clientId, connection);
  const fetchPool = new ConnectionPool(options.clientId, { ...connection, requestTimeout: Math.max(connection.requestTimeout ?? 0, 30_000) });
  const cluster = new ClusterView(coordinatorPool, options.connection.brokers.map(parseBrokerAddress), options.topics, options.group);
  return { coordinatorPool, fetchPool, cluster };
}
