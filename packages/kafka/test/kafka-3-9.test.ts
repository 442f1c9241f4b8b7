import { LagEvaluator } from '@lagscale/core';
import { KafkaCluster, OffsetCollector } from '@lagscale/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitOffsets, createTopic, produce, startConsumer, waitFor } from '../../../test-support/kafka.js';

describe('Kafka 3.9', () => {
  let cluster: KafkaCluster;
  beforeAll(async () => {
    cluster = await KafkaCluster.start({ version: '3.9.1' });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('starts from its own jars and is measured like 4.x', async () => {
    const brokers = cluster.brokers;
    await createTopic(brokers, 'legacy', 3);
    await produce(brokers, { topic: 'legacy', perPartition: { 0: 30, 1: 20, 2: 10 } });
    await commitOffsets(brokers, 'old-app', 'legacy', { 0: 10, 1: 20, 2: 0 });
    const consumer = await startConsumer(brokers, 'live-app', ['legacy'], { mode: 'earliest' });
    const collector = new OffsetCollector({ connection: { brokers } });
    try {
      const snapshot = await waitFor('the live group to catch up', async () => {
        const s = new LagEvaluator().evaluate(await collector.collect());
        const live = s.groups.find((g) => g.group === 'live-app');
        return live && live.lag === 0 && live.partitions.every((p) => p.committedOffset !== null) ? s : undefined;
      });
      const old = snapshot.groups.find((g) => g.group === 'old-app');
      expect(old?.partitions.map((p) => p.lag)).toEqual([20, 0, 10]);
      expect(snapshot.groups.find((g) => g.group === 'live-app')?.members).toBe(1);
    } finally {
      await consumer.stop();
      await collector.close();
    }
  });
});
