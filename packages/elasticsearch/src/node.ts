import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  asNodeUser,
  consoleLog4jConfig,
  freePorts,
  giveToNodeUser,
  javaMajor,
  type LocalSearchNode,
  type LocalSearchNodeOptions,
  linkTree,
  smallNodeJvmFlags,
  superviseNode,
} from '@lagscale/search-node';
import { DEFAULT_ELASTICSEARCH_VERSION, type ElasticsearchDistribution, findElasticsearchJava, resolveElasticsearch } from './artifacts.js';
import { SERVER_READY_MARKER, SERVER_SHUTDOWN_MARKER, serializeServerArgs } from './server-args.js';
import { javaNeededFor } from './stand-ins.js';

export interface ElasticsearchLaunchOptions extends LocalSearchNodeOptions {
  /** Elasticsearch version; default {@link DEFAULT_ELASTICSEARCH_VERSION} (8.x on Java 17; 9.x needs Java 21+). */
  readonly version?: string;
  /** The JDK to run the node with (its home folder); default: `JAVA_HOME`, `java` on PATH or /usr/lib/jvm, the first new enough. */
  readonly javaHome?: string;
  /** Extra node settings, written into the start-up arguments (the server reads no elasticsearch.yml). */
  readonly settings?: Readonly<Record<string, string>>;
}

/** A running single-node Elasticsearch on loopback. */
export type ElasticsearchNode = LocalSearchNode & { readonly java: string };

const LOG4J_CONFIG = consoleLog4jConfig('[%d{ISO8601}][%-5p][%c{1.}] [%node_name]%marker %m%n', 'org.elasticsearch.deprecation');

/**
 * Starts a single-node Elasticsearch on 127.0.0.1 from the per-user cache (resolving it with
 * Maven the first time): the server runs from the module path as the distribution's launcher
 * starts it, its settings written on its stdin, and is ready when it has written its ready byte on
 * stderr and answers yellow health. Stopping writes the shutdown byte; if this process dies, the pipe closes and the node
 * stops by itself.
 */
export async function startElasticsearchNode(options: ElasticsearchLaunchOptions = {}): Promise<ElasticsearchNode> {
  const progress = options.onProgress ?? (() => {});
  const version = options.version ?? DEFAULT_ELASTICSEARCH_VERSION;
  const java = await findElasticsearchJava(version, options.javaHome);
  const distribution = await resolveElasticsearch({
    version,
    onProgress: progress,
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
    ...(options.javaHome === undefined ? {} : { javaHome: options.javaHome }),
  });
  const temporary = options.dataDir === undefined;
  const homeDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'lagscale-elasticsearch-')));
  const [freeHttp, transportPort] = (await freePorts(2)) as [number, number];
  const httpPort = options.httpPort ?? freeHttp;
  await assembleHome(homeDir, distribution);
  const heapMb = options.heapMb ?? 512;
  const settings: Record<string, string> = {
    'path.home': homeDir,
    'path.data': join(homeDir, 'data'),
    'path.logs': join(homeDir, 'logs'),
    'cluster.name': `lagscale-${randomBytes(4).toString('hex')}`,
    'node.name': 'lagscale-node-0',
    'discovery.type': 'single-node',
    // Loopback and a single node keep the bootstrap checks in development mode (warnings only).
    'network.host': '127.0.0.1',
    'http.port': String(httpPort),
    'transport.port': String(transportPort),
    // Tests fill small disks; the store's own outage handling is what they exercise.
    'cluster.routing.allocation.disk.threshold_enabled': 'false',
    ...options.settings,
  };
  const [command, args] = asNodeUser(java, jvmArguments(homeDir, distribution, heapMb, (await javaMajor(java)) ?? javaNeededFor(version)));
  const node = await superviseNode({
    product: 'Elasticsearch',
    version,
    url: `http://127.0.0.1:${httpPort}`,
    httpPort,
    homeDir,
    temporary,
    consoleLog: join(homeDir, 'logs', 'console.log'),
    heapMb,
    startTimeoutMs: options.startTimeoutMs ?? 180_000,
    progress,
    launch: () => ({
      command,
      args,
      // Without LIBFFI_TMPDIR the server's native-access check fails with a NullPointerException.
      env: { ...process.env, LIBFFI_TMPDIR: join(homeDir, 'tmp'), ES_JAVA_OPTS: '' },
      stdin: serializeServerArgs({ settings, configDir: join(homeDir, 'config'), logsDir: join(homeDir, 'logs') }),
    }),
    readyByte: SERVER_READY_MARKER,
    stopBytes: Uint8Array.of(SERVER_SHUTDOWN_MARKER),
  });
  return Object.defineProperty(node, 'java', { value: java, enumerable: true }) as ElasticsearchNode;
}

/** The JVM flags of the distribution's launcher that a small loopback node needs. */
function jvmArguments(homeDir: string, distribution: ElasticsearchDistribution, heapMb: number, javaMajor: number): string[] {
  const nineOrLater = Number(distribution.version.split('.')[0]) >= 9;
  const nativeAccess = ['org.elasticsearch.nativeaccess', 'org.apache.lucene.core', ...(nineOrLater ? ['org.elasticsearch.foreign'] : [])];
  return [
    ...smallNodeJvmFlags(heapMb),
    '-Des.networkaddress.cache.ttl=60',
    '-Des.networkaddress.cache.negative.ttl=10',
    '-XX:-OmitStackTraceInFastThrow',
    '-Dlog4j2.formatMsgNoLookups=true',
    `-Djava.locale.providers=${nineOrLater ? 'CLDR' : 'SPI,CLDR'}`,
    '-Des.distribution.type=tar',
    `-Djava.io.tmpdir=${join(homeDir, 'tmp')}`,
    `-Des.path.home=${homeDir}`,
    `-Des.path.conf=${join(homeDir, 'config')}`,
    // The server attaches the entitlement agent (lib/entitlement-agent) to itself.
    '-Djdk.attach.allowAttachSelf=true',
    `--patch-module=java.base=${join(homeDir, 'lib', 'entitlement-bridge', `elasticsearch-entitlement-bridge-${distribution.version}.jar`)}`,
    '--add-exports=java.base/org.elasticsearch.entitlement.bridge=org.elasticsearch.entitlement',
    ...(javaMajor >= 21 ? ['-XX:+EnableDynamicAgentLoading', `--enable-native-access=${nativeAccess.join(',')}`] : []),
    '--module-path',
    join(homeDir, 'lib'),
    '--add-modules=jdk.net',
    '--add-modules=ALL-MODULE-PATH',
    '-m',
    'org.elasticsearch.server/org.elasticsearch.bootstrap.Elasticsearch',
  ];
}

/** The node's home: the cached jars linked in, a console log4j2 config, and folders it may write. */
async function assembleHome(homeDir: string, distribution: ElasticsearchDistribution): Promise<void> {
  await linkTree(distribution.libDir, join(homeDir, 'lib'));
  await linkTree(distribution.modulesDir, join(homeDir, 'modules'));
  const writable = ['config', 'data', 'logs', 'tmp', 'plugins'].map((name) => join(homeDir, name));
  for (const dir of writable) await mkdir(dir, { recursive: true });
  await writeFile(join(homeDir, 'config', 'log4j2.properties'), LOG4J_CONFIG);
  // Elasticsearch will not run as root: the unprivileged user must own what the node writes.
  await giveToNodeUser(homeDir, writable);
}
