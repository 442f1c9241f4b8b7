/**
 * The JVM peer of bench/validator-throughput (bench/validator-throughput/java, ValidatorPeer): a
 * plain Kafka Java consumer validating the same records against the same rule set into a SQLite
 * file of its own. Starts it (the jar built with Maven when its sources changed), reads its
 * progress and its outcomes from that file, and stops it with SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { JDK_HINT, javaBinary, prepareMavenProject, tail } from '../support/maven-project.js';

export const JVM_PEER_DIR = fileURLToPath(new URL('./java/', import.meta.url));
const MAIN_CLASS = 'dev.lagscale.bench.ValidatorPeer';
/** The JVM's stock garbage collector with a stated heap. */
export const JVM_PEER_FLAGS = ['-Xmx512m'];

/** What the peer says it runs on, in its first line. */
export interface JvmPeerRuntime {
  readonly jvm: {
    readonly version: string;
    readonly vm: string;
    readonly vendor: string;
    readonly maxHeapMb: number;
    readonly availableProcessors: number;
    readonly flags: readonly string[];
    readonly garbageCollectors: readonly string[];
  };
  /** kafka-clients, json-schema-validator, jackson-databind, sqlite-jdbc, sqlite. */
  readonly libraries: Readonly<Record<string, string>>;
}

export interface JvmPeerOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly group: string;
  readonly batchSize: number;
  /** The SQLite file it creates and writes. */
  readonly database: string;
  readonly ruleSetFile: string;
  /** Receives what it writes to stderr (nothing, unless something goes wrong). */
  readonly onStderrLine?: (line: string) => void;
  /** Until it consumes, build excluded (default 60 s). */
  readonly startTimeoutMs?: number;
}

export interface JvmPeer {
  /** The JVM's own pid (java is started directly): /proc/<pid>/stat counts all its threads. */
  readonly pid: number;
  readonly runtime: JvmPeerRuntime;
  /** Its exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM: it ends its poll, closes the consumer and the database. */
  stop(): Promise<void>;
}

export async function startJvmPeer(options: JvmPeerOptions): Promise<JvmPeer> {
  const classpath = await prepareMavenProject({ dir: JVM_PEER_DIR, jarName: 'validator-jvm-peer.jar' });
  const args = [
    ...JVM_PEER_FLAGS,
    '-cp',
    classpath,
    MAIN_CLASS,
    '--bootstrap',
    options.brokers.join(','),
    '--topic',
    options.topic,
    '--group',
    options.group,
    '--batch-size',
    String(options.batchSize),
    '--database',
    options.database,
    '--rule-set',
    options.ruleSetFile,
  ];
  const child = spawn(javaBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  forEachLine(child.stderr, (line) => {
    stderr = `${stderr}${line}\n`.slice(-8192);
    options.onStderrLine?.(line);
  });
  const runtime = await new Promise<JvmPeerRuntime>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the JVM peer did not start consuming within ${(options.startTimeoutMs ?? 60_000) / 1000} s; stderr:\n${tail(stderr)}`));
    }, options.startTimeoutMs ?? 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`the JVM peer ('${javaBinary()}') did not start: ${error.message}. ${JDK_HINT}`));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the JVM peer exited with ${code} before consuming; stderr:\n${tail(stderr)}`));
    });
    forEachLine(child.stdout, (line) => {
      const event = parseLine(line);
      if (event?.event !== 'consuming') return;
      clearTimeout(timer);
      resolve(event as unknown as JvmPeerRuntime);
    });
  });
  return {
    pid: child.pid as number,
    runtime: { jvm: runtime.jvm, libraries: runtime.libraries },
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function parseLine(line: string): Record<string, unknown> | null {
  if (!line.startsWith('{')) return null;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function forEachLine(stream: ChildProcess['stdout'], onLine: (line: string) => void): void {
  let pending = '';
  stream?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') onLine(line);
  });
}

/** What a validator made of a job's records: the numbers both implementations must agree on. */
export interface ValidationOutcomes {
  readonly results: number;
  readonly invalid: number;
  /** Valid records with warnings. */
  readonly warningsOnly: number;
  readonly deadLetters: number;
  /** Violations kept and the records that have them, per rule id (`schema:<keyword>` for the JSON Schema). */
  readonly byRule: Readonly<Record<string, { readonly violations: number; readonly records: number }>>;
}

/** The peer's SQLite file, read-only, beside the peer writing it (WAL: reads never wait for its batches). */
export class JvmPeerDatabase {
  readonly #db: Database.Database;
  readonly #progress: Database.Statement<[], { results: number; dead_letters: number }>;

  constructor(file: string) {
    this.#db = new Database(file, { readonly: true, fileMustExist: true });
    this.#progress = this.#db.prepare('SELECT results, dead_letters FROM progress WHERE id = 1');
  }

  /** Records with a result or a dead letter, kept by the peer in the transaction of each batch. */
  done(): number {
    const row = this.#progress.get();
    return row === undefined ? 0 : row.results + row.dead_letters;
  }

  outcomes(): ValidationOutcomes {
    const counts = this.#db
      .prepare(
        `SELECT count(*) AS results, coalesce(sum(status = 'invalid'), 0) AS invalid, coalesce(sum(status = 'valid' AND violations <> '[]'), 0) AS warningsOnly,
           (SELECT count(*) FROM dead_letters) AS deadLetters
         FROM results`,
      )
      .get() as { results: number; invalid: number; warningsOnly: number; deadLetters: number };
    const byRule: Record<string, { violations: number; records: number }> = {};
    const rows = this.#db
      .prepare(
        `SELECT json_extract(v.value, '$.ruleId') AS ruleId, count(*) AS violations, count(DISTINCT r.record_key) AS records
         FROM results r, json_each(r.violations) v GROUP BY ruleId ORDER BY ruleId`,
      )
      .all() as { ruleId: string; violations: number; records: number }[];
    for (const row of rows) byRule[row.ruleId] = { violations: row.violations, records: row.records };
    return { ...counts, byRule };
  }

  close(): void {
    this.#db.close();
  }
}

/** Where two validators' outcomes differ, one line each; empty when they agree. */
export function outcomeDifferences(expected: ValidationOutcomes, actual: ValidationOutcomes): string[] {
  const differences: string[] = [];
  for (const key of ['results', 'invalid', 'warningsOnly', 'deadLetters'] as const) {
    if (expected[key] !== actual[key]) differences.push(`${key}: ${expected[key]} vs ${actual[key]}`);
  }
  for (const ruleId of new Set([...Object.keys(expected.byRule), ...Object.keys(actual.byRule)])) {
    const a = expected.byRule[ruleId];
    const b = actual.byRule[ruleId];
    if (a?.violations !== b?.violations || a?.records !== b?.records)
      differences.push(`${ruleId}: ${a?.violations ?? 0} violations in ${a?.records ?? 0} records vs ${b?.violations ?? 0} in ${b?.records ?? 0}`);
  }
  return differences;
}
