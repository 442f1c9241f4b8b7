/**
 * Go peer for the lag-collection benchmark: danielqsj/kafka_exporter, a Prometheus exporter that
 * reads every topic's offsets and every group's committed offsets on each /metrics scrape.
 *
 * The peer is never part of this repository. `buildGoPeer` installs it with the ordinary
 * `go install module@version` into a cache folder outside the repo (~/.cache/lagscale/peers by
 * default) and reuses a binary already there. When it cannot be had it answers
 * `{ unavailable: reason }` instead of throwing, so the benchmark can report the reason and go on.
 * See go-peer.md beside this file for the flags and for what one timed scrape includes.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePorts } from '@lagscale/kafka';

export interface GoPeer {
  readonly name: string;
  readonly version: string;
  readonly binary: string;
}

export interface GoPeerUnavailable {
  readonly unavailable: string;
}

export interface GoPeerTimingOptions {
  /** Comma-separated host:port list of a plaintext, unauthenticated cluster. */
  readonly bootstrap: string;
  /** Timed scrapes; each one is a full collection. */
  readonly scrapes: number;
  /** Untimed scrapes first (broker connections, first metadata, Go runtime warm-up). */
  readonly warmup: number;
  /** Passed as --kafka.version (the Sarama protocol baseline). Default 3.9.0; works with Kafka 3.9 and 4.x brokers. */
  readonly kafkaVersion?: string;
  /** Include __consumer_offsets and other `__` topics in the topic metrics (kafka_exporter's own default). Default false. */
  readonly includeInternalTopics?: boolean;
  /** Passed as --refresh.metadata. Default '0s': every scrape refreshes metadata, as one lagscale collection reads Metadata. */
  readonly refreshMetadata?: string;
  /** More kafka_exporter flags, e.g. ['--group.filter=^bench-']. */
  readonly extraArgs?: readonly string[];
  /** How long to wait for the exporter to connect and serve. Default 60 s. */
  readonly startTimeoutMs?: number;
  /** Timeout of one scrape. Default 120 s. */
  readonly scrapeTimeoutMs?: number;
}

export interface GoPeerTiming {
  readonly samplesMs: number[];
  readonly medianMs: number;
  readonly minMs: number;
  /** `kafka_consumergroup_lag{` lines in the last timed scrape: one per group and partition with a committed offset. */
  readonly lagSeries: number;
}

const NAME = 'kafka_exporter';
const MODULE = 'github.com/danielqsj/kafka_exporter';
/** Tried in this order; the first that installs wins. */
const VERSIONS = ['v1.9.0', 'latest'];
const INSTALL_TIMEOUT_MS = 10 * 60_000;

/** Cache root; LAGSCALE_PEER_CACHE overrides ~/.cache/lagscale/peers. */
export function peerCacheDir(): string {
  return process.env.LAGSCALE_PEER_CACHE ?? join(homedir(), '.cache', 'lagscale', 'peers');
}

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly error?: string;
}

function run(file: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: options.env ?? process.env, cwd: options.cwd, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const err = error as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        if (!err) return resolve({ code: 0, stdout, stderr });
        const code = typeof err.code === 'number' ? err.code : null;
        const reason = err.killed
          ? `timed out after ${options.timeoutMs ?? 60_000} ms`
          : typeof err.code === 'string'
            ? `${err.code}: ${err.message}`
            : undefined;
        resolve({ code, stdout, stderr, ...(reason ? { error: reason } : {}) });
      },
    );
  });
}

/** The lines of go's output worth quoting in a reason: errors, not the 'go: downloading' chatter. */
function goErrorText(result: RunResult): string {
  const lines = `${result.stderr}\n${result.stdout}`
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '' && !l.startsWith('go: downloading') && !l.startsWith('go: finding'));
  // Name no registry host in a reason that may end up in a results file: keep only the path.
  const text = lines
    .slice(-6)
    .join(' | ')
    .replace(/https?:\/\/[^/\s]+/g, '$GOPROXY');
  return result.error ? `${result.error}${text ? `; ${text}` : ''}` : text || `exit code ${result.code}`;
}

/** Which kafka_exporter a binary is: the module version `go version -m` records, else what `--version` prints. */
async function identify(binary: string, goAvailable: boolean): Promise<GoPeer | GoPeerUnavailable> {
  const printed = await run(binary, ['--version'], { timeoutMs: 15_000 });
  const text = `${printed.stdout}\n${printed.stderr}`;
  const match = /kafka_exporter, version (\S+)/.exec(text);
  if (!match) {
    return { unavailable: `${binary} does not look like kafka_exporter ('--version' printed: ${text.trim().split('\n')[0] || goErrorText(printed)})` };
  }
  let version = match[1] ?? 'unknown';
  if (goAvailable) {
    const info = await run('go', ['version', '-m', binary], { timeoutMs: 15_000 });
    const mod = /^\s*mod\s+(\S+)\s+(\S+)/m.exec(info.stdout);
    if (mod?.[1] === MODULE && mod[2] && mod[2] !== '(devel)') version = mod[2];
  }
  if (version === '' || version === '(devel)') version = 'unknown';
  return { name: NAME, version, binary };
}

/**
 * Installs kafka_exporter with `go install` into <cache>/bin, once; reuses the binary when present.
 * LAGSCALE_GO_PEER_BIN points at another kafka_exporter binary to use instead.
 */
export async function buildGoPeer(onProgress?: (line: string) => void): Promise<GoPeer | GoPeerUnavailable> {
  const progress = onProgress ?? (() => {});
  const goCheck = await run('go', ['version'], { timeoutMs: 30_000 });
  const goAvailable = goCheck.code === 0;

  const override = process.env.LAGSCALE_GO_PEER_BIN;
  if (override) {
    if (!existsSync(override)) return { unavailable: `LAGSCALE_GO_PEER_BIN=${override} does not exist` };
    progress(`go peer: using LAGSCALE_GO_PEER_BIN=${override}`);
    return identify(override, goAvailable);
  }

  const binDir = join(peerCacheDir(), 'bin');
  const binary = join(binDir, NAME);
  if (existsSync(binary)) {
    progress(`go peer: reusing ${binary}`);
    return identify(binary, goAvailable);
  }

  if (!goAvailable) return { unavailable: `the go command is not available (${goErrorText(goCheck)}), so ${MODULE} cannot be installed` };
  progress(`go peer: ${goCheck.stdout.trim()}`);
  await mkdir(binDir, { recursive: true });

  // GOTOOLCHAIN=auto lets go fetch a newer toolchain if the module asks for one; an explicit setting wins.
  const env = { ...process.env, GOBIN: binDir, GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'auto' };
  const failures: string[] = [];
  for (const version of VERSIONS) {
    progress(`go peer: go install ${MODULE}@${version}`);
    const installed = await run('go', ['install', `${MODULE}@${version}`], { env, timeoutMs: INSTALL_TIMEOUT_MS });
    if (installed.code === 0 && existsSync(binary)) return identify(binary, true);
    const reason = goErrorText(installed);
    failures.push(`go install ${MODULE}@${version}: ${reason}`);
    progress(`go peer: failed: ${reason}`);
    // go install refuses a module whose go.mod has replace/exclude directives; a throwaway main module
    // that requires it builds the same package (without those directives applied).
    if (/replace|exclude/.test(installed.stderr)) {
      const built = await buildInThrowawayModule(version, binary, env, progress);
      if (built === true) return identify(binary, true);
      failures.push(built);
    }
  }
  return { unavailable: failures.join(' || ') };
}

async function buildInThrowawayModule(version: string, binary: string, env: NodeJS.ProcessEnv, progress: (line: string) => void): Promise<true | string> {
  const dir = join(peerCacheDir(), 'build', NAME);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'go.mod'), 'module lagscale.local/peerbuild\n\ngo 1.22\n');
  progress(`go peer: building ${MODULE}@${version} in a throwaway module at ${dir}`);
  const got = await run('go', ['get', `${MODULE}@${version}`], { env, cwd: dir, timeoutMs: INSTALL_TIMEOUT_MS });
  if (got.code !== 0) return `go get ${MODULE}@${version} in ${dir}: ${goErrorText(got)}`;
  const built = await run('go', ['build', '-o', binary, MODULE], { env, cwd: dir, timeoutMs: INSTALL_TIMEOUT_MS });
  if (built.code !== 0 || !existsSync(binary)) return `go build ${MODULE} in ${dir}: ${goErrorText(built)}`;
  return true;
}

async function freePort(): Promise<number> {
  return ((await freePorts(1)) as [number])[0];
}

function get(url: string, agent: http.Agent, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** klog error and fatal lines: 'E1125 20:17:49.814582 ...' */
const KLOG_ERROR = /^[EF]\d{4} /;

/**
 * Starts the peer on a free loopback port against `bootstrap`, waits until it serves, scrapes
 * /metrics `warmup` times untimed and `scrapes` times timed (one at a time), and stops it.
 * Throws if the exporter exits, never serves, answers non-200, or logs a collection error
 * during the timed scrapes (a scrape that skipped work would look faster than it is).
 */
export async function timeGoPeer(peer: GoPeer, opts: GoPeerTimingOptions): Promise<GoPeerTiming> {
  const port = await freePort();
  const brokers = opts.bootstrap
    .split(',')
    .map((b) => b.trim().replace(/^[A-Za-z_]+:\/\//, ''))
    .filter((b) => b !== '');
  if (brokers.length === 0) throw new Error('timeGoPeer: empty bootstrap');
  const args = [
    ...brokers.map((b) => `--kafka.server=${b}`),
    `--web.listen-address=127.0.0.1:${port}`,
    '--web.telemetry-path=/metrics',
    `--kafka.version=${opts.kafkaVersion ?? '3.9.0'}`,
    `--refresh.metadata=${opts.refreshMetadata ?? '0s'}`,
    '--offset.show-all',
    ...(opts.includeInternalTopics ? [] : ['--topic.exclude=^__.*']),
    ...(opts.extraArgs ?? []),
  ];

  const child = spawn(peer.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  let errorLines: string[] = [];
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const onLine = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (KLOG_ERROR.test(line)) errorLines.push(line);
    }
  };
  child.stdout.on('data', onLine);
  child.stderr.on('data', onLine);
  const exit = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.on('error', (error) => {
      tail.push(String(error));
      exited = { code: null, signal: null };
      resolve();
    });
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const base = `http://127.0.0.1:${port}`;
  const logTail = () => tail.slice(-10).join('\n');
  try {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
    for (;;) {
      if (exited) throw new Error(`${peer.name} exited before serving (${JSON.stringify(exited)}):\n${logTail()}`);
      try {
        const landing = await get(`${base}/`, agent, 2_000);
        if (landing.status === 200) break;
      } catch {
        // not listening yet: it connects to Kafka before it opens its port
      }
      if (Date.now() > deadline) throw new Error(`${peer.name} did not serve on ${base} within ${opts.startTimeoutMs ?? 60_000} ms:\n${logTail()}`);
      await sleep(100);
    }

    const scrapeTimeout = opts.scrapeTimeoutMs ?? 120_000;
    const scrape = async () => {
      if (exited) throw new Error(`${peer.name} exited (${JSON.stringify(exited)}):\n${logTail()}`);
      const started = performance.now();
      const response = await get(`${base}/metrics`, agent, scrapeTimeout);
      const ms = performance.now() - started;
      if (response.status !== 200) throw new Error(`${peer.name} /metrics answered ${response.status}: ${response.body.slice(0, 300)}`);
      return { ms, body: response.body };
    };

    for (let i = 0; i < opts.warmup; i++) await scrape();
    errorLines = [];
    const samplesMs: number[] = [];
    let lagSeries = 0;
    for (let i = 0; i < opts.scrapes; i++) {
      const { ms, body } = await scrape();
      samplesMs.push(ms);
      lagSeries = body.split('\n').filter((line) => line.startsWith('kafka_consumergroup_lag{')).length;
    }
    if (errorLines.length > 0) {
      throw new Error(`${peer.name} logged ${errorLines.length} error line(s) during the timed scrapes, e.g.:\n${errorLines.slice(0, 5).join('\n')}`);
    }
    return { samplesMs, medianMs: median(samplesMs), minMs: samplesMs.length ? Math.min(...samplesMs) : Number.NaN, lagSeries };
  } finally {
    agent.destroy();
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    }
    process.off('exit', killOnExit);
  }
}
