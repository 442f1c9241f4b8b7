import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { chown, link, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { DEFAULT_OPENSEARCH_VERSION, javaNeededFor, type OpenSearchDistribution, resolveOpenSearch } from './artifacts.js';

export interface OpenSearchLaunchOptions {
  /** OpenSearch version; default {@link DEFAULT_OPENSEARCH_VERSION} (runs on Java 17). */
  readonly version?: string;
  readonly cacheDir?: string;
  /** Keep the node's home (data, logs) here across runs; default: a temporary folder removed on stop. */
  readonly dataDir?: string;
  /** Fixed HTTP port; default: a free one. */
  readonly httpPort?: number;
  /** Heap in MB (default 512: enough for the validator's indices in tests and demos). */
  readonly heapMb?: number;
  /** Extra node settings written to opensearch.yml, e.g. `{ 'indices.memory.index_buffer_size': '20%' }`. */
  readonly settings?: Readonly<Record<string, string>>;
  readonly onProgress?: (line: string) => void;
  /** How long to wait for the node to answer yellow health; default 180 s (a busy 2-core machine). */
  readonly startTimeoutMs?: number;
}

/** A running single-node OpenSearch on loopback. */
export interface OpenSearchNode {
  readonly url: string;
  readonly httpPort: number;
  readonly version: string;
  /** Process id of the running JVM (changes on restart). */
  readonly pid: number;
  /** The node's home: config/, data/, logs/. */
  readonly homeDir: string;
  /** SIGTERM, wait, then SIGKILL; removes a temporary home. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; the home stays for `start()`/`restart()`. */
  kill(): Promise<void>;
  /** Starts the node again on the same ports and data after `kill()` or `stop({ keepHome })`. */
  start(): Promise<void>;
  /** Graceful stop and start on the same ports and data. */
  restart(): Promise<void>;
  /** SIGSTOP: the node keeps its sockets but answers nothing (a hung node). */
  pause(): void;
  resume(): void;
  /** The last lines of the node's console log, for error messages. */
  logTail(lines?: number): string;
}

/** The uid a node runs as when lagscale runs as root: OpenSearch refuses to run as root. */
const UNPRIVILEGED_ID = 65534;

/** Free loopback ports (free when asked: a port can be taken again before use). */
async function freePorts(count: 2): Promise<[number, number]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    const [first, second] = await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
          }),
      ),
    );
    return [first ?? 0, second ?? 0];
  } finally {
    for (const server of servers) server.close();
  }
}

/** The Java to run a version with: JAVA_HOME when new enough, else a newer JDK in /usr/lib/jvm. */
export async function findJava(version: string): Promise<string> {
  const needed = javaNeededFor(version);
  const candidates = [process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java'];
  if (existsSync('/usr/lib/jvm')) {
    for (const entry of readdirSync('/usr/lib/jvm').sort().reverse()) candidates.push(join('/usr/lib/jvm', entry, 'bin', 'java'));
  }
  const seen: string[] = [];
  for (const java of candidates) {
    const major = await javaMajor(java);
    if (major === null) continue;
    seen.push(`${java} (${major})`);
    if (major >= needed) return java;
  }
  throw new Error(
    `OpenSearch ${version} needs Java ${needed} or newer; found ${seen.length ? seen.join(', ') : 'no Java'}. Install a JDK ${needed}+ or set JAVA_HOME to one.`,
  );
}

async function javaMajor(java: string): Promise<number | null> {
  try {
    const result = await promisify(execFile)(java, ['-version']);
    const match = /version "(\d+)(?:\.(\d+))?/.exec(`${result.stderr}${result.stdout}`);
    if (!match) return null;
    return match[1] === '1' ? Number(match[2]) : Number(match[1]);
  } catch {
    return null;
  }
}

const LOG4J_CONFIG = [
  'status = error',
  'appender.console.type = Console',
  'appender.console.name = console',
  'appender.console.layout.type = PatternLayout',
  'appender.console.layout.pattern = [%d{ISO8601}][%-5p][%c{1.}] %marker%m%n',
  'rootLogger.level = info',
  'rootLogger.appenderRef.console.ref = console',
  // Deprecation warnings of every request would bury what matters.
  'logger.deprecation.name = org.opensearch.deprecation',
  'logger.deprecation.level = error',
  '',
].join('\n');

/** Hard-links a resolved folder's files into `to` (copies them when the cache is on another file system). */
async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) await linkTree(source, target);
    else if (!existsSync(target)) {
      try {
        await link(source, target);
      } catch {
        await writeFile(target, readFileSync(source));
      }
    }
  }
}

/**
 * Starts a single-node OpenSearch on 127.0.0.1 from the per-user cache (resolving it with Maven
 * the first time) and waits until it answers yellow health.
 */
export async function startOpenSearchNode(options: OpenSearchLaunchOptions = {}): Promise<OpenSearchNode> {
  const progress = options.onProgress ?? (() => {});
  const distribution = await resolveOpenSearch({ version: options.version, cacheDir: options.cacheDir, onProgress: progress });
  const java = await findJava(distribution.version);
  const temporary = options.dataDir === undefined;
  const homeDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'lagscale-opensearch-')));
  const [freeHttp, transportPort] = await freePorts(2);
  const httpPort = options.httpPort ?? freeHttp;
  await assembleHome(homeDir, distribution, httpPort, transportPort, options.settings ?? {});
  const heapMb = options.heapMb ?? 512;
  const url = `http://127.0.0.1:${httpPort}`;
  const consoleLog = join(homeDir, 'logs', 'console.log');
  const timeoutMs = options.startTimeoutMs ?? 180_000;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const logTail = (lines = 40): string => {
    try {
      return readFileSync(consoleLog, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no console log)';
    }
  };

  const launch = async (): Promise<void> => {
    const started = Date.now();
    const out = openSync(consoleLog, 'a');
    const args = [
      `-Xms${heapMb}m`,
      `-Xmx${heapMb}m`,
      // A small node: serial GC and the C1 compiler start fastest and use least memory on 2 cores.
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Xss1m',
      '-Djava.awt.headless=true',
      '-Dfile.encoding=UTF-8',
      '-Djna.nosys=true',
      '-Dio.netty.noUnsafe=true',
      '-Dio.netty.noKeySetOptimization=true',
      '-Dio.netty.recycler.maxCapacityPerThread=0',
      '-Dlog4j.shutdownHookEnabled=false',
      '-Dlog4j2.disable.jmx=true',
      '-Djava.security.manager=allow',
      `-Djava.io.tmpdir=${join(homeDir, 'tmp')}`,
      `-Dopensearch.path.home=${homeDir}`,
      `-Dopensearch.path.conf=${join(homeDir, 'config')}`,
      '-Dopensearch.distribution.type=tar',
      '-Dopensearch.bundled_jdk=false',
      '-cp',
      `${join(homeDir, 'lib')}/*`,
      'org.opensearch.bootstrap.OpenSearch',
    ];
    const asRoot = process.getuid?.() === 0;
    const [command, commandArgs] = asRoot
      ? ['setpriv', [`--reuid=${UNPRIVILEGED_ID}`, `--regid=${UNPRIVILEGED_ID}`, '--clear-groups', java, ...args]]
      : [java, args];
    const spawned = spawn(command, commandArgs, { cwd: homeDir, stdio: ['ignore', out, out], env: { ...process.env, OPENSEARCH_JAVA_OPTS: '' } });
    closeSync(out);
    child = spawned;
    let exitCode: number | null | undefined;
    exited = new Promise((resolve) => {
      spawned.once('exit', (code, signal) => {
        exitCode = code ?? (signal ? -1 : null);
        resolve();
      });
      spawned.once('error', () => {
        exitCode = -2;
        resolve();
      });
    });
    progress(`OpenSearch ${distribution.version} starting on ${url} (pid ${spawned.pid}, heap ${heapMb} MB)`);
    for (;;) {
      if (exitCode !== undefined) {
        throw new Error(`OpenSearch ${distribution.version} exited (code ${exitCode}) before it was ready. Its log:\n${logTail()}`);
      }
      if (Date.now() - started > timeoutMs) {
        spawned.kill('SIGKILL');
        throw new Error(`OpenSearch did not answer yellow health on ${url} within ${timeoutMs / 1000}s. Its log:\n${logTail()}`);
      }
      if (await healthy(url)) break;
      await sleep(250);
    }
    progress(`OpenSearch ready on ${url} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  };

  const signalAndWait = async (signal: NodeJS.Signals, graceMs: number): Promise<void> => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    running.kill(signal);
    const grace = new AbortController();
    const done = await Promise.race([exited.then(() => true), sleep(graceMs, false, { signal: grace.signal }).catch(() => false)]);
    grace.abort();
    if (!done) {
      running.kill('SIGKILL');
      await exited;
    }
  };

  try {
    await launch();
  } catch (error) {
    await signalAndWait('SIGKILL', 0);
    if (temporary) await rm(homeDir, { recursive: true, force: true });
    throw error;
  }

  return {
    url,
    httpPort,
    version: distribution.version,
    get pid() {
      return child?.pid ?? -1;
    },
    homeDir,
    async stop() {
      if (child?.signalCode === 'SIGSTOP') child.kill('SIGCONT');
      await signalAndWait('SIGTERM', 20_000);
      if (temporary) await rm(homeDir, { recursive: true, force: true });
    },
    kill: () => signalAndWait('SIGKILL', 0),
    start: launch,
    async restart() {
      await signalAndWait('SIGTERM', 20_000);
      await launch();
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    logTail,
  };
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/_cluster/health?wait_for_status=yellow&timeout=1s`, { signal: AbortSignal.timeout(3000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** The node's home: the cached jars linked in, a generated config, and folders it may write. */
async function assembleHome(
  homeDir: string,
  distribution: OpenSearchDistribution,
  httpPort: number,
  transportPort: number,
  settings: Readonly<Record<string, string>>,
): Promise<void> {
  await linkTree(distribution.libDir, join(homeDir, 'lib'));
  await linkTree(distribution.modulesDir, join(homeDir, 'modules'));
  const writable = ['config', 'data', 'logs', 'tmp', 'plugins'].map((name) => join(homeDir, name));
  for (const dir of writable) await mkdir(dir, { recursive: true });
  const config: Record<string, string> = {
    'cluster.name': `lagscale-${randomBytes(4).toString('hex')}`,
    'node.name': 'lagscale-node-0',
    'discovery.type': 'single-node',
    'network.host': '127.0.0.1',
    'http.port': String(httpPort),
    'transport.port': String(transportPort),
    'path.data': join(homeDir, 'data'),
    'path.logs': join(homeDir, 'logs'),
    // Tests fill small disks; the store's own outage handling is what they exercise.
    'cluster.routing.allocation.disk.threshold_enabled': 'false',
    ...settings,
  };
  await writeFile(
    join(homeDir, 'config', 'opensearch.yml'),
    `${Object.entries(config)
      .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
      .join('\n')}\n`,
  );
  await writeFile(join(homeDir, 'config', 'log4j2.properties'), LOG4J_CONFIG);
  if (process.getuid?.() === 0) {
    // OpenSearch will not run as root: the unprivileged user must own what the node writes.
    await chown(homeDir, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
    for (const dir of writable) await chownTree(dir);
  }
}

async function chownTree(dir: string): Promise<void> {
  await chown(dir, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path);
    else await chown(path, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
  }
}
