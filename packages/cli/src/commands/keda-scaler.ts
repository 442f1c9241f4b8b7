import { readFileSync } from 'node:fs';
import { createExporterServer, createLogger, type PrometheusText } from '@lagscale/exporter';
import { type ExternalScalerServer, startExternalScaler } from '@lagscale/kubernetes';
import type { Command } from 'commander';
import { ConfigError, parseInteger, parseSeconds } from '../config.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';
import { lagMonitorFrom, listenOn, logCollection, untilStopSignal } from '../runtime.js';

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
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${flag}: cannot read ${file}: ${(error as Error).message}`);
  }
}

export function registerKedaScalerCommand(program: Command): void {
  const command = program
    .command('keda-scaler')
    .description("KEDA external scaler (gRPC): KEDA's `external` and `external-push` triggers scale on lagscale's lag and policies")
    .option('--host <address>', 'gRPC listen address', '127.0.0.1')
    .option('-p, --port <port>', 'gRPC listen port', '9500')
    .option('--metrics-port <port>', 'also serve /metrics (lag and the scaler requests) and /healthz on this port')
    .option('-i, --interval <duration>', 'lag collection interval, e.g. 5s (default 5s)')
    .option('-g, --group <id>', 'watch only this group (repeatable; default: all groups)', collect)
    .option('--group-pattern <regex>', 'watch only groups whose id matches')
    .option('--server-cert <file>', 'serve TLS with this PEM certificate (KEDA trigger: caCert)')
    .option('--server-key <file>', 'PEM key of --server-cert')
    .option('--client-ca <file>', 'require client certificates signed by this CA (KEDA trigger: tlsClientCert, tlsClientKey)');
  addConnectionOptions(command).action(async (flags: KedaScalerFlags) => {
    const config = resolveConfig(flags);
    if (config.kafka.brokers.length === 0) throw new ConfigError('no Kafka brokers: pass --brokers host:port or set KAFKA_BROKERS');
    if (flags.interval) config.lag.intervalSeconds = parseSeconds(flags.interval, '--interval');
    if (flags.group) config.lag.groups = flags.group;
    if (flags.groupPattern) config.lag.groupPattern = flags.groupPattern;
    if ((flags.serverCert === undefined) !== (flags.serverKey === undefined)) throw new ConfigError('--server-cert and --server-key go together');
    if (flags.clientCa !== undefined && flags.serverCert === undefined) throw new ConfigError('--client-ca needs --server-cert and --server-key (TLS)');
    const port = parseInteger(flags.port, '--port', 0, 65535);
    const logger = createLogger('lagscale-keda-scaler');
    const monitor = lagMonitorFrom(config, config.lag.groups);
    logCollection(monitor, logger);
    monitor.start();
    let scaler: ExternalScalerServer | undefined;
    const stops: (() => Promise<void>)[] = [() => monitor.stop()];
    try {
      scaler = await startExternalScaler({
        source: monitor,
        brokers: config.kafka.brokers,
        logger,
        host: flags.host,
        port,
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
      if (flags.metricsPort !== undefined) {
        const requests = (out: PrometheusText): void => {
          out.family('lagscale_keda_scaler_requests_total', 'counter', 'gRPC calls from KEDA, by method.');
          for (const [method, count] of running.counters.requests) out.sample('lagscale_keda_scaler_requests_total', { method }, count);
          out.family('lagscale_keda_scaler_errors_total', 'counter', 'gRPC calls answered with an error (bad metadata, lag unknown), by method.');
          for (const [method, count] of running.counters.errors) out.sample('lagscale_keda_scaler_errors_total', { method }, count);
        };
        const app = await createExporterServer({ monitor, logger, metrics: [requests] });
        const url = await listenOn(app, { ...config, exporter: { host: flags.host, port: parseInteger(flags.metricsPort, '--metrics-port', 0, 65535) } });
        stops.unshift(() => app.close());
        logger.info({ event: 'metrics_started', url }, `metrics on ${url}/metrics`);
      }
      logger.info(
        { event: 'keda_scaler_started', address: scaler.address, tls: flags.serverCert !== undefined, brokers: config.kafka.brokers },
        `KEDA external scaler on ${scaler.address} (trigger metadata: scalerAddress, consumerGroup, topic, policy, ...)`,
      );
      const signal = await untilStopSignal();
      logger.info({ event: 'keda_scaler_stopping', signal }, 'stopping');
    } finally {
      for (const stop of stops) await stop().catch(() => {});
    }
  });
}
