/**
 * bench/lag-collect: one full lag collection cycle at scale (default 2,000 partitions x 5 groups =
 * 10,000 partition-group pairs, all committed) on one real broker, measured warm, beside:
 *   (a) Kafka's Java AdminClient doing the same work in a warm JVM (the practical floor),
 *   (b) Kafka's kafka-consumer-groups --describe --all-groups, end to end,
 *   (c) kafka_exporter (Go), when a binary can be built or is in the cache.
 * Prints a table with ratios and writes bench/results/lag-collect.json.
 *
 *   npx tsx bench/lag-collect/run.ts          (env: TOPICS, PARTITIONS, GROUPS_COUNT, CYCLES)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { LagEvaluator } from '@lagscale/core';
import { KafkaCluster, OffsetCollector } from '@lagscale/kafka';
import { median, runConsumerGroupsBaseline } from '../support/consumer-groups-baseline.js';
import { buildGoPeer, timeGoPeer } from '../support/go-peer.js';
import { runJavaAdminBaseline } from '../support/java-baseline.js';
import { seedLag } from '../support/lag-seed.js';

const TOPICS = Number(process.env.TOPICS ?? 20);
const PARTITIONS = Number(process.env.PARTITIONS ?? 100);
const GROUPS = Number(process.env.GROUPS_COUNT ?? 5);
const CYCLES = Number(process.env.CYCLES ?? 20);
const WARMUP = 5;

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function seed(brokers: string[]): Promise<{ expectedLag: number }> {
  log(`seeding ${TOPICS} topics x ${PARTITIONS} partitions, ${GROUPS} groups`);
  const topics = Array.from({ length: TOPICS }, (_, t) => t);
  const commits = Array.from({ length: GROUPS }, (_, g) => [g, topics] as const);
  return { expectedLag: await seedLag(brokers, { partitions: PARTITIONS, newTopics: topics, commits }, log) };
}

function stats(samples: number[]): { medianMs: number; minMs: number; p90Ms: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { medianMs: median(samples), minMs: sorted[0] ?? Number.NaN, p90Ms: sorted[Math.floor(sorted.length * 0.9)] ?? Number.NaN };
}

async function measureLagscale(brokers: string[], expectedLag: number) {
  const collector = new OffsetCollector({ connection: { brokers } });
  const evaluator = new LagEvaluator();
  const samples: number[] = [];
  const requests: number[] = [];
  let pairs = 0;
  let lag = 0;
  try {
    for (let i = 0; i < WARMUP + CYCLES; i++) {
      const started = performance.now();
      const observation = await collector.collect();
      const snapshot = evaluator.evaluate(observation);
      const ms = performance.now() - started;
      const benchGroups = snapshot.groups.filter((g) => g.group.startsWith('bench-group-'));
      pairs = benchGroups.reduce((n, g) => n + g.partitions.length, 0);
      lag = benchGroups.reduce((n, g) => n + g.lag, 0);
      if (i >= WARMUP) {
        samples.push(ms);
        requests.push(observation.stats.requests);
      }
    }
    global.gc?.();
    const memory = process.memoryUsage();
    if (lag !== expectedLag) throw new Error(`lagscale measured lag ${lag}, expected ${expectedLag}`);
    return {
      ...stats(samples),
      samplesMs: samples,
      requestsPerCycle: median(requests),
      pairs,
      lagSum: lag,
      heapUsedMb: memory.heapUsed / 2 ** 20,
      rssMb: memory.rss / 2 ** 20,
    };
  } finally {
    await collector.close();
  }
}

const cluster = await KafkaCluster.start({ nodes: 1, heapMb: 2048, onProgress: log });
try {
  const brokers = cluster.brokers;
  const { expectedLag } = await seed(brokers);
  log(`seeded: ${TOPICS * PARTITIONS * GROUPS} partition-group pairs, total lag ${expectedLag}`);

  log('measuring lagscale');
  const lagscale = await measureLagscale(brokers, expectedLag);
  log(`lagscale median ${lagscale.medianMs.toFixed(1)} ms`);

  log('measuring Java AdminClient (stock settings)');
  const javaStock = await runJavaAdminBaseline({ bootstrap: brokers.join(','), iterations: CYCLES, warmup: WARMUP, jvmArgs: ['-Xmx1g'] });
  log('measuring Java AdminClient (retry.backoff.ms=1)');
  const javaTuned = await runJavaAdminBaseline({
    bootstrap: brokers.join(','),
    iterations: CYCLES,
    warmup: WARMUP,
    jvmArgs: ['-Xmx1g'],
    adminConfig: { 'retry.backoff.ms': '1' },
  });
  for (const [name, result] of [
    ['Java stock', javaStock],
    ['Java tuned', javaTuned],
  ] as const) {
    if (result.lagSum !== expectedLag) throw new Error(`${name} measured lag ${result.lagSum}, expected ${expectedLag}`);
  }

  log('measuring kafka-consumer-groups --describe --all-groups');
  const tool = await runConsumerGroupsBaseline({ libDir: cluster.libDir, bootstrap: brokers[0] as string, runs: 3 });

  log('looking for a Go peer (kafka_exporter)');
  const peer = await buildGoPeer(log);
  const go =
    'unavailable' in peer
      ? { unavailable: peer.unavailable }
      : { name: peer.name, version: peer.version, ...(await timeGoPeer(peer, { bootstrap: brokers.join(','), scrapes: 10, warmup: 3 })) };

  const rows: [string, number, string][] = [
    [
      'lagscale (Node, warm)',
      lagscale.medianMs,
      `${lagscale.requestsPerCycle} requests, heap ${lagscale.heapUsedMb.toFixed(0)} MB, rss ${lagscale.rssMb.toFixed(0)} MB`,
    ],
    ['Java AdminClient, warm JVM, stock', javaStock.medianMs, `heap ${javaStock.heapUsedMb.toFixed(0)} MB`],
    ['Java AdminClient, warm JVM, retry.backoff.ms=1', javaTuned.medianMs, `heap ${javaTuned.heapUsedMb.toFixed(0)} MB`],
    ['kafka-consumer-groups --all-groups (end to end)', tool.medianMs, `${tool.rows} rows`],
  ];
  if ('medianMs' in go) rows.push([`${go.name} ${go.version} (Go), one scrape`, go.medianMs, `${go.lagSeries} lag series`]);

  const out: string[] = [];
  out.push(
    `lag-collect: ${lagscale.pairs} partition-group pairs (${TOPICS}x${PARTITIONS} partitions, ${GROUPS} groups), ${CYCLES} cycles after ${WARMUP} warm-up`,
  );
  out.push('');
  out.push(`${'tool'.padEnd(50)} ${'median ms'.padStart(10)} ${'lagscale is'.padStart(14)}  notes`);
  for (const [name, ms, note] of rows) {
    const ratio = ms / lagscale.medianMs;
    const relation = name.startsWith('lagscale') ? '-' : ratio >= 1 ? `${ratio.toFixed(2)}x faster` : `${(1 / ratio).toFixed(2)}x slower`;
    out.push(`${name.padEnd(50)} ${ms.toFixed(1).padStart(10)} ${relation.padStart(14)}  ${note}`);
  }
  if ('unavailable' in go) out.push(`Go peer: unavailable (${go.unavailable.split('\n')[0]})`);
  out.push('');
  out.push(
    `goals: full cycle < 1000 ms: ${lagscale.medianMs < 1000 ? 'met' : 'NOT met'}; within 1.5x of warm Java AdminClient (tuned): ${lagscale.medianMs <= 1.5 * javaTuned.medianMs ? 'met' : 'NOT met'} (ratio ${(lagscale.medianMs / javaTuned.medianMs).toFixed(2)}); >= 10x faster than kafka-consumer-groups: ${tool.medianMs / lagscale.medianMs >= 10 ? 'met' : 'NOT met'} (${(tool.medianMs / lagscale.medianMs).toFixed(1)}x)`,
  );
  process.stdout.write(`${out.join('\n')}\n`);

  await mkdir(new URL('../results/', import.meta.url), { recursive: true });
  const result = {
    benchmark: 'lag-collect',
    date: new Date().toISOString(),
    kafkaVersion: cluster.version,
    setup: { topics: TOPICS, partitionsPerTopic: PARTITIONS, groups: GROUPS, pairs: lagscale.pairs, cycles: CYCLES, warmup: WARMUP, expectedLag },
    lagscale,
    baselines: {
      javaAdminClientStock: javaStock,
      javaAdminClientTuned: javaTuned,
      consumerGroupsCommand: tool,
      goPeer: go,
    },
    ratios: {
      lagscaleOverJavaStock: lagscale.medianMs / javaStock.medianMs,
      lagscaleOverJavaTuned: lagscale.medianMs / javaTuned.medianMs,
      consumerGroupsCommandOverLagscale: tool.medianMs / lagscale.medianMs,
      ...('medianMs' in go ? { goPeerOverLagscale: go.medianMs / lagscale.medianMs } : {}),
    },
  };
  await writeFile(new URL('../results/lag-collect.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  log('wrote bench/results/lag-collect.json');
} finally {
  await cluster.stop();
}
