import type { CollectionError, ShareGroupObservation, SharePartitionObservation } from '@lagscale/core';
import type { Connection } from '@platformatic/kafka';
import { COORDINATOR_MOVED, callTolerant, kafkaErrorName, toOffset } from './protocol.js';
import {
  describeShareGroupOffsetsV0,
  describeShareGroupOffsetsV1,
  type ShareGroupDescription,
  type ShareGroupOffsets,
  shareGroupDescribe,
} from './share-protocol.js';

/** What reading share groups needs of the collector: its requests to one broker, counted and named. */
export interface ShareGroupRequests {
  send<T>(request: (connection: Connection) => Promise<T>): Promise<T>;
  /** `broker 1 (127.0.0.1:9092)`, for errors. */
  readonly broker: string;
  /** The broker answers only DescribeShareGroupOffsets v0 (Kafka 4.1): no lag, only start offsets. */
  readonly offsetsV0: boolean;
}

export interface ShareGroupsAnswer {
  readonly groups: ShareGroupObservation[];
  /** Ids that are not share groups here (GROUP_ID_NOT_FOUND): dropped, not reported. */
  readonly notShareGroups: string[];
  /** Ids whose coordinator moved: look it up again next cycle. */
  readonly moved: string[];
  /** Set when this broker turned out to know only v0 of the offsets API. */
  readonly offsetsV0: boolean;
  /** The broker has share groups turned off (share.version 0, the default before Kafka 4.2): none of the ids is one. */
  readonly disabled: boolean;
}

const GROUP_ID_NOT_FOUND = 69;
const UNSUPPORTED_VERSION = 35;

/**
 * Reads the share groups one coordinator owns: ShareGroupDescribe (members, assignments) and
 * DescribeShareGroupOffsets (start offsets and, from Kafka 4.2, the broker's lag) for all of
 * them at once, in two requests. A broker that does not take v1 of the offsets API is asked v0.
 */
export async function readShareGroups(ids: readonly string[], requests: ShareGroupRequests, errors: CollectionError[]): Promise<ShareGroupsAnswer> {
  const [described, offsetsAnswer] = await Promise.all([requests.send((c) => callTolerant(shareGroupDescribe, c, [...ids])), readOffsets(ids, requests)]);
  const offsetsByGroup = new Map(offsetsAnswer.response.groups.map((g) => [g.groupId, g]));
  const groups: ShareGroupObservation[] = [];
  const notShareGroups: string[] = [];
  const moved: string[] = [];
  let disabled = false;
  for (const description of described.groups) {
    const offsets = offsetsByGroup.get(description.groupId);
    const code = description.errorCode !== 0 ? description.errorCode : (offsets?.errorCode ?? 0);
    if (code === GROUP_ID_NOT_FOUND) notShareGroups.push(description.groupId);
    else if (code === UNSUPPORTED_VERSION) {
      // Share groups are off on this broker: a named group is then a consumer group, not an error.
      disabled = true;
      notShareGroups.push(description.groupId);
    } else if (COORDINATOR_MOVED.has(code)) moved.push(description.groupId);
    else if (code !== 0) {
      const message = description.errorMessage ?? offsets?.errorMessage ?? kafkaErrorName(code);
      groups.push({ group: description.groupId, state: 'Unknown', members: [], partitions: [], error: `${requests.broker}: ${message}` });
      errors.push({ broker: requests.broker, operation: 'ShareGroupDescribe', message: `${description.groupId}: ${message}` });
    } else groups.push(toShareGroupObservation(description, offsets));
  }
  return { groups, notShareGroups, moved, offsetsV0: offsetsAnswer.v0, disabled };
}

async function readOffsets(ids: readonly string[], requests: ShareGroupRequests): Promise<{ response: { groups: ShareGroupOffsets[] }; v0: boolean }> {
  // Which version the broker takes is known from its ApiVersions (the collector asks first).
  if (!requests.offsetsV0) return { response: await requests.send((c) => callTolerant(describeShareGroupOffsetsV1, c, [...ids])), v0: false };
  return { response: await requests.send((c) => callTolerant(describeShareGroupOffsetsV0, c, [...ids])), v0: true };
}

/** One share group as the lag engine sees it: members with their assignments, and per share-partition the start offset and the broker's lag. */
export function toShareGroupObservation(description: ShareGroupDescription, offsets: ShareGroupOffsets | undefined): ShareGroupObservation {
  const partitions: SharePartitionObservation[] = [];
  for (const topic of offsets?.topics ?? []) {
    for (const p of topic.partitions) {
      const startOffset = p.errorCode === 0 && p.startOffset >= 0n ? toOffset(p.startOffset) : null;
      const brokerLag = p.errorCode === 0 && p.lag !== null && p.lag >= 0n ? toOffset(p.lag) : null;
      partitions.push({
        topic: topic.topicName,
        partition: p.partition,
        startOffset,
        brokerLag,
        ...(p.errorCode === 0 ? {} : { error: p.errorMessage ?? kafkaErrorName(p.errorCode) }),
      });
    }
  }
  return {
    group: description.groupId,
    state: description.groupState,
    members: description.members.map((m) => ({
      memberId: m.memberId,
      clientId: m.clientId,
      host: m.clientHost.replace(/^\//, ''),
      instanceId: null,
      assignment: m.assignment.map((t) => ({ topic: t.topicName, partitions: [...t.partitions] })),
    })),
    partitions,
  };
}
