/**
 * The consumer side of share groups (KIP-932), which the Kafka client does not define:
 * ShareGroupHeartbeat (API key 76, v1), ShareFetch (78, v1–2) and ShareAcknowledge (79, v1–2).
 * Every field is flexible (compact strings and arrays, tagged-field buffers after each struct);
 * topics are named by id only. Version 2 adds renewing the acquisition lock (acknowledge type 4).
 */
import { createAPI, Reader, type RecordsBatch, readRecordsBatches, Writer } from '@platformatic/kafka';
import './protocol-fix.js';

/** How a consumer settles one record it acquired. */
export const ACKNOWLEDGE = { gap: 0, accept: 1, release: 2, reject: 3, renew: 4 } as const;
export type AcknowledgeType = (typeof ACKNOWLEDGE)[keyof typeof ACKNOWLEDGE];

export interface ShareHeartbeatRequest {
  readonly groupId: string;
  readonly memberId: string;
  /** 0 joins, -1 leaves, otherwise the epoch the member holds. */
  readonly memberEpoch: number;
  /** Null: unchanged since the last heartbeat. */
  readonly subscribedTopicNames: readonly string[] | null;
}

export interface ShareHeartbeatResponse {
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly memberId: string | null;
  readonly memberEpoch: number;
  readonly heartbeatIntervalMs: number;
  /** Null: unchanged. Topic ids (with dashes) and partitions. */
  readonly assignment: readonly { readonly topicId: string; readonly partitions: readonly number[] }[] | null;
}

export const shareGroupHeartbeat = createAPI<[request: ShareHeartbeatRequest], ShareHeartbeatResponse>(
  76,
  1,
  (request) =>
    Writer.create()
      .appendString(request.groupId)
      .appendString(request.memberId)
      .appendInt32(request.memberEpoch)
      .appendString(null) // rack
      .appendArray(request.subscribedTopicNames === null ? null : [...request.subscribedTopicNames], (w, name) => w.appendString(name), true, false)
      .appendTaggedFields(),
  (_correlationId, _apiKey, _apiVersion, reader) => {
    reader.readInt32(); // throttle time
    const errorCode = reader.readInt16();
    const errorMessage = reader.readNullableString();
    const memberId = reader.readNullableString();
    const memberEpoch = reader.readInt32();
    const heartbeatIntervalMs = reader.readInt32();
    const assignment = reader.readNullableStruct(() => {
      const topics = reader.readArray((t) => ({ topicId: t.readUUID(), partitions: t.readArray((p) => p.readInt32(), true, false) }));
      reader.readTaggedFields();
      return topics;
    });
    return { errorCode, errorMessage, memberId, memberEpoch, heartbeatIntervalMs, assignment };
  },
);

/** Acknowledgements of consecutive offsets: one type for the whole range, or one per offset. */
export interface AcknowledgementBatch {
  readonly firstOffset: bigint;
  readonly lastOffset: bigint;
  readonly types: readonly AcknowledgeType[];
}

export interface SharePartitionRequest {
  readonly partition: number;
  readonly acknowledgements: readonly AcknowledgementBatch[];
}

export interface ShareTopicRequest {
  readonly topicId: string;
  readonly partitions: readonly SharePartitionRequest[];
}

export interface ShareSessionHead {
  readonly groupId: string;
  readonly memberId: string;
  /** 0 opens a share session, -1 closes it, otherwise the next epoch of the open one. */
  readonly sessionEpoch: number;
  /** Version 2 only: the acknowledgements renew acquisition locks (type 4). */
  readonly renew?: boolean;
}

export interface ShareFetchRequest extends ShareSessionHead {
  readonly maxWaitMs: number;
  readonly maxBytes: number;
  readonly maxRecords: number;
  /** Partitions to add to the session, and acknowledgements of records acquired before. */
  readonly topics: readonly ShareTopicRequest[];
  readonly forgotten: readonly { readonly topicId: string; readonly partitions: readonly number[] }[];
}

export interface AcquiredRange {
  readonly firstOffset: bigint;
  readonly lastOffset: bigint;
  /** 1 on the first delivery; more after a release or an expired lock. */
  readonly deliveryCount: number;
}

export interface SharePartitionResponse {
  readonly partition: number;
  readonly errorCode: number;
  readonly errorMessage: string | null;
  /** The answer to the acknowledgements sent for this partition. */
  readonly acknowledgeErrorCode: number;
  readonly acknowledgeErrorMessage: string | null;
  readonly leaderId: number;
  readonly leaderEpoch: number;
  readonly batches: readonly RecordsBatch[];
  readonly acquired: readonly AcquiredRange[];
}

export interface NodeEndpoint {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
}

export interface ShareFetchResponse {
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly acquisitionLockTimeoutMs: number;
  readonly topics: readonly { readonly topicId: string; readonly partitions: readonly SharePartitionResponse[] }[];
  readonly nodeEndpoints: readonly NodeEndpoint[];
}

function appendTopics(w: Writer, topics: readonly ShareTopicRequest[]): Writer {
  return w.appendArray([...topics], (t, topic) => {
    t.appendUUID(topic.topicId).appendArray([...topic.partitions], (p, partition) => {
      p.appendInt32(partition.partition).appendArray([...partition.acknowledgements], (b, batch) => {
        b.appendInt64(batch.firstOffset)
          .appendInt64(batch.lastOffset)
          .appendArray([...batch.types], (x, type) => x.appendInt8(type), true, false);
      });
    });
  });
}

function appendHead(w: Writer, head: ShareSessionHead): Writer {
  return w.appendString(head.groupId).appendString(head.memberId).appendInt32(head.sessionEpoch);
}

function readLeader(r: Reader): { leaderId: number; leaderEpoch: number } {
  const leaderId = r.readInt32();
  const leaderEpoch = r.readInt32();
  r.readTaggedFields();
  return { leaderId, leaderEpoch };
}

function readNodeEndpoints(r: Reader): NodeEndpoint[] {
  return r.readArray((n) => {
    const nodeId = n.readInt32();
    const host = n.readString();
    const port = n.readInt32();
    n.readNullableString(); // rack
    return { nodeId, host, port };
  });
}

function readRecords(r: Reader): RecordsBatch[] {
  const size = r.readUnsignedVarInt() - 1;
  if (size <= 0) return [];
  const batches = readRecordsBatches(Reader.from(r.buffer.subarray(r.position, r.position + size)));
  r.skip(size);
  return batches;
}

function shareFetchAt(version: 1 | 2) {
  return createAPI<[request: ShareFetchRequest], ShareFetchResponse>(
    78,
    version,
    (request) => {
      const w = appendHead(Writer.create(), request)
        .appendInt32(request.maxWaitMs)
        .appendInt32(1) // min bytes
        .appendInt32(request.maxBytes)
        .appendInt32(request.maxRecords)
        .appendInt32(request.maxRecords); // batch size
      if (version >= 2) w.appendInt8(1).appendBoolean(request.renew === true); // record-limit acquire mode
      appendTopics(w, request.topics);
      return w
        .appendArray([...request.forgotten], (f, topic) => {
          f.appendUUID(topic.topicId).appendArray([...topic.partitions], (p, partition) => p.appendInt32(partition), true, false);
        })
        .appendTaggedFields();
    },
    (_correlationId, _apiKey, _apiVersion, reader) => {
      reader.readInt32(); // throttle time
      const errorCode = reader.readInt16();
      const errorMessage = reader.readNullableString();
      const acquisitionLockTimeoutMs = reader.readInt32();
      const topics = reader.readArray((t) => {
        const topicId = t.readUUID();
        const partitions = t.readArray((p): SharePartitionResponse => {
          const partition = p.readInt32();
          const errorCode = p.readInt16();
          const errorMessage = p.readNullableString();
          const acknowledgeErrorCode = p.readInt16();
          const acknowledgeErrorMessage = p.readNullableString();
          const { leaderId, leaderEpoch } = readLeader(p);
          const batches = readRecords(p);
          const acquired = p.readArray((a) => ({ firstOffset: a.readInt64(), lastOffset: a.readInt64(), deliveryCount: a.readInt16() }));
          return { partition, errorCode, errorMessage, acknowledgeErrorCode, acknowledgeErrorMessage, leaderId, leaderEpoch, batches, acquired };
        });
        return { topicId, partitions };
      });
      const nodeEndpoints = readNodeEndpoints(reader);
      return { errorCode, errorMessage, acquisitionLockTimeoutMs, topics, nodeEndpoints };
    },
  );
}

/** ShareFetch v1 (Kafka 4.1+) and v2 (renewing locks, a record limit per acquisition). */
export const shareFetchV1 = shareFetchAt(1);
export const shareFetchV2 = shareFetchAt(2);

export interface ShareAcknowledgeRequest extends ShareSessionHead {
  readonly topics: readonly ShareTopicRequest[];
}

export interface ShareAcknowledgeResponse {
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly topics: readonly {
    readonly topicId: string;
    readonly partitions: readonly { readonly partition: number; readonly errorCode: number; readonly errorMessage: string | null; readonly leaderId: number }[];
  }[];
  readonly nodeEndpoints: readonly NodeEndpoint[];
}

function shareAcknowledgeAt(version: 1 | 2) {
  return createAPI<[request: ShareAcknowledgeRequest], ShareAcknowledgeResponse>(
    79,
    version,
    (request) => {
      const w = appendHead(Writer.create(), request);
      if (version >= 2) w.appendBoolean(request.renew === true);
      return appendTopics(w, request.topics).appendTaggedFields();
    },
    (_correlationId, _apiKey, apiVersion, reader) => {
      reader.readInt32(); // throttle time
      const errorCode = reader.readInt16();
      const errorMessage = reader.readNullableString();
      if (apiVersion >= 2) reader.readInt32(); // acquisition lock timeout
      const topics = reader.readArray((t) => {
        const topicId = t.readUUID();
        const partitions = t.readArray((p) => {
          const partition = p.readInt32();
          const errorCode = p.readInt16();
          const errorMessage = p.readNullableString();
          const { leaderId } = readLeader(p);
          return { partition, errorCode, errorMessage, leaderId };
        });
        return { topicId, partitions };
      });
      const nodeEndpoints = readNodeEndpoints(reader);
      return { errorCode, errorMessage, topics, nodeEndpoints };
    },
  );
}

/** ShareAcknowledge v1 and v2 (v2: renewing locks). */
export const shareAcknowledgeV1 = shareAcknowledgeAt(1);
export const shareAcknowledgeV2 = shareAcknowledgeAt(2);
