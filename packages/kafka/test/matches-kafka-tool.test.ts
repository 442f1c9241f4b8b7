import { LagEvaluator, type LagSnapshot } from '@lagscale/core';
import { OffsetCollector } from '@lagscale/kafka';
import { describe, expect, inject, it } from 'vitest';
import { parseDescribeOutput, runConsumerGroupsCommand } from '../../../test-support/consumer-groups-command.js';
import { commitOffsets, createTopic, produce, type RunningConsumer, startConsumer, waitFor } from '../../../test-support/kafka.js';

const brokers = inject('kafkaBrokers');
const libDir = inject('kafkaLibDir');
const run = `m${Date.now().toString(36)}`;

/**
 * lagscale's per-partition current offset, log-end offset and lag must equal what Kafka's own
 * kafka-consumer-groups prints for the same cluster at the same moment.
 */
describe('agreement with kafka-consumer-groups', () => {
  it('reports the same offsets and lag for several groups, topics and consumer states', async () => {
    const topics = { a: `${run}-a`, b: `${run}-b`, c: `${run}-c` };
    await createTopic(brokers, topics.a, 5);
    await createTopic(brokers, topics.b, 2);
    await createTopic(brokers, topics.c, 3);
    await produce(brokers, { topic: topics.a, perPartition: { 0: 1000, 1: 10, 2: 0, 3: 333, 4: 77 } });
    await produce(brokers, { topic: topics.b, perPartition: { 0: 5, 1: 2500 } });
    await produce(brokers, { topic: topics.c, perPartition: { 0: 40, 1: 41, 2: 42 } });

    // Lagging groups without members, committed at uneven points.
    await commitOffsets(brokers, `${run}-lagging`, topics.a, { 0: 10, 1: 10, 2: 0, 3: 300, 4: 1 });
    await commitOffsets(brokers, `${run}-lagging`, topics.b, { 0: 0, 1: 1234 });
    await commitOffsets(brokers, `${run}-partial`, topics.c, { 1: 20 });
    const consumers: RunningConsumer[] = [];
    try {
      // A live group that catches up, and a live group stuck on its first record (nothing committed).
      consumers.push(await startConsumer(brokers, `${run}-caught-up`, [topics.a, topics.c], { mode: 'earliest', clientId: 'caught-up-app' }));
      consumers.push(await startConsumer(brokers, `${run}-stuck`, [topics.b], { mode: 'earliest', delayMs: 600_000, clientId: 'stuck-app' }));

      const groups = [`${run}-lagging`, `${run}-partial`, `${run}-caught-up`, `${run}-stuck`];
      const collector = new OffsetCollector({ connection: { brokers }, groups });
      try {
        const collect = async (): Promise<LagSnapshot> => new LagEvaluator().evaluate(await collector.collect());
        await waitFor(
          'the live groups to settle',
          async () => {
            const s = await collect();
            const caughtUp = s.groups.find((g) => g.group === `${run}-caught-up`);
            const stuck = s.groups.find((g) => g.group === `${run}-stuck`);
            return (
              caughtUp?.lag === 0 &&
              caughtUp.members === 1 &&
              caughtUp.partitions.every((p) => p.logEndOffset === 0 || p.committedOffset === p.logEndOffset) &&
              stuck?.members === 1 &&
              stuck.state === 'Stable'
            );
          },
          60_000,
          500,
        );
        const before = await collect();
        const tool = await runConsumerGroupsCommand(libDir, brokers[0] as string, ['--describe', ...groups.flatMap((g) => ['--group', g])]);
        const after = await collect();
        expect(tool.code).toBe(0);
        const rows = parseDescribeOutput(tool.stdout).filter((r) => r.topic !== '-');
        // The cluster did not move while the tool ran, so this is one snapshot.
        const flat = (s: LagSnapshot) =>
          s.groups.flatMap((g) => g.partitions.map((p) => [g.group, p.topic, p.partition, p.committedOffset, p.logEndOffset].join('|'))).sort();
        expect(flat(after)).toEqual(flat(before));

        expect(rows.length).toBeGreaterThanOrEqual(5 + 2 + 1 + 8 + 2);
        for (const row of rows) {
          const ours = before.groups.find((g) => g.group === row.group)?.partitions.find((p) => p.topic === row.topic && p.partition === row.partition);
          expect(ours, `${row.group} ${row.topic}[${row.partition}] missing from lagscale`).toBeDefined();
          expect([row.group, row.topic, row.partition, ours?.committedOffset, ours?.logEndOffset]).toEqual([
            row.group,
            row.topic,
            row.partition,
            row.currentOffset,
            row.logEndOffset,
          ]);
          if (row.currentOffset !== null) expect(ours?.lag).toBe(row.lag);
          if (row.clientId !== null) expect(ours?.owner?.clientId).toBe(row.clientId);
        }
        // Every committed partition lagscale reports is in the tool's table too.
        for (const g of before.groups) {
          for (const p of g.partitions.filter((x) => x.committedOffset !== null)) {
            expect(rows.some((r) => r.group === g.group && r.topic === p.topic && r.partition === p.partition)).toBe(true);
          }
        }
        const lagging = before.groups.find((g) => g.group === `${run}-lagging`);
        expect(lagging?.lag).toBe(990 + 0 + 0 + 33 + 76 + 5 + 1266);
      } finally {
        await collector.close();
      }
    } finally {
      for (const c of consumers) await c.stop();
    }
  }, 120_000);
});
