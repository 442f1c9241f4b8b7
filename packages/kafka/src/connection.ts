import { readFileSync } from 'node:fs';
import type { ConnectionOptions, SASLMechanismValue } from '@platformatic/kafka';

export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** How to reach a Kafka cluster: what the CLI flags, the config file and the env vars fill in. */
export interface KafkaConnectionOptions {
  /** `host:port` bootstrap brokers. */
  readonly brokers: readonly string[];
  readonly clientId?: string;
  readonly tls?: {
    /** PEM file of the CA that signed the brokers' certificates. */
    readonly ca?: string;
    /** PEM client certificate and key, for brokers that require client authentication. */
    readonly cert?: string;
    readonly key?: string;
    /** Defaults to true; false accepts any broker certificate (testing only). */
    readonly rejectUnauthorized?: boolean;
  };
  readonly sasl?: {
    readonly mechanism: SaslMechanism;
    readonly username: string;
    readonly password: string;
  };
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
}

export interface BrokerAddress {
  readonly host: string;
  readonly port: number;
}

export function parseBrokerAddress(value: string): BrokerAddress {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || port < 1 || port > 65535) {
    throw new Error(`broker address "${value}" is not host:port (e.g. 127.0.0.1:9092)`);
  }
  return { host: match[1] as string, port };
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read TLS ${what} file ${path}: ${(error as Error).message}`);
  }
}

/** Checks the options and turns them into the Kafka client's connection options. */
export function toClientConnectionOptions(options: KafkaConnectionOptions): ConnectionOptions {
  if (options.brokers.length === 0) throw new Error('no Kafka brokers given: pass --brokers host:port or set KAFKA_BROKERS');
  for (const broker of options.brokers) parseBrokerAddress(broker);
  const result: ConnectionOptions = {
    connectTimeout: options.connectTimeoutMs ?? 5000,
    requestTimeout: options.requestTimeoutMs ?? 10000,
  };
  if (options.tls) {
    const { ca, cert, key } = options.tls;
    if ((cert === undefined) !== (key === undefined)) {
      throw new Error('TLS client authentication needs both a certificate and a key (--tls-cert and --tls-key)');
    }
    result.tls = {
      rejectUnauthorized: options.tls.rejectUnauthorized ?? true,
      ...(ca === undefined ? {} : { ca: readPem(ca, 'CA') }),
      ...(cert === undefined ? {} : { cert: readPem(cert, 'certificate') }),
      ...(key === undefined ? {} : { key: readPem(key, 'key') }),
    };
  }
  if (options.sasl) {
    const { mechanism, username, password } = options.sasl;
    if (!SASL_MECHANISMS.includes(mechanism)) {
      throw new Error(`SASL mechanism "${mechanism}" is not supported; use one of ${SASL_MECHANISMS.join(', ')}`);
    }
    if (username === '') throw new Error('SASL needs a username (--sasl-username or KAFKA_SASL_USERNAME)');
    result.sasl = { mechanism: mechanism as SASLMechanismValue, username, password };
  }
  return result;
}
