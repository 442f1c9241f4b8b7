import { ApiConfigError, createExporterServer, createLogger, type ExporterAuthOptions } from '@lagscale/exporter';
import type { LagMonitor } from '@lagscale/kafka';
import type { Command } from 'commander';
import { apiTokens } from '../api-tokens.js';
import { ConfigError, type LagscaleConfig, parseInteger, parseSeconds } from '../config.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';
import { lagMonitorFrom, listenOn, logCollection, untilStopSignal } from '../runtime.js';

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
    .option(
      '--host <address>',
      'listen address (default 127.0.0.1); beyond loopback API tokens are required (LAGSCALE_API_TOKENS, a read token for Prometheus)',
    )
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
    await untilStopSignal();
    await exporter.stop();
  });
}

export interface RunningExporter {
  readonly url: string;
  readonly monitor: LagMonitor;
  stop(): Promise<void>;
}

/**
 * The API's rules (docs/http-api.md, "Authentication"): its tokens (`LAGSCALE_API_TOKENS` or the
 * config file's `api.tokens`; a `read` one is enough for /metrics and /api/v1) and, without them,
 * loopback only: a loopback Host (or one of `api.allowedHosts`), and no listening beyond loopback.
 */
export function exporterAuth(config: LagscaleConfig, env: NodeJS.ProcessEnv = process.env): ExporterAuthOptions {
  const allowedHosts = config.api?.allowedHosts;
  return { host: config.exporter.host, tokens: apiTokens(config, env), ...(allowedHosts === undefined ? {} : { allowedHosts }) };
}

export async function startExporter(config: LagscaleConfig): Promise<RunningExporter> {
  const auth = exporterAuth(config);
  const logger = createLogger('lagscale-exporter');
  const monitor = lagMonitorFrom(config, config.lag.groups);
  logCollection(monitor, logger);
  const app = await createExporterServer({ monitor, logger, auth }).catch(async (error: unknown) => {
    await monitor.stop();
    // Start-up stops with what to fix (set tokens, or listen on loopback), not a stack trace.
    throw error instanceof ApiConfigError ? new ConfigError(error.message) : error;
  });
  const url = await listenOn(app, config).catch(async (error: unknown) => {
    await monitor.stop();
    throw error;
  });
  monitor.start();
  logger.info(
    {
      event: 'exporter_started',
      url,
      brokers: config.kafka.brokers,
      intervalSeconds: config.lag.intervalSeconds,
      tokens: auth.tokens.map((token) => `${token.name}:${token.scope}`),
    },
    `lag exporter listening on ${url}${auth.tokens.length === 0 ? '; no tokens: loopback clients only' : '; /metrics and /api/v1 need a read token'}`,
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
