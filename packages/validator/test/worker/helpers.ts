import { type Job, type ResultStore, SqliteResultStore } from '@lagscale/validator';
import { Consumer } from '@platformatic/kafka';
import { commitOffsets, waitFor } from '../../../../test-support/kafka.js';
import { ordersRuleSet } from './order-records.js';

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

/** A SQLite result store holding the orders rule set and a job of `total` records, for a test's workers to write to. */
export async function sqliteJob(file: string, job: string, total: number): Promise<void> {
  const setup = SqliteResultStore.open(file);
  try {
    await setup.saveRuleSet(ordersRuleSet.name, ordersRuleSet.version, ordersRuleSet as never, Date.now());
    await setup.createJob({ id: job, ruleSet: ordersRuleSet.name, ruleSetVersion: ordersRuleSet.version, total, createdAt: Date.now(), source: 'test' });
  } finally {
    await setup.close();
  }
}

/** Waits until at least `share` of the job's `total` records have a result or a dead letter; returns the job then. */
export function jobDone(store: ResultStore, job: string, total: number, share = 1, timeoutMs = 300_000): Promise<Job> {
  return waitFor(
    share >= 1 ? 'every record to have a result or a dead letter' : `${Math.round(share * 100)}% of the records done`,
    async () => {
      const j = (await store.getJob(job)) as Job;
      return j.results + j.dlq >= share * total ? j : undefined;
    },
    timeoutMs,
    200,
  );
}

/** `lagscale worker` on the test broker with a store, plus the test's own flags. */
export function workerCommand(main: string, brokers: readonly string[], store: string, flags: readonly string[]): string[] {
  return [process.execPath, main, 'worker', '-b', brokers.join(','), '--store', store, ...flags];
}
