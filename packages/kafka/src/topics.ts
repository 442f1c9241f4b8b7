import { Admin } from '@platformatic/kafka';
import { describeError } from './collector.js';
import { type KafkaConnectionOptions, toClientConnectionOptions } from './connection.js';

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly replicas?: number;
  readonly configs?: Readonly<Record<string, string>>;
}

/** Creates the topics that do not exist yet; existing ones are left as they are. Returns the names created. */
export async function ensureTopics(connection: KafkaConnectionOptions, topics: readonly TopicSpec[]): Promise<string[]> {
  const admin = new Admin({
    clientId: connection.clientId ?? 'lagscale-admin',
    bootstrapBrokers: [...connection.brokers],
    ...toClientConnectionOptions(connection),
  });
  try {
    const existing = new Set(await admin.listTopics());
    const created: string[] = [];
    for (const topic of topics) {
      if (existing.has(topic.name)) continue;
      try {
        await admin.createTopics({
          topics: [topic.name],
          partitions: topic.partitions,
          replicas: topic.replicas ?? 1,
          configs: Object.entries(topic.configs ?? {}).map(([name, value]) => ({ name, value })),
        });
        created.push(topic.name);
      } catch (error) {
        // Another worker may have created it a moment ago.
        if (!/already exists/i.test(describeError(error))) throw new Error(`cannot create topic ${topic.name}: ${describeError(error)}`);
      }
    }
    return created;
  } finally {
    await admin.close();
  }
}
