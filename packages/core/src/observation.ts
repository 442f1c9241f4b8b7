/**
 * What one collection cycle saw in the cluster: plain data, produced by the Kafka collector
 * (or by a test, or the simulator) and consumed by the lag evaluator. No derived numbers here.
 *
 * Offsets are JavaScript numbers: real offsets stay far below 2^53, and the collector refuses
 * any that do not (see `toOffset` in the kafka package).
 */

export interface ClusterObservation {
  /** Milliseconds since the epoch at which the offsets were read (the cycle's midpoint). */
  readonly time: number;
  readonly topics: readonly TopicObservation[];
  readonly groups: readonly GroupObservation[];
  /** Share groups (KIP-932, Kafka 4.2+); absent when the collector does not read them. */
  readonly shareGroups?: readonly ShareGroupObservation[];
  /** Brokers or coordinators that could not be read this cycle; the rest is still reported. */
  readonly errors: readonly CollectionError[];
  readonly stats: CollectionStats;
}

export interface CollectionStats {
  readonly durationMs: number;
  readonly requests: number;
  readonly brokers: number;
}

export interface CollectionError {
  /** `host:port` (and node id when known) of the broker that failed, or `cluster`. */
  readonly broker: string;
  /** The Kafka request that failed, e.g. `ListOffsets`, `OffsetFetch`. */
  readonly operation: string;
  readonly message: string;
}

export interface TopicObservation {
  readonly topic: string;
  readonly partitions: readonly PartitionObservation[];
  /** Set when the topic itself could not be read (deleted, unauthorized). */
  readonly error?: string;
}

export interface PartitionObservation {
  readonly partition: number;
  /** Node id of the leader, or -1 when the partition has none. */
  readonly leader: number;
  /** High watermark: the offset the next produced record will get. */
  readonly logEndOffset: number | null;
  readonly logStartOffset: number | null;
  /** Last stable offset (what a read_committed consumer can reach); null when not read. */
  readonly lastStableOffset: number | null;
  /** Why the offsets above are null, e.g. `broker 2 (127.0.0.1:9094) unreachable`. */
  readonly error?: string;
}

export interface GroupObservation {
  readonly group: string;
  /** Group state as the coordinator reports it: Stable, Empty, PreparingRebalance, Dead, ... */
  readonly state: string;
  readonly protocolType: string;
  readonly members: readonly GroupMemberObservation[];
  readonly offsets: readonly CommittedOffset[];
  /** Set when the group's coordinator could not be read; offsets and members are then empty. */
  readonly error?: string;
}

export interface GroupMemberObservation {
  readonly memberId: string;
  readonly clientId: string;
  readonly host: string;
  readonly instanceId: string | null;
  readonly assignment: readonly TopicPartitions[];
}

export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

export interface CommittedOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /**
   * Exact mode only: the timestamp (ms) of the record at `offset`, read from the log. Null when
   * that record no longer exists (deleted by retention) or was not read.
   */
  readonly recordTimestamp?: number | null;
}

/**
 * A share group (KIP-932): its members take records one by one and acknowledge each; the broker
 * keeps, per share-partition, a start offset (every record below it is acknowledged) and, since
 * Kafka 4.2, the lag (records above the start not yet acknowledged).
 */
export interface ShareGroupObservation {
  readonly group: string;
  /** Empty, Stable or Dead, as the coordinator reports it. */
  readonly state: string;
  readonly members: readonly GroupMemberObservation[];
  readonly partitions: readonly SharePartitionObservation[];
  /** Set when the group's coordinator could not be read; members and partitions are then empty. */
  readonly error?: string;
}

export interface SharePartitionObservation {
  readonly topic: string;
  readonly partition: number;
  /** The share-partition start offset; null while the partition has no share state. */
  readonly startOffset: number | null;
  /**
   * The broker's lag (KIP-1226): end offset − start offset − records acknowledged above the start.
   * Null when the broker could not compute it, or answers only DescribeShareGroupOffsets v0
   * (Kafka 4.1), where only the upper bound end − start can be given.
   */
  readonly brokerLag: number | null;
  /** Exact mode only: the timestamp (ms) of the record at the start offset (the oldest not acknowledged). */
  readonly recordTimestamp?: number | null;
  readonly error?: string;
}
