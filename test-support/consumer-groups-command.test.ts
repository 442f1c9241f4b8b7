import { KafkaCluster } from '@lagscale/kafka';
import { Admin, Consumer, Producer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ConsumerGroupRow, parseDescribeOutput, runConsumerGroupsCommand } from './consumer-groups-command.js';
import type {} from './global-services.js';

describe('parseDescribeOutput', () => {
  it('reads several groups, notes, blank lines, "-" cells and odd column widths', () => {
    const stdout = [
      '',
      "Consumer group 'idle' has no active members.",
      '',
      'GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID',
      'idle            orders          0          5               12              7               -               -               -',
      'idle            orders          1          -               3               -               -               -               -',
      '',
      'GROUP  TOPIC     PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID                    HOST        CLIENT-ID',
      'busy   payments  2          10              10              0    app-1-5c3e0e7a-1d5b-4f1e-9d1a  /127.0.0.1  app 1',
      'busy   -         -          -               -               -    app-2-0a8c                     /127.0.0.1  app-2',
      '',
    ].join('\n');
    expect(parseDescribeOutput(stdout)).toEqual<ConsumerGroupRow[]>([
      { group: 'idle', topic: 'orders', partition: 0, currentOffset: 5, logEndOffset: 12, lag: 7, consumerId: null, host: null, clientId: null },
      { group: 'idle', topic: 'orders', partition: 1, currentOffset: null, logEndOffset: 3, lag: null, consumerId: null, host: null, clientId: null },
      {
        group: 'busy',
        topic: 'payments',
        partition: 2,
        currentOffset: 10,
        logEndOffset: 10,
        lag: 0,
        consumerId: 'app-1-5c3e0e7a-1d5b-4f1e-9d1a',
        host: '/127.0.0.1',
        clientId: 'app 1',
      },
    ]);
  });

  it('returns nothing for output without a table', () => {
    expect(parseDescribeOutput("\nConsumer group 'gone' has no active members.\n")).toEqual([]);
    expect(parseDescribeOutput('')).toEqual([]);
  });
});

// Two topics with uneven partition counts; partition p of ALPHA holds 2(p+1) records, of BETA p+3.
// Names are unique per run: the broker may be the one shared by the whole test run.
const RUN = Date.now().toString(36);
const ALPHA = `cgc-alpha-${RUN}`;
const BETA = `cgc-beta-${RUN}`;
const ALPHA_PARTITIONS = 3;
const BETA_PARTITIONS = 5;
const IDLE_GROUP = `cgc-idle-${RUN}`;
const ACTIVE_GROUP = `cgc-active-${RUN}`;
const CLIENT_ID = 'cgc-test-consumer';
const endOf = (topic: string, partition: number): number => (topic === ALPHA ? 2 * (partition + 1) : partition + 3);

describe('kafka-consumer-groups --describe against a real broker', () => {
  let own: KafkaCluster | undefined;
  let bootstrapBrokers: string[] = [];
  let libDir = '';
  let consumer: Consumer | undefined;

  beforeAll(async () => {
    // The broker of the repo's global setup when there is one, else a broker of this file's own.
    const shared = inject('kafkaBrokers');
    const sharedLibDir = inject('kafkaLibDir');
    if (shared?.length && sharedLibDir) {
      bootstrapBrokers = shared;
      libDir = sharedLibDir;
    } else {
      own = await KafkaCluster.start({ nodes: 1 });
      bootstrapBrokers = own.brokers;
      libDir = own.libDir;
    }
    const admin = new Admin({ clientId: 'cgc-test-admin', bootstrapBrokers });
    // Idempotent: a plain producer's retry after NOT_LEADER_OR_FOLLOWER on a fresh topic re-appends
    // the partitions of the same request that had succeeded, and the record counts come out wrong.
    const producer = new Producer({ clientId: 'cgc-test-producer', bootstrapBrokers, idempotent: true });
    try {
      await admin.createTopics({ topics: [ALPHA], partitions: ALPHA_PARTITIONS, replicas: 1 });
      await admin.createTopics({ topics: [BETA], partitions: BETA_PARTITIONS, replicas: 1 });
      const messages = [];
      for (const [topic, count] of [
        [ALPHA, ALPHA_PARTITIONS],
        [BETA, BETA_PARTITIONS],
      ] as const) {
        for (let partition = 0; partition < count; partition++) {
          for (let i = 0; i < endOf(topic, partition); i++) messages.push({ topic, partition, value: Buffer.from(`${topic}-${partition}-${i}`) });
        }
      }
      await producer.send({ messages, acks: -1 });
      // Idle group: committed on every partition of both topics, except BETA partition 4.
      await admin.alterConsumerGroupOffsets({
        groupId: IDLE_GROUP,
        topics: [
          { name: ALPHA, partitionOffsets: Array.from({ length: ALPHA_PARTITIONS }, (_, p) => ({ partition: p, offset: BigInt(p) })) },
          { name: BETA, partitionOffsets: Array.from({ length: BETA_PARTITIONS - 1 }, (_, p) => ({ partition: p, offset: 1n })) },
        ],
      });
      // Active group: offsets committed while empty, then a member joins and holds every BETA partition.
      await admin.alterConsumerGroupOffsets({
        groupId: ACTIVE_GROUP,
        topics: [{ name: BETA, partitionOffsets: Array.from({ length: BETA_PARTITIONS }, (_, p) => ({ partition: p, offset: 2n })) }],
      });
    } finally {
      await producer.close();
      await admin.close();
    }
    consumer = new Consumer({
      clientId: CLIENT_ID,
      groupId: ACTIVE_GROUP,
      bootstrapBrokers,
      autocommit: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
    });
    const joined = new Promise<void>((resolve) => consumer?.once('consumer:group:join', () => resolve()));
    // The stream reads the records but commits nothing, so the committed offsets stay at 2.
    const stream = await consumer.consume({ topics: [BETA], mode: 'committed', autocommit: false });
    stream.on('data', () => {});
    await joined;
  }, 90_000);

  afterAll(async () => {
    // close(true) closes the stream, then sends LeaveGroup (close(false) refuses while a stream is open).
    // It is typed as returning void (overload order in the .d.ts), so use its callback form.
    await new Promise<void>((resolve, reject) => (consumer ? consumer.close(true, (error) => (error ? reject(error) : resolve())) : resolve()));
    if (own) {
      await own.stop();
      return;
    }
    // Shared broker: leave no groups or topics behind for the test files that run after this one.
    const admin = new Admin({ clientId: 'cgc-test-admin', bootstrapBrokers });
    try {
      await admin.deleteGroups({ groups: [IDLE_GROUP, ACTIVE_GROUP] });
      await admin.deleteTopics({ topics: [ALPHA, BETA] });
    } finally {
      await admin.close();
    }
  }, 60_000);

  it('describes one empty group', async () => {
    const result = await runConsumerGroupsCommand(libDir, bootstrapBrokers[0] as string, ['--describe', '--group', IDLE_GROUP]);
    expect(result.code, result.stderr).toBe(0);
    // Kafka 4.x prints this note on stderr, the table on stdout.
    expect(result.stderr).toContain(`Consumer group '${IDLE_GROUP}' has no active members.`);
    expect(result.ms).toBeGreaterThan(0);
    const rows = sortRows(parseDescribeOutput(result.stdout));
    const expected: ConsumerGroupRow[] = [];
    for (let p = 0; p < ALPHA_PARTITIONS; p++) expected.push(idleRow(ALPHA, p, p));
    for (let p = 0; p < BETA_PARTITIONS - 1; p++) expected.push(idleRow(BETA, p, 1));
    expect(rows).toEqual(expected);
  }, 60_000);

  it('describes all groups, with the active member of one', async () => {
    const result = await runConsumerGroupsCommand(libDir, bootstrapBrokers[0] as string, ['--describe', '--all-groups']);
    expect(result.code, result.stderr).toBe(0);
    const rows = sortRows(parseDescribeOutput(result.stdout));
    expect(rows.filter((r) => r.group === IDLE_GROUP)).toHaveLength(ALPHA_PARTITIONS + BETA_PARTITIONS - 1);
    const active = rows.filter((r) => r.group === ACTIVE_GROUP);
    expect(active.map((r) => [r.topic, r.partition, r.currentOffset, r.logEndOffset, r.lag])).toEqual(
      Array.from({ length: BETA_PARTITIONS }, (_, p) => [BETA, p, 2, endOf(BETA, p), endOf(BETA, p) - 2]),
    );
    for (const row of active) {
      expect(row.consumerId).toBe(consumer?.memberId);
      expect(row.host).toMatch(/127\.0\.0\.1/);
      expect(row.clientId).toBe(CLIENT_ID);
    }
  }, 60_000);
});

function idleRow(topic: string, partition: number, committed: number): ConsumerGroupRow {
  const end = endOf(topic, partition);
  return {
    group: IDLE_GROUP,
    topic,
    partition,
    currentOffset: committed,
    logEndOffset: end,
    lag: end - committed,
    consumerId: null,
    host: null,
    clientId: null,
  };
}

function sortRows(rows: ConsumerGroupRow[]): ConsumerGroupRow[] {
  return [...rows].sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition);
}
