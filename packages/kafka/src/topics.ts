import { Admin, ConfigResourceTypes, IncrementalAlterConfigOperationTypes } from '@platformatic/kafka';
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

/**
 * Sets dynamic configs of a group (Kafka 4.2+ group configs), e.g. `share.auto.offset.reset`:
 * without `earliest` a new share group starts at the log end and never sees records produced
 * before its first member joined.
 */
export async function setGroupConfigs(connection: KafkaConnectionOptions, group: string, configs: Readonly<Record<string, string>>): Promise<void> {
  const admin = new Admin({
    clientId: connection.clientId ?? 'lagscale-admin',
    bootstrapBrokers: [...connection.brokers],
    ...toClientConnectionOptions(connection),
  });
  try {
    await admin.incrementalAlterConfigs({
      resources: [
        {
          resourceType: ConfigResourceTypes.GROUP,
          resourceName: group,
          configs: Object.entries(configs).map(([name, value]) => ({ name, configOperation: IncrementalAlterConfigOperationTypes.SET, value })),
        },
      ],
    });
  } catch (error) {
    throw new Error(`cannot set configs of group ${group}: ${describeError(error)}`);
  } finally {
    await admin.close();
  }
}
