import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDescribeOutput, runConsumerGroupsCommand } from '../../../test-support/consumer-groups-command.js';
import { admin, coordinatorOf, produce, waitFor } from '../../../test-support/kafka.js';
import { describeShareGroupOffsets, setGroupConfig } from '../../../test-support/share-groups-command.js';
import { type FetchedRecord, KafkaCluster, runKip848Consumer, runShareConsumer } from '../src/index.js';

/**
 * lagscale's own group members (the share consumer and the KIP-848 consumer) on 3 brokers, when
 * the broker coordinating their group, which also leads some of their partitions, is SIGKILLed
 * mid-job: they find the new coordinator and the new leaders and finish the job. Every record is
 * handled (a record in flight at the kill may be handled twice: what the dead broker had not
 * written of its acknowledgements or commits is done again, and the sink is idempotent), and
 * Kafka's own tools show the group with nothing waiting.
 */
const PARTITIONS = 6;
const PER_PARTITION = 1_000;
const TOTAL = PARTITIONS * PER_PARTITION;
const MEMBERS = 3;
const BATCH = 50;
const silent = process.env.FAILOVER_DEBUG
  ? {
      info: (f: object, m: string) => console.log(Date.now() % 100000, m, JSON.stringify(f)),
      warn: (f: object, m: string) => console.log(Date.now() % 100000, 'WARN', m, JSON.stringify(f)),
    }
  : { info: () => {}, warn: () => {} };

describe('group members across a SIGKILL of their coordinator and partition leader (3 brokers)', () => {
  let cluster: KafkaCluster;
  const run = `gfail${Date.now().toString(36)}`;

  beforeAll(async () => {
    // Fence a dead broker after 3 s instead of 9 s, so leadership moves sooner.
    cluster = await KafkaCluster.start({ nodes: 3, properties: { 'broker.heartbeat.interval.ms': '500', 'broker.session.timeout.ms': '3000' } });
    const client = admin(cluster.brokers);
    try {
      await client.createTopics({ topics: [`${run}-share`, `${run}-kip848`], partitions: PARTITIONS, replicas: 3 });
    } finally {
      await client.close();
    }
    for (const topic of [`${run}-share`, `${run}-kip848`]) {
      await produce(cluster.brokers, { topic, perPartition: Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, PER_PARTITION])) });
    }
    await setGroupConfig(cluster.libDir, cluster.brokers[0] as string, `${run}-share`, 'share.auto.offset.reset=earliest');
  }, 240_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  /** A running broker's address, for Kafka's tools (the first one may be the one killed). */
  const live = (): string => cluster.brokerOf(cluster.runningNodeIds[0] as number);

  /** Runs MEMBERS members until every record was handled, SIGKILLing the group's coordinator a third of the way. */
  async function jobThroughAKill(
    group: string,
    runMember: (signal: AbortSignal, handle: (batch: readonly FetchedRecord[]) => Promise<undefined>) => Promise<unknown>,
    nothingWaits: () => Promise<boolean>,
  ) {
    const seen = new Map<string, number>();
    const handle = async (batch: readonly FetchedRecord[]): Promise<undefined> => {
      for (const r of batch) seen.set(`${r.partition}:${r.offset}`, (seen.get(`${r.partition}:${r.offset}`) ?? 0) + 1);
      await sleep(20);
      return undefined;
    };
    const controller = new AbortController();
    const members = Array.from({ length: MEMBERS }, () => runMember(controller.signal, handle));
    await waitFor('a third handled', async () => seen.size >= TOTAL / 3, 90_000, 50);
    const victim = await coordinatorOf(cluster, group);
    expect(victim).toBeGreaterThan(0);
    await cluster.stopNode(victim, 'SIGKILL');
    const killedAt = seen.size;
    try {
      await waitFor('every record handled after the kill', async () => seen.size >= TOTAL, 150_000, 200);
      // The members go on until Kafka's tool sees nothing waiting (commits and acknowledgements land).
      await waitFor("Kafka's tool to see nothing waiting", nothingWaits, 90_000, 1000);
    } finally {
      controller.abort();
      await Promise.all(members);
      await cluster.startNode(victim);
    }
    const twice = [...seen.values()].filter((n) => n > 1).length;
    return { victim, killedAt, twice, seen };
  }

  it('share consumers: the coordinator and a leader die; every record is settled and the tool shows lag 0', async () => {
    const group = `${run}-share`;
    const shareLagZero = async (): Promise<boolean> => {
      const rows = await describeShareGroupOffsets(cluster.libDir, live(), group);
      return rows.length === PARTITIONS && rows.every((row) => row.lag === 0);
    };
    const outcome = await jobThroughAKill(
      group,
      (signal, handle) =>
        runShareConsumer({ connection: { brokers: cluster.brokers }, group, topics: [`${run}-share`], batchSize: BATCH, logger: silent, signal, handle }),
      shareLagZero,
    );
    expect(outcome.seen.size).toBe(TOTAL);
    // Done again: at most what was acquired and not yet acknowledged on the dead broker's partitions.
    expect(outcome.twice).toBeLessThan(TOTAL / 3);
    // After the members left, too.
    expect(await shareLagZero()).toBe(true);
    process.stderr.write(`share: killed node ${outcome.victim} at ${outcome.killedAt} handled; ${outcome.twice} records handled twice\n`);
  }, 400_000);

  it('KIP-848 consumers: the coordinator and a leader die; every record is committed and the tool shows lag 0', async () => {
    const group = `${run}-kip848`;
    const allCommitted = async (): Promise<boolean> => {
      const described = await runConsumerGroupsCommand(cluster.libDir, live(), ['--describe', '--group', group]);
      const rows = parseDescribeOutput(described.stdout);
      if (process.env.FAILOVER_DEBUG) console.log(described.stdout);
      return rows.length === PARTITIONS && rows.every((row) => row.lag === 0 && row.currentOffset === PER_PARTITION);
    };
    const outcome = await jobThroughAKill(
      group,
      (signal, handle) =>
        runKip848Consumer({ connection: { brokers: cluster.brokers }, group, topics: [`${run}-kip848`], batchSize: BATCH, logger: silent, signal, handle }),
      allCommitted,
    );
    expect(outcome.seen.size).toBe(TOTAL);
    expect(outcome.twice).toBeLessThan(TOTAL / 3);
    expect(await allCommitted()).toBe(true);
    process.stderr.write(`kip848: killed node ${outcome.victim} at ${outcome.killedAt} handled; ${outcome.twice} records handled twice\n`);
  }, 400_000);
});
