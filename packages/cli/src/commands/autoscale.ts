import {
  Autoscaler,
  autoscalerMetrics,
  LocalProcessPool,
  PrometheusMetricSource,
  PrometheusQueryError,
  prometheusSourceMetrics,
  type ResolvedPolicy,
  type ResolvedSource,
  registerAutoscalerRoutes,
  resolveSourceAndPolicy,
} from '@lagscale/autoscaler';
import { DEFAULT_SHARE_GROUP_MAX_SIZE, parseBehaviorConfig, ScalingConfigError } from '@lagscale/core';
import {
  ApiConfigError,
  assertTokensBeyondLoopback,
  CONTENT_TYPE,
  createExporterServer,
  createLogger,
  type ExporterAuthOptions,
  type Logger,
  PrometheusText,
  registerApiAuth,
  serverOptions,
} from '@lagscale/exporter';
import type { Command } from 'commander';
import Fastify, { type FastifyInstance } from 'fastify';
import { autoscalerGroup, ConfigError, parseInteger } from '../config.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';
import { lagMonitorFrom, listenOn, logCollection, untilStopSignal } from '../runtime.js';
import { exporterAuth } from './exporter.js';

interface AutoscaleFlags extends ConnectionFlags {
  port?: string;
  host?: string;
}

export function registerAutoscaleCommand(program: Command): void {
  const command = program
    .command('autoscale')
    .description(
      'the control loop: collect lag (or run the PromQL query of autoscaler.source), decide, scale the target; serves /metrics and /api/v1/autoscaler',
    )
    .option('--host <address>', 'listen address (default 127.0.0.1); beyond loopback API tokens are required (LAGSCALE_API_TOKENS)')
    .option('-p, --port <port>', 'listen port (default 9308)');
  addConnectionOptions(command).action(async (flags: AutoscaleFlags) => {
    if (!flags.config) throw new ConfigError('autoscale needs a config file with an autoscaler section: --config lagscale.yaml (see docs/autoscaler.md)');
    const config = resolveConfig(flags);
    if (flags.host) config.exporter.host = flags.host;
    if (flags.port) config.exporter.port = parseInteger(flags.port, '--port', 0, 65535);
    const section = config.autoscaler;
    if (!section) throw new ConfigError(`config file ${flags.config} has no autoscaler section (group, policy, behavior, target)`);
    const group = autoscalerGroup(section);
    // The exporter's rules (tokens, Host check): its pause and resume routes must not be one
    // cross-site request or one open port away.
    const auth = exporterAuth(config);
    try {
      assertTokensBeyondLoopback(auth.host, auth.tokens, 'the autoscaler', 'read lag and pause or resume scaling');
    } catch (error) {
      throw error instanceof ApiConfigError ? new ConfigError(error.message) : error;
    }
    let source: ResolvedSource;
    let policy: ResolvedPolicy;
    let behavior: ReturnType<typeof parseBehaviorConfig>;
    try {
      ({ source, policy } = resolveSourceAndPolicy(section.source, section.policy, { source: 'autoscaler.source', policy: 'autoscaler.policy' }));
      behavior = parseBehaviorConfig(section.behavior ?? {}, 'autoscaler.behavior');
    } catch (error) {
      if (error instanceof ScalingConfigError) throw new ConfigError(`config file ${flags.config}: ${error.message}`);
      throw error;
    }

    const logger = createLogger('lagscale-autoscaler');
    // The lag engine runs only when it is the source: a PromQL source needs no Kafka connection.
    let metrics: { monitor: ReturnType<typeof lagMonitorFrom> } | { metricSource: PrometheusMetricSource };
    if (source.type === 'prometheus') {
      try {
        metrics = { metricSource: new PrometheusMetricSource(source.config) };
      } catch (error) {
        if (error instanceof PrometheusQueryError) throw new ConfigError(`config file ${flags.config}: autoscaler.source: ${error.message}`);
        throw error;
      }
    } else {
      const groups = config.lag.groups.length > 0 ? [...new Set([...config.lag.groups, group.name])] : [group.name];
      const monitor = lagMonitorFrom(config, groups);
      logCollection(monitor, logger);
      metrics = { monitor };
    }
    const target = new LocalProcessPool({
      command: section.target.command,
      ...(section.target.env ? { env: section.target.env } : {}),
      ...(section.target.cwd ? { cwd: section.target.cwd } : {}),
      ...(section.target.drainTimeoutSeconds ? { drainTimeoutSeconds: section.target.drainTimeoutSeconds } : {}),
      ...(section.target.readinessPath ? { readinessPath: section.target.readinessPath } : {}),
      logger,
      name: `local:${group.name}`,
    });
    const maxGroupSize = group.kind === 'share' ? await shareGroupMaxSize(section.shareGroupMaxSize, metrics, logger) : null;
    const autoscaler = new Autoscaler({ ...metrics, group: group.name, groupKind: group.kind, maxGroupSize, policy, behavior, target, logger });
    const app =
      'monitor' in metrics
        ? await createExporterServer({ monitor: metrics.monitor, logger, metrics: [autoscalerMetrics(autoscaler)], auth })
        : sourceServer(metrics.metricSource, autoscaler, logger, auth);
    registerAutoscalerRoutes(app, autoscaler);
    const url = await listenOn(app, config);
    // Start at the minimum; the first decision follows the first lag snapshot.
    await target.setReplicas(Math.max(behavior.minReplicas, behavior.idleReplicas ?? behavior.minReplicas));
    autoscaler.start();
    if ('monitor' in metrics) metrics.monitor.start();
    else metrics.metricSource.start();
    logger.info(
      {
        event: 'autoscaler_started',
        url,
        group: group.name,
        groupKind: group.kind,
        ...(maxGroupSize === null ? {} : { maxGroupSize }),
        policy: policy.name,
        source: source.type,
        ...(source.type === 'prometheus' ? { serverAddress: source.config.serverAddress, query: source.config.query } : {}),
        minReplicas: behavior.minReplicas,
        maxReplicas: behavior.maxReplicas,
        target: target.name,
      },
      `autoscaling ${group.kind === 'share' ? 'share group ' : ''}${group.name} with policy ${policy.name}; API on ${url}`,
    );
    await untilStopSignal();
    logger.info({ event: 'autoscaler_stopping' }, 'stopping: draining workers');
    await autoscaler.stop();
    if ('monitor' in metrics) await metrics.monitor.stop();
    else await metrics.metricSource.stop();
    await target.close();
    await app.close();
  });
}

/**
 * A share group's maximum size: the config's, else the brokers' group.share.max.size (asked once),
 * else their default 200. With a PromQL source nothing is asked: the query decides, uncapped.
 */
async function shareGroupMaxSize(
  configured: number | undefined,
  metrics: { monitor: ReturnType<typeof lagMonitorFrom> } | { metricSource: PrometheusMetricSource },
  logger: Logger,
): Promise<number | null> {
  if (configured !== undefined) return configured;
  if (!('monitor' in metrics)) return null;
  try {
    const read = await metrics.monitor.collector.shareGroupMaxSize();
    if (read !== null) return read;
    logger.warn({ event: 'share_group_max_size_unknown' }, `no broker reported group.share.max.size; assuming ${DEFAULT_SHARE_GROUP_MAX_SIZE}`);
  } catch (error) {
    logger.warn(
      { event: 'share_group_max_size_unknown', err: (error as Error).message },
      `cannot read group.share.max.size from the brokers; assuming ${DEFAULT_SHARE_GROUP_MAX_SIZE} (set autoscaler.shareGroupMaxSize to say)`,
    );
  }
  return DEFAULT_SHARE_GROUP_MAX_SIZE;
}

/**
 * The HTTP face of an autoscaler whose metric is a PromQL query: `/metrics` (the autoscaler's and
 * the source's families) and `/healthz`, `/readyz`. Health does not follow Prometheus: while it
 * does not answer, the autoscaler holds or falls back as configured, which is its job, not a crash.
 */
function sourceServer(source: PrometheusMetricSource, autoscaler: Autoscaler, logger: Logger, auth: ExporterAuthOptions): FastifyInstance {
  const app = Fastify(serverOptions(logger));
  registerApiAuth(app, auth);
  const labels = { consumergroup: autoscaler.group, target: autoscaler.target.name };
  const writers = [autoscalerMetrics(autoscaler), prometheusSourceMetrics(source, labels)];
  app.get('/metrics', { config: { scope: 'read' } }, async (_request, reply) => {
    reply.header('content-type', CONTENT_TYPE);
    const out = new PrometheusText();
    for (const write of writers) write(out);
    return out.toString();
  });
  const health = () => ({
    status: 'ok',
    source: {
      type: 'prometheus',
      serverAddress: source.config.serverAddress,
      queries: source.counters.queries,
      failures: source.counters.failures,
      lastValue: source.lastReading?.value ?? null,
      lastReadingTime: source.lastReading ? new Date(source.lastReading.time).toISOString() : null,
      lastError: source.lastError,
    },
  });
  app.get('/healthz', async () => health());
  app.get('/readyz', async () => health());
  return app;
}
