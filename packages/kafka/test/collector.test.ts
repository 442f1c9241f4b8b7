import { type GroupLag, LagEvaluator } from '@lagscale/core';
import { OffsetCollector } from '@lagscale/kafka';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { addPartitions, commitOffsets, createTopic, deleteTopic, produce, producer, startConsumer, waitFor } from '../../../test-support/kafka.js';

const brokers = inject('kafkaBrokers');
const run = `c${Date.now().toString(36)}`;
const name = (s: string): string => `${run}-${s}`;

async function collectOnce(groups: string[], options: { exact?: boolean; readCommitted?: string[] } = {}): Promise<GroupLag[]> {
  const collector = new OffsetCollector({
    connection: { brokers },
    groups,
    exactTimeLag: options.exact ?? false,
    readCommittedGroups: options.readCommitted ?? [],
  });
  try {
    const observation = await collector.collect();
    return [...new LagEvaluator({ readCommittedGroups: options.readCommitted ?? [] }).evaluate(observation).groups];
  } finally {
    await collector.close();
  }
}

describe('OffsetCollector against a real broker', () => {
  beforeAll(async () => {
    await createTopic(brokers, name('orders'), 4);
    await createTopic(brokers, name('payments'), 2);
    await produce(brokers, { topic: name('orders'), perPartition: { 0: 120, 1: 80, 2: 7, 3: 0 } });
    await produce(brokers, { topic: name('payments'), perPartition: { 0: 30, 1: 31 } });
  });

  it('reads committed offsets, log ends and lag for an empty group with old commits', async () => {
    await commitOffsets(brokers, name('billing'), name('orders'), { 0: 100, 1: 80, 2: 0 });
    const [group] = await collectOnce([name('billing')]);
    expect(group?.state).toBe('Empty');
    expect(group?.members).toBe(0);
    expect(group?.partitions.map((p) => [p.partition, p.committedOffset, p.logEndOffset, p.lag])).toEqual([
      [0, 100, 120, 20],
      [1, 80, 80, 0],
      [2, 0, 7, 7],
      [3, null, 0, 0],
    ]);
    expect(group?.lag).toBe(27);
  });

  it('reads the groups a function names at each collection, and no other group of the cluster', async () => {
    const topic = name('followed');
    await createTopic(brokers, topic, 2);
    for (const g of ['f1', 'f2', 'f3']) await commitOffsets(brokers, name(g), topic, { 0: 0, 1: 0 });
    const following = [name('f1')];
    const collector = new OffsetCollector({ connection: { brokers }, groups: () => following });
    try {
      expect((await collector.collect()).groups.map((g) => g.group)).toEqual([name('f1')]);
      following.push(name('f3'));
      expect((await collector.collect()).groups.map((g) => g.group).sort()).toEqual([name('f1'), name('f3')]);
    } finally {
      await collector.close();
    }
  });

  it('sends a fixed number of batched requests, whatever the number of partitions and groups', async () => {
    const topic = name('wide');
    await createTopic(brokers, topic, 60);
    const groups = [name('w1'), name('w2'), name('w3')];
    for (const g of groups) {
      await commitOffsets(brokers, g, topic, Object.fromEntries(Array.from({ length: 60 }, (_, p) => [p, 0])));
    }
    const collector = new OffsetCollector({ connection: { brokers }, groups });
    try {
      const observation = await collector.collect();
      // Metadata, FindCoordinator, DescribeGroups + OffsetFetch per coordinator, ListOffsets latest + earliest per leader.
      expect(observation.stats.requests).toBe(6);
      expect(observation.groups.flatMap((g) => g.offsets)).toHaveLength(180);
    } finally {
      await collector.close();
    }
  });

  it('lists a live member without commits as owner of partitions that have no committed offset', async () => {
    const topic = name('fresh');
    await createTopic(brokers, topic, 2);
    const consumer = await startConsumer(brokers, name('newcomers'), [topic], { clientId: 'fresh-consumer' });
    try {
      const group = await waitFor('group to become stable with an assignment', async () => {
        const [g] = await collectOnce([name('newcomers')]);
        return g?.state === 'Stable' && g.partitions.length === 2 ? g : undefined;
      });
      expect(group.members).toBe(1);
      for (const p of group.partitions) {
        expect(p.committedOffset).toBeNull();
        expect(p.owner?.clientId).toBe('fresh-consumer');
        expect(p.status).toBe('OK');
      }
    } finally {
      await consumer.stop();
    }
  });

  it('reports an unknown group as dead with nothing in it', async () => {
    const [group] = await collectOnce([name('no-such-group')]);
    expect(group?.members).toBe(0);
    expect(group?.partitions).toEqual([]);
    expect(['Dead', 'Empty']).toContain(group?.state);
  });

  it('sees partitions added while watching, at once, without committed offsets', async () => {
    const topic = name('growing');
    await createTopic(brokers, topic, 2);
    await produce(brokers, { topic, perPartition: { 0: 5, 1: 5 } });
    await commitOffsets(brokers, name('grower'), topic, { 0: 5, 1: 3 });
    const collector = new OffsetCollector({ connection: { brokers }, groups: [name('grower')] });
    const evaluator = new LagEvaluator({ offsetResetPolicy: 'earliest' });
    try {
      expect(evaluator.evaluate(await collector.collect()).groups[0]?.partitions).toHaveLength(2);
      await addPartitions(brokers, topic, 4);
      await produce(brokers, { topic, perPartition: { 2: 9 } });
      const group = await waitFor('new partitions in the snapshot', async () => {
        const g = evaluator.evaluate(await collector.collect()).groups[0];
        return g?.partitions.length === 4 ? g : undefined;
      });
      expect(group.partitions.map((p) => [p.partition, p.committedOffset, p.lag])).toEqual([
        [0, 5, 0],
        [1, 3, 2],
        [2, null, 9],
        [3, null, 0],
      ]);
    } finally {
      await collector.close();
    }
  });

  it('keeps reporting the rest of a group when one of its topics is deleted', async () => {
    const kept = name('kept');
    const doomed = name('doomed');
    await createTopic(brokers, kept, 1);
    await createTopic(brokers, doomed, 1);
    await produce(brokers, { topic: kept, perPartition: { 0: 10 } });
    await produce(brokers, { topic: doomed, perPartition: { 0: 10 } });
    await commitOffsets(brokers, name('survivor'), kept, { 0: 4 });
    await commitOffsets(brokers, name('survivor'), doomed, { 0: 2 });
    const collector = new OffsetCollector({ connection: { brokers }, groups: [name('survivor')] });
    const evaluator = new LagEvaluator();
    try {
      expect(evaluator.evaluate(await collector.collect()).groups[0]?.lag).toBe(14);
      await deleteTopic(brokers, doomed);
      const group = evaluator.evaluate(await collector.collect()).groups[0];
      const keptPartition = group?.partitions.find((p) => p.topic === kept);
      expect(keptPartition?.lag).toBe(6);
      // The coordinator may already have dropped the deleted topic's offsets; if not, they are unknown, not invented.
      for (const p of group?.partitions.filter((x) => x.topic === doomed) ?? []) {
        expect(p.lag).toBeNull();
        expect(p.error).toMatch(/not found|UNKNOWN_TOPIC/);
      }
    } finally {
      await collector.close();
    }
  });

  it('measures read_committed groups to the last stable offset of a transactional topic', async () => {
    const topic = name('tx');
    await createTopic(brokers, topic, 1);
    const tx = producer(brokers, { transactionalId: name('txid') });
    try {
      const committed = await tx.beginTransaction();
      await committed.send({ messages: Array.from({ length: 10 }, (_, i) => ({ topic, partition: 0, key: `k${i}`, value: `v${i}` })) });
      await committed.commit();
      const open = await tx.beginTransaction();
      await open.send({ messages: Array.from({ length: 5 }, (_, i) => ({ topic, partition: 0, key: `o${i}`, value: `o${i}` })) });
      // 10 records + 1 commit marker are stable; 5 records of the open transaction are not.
      await commitOffsets(brokers, name('rc'), topic, { 0: 11 });
      await commitOffsets(brokers, name('ru'), topic, { 0: 11 });
      const groups = await collectOnce([name('rc'), name('ru')], { readCommitted: [name('rc')] });
      const rc = groups.find((g) => g.group === name('rc'))?.partitions[0];
      const ru = groups.find((g) => g.group === name('ru'))?.partitions[0];
      expect(rc).toMatchObject({ logEndOffset: 11, lag: 0 });
      expect(ru).toMatchObject({ logEndOffset: 16, lag: 5 });
      await open.commit();
      const after = await collectOnce([name('rc')], { readCommitted: [name('rc')] });
      expect(after[0]?.partitions[0]).toMatchObject({ logEndOffset: 17, lag: 6 });
    } finally {
      await tx.close();
    }
  });

  it('reads exact time lag from the record at the committed offset', async () => {
    const topic = name('stamped');
    await createTopic(brokers, topic, 1);
    const base = Date.now() - 60_000;
    const client = producer(brokers);
    try {
      await client.send({
        messages: Array.from({ length: 10 }, (_, i) => ({ topic, partition: 0, key: `k${i}`, value: `v${i}`, timestamp: BigInt(base + i * 1000) })),
      });
    } finally {
      await client.close();
    }
    await commitOffsets(brokers, name('stamped-g'), topic, { 0: 3 });
    const [group] = await collectOnce([name('stamped-g')], { exact: true });
    const p = group?.partitions[0];
    expect(p?.timeLagMode).toBe('exact');
    const expected = (Date.now() - (base + 3000)) / 1000;
    expect(p?.timeLagSeconds).toBeGreaterThan(expected - 2);
    expect(p?.timeLagSeconds).toBeLessThanOrEqual(expected + 0.5);
  });
});

describe('compacted topic', () => {
  it('measures lag by offsets across compaction gaps and finds the next surviving record in exact mode', async () => {
    const topic = name('compacted');
    await createTopic(brokers, topic, 1, {
      'cleanup.policy': 'compact',
      'segment.ms': '100',
      'min.cleanable.dirty.ratio': '0.001',
      'delete.retention.ms': '100',
      'min.compaction.lag.ms': '0',
    });
    // Ten rounds over the same five keys, each round in a new segment, stamped 10 s apart in the past.
    const base = Date.now() - 200_000;
    const client = producer(brokers);
    try {
      for (let round = 0; round < 10; round++) {
        await client.send({
          messages: Array.from({ length: 5 }, (_, i) => ({
            topic,
            partition: 0,
            key: `key-${i}`,
            value: `round-${round}`,
            timestamp: BigInt(base + round * 10_000),
          })),
        });
        await new Promise((r) => setTimeout(r, 150));
      }
    } finally {
      await client.close();
    }
    await commitOffsets(brokers, name('compact-g'), topic, { 0: 2 });
    const collector = new OffsetCollector({ connection: { brokers }, groups: [name('compact-g')], exactTimeLag: true });
    try {
      // Before compaction the record at offset 2 is from round 0 (~200 s old). Once the cleaner has
      // removed it, the next surviving record is from a late round, so the exact time lag drops.
      const group = await waitFor(
        'compaction to remove the record at the committed offset',
        async () => {
          const g = new LagEvaluator().evaluate(await collector.collect()).groups[0];
          const p = g?.partitions[0];
          return p?.timeLagMode === 'exact' && (p.timeLagSeconds ?? 999) < 150 ? g : undefined;
        },
        60_000,
        1000,
      );
      const p = group.partitions[0];
      expect(p?.committedOffset).toBe(2);
      expect(p?.logEndOffset).toBe(50);
      // Lag counts offsets, gaps included, exactly as Kafka's own tools do.
      expect(p?.lag).toBe(48);
    } finally {
      await collector.close();
    }
  }, 90_000);
});

describe('consumer rebalance protocol (KIP-848) groups', () => {
  it('reports members and owners of a group that uses the new protocol', async () => {
    const topic = name('kip848');
    await createTopic(brokers, topic, 3);
    await produce(brokers, { topic, perPartition: { 0: 5, 1: 5, 2: 5 } });
    const consumer = await startConsumer(brokers, name('modern'), [topic], { clientId: 'modern-app', mode: 'earliest', groupProtocol: 'consumer' });
    try {
      const group = await waitFor('the new-protocol group to consume everything', async () => {
        const [g] = await collectOnce([name('modern')]);
        return g && g.members === 1 && g.lag === 0 && g.partitions.every((p) => p.committedOffset === 5) ? g : undefined;
      });
      expect(group.state).not.toBe('Dead');
      for (const p of group.partitions) expect(p.owner?.clientId).toBe('modern-app');
    } finally {
      await consumer.stop();
    }
  });
});
