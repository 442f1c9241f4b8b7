import { SASL_MECHANISMS } from '@lagscale/kafka';
import { type Command, Option } from 'commander';
import { applyEnv, ConfigError, defaultConfig, type LagscaleConfig, loadConfigFile, mergeConfig, parseInteger, splitList } from './config.js';

export interface ConnectionFlags {
  config?: string;
  brokers?: string;
  clientId?: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsInsecure?: boolean;
  saslMechanism?: string;
  saslUsername?: string;
  saslPassword?: string;
  requestTimeout?: string;
}

/** The flags every command that talks to Kafka takes. */
export function addConnectionOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'YAML config file (flags and env vars override it)')
    .option('-b, --brokers <list>', 'bootstrap brokers, host:port[,host:port] (env KAFKA_BROKERS)')
    .option('--client-id <id>', 'Kafka client id (default lagscale)')
    .option('--tls', 'connect with TLS')
    .option('--tls-ca <file>', 'PEM file of the CA that signed the broker certificates (implies --tls)')
    .option('--tls-cert <file>', 'PEM client certificate for brokers that require client authentication')
    .option('--tls-key <file>', 'PEM key of the client certificate')
    .option('--tls-insecure', 'accept any broker certificate (testing only)')
    .addOption(new Option('--sasl-mechanism <name>', 'SASL mechanism (env KAFKA_SASL_MECHANISM)').choices([...SASL_MECHANISMS]))
    .option('--sasl-username <name>', 'SASL username (env KAFKA_SASL_USERNAME)')
    .option('--sasl-password <secret>', 'SASL password (env KAFKA_SASL_PASSWORD; prefer the env var)')
    .option('--request-timeout <ms>', 'Kafka request timeout in milliseconds (default 10000)');
}

/** Defaults, then the config file, then env vars, then flags. */
export function resolveConfig(flags: ConnectionFlags): LagscaleConfig {
  const base = defaultConfig();
  const config = flags.config ? mergeConfig(base, loadConfigFile(flags.config)) : base;
  applyEnv(config);
  const kafka = config.kafka;
  if (flags.brokers) kafka.brokers = splitList(flags.brokers);
  if (flags.clientId) kafka.clientId = flags.clientId;
  if (flags.tls || flags.tlsCa || flags.tlsCert || flags.tlsKey || flags.tlsInsecure) {
    kafka.tls = {
      ...kafka.tls,
      enabled: true,
      ...(flags.tlsCa ? { ca: flags.tlsCa } : {}),
      ...(flags.tlsCert ? { cert: flags.tlsCert } : {}),
      ...(flags.tlsKey ? { key: flags.tlsKey } : {}),
      ...(flags.tlsInsecure ? { insecure: true } : {}),
    };
  }
  if (flags.saslMechanism || flags.saslUsername || flags.saslPassword) {
    const mechanism = (flags.saslMechanism ?? kafka.sasl?.mechanism) as LagscaleConfig['kafka']['sasl'] extends infer S
      ? S extends { mechanism: infer M }
        ? M
        : never
      : never;
    const username = flags.saslUsername ?? kafka.sasl?.username;
    if (!mechanism) throw new ConfigError(`SASL needs a mechanism: --sasl-mechanism ${SASL_MECHANISMS.join('|')}`);
    if (!username) throw new ConfigError('SASL needs a username: --sasl-username or KAFKA_SASL_USERNAME');
    kafka.sasl = { mechanism, username, password: flags.saslPassword ?? kafka.sasl?.password ?? '' };
  }
  if (flags.requestTimeout) kafka.requestTimeoutMs = parseInteger(flags.requestTimeout, '--request-timeout', 100, 300000);
  return config;
}
