import { Consumer } from '@platformatic/kafka';
import { commitOffsets } from '../../../../test-support/kafka.js';

/** Log end offsets of every partition of `topic`. */
export async function endOffsets(brokers: readonly string[], topic: string): Promise<bigint[]> {
  const consumer = new Consumer({ clientId: 'lagscale-test-offsets', groupId: 'lagscale-test-offsets', bootstrapBrokers: [...brokers] });
  try {
    return (await consumer.listOffsets({ topics: [topic], timestamp: -1n })).get(topic) ?? [];
  } finally {
    await consumer.close(true);
  }
}

/**
 * Commits `group`'s offsets at the current end of `topic`, so its workers read only what is
 * produced from now on: `validation.requests` is shared by the tests of one run, and records of
 * jobs another test's store does not know would only be dead-lettered (`unknown_job`).
 */
export async function startGroupAtEnd(brokers: readonly string[], group: string, topic: string): Promise<void> {
  const ends = await endOffsets(brokers, topic);
  await commitOffsets(brokers, group, topic, Object.fromEntries(ends.map((end, partition) => [partition, Number(end)])));
}
