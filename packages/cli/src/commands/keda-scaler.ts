import { readFileSync } from 'node:fs';
import { ApiConfigError, createExporterServer, createLogger, type ExporterAuthOptions, type PrometheusText } from '@lagscale/exporter';
import type { LagMonitor } from '@lagscale/kafka';
import {
  DEFAULT_SCALER_LIMITS,
  type ExternalScalerAuth,
  type ExternalScalerServer,
  externalScalerMetrics,
  SCALER_TOKEN_ENV,
  SCALER_TOKEN_FILE_ENV,
  type ScalerLimits,
  ScalerTokens,
  scalerAuthFromEnvironment,
  startExternalScaler,
} from '@lagscale/kubernetes';
import type { Command } from 'commander';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { ConfigError, type LagscaleConfig, parseInteger, parseSeconds } from '../config.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';
import { lagMonitorFrom, listenOn, logCollection, untilStopSignal } from '../runtime.js';
import { exporterAuth } from './exporter.js';

interface KedaScalerFlags extends ConnectionFlags {
  host: string;
  port: string;
  metricsPort?: string;
  interval?: string;
  group?: string[];
  groupPattern?: string;
  serverCert?: string;
  serverKey?: string;
  clientCa?: string;
  tokenFile?: string;
  maxStates?: string;
  stateIdle?: string;
  maxMetadataKeys?: string;
  maxMetadataKeyLength?: string;
  maxMetadataValueLength?: string;
  maxStreams?: string;
  shareGroupMaxSize?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${flag}: cannot read ${file}: ${(error as Error).message}`);
  }
}

const d = DEFAULT_SCALER_LIMITS;

/**
 * The --max-* and --state-idle flags as `limits` (only those given; the rest keep their defaults).
 * The upper ends keep the largest request gRPC must accept (maxRequestBytes) in the tens of MB.
 */
function limitsFrom(flags: KedaScalerFlags): Partial<ScalerLimits> {
  const integer = (value: string | undefined, flag: string, max: number): number | undefined =>
    value === undefined ? undefined : parseInteger(value, flag, 1, max);
  const limits: Partial<Record<keyof ScalerLimits, number | undefined>> = {
    maxEntries: integer(flags.maxStates, '--max-states', 1_000_000),
    idleSeconds: flags.stateIdle === undefined ? undefined : parseSeconds(flags.stateIdle, '--state-idle'),
    maxMetadataKeys: integer(flags.maxMetadataKeys, '--max-metadata-keys', 1000),
    maxMetadataKeyLength: integer(flags.maxMetadataKeyLength, '--max-metadata-key-length', 4096),
    maxMetadataValueLength: integer(flags.maxMetadataValueLength, '--max-metadata-value-length', 65_536),
    maxStreams: integer(flags.maxStreams, '--max-streams', 100_000),
  };
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined));
}

/** --token-file (else LAGSCALE_KEDA_SCALER_TOKEN_FILE) and LAGSCALE_KEDA_SCALER_TOKEN, checked before anything starts. */
function authFrom(flags: KedaScalerFlags): ExternalScalerAuth {
  const auth = { ...scalerAuthFromEnvironment(), ...(flags.tokenFile === undefined ? {} : { tokenFile: flags.tokenFile }) };
  try {
    new ScalerTokens(auth);
  } catch (error) {
    const where = flags.tokenFile !== undefined ? '--token-file' : auth.tokenFile !== undefined ? SCALER_TOKEN_FILE_ENV : SCALER_TOKEN_ENV;
    throw new ConfigError(`${where}: ${(error as Error).message}`);
  }
  return auth;
}

/**
 * The --metrics-port server: the lag (as `lagscale exporter` serves it) and the scaler's own
 * metrics, under the exporter's rules (docs/http-api.md, "Authentication"), on the address of
 * --host: tokens from LAGSCALE_API_TOKENS or the config file's api.tokens, /healthz open for
 * probes, and without tokens loopback only. Refuses (a ConfigError) beyond loopback without tokens.
 */
async function metricsServer(
  config: LagscaleConfig,
  host: string,
  monitor: LagMonitor,
  logger: FastifyBaseLogger,
  scaler: () => ExternalScalerServer | undefined,
): Promise<{ app: FastifyInstance; auth: ExporterAuthOptions }> {
  const auth = exporterAuth({ ...config, exporter: { ...config.exporter, host } });
  const scalerMetrics = (out: PrometheusText): void => {
    const running = scaler();
    if (running !== undefined) externalScalerMetrics(running)(out);
  };
  try {
    return { app: await createExporterServer({ monitor, logger, auth, metrics: [scalerMetrics] }), auth };
  } catch (error) {
    if (!(error instanceof ApiConfigError)) throw error;
    throw new ConfigError(`--metrics-port: ${error.message} (--host sets the address of both servers), or leave out --metrics-port`);
  }
}

export function registerKedaScalerCommand(program: Command): void {
  const command = program
    .command('keda-scaler')
    .description("KEDA external scaler (gRPC): KEDA's `external` and `external-push` triggers scale on lagscale's lag and policies")
    .option('--host <address>', 'listen address of gRPC and of --metrics-port', '127.0.0.1')
    .option('-p, --port <port>', 'gRPC listen port', '9500')
    .option(
      '--metrics-port <port>',
      'also serve /metrics (lag and the scaler requests), /api/v1/groups and /healthz on this port; beyond loopback API tokens are required (LAGSCALE_API_TOKENS, a read token for Prometheus)',
    )
    .option('-i, --interval <duration>', 'lag collection interval, e.g. 5s (default 5s)')
    .option('-g, --group <id>', 'watch only this group (repeatable; default: all groups)', collect)
    .option('--group-pattern <regex>', 'watch only groups whose id matches')
    .option('--server-cert <file>', 'serve TLS with this PEM certificate (KEDA trigger: caCert)')
    .option('--server-key <file>', 'PEM key of --server-cert')
    .option('--client-ca <file>', 'require client certificates signed by this CA (KEDA trigger: tlsClientCert, tlsClientKey)')
    .option(
      '--token-file <file>',
      `require a token from this file, one a line, re-read within 10 s of a change (default: $${SCALER_TOKEN_FILE_ENV}; $${SCALER_TOKEN_ENV} is accepted too)`,
    )
    .option('--max-states <n>', `ScaledObject states held at once, the least recently used dropped beyond it (default ${d.maxEntries})`)
    .option('--state-idle <duration>', `drop a state nobody asked about for this long, e.g. 30m (default ${d.idleSeconds / 60}m)`)
    .option('--max-metadata-keys <n>', `keys in a trigger's metadata (default ${d.maxMetadataKeys})`)
    .option('--max-metadata-key-length <n>', `characters of a metadata key (default ${d.maxMetadataKeyLength})`)
    .option('--max-metadata-value-length <n>', `characters of a metadata value (default ${d.maxMetadataValueLength})`)
    .option('--max-streams <n>', `StreamIsActive calls open at once (default ${d.maxStreams})`)
    .option(
      '--share-group-max-size <n>',
      "members a share group may have, for triggers naming a shareGroup without shareGroupMaxSize (default: the brokers' group.share.max.size, else 200)",
    );
  addConnectionOptions(command).action(async (flags: KedaScalerFlags) => {
    const config = resolveConfig(flags);
    if (config.kafka.brokers.length === 0) throw new ConfigError('no Kafka brokers: pass --brokers host:port or set KAFKA_BROKERS');
    if (flags.interval) config.lag.intervalSeconds = parseSeconds(flags.interval, '--interval');
    if (flags.group) config.lag.groups = flags.group;
    if (flags.groupPattern) config.lag.groupPattern = flags.groupPattern;
    if ((flags.serverCert === undefined) !== (flags.serverKey === undefined)) throw new ConfigError('--server-cert and --server-key go together');
    if (flags.clientCa !== undefined && flags.serverCert === undefined) throw new ConfigError('--client-ca needs --server-cert and --server-key (TLS)');
    const port = parseInteger(flags.port, '--port', 0, 65535);
    const metricsPort = flags.metricsPort === undefined ? undefined : parseInteger(flags.metricsPort, '--metrics-port', 0, 65535);
    const limits = limitsFrom(flags);
    const auth = authFrom(flags);
    const logger = createLogger('lagscale-keda-scaler');
    const monitor = lagMonitorFrom(config, config.lag.groups);
    let scaler: ExternalScalerServer | undefined;
    // Made before anything starts, so a refusal (beyond loopback without tokens) stops start-up at once.
    const metrics =
      metricsPort === undefined
        ? undefined
        : await metricsServer(config, flags.host, monitor, logger, () => scaler).catch(async (error: unknown) => {
            await monitor.stop();
            throw error;
          });
    logCollection(monitor, logger);
    monitor.start();
    const shareGroupMaxSize =
      flags.shareGroupMaxSize !== undefined
        ? parseInteger(flags.shareGroupMaxSize, '--share-group-max-size', 1, 1_000_000)
        : await monitor.collector.shareGroupMaxSize().catch((error: unknown) => {
            logger.warn(
              { event: 'share_group_max_size_unknown', err: (error as Error).message },
              'cannot read group.share.max.size from the brokers; share groups are capped at 200 (--share-group-max-size to say)',
            );
            return null;
          });
    const stops: (() => Promise<void>)[] = [() => monitor.stop()];
    if (metrics !== undefined) stops.unshift(() => metrics.app.close());
    try {
      scaler = await startExternalScaler({
        source: monitor,
        brokers: config.kafka.brokers,
        shareGroupMaxSize,
        logger,
        host: flags.host,
        port,
        limits,
        auth,
        ...(flags.serverCert === undefined
          ? {}
          : {
              tls: {
                cert: readPem(flags.serverCert, '--server-cert'),
                key: readPem(flags.serverKey as string, '--server-key'),
                ...(flags.clientCa === undefined ? {} : { ca: readPem(flags.clientCa, '--client-ca') }),
              },
            }),
      });
      const running = scaler;
      stops.unshift(() => running.close());
      if (metrics !== undefined && metricsPort !== undefined) {
        const url = await listenOn(metrics.app, { ...config, exporter: { host: flags.host, port: metricsPort } });
        const { tokens } = metrics.auth;
        logger.info(
          { event: 'metrics_started', url, tokens: tokens.map((token) => `${token.name}:${token.scope}`) },
          `metrics on ${url}/metrics${tokens.length === 0 ? '; no tokens: loopback clients only' : '; /metrics and /api/v1 need a read token'}`,
        );
      }
      logger.info(
        {
          event: 'keda_scaler_started',
          address: scaler.address,
          tls: flags.serverCert !== undefined,
          authentication: scaler.authentication,
          limits: scaler.limits,
          brokers: config.kafka.brokers,
          shareGroupMaxSize: shareGroupMaxSize ?? 200,
        },
        `KEDA external scaler on ${scaler.address} (trigger metadata: scalerAddress, consumerGroup or shareGroup, topic, policy, ...)`,
      );
      const signal = await untilStopSignal();
      logger.info({ event: 'keda_scaler_stopping', signal }, 'stopping');
    } finally {
      for (const stop of stops) await stop().catch(() => {});
    }
  });
}
