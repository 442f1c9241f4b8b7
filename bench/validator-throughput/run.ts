/**
 * bench/validator-throughput: records/s end to end (topic → result store) of the validation
 * worker with the orders example rule set (24 rules + JSON Schema), for 1 and 2 workers, beside a
 * raw consume of the same topic with the same client (the fenced batch consumer) and batch size,
 * measured in the same run on one broker of its own.
 *
 * The topic is filled once with RECORDS order records (varied, about 4% breaking a rule, 7% with
 * a warning, 0.5% truncated JSON for the DLQ). Each measurement is a fresh consumer group reading
 * it from the start; a rate is (records done after the first batch) / (time from the first batch
 * done to the last record done). Workers are `lagscale worker` processes (as the local autoscaler
 * target runs them), started together so that one group generation holds them all (the broker
 * delays a new group's first rebalance by 3 s); their progress is read from the store (results +
 * dead letters), polled every 10 ms (SQLite) or refreshed and read every 100 ms (OpenSearch). Extra
 * rows: one worker process validating on its main thread (--validation-threads 0), one worker
 * in-process (runWorker) as configured by default and publishing every result to
 * validation.results too (--results-topic), 1 and 2 worker processes writing to a real
 * OpenSearch node, and 1 writing to a real Elasticsearch node (each started by this script, one
 * at a time, one index prefix per measurement) instead of SQLite.
 *
 * The JVM peer (row `jvm`, bench/validator-throughput/java, built with Maven in the same run): a
 * plain Kafka Java consumer with the same batch size (max.poll.records) validating the same
 * records against the same JSON Schema (networknt's json-schema-validator) and the same 24 rules
 * written as plain Java, writing a row per record to SQLite over JDBC in one transaction per batch,
 * then committing its offsets; its progress is read from its SQLite file like a worker's. After
 * the run its outcomes (invalid, dead letters, valid with warnings, violations per rule) must equal
 * those of the 1 worker row's store, or the benchmark fails: the rules would differ.
 *
 * CPU: user + system seconds of the worker processes, of the JVM (all its threads) and of the
 * search engine node (from /proc/<pid>/stat) over the same window as the rate, per 100,000
 * records. For the in-process and raw rows it is this process's CPU (which includes its own
 * progress polling).
 *
 * Prints a table with ratios and writes bench/results/validator-throughput.json (a full run only).
 *   npm run bench:validator-throughput       (env: RECORDS, PARTITIONS, BATCH_SIZE, ROUNDS;
 *                                             CPU_PROF=dir profiles the worker processes;
 *                                             WORKER_NODE_FLAGS the workers' Node flags;
 *                                             RESULTS_FILE=path writes the JSON of a partial
 *                                             run, ONLY=..., there instead of nowhere)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ELASTICSEARCH_VERSION, startElasticsearchNode } from '@lagscale/elasticsearch';
import { KafkaCluster, runBatchConsumer } from '@lagscale/kafka';
import { DEFAULT_OPENSEARCH_VERSION, startOpenSearchNode } from '@lagscale/opensearch';
import type { LocalSearchNode } from '@lagscale/search-node';
import { type Job, OpenSearchResultStore, type ResultStore, runWorker, SqliteResultStore, VALIDATION_TOPICS, WorkerMetrics } from '@lagscale/validator';
import { OrderRecords, produceOrders, requestProducer } from '../../packages/validator/test/worker/order-records.js';
import { createTopic } from '../../test-support/kafka.js';
import { cpuSecondsOf } from '../../test-support/process-cpu.js';
import { JVM_PEER_FLAGS, JvmPeerDatabase, type JvmPeerRuntime, outcomeDifferences, startJvmPeer, type ValidationOutcomes } from './jvm-peer.js';

const env = (name: string, fallback: number): number => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const RECORDS = env('RECORDS', 200_000);
const PARTITIONS = env('PARTITIONS', 8);
// The worker's default batch size.
const BATCH_SIZE = env('BATCH_SIZE', 1000);
// The Node flags of the worker processes: what the local stack and the chart start workers with.
const WORKER_NODE_FLAGS = (process.env.WORKER_NODE_FLAGS ?? '--max-semi-space-size=64').split(' ').filter(Boolean);
/** Each measurement is repeated this many times; the table shows the median. */
const ROUNDS = env('ROUNDS', 1);
const JOB = 'bench-orders';
/** ONLY=raw,one,jvm,two,main,in,pub,os1,os2,es1 measures just those (for profiling); the JSON is written only for a full run. */
const ONLY = process.env.ONLY === undefined ? null : new Set(process.env.ONLY.split(','));
const FULL_RUN_RESULTS = fileURLToPath(new URL('../results/validator-throughput.json', import.meta.url));
/** Where the JSON goes: the full run's file, or RESULTS_FILE (needed for a partial run, which must not replace the full run's). */
const RESULTS_FILE = process.env.RESULTS_FILE === undefined ? (ONLY === null ? FULL_RUN_RESULTS : null) : resolve(process.env.RESULTS_FILE);
if (ONLY !== null && RESULTS_FILE === FULL_RUN_RESULTS)
  throw new Error(`RESULTS_FILE: a partial run (ONLY=${process.env.ONLY}) cannot replace ${FULL_RUN_RESULTS}`);
const TOPIC = VALIDATION_TOPICS.requests;
const MAIN = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));
const RULE_SET_FILE = fileURLToPath(new URL('../../packages/validator/examples/orders.ruleset.json', import.meta.url));
const ruleSetDocument = JSON.parse(readFileSync(RULE_SET_FILE, 'utf8')) as { name: string; version: number; rules: unknown[] };

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const quiet = { info: () => {}, warn: (fields: object, message: string) => log(`warn: ${message} ${JSON.stringify(fields)}`) };

interface Measurement {
  readonly recordsPerSecond: number;
  readonly seconds: number;
  /** Records counted in the rate (all but the first batch). */
  readonly records: number;
  /** CPU seconds per 100,000 records over the same window: the workers', and the store node's (search engine rows). */
  readonly cpu?: { readonly workerSecondsPer100k: number; readonly nodeSecondsPer100k?: number; readonly nodeCores?: number };
  /** What the validator made of the records (SQLite stores: the worker rows' and the JVM peer's). */
  readonly outcomes?: ValidationOutcomes;
  readonly notes?: Record<string, unknown>;
}

/** The processes whose CPU a measurement counts. */
interface CpuScope {
  readonly workers: () => number[];
  readonly node?: number;
}

interface Sample {
  readonly at: number;
  readonly done: number;
  readonly workerCpu: number;
  readonly nodeCpu: number;
}

function sample(scope: CpuScope, done: number): Sample {
  const workerCpu = scope.workers().reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
  return { at: performance.now(), done, workerCpu, nodeCpu: scope.node === undefined ? 0 : cpuSecondsOf(scope.node) };
}

/** Rate and CPU from progress samples: after the first batch to the end. */
function rateOf(first: Sample, last: Sample, scope: CpuScope): Measurement {
  const seconds = (last.at - first.at) / 1000;
  const records = last.done - first.done;
  const per100k = (cpu: number): number => (cpu / records) * 100_000;
  return {
    recordsPerSecond: records / seconds,
    seconds,
    records,
    cpu: {
      workerSecondsPer100k: per100k(last.workerCpu - first.workerCpu),
      ...(scope.node === undefined ? {} : { nodeSecondsPer100k: per100k(last.nodeCpu - first.nodeCpu), nodeCores: (last.nodeCpu - first.nodeCpu) / seconds }),
    },
  };
}

const SELF: CpuScope = { workers: () => [process.pid] };

async function measureRawConsume(brokers: string[], round: number): Promise<Measurement> {
  const controller = new AbortController();
  let done = 0;
  let first: Sample | undefined;
  let last = sample(SELF, 0);
  const consumed = await runBatchConsumer({
    connection: { brokers },
    group: `bench-raw-${round}`,
    topics: [TOPIC],
    batchSize: BATCH_SIZE,
    logger: quiet,
    signal: controller.signal,
    handle: async (batch) => {
      done += batch.length;
      last = sample(SELF, done);
      first ??= last;
      if (done >= RECORDS) controller.abort();
    },
  });
  if (first === undefined || consumed.committed < RECORDS) throw new Error(`raw consume committed ${consumed.committed} of ${RECORDS} records`);
  return rateOf(first, last, SELF);
}

/** Where a measurement's results go: a SQLite file, or an index prefix on the OpenSearch or Elasticsearch node. */
type StoreTarget = { readonly kind: 'sqlite'; readonly file: string } | { readonly kind: 'search-engine'; readonly url: string; readonly prefix: string };

/** A search engine node for a row, and the tag its measurements are named by. */
interface SearchNode {
  readonly node: LocalSearchNode;
  readonly tag: 'os' | 'es';
}

async function openTarget(target: StoreTarget): Promise<ResultStore> {
  return target.kind === 'sqlite' ? SqliteResultStore.open(target.file) : OpenSearchResultStore.open({ url: target.url, indexPrefix: target.prefix });
}

/** A fresh store with the rule set and the job, as `lagscale validate` would leave it. */
async function freshStore(dir: string, name: string, searchNode?: SearchNode): Promise<StoreTarget> {
  const target: StoreTarget =
    searchNode === undefined
      ? { kind: 'sqlite', file: join(dir, `${name}.db`) }
      : { kind: 'search-engine', url: searchNode.node.url, prefix: `bench-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}` };
  const store = await openTarget(target);
  await store.saveRuleSet(ruleSetDocument.name, ruleSetDocument.version, ruleSetDocument as never, Date.now());
  await store.createJob({
    id: JOB,
    ruleSet: ruleSetDocument.name,
    ruleSetVersion: ruleSetDocument.version,
    total: RECORDS,
    createdAt: Date.now(),
    source: 'bench',
  });
  await store.close();
  return target;
}

/** Samples progress (records done) and CPU until every record is done; the rate is from the first batch done to the last record done. */
async function pollProgress(
  readDone: () => number | Promise<number>,
  scope: CpuScope,
  intervalMs: number,
  timeoutMs: number,
  failed: () => string | null,
): Promise<Measurement> {
  let first: Sample | undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = await readDone();
    const now = sample(scope, done);
    if (done > 0) first ??= now;
    if (first !== undefined && done >= RECORDS) return rateOf(first, now, scope);
    const failure = failed();
    if (failure !== null) throw new Error(failure);
    if (Date.now() > deadline) throw new Error(`timed out: ${done} of ${RECORDS} records done after ${timeoutMs / 1000} s`);
    await sleep(intervalMs);
  }
}

/**
 * Polls the store until every record has a result or a dead letter. OpenSearch is refreshed
 * before each read (results are otherwise searchable within its 1 s refresh interval), less often
 * than SQLite is read, since each refresh is work for the node.
 */
async function watchProgress(target: StoreTarget, scope: CpuScope, timeoutMs: number, failed: () => string | null): Promise<Measurement> {
  const store = await openTarget(target);
  try {
    let job: Job | undefined;
    const readDone = async (): Promise<number> => {
      if (store instanceof OpenSearchResultStore) await store.refresh();
      job = await store.getJob(JOB);
      return (job?.results ?? 0) + (job?.dlq ?? 0);
    };
    const measured = await pollProgress(readDone, scope, target.kind === 'sqlite' ? 10 : 100, timeoutMs, failed);
    return { ...measured, notes: { results: job?.results, dlq: job?.dlq } };
  } finally {
    await store.close();
  }
}

/** The job's outcomes in a lagscale store, after its run (read from the job's counters and summary). */
async function storeOutcomes(target: StoreTarget): Promise<ValidationOutcomes> {
  const store = await openTarget(target);
  try {
    const job = await store.getJob(JOB);
    const summary = await store.jobSummary(JOB);
    if (job === undefined || summary === undefined) throw new Error(`job ${JOB} is missing from the store`);
    const byRule: Record<string, { violations: number; records: number }> = {};
    for (const rule of [...summary.byRule].sort((a, b) => (a.ruleId < b.ruleId ? -1 : 1)))
      byRule[rule.ruleId] = { violations: rule.violations, records: rule.records };
    return { results: job.results, invalid: job.invalid, warningsOnly: summary.warningsOnly, deadLetters: job.dlq, byRule };
  } finally {
    await store.close();
  }
}

async function measureWorkerProcesses(
  brokers: string[],
  dir: string,
  count: number,
  round: number,
  extraArgs: string[] = [],
  searchNode?: SearchNode,
): Promise<Measurement> {
  const name = `${count}${extraArgs.join('')}${searchNode === undefined ? '' : `-${searchNode.tag}`}-${round}`;
  const target = await freshStore(dir, `processes-${name}`, searchNode);
  const group = `bench-workers-${name}`;
  const workers: { child: ChildProcess; assignments: number; exit: Promise<number | null> }[] = [];
  for (let i = 0; i < count; i++) {
    const child = spawn(
      process.execPath,
      [...WORKER_NODE_FLAGS, ...(process.env.CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CPU_PROF}`] : []), MAIN, 'worker'].concat([
        '-b',
        brokers.join(','),
        '--store',
        target.kind === 'sqlite' ? target.file : target.url,
        '--group',
        group,
        '--batch-size',
        String(BATCH_SIZE),
        ...extraArgs,
      ]),
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, LAGSCALE_WORKER_ID: String(i + 1), ...(target.kind === 'search-engine' ? { OPENSEARCH_INDEX_PREFIX: target.prefix } : {}) },
      },
    );
    const worker = { child, assignments: 0, exit: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
    let tail = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (tail + chunk).split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) if (line.includes('"partitions_assigned"')) worker.assignments++;
    });
    workers.push(worker);
  }
  let exited: string | null = null;
  for (const [i, w] of workers.entries()) void w.exit.then((code) => (exited ??= `worker ${i + 1} exited early (code ${code})`));
  try {
    const scope: CpuScope = { workers: () => workers.map((w) => w.child.pid as number), ...(searchNode === undefined ? {} : { node: searchNode.node.pid }) };
    const measured = await watchProgress(target, scope, 600_000, () => exited);
    const outcomes = target.kind === 'sqlite' ? await storeOutcomes(target) : undefined;
    return {
      ...measured,
      ...(outcomes === undefined ? {} : { outcomes }),
      notes: { ...measured.notes, assignmentsPerWorker: workers.map((w) => w.assignments) },
    };
  } finally {
    exited = 'stopping';
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exit));
  }
}

async function measureInProcessWorker(brokers: string[], dir: string, publish: boolean, round: number): Promise<Measurement> {
  const target = await freshStore(dir, `in-process-${publish}-${round}`);
  const store = await openTarget(target);
  const controller = new AbortController();
  let failure: string | null = null;
  const running = runWorker({
    connection: { brokers },
    group: `bench-in-process-${publish}-${round}`,
    store,
    batchSize: BATCH_SIZE,
    ...(publish ? { resultsTopic: VALIDATION_TOPICS.results } : {}),
    logger: { ...quiet, error: (fields: object, message: string) => log(`error: ${message} ${JSON.stringify(fields)}`) },
    metrics: new WorkerMetrics(),
    signal: controller.signal,
  }).catch((error: Error) => {
    failure = `worker failed: ${error.message}`;
  });
  try {
    return await watchProgress(target, SELF, 600_000, () => failure);
  } finally {
    controller.abort();
    await running;
    await store.close();
  }
}

/** The JVM's start line, from the first round that ran it (the JSON records it once). */
let jvmRuntime: JvmPeerRuntime | undefined;

async function measureJvmPeer(brokers: string[], dir: string, round: number): Promise<Measurement> {
  const database = join(dir, `jvm-peer-${round}.db`);
  const peer = await startJvmPeer({
    brokers,
    topic: TOPIC,
    group: `bench-jvm-${round}`,
    batchSize: BATCH_SIZE,
    database,
    ruleSetFile: RULE_SET_FILE,
    onStderrLine: (line) => log(`jvm peer: ${line}`),
  });
  jvmRuntime ??= peer.runtime;
  let exited: string | null = null;
  void peer.exited.then((code) => (exited ??= `the JVM peer exited early (code ${code})`));
  const progress = new JvmPeerDatabase(database);
  try {
    const measured = await pollProgress(
      () => progress.done(),
      { workers: () => [peer.pid] },
      10,
      600_000,
      () => exited,
    );
    return { ...measured, outcomes: progress.outcomes() };
  } finally {
    exited = 'stopping';
    progress.close();
    await peer.stop();
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

const SKIPPED: Measurement = { recordsPerSecond: Number.NaN, seconds: Number.NaN, records: 0 };

async function rounds(
  id: string,
  name: string,
  run: (round: number) => Promise<Measurement>,
): Promise<{ name: string; median: Measurement; rounds: Measurement[] }> {
  if (ONLY !== null && !ONLY.has(id)) return { name, median: SKIPPED, rounds: [] };
  const all: Measurement[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    log(`measuring ${name} (round ${round} of ${ROUNDS})`);
    const m = await run(round);
    log(`  ${Math.round(m.recordsPerSecond).toLocaleString('en')} records/s (${m.records} records in ${m.seconds.toFixed(2)} s)`);
    all.push(m);
  }
  const rate = median(all.map((m) => m.recordsPerSecond));
  return { name, median: all.find((m) => m.recordsPerSecond === rate) as Measurement, rounds: all };
}

/**
 * The JVM peer's outcomes beside those of lagscale's SQLite worker (the 1 worker row): every round
 * of either must equal the first round of the worker's. Without that row the peer's are only shown.
 */
function agreementOf(
  workerRounds: readonly Measurement[],
  peerRounds: readonly Measurement[],
): { lagscale: ValidationOutcomes | undefined; peer: ValidationOutcomes; differences: string[] } {
  const peer = peerRounds[0]?.outcomes;
  if (peer === undefined) throw new Error('the JVM peer row has no outcomes');
  const lagscale = workerRounds[0]?.outcomes;
  const differences: string[] = [];
  if (lagscale !== undefined) {
    const others = [
      ...workerRounds.slice(1).map((m, i) => ({ what: `1 worker round ${i + 2}`, m })),
      ...peerRounds.map((m, i) => ({ what: `JVM peer round ${i + 1}`, m })),
    ];
    for (const { what, m } of others) {
      for (const difference of m.outcomes === undefined ? ['no outcomes'] : outcomeDifferences(lagscale, m.outcomes))
        differences.push(`${what}: ${difference}`);
    }
  }
  return { lagscale, peer, differences };
}

/** A partial run's ratios involve rows it did not measure: those are left out. */
function finiteOnly(ratios: Record<string, number | undefined>): Record<string, number> {
  return Object.fromEntries(Object.entries(ratios).filter((entry): entry is [string, number] => entry[1] !== undefined && Number.isFinite(entry[1])));
}

const cluster = await KafkaCluster.start({
  nodes: 1,
  heapMb: 1024,
  // One generation for workers started together (the default here is 0 for fast tests).
  properties: { 'group.initial.rebalance.delay.ms': '3000' },
  onProgress: log,
});
const dir = mkdtempSync(join(tmpdir(), 'lagscale-bench-validator-'));
try {
  const brokers = cluster.brokers;
  await createTopic(brokers, TOPIC, PARTITIONS);
  log(`producing ${RECORDS} order records to ${TOPIC} (${PARTITIONS} partitions)`);
  const produceStarted = performance.now();
  const client = requestProducer(brokers);
  const produced = await produceOrders(client, {
    topic: TOPIC,
    jobId: JOB,
    ruleSet: ruleSetDocument.name,
    from: 1,
    to: RECORDS,
    isMalformed: (n) => n % 200 === 7,
    records: new OrderRecords({ seed: 7 }),
  }).finally(() => client.close());
  const produceSeconds = (performance.now() - produceStarted) / 1000;
  log(`produced in ${produceSeconds.toFixed(1)} s; ${produced.invalid.length} break a rule, ${produced.malformed.length} malformed`);

  const raw = await rounds('raw', 'raw consume (runBatchConsumer, no-op handler)', (round) => measureRawConsume(brokers, round));
  const one = await rounds('one', '1 worker (lagscale worker process)', (round) => measureWorkerProcesses(brokers, dir, 1, round));
  const jvm = await rounds('jvm', 'JVM peer (Java consumer, networknt, JDBC)', (round) => measureJvmPeer(brokers, dir, round));
  const two = await rounds('two', '2 workers (lagscale worker processes)', (round) => measureWorkerProcesses(brokers, dir, 2, round));
  const mainThread = await rounds('main', '1 worker, validating on its main thread', (round) =>
    measureWorkerProcesses(brokers, dir, 1, round, ['--validation-threads', '0']),
  );
  const inProcess = await rounds('in', '1 worker in-process (runWorker)', (round) => measureInProcessWorker(brokers, dir, false, round));
  const publishing = await rounds('pub', '1 worker in-process, publishing results', (round) => measureInProcessWorker(brokers, dir, true, round));

  // The OpenSearch rows: a node of its own, started only now so that it takes no CPU from the rows above.
  const wantsOpenSearch = ONLY === null || ONLY.has('os1') || ONLY.has('os2');
  const openSearch = wantsOpenSearch ? await startOpenSearchNode({ onProgress: log }) : undefined;
  let os1: Awaited<ReturnType<typeof rounds>>;
  let os2: Awaited<ReturnType<typeof rounds>>;
  try {
    const node = openSearch === undefined ? undefined : ({ node: openSearch, tag: 'os' } as const);
    os1 = await rounds('os1', '1 worker, OpenSearch store', (round) => measureWorkerProcesses(brokers, dir, 1, round, [], node));
    os2 = await rounds('os2', '2 workers, OpenSearch store', (round) => measureWorkerProcesses(brokers, dir, 2, round, [], node));
  } finally {
    await openSearch?.stop();
  }
  // The Elasticsearch row: its node started after OpenSearch's stopped, so the two never share the cores.
  const elasticsearch = ONLY === null || ONLY.has('es1') ? await startElasticsearchNode({ onProgress: log }) : undefined;
  let es1: Awaited<ReturnType<typeof rounds>>;
  try {
    const node = elasticsearch === undefined ? undefined : ({ node: elasticsearch, tag: 'es' } as const);
    es1 = await rounds('es1', '1 worker, Elasticsearch store', (round) => measureWorkerProcesses(brokers, dir, 1, round, [], node));
  } finally {
    await elasticsearch?.stop();
  }

  const rawRate = raw.median.recordsPerSecond;
  const rows: [string, Measurement, number][] = [
    [raw.name, raw.median, 1],
    [one.name, one.median, 1],
    [jvm.name, jvm.median, 1],
    [two.name, two.median, 2],
    [mainThread.name, mainThread.median, 1],
    [inProcess.name, inProcess.median, 1],
    [publishing.name, publishing.median, 1],
    [os1.name, os1.median, 1],
    [os2.name, os2.median, 2],
    [es1.name, es1.median, 1],
  ];
  const out: string[] = [];
  out.push(
    `validator-throughput: ${RECORDS.toLocaleString('en')} order records (~${Math.round(ruleSetDocument.rules.length)} rules + JSON Schema), ${PARTITIONS} partitions, batch ${BATCH_SIZE}, median of ${ROUNDS}`,
  );
  out.push(`machine: ${cpus().length} cores shared by the broker, the workers and this process`);
  out.push('');
  const cpuCell = (value: number | undefined): string => (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(2)).padStart(11);
  const jvmCpu = jvm.median.cpu?.workerSecondsPer100k ?? Number.NaN;
  out.push(
    `${'run'.padEnd(46)} ${'records/s'.padStart(10)} ${'per worker'.padStart(11)} ${'x raw'.padStart(7)} ${'seconds'.padStart(8)} ${'CPU s/100k'.padStart(11)} ${'CPU / JVM'.padStart(11)} ${'node s/100k'.padStart(11)} ${'node cores'.padStart(11)}`,
  );
  // A partial run (ONLY) shows the rows it measured.
  for (const [name, m, workers] of rows.filter(([, m]) => m !== SKIPPED)) {
    const cpu = m.cpu?.workerSecondsPer100k;
    out.push(
      `${name.padEnd(46)} ${Math.round(m.recordsPerSecond).toLocaleString('en').padStart(10)} ${Math.round(m.recordsPerSecond / workers)
        .toLocaleString('en')
        .padStart(
          11,
        )} ${(m.recordsPerSecond / rawRate).toFixed(2).padStart(7)} ${m.seconds.toFixed(2).padStart(8)} ${cpuCell(cpu)} ${cpuCell(cpu === undefined ? undefined : cpu / jvmCpu)} ${cpuCell(m.cpu?.nodeSecondsPer100k)} ${cpuCell(m.cpu?.nodeCores)}`,
    );
  }
  out.push('CPU s/100k: user+system seconds of the worker processes (the JVM for the JVM peer, this process for raw and in-process rows) per 100,000 records;');
  out.push("CPU / JVM: the row's CPU s/100k over the JVM peer's;");
  out.push('node s/100k and node cores: the OpenSearch or Elasticsearch node over the same window (cores = its CPU seconds per wall second).');
  const goal = (m: Measurement, workers: number): string =>
    `${m.recordsPerSecond >= 0.7 * rawRate ? 'met' : 'NOT met'} (${(m.recordsPerSecond / rawRate).toFixed(2)}x raw), >= 50,000/s per worker ${m.recordsPerSecond / workers >= 50_000 ? 'met' : 'NOT met'} (${Math.round(m.recordsPerSecond / workers).toLocaleString('en')})`;
  out.push('');
  out.push(`goals: 1 worker >= 0.7x raw ${goal(one.median, 1)}`);
  out.push(`       2 workers >= 0.7x raw ${goal(two.median, 2)}`);
  out.push(
    `the validation thread adds ${((one.median.recordsPerSecond / mainThread.median.recordsPerSecond - 1) * 100).toFixed(0)}%; publishing every result to validation.results costs ${((1 - publishing.median.recordsPerSecond / inProcess.median.recordsPerSecond) * 100).toFixed(0)}% (in-process)`,
  );
  if (!Number.isNaN(os1.median.recordsPerSecond)) {
    const sqliteCpu = one.median.cpu?.workerSecondsPer100k ?? Number.NaN;
    const osCpu = (os1.median.cpu?.workerSecondsPer100k ?? Number.NaN) + (os1.median.cpu?.nodeSecondsPer100k ?? Number.NaN);
    out.push(
      `OpenSearch store: 1 worker at ${(os1.median.recordsPerSecond / one.median.recordsPerSecond).toFixed(2)}x the SQLite rate, ${(osCpu / sqliteCpu).toFixed(2)}x its CPU per record (worker + node); 2 workers at ${(os2.median.recordsPerSecond / os1.median.recordsPerSecond).toFixed(2)}x 1 worker, the node using ${(os2.median.cpu?.nodeCores ?? Number.NaN).toFixed(2)} of ${cpus().length} cores`,
    );
  }
  if (!Number.isNaN(es1.median.recordsPerSecond)) {
    const cpuOf = (m: Measurement): number => (m.cpu?.workerSecondsPer100k ?? Number.NaN) + (m.cpu?.nodeSecondsPer100k ?? Number.NaN);
    out.push(
      `Elasticsearch store: 1 worker at ${(es1.median.recordsPerSecond / one.median.recordsPerSecond).toFixed(2)}x the SQLite rate and ${(es1.median.recordsPerSecond / os1.median.recordsPerSecond).toFixed(2)}x OpenSearch's, ${(cpuOf(es1.median) / cpuOf(os1.median)).toFixed(2)}x OpenSearch's CPU per record (worker + node)`,
    );
  }
  const agreement = jvm.rounds.length === 0 ? null : agreementOf(one.rounds, jvm.rounds);
  if (jvmRuntime !== undefined && agreement !== null) {
    const { jvm: runtime, libraries } = jvmRuntime;
    out.push('');
    out.push(
      `JVM peer: ${runtime.vm}, Java ${runtime.version}, ${JVM_PEER_FLAGS.join(' ')} (${runtime.garbageCollectors.join(', ')}); ${Object.entries(libraries)
        .map(([name, version]) => `${name} ${version}`)
        .join(', ')}`,
    );
    const oneCpu = one.median.cpu?.workerSecondsPer100k ?? Number.NaN;
    if (!Number.isNaN(oneCpu))
      out.push(
        `goal: lagscale no more CPU per record than the JVM peer ${oneCpu <= jvmCpu ? 'met' : 'NOT met'}: 1 worker ${oneCpu.toFixed(2)} s per 100k records, JVM peer ${jvmCpu.toFixed(2)} s (${(oneCpu / jvmCpu).toFixed(2)}x); rate ${(one.median.recordsPerSecond / jvm.median.recordsPerSecond).toFixed(2)}x the JVM peer's`,
      );
    const count = (n: number | undefined): string => (n === undefined ? '-' : n.toLocaleString('en'));
    const { lagscale, peer } = agreement;
    out.push(
      `outcomes, lagscale 1 worker / JVM peer: invalid ${count(lagscale?.invalid)} / ${count(peer.invalid)}, dead letters ${count(lagscale?.deadLetters)} / ${count(peer.deadLetters)}, valid with warnings ${count(lagscale?.warningsOnly)} / ${count(peer.warningsOnly)}, violations per rule (${Object.keys(peer.byRule).length} ids) ${lagscale === undefined ? 'not compared (the 1 worker row did not run)' : agreement.differences.length === 0 ? 'equal' : 'DIFFER'} (made invalid ${count(produced.invalid.length)}, malformed ${count(produced.malformed.length)})`,
    );
    for (const difference of agreement.differences) out.push(`  ${difference}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (agreement !== null && agreement.differences.length > 0)
    throw new Error(
      `the JVM peer's outcomes differ from lagscale's (${agreement.differences.length} differences above): its rules are not the rule set's; fix them`,
    );

  if (RESULTS_FILE !== null) {
    const measuredRows = Object.fromEntries(
      Object.entries({
        rawConsume: raw,
        workers1: one,
        jvmPeer: jvm,
        workers2: two,
        workers1MainThread: mainThread,
        inProcess1: inProcess,
        inProcess1Publishing: publishing,
        openSearch1: os1,
        openSearch2: os2,
        elasticsearch1: es1,
      }).filter(([, row]) => row.rounds.length > 0),
    );
    const result = {
      benchmark: 'validator-throughput',
      date: new Date().toISOString(),
      kafkaVersion: cluster.version,
      ...(ONLY === null ? {} : { only: [...ONLY] }),
      machine: { cores: cpus().length, model: cpus()[0]?.model, note: 'the broker, the workers and the bench share these cores' },
      setup: {
        records: RECORDS,
        partitions: PARTITIONS,
        batchSize: BATCH_SIZE,
        rounds: ROUNDS,
        ruleSet: `${ruleSetDocument.name} v${ruleSetDocument.version} (${ruleSetDocument.rules.length} rules + JSON Schema)`,
        invalid: produced.invalid.length,
        malformed: produced.malformed.length,
        produceSeconds,
      },
      ...measuredRows,
      ...(jvmRuntime === undefined
        ? {}
        : {
            jvmPeerRuntime: {
              ...jvmRuntime,
              heapFlags: JVM_PEER_FLAGS,
              writes:
                'a row per record (key, topic, partition, offset, job, record number, status, violations as JSON) or per dead letter (code, reason, payload), INSERT OR IGNORE on (topic, partition, offset), unique claims, and a progress row, in one transaction per poll; commitSync after it. The lagscale store also keeps the record text, a row per violation, per-rule counts and a text index',
            },
            agreement,
          }),
      ...(os1.rounds.length + os2.rounds.length > 0 ? { openSearchVersion: DEFAULT_OPENSEARCH_VERSION } : {}),
      ...(es1.rounds.length > 0 ? { elasticsearchVersion: DEFAULT_ELASTICSEARCH_VERSION } : {}),
      ratios: finiteOnly({
        workers1CpuOverJvmPeer: (one.median.cpu?.workerSecondsPer100k ?? Number.NaN) / jvmCpu,
        workers1OverJvmPeer: one.median.recordsPerSecond / jvm.median.recordsPerSecond,
        jvmPeerCpuPer100k: jvmCpu,
        openSearch1OverSqlite1: os1.median.recordsPerSecond / one.median.recordsPerSecond,
        openSearch2OverOpenSearch1: os2.median.recordsPerSecond / os1.median.recordsPerSecond,
        openSearch1CpuPer100k: (os1.median.cpu?.workerSecondsPer100k ?? Number.NaN) + (os1.median.cpu?.nodeSecondsPer100k ?? 0),
        sqlite1CpuPer100k: one.median.cpu?.workerSecondsPer100k,
        elasticsearch1OverOpenSearch1: es1.median.recordsPerSecond / os1.median.recordsPerSecond,
        elasticsearch1CpuPer100k: (es1.median.cpu?.workerSecondsPer100k ?? Number.NaN) + (es1.median.cpu?.nodeSecondsPer100k ?? 0),
        workers1OverRaw: one.median.recordsPerSecond / rawRate,
        workers2OverRaw: two.median.recordsPerSecond / rawRate,
        perWorker1: one.median.recordsPerSecond,
        perWorker2: two.median.recordsPerSecond / 2,
        validationThreadGain: one.median.recordsPerSecond / mainThread.median.recordsPerSecond - 1,
        publishCost: 1 - publishing.median.recordsPerSecond / inProcess.median.recordsPerSecond,
      }),
    };
    await mkdir(dirname(RESULTS_FILE), { recursive: true });
    await writeFile(RESULTS_FILE, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${RESULTS_FILE}`);
  }
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
