/**
 * Helpers for integration tests and benchmarks against a real broker: topics, records, commits
 * and a consumer that really joins its group. Nothing here fakes Kafka.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { callTolerant, type KafkaCluster, PRODUCER_RETRIES } from '@lagscale/kafka';
import { Admin, Connection, Consumer, findCoordinatorV4, type MessagesStream, Producer, stringSerializers } from '@platformatic/kafka';

export function admin(brokers: readonly string[]): Admin {
  return new Admin({ clientId: 'lagscale-test-admin', bootstrapBrokers: [...brokers], retries: 5, retryDelay: 200 });
}

export async function createTopic(
  brokers: readonly string[],
  topic: string,
  partitions: number,
  configs: Record<string, string> = {},
  replicas = 1,
): Promise<void> {
  const client = admin(brokers);
  try {
    await client.createTopics({
      topics: [topic],
      partitions,
      replicas,
      configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
    });
  } finally {
    await client.close();
  }
}

export async function deleteTopic(brokers: readonly string[], topic: string): Promise<void> {
  const client = admin(brokers);
  try {
    await client.deleteTopics({ topics: [topic] });
  } finally {
    await client.close();
  }
}

export async function addPartitions(brokers: readonly string[], topic: string, count: number): Promise<void> {
  const client = admin(brokers);
  try {
    await client.createPartitions({ topics: [{ name: topic, count }] });
  } finally {
    await client.close();
  }
}

/** Sets a group's committed offsets (the group must have no active members). */
export async function commitOffsets(brokers: readonly string[], group: string, topic: string, offsets: Readonly<Record<number, number>>): Promise<void> {
  const client = admin(brokers);
  try {
    // A new cluster loads its offsets topic for a moment (COORDINATOR_LOAD_IN_PROGRESS): retry.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.alterConsumerGroupOffsets({
          groupId: group,
          topics: [{ name: topic, partitionOffsets: Object.entries(offsets).map(([p, o]) => ({ partition: Number(p), offset: BigInt(o) })) }],
        });
        return;
      } catch (error) {
        if (attempt >= 40) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await client.close();
  }
}

export interface ProduceSpec {
  readonly topic: string;
  /** Records per partition, e.g. { 0: 100, 1: 5 }. */
  readonly perPartition: Readonly<Record<number, number>>;
  readonly value?: (partition: number, i: number) => string;
  readonly batchSize?: number;
}

export function producer(
  brokers: readonly string[],
  options: { transactionalId?: string; idempotent?: boolean } = {},
): Producer<string, string, string, string> {
  return new Producer({
    clientId: 'lagscale-test-producer',
    bootstrapBrokers: [...brokers],
    serializers: stringSerializers,
    acks: -1,
    // Idempotent always: without it the client re-sends partitions that already succeeded when a
    // request is retried, and tests that count records would see duplicates.
    idempotent: options.idempotent ?? true,
    ...(options.transactionalId ? { transactionalId: options.transactionalId } : {}),
    // The product's retries: they ride out leader elections (and @lagscale/kafka reads their answers right).
    ...PRODUCER_RETRIES,
  });
}

export async function produce(brokers: readonly string[], spec: ProduceSpec): Promise<void> {
  const client = producer(brokers);
  const batchSize = spec.batchSize ?? 500;
  try {
    for (const [partitionText, count] of Object.entries(spec.perPartition)) {
      const partition = Number(partitionText);
      for (let start = 0; start < count; start += batchSize) {
        const messages = [];
        for (let i = start; i < Math.min(count, start + batchSize); i++) {
          messages.push({ topic: spec.topic, partition, key: `k${i}`, value: spec.value ? spec.value(partition, i) : `record-${partition}-${i}` });
        }
        await client.send({ messages });
      }
    }
  } finally {
    await client.close();
  }
}

export interface RunningConsumer {
  readonly consumed: () => number;
  readonly stream: MessagesStream<string, string, string, string>;
  stop(): Promise<void>;
}

/** A consumer in `group` that commits every record it reads; `delayMs` slows each record down. */
export async function startConsumer(
  brokers: readonly string[],
  group: string,
  topics: string[],
  options: {
    delayMs?: number;
    isolationLevel?: 'read_committed' | 'read_uncommitted';
    clientId?: string;
    mode?: 'earliest' | 'committed';
    groupProtocol?: 'classic' | 'consumer';
  } = {},
): Promise<RunningConsumer> {
  const consumer = new Consumer({
    clientId: options.clientId ?? 'lagscale-test-consumer',
    groupId: group,
    bootstrapBrokers: [...brokers],
    deserializers: {
      key: (b?: Buffer) => b?.toString() ?? '',
      value: (b?: Buffer) => b?.toString() ?? '',
      headerKey: (b?: Buffer) => b?.toString() ?? '',
      headerValue: (b?: Buffer) => b?.toString() ?? '',
    },
    sessionTimeout: 10000,
    heartbeatInterval: 1000,
    autocommit: false,
    maxWaitTime: 200,
    ...(options.groupProtocol === 'consumer' ? { groupProtocol: 'consumer' as const } : {}),
  } as ConstructorParameters<typeof Consumer<string, string, string, string>>[0]);
  const stream = await consumer.consume({
    topics,
    mode: options.mode === 'earliest' ? 'earliest' : 'committed',
    fallbackMode: 'earliest',
    autocommit: false,
    isolationLevel: options.isolationLevel === 'read_committed' ? 1 : 0,
  } as Parameters<typeof consumer.consume>[0]);
  let count = 0;
  let stopped = false;
  const abort = new AbortController();
  const loop = (async () => {
    for await (const message of stream) {
      if (stopped) break;
      if (options.delayMs) await sleep(options.delayMs, undefined, { signal: abort.signal });
      if (stopped) break;
      await message.commit();
      count++;
    }
  })().catch(() => {});
  return {
    consumed: () => count,
    stream,
    async stop() {
      stopped = true;
      abort.abort();
      await stream.close().catch(() => {});
      await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
      await loop;
    },
  };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** The node coordinating `group` now (FindCoordinator; -1 while the offsets topic is being created or moved). */
export async function coordinatorOf(cluster: KafkaCluster, group: string): Promise<number> {
  for (const id of cluster.runningNodeIds) {
    const [host, port] = cluster.brokerOf(id).split(':') as [string, string];
    const connection = new Connection('lagscale-test-coordinator', { connectTimeout: 1000, requestTimeout: 3000 });
    try {
      await connection.connect(host, Number(port));
      const answer = (await callTolerant(findCoordinatorV4.api, connection, 0, [group])).coordinators[0];
      return answer !== undefined && answer.errorCode === 0 ? answer.nodeId : -1;
    } catch {
      // the next node
    } finally {
      await connection.close().catch(() => {});
    }
  }
  return -1;
}
