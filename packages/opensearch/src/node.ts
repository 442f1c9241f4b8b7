import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  asNodeUser,
  consoleLog4jConfig,
  findJava as findJavaFor,
  freePorts,
  giveToNodeUser,
  type LocalSearchNode,
  type LocalSearchNodeOptions,
  linkTree,
  smallNodeJvmFlags,
  superviseNode,
} from '@lagscale/search-node';
import { DEFAULT_OPENSEARCH_VERSION, javaNeededFor, type OpenSearchDistribution, resolveOpenSearch } from './artifacts.js';

export interface OpenSearchLaunchOptions extends LocalSearchNodeOptions {
  /** OpenSearch version; default {@link DEFAULT_OPENSEARCH_VERSION} (runs on Java 17). */
  readonly version?: string;
  /** Extra node settings, written to opensearch.yml. */
  readonly settings?: Readonly<Record<string, string>>;
}

/** A running single-node OpenSearch on loopback. */
export type OpenSearchNode = LocalSearchNode;

/** The Java to run a version with: JAVA_HOME when new enough, else a newer JDK in /usr/lib/jvm. */
export function findJava(version: string): Promise<string> {
  return findJavaFor({ needed: javaNeededFor(version), product: `OpenSearch ${version}` });
}

const LOG4J_CONFIG = consoleLog4jConfig('[%d{ISO8601}][%-5p][%c{1.}] %marker%m%n', 'org.opensearch.deprecation');

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
  const [freeHttp, transportPort] = (await freePorts(2)) as [number, number];
  const httpPort = options.httpPort ?? freeHttp;
  await assembleHome(homeDir, distribution, httpPort, transportPort, options.settings ?? {});
  const heapMb = options.heapMb ?? 512;
  const args = [
    ...smallNodeJvmFlags(heapMb),
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
  const [command, commandArgs] = asNodeUser(java, args);
  return superviseNode({
    product: 'OpenSearch',
    version: distribution.version,
    url: `http://127.0.0.1:${httpPort}`,
    httpPort,
    homeDir,
    temporary,
    consoleLog: join(homeDir, 'logs', 'console.log'),
    heapMb,
    startTimeoutMs: options.startTimeoutMs ?? 180_000,
    progress,
    launch: () => ({ command, args: commandArgs, env: { ...process.env, OPENSEARCH_JAVA_OPTS: '' } }),
  });
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
  // OpenSearch will not run as root: the unprivileged user must own what the node writes.
  await giveToNodeUser(homeDir, writable);
}
