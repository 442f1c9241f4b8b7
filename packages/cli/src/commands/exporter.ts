import { createExporterServer, createLogger } from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import type { Command } from 'commander';
import { compileGroupPattern, type LagscaleConfig, parseInteger, parseSeconds, toConnectionOptions } from '../config.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';

interface ExporterFlags extends ConnectionFlags {
  host?: string;
  port?: string;
  interval?: string;
  group?: string[];
  groupPattern?: string;
  exact?: boolean;
  allTopics?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerExporterCommand(program: Command): void {
  const command = program
    .command('exporter')
    .description('serve lag as Prometheus metrics (/metrics) and JSON (/api/v1/groups), collected every interval')
    .option('--host <address>', 'listen address (default 127.0.0.1)')
    .option('-p, --port <port>', 'listen port (default 9308)')
    .option('-i, --interval <duration>', 'collection interval, e.g. 5s (default 5s)')
    .option('-g, --group <id>', 'watch only this group (repeatable; default: all groups)', collect)
    .option('--group-pattern <regex>', 'watch only groups whose id matches')
    .option('--exact', 'read record timestamps for exact time lag')
    .option('--all-topics', 'export offsets of every topic, not only consumed ones');
  addConnectionOptions(command).action(async (flags: ExporterFlags) => {
    const config = resolveConfig(flags);
    if (flags.host) config.exporter.host = flags.host;
    if (flags.port) config.exporter.port = parseInteger(flags.port, '--port', 0, 65535);
    if (flags.interval) config.lag.intervalSeconds = parseSeconds(flags.interval, '--interval');
    if (flags.group) config.lag.groups = flags.group;
    if (flags.groupPattern) config.lag.groupPattern = flags.groupPattern;
    if (flags.exact) config.lag.exactTimeLag = true;
    if (flags.allTopics) config.lag.allTopics = true;
    const exporter = await startExporter(config);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await exporter.stop();
  });
}

export interface RunningExporter {
  readonly url: string;
  readonly monitor: LagMonitor;
  stop(): Promise<void>;
}

export async function startExporter(config: LagscaleConfig): Promise<RunningExporter> {
  const logger = createLogger('lagscale-exporter');
  const monitor = new LagMonitor({
    connection: toConnectionOptions(config),
    groups: config.lag.groups,
    ...(config.lag.groupPattern ? { groupPattern: compileGroupPattern(config.lag.groupPattern) as RegExp } : {}),
    readCommittedGroups: config.lag.readCommittedGroups,
    offsetResetPolicy: config.lag.offsetResetPolicy,
    exactTimeLag: config.lag.exactTimeLag,
    allTopics: config.lag.allTopics,
    windowSize: config.lag.windowSize,
    intervalSeconds: config.lag.intervalSeconds,
  });
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
  const app = await createExporterServer({ monitor, logger });
  try {
    await app.listen({ host: config.exporter.host, port: config.exporter.port });
  } catch (error) {
    await monitor.stop();
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE') {
      throw new Error(`port ${config.exporter.port} on ${config.exporter.host} is already in use: stop what uses it or pass --port <other>`);
    }
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.exporter.port;
  const url = `http://${config.exporter.host}:${port}`;
  monitor.start();
  logger.info(
    { event: 'exporter_started', url, brokers: config.kafka.brokers, intervalSeconds: config.lag.intervalSeconds },
    `lag exporter listening on ${url}`,
  );
  return {
    url,
    monitor,
    async stop() {
      await app.close();
      await monitor.stop();
      logger.info({ event: 'exporter_stopped' }, 'lag exporter stopped');
    },
  };
}
