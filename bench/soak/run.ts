/**
 * bench/soak: the whole stack under steady load with bursts for SOAK_SECONDS (default 600), to show
 * that no part of it grows without bound.
 *
 * The stack is the commands a deployment runs, each its own process: a one-node Kafka (started
 * here), `lagscale api` (uploads, the SQLite store), `lagscale exporter` (lag every 2 s),
 * `lagscale autoscale` with the local target running `lagscale worker` processes (1 to
 * MAX_WORKERS, the rate policy). Records go in through the API as NDJSON uploads (0.5% of the lines
 * malformed, dead-lettered by the API), one upload every UPLOAD_EVERY_MS.
 *
 * 1. Capacity, measured first in the same run: uploads back to back for CAPACITY_SECONDS (30),
 *    3 at a time, with the autoscaler at work; capacity = records done (result or dead letter) per
 *    second over the last two thirds of that window: the whole path, API to store.
 * 2. Soak: uploads at 70% of that capacity, and every BURST_EVERY_S a burst of BURST_SECONDS at
 *    150% of capacity; then a drain (bounded) and the accounting: every record uploaded has a
 *    result or a dead letter.
 *
 * Every SAMPLE_EVERY_S the resident set (VmRSS of /proc/<pid>/status) and the heap used (their
 * own /metrics: nodejs_heap_size_used_bytes) of the API, the exporter, the autoscaler and its
 * longest-running worker are sampled. The bound, per process, over the soak phase:
 * - RSS: the least-squares slope over the second half is at most SLOPE_BOUND_MB_PER_MIN, judged
 *   beyond two standard errors of the fit (the collector's sawtooth moves a worker's RSS by tens
 *   of MB from sample to sample; that is noise, not a trend), and the largest RSS of the last
 *   third is at most that of the middle third + MARGIN_MB;
 * - heap used: its floor (lowest value, after collections) in the last third is at most that of
 *   the middle third + HEAP_FLOOR_MARGIN_MB (its peaks are only where the collector ran).
 *
 * Prints the raw samples and the verdict; writes bench/results/soak.json (SOAK_OUT to change).
 *   npm run bench:soak        (env: SOAK_SECONDS, MAX_WORKERS, CAPACITY_SECONDS, SAMPLE_EVERY_S)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePorts, KafkaCluster } from '@lagscale/kafka';
import { SampleOrders, SqliteResultStore, VALIDATION_TOPICS } from '@lagscale/validator';
import { createTopic } from '../../test-support/kafka.js';

const env = (name: string, fallback: number): number => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const SOAK_SECONDS = env('SOAK_SECONDS', 600);
const MAX_WORKERS = env('MAX_WORKERS', 3);
const CAPACITY_SECONDS = env('CAPACITY_SECONDS', 30);
const CAPACITY_UPLOAD_RECORDS = 5000;
const UPLOADS_IN_FLIGHT = 3;
const SAMPLE_EVERY_S = env('SAMPLE_EVERY_S', 5);
const UPLOAD_EVERY_MS = 1000;
const STEADY_SHARE = 0.7;
const BURST_SHARE = 1.5;
const BURST_EVERY_S = env('BURST_EVERY_S', 60);
const BURST_SECONDS = 10;
const PARTITIONS = 8;
/** The bound: RSS may not trend upwards over the second half faster than this... */
const SLOPE_BOUND_MB_PER_MIN = 2;
/** ...and the last third may not peak above the middle third by more than this. */
const MARGIN_MB = 25;
/** Heap used: the last third's lowest value may not be above the middle third's lowest by more than this. */
const HEAP_FLOOR_MARGIN_MB = 10;
const MAIN = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));
const RULE_SET_FILE = fileURLToPath(new URL('../../packages/validator/examples/orders.ruleset.json', import.meta.url));
const OUT = process.env.SOAK_OUT ?? fileURLToPath(new URL('../results/soak.json', import.meta.url));

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** VmRSS of a process in MB, or null when it is gone. */
function rssMb(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** TCP ports `pid` listens on (its socket inodes looked up in /proc/net/tcp). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(match[1] as string);
      } catch {
        // closed meanwhile
      }
    }
    const ports: number[] = [];
    for (const line of readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // st 0A: LISTEN
      if (fields[3] === '0A' && inodes.has(fields[9] as string)) ports.push(Number.parseInt((fields[1] as string).split(':')[1] as string, 16));
    }
    return ports;
  } catch {
    return [];
  }
}

/** Heap used (MB) from a process's own /metrics (`nodejs_heap_size_used_bytes`), or null. */
async function heapUsedMb(port: number): Promise<number | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
    const match = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
    return match ? Number(match[1]) / 1024 / 1024 : null;
  } catch {
    return null;
  }
}

/** Child process ids of `pid` (all its threads' children). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text !== '') children.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return children;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat): the oldest worker has the smallest. */
function startTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

interface Component {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
}

function spawnCommand(name: string, args: string[], port: number, logDir: string): Component {
  const logFile = join(logDir, `${name}.log`);
  const child = spawn(process.execPath, ['--max-semi-space-size=64', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LAGSCALE_LOG_LEVEL: 'warn' },
  });
  // Kept in a file: a crash is explained there.
  const chunks: Buffer[] = [];
  const keep = (chunk: Buffer): void => {
    chunks.push(chunk);
    if (chunks.length > 2000) chunks.splice(0, 1000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', (code, signal) => {
    writeFileSync(logFile, Buffer.concat(chunks));
    if (!stopping) log(`${name} exited unasked (${signal ?? `code ${code}`}); its output: ${logFile}`);
  });
  return { name, child, port };
}

let stopping = false;

async function waitHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not yet
    }
    await sleep(250);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/**
 * NDJSON lines of orders made once (0.5% cut short: the API dead-letters them); an upload takes the
 * next `records` lines, wrapping around. Made up front so that the load generator spends its CPU
 * on sending, not on making records (uniqueness rules hold per job, and a job is smaller than the pool).
 */
class UploadBodies {
  readonly #lines: Buffer[];
  #next = 0;

  constructor(size: number) {
    const orders = new SampleOrders({ seed: 42 });
    this.#lines = Array.from({ length: size }, (_, i) => {
      const json = JSON.stringify(orders.order(i + 1).record);
      return Buffer.from(`${(i + 1) % 200 === 0 ? json.slice(0, json.length >> 1) : json}\n`);
    });
  }

  body(records: number): Buffer {
    if (records > this.#lines.length) throw new RangeError(`an upload of ${records} records is more than the pool of ${this.#lines.length}`);
    const parts: Buffer[] = [];
    for (let i = 0; i < records; i++) {
      parts.push(this.#lines[this.#next] as Buffer);
      this.#next = (this.#next + 1) % this.#lines.length;
    }
    return Buffer.concat(parts);
  }
}

interface UploadedJob {
  readonly id: string;
  readonly records: number;
}

async function upload(api: string, ruleSet: string, bodies: UploadBodies, records: number): Promise<UploadedJob> {
  const response = await fetch(`${api}/api/v1/jobs?ruleSet=${encodeURIComponent(ruleSet)}&format=ndjson`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: bodies.body(records),
  });
  const answer = (await response.json()) as { id?: string; total?: number; message?: string };
  if (response.status !== 201 || answer.id === undefined) throw new Error(`upload answered ${response.status}: ${JSON.stringify(answer)}`);
  return { id: answer.id, records: answer.total ?? records };
}

/** Results + dead letters of the given jobs, read from the store file (as the API would answer them). */
async function doneOf(store: SqliteResultStore, jobs: readonly UploadedJob[]): Promise<number> {
  let done = 0;
  for (const job of jobs) {
    const j = await store.getJob(job.id);
    if (j !== undefined) done += j.results + j.dlq;
  }
  return done;
}

/** Least-squares slope of y over x, with its standard error (how far the noise alone could move it). */
function slope(points: readonly { x: number; y: number }[]): { slope: number; standardError: number } {
  const n = points.length;
  if (n < 3) return { slope: 0, standardError: Number.POSITIVE_INFINITY };
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  if (den === 0) return { slope: 0, standardError: Number.POSITIVE_INFINITY };
  const b = num / den;
  const a = my - b * mx;
  const residuals = points.reduce((s, p) => s + (p.y - (a + b * p.x)) ** 2, 0);
  return { slope: b, standardError: Math.sqrt(residuals / (n - 2) / den) };
}

async function metricValue(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(url)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && line.includes(labels)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

interface MemorySample {
  /** Seconds since the soak phase began (negative: during the capacity measurement). */
  readonly t: number;
  readonly phase: 'capacity' | 'steady' | 'burst' | 'drain';
  readonly rssMb: Record<string, number | null>;
  /** From each process's /metrics; null when it did not answer. */
  readonly heapUsedMb: Record<string, number | null>;
  readonly workerPid: number | null;
  readonly workers: number;
  readonly done: number;
  readonly uploaded: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  log(
    `soak: ${SOAK_SECONDS} s, up to ${MAX_WORKERS} workers, ${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'lagscale-soak-'));
  const storeFile = join(dir, 'validator.db');
  const cluster = await KafkaCluster.start({ heapMb: 512, onProgress: (line) => log(`[kafka] ${line}`) });
  const components: Component[] = [];
  const store = SqliteResultStore.open(storeFile);
  try {
    const brokers = cluster.brokers.join(',');
    await createTopic(cluster.brokers, VALIDATION_TOPICS.requests, PARTITIONS);
    await createTopic(cluster.brokers, VALIDATION_TOPICS.deadLetters, 1);
    const ruleSet = JSON.parse(readFileSync(RULE_SET_FILE, 'utf8')) as { name: string; version: number };
    await store.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet as never, Date.now());

    const [apiPort, exporterPort, autoscalerPort] = (await freePorts(3)) as [number, number, number];
    const config = join(dir, 'lagscale.yaml');
    writeFileSync(
      config,
      [
        'kafka:',
        `  brokers: [${brokers}]`,
        'lag:',
        '  intervalSeconds: 2',
        'autoscaler:',
        '  group: validator',
        '  policy: { name: rate, timeLagSloSeconds: 30 }',
        '  behavior:',
        '    minReplicas: 1',
        `    maxReplicas: ${MAX_WORKERS}`,
        '    scaleDown: { stabilizationWindowSeconds: 60 }',
        '  target:',
        '    type: local',
        `    command: [${[process.execPath, '--max-semi-space-size=64', MAIN, 'worker', '-b', brokers, '--store', storeFile, '--group', 'validator'].map((a) => JSON.stringify(a)).join(', ')}]`,
        '    drainTimeoutSeconds: 30',
        '',
      ].join('\n'),
    );
    components.push(spawnCommand('api', ['api', '-b', brokers, '--store', storeFile, '-p', String(apiPort)], apiPort, dir));
    components.push(spawnCommand('exporter', ['exporter', '-b', brokers, '-p', String(exporterPort), '-i', '2s'], exporterPort, dir));
    components.push(spawnCommand('autoscaler', ['autoscale', '--config', config, '-p', String(autoscalerPort)], autoscalerPort, dir));
    const api = `http://127.0.0.1:${apiPort}`;
    const autoscalerUrl = `http://127.0.0.1:${autoscalerPort}`;
    await waitHttp(`${api}/healthz`);
    await waitHttp(`http://127.0.0.1:${exporterPort}/healthz`);
    await waitHttp(`${autoscalerUrl}/healthz`);
    const autoscalerPid = components[2]?.child.pid as number;
    const workerPids = (): number[] => childrenOf(autoscalerPid).filter((pid) => rssMb(pid) !== null);
    const oldestWorker = (): number | null => {
      const pids = workerPids();
      if (pids.length === 0) return null;
      return pids.sort((a, b) => startTicks(a) - startTicks(b))[0] as number;
    };
    log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s: api ${api}, exporter :${exporterPort}, autoscaler ${autoscalerUrl}`);

    const bodies = new UploadBodies(60_000);
    const jobs: UploadedJob[] = [];
    const samples: MemorySample[] = [];
    let phase: MemorySample['phase'] = 'capacity';
    let soakStart = Date.now();
    const uploaded = (): number => jobs.reduce((s, j) => s + j.records, 0);
    const takeSample = async (): Promise<MemorySample> => {
      const worker = oldestWorker();
      const workerPort = worker === null ? undefined : listeningPorts(worker)[0];
      const heaps = await Promise.all([
        ...components.map(async (c) => [c.name, await heapUsedMb(c.port)] as const),
        (async () => ['worker', workerPort === undefined ? null : await heapUsedMb(workerPort)] as const)(),
      ]);
      const s: MemorySample = {
        t: Math.round((Date.now() - soakStart) / 100) / 10,
        phase,
        rssMb: Object.fromEntries([
          ...components.map((c) => [c.name, c.child.pid === undefined ? null : rssMb(c.child.pid)] as const),
          ['worker', worker === null ? null : rssMb(worker)] as const,
        ]),
        heapUsedMb: Object.fromEntries(heaps),
        workerPid: worker,
        workers: workerPids().length,
        done: await doneOf(store, jobs),
        uploaded: uploaded(),
      };
      samples.push(s);
      log(
        `t=${s.t.toFixed(0).padStart(4)} s ${s.phase.padEnd(8)} workers ${s.workers} uploaded ${s.uploaded} done ${s.done}  RSS MB: ${Object.entries(s.rssMb)
          .map(([k, v]) => `${k} ${v === null ? '-' : v.toFixed(1)}`)
          .join(', ')}; heap used MB: ${Object.entries(s.heapUsedMb)
          .map(([k, v]) => `${k} ${v === null ? '-' : v.toFixed(1)}`)
          .join(', ')}`,
      );
      return s;
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await takeSample().catch((error: Error) => log(`sample failed: ${error.message}`));
        await sleep(SAMPLE_EVERY_S * 1000);
      }
    })();

    // 1. Capacity, end to end: uploads back to back (UPLOADS_IN_FLIGHT at a time) for
    // CAPACITY_SECONDS; the rate of records done (result or dead letter) over its last two thirds,
    // once the autoscaler had time to scale out. Whichever is slower, the API or the workers, sets it.
    soakStart = Date.now();
    const capacityEnd = Date.now() + CAPACITY_SECONDS * 1000;
    let windowStart: { t: number; done: number } | null = null;
    const capacityUploads = (async () => {
      const senders = Array.from({ length: UPLOADS_IN_FLIGHT }, async () => {
        while (Date.now() < capacityEnd) jobs.push(await upload(api, ruleSet.name, bodies, CAPACITY_UPLOAD_RECORDS));
      });
      await Promise.all(senders);
    })();
    await sleep((CAPACITY_SECONDS * 1000) / 3);
    windowStart = { t: performance.now(), done: await doneOf(store, jobs) };
    await capacityUploads;
    const windowEnd = { t: performance.now(), done: await doneOf(store, jobs) };
    const capacity = (windowEnd.done - windowStart.done) / ((windowEnd.t - windowStart.t) / 1000);
    const backlog = uploaded();
    log(
      `capacity: ${capacity.toFixed(0)} records/s done end to end (${backlog} uploaded in ${CAPACITY_SECONDS} s = ${(backlog / CAPACITY_SECONDS).toFixed(0)}/s; ${workerPids().length} workers)`,
    );
    // The capacity phase's backlog is worked off before the soak begins.
    const catchUpDeadline = Date.now() + 300_000;
    while ((await doneOf(store, jobs)) < backlog && Date.now() < catchUpDeadline) await sleep(200);

    // 2. Soak: 70% of capacity, bursts at 150%.
    soakStart = Date.now();
    phase = 'steady';
    const steadyRate = STEADY_SHARE * capacity;
    const burstRate = BURST_SHARE * capacity;
    let uploadFailures = 0;
    const soakEnd = soakStart + SOAK_SECONDS * 1000;
    // One upload a second, sized to the rate; up to UPLOADS_IN_FLIGHT at once, so that one slow
    // answer does not lower the rate (a second that finds them all busy is skipped and counted).
    let inFlight = 0;
    let skipped = 0;
    const pending = new Set<Promise<void>>();
    let nextUpload = Date.now();
    while (Date.now() < soakEnd) {
      const t = (Date.now() - soakStart) / 1000;
      const inBurst = t % BURST_EVERY_S >= BURST_EVERY_S - BURST_SECONDS;
      phase = inBurst ? 'burst' : 'steady';
      const records = Math.max(1, Math.round(((inBurst ? burstRate : steadyRate) * UPLOAD_EVERY_MS) / 1000));
      if (inFlight >= UPLOADS_IN_FLIGHT) skipped++;
      else {
        inFlight++;
        const sent: Promise<void> = upload(api, ruleSet.name, bodies, records)
          .then(
            (job) => {
              jobs.push(job);
            },
            (error: Error) => {
              uploadFailures++;
              log(`upload failed: ${error.message}`);
            },
          )
          .finally(() => {
            inFlight--;
            pending.delete(sent);
          });
        pending.add(sent);
      }
      nextUpload += UPLOAD_EVERY_MS;
      const wait = nextUpload - Date.now();
      if (wait > 0) await sleep(wait);
      else nextUpload = Date.now();
    }
    await Promise.all(pending);
    const soakSeconds = (Date.now() - soakStart) / 1000;

    // 3. Drain and account for every record.
    phase = 'drain';
    const total = uploaded();
    const drainStarted = Date.now();
    let done = await doneOf(store, jobs);
    while (done < total && Date.now() - drainStarted < 180_000) {
      await sleep(500);
      done = await doneOf(store, jobs);
    }
    const drainSeconds = (Date.now() - drainStarted) / 1000;
    sampling = false;
    await sampler;
    const scaleUps = await metricValue(`${autoscalerUrl}/metrics`, 'lagscale_autoscaler_scale_events_total', 'direction="up"');
    const scaleDowns = await metricValue(`${autoscalerUrl}/metrics`, 'lagscale_autoscaler_scale_events_total', 'direction="down"');
    let results = 0;
    let dlq = 0;
    for (const job of jobs) {
      const j = await store.getJob(job.id);
      results += j?.results ?? 0;
      dlq += j?.dlq ?? 0;
    }

    // The verdict, per process, over the soak phase (steady and burst samples).
    const soakSamples = samples.filter((s) => s.phase === 'steady' || s.phase === 'burst');
    const names = [...components.map((c) => c.name), 'worker'];
    const trend = (name: string, metric: 'rssMb' | 'heapUsedMb') => {
      const series = soakSamples.flatMap((s) => {
        const v = s[metric][name];
        // The worker series follows one process: a sample of another pid (the old one was replaced) starts it anew.
        return v === null || v === undefined ? [] : [{ x: s.t / 60, y: v, pid: name === 'worker' ? s.workerPid : null }];
      });
      const lastPid = series[series.length - 1]?.pid ?? null;
      const points = name === 'worker' ? series.filter((p) => p.pid === lastPid) : series;
      const t0 = points[0]?.x ?? 0;
      const t1 = points[points.length - 1]?.x ?? 0;
      const span = t1 - t0;
      const secondHalf = points.filter((p) => p.x >= t0 + span / 2);
      const middle = points.filter((p) => p.x >= t0 + span / 3 && p.x < t0 + (2 * span) / 3);
      const last = points.filter((p) => p.x >= t0 + (2 * span) / 3);
      const max = (ps: typeof points): number => Math.max(...ps.map((p) => p.y));
      const fit = slope(secondHalf);
      const slopeMbPerMin = fit.slope;
      const middleMax = middle.length > 0 ? max(middle) : Number.NaN;
      const lastMax = last.length > 0 ? max(last) : Number.NaN;
      const min = (ps: typeof points): number => Math.min(...ps.map((p) => p.y));
      const middleFloor = middle.length > 0 ? min(middle) : Number.NaN;
      const lastFloor = last.length > 0 ? min(last) : Number.NaN;
      // RSS: no upward slope over the second half, no higher peak at the end. Heap used saws up and
      // down with every collection, so its peaks and slope are noise: a leak shows as a rising floor
      // (the lowest heap after collections), compared between the middle and the last third.
      const held =
        points.length >= 6 &&
        (metric === 'rssMb'
          ? slopeMbPerMin - 2 * fit.standardError <= SLOPE_BOUND_MB_PER_MIN && lastMax <= middleMax + MARGIN_MB
          : lastFloor <= middleFloor + HEAP_FLOOR_MARGIN_MB);
      return {
        process: name,
        samples: points.length,
        firstMb: points[0]?.y ?? null,
        peakMb: points.length > 0 ? max(points) : null,
        middleThirdMaxMb: middleMax,
        lastThirdMaxMb: lastMax,
        middleThirdMinMb: middleFloor,
        lastThirdMinMb: lastFloor,
        secondHalfSlopeMbPerMin: slopeMbPerMin,
        secondHalfSlopeStandardError: fit.standardError,
        held,
      };
    };
    const verdicts = { rss: names.map((name) => trend(name, 'rssMb')), heapUsed: names.map((name) => trend(name, 'heapUsedMb')) };
    const soakUploaded = total - backlog;

    log('');
    log(
      `capacity ${capacity.toFixed(0)} records/s; soak ${soakSeconds.toFixed(0)} s at ${steadyRate.toFixed(0)}/s with ${BURST_SECONDS} s bursts at ${burstRate.toFixed(0)}/s every ${BURST_EVERY_S} s`,
    );
    log(
      `records: uploaded ${total}, results ${results}, DLQ ${dlq}, not done ${total - results - dlq}; upload failures ${uploadFailures}, seconds without a free upload slot ${skipped}; drain ${drainSeconds.toFixed(1)} s`,
    );
    log(`scale events: ${scaleUps} up, ${scaleDowns} down`);
    log(
      `soak uploads: ${soakUploaded} records in ${soakSeconds.toFixed(0)} s = ${(soakUploaded / soakSeconds).toFixed(0)}/s on average (target ${(steadyRate * (1 - BURST_SECONDS / BURST_EVERY_S) + burstRate * (BURST_SECONDS / BURST_EVERY_S)).toFixed(0)}/s)`,
    );
    const table = (what: string, rows: typeof verdicts.rss): void => {
      log(what);
      log('  process      samples  first MB  peak MB  mid-third max/min  last-third max/min  2nd-half slope MB/min (± 1 s.e.)  held');
      for (const v of rows) {
        log(
          `  ${v.process.padEnd(12)} ${String(v.samples).padStart(7)} ${(v.firstMb ?? 0).toFixed(1).padStart(9)} ${(v.peakMb ?? 0).toFixed(1).padStart(8)} ${`${v.middleThirdMaxMb.toFixed(1)}/${v.middleThirdMinMb.toFixed(1)}`.padStart(18)} ${`${v.lastThirdMaxMb.toFixed(1)}/${v.lastThirdMinMb.toFixed(1)}`.padStart(19)} ${`${v.secondHalfSlopeMbPerMin.toFixed(2)} ± ${v.secondHalfSlopeStandardError.toFixed(2)}`.padStart(31)}  ${v.held ? 'yes' : 'NO'}`,
        );
      }
    };
    table(
      `RSS (/proc/<pid>/status VmRSS); bound: 2nd-half slope <= ${SLOPE_BOUND_MB_PER_MIN} MB/min and last-third max <= mid-third max + ${MARGIN_MB} MB`,
      verdicts.rss,
    );
    table(`heap used (nodejs_heap_size_used_bytes on each /metrics); bound: last-third min <= mid-third min + ${HEAP_FLOOR_MARGIN_MB} MB`, verdicts.heapUsed);
    const result = {
      benchmark: 'soak',
      date: new Date().toISOString(),
      machine: { cores: cpus().length, loadAverageAtEnd: loadavg() },
      settings: {
        soakSeconds: SOAK_SECONDS,
        maxWorkers: MAX_WORKERS,
        capacitySeconds: CAPACITY_SECONDS,
        steadyShare: STEADY_SHARE,
        burstShare: BURST_SHARE,
        burstEverySeconds: BURST_EVERY_S,
        burstSeconds: BURST_SECONDS,
        sampleEverySeconds: SAMPLE_EVERY_S,
      },
      capacityRecordsPerSecond: capacity,
      soakSeconds,
      records: {
        uploaded: total,
        inCapacityPhase: backlog,
        uploadedInSoak: soakUploaded,
        results,
        dlq,
        notDone: total - results - dlq,
        uploadFailures,
        secondsSkipped: skipped,
      },
      rates: { steadyTarget: steadyRate, burstTarget: burstRate, soakAverageAchieved: soakUploaded / soakSeconds },
      drainSeconds,
      scaleEvents: { up: scaleUps, down: scaleDowns },
      bound: {
        rss: { secondHalfSlopeMbPerMin: SLOPE_BOUND_MB_PER_MIN, slopeJudgedAt: 'slope - 2 standard errors', lastThirdMaxOverMiddleThirdMaxMb: MARGIN_MB },
        heapUsed: { lastThirdMinOverMiddleThirdMinMb: HEAP_FLOOR_MARGIN_MB },
      },
      verdicts,
      held: [...verdicts.rss, ...verdicts.heapUsed].every((v) => v.held),
      samples,
    };
    await mkdir(dirname(OUT), { recursive: true });
    await writeFile(OUT, `${JSON.stringify(result, null, 2)}\n`);
    log(`${result.held ? 'the bound held for every process' : 'the bound did NOT hold'}; wrote ${OUT}`);
    if (total - results - dlq !== 0) process.exitCode = 1;
  } finally {
    stopping = true;
    for (const c of components.reverse()) {
      c.child.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        if (c.child.exitCode !== null || c.child.signalCode !== null) resolve();
        else {
          const timer = setTimeout(() => c.child.kill('SIGKILL'), 40_000);
          c.child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
        }
      });
    }
    await store.close();
    await cluster.stop();
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
