/**
 * Small helpers over the Kafka client's protocol layer: tolerant calls that keep per-partition
 * error codes instead of throwing the whole response away, offset conversion, error names and
 * the consumer protocol's assignment encoding.
 */
import { type Connection, createAPI, type Reader, Writer } from '@platformatic/kafka';

/** A protocol API as the client exposes it: `api.async(connection, ...args)`. */
interface AsyncApi<Args extends unknown[], Response> {
  readonly async: (connection: Connection, ...args: Args) => Promise<Response>;
}

/**
 * Calls an API and returns its response even when some partitions or groups in it carry error
 * codes (the client raises those as one error with the parsed response attached).
 */
export async function callTolerant<Args extends unknown[], Response>(api: AsyncApi<Args, Response>, connection: Connection, ...args: Args): Promise<Response> {
  try {
    return await api.async(connection, ...args);
  } catch (error) {
    const response = (error as { response?: unknown }).response;
    if (response !== undefined && response !== null && typeof response === 'object') return response as Response;
    throw error;
  }
}

/** Offsets arrive as 64-bit integers; lag math uses numbers, exact below 2^53. */
export function toOffset(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`offset ${value} is above 2^53 and cannot be represented exactly`);
  }
  return Number(value);
}

const ERROR_NAMES: Record<number, string> = {
  1: 'OFFSET_OUT_OF_RANGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  5: 'LEADER_NOT_AVAILABLE',
  6: 'NOT_LEADER_OR_FOLLOWER',
  7: 'REQUEST_TIMED_OUT',
  14: 'COORDINATOR_LOAD_IN_PROGRESS',
  15: 'COORDINATOR_NOT_AVAILABLE',
  16: 'NOT_COORDINATOR',
  24: 'INVALID_GROUP_ID',
  25: 'UNKNOWN_MEMBER_ID',
  27: 'REBALANCE_IN_PROGRESS',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  30: 'GROUP_AUTHORIZATION_FAILED',
  31: 'CLUSTER_AUTHORIZATION_FAILED',
  35: 'UNSUPPORTED_VERSION',
  69: 'GROUP_ID_NOT_FOUND',
  74: 'FENCED_LEADER_EPOCH',
  75: 'UNKNOWN_LEADER_EPOCH',
  81: 'GROUP_MAX_SIZE_REACHED',
  88: 'UNSTABLE_OFFSET_COMMIT',
  100: 'UNKNOWN_TOPIC_ID',
  110: 'FENCED_MEMBER_EPOCH',
  113: 'STALE_MEMBER_EPOCH',
  115: 'UNSUPPORTED_ASSIGNOR',
  121: 'INVALID_RECORD_STATE',
  122: 'SHARE_SESSION_NOT_FOUND',
  123: 'INVALID_SHARE_SESSION_EPOCH',
  133: 'SHARE_SESSION_LIMIT_REACHED',
};

export function kafkaErrorName(code: number): string {
  return ERROR_NAMES[code] ?? `Kafka error ${code}`;
}

/** Codes after which the group coordinator must be looked up again. */
export const COORDINATOR_MOVED = new Set([14, 15, 16]);

/**
 * Decodes a classic consumer group member's assignment (ConsumerProtocolAssignment, any
 * version): int16 version, then [topic string, [int32 partition]]. Returns [] for empty or
 * non-consumer assignments instead of guessing.
 */
export function decodeConsumerAssignment(bytes: Buffer | null | undefined): { topic: string; partitions: number[] }[] {
  if (!bytes || bytes.length < 6) return [];
  try {
    let at = 2; // version
    const topicCount = bytes.readInt32BE(at);
    at += 4;
    const result: { topic: string; partitions: number[] }[] = [];
    for (let t = 0; t < topicCount; t++) {
      const nameLength = bytes.readInt16BE(at);
      at += 2;
      const topic = bytes.toString('utf8', at, at + nameLength);
      at += nameLength;
      const count = bytes.readInt32BE(at);
      at += 4;
      const partitions: number[] = [];
      for (let p = 0; p < count; p++) {
        partitions.push(bytes.readInt32BE(at));
        at += 4;
      }
      result.push({ topic, partitions });
    }
    return result;
  } catch {
    return [];
  }
}

/** Encodes an assignment the way consumers do (for tests). */
export function encodeConsumerAssignment(assignment: readonly { topic: string; partitions: readonly number[] }[]): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(6);
  header.writeInt16BE(0, 0);
  header.writeInt32BE(assignment.length, 2);
  parts.push(header);
  for (const { topic, partitions } of assignment) {
    const name = Buffer.from(topic, 'utf8');
    const head = Buffer.alloc(2 + name.length + 4);
    head.writeInt16BE(name.length, 0);
    name.copy(head, 2);
    head.writeInt32BE(partitions.length, 2 + name.length);
    parts.push(head);
    const body = Buffer.alloc(4 * partitions.length);
    for (let i = 0; i < partitions.length; i++) body.writeInt32BE(partitions[i] as number, i * 4);
    parts.push(body);
  }
  parts.push(Buffer.from([0xff, 0xff, 0xff, 0xff])); // null user data
  return Buffer.concat(parts);
}

export interface ConsumerGroupDescription {
  readonly groupId: string;
  readonly errorCode: number;
  readonly groupState: string;
  readonly members: readonly {
    readonly memberId: string;
    readonly instanceId: string | null;
    readonly clientId: string;
    readonly clientHost: string;
    readonly assignment: readonly { readonly topicName: string; readonly partitions: readonly number[] }[];
  }[];
}

/** A KIP-848 / KIP-932 member assignment: [topic id, topic name, [partition]], then the struct's tagged fields. */
export function readAssignment(r: Reader): { topicName: string; partitions: number[] }[] {
  const topics = r.readArray((t) => {
    t.readUUID();
    return { topicName: t.readString(), partitions: t.readArray((p) => p.readInt32(), true, false) };
  });
  r.readTaggedFields();
  return topics;
}

/** The request of the KIP-848 / KIP-932 describe APIs: group ids, and no authorized operations. */
export function describeGroupsRequest(groupIds: string[]): Writer {
  return Writer.create()
    .appendArray(groupIds, (w, id) => w.appendString(id), true, false)
    .appendBoolean(false)
    .appendTaggedFields();
}

/** The head of one described group (KIP-848 / KIP-932): error, id, state; epochs and assignor skipped. */
export function readGroupHead(g: Reader): { errorCode: number; errorMessage: string | null; groupId: string; groupState: string } {
  const errorCode = g.readInt16();
  const errorMessage = g.readNullableString();
  const groupId = g.readString();
  const groupState = g.readString();
  g.readInt32(); // group epoch
  g.readInt32(); // assignment epoch
  g.readString(); // assignor
  return { errorCode, errorMessage, groupId, groupState };
}

/**
 * ConsumerGroupDescribe v0 (API key 69, KIP-848), written here because the client's own parser
 * reads `subscribed_topic_names` as one string instead of an array and fails on real responses.
 */
export const consumerGroupDescribe = createAPI<[groupIds: string[]], { groups: ConsumerGroupDescription[] }>(
  69,
  0,
  describeGroupsRequest,
  (_correlationId, _apiKey, _apiVersion, reader) => {
    reader.readInt32(); // throttle time
    const groups = reader.readArray((g) => {
      const { errorCode, groupId, groupState } = readGroupHead(g);
      const members = g.readArray((m) => {
        const memberId = m.readString();
        const instanceId = m.readNullableString();
        m.readNullableString(); // rack
        m.readInt32(); // member epoch
        const clientId = m.readString();
        const clientHost = m.readString();
        m.readArray((s) => s.readString(), true, false); // subscribed topic names
        m.readNullableString(); // subscribed topic regex
        const assignment = readAssignment(m);
        readAssignment(m); // target assignment
        return { memberId, instanceId, clientId, clientHost, assignment };
      });
      g.readInt32(); // authorized operations
      return { groupId, errorCode, groupState, members };
    });
    return { groups };
  },
);
