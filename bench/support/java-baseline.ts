/**
 * Runs bench/lag-collect/java (AdminClientBaseline): Kafka's Java AdminClient repeating a full lag
 * collection cycle in one warm JVM — the "practical floor" the lag engine is measured against.
 * Builds the jar with Maven when its sources changed, caches the runtime classpath in target/.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const JAVA_BASELINE_DIR = fileURLToPath(new URL('../lag-collect/java/', import.meta.url));
const TARGET_DIR = join(JAVA_BASELINE_DIR, 'target');
const JAR = join(TARGET_DIR, 'lag-collect-java-baseline.jar');
const CLASSPATH_FILE = join(TARGET_DIR, 'runtime-classpath.txt');
const MAIN_CLASS = 'dev.lagscale.bench.AdminClientBaseline';

export interface JavaAdminBaselineOptions {
  bootstrap: string;
  iterations: number;
  warmup: number;
  /** Default: every consumer group the cluster lists, listed again in each cycle. */
  groups?: string[];
  /**
   * AdminClient properties over the stock ones, e.g. `{ 'retry.backoff.ms': '1' }`. With stock settings
   * describeConsumerGroups of classic groups waits one retry.backoff.ms (100 ms) per cycle: the 4.x client
   * tries ConsumerGroupDescribe first and retries with DescribeGroups after GROUP_ID_NOT_FOUND.
   */
  adminConfig?: Record<string, string>;
  /** Extra JVM flags, e.g. ['-Xmx512m']. */
  jvmArgs?: string[];
  /** Receives the baseline's per-cycle progress lines (stderr). */
  onProgress?: (line: string) => void;
  /** Whole run, build excluded (default 10 minutes). */
  timeoutMs?: number;
}

export interface JavaAdminBaselineResult {
  samplesMs: number[];
  medianMs: number;
  minMs: number;
  pairs: number;
  lagSum: number;
  heapUsedMb: number;
}

type RunError = Error & { code?: number | string; killed?: boolean; signal?: NodeJS.Signals | null };

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  error: RunError | null;
}

function run(command: string, args: string[], options: { cwd?: string; timeoutMs: number; onStderrLine?: (line: string) => void }): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { cwd: options.cwd, timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const err = error as RunError | null;
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
        error: err,
      });
    });
    const onLine = options.onStderrLine;
    if (onLine && child.stderr) {
      let pending = '';
      child.stderr.on('data', (chunk: Buffer | string) => {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) onLine(line);
      });
    }
  });
}

const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

function tail(text: string, lines = 40): string {
  return text.replace(ANSI_ESCAPE, '').trimEnd().split('\n').slice(-lines).join('\n');
}

function failure(what: string, result: RunResult, hint: string): Error {
  if (result.error?.code === 'ENOENT') return new Error(`${what}: command not found. ${hint}`);
  const reason = result.error?.killed ? 'timed out' : `exited with ${result.code ?? result.error?.signal ?? 'an error'}`;
  const output = tail(`${result.stdout}\n${result.stderr}`);
  return new Error(`${what} ${reason}${output ? `; last output:\n${output}` : ''}`);
}

async function newestSourceMtime(): Promise<number> {
  let newest = (await stat(join(JAVA_BASELINE_DIR, 'pom.xml'))).mtimeMs;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else newest = Math.max(newest, (await stat(path)).mtimeMs);
    }
  };
  await walk(join(JAVA_BASELINE_DIR, 'src'));
  return newest;
}

async function mtimeOr0(path: string): Promise<number> {
  return existsSync(path) ? (await stat(path)).mtimeMs : 0;
}

const MAVEN_HINT = 'Install Maven 3 (e.g. apt-get install maven) and a JDK 17+.';
const MAVEN_FLAGS = ['-q', '-B', '-Dstyle.color=never'];

let prepared: Promise<string> | null = null;

/** Builds the jar if it is missing or older than pom.xml/src, and returns the full runtime classpath. */
export function prepareJavaBaseline(): Promise<string> {
  prepared ??= (async () => {
    const sources = await newestSourceMtime();
    if ((await mtimeOr0(JAR)) <= sources) {
      const built = await run('mvn', [...MAVEN_FLAGS, 'package'], { cwd: JAVA_BASELINE_DIR, timeoutMs: 600_000 });
      if (built.code !== 0) throw failure(`'mvn package' in ${JAVA_BASELINE_DIR}`, built, MAVEN_HINT);
      if (!existsSync(JAR)) throw new Error(`'mvn package' succeeded but ${JAR} is missing`);
    }
    const pom = (await stat(join(JAVA_BASELINE_DIR, 'pom.xml'))).mtimeMs;
    if ((await mtimeOr0(CLASSPATH_FILE)) <= pom) {
      const resolved = await run('mvn', [...MAVEN_FLAGS, 'dependency:build-classpath', '-Dmdep.includeScope=runtime', `-Dmdep.outputFile=${CLASSPATH_FILE}`], {
        cwd: JAVA_BASELINE_DIR,
        timeoutMs: 600_000,
      });
      if (resolved.code !== 0 || !existsSync(CLASSPATH_FILE)) throw failure(`'mvn dependency:build-classpath' in ${JAVA_BASELINE_DIR}`, resolved, MAVEN_HINT);
    }
    const dependencies = (await readFile(CLASSPATH_FILE, 'utf8')).trim();
    return dependencies ? `${JAR}:${dependencies}` : JAR;
  })();
  // A failed build is not cached: the next call tries again.
  prepared.catch(() => {
    prepared = null;
  });
  return prepared;
}

function javaBinary(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Times `iterations` lag collection cycles (after `warmup` untimed ones) with Kafka's Java AdminClient in one JVM. */
export async function runJavaAdminBaseline(opts: JavaAdminBaselineOptions): Promise<JavaAdminBaselineResult> {
  const classpath = await prepareJavaBaseline();
  const args = [
    ...(opts.jvmArgs ?? []),
    '-cp',
    classpath,
    MAIN_CLASS,
    '--bootstrap',
    opts.bootstrap,
    '--iterations',
    String(opts.iterations),
    '--warmup',
    String(opts.warmup),
  ];
  if (opts.groups) args.push('--groups', opts.groups.join(','));
  for (const [key, value] of Object.entries(opts.adminConfig ?? {})) args.push('--admin-config', `${key}=${value}`);
  const java = javaBinary();
  const result = await run(java, args, { timeoutMs: opts.timeoutMs ?? 600_000, ...(opts.onProgress ? { onStderrLine: opts.onProgress } : {}) });
  if (result.code !== 0) throw failure(`Java AdminClient baseline ('${java} ... ${MAIN_CLASS}')`, result, 'Install a JDK 17+ or set JAVA_HOME.');
  const line = result.stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`Java AdminClient baseline printed no JSON result; output:\n${tail(`${result.stdout}\n${result.stderr}`)}`);
  const parsed = JSON.parse(line) as JavaAdminBaselineResult & { tool: string };
  if (parsed.tool !== 'java-adminclient' || !Array.isArray(parsed.samplesMs)) throw new Error(`unexpected Java AdminClient baseline result: ${line}`);
  return {
    samplesMs: parsed.samplesMs,
    medianMs: parsed.medianMs,
    minMs: parsed.minMs,
    pairs: parsed.pairs,
    lagSum: parsed.lagSum,
    heapUsedMb: parsed.heapUsedMb,
  };
}
