/**
 * bench/lag-memory: what `lagscale exporter` and `lagscale autoscale` hold in memory at 1k, 10k and
 * 50k partition-group pairs, in their steady state after CYCLES collection cycles, beside the cycle
 * time of Kafka's Java AdminClient (tuned: retry.backoff.ms=1) doing the same collection in a warm
 * JVM in the same run on the same broker.
 *
 * Each command runs as a user runs it: the `lagscale` bin (its shebang sets the Node flags), a 1 s
 * collection interval, /metrics scraped every SCRAPE seconds as Prometheus would. Read from the
 * process: VmRSS, VmHWM (peak), RssAnon and RssFile from /proc/<pid>/status; the V8 heap by space,
 * external memory, the cycle count and duration histogram, and its CPU from its own /metrics.
 * Cycle time and CPU per cycle are over the cycles after the first WARMUP.
 *
 * Stages add to the same broker: 1k = 2 topics x 100 partitions x 5 groups, 10k = 20 x 100 x 5,
 * 50k = 50 x 100 x 10. VARIANTS=flags1;flags2 runs both commands again at each stage with other
 * Node flags (e.g. '--max-semi-space-size=64'), to compare.
 *
 * Prints a table and writes bench/results/lag-memory.json.
 *   npm run bench:lag-memory      (env: STAGES=1k,10k,50k, CYCLES=100, SCRAPE=10, VARIANTS,
 *                                  RESULTS_FILE=path instead of bench/results/lag-memory.json;
 *                                  a run of some STAGES is written only there)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePorts, KafkaCluster } from '@lagscale/kafka';
import { median } from '../support/consumer-groups-baseline.js';
import { runJavaAdminBaseline } from '../support/java-baseline.js';
import { benchGroup, seedLag } from '../support/lag-seed.js';
import { LAGSCALE_BIN, shippedFlags } from '../support/shipped-flags.js';

const BIN = LAGSCALE_BIN;
const MAIN = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));
const CYCLES = Number(process.env.CYCLES ?? 100);
const WARMUP = 5;
const SCRAPE_SECONDS = Number(process.env.SCRAPE ?? 10);
const PARTITIONS = 100;
const ALL_STAGES = [
  { name: '1k', topics: 2, groups: 5 },
  { name: '10k', topics: 20, groups: 5 },
  { name: '50k', topics: 50, groups: 10 },
] as const;
const wanted = new Set((process.env.STAGES ?? '1k,10k,50k').split(','));
const STAGES = ALL_STAGES.filter((s) => wanted.has(s.name));
const VARIANTS = (process.env.VARIANTS ?? '').split(';').filter((v) => v.trim() !== '');
const MB = 2 ** 20;

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** One scrape of the process's /metrics: the samples this bench reads. */
interface Scrape {
  readonly cycles: number;
  readonly durationSum: number;
  readonly durationCount: number;
  readonly cpuSeconds: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly spaces: Record<string, number>;
}

function sampleValue(text: string, name: string): number {
  const match = text.match(new RegExp(`^${name}(?:\\{\\})? (\\S+)$`, 'm'));
  if (!match) throw new Error(`no ${name} in /metrics`);
  return Number(match[1]);
}

async function scrape(url: string): Promise<Scrape> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const spaces: Record<string, number> = {};
  for (const m of text.matchAll(/^nodejs_heap_space_size_total_bytes\{space="([^"]+)"\} (\S+)$/gm)) spaces[m[1] as string] = Number(m[2]);
  return {
    cycles: sampleValue(text, 'lagscale_collection_cycles_total'),
    durationSum: sampleValue(text, 'lagscale_collection_duration_seconds_sum'),
    durationCount: sampleValue(text, 'lagscale_collection_duration_seconds_count'),
    cpuSeconds: sampleValue(text, 'process_cpu_seconds_total'),
    heapUsed: sampleValue(text, 'nodejs_heap_size_used_bytes'),
    heapTotal: sampleValue(text, 'nodejs_heap_size_total_bytes'),
    external: sampleValue(text, 'nodejs_external_memory_bytes'),
    spaces,
  };
}

/** kB fields of /proc/<pid>/status, in MB. */
function procStatus(pid: number): { rss: number; peak: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? Number.NaN) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
}

interface Run {
  readonly command: 'exporter' | 'autoscale';
  readonly flags: string;
  readonly pairs: number;
  readonly cycles: number;
  /** At the end, after the last scrape. */
  readonly rssMb: number;
  /** Over the scrapes after the warm-up cycles: the old generation grows and is collected in a sawtooth. */
  readonly rssMedianMb: number;
  readonly rssMaxMb: number;
  readonly peakRssMb: number;
  readonly rssAnonMb: number;
  readonly rssFileMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly heapSpacesMb: Record<string, number>;
  readonly cycleMeanMs: number;
  readonly cpuMsPerCycle: number;
}

async function runCommand(command: Run['command'], flags: string | null, brokers: readonly string[], pairs: number, home: string): Promise<Run> {
  const [port] = (await freePorts(1)) as [number];
  const url = `http://127.0.0.1:${port}`;
  const args =
    command === 'exporter'
      ? ['exporter', '-b', brokers.join(','), '-i', '1s', '-p', String(port)]
      : ['autoscale', '--config', autoscaleConfig(home, brokers, port)];
  // flags === null: the bin itself, as installed; else node with exactly these flags.
  const child: ChildProcess =
    flags === null
      ? spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn(process.execPath, [...flags.split(' ').filter(Boolean), MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const pid = child.pid as number;
  try {
    let first: Scrape | null = null;
    let last: Scrape | null = null;
    const rssSamples: number[] = [];
    const deadline = Date.now() + (CYCLES * 10 + 120) * 1000;
    while (last === null || last.cycles < CYCLES) {
      if (child.exitCode !== null) throw new Error(`lagscale ${command} exited with ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`lagscale ${command} did not reach ${CYCLES} cycles: ${stderr}`);
      await sleep(last === null ? 1000 : SCRAPE_SECONDS * 1000);
      try {
        last = await scrape(url);
      } catch {
        continue; // not listening yet
      }
      if (first === null && last.cycles >= WARMUP) first = last;
      if (first !== null) rssSamples.push(procStatus(pid).rss);
      if (last.cycles > 0 && last.cycles % 20 < SCRAPE_SECONDS)
        log(`  ${command} ${flags ?? 'bin'}: ${last.cycles} cycles, rss ${procStatus(pid).rss.toFixed(0)} MB`);
    }
    const memory = procStatus(pid);
    const start = first ?? last;
    const cycles = last.durationCount - start.durationCount;
    return {
      command,
      flags: flags ?? shippedFlags(),
      pairs,
      cycles: last.cycles,
      rssMb: memory.rss,
      rssMedianMb: median(rssSamples),
      rssMaxMb: Math.max(...rssSamples),
      peakRssMb: memory.peak,
      rssAnonMb: memory.anon,
      rssFileMb: memory.file,
      heapUsedMb: last.heapUsed / MB,
      heapTotalMb: last.heapTotal / MB,
      externalMb: last.external / MB,
      heapSpacesMb: Object.fromEntries(Object.entries(last.spaces).map(([space, bytes]) => [space, bytes / MB])),
      cycleMeanMs: ((last.durationSum - start.durationSum) / cycles) * 1000,
      cpuMsPerCycle: ((last.cpuSeconds - start.cpuSeconds) / (last.cycles - start.cycles)) * 1000,
    };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(20_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * An autoscaler of bench-group-0 whose lag engine also watches every bench group, holding one
 * idle replica (min = max = 1): the memory is the lag engine's and the control loop's.
 */
function autoscaleConfig(home: string, brokers: readonly string[], port: number): string {
  const groups = Array.from({ length: 10 }, (_, g) => benchGroup(g));
  const file = join(home, `autoscale-${port}.yaml`);
  const config = {
    kafka: { brokers },
    lag: { groups, intervalSeconds: 1 },
    exporter: { port },
    autoscaler: {
      group: benchGroup(0),
      policy: { name: 'threshold', lagThreshold: 1000 },
      behavior: { minReplicas: 1, maxReplicas: 1 },
      target: { type: 'local', command: [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)'] },
    },
  };
  writeFileSync(file, JSON.stringify(config));
  return file;
}

function seedStep(from: (typeof ALL_STAGES)[number] | null, to: (typeof ALL_STAGES)[number]) {
  const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
  const oldTopics = from?.topics ?? 0;
  const oldGroups = from?.groups ?? 0;
  const commits = range(0, to.groups).map((g) => [g, g < oldGroups ? range(oldTopics, to.topics) : range(0, to.topics)] as const);
  return { partitions: PARTITIONS, newTopics: range(oldTopics, to.topics), commits };
}

const home = mkdtempSync(join(tmpdir(), 'lagscale-lag-memory-'));
const cluster = await KafkaCluster.start({ nodes: 1, heapMb: 2048, onProgress: log });
const results: { stage: string; pairs: number; expectedLag: number; javaTuned: { medianMs: number; meanMs: number }; runs: Run[] }[] = [];
try {
  const brokers = cluster.brokers;
  let expectedLag = 0;
  let previous: (typeof ALL_STAGES)[number] | null = null;
  for (const stage of ALL_STAGES) {
    expectedLag += await seedLag(brokers, seedStep(previous, stage), log);
    previous = stage;
    if (!wanted.has(stage.name)) continue;
    const pairs = stage.topics * PARTITIONS * stage.groups;
    log(`stage ${stage.name}: ${pairs} pairs, lag ${expectedLag}; Java AdminClient (tuned)`);
    const java = await runJavaAdminBaseline({
      bootstrap: brokers.join(','),
      iterations: 20,
      warmup: WARMUP,
      jvmArgs: ['-Xmx1g'],
      adminConfig: { 'retry.backoff.ms': '1' },
    });
    if (java.lagSum !== expectedLag || java.pairs !== pairs) throw new Error(`Java baseline saw ${java.pairs} pairs, lag ${java.lagSum}`);
    const runs: Run[] = [];
    for (const command of ['exporter', 'autoscale'] as const) runs.push(await runCommand(command, null, brokers, pairs, home));
    for (const flags of VARIANTS) for (const command of ['exporter', 'autoscale'] as const) runs.push(await runCommand(command, flags, brokers, pairs, home));
    const meanMs = java.samplesMs.reduce((a, b) => a + b, 0) / java.samplesMs.length;
    results.push({ stage: stage.name, pairs, expectedLag, javaTuned: { medianMs: java.medianMs, meanMs }, runs });
  }
} finally {
  await cluster.stop();
  rmSync(home, { recursive: true, force: true });
}

const out: string[] = [`lag-memory: steady state after ${CYCLES} cycles (1 s interval, /metrics every ${SCRAPE_SECONDS} s), one broker`, ''];
out.push(
  `${'pairs'.padEnd(6)} ${'command'.padEnd(10)} ${'node flags'.padEnd(26)} ${'rss'.padStart(5)} ${'max'.padStart(5)} ${'peak'.padStart(5)} ${'anon'.padStart(5)} ${'file'.padStart(5)} ${'heap'.padStart(5)} ${'new'.padStart(5)} ${'old'.padStart(5)} ${'code'.padStart(5)} ${'cycle ms'.padStart(9)} ${'cpu ms'.padStart(7)} ${'java ms'.padStart(8)} ${'ratio'.padStart(6)}`,
);
for (const stage of results) {
  for (const r of stage.runs) {
    const f = (n: number | undefined): string => (n ?? Number.NaN).toFixed(0).padStart(5);
    out.push(
      `${stage.stage.padEnd(6)} ${r.command.padEnd(10)} ${(r.flags || '(none)').padEnd(26)} ${f(r.rssMedianMb)} ${f(r.rssMaxMb)} ${f(r.peakRssMb)} ${f(r.rssAnonMb)} ${f(r.rssFileMb)} ${f(r.heapUsedMb)} ${f(r.heapSpacesMb.new)} ${f(r.heapSpacesMb.old)} ${f(r.heapSpacesMb.code)} ${r.cycleMeanMs.toFixed(1).padStart(9)} ${r.cpuMsPerCycle.toFixed(1).padStart(7)} ${stage.javaTuned.meanMs.toFixed(1).padStart(8)} ${(r.cycleMeanMs / stage.javaTuned.meanMs).toFixed(2).padStart(6)}`,
    );
  }
}
out.push(
  '',
  'MB: rss (median over the scrapes after warm-up), max (of those), peak (VmHWM), anon/file (RssAnon/RssFile), heap used, V8 new/old/code space sizes. cycle: mean collection time; cpu: process CPU per cycle; java: tuned AdminClient mean cycle; ratio: cycle / java.',
);
process.stdout.write(`${out.join('\n')}\n`);

// A partial run (some STAGES) is written only where RESULTS_FILE says, never over the full run's file.
if (STAGES.length === ALL_STAGES.length || process.env.RESULTS_FILE !== undefined) {
  await mkdir(new URL('../results/', import.meta.url), { recursive: true });
  const result = {
    benchmark: 'lag-memory',
    date: new Date().toISOString(),
    kafkaVersion: cluster.version,
    setup: { cycles: CYCLES, warmup: WARMUP, scrapeSeconds: SCRAPE_SECONDS, intervalSeconds: 1, partitionsPerTopic: PARTITIONS },
    variants: VARIANTS,
    stages: results,
  };
  const file = process.env.RESULTS_FILE ?? fileURLToPath(new URL('../results/lag-memory.json', import.meta.url));
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${file}`);
}
