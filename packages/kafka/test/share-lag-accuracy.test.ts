import { LagEvaluator } from '@lagscale/core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { describeShareGroupOffsets, type SharePartitionRow, setGroupConfig } from '../../../test-support/share-groups-command.js';
import { ACKNOWLEDGE, type AcknowledgeType, OffsetCollector, ShareConsumer, type ShareRecord } from '../src/index.js';

/**
 * Share-group lag as records move through every state a share consumer can put them in: acquired
 * (locked, not settled), accepted, rejected and released. At every step lagscale's lag (the lag
 * engine's snapshot) equals the broker's KIP-1226 lag as Kafka's own `kafka-share-groups
 * --describe` prints it, and both equal the count this test keeps: records produced and not
 * accepted or rejected. Acquired and released records are still waiting; settled ones are not.
 */
const run = `sharelag${Date.now().toString(36)}`;
const TOPIC = `${run}-orders`;
const GROUP = `${run}-readers`;
const PARTITIONS = 2;
const PER_PARTITION = 300;
const silent = { info: () => {}, warn: (fields: object, message: string) => process.stderr.write(`[share-lag] warn ${message} ${JSON.stringify(fields)}\n`) };

describe('share-group lag through acquire, accept, reject and release (Kafka 4.4.0)', () => {
  const cluster = { brokers: inject('kafkaBrokers'), libDir: inject('kafkaLibDir') };
  const bootstrap = cluster.brokers[0] as string;
  const consumer = new ShareConsumer({ connection: { brokers: cluster.brokers }, group: GROUP, topics: [TOPIC], maxRecords: 120, logger: silent });
  const collector = new OffsetCollector({ connection: { brokers: cluster.brokers }, groups: [GROUP] });
  const evaluator = new LagEvaluator();
  /** Per partition, the records accepted or rejected so far. */
  const settled = new Map<number, number>();

  beforeAll(async () => {
    await createTopic(cluster.brokers, TOPIC, PARTITIONS);
    await produce(cluster.brokers, { topic: TOPIC, perPartition: Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, PER_PARTITION])) });
    // Each sample runs Kafka's tool twice (a JVM each): records held across several samples need
    // the longest lock the broker allows, and their locks renewed as the test goes.
    await setGroupConfig(cluster.libDir, bootstrap, GROUP, 'share.auto.offset.reset=earliest,share.record.lock.duration.ms=60000');
    await consumer.start();
  }, 120_000);

  afterAll(async () => {
    await consumer.close();
    await collector.close();
  });

  /** What the broker must report: nothing for a share-partition without state (no acknowledgement yet), else the records not settled. */
  const expected = (): { partition: number; lag: number | null }[] =>
    Array.from({ length: PARTITIONS }, (_, partition) => ({
      partition,
      lag: settled.has(partition) ? PER_PARTITION - (settled.get(partition) ?? 0) : null,
    }));

  /** The tool's rows and lagscale's partitions read between two identical answers of the tool. */
  let lastSeen = '';
  const sample = async (): Promise<{ tool: SharePartitionRow[]; ours: { partition: number; lag: number | null; startOffset: number | null }[] }> =>
    waitFor(
      'a stable sample equal to the expected lag',
      async () => {
        const before = await describeShareGroupOffsets(cluster.libDir, bootstrap, GROUP);
        const snapshot = evaluator.evaluate(await collector.collect());
        const after = await describeShareGroupOffsets(cluster.libDir, bootstrap, GROUP);
        if (JSON.stringify(before) !== JSON.stringify(after)) return null;
        const tool = [...before].sort((a, b) => a.partition - b.partition);
        lastSeen = `tool ${JSON.stringify(tool.map((r) => [r.startOffset, r.lag]))}, expected ${JSON.stringify(expected())}`;
        // The broker settles acknowledgements before it answers them, but its summary may follow a moment later.
        if (JSON.stringify(tool.map((r) => ({ partition: r.partition, lag: r.lag }))) !== JSON.stringify(expected())) return null;
        const share = snapshot.shareGroups?.find((g) => g.group === GROUP);
        const ours = (share?.partitions ?? []).map((p) => ({ partition: p.partition, lag: p.lag, startOffset: p.startOffset }));
        return { tool, ours };
      },
      60_000,
      500,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last: ${lastSeen}`);
    });

  /** Records acquired and not settled yet: their locks are renewed before each sample. */
  let holding: ShareRecord[] = [];
  const check = async (step: string): Promise<void> => {
    await consumer.renew(holding);
    const { tool, ours } = await sample();
    process.stderr.write(
      `[share-lag] ${step}: tool ${JSON.stringify(tool.map((r) => [r.startOffset, r.lag]))} lagscale ${JSON.stringify(ours.map((p) => [p.startOffset, p.lag]))}\n`,
    );
    expect(ours).toEqual(tool.map((r) => ({ partition: r.partition, lag: r.lag, startOffset: r.startOffset })));
  };

  const settle = async (records: readonly ShareRecord[], type: AcknowledgeType): Promise<void> => {
    const done = new Set(records);
    holding = holding.filter((r) => !done.has(r));
    for (const r of records) {
      consumer.acknowledge(r, type);
      if (type === ACKNOWLEDGE.accept || type === ACKNOWLEDGE.reject) settled.set(r.partition, (settled.get(r.partition) ?? 0) + 1);
    }
    await consumer.flush();
  };

  it('equals the broker lag and the tool at every step', async () => {
    const held: ShareRecord[] = [];
    await waitFor(
      'records acquired from both partitions',
      async () => {
        held.push(...(await consumer.fetch(500)));
        return new Set(held.map((r) => r.partition)).size === PARTITIONS && held.length >= 200;
      },
      30_000,
      0,
    );
    expect(held.every((r) => r.deliveryCount === 1)).toBe(true);
    expect(consumer.canRenew).toBe(true);
    holding = [...held];
    // The broker writes a share-partition's state with its first acknowledgement: before that it
    // reports neither a start offset nor a lag (the tool prints -), and so does lagscale.
    await check(`${held.length} acquired, none settled (no state yet)`);
    const firsts = [0, 1].map((partition) => held.find((r) => r.partition === partition) as ShareRecord);
    await settle(firsts, ACKNOWLEDGE.accept);
    await check(`one accepted per partition, ${held.length - 2} still acquired`);

    const pending = held.filter((r) => !firsts.includes(r));
    const [accepted, rejected, released, rest] = [pending.slice(0, 80), pending.slice(80, 120), pending.slice(120, 160), pending.slice(160)];
    await settle(accepted, ACKNOWLEDGE.accept);
    await check('80 accepted');
    await settle(rejected, ACKNOWLEDGE.reject);
    await check('40 rejected');
    await settle(released, ACKNOWLEDGE.release);
    await check('40 released (still waiting)');
    await settle(rest, ACKNOWLEDGE.accept);
    await check('the rest of the held records accepted');

    // The released records come back, delivered a second time; accepting everything leaves lag 0.
    const again: ShareRecord[] = [];
    await waitFor(
      'every remaining record acquired',
      async () => {
        again.push(...(await consumer.fetch(500)));
        return again.length >= PARTITIONS * PER_PARTITION - (settled.get(0) ?? 0) - (settled.get(1) ?? 0);
      },
      30_000,
      0,
    );
    const releasedKeys = new Set(released.map((r) => `${r.partition}:${r.offset}`));
    for (const r of again) expect(r.deliveryCount, `${r.partition}:${r.offset}`).toBe(releasedKeys.has(`${r.partition}:${r.offset}`) ? 2 : 1);
    await settle(again, ACKNOWLEDGE.accept);
    await check('everything settled');
    expect(expected().map((p) => p.lag)).toEqual([0, 0]);
  }, 180_000);
});
