/**
 * Smoke check of both lag-collection baselines on a small local cluster:
 *   npx tsx bench/support/smoke-baselines.ts
 * Starts one broker, creates 3 topics x 20 partitions with records, commits offsets for 3 groups,
 * runs the Java AdminClient baseline and the kafka-consumer-groups baseline, prints both, stops the broker.
 */
import { KafkaCluster } from '@lagscale/kafka';
import { Admin, Producer } from '@platformatic/kafka';
import { parseDescribeOutput, runConsumerGroupsCommand } from '../../test-support/consumer-groups-command.js';
import { runConsumerGroupsBaseline } from './consumer-groups-baseline.js';
import { runJavaAdminBaseline } from './java-baseline.js';

const TOPICS = ['smoke-a', 'smoke-b', 'smoke-c'];
const PARTITIONS = 20;
const GROUPS = ['smoke-g1', 'smoke-g2', 'smoke-g3'];
const log = (line: string): void => console.error(`[smoke] ${line}`);
const records = (t: number, p: number): number => 10 + ((t * 7 + p * 3) % 25);
const committed = (g: number, t: number, p: number): number => Math.floor((records(t, p) * (g + 1)) / (GROUPS.length + 1));

async function seed(bootstrap: string[]): Promise<number> {
  const admin = new Admin({ clientId: 'smoke-admin', bootstrapBrokers: bootstrap });
  // Idempotent: a plain producer's retry after NOT_LEADER_OR_FOLLOWER on a fresh topic re-appends
  // the partitions of the same request that had succeeded, and the record counts come out wrong.
  const producer = new Producer({ clientId: 'smoke-producer', bootstrapBrokers: bootstrap, idempotent: true });
  let expectedLag = 0;
  try {
    await admin.createTopics({ topics: TOPICS, partitions: PARTITIONS, replicas: 1 });
    const messages = [];
    for (const [t, topic] of TOPICS.entries()) {
      for (let p = 0; p < PARTITIONS; p++) {
        for (let i = 0; i < records(t, p); i++) messages.push({ topic, partition: p, value: Buffer.from(`${topic}/${p}/${i}`) });
      }
    }
    await producer.send({ messages, acks: -1 });
    for (const [g, groupId] of GROUPS.entries()) {
      await admin.alterConsumerGroupOffsets({
        groupId,
        topics: TOPICS.map((name, t) => ({
          name,
          partitionOffsets: Array.from({ length: PARTITIONS }, (_, p) => ({ partition: p, offset: BigInt(committed(g, t, p)) })),
        })),
      });
      for (const t of TOPICS.keys()) for (let p = 0; p < PARTITIONS; p++) expectedLag += records(t, p) - committed(g, t, p);
    }
    log(`seeded ${TOPICS.length} topics x ${PARTITIONS} partitions (${messages.length} records), ${GROUPS.length} groups; expected lag sum ${expectedLag}`);
  } finally {
    await producer.close();
    await admin.close();
  }
  return expectedLag;
}

const round = (value: number): number => Math.round(value * 10) / 10;

function print(baseline: string, result: { samplesMs: number[]; medianMs: number; minMs: number }): void {
  console.log(JSON.stringify({ baseline, ...result, samplesMs: result.samplesMs.map(round), medianMs: round(result.medianMs), minMs: round(result.minMs) }));
}

const cluster = await KafkaCluster.start({ nodes: 1, onProgress: log });
let failed = false;
try {
  const bootstrap = cluster.brokers[0] as string;
  const expectedLag = await seed(cluster.brokers);

  // Reference: the lag the broker's own tool reports.
  const reference = await runConsumerGroupsCommand(cluster.libDir, bootstrap, ['--describe', '--all-groups']);
  const rows = parseDescribeOutput(reference.stdout);
  const toolLag = rows.reduce((sum, r) => sum + (r.lag ?? 0), 0);
  log(`kafka-consumer-groups: ${rows.length} rows, lag sum ${toolLag}`);

  const java = await runJavaAdminBaseline({ bootstrap, iterations: 10, warmup: 5, onProgress: (line) => log(`java: ${line}`) });
  print('java-adminclient', java);
  // The same without the 100 ms retry backoff that the 4.x client's classic-group describe fallback waits.
  const tuned = await runJavaAdminBaseline({
    bootstrap,
    iterations: 10,
    warmup: 5,
    adminConfig: { 'retry.backoff.ms': '1' },
    onProgress: (line) => log(`java retry.backoff.ms=1: ${line}`),
  });
  print('java-adminclient retry.backoff.ms=1', tuned);

  const cli = await runConsumerGroupsBaseline({
    libDir: cluster.libDir,
    bootstrap,
    runs: 3,
    onRun: (r) => log(`consumer-groups run ${r.index + 1}: ${r.ms.toFixed(0)} ms`),
  });
  print('kafka-consumer-groups --describe --all-groups', cli);

  const pairs = GROUPS.length * TOPICS.length * PARTITIONS;
  const checks: [string, boolean][] = [
    [`java pairs ${java.pairs} == ${pairs}`, java.pairs === pairs],
    [`java lagSum ${java.lagSum} == ${expectedLag}`, java.lagSum === expectedLag],
    [`java retry.backoff.ms=1 pairs ${tuned.pairs}, lagSum ${tuned.lagSum}`, tuned.pairs === pairs && tuned.lagSum === expectedLag],
    [`consumer-groups rows ${cli.rows} == ${pairs}`, cli.rows === pairs],
    [`consumer-groups lag sum ${toolLag} == ${expectedLag}`, toolLag === expectedLag],
  ];
  for (const [what, ok] of checks) log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  failed = checks.some(([, ok]) => !ok);
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await cluster.stop();
}
process.exitCode = failed ? 1 : 0;
