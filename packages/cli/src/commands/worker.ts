import { watchPoolParent } from '@lagscale/autoscaler';
import { createLogger } from '@lagscale/exporter';
import { createWorkerHttp, type GroupProtocol, runWorker, type WorkerHttpState, WorkerMetrics } from '@lagscale/validator';
import type { Command } from 'commander';
import { ConfigError, parseInteger, toConnectionOptions } from '../config.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';
import { describeStore, openResultStore, resolveStoreConfig } from '../store.js';
import { addBudgetOptions, type BudgetFlags, budgetsFrom } from '../validation-budgets.js';

interface WorkerFlags extends ConnectionFlags, BudgetFlags {
  store?: string;
  group: string;
  shareGroup?: string;
  groupProtocol: string;
  requestsTopic: string;
  batchSize: string;
  host: string;
  port: string;
  recordCostMs: string;
  validationThreads: string;
  resultsTopic?: string;
}

export function registerWorkerCommand(program: Command): void {
  const command = program
    .command('worker')
    .description('validation worker: consume validation.requests, validate, store results, DLQ bad records; /metrics /healthz /readyz')
    .option(
      '--store <file|url>',
      'result store: a SQLite file, or OpenSearch or Elasticsearch node URL(s) (default: LAGSCALE_STORE, OPENSEARCH_URL, ELASTICSEARCH_URL, the config file, .lagscale/validator.db)',
    )
    .option('-g, --group <id>', 'consumer group', 'validator')
    .option(
      '--share-group <id>',
      'consume as a member of this share group instead (Kafka 4.2+, KIP-932): records acquired one by one, so more workers than partitions all work',
    )
    .option(
      '--group-protocol <classic|consumer>',
      'how the consumer group is joined: classic, or consumer (KIP-848, Kafka 4.0+: partitions move without stopping the other workers)',
      'classic',
    )
    .option('--requests-topic <topic>', 'topic of the validation requests', 'validation.requests')
    .option('--batch-size <n>', 'records per batch (one store transaction and one commit)', '1000')
    .option('--host <address>', 'listen address of /metrics', '127.0.0.1')
    .option('-p, --port <port>', 'listen port of /metrics (0: any free port)', '0')
    .option('--record-cost-ms <ms>', 'extra time per record, standing in for heavier work (demos)', '0')
    .option('--results-topic <topic>', 'also publish every result to this topic (e.g. validation.results); default: the store only')
    .option(
      '--validation-threads <n>',
      'threads that decode and validate records beside the consumer and the store (0: on the main thread, no time budget)',
      '1',
    );
  addBudgetOptions(command);
  addConnectionOptions(command).action(async (flags: WorkerFlags) => {
    const config = resolveConfig(flags);
    const groupProtocol = parseGroupProtocol(flags);
    const storeConfig = resolveStoreConfig(config.store, flags.store);
    const workerId = process.env.LAGSCALE_WORKER_ID ?? String(process.pid);
    const logger = createLogger('lagscale-worker').child({ workerId });
    const metrics = new WorkerMetrics();
    const state: WorkerHttpState = { ready: false, stopping: false, storeAvailable: true, rejoining: false, validationIncidents: { count: 0, last: null } };
    // The worker writes all the time: SQLite's WAL checkpoints run in a thread, not inside its commits.
    const store = await openResultStore(storeConfig, {
      backgroundCheckpoint: true,
      waitOutOutages: true,
      onAvailabilityChange: (available, reason) => {
        state.storeAvailable = available;
        metrics.storeAvailable(available);
        if (available) logger.info({ event: 'store_available' }, 'the result store answers again; batches resume');
        else logger.warn({ event: 'store_unavailable', reason }, 'the result store does not answer: holding the batch and its offsets, retrying');
      },
    });
    const http = createWorkerHttp(metrics, state, logger, { worker: workerId });
    await http.listen({ host: flags.host, port: parseInteger(flags.port, '--port', 0, 65535) });
    const address = http.server.address();
    const url = `http://${flags.host}:${typeof address === 'object' && address ? address.port : flags.port}`;
    const controller = new AbortController();
    const stop = (signal: string): void => {
      if (state.stopping) return;
      state.stopping = true;
      logger.info({ event: 'worker_draining', signal }, 'finishing the batch in hand, committing, leaving the group');
      controller.abort();
    };
    // Every signal, not once: Ctrl-C reaches the whole process group and the pool's SIGTERM follows;
    // a second signal must not kill a worker in the middle of its drain (the pool SIGKILLs stragglers).
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // Started by a local pool whose process then died (even by SIGKILL): drain and exit rather than consume unseen.
    watchPoolParent((reason) => {
      logger.warn({ event: 'pool_gone', reason }, reason);
      stop('pool-gone');
    });
    // metricsUrl: how a local pool learns where to find this worker's metrics (for Prometheus service discovery).
    logger.info(
      {
        event: 'worker_started',
        url,
        metricsUrl: `${url}/metrics`,
        store: describeStore(storeConfig),
        group: flags.group,
        shareGroup: flags.shareGroup ?? null,
        groupProtocol: flags.shareGroup === undefined ? groupProtocol : null,
      },
      `validation worker ${workerId}; metrics on ${url}`,
    );
    try {
      const result = await runWorker({
        connection: toConnectionOptions(config),
        group: flags.group,
        ...(flags.shareGroup === undefined ? {} : { shareGroup: flags.shareGroup }),
        groupProtocol,
        requestsTopic: flags.requestsTopic,
        store,
        batchSize: parseInteger(flags.batchSize, '--batch-size', 1, 100_000),
        logger,
        metrics,
        signal: controller.signal,
        recordCostMs: parseInteger(flags.recordCostMs, '--record-cost-ms', 0, 60_000),
        resultsTopic: flags.resultsTopic ?? null,
        validationThreads: parseInteger(flags.validationThreads, '--validation-threads', 0, 64),
        validationBudgets: budgetsFrom(flags),
        onValidationIncident: (incident) => {
          const incidents = state.validationIncidents as NonNullable<WorkerHttpState['validationIncidents']>;
          incidents.count++;
          incidents.last = { kind: incident.kind, detail: incident.detail, at: new Date().toISOString() };
        },
        onReady: () => {
          state.ready = true;
          state.rejoining = false;
        },
        // Not ready while it rejoins after a consumer failure: the HPA Value arithmetic and probes see it.
        onConsumerLost: () => {
          state.ready = false;
          state.rejoining = true;
        },
      });
      logger.info({ event: 'worker_stopped', ...result }, 'worker left the group');
    } finally {
      await http.close();
      await store.close();
    }
  });
}

/** `--group-protocol`: classic or consumer; refused with a share group (which has its own protocol). */
function parseGroupProtocol(flags: WorkerFlags): GroupProtocol {
  const value = flags.groupProtocol;
  if (value !== 'classic' && value !== 'consumer') throw new ConfigError(`--group-protocol: expected classic or consumer, got '${value}'`);
  if (value === 'consumer' && flags.shareGroup !== undefined)
    throw new ConfigError('--group-protocol: applies to a consumer group (--group), not to a share group (--share-group)');
  return value;
}
