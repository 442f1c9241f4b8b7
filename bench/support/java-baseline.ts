/**
 * Runs bench/lag-collect/java (AdminClientBaseline): Kafka's Java AdminClient repeating a full lag
 * collection cycle in one warm JVM — the "practical floor" the lag engine is measured against.
 * Builds the jar with Maven when its sources changed, caches the runtime classpath in target/.
 */
import { fileURLToPath } from 'node:url';
import { commandFailure, JDK_HINT, javaBinary, prepareMavenProject, runCommand, tail } from './maven-project.js';

export const JAVA_BASELINE_DIR = fileURLToPath(new URL('../lag-collect/java/', import.meta.url));
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

/** Builds the jar if it is missing or older than pom.xml/src, and returns the full runtime classpath. */
export function prepareJavaBaseline(): Promise<string> {
  return prepareMavenProject({ dir: JAVA_BASELINE_DIR, jarName: 'lag-collect-java-baseline.jar' });
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
  const result = await runCommand(java, args, { timeoutMs: opts.timeoutMs ?? 600_000, ...(opts.onProgress ? { onStderrLine: opts.onProgress } : {}) });
  if (result.code !== 0) throw commandFailure(`Java AdminClient baseline ('${java} ... ${MAIN_CLASS}')`, result, JDK_HINT);
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
