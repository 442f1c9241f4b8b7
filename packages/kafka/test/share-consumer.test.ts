import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { describeShareGroupOffsets, setGroupConfig } from '../../../test-support/share-groups-command.js';
import { acknowledgementBatches, runShareConsumer, type ShareRecord } from '../src/index.js';

/**
 * lagscale's share consumer (ShareGroupHeartbeat, ShareFetch, ShareAcknowledge) against the test
 * broker (Kafka 4.4.0). Kafka's own `kafka-share-groups --describe` is the independent truth for
 * what the group has settled: after every record was accepted or rejected, its lag is 0.
 */
const run = `sharec${Date.now().toString(36)}`;
const PARTITIONS = 4;
const PER_PARTITION = 1_500;
const TOTAL = PARTITIONS * PER_PARTITION;
const silent = { info: () => {}, warn: () => {} };

describe('share consumer on Kafka 4.4.0', () => {
  const cluster = { brokers: inject('kafkaBrokers'), libDir: inject('kafkaLibDir') };
  const bootstrap = cluster.brokers[0] as string;
  const connection = { brokers: cluster.brokers };

  beforeAll(async () => {
    for (const topic of [`${run}-all`, `${run}-release`]) {
      await createTopic(cluster.brokers, topic, PARTITIONS);
      await produce(cluster.brokers, { topic, perPartition: Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, PER_PARTITION])) });
    }
    for (const group of [`${run}-three`, `${run}-failing`]) await setGroupConfig(cluster.libDir, bootstrap, group, 'share.auto.offset.reset=earliest');
  }, 240_000);

  it('three members share four partitions: every record settled once (accepted or rejected), and the tool sees lag 0', async () => {
    const topic = `${run}-all`;
    const group = `${run}-three`;
    const seen = new Map<string, number>();
    const members: string[][] = [[], [], []];
    let settled = 0;
    const controller = new AbortController();
    const runs = members.map((assignedLog, i) =>
      runShareConsumer({
        connection,
        group,
        topics: [topic],
        clientId: `member-${i}`,
        batchSize: 200,
        logger: silent,
        signal: controller.signal,
        assigned: (assignment) => assignedLog.push(JSON.stringify(assignment)),
        handle: async (batch) => {
          const rejected = new Set<ShareRecord>();
          for (const r of batch) {
            const key = `${r.partition}:${r.offset}`;
            seen.set(key, (seen.get(key) ?? 0) + 1);
            // Every 97th record is "poison": rejected, never delivered again.
            if (r.offset % 97n === 0n) rejected.add(r);
          }
          settled += batch.length;
          return { settled: Promise.resolve({ rejected }) };
        },
      }),
    );
    await waitFor('every record handled', async () => settled >= TOTAL, 120_000, 200);
    // Nothing more arrives: no record is delivered twice.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    controller.abort();
    const results = await Promise.all(runs);
    expect(seen.size).toBe(TOTAL);
    expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
    const rejectedExpected = Array.from({ length: PER_PARTITION }, (_, o) => o).filter((o) => o % 97 === 0).length * PARTITIONS;
    expect(results.reduce((n, r) => n + r.rejected, 0)).toBe(rejectedExpected);
    expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(TOTAL - rejectedExpected);
    // Each member was assigned share-partitions (partitions may be shared by several members).
    for (const log of members) expect(log.length).toBeGreaterThan(0);
    const truth = await waitFor(
      'the tool to see every record settled',
      async () => {
        const rows = await describeShareGroupOffsets(cluster.libDir, bootstrap, group);
        // The start offset may stay below the end with every record above it settled (the broker
        // moves it in steps): the lag, which counts those, is what says nothing waits.
        return rows.length === PARTITIONS && rows.every((row) => row.lag === 0 && (row.startOffset ?? -1) <= PER_PARTITION) ? rows : null;
      },
      30_000,
      1000,
    );
    expect(truth).toHaveLength(PARTITIONS);
  }, 240_000);

  it('a failed batch is released, and delivered again (delivery count 2) to the member that works', async () => {
    const topic = `${run}-release`;
    const group = `${run}-failing`;
    const failing = new AbortController();
    let failed: ShareRecord[] = [];
    const failedRun = runShareConsumer({
      connection,
      group,
      topics: [topic],
      batchSize: 50,
      logger: silent,
      signal: failing.signal,
      handle: async (batch) => {
        failed = [...batch];
        throw new Error('the store refused the batch');
      },
    });
    await expect(failedRun).rejects.toThrow('the store refused the batch');
    expect(failed.length).toBeGreaterThan(0);
    const again = new Map<string, number>();
    const working = new AbortController();
    const workingRun = runShareConsumer({
      connection,
      group,
      topics: [topic],
      batchSize: 500,
      logger: silent,
      signal: working.signal,
      handle: async (batch) => {
        for (const r of batch) again.set(`${r.partition}:${r.offset}`, r.deliveryCount);
      },
    });
    await waitFor('every record handled by the working member', async () => again.size >= TOTAL, 120_000, 200);
    working.abort();
    const result = await workingRun;
    // The released records came back at once (not after the 30 s lock), counted as a second delivery.
    for (const r of failed) expect(again.get(`${r.partition}:${r.offset}`)).toBe(2);
    expect(result.redelivered).toBe(failed.length);
    expect(result.accepted).toBe(TOTAL);
  }, 240_000);

  afterAll(() => {});
});

describe('acknowledgement batches', () => {
  it('runs of consecutive offsets of one type, in offset order', () => {
    const batches = acknowledgementBatches(
      new Map([
        [7n, 1],
        [5n, 1],
        [6n, 1],
        [9n, 1],
        [10n, 3],
        [11n, 3],
      ] as const),
    );
    expect(batches).toEqual([
      { firstOffset: 5n, lastOffset: 7n, types: [1] },
      { firstOffset: 9n, lastOffset: 9n, types: [1] },
      { firstOffset: 10n, lastOffset: 11n, types: [3] },
    ]);
  });
});
