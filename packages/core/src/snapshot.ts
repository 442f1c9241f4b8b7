import type { CollectionError, CollectionStats } from './observation.js';
import type { Status } from './status.js';

/** Lag of every watched group at one instant: what the exporter, CLI and autoscaler read. */
export interface LagSnapshot {
  readonly time: number;
  readonly groups: readonly GroupLag[];
  /** Share groups (KIP-932); absent where no share group was read. */
  readonly shareGroups?: readonly ShareGroupLag[];
  readonly topics: readonly TopicOffsets[];
  readonly errors: readonly CollectionError[];
  readonly stats: CollectionStats;
}

export interface TopicOffsets {
  readonly topic: string;
  readonly partitions: readonly {
    readonly partition: number;
    readonly leader: number;
    readonly logEndOffset: number | null;
    readonly logStartOffset: number | null;
    readonly lastStableOffset: number | null;
    readonly produceRate: number | null;
    readonly error?: string;
  }[];
  readonly error?: string;
}

export interface GroupLag {
  readonly group: string;
  readonly state: string;
  readonly members: number;
  readonly isolation: IsolationLevel;
  readonly status: Status;
  readonly statusReason: string;
  /** Sum of the known partition lags. */
  readonly lag: number;
  /** False when some partition's lag is unknown, so `lag` is a lower bound. */
  readonly lagComplete: boolean;
  /** Worst partition time lag in seconds; null when no partition could be estimated. */
  readonly timeLagSeconds: number | null;
  readonly produceRate: number | null;
  readonly consumeRate: number | null;
  readonly topics: readonly string[];
  readonly partitions: readonly PartitionLag[];
  readonly error?: string;
}

export interface PartitionOwner {
  readonly memberId: string;
  readonly clientId: string;
  readonly host: string;
}

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** Null when the group has never committed an offset for this partition. */
  readonly committedOffset: number | null;
  /** The log end the lag is measured to: high watermark, or last stable offset for read_committed. */
  readonly logEndOffset: number | null;
  readonly logStartOffset: number | null;
  /**
   * max(0, logEnd - committed). Without a committed offset it follows the reset policy:
   * `earliest` counts the whole retained log, `latest` counts 0. Null when offsets are unknown.
   */
  readonly lag: number | null;
  readonly timeLagSeconds: number | null;
  readonly timeLagMode: 'estimate' | 'exact' | null;
  readonly produceRate: number | null;
  readonly consumeRate: number | null;
  readonly status: Status;
  readonly statusReason: string;
  readonly owner: PartitionOwner | null;
  readonly error?: string;
}

/**
 * A share group's lag: records produced and not yet acknowledged, per share-partition. Consumers
 * may outnumber partitions, so nothing here is capped by the partition count.
 */
export interface ShareGroupLag {
  readonly group: string;
  readonly state: string;
  readonly members: number;
  readonly status: Status;
  readonly statusReason: string;
  /** Sum of the known partition lags. */
  readonly lag: number;
  /** False when some partition's lag is unknown or only an upper bound. */
  readonly lagExact: boolean;
  /** Age in seconds of the oldest record not acknowledged, the worst partition's. */
  readonly timeLagSeconds: number | null;
  readonly produceRate: number | null;
  /** Records acknowledged per second (accepted, rejected or archived: no longer waiting). */
  readonly acknowledgeRate: number | null;
  readonly topics: readonly string[];
  readonly partitions: readonly SharePartitionLag[];
  readonly error?: string;
}

export interface SharePartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly startOffset: number | null;
  readonly logEndOffset: number | null;
  /** Null when unknown. */
  readonly lag: number | null;
  /**
   * `exact`: the broker's count (KIP-1226). `upper_bound`: end − start, from a broker that does
   * not count (Kafka 4.1) or could not this time; records acknowledged above the start are in it.
   */
  readonly lagMode: 'exact' | 'upper_bound' | null;
  readonly timeLagSeconds: number | null;
  readonly timeLagMode: 'estimate' | 'exact' | null;
  readonly produceRate: number | null;
  readonly acknowledgeRate: number | null;
  readonly status: Status;
  readonly statusReason: string;
  readonly error?: string;
}

export type IsolationLevel = 'read_uncommitted' | 'read_committed';
export type OffsetResetPolicy = 'earliest' | 'latest';

/**
 * A group's lag counting only `topics` (a ScaledConsumer or trigger naming its topics): the
 * partitions of other topics are dropped and the group's totals recomputed from the rest, as the
 * evaluator computes them (lag and rates summed, time lag the worst partition's).
 */
export function groupLagForTopics(group: GroupLag, topics: ReadonlySet<string>): GroupLag {
  const partitions = group.partitions.filter((p) => topics.has(p.topic));
  const sum = (values: readonly (number | null)[]): number | null => {
    const known = values.filter((v): v is number => v !== null);
    return known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
  };
  const timeLags = partitions.map((p) => p.timeLagSeconds).filter((v): v is number => v !== null);
  return {
    ...group,
    lag: sum(partitions.map((p) => p.lag)) ?? 0,
    lagComplete: partitions.every((p) => p.lag !== null),
    timeLagSeconds: timeLags.length === 0 ? null : Math.max(...timeLags),
    produceRate: sum(partitions.map((p) => p.produceRate)),
    consumeRate: sum(partitions.map((p) => p.consumeRate)),
    topics: group.topics.filter((topic) => topics.has(topic)),
    partitions,
  };
}
