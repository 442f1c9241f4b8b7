/**
 * Kafka's own `kafka-consumer-groups --describe`, run from the broker's jars, and a parser of its table.
 * Tests use it as the reference for lag numbers; benchmarks use it as the "JVM tool, cold start" baseline.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export const CONSUMER_GROUP_COMMAND_CLASS = 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand';

/**
 * JVM flags of Kafka's `kafka-run-class.sh` for command-line tools (default KAFKA_HEAP_OPTS and
 * KAFKA_JVM_PERFORMANCE_OPTS), so that timings match what an operator running the script pays.
 */
export const KAFKA_TOOL_JVM_ARGS: readonly string[] = [
  '-Xmx256M',
  '-server',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:InitiatingHeapOccupancyPercent=35',
  '-XX:+ExplicitGCInvokesConcurrent',
  '-Djava.awt.headless=true',
];

export interface ConsumerGroupsCommandResult {
  stdout: string;
  stderr: string;
  /** Wall time from spawning the JVM to its exit. */
  ms: number;
  code: number;
}

export interface ConsumerGroupsCommandOptions {
  /** Kill the JVM after this long (default 120 s); the result then has code 124. */
  timeoutMs?: number;
  /** Replaces {@link KAFKA_TOOL_JVM_ARGS}. */
  jvmArgs?: readonly string[];
}

/** One row of the `--describe` offsets table; `-` in the table becomes null. */
export interface ConsumerGroupRow {
  group: string;
  topic: string;
  partition: number;
  currentOffset: number | null;
  logEndOffset: number | null;
  lag: number | null;
  consumerId: string | null;
  host: string | null;
  clientId: string | null;
}

function javaBinary(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/**
 * Runs `java -cp "<libDir>/*" ConsumerGroupCommand --bootstrap-server <bootstrap> ...args`.
 * Resolves with the exit code rather than throwing on a non-zero exit (the tool exits 1 for a
 * missing group, for example); rejects only when Java itself cannot be started.
 * SLF4J/log4j start-up noise lands in stderr.
 */
export function runConsumerGroupsCommand(
  libDir: string,
  bootstrap: string,
  args: string[],
  options: ConsumerGroupsCommandOptions = {},
): Promise<ConsumerGroupsCommandResult> {
  return runKafkaTool(libDir, CONSUMER_GROUP_COMMAND_CLASS, ['--bootstrap-server', bootstrap, ...args], options);
}

/** Runs one of Kafka's command-line tools by its class, from the broker's jars (see runConsumerGroupsCommand). */
export function runKafkaTool(
  libDir: string,
  className: string,
  args: readonly string[],
  options: ConsumerGroupsCommandOptions = {},
): Promise<ConsumerGroupsCommandResult> {
  const java = javaBinary();
  const argv = [...(options.jvmArgs ?? KAFKA_TOOL_JVM_ARGS), '-cp', `${libDir}/*`, className, ...args];
  const timeoutMs = options.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(java, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not run '${java}' for ${className}: ${error.message}. Install a JDK (17 or newer) or set JAVA_HOME.`));
    });
    child.once('close', (code, signal) => {
      const ms = performance.now() - started;
      clearTimeout(timer);
      let err = Buffer.concat(stderr).toString('utf8');
      if (timedOut) err += `\n(killed after ${timeoutMs} ms)`;
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: err,
        ms,
        code: timedOut ? 124 : (code ?? (signal ? 128 : 1)),
      });
    });
  });
}

const HEADER_KEYS: Record<string, keyof ConsumerGroupRow> = {
  GROUP: 'group',
  TOPIC: 'topic',
  PARTITION: 'partition',
  'CURRENT-OFFSET': 'currentOffset',
  'LOG-END-OFFSET': 'logEndOffset',
  LAG: 'lag',
  'CONSUMER-ID': 'consumerId',
  HOST: 'host',
  'CLIENT-ID': 'clientId',
};

interface Column {
  name: string;
  start: number;
}

function headerColumns(line: string): Column[] {
  const columns: Column[] = [];
  for (const match of line.matchAll(/\S+/g)) columns.push({ name: match[0], start: match.index });
  return columns;
}

/** Cells of one table line: by whitespace when the count fits the header, else by the header's column starts. */
function cells(line: string, columns: Column[]): string[] {
  const tokens = line.trim().split(/\s+/);
  if (tokens.length === columns.length) return tokens;
  return columns.map((column, i) => {
    const next = columns[i + 1];
    return line.slice(column.start, next ? next.start : undefined).trim();
  });
}

function nullable(cell: string | undefined): string | null {
  return cell === undefined || cell === '' || cell === '-' ? null : cell;
}

function offset(cell: string | undefined, column: string, line: string): number | null {
  const text = nullable(cell);
  if (text === null) return null;
  const value = Number(text);
  if (!Number.isInteger(value)) throw new Error(`unexpected ${column} '${text}' in consumer-groups output line: ${line}`);
  return value;
}

/**
 * Parses the offsets table of `kafka-consumer-groups --describe` (one group, several `--group`s or
 * `--all-groups`). Each group's table starts with a header line beginning with GROUP and runs to the
 * next blank line; notes such as "Consumer group 'x' has no active members." are skipped. Columns are
 * found by header name, so extra columns (e.g. `--verbose`'s LEADER-EPOCH) are tolerated.
 *
 * Rows of members that hold no partition (TOPIC and PARTITION both `-`) are left out: they carry no
 * offsets. Offsets are JS numbers (exact up to 2^53).
 */
export function parseDescribeOutput(stdout: string): ConsumerGroupRow[] {
  const rows: ConsumerGroupRow[] = [];
  let columns: Column[] | null = null;
  for (const raw of stdout.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (line.trim() === '') {
      columns = null;
      continue;
    }
    const trimmed = line.trimStart();
    if (/^GROUP\s+TOPIC\s/.test(trimmed)) {
      columns = headerColumns(line);
      for (const required of ['GROUP', 'TOPIC', 'PARTITION']) {
        if (!columns.some((c) => c.name === required)) throw new Error(`consumer-groups header lacks ${required}: ${line}`);
      }
      continue;
    }
    if (columns === null) continue;
    if (/^(Consumer group '.*' (has no active members|does not exist|is rebalancing)|Warning:|Error:|Note:)/.test(trimmed)) continue;

    const values = cells(line, columns);
    const byKey: Partial<Record<keyof ConsumerGroupRow, string>> = {};
    columns.forEach((column, i) => {
      const key = HEADER_KEYS[column.name];
      if (key) byKey[key] = values[i];
    });
    const topic = nullable(byKey.topic);
    const partitionCell = nullable(byKey.partition);
    if (topic === null && partitionCell === null) continue;
    const group = byKey.group;
    const partition = offset(partitionCell ?? undefined, 'PARTITION', line);
    if (!group || topic === null || partition === null) throw new Error(`cannot parse consumer-groups output line: ${line}`);
    rows.push({
      group,
      topic,
      partition,
      currentOffset: offset(byKey.currentOffset, 'CURRENT-OFFSET', line),
      logEndOffset: offset(byKey.logEndOffset, 'LOG-END-OFFSET', line),
      lag: offset(byKey.lag, 'LAG', line),
      consumerId: nullable(byKey.consumerId),
      host: nullable(byKey.host),
      clientId: nullable(byKey.clientId),
    });
  }
  return rows;
}
