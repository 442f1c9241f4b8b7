/**
 * Seeds a broker with partition-group pairs for the lag benches: topics `bench-topic-NNN` of
 * `partitions` partitions holding 1–20 records each, and groups `bench-group-N` that committed an
 * offset 0–3 records short of the end on every partition of the topics they are given. The lag of
 * a pair depends only on its topic, partition and group index, so stages can add topics and groups
 * and the expected total stays known.
 */
import { Admin } from '@platformatic/kafka';
import { producer } from '../../test-support/kafka.js';

export const benchTopic = (index: number): string => `bench-topic-${String(index).padStart(3, '0')}`;
export const benchGroup = (index: number): string => `bench-group-${index}`;

const recordsIn = (topic: number, partition: number): number => 1 + ((topic * 31 + partition * 7) % 20);
const lagOf = (group: number, partition: number, end: number): number => Math.min(end, (group + partition) % 4);

export interface SeedStep {
  readonly partitions: number;
  /** Topic indexes to create and fill. */
  readonly newTopics: readonly number[];
  /** Which group commits on which topics: [group index, topic indexes]. */
  readonly commits: readonly (readonly [number, readonly number[]])[];
}

/** Runs one step; returns the lag it adds (the sum over the committed pairs). */
export async function seedLag(brokers: readonly string[], step: SeedStep, log: (line: string) => void): Promise<number> {
  const admin = new Admin({ clientId: 'bench-seed', bootstrapBrokers: [...brokers], retries: 10, retryDelay: 500 });
  const client = producer([...brokers]);
  const partitions = Array.from({ length: step.partitions }, (_, p) => p);
  let lag = 0;
  try {
    if (step.newTopics.length > 0) {
      log(`creating ${step.newTopics.length} topics x ${step.partitions} partitions`);
      await admin.createTopics({ topics: step.newTopics.map(benchTopic), partitions: step.partitions, replicas: 1 });
    }
    for (const t of step.newTopics) {
      const topic = benchTopic(t);
      await client.send({
        messages: partitions.flatMap((p) => Array.from({ length: recordsIn(t, p) }, (_, i) => ({ topic, partition: p, key: `k${i}`, value: 'x' }))),
      });
    }
    for (const [g, topics] of step.commits) {
      const offsets = topics.map((t) => ({
        name: benchTopic(t),
        partitionOffsets: partitions.map((p) => {
          const end = recordsIn(t, p);
          lag += lagOf(g, p, end);
          return { partition: p, offset: BigInt(end - lagOf(g, p, end)) };
        }),
      }));
      await alterWithRetries(admin, benchGroup(g), offsets);
    }
  } finally {
    await client.close();
    await admin.close();
  }
  return lag;
}

type GroupOffsets = Parameters<Admin['alterConsumerGroupOffsets']>[0]['topics'];

/** A new group's coordinator may still be loading: try again for 10 s. */
async function alterWithRetries(admin: Admin, groupId: string, topics: GroupOffsets): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.alterConsumerGroupOffsets({ groupId, topics });
      return;
    } catch (error) {
      if (attempt > 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
