import { LagEvaluator } from '@lagscale/core';
import { KafkaCluster, OffsetCollector } from '@lagscale/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, commitOffsets, produce } from '../../../test-support/kafka.js';

/** Three brokers; one goes down. Its partitions become unknown, everything else is still measured. */
describe('broker down', () => {
  let cluster: KafkaCluster;

  beforeAll(async () => {
    // Fence a dead broker after 3 s instead of 9 s, so the test waits less for leadership to move.
    cluster = await KafkaCluster.start({ nodes: 3, properties: { 'broker.heartbeat.interval.ms': '500', 'broker.session.timeout.ms': '3000' } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('reports the partitions led by a dead broker as unknown and the rest as usual, within bounded time', async () => {
    const brokers = cluster.brokers;
    const topic = 'spread';
    const client = admin(brokers);
    try {
      // One replica per partition, placed explicitly: partition p lives on broker (p % 3) + 1.
      await client.createTopics({
        topics: [topic],
        partitions: -1,
        replicas: -1,
        assignments: Array.from({ length: 6 }, (_, p) => ({ partition: p, brokers: [(p % 3) + 1] })),
      });
    } finally {
      await client.close();
    }
    await produce(brokers, { topic, perPartition: { 0: 10, 1: 11, 2: 12, 3: 13, 4: 14, 5: 15 } });
    await commitOffsets(brokers, 'watched', topic, { 0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1 });

    const collector = new OffsetCollector({ connection: { brokers, connectTimeoutMs: 2000, requestTimeoutMs: 4000 }, groups: ['watched'] });
    const evaluator = new LagEvaluator();
    try {
      const before = evaluator.evaluate(await collector.collect()).groups[0];
      expect(before?.lag).toBe(10 + 11 + 12 + 13 + 14 + 15 - 6);
      expect(before?.lagComplete).toBe(true);

      // A crash, not a clean shutdown. If it was the group's coordinator, the group moves to another node.
      const victim = 3;
      await cluster.stopNode(victim, 'SIGKILL');

      const started = Date.now();
      let group = evaluator.evaluate(await collector.collect()).groups[0];
      // The controller needs a moment to notice; until then the dead leader's requests fail. Either way: unknown.
      for (let i = 0; i < 40 && group?.partitions.filter((p) => p.lag === null).length !== 2; i++) {
        await new Promise((r) => setTimeout(r, 500));
        group = evaluator.evaluate(await collector.collect()).groups[0];
      }
      const elapsed = Date.now() - started;
      const dead = group?.partitions.filter((p) => (p.partition % 3) + 1 === victim) ?? [];
      const alive = group?.partitions.filter((p) => (p.partition % 3) + 1 !== victim) ?? [];
      expect(dead).toHaveLength(2);
      for (const p of dead) {
        expect(p.lag).toBeNull();
        expect(p.status).toBe('ERR');
        expect(p.error).toBeTruthy();
      }
      expect(alive).toHaveLength(4);
      for (const p of alive) expect(p.lag).toBe(10 + p.partition - 1);
      expect(group?.lagComplete).toBe(false);
      expect(elapsed).toBeLessThan(20_000);

      // The broker comes back: everything is known again.
      await cluster.startNode(victim);
      const recovered = await (async () => {
        for (let i = 0; i < 60; i++) {
          const g = evaluator.evaluate(await collector.collect()).groups[0];
          if (g?.lagComplete) return g;
          await new Promise((r) => setTimeout(r, 500));
        }
        return undefined;
      })();
      expect(recovered?.lag).toBe(10 + 11 + 12 + 13 + 14 + 15 - 6);
    } finally {
      await collector.close();
    }
  }, 120_000);
});
