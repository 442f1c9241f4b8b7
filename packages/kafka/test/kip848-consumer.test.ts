import { setTimeout as sleep } from 'node:timers/promises';
import { IS_CONTROL, IS_TRANSACTIONAL, type RecordsBatch } from '@platformatic/kafka';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDescribeOutput, runConsumerGroupsCommand } from '../../../test-support/consumer-groups-command.js';
import { createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { committedRecords, type GroupRecord, type Kip848BatchConsumerOptions, runKip848Consumer } from '../src/index.js';

/**
 * lagscale's consumer-protocol member (KIP-848: ConsumerGroupHeartbeat, Fetch, OffsetCommit with
 * the member epoch) against the test broker (Kafka 4.4.0). Kafka's own `kafka-consumer-groups` is
 * the independent truth: it lists the group as a consumer-protocol group and, after the job, shows
 * every partition committed to its log end.
 */
const run = `kip848${Date.now().toString(36)}`;
const PARTITIONS = 6;
const PER_PARTITION = 2_000;
const TOTAL = PARTITIONS * PER_PARTITION;
const silent = process.env.KIP848_DEBUG
  ? {
      info: (f: object, m: string) => console.log(Date.now() % 100000, m, JSON.stringify(f)),
      warn: (f: object, m: string) => console.log(Date.now() % 100000, 'WARN', m, JSON.stringify(f)),
    }
  : { info: () => {}, warn: () => {} };

describe('consumer-protocol (KIP-848) members on Kafka 4.4.0', () => {
  const cluster = { brokers: inject('kafkaBrokers'), libDir: inject('kafkaLibDir') };
  const bootstrap = cluster.brokers[0] as string;
  const connection = { brokers: cluster.brokers };

  beforeAll(async () => {
    for (const topic of [`${run}-moves`, `${run}-stuck`]) {
      await createTopic(cluster.brokers, topic, PARTITIONS);
      await produce(cluster.brokers, { topic, perPartition: Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, PER_PARTITION])) });
    }
  }, 240_000);

  const member = (
    topic: string,
    group: string,
    signal: AbortSignal,
    handle: Kip848BatchConsumerOptions['handle'],
    extra: Partial<Kip848BatchConsumerOptions> = {},
  ) => runKip848Consumer({ connection, group, topics: [topic], batchSize: 100, logger: silent, signal, handle, ...extra });

  async function toolSays(group: string): Promise<{ listed: string; rows: ReturnType<typeof parseDescribeOutput> }> {
    const listed = await runConsumerGroupsCommand(cluster.libDir, bootstrap, ['--list', '--type', 'consumer']);
    const described = await runConsumerGroupsCommand(cluster.libDir, bootstrap, ['--describe', '--group', group]);
    return { listed: listed.stdout, rows: parseDescribeOutput(described.stdout) };
  }

  it('members join one by one and one leaves mid-job: partitions move after their commits, so no record is handled twice', async () => {
    const topic = `${run}-moves`;
    const group = `${run}-moves`;
    const seen = new Map<string, number>();
    let handled = 0;
    const handle = async (batch: readonly GroupRecord[]) => {
      for (const r of batch) {
        const key = `${r.partition}:${r.offset}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      handled += batch.length;
      // Work that takes a while (the job outlasts two joins: a member learns of a new assignment
      // on its next heartbeat, 5 s apart by default), settled after the next batch started.
      await sleep(300);
      return { settled: sleep(10).then(() => undefined) };
    };
    const controllers = [new AbortController(), new AbortController(), new AbortController()];
    const assignments: string[][] = [[], [], []];
    const runs: Promise<{ handled: number; committed: number; discarded: number }>[] = [];
    const start = (i: number) =>
      runs.push(
        member(topic, group, (controllers[i] as AbortController).signal, handle, {
          clientId: `member-${i}`,
          assigned: (a) => (assignments[i] as string[]).push(JSON.stringify(a)),
        }),
      );
    start(0);
    await waitFor('a tenth handled', async () => handled >= TOTAL / 10, 60_000, 50);
    start(1);
    // The second member gets partitions only after the first let them go (and committed them).
    await waitFor('the second member assigned', async () => (assignments[1]?.length ?? 0) > 0 && (assignments[0]?.length ?? 0) > 1, 60_000, 50);
    start(2);
    await waitFor('the third member assigned', async () => (assignments[2]?.length ?? 0) > 0, 60_000, 50);
    expect(handled).toBeLessThan(TOTAL * 0.9);
    // The first member stops (SIGTERM): it commits what it handled and leaves; the others take its partitions.
    controllers[0]?.abort();
    const first = await runs[0];
    await waitFor('every record handled', async () => seen.size >= TOTAL, 120_000, 100);
    await sleep(1500);
    controllers[1]?.abort();
    controllers[2]?.abort();
    const results = [first, ...(await Promise.all(runs.slice(1)))];

    expect(seen.size).toBe(TOTAL);
    expect([...seen.entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect(results.reduce((n, r) => n + (r?.handled ?? 0), 0)).toBe(TOTAL);
    expect(results.reduce((n, r) => n + (r?.committed ?? 0), 0)).toBe(TOTAL);
    // Every member held partitions, and the first one gave some up when the second joined.
    for (const log of assignments) expect(log.length).toBeGreaterThan(0);
    expect(assignments[0]?.length).toBeGreaterThan(1);

    const truth = await toolSays(group);
    expect(truth.listed).toContain(group);
    expect(truth.rows).toHaveLength(PARTITIONS);
    for (const row of truth.rows) {
      expect(row.currentOffset).toBe(PER_PARTITION);
      expect(row.lag).toBe(0);
    }
  }, 240_000);

  it('a member that cannot let go within the rebalance timeout is fenced: its late commit is refused and the new owner reads those records', async () => {
    const topic = `${run}-stuck`;
    const group = `${run}-stuck`;
    const seen = new Map<string, number>();
    let stuckOnce = false;
    let releaseStuck: () => void = () => {};
    const stuck = new Promise<void>((resolve) => {
      releaseStuck = resolve;
    });
    const a = new AbortController();
    const b = new AbortController();
    const count = (batch: readonly GroupRecord[]) => {
      for (const r of batch) seen.set(`${r.partition}:${r.offset}`, (seen.get(`${r.partition}:${r.offset}`) ?? 0) + 1);
    };
    const firstRun = member(
      topic,
      group,
      a.signal,
      async (batch) => {
        count(batch);
        // One batch never settles in time: the member holds its partitions past the rebalance timeout.
        if (!stuckOnce && seen.size > 2000) {
          stuckOnce = true;
          await stuck;
        }
        return undefined;
      },
      { rebalanceTimeoutMs: 4000 },
    );
    await waitFor('the first member stuck', async () => stuckOnce, 60_000, 50);
    const secondRun = member(topic, group, b.signal, async (batch) => {
      count(batch);
      return undefined;
    });
    // The second member gets the partitions once the broker fenced the first one.
    await waitFor('the rest handled by the second member', async () => seen.size >= TOTAL, 90_000, 200);
    releaseStuck();
    await sleep(2000);
    a.abort();
    b.abort();
    const [first, second] = await Promise.all([firstRun, secondRun]);
    expect(seen.size).toBe(TOTAL);
    // The stuck batch was handled by both: its commit was refused (fenced), so it stays the new owner's.
    expect(first.discarded).toBeGreaterThan(0);
    expect(second.handled).toBeGreaterThan(0);
    const truth = await toolSays(group);
    for (const row of truth.rows) expect(row.lag).toBe(0);
  }, 240_000);

  it('a read-committed fetch answer: control batches and aborted transactions are skipped, the position moves past them', () => {
    const record = (offsetDelta: number, value: string) => ({
      length: 0,
      attributes: 0,
      timestampDelta: 0n,
      offsetDelta,
      key: null,
      value: Buffer.from(value),
      headers: [],
    });
    const batch = (firstOffset: bigint, attributes: number, producerId: bigint, values: string[], lastOffsetDelta = values.length - 1): RecordsBatch =>
      ({
        firstOffset,
        length: 0,
        partitionLeaderEpoch: 0,
        magic: 2,
        crc: 0,
        attributes,
        lastOffsetDelta,
        firstTimestamp: 0n,
        maxTimestamp: 0n,
        producerId,
        producerEpoch: 0,
        firstSequence: 0,
        records: values.map((v, i) => record(i, v)),
      }) as RecordsBatch;
    const abortMarker = batch(5n, IS_CONTROL | IS_TRANSACTIONAL, 7n, ['m']);
    (abortMarker.records[0] as { key: Buffer | null }).key = Buffer.from([0, 0, 0, 0]);
    const commitMarker = batch(9n, IS_CONTROL | IS_TRANSACTIONAL, 8n, ['m']);
    (commitMarker.records[0] as { key: Buffer | null }).key = Buffer.from([0, 0, 0, 1]);
    const batches = [
      batch(0n, 0, -1n, ['a', 'b']), // plain; offset 0 is before the position asked for
      batch(2n, IS_TRANSACTIONAL, 7n, ['x', 'y', 'z']), // aborted below
      abortMarker,
      batch(6n, IS_TRANSACTIONAL, 8n, ['c', 'd', 'e']), // committed
      commitMarker,
      batch(10n, IS_TRANSACTIONAL, 7n, ['f']), // producer 7 again, after its abort: a new transaction
    ];
    const read = committedRecords('t', 0, batches, [{ producerId: 7n, firstOffset: 2n }], 1n, 3);
    expect(read.records.map((r) => [Number(r.offset), r.value.toString()])).toEqual([
      [1, 'b'],
      [6, 'c'],
      [7, 'd'],
      [8, 'e'],
      [10, 'f'],
    ]);
    expect(read.records.every((r) => r.claim === 3)).toBe(true);
    expect(read.next).toBe(11n);
    expect(committedRecords('t', 0, [], [], 0n, 1).next).toBeNull();
  });
});
