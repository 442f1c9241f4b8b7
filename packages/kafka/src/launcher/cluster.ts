import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Connection, describeQuorumV2, metadataV12 } from '@platformatic/kafka';
import { DEFAULT_KAFKA_VERSION, isKafka3, resolveKafkaJars } from './artifacts.js';
import { makeTestCertificates, type TestCertificates } from './certificates.js';

export interface KafkaLaunchOptions {
  /** Apache Kafka version, e.g. 4.4.0 (default: share groups on), 4.1.1 or 3.9.1. */
  readonly version?: string;
  /** 1 (default) or 3 combined broker+controller nodes. */
  readonly nodes?: 1 | 3;
  /** Keep state here across runs; default: a fresh temporary folder removed on stop. */
  readonly dataDir?: string;
  readonly cacheDir?: string;
  /** Fixed plaintext port of node 0 (others get free ports); default: any free port. */
  readonly port?: number;
  /** Add SASL_SSL (SCRAM-SHA-256/512, PLAIN) and SSL (client certificate) listeners. */
  readonly secure?: boolean;
  readonly heapMb?: number;
  /** Extra broker properties, e.g. `{ 'log.retention.ms': '1000' }`. */
  readonly properties?: Readonly<Record<string, string>>;
  readonly onProgress?: (line: string) => void;
  readonly startTimeoutMs?: number;
  /**
   * Start a node again when it exits without being asked to (a crash, the OOM killer, a stray
   * SIGKILL), on the same ports and data, after a delay that doubles per crash in a row (1 s up to
   * 30 s). The local stack turns this on: it owns its broker, as a supervisor would. Default off
   * (tests that kill a node decide themselves when it comes back).
   */
  readonly restartCrashedNodes?: boolean;
  /** Told about a node that exited unasked and about its restart (with `restartCrashedNodes`). */
  readonly onNodeEvent?: (event: KafkaNodeEvent) => void;
}

/** What happened to one node: it exited unasked, it was started again, or it is serving again. */
export type KafkaNodeEvent =
  | {
      readonly kind: 'exited';
      readonly nodeId: number;
      readonly code: number | null;
      readonly signal: NodeJS.Signals | null;
      readonly restartInMs: number | null;
    }
  | { readonly kind: 'restarted'; readonly nodeId: number; readonly pid: number | undefined }
  | { readonly kind: 'ready'; readonly nodeId: number; readonly downForMs: number };

/** The KRaft metadata log: DescribeQuorum on it names the active controller. */
const METADATA_TOPIC = '__cluster_metadata';

/** Credentials and certificates of the secure listeners, when `secure` was asked for. */
export interface SecureListeners {
  readonly saslSslBrokers: string[];
  readonly sslBrokers: string[];
  readonly username: string;
  readonly password: string;
  readonly certificates: TestCertificates;
}

interface NodeSpec {
  readonly id: number;
  readonly dir: string;
  readonly plaintextPort: number;
  readonly controllerPort: number;
  readonly saslSslPort: number | null;
  readonly sslPort: number | null;
}

const SCRAM_USER = 'lagscale';
const SCRAM_PASSWORD = 'lagscale-secret';

/** `count` distinct free loopback ports (free when asked: a port can be taken again before use). */
export function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  return Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
        }),
    ),
  ).finally(() => {
    for (const server of servers) server.close();
  });
}

function javaBinary(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Fails with a message that says what to do when Java is missing or too old for this Kafka. */
export async function checkJava(version: string): Promise<number> {
  const java = javaBinary();
  let output: string;
  try {
    const result = await promisify(execFile)(java, ['-version']);
    output = `${result.stderr}${result.stdout}`;
  } catch (error) {
    throw new Error(
      `Java is needed to run the local Kafka broker but '${java}' could not run (${(error as Error).message}). Install a JDK (17 or newer) or set JAVA_HOME.`,
    );
  }
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  const major = match ? (match[1] === '1' ? Number(match[2]) : Number(match[1])) : 0;
  const needed = isKafka3(version) ? 11 : 17;
  if (major < needed) {
    throw new Error(
      `Kafka ${version} needs Java ${needed} or newer, but '${java}' is Java ${major || 'unknown'}. Install a newer JDK or point JAVA_HOME at one.`,
    );
  }
  return major;
}

function log4jConfig(kafka3: boolean): string {
  return kafka3
    ? [
        'log4j.rootLogger=INFO, stdout',
        'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
        'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
        'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
        'log4j.logger.state.change.logger=WARN',
        'log4j.logger.kafka.request.logger=WARN',
        '',
      ].join('\n')
    : [
        'status = warn',
        'appender.out.type = Console',
        'appender.out.name = OUT',
        'appender.out.layout.type = PatternLayout',
        'appender.out.layout.pattern = [%d] %p %m (%c)%n',
        'rootLogger.level = INFO',
        'rootLogger.appenderRef.out.ref = OUT',
        'logger.state.name = state.change.logger',
        'logger.state.level = WARN',
        '',
      ].join('\n');
}

/**
 * A real Apache Kafka cluster in KRaft mode, started from Maven Central's jars on loopback ports.
 * Every node is a combined broker and controller. Tests, benchmarks and the local stack use it.
 */
export class KafkaCluster {
  readonly version: string;
  readonly dataDir: string;
  readonly #libDir: string;
  readonly #nodes: NodeSpec[];
  readonly #processes = new Map<number, ChildProcess>();
  readonly #temporary: boolean;
  readonly #heapMb: number;
  readonly secure: SecureListeners | null;
  #exitHook: (() => void) | null = null;
  /** Nodes being stopped on purpose (stopNode, stop): their exit is not a crash. */
  readonly #stopping = new Set<number>();
  #stopped = false;
  #restartCrashed = false;
  #onNodeEvent: (event: KafkaNodeEvent) => void = () => {};
  readonly #crashStreak = new Map<number, number>();
  readonly #restartTimers = new Map<number, NodeJS.Timeout>();

  private constructor(init: {
    version: string;
    dataDir: string;
    libDir: string;
    nodes: NodeSpec[];
    temporary: boolean;
    heapMb: number;
    secure: SecureListeners | null;
  }) {
    this.version = init.version;
    this.dataDir = init.dataDir;
    this.#libDir = init.libDir;
    this.#nodes = init.nodes;
    this.#temporary = init.temporary;
    this.#heapMb = init.heapMb;
    this.secure = init.secure;
  }

  /** Plaintext bootstrap addresses, `127.0.0.1:port`, one per node. */
  get brokers(): string[] {
    return this.#nodes.map((n) => `127.0.0.1:${n.plaintextPort}`);
  }

  get nodeIds(): number[] {
    return this.#nodes.map((n) => n.id);
  }

  /** The jar folder: run Kafka's own tools with `java -cp <libDir>/* <main class>`. */
  get libDir(): string {
    return this.#libDir;
  }

  static async start(options: KafkaLaunchOptions = {}): Promise<KafkaCluster> {
    const version = options.version ?? DEFAULT_KAFKA_VERSION;
    const progress = options.onProgress ?? (() => {});
    await checkJava(version);
    const libDir = await resolveKafkaJars({ version, ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}), onProgress: progress });
    const count = options.nodes ?? 1;
    const temporary = options.dataDir === undefined;
    const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'lagscale-kafka-')));
    await mkdir(dataDir, { recursive: true });

    // Reuse the ports of an existing data folder so its cluster comes back as it was.
    const statePath = join(dataDir, 'cluster.json');
    let nodes: NodeSpec[];
    let clusterId: string;
    if (existsSync(statePath)) {
      const state = JSON.parse(readFileSync(statePath, 'utf8')) as { clusterId: string; nodes: NodeSpec[]; version: string };
      if (state.nodes.length !== count) {
        throw new Error(`data folder ${dataDir} holds a ${state.nodes.length}-node cluster, not ${count}; remove it or pick another --data-dir`);
      }
      nodes = state.nodes;
      clusterId = state.clusterId;
    } else {
      const ports = await freePorts(count * 4);
      if (options.port !== undefined) ports[0] = options.port;
      nodes = Array.from({ length: count }, (_, i) => ({
        id: i + 1,
        dir: join(dataDir, `node-${i + 1}`),
        plaintextPort: ports[i * 4] as number,
        controllerPort: ports[i * 4 + 1] as number,
        saslSslPort: options.secure ? (ports[i * 4 + 2] as number) : null,
        sslPort: options.secure ? (ports[i * 4 + 3] as number) : null,
      }));
      // The storage tool's argument parser takes an id starting with '-' for an option.
      do clusterId = randomBytes(16).toString('base64url');
      while (clusterId.startsWith('-'));
    }

    let secure: SecureListeners | null = null;
    const certDir = join(dataDir, 'certs');
    if (nodes[0]?.saslSslPort != null) {
      await mkdir(certDir, { recursive: true });
      const certificates = existsSync(join(certDir, 'broker-keystore.pem'))
        ? {
            caCert: join(certDir, 'ca.crt'),
            brokerKeystore: join(certDir, 'broker-keystore.pem'),
            clientCert: join(certDir, 'client.crt'),
            clientKey: join(certDir, 'client.pk8'),
          }
        : await makeTestCertificates(certDir);
      secure = {
        saslSslBrokers: nodes.map((n) => `127.0.0.1:${n.saslSslPort}`),
        sslBrokers: nodes.map((n) => `127.0.0.1:${n.sslPort}`),
        username: SCRAM_USER,
        password: SCRAM_PASSWORD,
        certificates,
      };
    }

    const cluster = new KafkaCluster({ version, dataDir, libDir, nodes, temporary, heapMb: options.heapMb ?? 768, secure });
    cluster.#restartCrashed = options.restartCrashedNodes === true;
    if (options.onNodeEvent) cluster.#onNodeEvent = options.onNodeEvent;
    const voters = nodes.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(',');
    const kafka3 = isKafka3(version);
    await writeFile(join(dataDir, 'log4j.properties'), log4jConfig(kafka3));
    for (const node of nodes) {
      await mkdir(node.dir, { recursive: true });
      await writeFile(join(node.dir, 'server.properties'), cluster.#properties(node, voters, count, options.properties ?? {}));
      if (!existsSync(join(node.dir, 'logs', 'meta.properties'))) {
        const scram = secure
          ? [
              '--add-scram',
              `SCRAM-SHA-256=[name=${SCRAM_USER},password=${SCRAM_PASSWORD}]`,
              '--add-scram',
              `SCRAM-SHA-512=[name=${SCRAM_USER},password=${SCRAM_PASSWORD}]`,
            ]
          : [];
        await cluster.#runTool([
          'kafka.tools.StorageTool',
          'format',
          '-t',
          clusterId,
          '-c',
          join(node.dir, 'server.properties'),
          '--ignore-formatted',
          ...scram,
        ]);
      }
    }
    await writeFile(statePath, JSON.stringify({ version, clusterId, nodes }, null, 2));

    progress(`starting Kafka ${version} (${count} node${count > 1 ? 's' : ''}) in ${dataDir}`);
    cluster.#exitHook = () => {
      for (const child of cluster.#processes.values()) child.kill('SIGKILL');
    };
    process.once('exit', cluster.#exitHook);
    try {
      for (const node of nodes) cluster.#spawn(node);
      await cluster.waitReady(options.startTimeoutMs ?? 90_000);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    progress(`Kafka ready at ${cluster.brokers.join(',')}`);
    return cluster;
  }

  #properties(node: NodeSpec, voters: string, count: number, extra: Readonly<Record<string, string>>): string {
    const listeners = [`PLAINTEXT://127.0.0.1:${node.plaintextPort}`, `CONTROLLER://127.0.0.1:${node.controllerPort}`];
    const advertised = [`PLAINTEXT://127.0.0.1:${node.plaintextPort}`];
    const props: Record<string, string> = {
      'process.roles': 'broker,controller',
      'node.id': String(node.id),
      'controller.quorum.voters': voters,
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'log.dirs': join(node.dir, 'logs'),
      'num.partitions': '1',
      'offsets.topic.replication.factor': String(Math.min(3, count)),
      'offsets.topic.num.partitions': '10',
      'transaction.state.log.replication.factor': String(Math.min(3, count)),
      'transaction.state.log.min.isr': '1',
      'transaction.state.log.num.partitions': '4',
      'share.coordinator.state.topic.replication.factor': String(Math.min(3, count)),
      'share.coordinator.state.topic.min.isr': '1',
      'group.initial.rebalance.delay.ms': '0',
      'auto.create.topics.enable': 'true',
      'controlled.shutdown.enable': 'true',
    };
    if (this.secure) {
      listeners.push(`SASL_SSL://127.0.0.1:${node.saslSslPort}`, `SSL://127.0.0.1:${node.sslPort}`);
      advertised.push(`SASL_SSL://127.0.0.1:${node.saslSslPort}`, `SSL://127.0.0.1:${node.sslPort}`);
      const { certificates } = this.secure;
      const scramModule = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
      Object.assign(props, {
        'ssl.keystore.type': 'PEM',
        'ssl.keystore.location': certificates.brokerKeystore,
        'ssl.truststore.type': 'PEM',
        'ssl.truststore.location': certificates.caCert,
        'sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512,PLAIN',
        'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config': scramModule,
        'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': scramModule,
        'listener.name.sasl_ssl.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required user_${SCRAM_USER}="${SCRAM_PASSWORD}";`,
        'listener.name.ssl.ssl.client.auth': 'required',
      });
    }
    props.listeners = listeners.join(',');
    props['advertised.listeners'] = advertised.join(',');
    props['listener.security.protocol.map'] = 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL';
    Object.assign(props, extra);
    return `${Object.entries(props)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`;
  }

  #javaArgs(main: string[]): string[] {
    const logConfig = join(this.dataDir, 'log4j.properties');
    return [
      `-Xms128m`,
      `-Xmx${this.#heapMb}m`,
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${logConfig}`,
      `-Dlog4j.configuration=file:${logConfig}`,
      '-cp',
      `${this.#libDir}/*`,
      ...main,
    ];
  }

  #runTool(main: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile(javaBinary(), this.#javaArgs(main), { timeout: 120_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${main[0]} ${main[1] ?? ''} failed: ${error.message}\n${stdout}${stderr}`.trim()));
        else resolve();
      });
    });
  }

  #spawn(node: NodeSpec): void {
    const logFile = join(node.dir, 'broker.log');
    const fd = openSync(logFile, 'a');
    const child = spawn(javaBinary(), this.#javaArgs(['kafka.Kafka', join(node.dir, 'server.properties')]), {
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.#processes.set(node.id, child);
    child.once('exit', (code, signal) => {
      if (this.#processes.get(node.id) === child) this.#processes.delete(node.id);
      const asked = this.#stopping.has(node.id) || this.#stopped;
      if (!asked) this.#crashed(node, code, signal);
    });
  }

  /** A node exited unasked: report it and, when supervising, start it again after a backoff. */
  #crashed(node: NodeSpec, code: number | null, signal: NodeJS.Signals | null): void {
    const streak = (this.#crashStreak.get(node.id) ?? 0) + 1;
    this.#crashStreak.set(node.id, streak);
    const restartInMs = this.#restartCrashed ? Math.min(30_000, 1000 * 2 ** (streak - 1)) : null;
    this.#onNodeEvent({ kind: 'exited', nodeId: node.id, code, signal, restartInMs });
    if (restartInMs === null) return;
    const downSince = Date.now();
    const timer = setTimeout(() => {
      this.#restartTimers.delete(node.id);
      if (this.#stopped || this.#stopping.has(node.id) || this.#processes.has(node.id)) return;
      this.#spawn(node);
      this.#onNodeEvent({ kind: 'restarted', nodeId: node.id, pid: this.#processes.get(node.id)?.pid });
      // Ready once it answers again; a node that keeps crashing is restarted by its own exit.
      this.waitReady().then(
        () => {
          this.#onNodeEvent({ kind: 'ready', nodeId: node.id, downForMs: Date.now() - downSince });
          // Up a minute: the crash streak is over.
          setTimeout(() => {
            if (this.#processes.has(node.id)) this.#crashStreak.delete(node.id);
          }, 60_000).unref();
        },
        () => {},
      );
    }, restartInMs);
    timer.unref();
    this.#restartTimers.set(node.id, timer);
  }

  /** Waits until every running node answers Metadata and lists all running nodes as brokers. */
  async waitReady(timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const running = this.#nodes.filter((n) => this.#processes.has(n.id));
    let lastError = 'no answer yet';
    while (Date.now() < deadline) {
      for (const node of this.#nodes) {
        if (running.includes(node) && !this.#processes.has(node.id)) {
          throw new Error(
            `Kafka node ${node.id} exited during start-up; last lines of ${join(node.dir, 'broker.log')}:\n${tail(join(node.dir, 'broker.log'))}`,
          );
        }
      }
      let ready = 0;
      for (const node of running) {
        const connection = new Connection('lagscale-launcher', { connectTimeout: 1000, requestTimeout: 2000 });
        try {
          await connection.connect('127.0.0.1', node.plaintextPort);
          const metadata = await metadataV12.api.async(connection, []);
          if (metadata.brokers.length >= running.length) ready++;
          else lastError = `node ${node.id} sees ${metadata.brokers.length}/${running.length} brokers`;
        } catch (error) {
          lastError = `node ${node.id}: ${(error as Error).message}`;
        } finally {
          await connection.close().catch(() => {});
        }
      }
      if (ready === running.length) return;
      await sleep(250);
    }
    throw new Error(`Kafka did not become ready within ${timeoutMs} ms (${lastError}); see broker.log under ${this.dataDir}`);
  }

  /** Stops one node: SIGTERM (controlled shutdown), or SIGKILL for a crash. */
  async stopNode(id: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM', timeoutMs = 30_000): Promise<void> {
    const pendingRestart = this.#restartTimers.get(id);
    if (pendingRestart) {
      clearTimeout(pendingRestart);
      this.#restartTimers.delete(id);
    }
    const child = this.#processes.get(id);
    if (!child) return;
    this.#stopping.add(id);
    try {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    } finally {
      this.#stopping.delete(id);
    }
  }

  /** Process id of a running node's JVM (to kill it from outside, as a crash would). */
  pidOf(id: number): number | undefined {
    return this.#processes.get(id)?.pid;
  }

  /** Ids of the nodes whose process is running now. */
  get runningNodeIds(): number[] {
    return this.#nodes.filter((n) => this.#processes.has(n.id)).map((n) => n.id);
  }

  /**
   * The node id of the active KRaft controller (the leader of the metadata log), asked of any
   * running node with DescribeQuorum. Throws when no running node can tell.
   */
  async activeController(): Promise<number> {
    let lastError = 'no running node';
    for (const node of this.#nodes) {
      if (!this.#processes.has(node.id)) continue;
      const connection = new Connection('lagscale-launcher', { connectTimeout: 1000, requestTimeout: 3000 });
      try {
        await connection.connect('127.0.0.1', node.plaintextPort);
        const response = await describeQuorumV2.api.async(connection, [{ topicName: METADATA_TOPIC, partitions: [{ partitionIndex: 0 }] }]);
        const leader = response.topics[0]?.partitions[0]?.leaderId;
        if (leader !== undefined && leader >= 0) return leader;
        lastError = `node ${node.id} knows no quorum leader`;
      } catch (error) {
        lastError = `node ${node.id}: ${(error as Error).message}`;
      } finally {
        await connection.close().catch(() => {});
      }
    }
    throw new Error(`cannot find the active KRaft controller (${lastError})`);
  }

  /** Starts a stopped node again with its data and ports, and waits until the cluster serves. */
  async startNode(id: number): Promise<void> {
    const node = this.#nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id} in this cluster (nodes: ${this.nodeIds.join(', ')})`);
    if (!this.#processes.has(id)) this.#spawn(node);
    await this.waitReady();
  }

  /** Address of one node's plaintext listener. */
  brokerOf(id: number): string {
    const node = this.#nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id} in this cluster`);
    return `127.0.0.1:${node.plaintextPort}`;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#nodes.map((n) => this.stopNode(n.id)));
    if (this.#exitHook) process.removeListener('exit', this.#exitHook);
    if (this.#temporary) await rm(this.dataDir, { recursive: true, force: true });
  }
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
