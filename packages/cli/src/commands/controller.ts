import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { autoscalerMetrics, prometheusSourceMetrics } from '@lagscale/autoscaler';
import { CONTENT_TYPE, createLogger, PrometheusText, serverOptions } from '@lagscale/exporter';
import { createExternalMetricsServer, KeepAliveKubeConfig, LeaseElector, ScaledConsumerController, ShardLeases } from '@lagscale/kubernetes';
import type { Command } from 'commander';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ConfigError, parseInteger } from '../config.js';
import { untilStopSignal } from '../runtime.js';

interface ControllerFlags {
  kubeconfig?: string;
  namespace?: string;
  leaderElect: boolean;
  shards: string;
  leaseNamespace: string;
  leaseName: string;
  identity?: string;
  leaseDurationSeconds: string;
  intervalSeconds: string;
  host: string;
  port: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  metricsApiPort: string;
  apiQps: string;
  apiBurst: string;
}

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${flag} ${file}: ${(error as Error).message}`);
  }
}

/** The kubeconfig: the flag, else $KUBECONFIG or ~/.kube/config, else the pod's service account. */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  // Connections kept alive: the client library would open a new TLS connection for every request.
  const kubeConfig = new KeepAliveKubeConfig();
  try {
    if (file !== undefined) kubeConfig.loadFromFile(file);
    else kubeConfig.loadFromDefault();
  } catch (error) {
    throw new ConfigError(`cannot read the kubeconfig ${file ?? '(default)'}: ${(error as Error).message}; pass --kubeconfig <file>`);
  }
  if (kubeConfig.getCurrentCluster() === null)
    throw new ConfigError('no Kubernetes cluster in the kubeconfig: pass --kubeconfig <file>, set KUBECONFIG, or run in a pod with a service account');
  return kubeConfig;
}

export function registerControllerCommand(program: Command): void {
  program
    .command('controller')
    .description(
      'the Kubernetes controller: scales the workloads of ScaledConsumer resources on their Kafka lag or a PromQL query (Lease-elected); /metrics /healthz /readyz',
    )
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)')
    .option('-n, --namespace <ns>', 'watch ScaledConsumers of this namespace only (default: all)')
    .option('--no-leader-elect', 'run without a Lease (only when a single instance runs)')
    .option('--lease-namespace <ns>', 'namespace of the Lease', process.env.POD_NAMESPACE ?? 'default')
    .option('--lease-name <name>', 'name of the Lease (with --shards: of the shard set, Leases <name>-shard-<i>)', 'lagscale-controller')
    .option(
      '--shards <n>',
      'split the ScaledConsumers into n shards, a Lease each, shared by the replicas (each serves only its shards); 1: one leader does everything',
      '1',
    )
    .option('--identity <id>', 'this instance in the Lease (default: the pod name or host and pid)')
    .option('--lease-duration-seconds <s>', 'a holder that stops renewing loses the lease after this long', '15')
    .option('--interval-seconds <s>', 'seconds between lag collections (one per Kafka cluster)', '5')
    .option('--host <address>', 'listen address of /metrics and the health routes', '127.0.0.1')
    .option('-p, --port <port>', 'listen port of /metrics and the health routes (0: any free port)', '8081')
    .option(
      '--tls-cert-file <file>',
      'serve the external metrics API (external.metrics.k8s.io) with this certificate (PEM); it must name <service>.<namespace>.svc',
    )
    .option('--tls-key-file <file>', 'the key of --tls-cert-file')
    .option('--metrics-api-port <port>', 'listen port of the external metrics API', '6443')
    .option('--api-qps <n>', 'API requests per second, sustained (scale reads and writes first, then status writes and Events; 0: no limit)', '50')
    .option('--api-burst <n>', 'API requests that may go at once after a quiet spell', '100')
    .action(async (flags: ControllerFlags) => {
      const kubeConfig = loadKubeConfig(flags.kubeconfig);
      const leaseDurationSeconds = parseInteger(flags.leaseDurationSeconds, '--lease-duration-seconds', 3, 3600);
      const intervalSeconds = parseInteger(flags.intervalSeconds, '--interval-seconds', 1, 3600);
      const port = parseInteger(flags.port, '--port', 0, 65535);
      const apiRateLimit = { qps: parseInteger(flags.apiQps, '--api-qps', 0, 100_000), burst: parseInteger(flags.apiBurst, '--api-burst', 1, 100_000) };
      const identity = flags.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
      const logger = createLogger('lagscale-controller').child({ identity });
      const shardCount = parseInteger(flags.shards, '--shards', 1, 1000);
      if (shardCount > 1 && !flags.leaderElect) throw new ConfigError('--shards needs Leases: leave out --no-leader-elect');
      if (shardCount > 1 && flags.tlsCertFile !== undefined)
        throw new ConfigError(
          '--shards > 1 cannot serve the external metrics API: each replica knows only its own shards; leave out --tls-cert-file (the controller scales through /scale)',
        );
      // client-go's proportions: renew deadline 2/3 of the lease, retry every 2/15.
      const leaseTimes = {
        leaseDurationSeconds,
        renewDeadlineSeconds: Math.max(2, Math.floor((leaseDurationSeconds * 2) / 3)),
        retryPeriodSeconds: Math.max(1, Math.floor(leaseDurationSeconds / 7.5)),
      };
      const shards =
        shardCount > 1
          ? new ShardLeases({ kubeConfig, namespace: flags.leaseNamespace, name: flags.leaseName, identity, shards: shardCount, logger, ...leaseTimes })
          : null;
      const elector =
        flags.leaderElect && shards === null
          ? new LeaseElector({
              kubeConfig,
              namespace: flags.leaseNamespace,
              name: flags.leaseName,
              identity,
              logger,
              ...leaseTimes,
            })
          : null;
      const controller = new ScaledConsumerController({
        kubeConfig,
        logger,
        elector,
        shards,
        intervalSeconds,
        apiRateLimit,
        ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
      });
      const writeScaledConsumerMetrics = autoscalerMetrics(() => [...controller.runtimes().values()].map((runtime) => runtime.autoscaler));
      // ScaledConsumers that scale on a PromQL query: their queries, failures and last value.
      const writeSourceMetrics = prometheusSourceMetrics(() =>
        [...controller.runtimes().values()].flatMap(({ autoscaler, metricSource }) =>
          metricSource === null ? [] : [{ source: metricSource, labels: { consumergroup: autoscaler.group, target: autoscaler.target.name } }],
        ),
      );
      const app = Fastify(serverOptions(logger as FastifyBaseLogger));
      let watching = false;
      app.get('/metrics', async (_request, reply) => {
        const out = new PrometheusText();
        const one = (name: string, type: 'gauge' | 'counter', help: string, value: number): void => {
          out.family(name, type, help).sample(name, {}, value);
        };
        one('lagscale_controller_leader', 'gauge', 'Whether this instance holds the Lease and may write (1) or not (0).', controller.leading ? 1 : 0);
        one('lagscale_controller_scaled_consumers', 'gauge', 'ScaledConsumers served by this instance.', controller.runtimes().size);
        if (shards !== null) {
          one('lagscale_controller_shards', 'gauge', 'Shards the ScaledConsumers are split into (--shards).', shards.count);
          one('lagscale_controller_shards_held', 'gauge', 'Shards this instance holds and serves.', shards.held().length);
          one('lagscale_controller_shard_lease_writes_total', 'counter', 'Writes of shard and member Leases (renewals, takes, releases).', shards.writes);
        }
        one('lagscale_controller_kafka_clusters', 'gauge', 'Lag collections running (one per Kafka cluster).', controller.monitors.size);
        one('lagscale_controller_scale_writes_total', 'counter', 'Writes of spec.replicas through the scale subresource.', controller.counters.scaleWrites);
        one('lagscale_controller_status_writes_total', 'counter', 'ScaledConsumer status writes.', controller.counters.statusWrites);
        one('lagscale_controller_status_write_failures_total', 'counter', 'ScaledConsumer status writes that failed.', controller.counters.statusWriteFailures);
        one(
          'lagscale_controller_scale_reads_total',
          'counter',
          'GETs of the scale subresource (kinds without an informer cache).',
          controller.counters.scaleReads,
        );
        // API requests through the client-side rate limiter, by lane: scale reads and writes go first, status writes and Events after.
        const lanes = controller.requestLimiter.counters;
        const byLane = (name: string, type: 'gauge' | 'counter', help: string, value: (lane: 'scale' | 'status') => number): void => {
          out.family(name, type, help);
          for (const lane of ['scale', 'status'] as const) out.sample(name, { lane }, value(lane));
        };
        byLane(
          'lagscale_controller_api_requests_total',
          'counter',
          'API requests sent through the rate limiter, by lane (scale first, then status).',
          (lane) => lanes[lane].requests,
        );
        byLane(
          'lagscale_controller_api_queue_wait_seconds_total',
          'counter',
          'Seconds API requests waited in the rate limiter, summed by lane; over lagscale_controller_api_requests_total it is the mean wait.',
          (lane) => lanes[lane].queueWaitSeconds,
        );
        byLane('lagscale_controller_api_queued_requests', 'gauge', 'API requests waiting in the rate limiter now, by lane.', (lane) => lanes[lane].queued);
        // Each ScaledConsumer's decisions, replicas and bounds, as the local autoscaler exports them.
        writeScaledConsumerMetrics(out);
        writeSourceMetrics(out);
        reply.header('content-type', CONTENT_TYPE);
        return out.toString();
      });
      app.get('/healthz', async () => ({ status: 'ok', leading: controller.leading }));
      app.get('/readyz', async (_request, reply) => {
        reply.code(watching ? 200 : 503);
        return { status: watching ? 'ok' : 'starting', leading: controller.leading, scaledConsumers: controller.runtimes().size };
      });
      if ((flags.tlsCertFile === undefined) !== (flags.tlsKeyFile === undefined))
        throw new ConfigError('the external metrics API needs both --tls-cert-file and --tls-key-file');
      const metricsApiPort = parseInteger(flags.metricsApiPort, '--metrics-api-port', 0, 65535);
      const url = await app.listen({ host: flags.host, port });
      let metricsApi: FastifyInstance | null = null;
      try {
        if (flags.tlsCertFile !== undefined && flags.tlsKeyFile !== undefined) {
          const tls = { cert: readPem(flags.tlsCertFile, '--tls-cert-file'), key: readPem(flags.tlsKeyFile, '--tls-key-file') };
          metricsApi = await createExternalMetricsServer({ source: controller.metricsSource(), logger, tls, kubeConfig });
          const metricsUrl = await metricsApi.listen({ host: flags.host, port: metricsApiPort });
          logger.info({ event: 'external_metrics_api_started', url: metricsUrl }, `external metrics API on ${metricsUrl}`);
        }
        await controller.start();
        watching = true;
        elector?.start();
        shards?.start();
        logger.info(
          { event: 'controller_started', url, leaderElect: elector !== null, shards: shardCount, namespace: flags.namespace ?? '(all)' },
          `controller running; metrics on ${url}/metrics`,
        );
        const signal = await untilStopSignal();
        logger.info({ event: 'controller_stopping', signal }, 'stopping: releasing the lease');
      } finally {
        await elector?.stop();
        await shards?.stop();
        await controller.stop();
        await metricsApi?.close();
        await app.close();
      }
    });
}
