import { LagEvaluator } from '@lagscale/core';
import { Connection } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopic, produce } from '../../../test-support/kafka.js';
import { consumeShared, describeShareGroupOffsets, setGroupConfig } from '../../../test-support/share-groups-command.js';
import { describeShareGroupOffsetsV0, describeShareGroupOffsetsV1, OffsetCollector, shareGroupDescribe } from '../src/index.js';

/**
 * ShareGroupDescribe and DescribeShareGroupOffsets (v0 and v1) against the test broker (Kafka 4.4.0),
 * with a share group that Kafka's own console share consumer read from; Kafka's own
 * `kafka-share-groups --describe --offsets` is the truth for start offsets and lag.
 */
const run = `share${Date.now().toString(36)}`;
const TOPIC = `${run}-orders`;
const GROUP = `${run}-readers`;
const PER_PARTITION = 1_000;
const PARTITIONS = 4;
const READ = 60;

describe('share-group admin APIs on Kafka 4.4.0', () => {
  const cluster = { brokers: inject('kafkaBrokers'), libDir: inject('kafkaLibDir') };
  const bootstrap = cluster.brokers[0] as string;
  let connection: Connection;

  beforeAll(async () => {
    await createTopic(cluster.brokers, TOPIC, PARTITIONS);
    await produce(cluster.brokers, { topic: TOPIC, perPartition: Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, PER_PARTITION])) });
    // Without it a share group starts at the end: it would see none of the records produced above.
    await setGroupConfig(cluster.libDir, bootstrap, GROUP, 'share.auto.offset.reset=earliest');
    const read = await consumeShared(cluster.libDir, bootstrap, { topic: TOPIC, group: GROUP, maxMessages: READ });
    expect(read).toHaveLength(READ);
    const [host, port] = bootstrap.split(':') as [string, string];
    connection = new Connection('lagscale-share-test', { connectTimeout: 5000, requestTimeout: 10_000 });
    await connection.connect(host, Number(port));
  }, 240_000);

  afterAll(async () => {
    await connection?.close().catch(() => {});
  });

  it('describes the share group: its state and, once the consumer left, no members', async () => {
    const { groups } = await shareGroupDescribe.async(connection, [GROUP, 'no-such-share-group']);
    const group = groups.find((g) => g.groupId === GROUP);
    const missing = groups.find((g) => g.groupId === 'no-such-share-group');
    expect(group).toMatchObject({ groupId: GROUP, errorCode: 0, groupState: 'Empty', members: [] });
    // An unknown id is answered per group, not by failing the request.
    expect(missing?.errorCode).toBe(69);
  });

  it('reads start offsets and the broker lag (v1) exactly as kafka-share-groups prints them', async () => {
    const truth = await describeShareGroupOffsets(cluster.libDir, bootstrap, GROUP);
    const { groups } = await describeShareGroupOffsetsV1.async(connection, [GROUP]);
    const group = groups[0];
    expect(group?.errorCode).toBe(0);
    const ours = (group?.topics ?? []).flatMap((topic) =>
      topic.partitions.map((p) => ({ topic: topic.topicName, partition: p.partition, startOffset: Number(p.startOffset), lag: Number(p.lag) })),
    );
    // The tool prints - where the broker has no number (-1 on the wire).
    const expected = truth.map((row) => ({ topic: row.topic, partition: row.partition, startOffset: row.startOffset ?? -1, lag: row.lag ?? -1 }));
    const byPartition = (a: { partition: number }, b: { partition: number }) => a.partition - b.partition;
    process.stderr.write(`[share-protocol] kafka-share-groups: ${JSON.stringify(expected)}\n[share-protocol] lagscale: ${JSON.stringify(ours)}\n`);
    expect(ours.sort(byPartition)).toEqual(expected.sort(byPartition));
    // The console consumer accepts every record its polls delivered (printed or not) when it leaves: some waited.
    const sum = ours.reduce((total, p) => total + Math.max(0, p.lag), 0);
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThanOrEqual(PARTITIONS * PER_PARTITION - READ);
  });

  it('reads the same start offsets without lag from v0 (a 4.1 broker answers only that)', async () => {
    const v1 = (await describeShareGroupOffsetsV1.async(connection, [GROUP])).groups[0];
    const v0 = (await describeShareGroupOffsetsV0.async(connection, [GROUP])).groups[0];
    const starts = (g: typeof v1) => (g?.topics ?? []).flatMap((t) => t.partitions.map((p) => [t.topicName, p.partition, p.startOffset]));
    expect(starts(v0)).toEqual(starts(v1));
    expect(v0?.topics.flatMap((t) => t.partitions.map((p) => p.lag))).toEqual(Array(PARTITIONS).fill(null));
  });

  it('collects the share group beside the consumer groups, all groups or by name, and the lag engine reports the broker lag', async () => {
    const truth = await describeShareGroupOffsets(cluster.libDir, bootstrap, GROUP);
    for (const groups of [undefined, [GROUP]]) {
      const collector = new OffsetCollector({ connection: { brokers: cluster.brokers }, ...(groups === undefined ? {} : { groups }) });
      try {
        const observation = await collector.collect();
        expect(observation.errors).toEqual([]);
        expect(observation.groups.map((g) => g.group)).not.toContain(GROUP);
        const snapshot = new LagEvaluator().evaluate(observation);
        const share = snapshot.shareGroups?.find((g) => g.group === GROUP);
        // A share-partition the consumer never fetched from has no state (the tool prints -): its lag is unknown, not 0.
        expect(share).toMatchObject({
          state: 'Empty',
          members: 0,
          lag: truth.reduce((total, row) => total + (row.lag ?? 0), 0),
          lagExact: truth.every((row) => row.lag !== null),
        });
        expect(share?.partitions.map((p) => ({ topic: p.topic, partition: p.partition, startOffset: p.startOffset, lag: p.lag }))).toEqual(
          truth
            .map((row) => ({ topic: row.topic, partition: row.partition, startOffset: row.startOffset, lag: row.lag }))
            .sort((a, b) => a.partition - b.partition),
        );
        // The topic's log end offsets were read for it, so the upper bound is there too.
        expect(share?.partitions.every((p) => p.logEndOffset === PER_PARTITION)).toBe(true);
      } finally {
        await collector.close();
      }
    }
  });
});
