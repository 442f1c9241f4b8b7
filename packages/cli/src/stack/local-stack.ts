import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Autoscaler, LocalProcessPool, resolvePolicy } from '@lagscale/autoscaler';
import { parseBehaviorConfig } from '@lagscale/core';
import { startElasticsearchNode } from '@lagscale/elasticsearch';
import { createLogger, type HealthComponent, type Logger } from '@lagscale/exporter';
import { ensureTopics, KafkaCluster, type KafkaConnectionOptions, type KafkaNodeEvent, type LagMonitor } from '@lagscale/kafka';
import { startOpenSearchNode } from '@lagscale/opensearch';
import { OpenSearchResultStore, type ResultStore, type RuleSetDocument, SEARCH_ENGINE_NAMES, type SearchEngine, VALIDATION_TOPICS } from '@lagscale/validator';
import type { FastifyInstance } from 'fastify';
import { apiTokens } from '../api-tokens.js';
import { assertListenAllowed } from '../commands/api.js';
import { type LagscaleConfig, toConnectionOptions } from '../config.js';
import { lagMonitorFrom, listenOn, logCollection } from '../runtime.js';
import { describeStore, openResultStore, resolveStoreConfig, type StoreConfig, storeForChild } from '../store.js';
import { createStackServer } from './server.js';

/** The consumer group the stack's validation workers join, and the autoscaler scales. */
export const STACK_WORKER_GROUP = 'validator';
/** The workers' share group when the stack runs them as share consumers (a group id is one kind only). */
export const STACK_SHARE_GROUP = 'validator-share';
const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
const EXAMPLE_RULE_SET = fileURLToPath(new URL('../../../validator/examples/orders.ruleset.json', import.meta.url));

export interface LocalStackOptions {
  readonly config: LagscaleConfig;
  /** State of the stack: Kafka's data, the result store. A second start reuses it. */
  readonly home: string;
  /** Port of the local Kafka when the stack starts one. */
  readonly kafkaPort: number;
  /** Partitions of validation.requests: the most workers that can share the work. */
  readonly requestPartitions?: number;
  /** Workers never go above this. Default: the partition count (three times it with `shareGroup`). */
  readonly maxWorkers?: number;
  /**
   * Run the workers as members of a share group (KIP-932, Kafka 4.2+; `LAGSCALE_SHARE_GROUP=1`
   * for `npm start`): records are acquired one by one, so workers scale past the partition count.
   */
  readonly shareGroup?: boolean;
  /**
   * How the workers join their consumer group: `classic` (default) or `consumer` (KIP-848, Kafka
   * 4.0+; `LAGSCALE_GROUP_PROTOCOL=consumer` for `npm start`): partitions move without stopping the
   * other workers at a scale-out or scale-in.
   */
  readonly groupProtocol?: 'classic' | 'consumer';
  /** Added cost per record in each worker (ms), so a laptop shows scaling at demo rates. Default 0. */
  readonly workerRecordCostMs?: number;
  /** Records per worker batch (one store transaction and one commit). Default: the worker's. */
  readonly workerBatchSize?: number;
  /** Autoscaler overrides from the config file's `autoscaler` section (policy and behavior only). */
  readonly policy?: Record<string, unknown>;
  readonly behavior?: Record<string, unknown>;
  /**
   * While the result store does not answer, more workers would only wait on it too: hold
   * scale-ups (the decision says why). Default true.
   */
  readonly holdScaleOutWhenStoreDown?: boolean;
  readonly onProgress?: (line: string) => void;
}

export interface LocalStack {
  readonly url: string;
  readonly brokers: readonly string[];
  readonly kafka: KafkaCluster | null;
  readonly autoscaler: Autoscaler;
  readonly pool: LocalProcessPool;
  readonly app: FastifyInstance;
  readonly monitor: LagMonitor;
  readonly store: ResultStore;
  readonly connection: KafkaConnectionOptions;
  readonly consoleBuilt: boolean;
  /** Where results are kept: the SQLite file, or the OpenSearch node(s). */
  readonly storeDescription: string;
  /** Stops everything in order: API, autoscaler, workers (drained), lag collection, store, Kafka. */
  stop(): Promise<void>;
}

/**
 * Closes the HTTP server: requests in progress get a few seconds, then every connection is cut
 * (a browser may hold an idle or half-opened one that would otherwise delay the exit for minutes).
 */
async function closeServer(app: FastifyInstance, graceMs = 5000): Promise<void> {
  const closed = app.close();
  const timer = setTimeout(() => app.server.closeAllConnections(), graceMs);
  app.server.closeIdleConnections();
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The stack's own broker as `/healthz` and `/readyz` report it: not ready from its crash until it
 * serves again (the stack restarts it), with how often that happened. One log line per event.
 */
class BrokerWatch {
  readonly #logger: Logger;
  #down = false;
  #crashes = 0;
  #lastCrash: { at: string; signal: string | null; code: number | null } | null = null;
  #lastDownForMs: number | null = null;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  observe(event: KafkaNodeEvent): void {
    if (event.kind === 'exited') {
      this.#down = true;
      this.#crashes++;
      this.#lastCrash = { at: new Date().toISOString(), signal: event.signal, code: event.code };
      this.#logger.error(
        { event: 'kafka_broker_exited', nodeId: event.nodeId, code: event.code, signal: event.signal, restartInMs: event.restartInMs },
        `the local Kafka broker exited unasked (${event.signal ?? `code ${event.code}`}); restarting it in ${(event.restartInMs ?? 0) / 1000} s`,
      );
    } else if (event.kind === 'restarted') {
      this.#logger.warn({ event: 'kafka_broker_restarted', nodeId: event.nodeId, pid: event.pid }, 'the local Kafka broker was started again');
    } else {
      this.#down = false;
      this.#lastDownForMs = event.downForMs;
      this.#logger.info(
        { event: 'kafka_broker_ready', nodeId: event.nodeId, downForMs: event.downForMs },
        `the local Kafka broker serves again after ${event.downForMs} ms`,
      );
    }
  }

  readonly component: HealthComponent = {
    name: 'kafka',
    check: () => ({ ok: true, ready: !this.#down, restarts: this.#crashes, lastCrash: this.#lastCrash, lastDownForMs: this.#lastDownForMs }),
  };
}

/** A taken port fails here, before anything starts, with what to do. */
async function checkPortFree(port: number, what: string, variable: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new Error(
          error.code === 'EADDRINUSE'
            ? `port ${port} (${what}) is already in use: stop what uses it (is another lagscale running?) or set ${variable} to a free port`
            : `cannot listen on port ${port} (${what}): ${error.message}`,
        ),
      );
    });
    probe.listen({ host: '127.0.0.1', port }, () => probe.close(() => resolve()));
  });
}

/**
 * Everything `npm start` runs, in one process: Kafka (unless brokers are configured), the topics,
 * the result store, the lag engine, the autoscaler with the local target running validation
 * workers, and one HTTP server for the API, the console, /metrics and the live feed.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const { config, home } = options;
  const progress = options.onProgress ?? (() => {});
  const logger: Logger = createLogger('lagscale');
  mkdirSync(home, { recursive: true });
  const cleanups: (() => Promise<void>)[] = [];
  const unwind = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };

  try {
    // The API's settings are checked before anything starts: a mistake there stops start-up at once.
    const tokens = apiTokens(config);
    assertListenAllowed(config.exporter.host, tokens);
    if (config.exporter.port !== 0) await checkPortFree(config.exporter.port, 'the API and console', 'LAGSCALE_PORT');
    let kafka: KafkaCluster | null = null;
    const broker = new BrokerWatch(logger);
    if (config.kafka.brokers.length === 0) {
      const kafkaDir = join(home, 'kafka');
      // A data folder remembers its ports; only a new one takes the requested port.
      if (!existsSync(join(kafkaDir, 'cluster.json'))) await checkPortFree(options.kafkaPort, 'Kafka', 'LAGSCALE_KAFKA_PORT');
      progress(existsSync(kafkaDir) ? 'starting the local Kafka broker (data kept in .lagscale/kafka)' : 'starting a local Kafka broker (first run)');
      kafka = await KafkaCluster.start({
        dataDir: kafkaDir,
        port: options.kafkaPort,
        onProgress: progress,
        // The stack owns its broker: one that dies (the OOM killer, a stray kill) is started again
        // on the same port and data, and the workers, the lag engine and the API reconnect to it.
        restartCrashedNodes: true,
        onNodeEvent: (event) => broker.observe(event),
      }).catch((error: Error) => {
        throw new Error(`${error.message}\n(to use an existing cluster instead, set KAFKA_BROKERS=host:port)`);
      });
      const cluster = kafka;
      cleanups.push(() => cluster.stop());
      config.kafka.brokers = cluster.brokers;
    }
    const connection = toConnectionOptions(config);
    const partitions = options.requestPartitions ?? 8;
    progress('creating the validation topics');
    await ensureTopics(connection, [
      { name: VALIDATION_TOPICS.requests, partitions },
      { name: VALIDATION_TOPICS.results, partitions, configs: { 'cleanup.policy': 'compact' } },
      { name: VALIDATION_TOPICS.deadLetters, partitions: 1 },
    ]).catch((error: Error) => {
      throw new Error(
        `Kafka at ${config.kafka.brokers.join(',')} is not reachable: ${error.message}\n(check KAFKA_BROKERS, or unset it to run a local broker)`,
      );
    });

    let storeConfig: StoreConfig = resolveStoreConfig(config.store, undefined, process.env, { defaultPath: join(home, 'validator.db'), mayStartNode: true });
    if (storeConfig.type === 'search-engine' && storeConfig.url.length === 0) {
      const node = await startLocalSearchNode(storeConfig.engine ?? 'opensearch', home, progress);
      cleanups.push(() => node.stop());
      storeConfig = { ...storeConfig, url: [node.url] };
    }
    const store = await openResultStore(storeConfig);
    cleanups.push(() => store.close());
    if ((await store.listRuleSets()).length === 0 && existsSync(EXAMPLE_RULE_SET)) {
      // A first start has something to validate against.
      const example = JSON.parse(readFileSync(EXAMPLE_RULE_SET, 'utf8')) as RuleSetDocument & { name: string; version: number };
      await store.saveRuleSet(example.name, example.version, example, Date.now());
    }

    const monitor = lagMonitorFrom(config, config.lag.groups);
    logCollection(monitor, logger);
    cleanups.push(() => monitor.stop());
    const child = storeForChild(storeConfig);
    const workerArgs = [process.execPath, '--max-semi-space-size=64', MAIN, 'worker', '-b', config.kafka.brokers.join(','), ...child.args];
    const workerGroup = options.shareGroup === true ? STACK_SHARE_GROUP : STACK_WORKER_GROUP;
    workerArgs.push(options.shareGroup === true ? '--share-group' : '--group', workerGroup);
    if (options.shareGroup !== true && options.groupProtocol === 'consumer') workerArgs.push('--group-protocol', 'consumer');
    if (options.workerRecordCostMs) workerArgs.push('--record-cost-ms', String(options.workerRecordCostMs));
    if (options.workerBatchSize) workerArgs.push('--batch-size', String(options.workerBatchSize));
    const pool = new LocalProcessPool({
      command: workerArgs,
      env: child.env,
      drainTimeoutSeconds: 30,
      readinessPath: '/readyz',
      logger,
      name: `local:${workerGroup}`,
    });
    cleanups.push(() => pool.close());
    const behavior = parseBehaviorConfig(
      { minReplicas: 1, maxReplicas: options.maxWorkers ?? (options.shareGroup === true ? 3 * partitions : partitions), ...(options.behavior ?? {}) },
      'autoscaler.behavior',
    );
    const policy = resolvePolicy(options.policy ?? { name: 'rate', timeLagSloSeconds: 30 }, 'autoscaler.policy');
    const scaleOutHold =
      options.holdScaleOutWhenStoreDown !== false && store instanceof OpenSearchResultStore
        ? async () => {
            const problem = await store.ping();
            return problem === null ? null : `the workers' result store is their bottleneck (${problem})`;
          }
        : undefined;
    const autoscaler = new Autoscaler({
      monitor,
      group: workerGroup,
      ...(options.shareGroup === true ? { groupKind: 'share' as const } : {}),
      policy,
      behavior,
      target: pool,
      logger,
      ...(scaleOutHold === undefined ? {} : { scaleOutHold }),
    });
    cleanups.push(() => autoscaler.stop());

    const workersHealth: HealthComponent = {
      name: 'workers',
      check: () => {
        const health = pool.health();
        return { ok: health.status !== 'crashing', ready: health.status === 'ok', ...health };
      },
    };
    const server = await createStackServer({
      monitor,
      autoscaler,
      store,
      connection,
      logger,
      host: config.exporter.host,
      tokens,
      ...(config.api?.allowedHosts === undefined ? {} : { allowedHosts: config.api.allowedHosts }),
      health: kafka === null ? [workersHealth] : [workersHealth, broker.component],
      workers: () => pool.workers(),
    });
    cleanups.push(() => closeServer(server.app));
    const url = await listenOn(server.app, config);

    await pool.setReplicas(behavior.minReplicas);
    autoscaler.start();
    monitor.start();
    logger.info({ event: 'stack_started', url, brokers: config.kafka.brokers, store: describeStore(storeConfig) }, `lagscale is running on ${url}`);
    let stopped: Promise<void> | null = null;
    return {
      url,
      brokers: config.kafka.brokers,
      kafka,
      autoscaler,
      pool,
      app: server.app,
      monitor,
      store,
      connection,
      consoleBuilt: server.consoleBuilt,
      storeDescription: describeStore(storeConfig),
      stop() {
        stopped ??= unwind();
        return stopped;
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

/** The local node of `LAGSCALE_STORE=opensearch|elasticsearch npm start` without a URL, its data kept in .lagscale/<engine>. */
async function startLocalSearchNode(engine: SearchEngine, home: string, progress: (line: string) => void): Promise<{ url: string; stop(): Promise<void> }> {
  const name = SEARCH_ENGINE_NAMES[engine];
  const dataDir = join(home, engine);
  progress(existsSync(dataDir) ? `starting the local ${name} node (data kept in .lagscale/${engine})` : `starting a local ${name} node (first run)`);
  const start = engine === 'elasticsearch' ? startElasticsearchNode : startOpenSearchNode;
  return start({ dataDir, onProgress: progress }).catch((error: Error) => {
    throw new Error(
      `${error.message}\n(to use an existing cluster instead, set ${engine === 'elasticsearch' ? 'ELASTICSEARCH_URL' : 'OPENSEARCH_URL'}=http://host:port)`,
    );
  });
}
