/**
 * The admin side of share groups (KIP-932, Kafka 4.2+): ShareGroupDescribe (API key 77) and
 * DescribeShareGroupOffsets (API key 90), which the Kafka client does not define. Both go to the
 * group's coordinator, found like any group's (FindCoordinator key type 0).
 */
import { createAPI, type Reader, Writer } from '@platformatic/kafka';
import './protocol-fix.js';
import { describeGroupsRequest, readAssignment, readGroupHead } from './protocol.js';

export interface ShareGroupDescription {
  readonly groupId: string;
  readonly errorCode: number;
  readonly errorMessage: string | null;
  /** Empty, Stable or Dead. */
  readonly groupState: string;
  readonly members: readonly {
    readonly memberId: string;
    readonly memberEpoch: number;
    readonly clientId: string;
    readonly clientHost: string;
    readonly assignment: readonly { readonly topicName: string; readonly partitions: readonly number[] }[];
  }[];
}

/** ShareGroupDescribe v1 (v0 was the early-access version, removed in Kafka 4.1). */
export const shareGroupDescribe = createAPI<[groupIds: string[]], { groups: ShareGroupDescription[] }>(
  77,
  1,
  describeGroupsRequest,
  (_correlationId, _apiKey, _apiVersion, reader) => {
    reader.readInt32(); // throttle time
    const groups = reader.readArray((g) => {
      const { errorCode, errorMessage, groupId, groupState } = readGroupHead(g);
      const members = g.readArray((m) => {
        const memberId = m.readString();
        m.readNullableString(); // rack
        const memberEpoch = m.readInt32();
        const clientId = m.readString();
        const clientHost = m.readString();
        m.readArray((s) => s.readString(), true, false); // subscribed topic names
        const assignment = readAssignment(m);
        return { memberId, memberEpoch, clientId, clientHost, assignment };
      });
      g.readInt32(); // authorized operations
      return { groupId, errorCode, errorMessage, groupState, members };
    });
    return { groups };
  },
);

export interface SharePartitionOffsets {
  readonly partition: number;
  /** The share-partition start offset: records below it are all acknowledged; -1 when not initialised. */
  readonly startOffset: bigint;
  /**
   * The broker's lag (KIP-1226, v1): end offset − start offset − records acknowledged above the
   * start; -1 when it cannot compute it. Absent in v0 answers.
   */
  readonly lag: bigint | null;
  readonly errorCode: number;
  readonly errorMessage: string | null;
}

export interface ShareGroupOffsets {
  readonly groupId: string;
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly topics: readonly { readonly topicName: string; readonly partitions: readonly SharePartitionOffsets[] }[];
}

function describeShareGroupOffsetsAt(version: 0 | 1) {
  return createAPI<[groupIds: string[]], { groups: ShareGroupOffsets[] }>(
    90,
    version,
    (groupIds: string[]) =>
      Writer.create()
        .appendArray(groupIds, (w, id) => {
          // Topics null: every topic-partition the group has state for.
          w.appendString(id).appendUnsignedVarInt(0);
        })
        .appendTaggedFields(),
    (_correlationId, _apiKey, apiVersion, reader) => {
      reader.readInt32(); // throttle time
      const groups = reader.readArray((g) => {
        const groupId = g.readString();
        const topics = g.readArray((t) => {
          const topicName = t.readString();
          t.readUUID();
          const partitions = t.readArray((p) => readSharePartition(p, apiVersion));
          return { topicName, partitions };
        });
        const errorCode = g.readInt16();
        const errorMessage = g.readNullableString();
        return { groupId, errorCode, errorMessage, topics };
      });
      return { groups };
    },
  );
}

function readSharePartition(p: Reader, version: number): SharePartitionOffsets {
  const partition = p.readInt32();
  const startOffset = p.readInt64();
  p.readInt32(); // leader epoch
  const lag = version >= 1 ? p.readInt64() : null;
  const errorCode = p.readInt16();
  const errorMessage = p.readNullableString();
  return { partition, startOffset, lag, errorCode, errorMessage };
}

/** DescribeShareGroupOffsets v1 (Kafka 4.2+): start offsets and the broker's lag. */
export const describeShareGroupOffsetsV1 = describeShareGroupOffsetsAt(1);
/** DescribeShareGroupOffsets v0 (Kafka 4.1): start offsets only; lag can then only be bounded (end − start). */
export const describeShareGroupOffsetsV0 = describeShareGroupOffsetsAt(0);
