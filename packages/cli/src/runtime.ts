import type { Logger } from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import type { FastifyInstance } from 'fastify';
import { compileGroupPattern, type LagscaleConfig, toConnectionOptions } from './config.js';

/** Resolves on the first SIGINT or SIGTERM: long-running commands stop cleanly on either. */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** The lag engine as the config describes it, watching `groups` (empty: every group). */
export function lagMonitorFrom(config: LagscaleConfig, groups: readonly string[]): LagMonitor {
  return new LagMonitor({
    connection: toConnectionOptions(config),
    groups,
    ...(config.lag.groupPattern ? { groupPattern: compileGroupPattern(config.lag.groupPattern) as RegExp } : {}),
    readCommittedGroups: config.lag.readCommittedGroups,
    offsetResetPolicy: config.lag.offsetResetPolicy,
    exactTimeLag: config.lag.exactTimeLag,
    allTopics: config.lag.allTopics,
    windowSize: config.lag.windowSize,
    ...(config.lag.allowedLag === undefined ? {} : { allowedLag: config.lag.allowedLag }),
    intervalSeconds: config.lag.intervalSeconds,
  });
}

/** One log line per failed, recovered or partial collection cycle. */
export function logCollection(monitor: LagMonitor, logger: Logger): void {
  let failing = false;
  monitor.on('error', (error) => {
    logger.error({ event: 'collection_failed', err: error.message }, 'lag collection failed; retrying next interval');
    failing = true;
  });
  monitor.on('snapshot', (snapshot) => {
    if (failing) logger.info({ event: 'collection_recovered' }, 'lag collection works again');
    failing = false;
    for (const e of snapshot.errors)
      logger.warn({ event: 'collection_partial', operation: e.operation, broker: e.broker, err: e.message }, 'part of the cluster could not be read');
    logger.debug({
      event: 'collection_cycle',
      groups: snapshot.groups.length,
      durationMs: Math.round(snapshot.stats.durationMs),
      requests: snapshot.stats.requests,
    });
  });
}

/** Listens on the configured address; a taken port says so. Returns the URL (with the real port when 0 was asked). */
export async function listenOn(app: FastifyInstance, config: LagscaleConfig): Promise<string> {
  const { host, port } = config.exporter;
  try {
    await app.listen({ host, port });
  } catch (error) {
    if ((error as { code?: string }).code === 'EADDRINUSE')
      throw new Error(`port ${port} on ${host} is already in use: stop what uses it or pass --port <other>`);
    throw error;
  }
  const address = app.server.address();
  return `http://${host}:${typeof address === 'object' && address ? address.port : port}`;
}
