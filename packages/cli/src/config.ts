import { readFileSync } from 'node:fs';
import type { OffsetResetPolicy } from '@lagscale/core';
import { type KafkaConnectionOptions, SASL_MECHANISMS, type SaslMechanism } from '@lagscale/kafka';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './config-error.js';
import { STORE_SECTION_SCHEMA, type StoreSection } from './store-section.js';

/** The whole configuration: one YAML file, then env vars, then command-line flags. */
export interface LagscaleConfig {
  kafka: {
    brokers: string[];
    clientId: string;
    tls?: { enabled?: boolean; ca?: string; cert?: string; key?: string; insecure?: boolean };
    sasl?: { mechanism: SaslMechanism; username: string; password: string };
    connectTimeoutMs: number;
    requestTimeoutMs: number;
  };
  lag: {
    groups: string[];
    groupPattern?: string;
    intervalSeconds: number;
    windowSize: number;
    /** Lag at or below this counts as caught up in the status rules (Burrow's allowed-lag). */
    allowedLag?: number;
    offsetResetPolicy: OffsetResetPolicy;
    readCommittedGroups: string[];
    exactTimeLag: boolean;
    allTopics: boolean;
  };
  exporter: { host: string; port: number };
  /** Present when the file configures the autoscaler; checked in full by `lagscale autoscale`. */
  autoscaler?: AutoscalerSection;
  /** The result store of the validator (flags and env vars override it; see store.ts). */
  store?: StoreSection;
  /** API tokens (`LAGSCALE_API_TOKENS` replaces them); checked in full by the API. */
  api?: {
    tokens?: { name: string; scope: 'read' | 'write' | 'admin'; secret: string }[];
    /** Host names served besides loopback ones when there are no tokens (a name in /etc/hosts for 127.0.0.1, say). */
    allowedHosts?: string[];
  };
}

export interface AutoscalerSection {
  /** The consumer group to scale; exactly one of `group` and `shareGroup`. */
  group?: string;
  /** A share group (KIP-932) to scale instead: its members are not bound to partitions. */
  shareGroup?: string;
  /**
   * The share group's maximum size (the brokers' group.share.max.size), the most members worth
   * asking for. Absent: read from the brokers, else their default 200.
   */
  shareGroupMaxSize?: number;
  /** Where the metric comes from: Kafka lag (absent or `{ type: kafka }`) or `{ type: prometheus, query, ... }`; checked in full by `resolveSource`. */
  source?: Record<string, unknown> & { type: 'kafka' | 'prometheus' };
  policy?: Record<string, unknown>;
  behavior?: Record<string, unknown>;
  /** Hold scale-ups while the workers' result store does not answer (default true; `npm start`). */
  holdScaleOutWhenStoreDown?: boolean;
  target: { type: 'local'; command: string[]; env?: Record<string, string>; cwd?: string; drainTimeoutSeconds?: number; readinessPath?: string };
}

export { ConfigError } from './config-error.js';

const brokerPattern = '^[^\\s:]+:[0-9]{1,5}$';

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    kafka: {
      type: 'object',
      additionalProperties: false,
      properties: {
        brokers: { type: 'array', items: { type: 'string', pattern: brokerPattern }, minItems: 1 },
        clientId: { type: 'string', minLength: 1 },
        tls: {
          type: 'object',
          additionalProperties: false,
          properties: {
            enabled: { type: 'boolean' },
            ca: { type: 'string' },
            cert: { type: 'string' },
            key: { type: 'string' },
            insecure: { type: 'boolean' },
          },
        },
        sasl: {
          type: 'object',
          additionalProperties: false,
          required: ['mechanism', 'username', 'password'],
          properties: { mechanism: { enum: [...SASL_MECHANISMS] }, username: { type: 'string', minLength: 1 }, password: { type: 'string' } },
        },
        connectTimeoutMs: { type: 'integer', minimum: 100, maximum: 300000 },
        requestTimeoutMs: { type: 'integer', minimum: 100, maximum: 300000 },
      },
    },
    lag: {
      type: 'object',
      additionalProperties: false,
      properties: {
        groups: { type: 'array', items: { type: 'string', minLength: 1 } },
        groupPattern: { type: 'string' },
        intervalSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 3600 },
        windowSize: { type: 'integer', minimum: 2, maximum: 1000 },
        allowedLag: { type: 'integer', minimum: 0 },
        offsetResetPolicy: { enum: ['earliest', 'latest'] },
        readCommittedGroups: { type: 'array', items: { type: 'string', minLength: 1 } },
        exactTimeLag: { type: 'boolean' },
        allTopics: { type: 'boolean' },
      },
    },
    exporter: {
      type: 'object',
      additionalProperties: false,
      properties: { host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 0, maximum: 65535 } },
    },
    store: STORE_SECTION_SCHEMA,
    api: {
      type: 'object',
      additionalProperties: false,
      properties: {
        tokens: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'scope', 'secret'],
            properties: { name: { type: 'string' }, scope: { enum: ['read', 'write', 'admin'] }, secret: { type: 'string' } },
          },
        },
        allowedHosts: { type: 'array', items: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9.-]+$' } },
      },
    },
    autoscaler: {
      type: 'object',
      additionalProperties: false,
      required: ['target'],
      properties: {
        group: { type: 'string', minLength: 1 },
        shareGroup: { type: 'string', minLength: 1 },
        shareGroupMaxSize: { type: 'integer', minimum: 1 },
        // The source, policy and behavior are checked by the scaling core, which names each mistake's path.
        source: { type: 'object', required: ['type'], properties: { type: { enum: ['kafka', 'prometheus'] } } },
        policy: { type: 'object' },
        behavior: { type: 'object' },
        holdScaleOutWhenStoreDown: { type: 'boolean' },
        target: {
          type: 'object',
          additionalProperties: false,
          required: ['type', 'command'],
          properties: {
            type: { enum: ['local'] },
            command: { type: 'array', items: { type: 'string' }, minItems: 1 },
            env: { type: 'object', additionalProperties: { type: 'string' } },
            cwd: { type: 'string' },
            drainTimeoutSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 3600 },
            readinessPath: { type: 'string', pattern: '^/' },
          },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);

function describeSchemaError(e: ErrorObject): string {
  const path = e.instancePath === '' ? '(top level)' : e.instancePath.slice(1).replace(/\//g, '.');
  if (e.keyword === 'additionalProperties') return `${path}: unknown setting "${(e.params as { additionalProperty: string }).additionalProperty}"`;
  if (e.keyword === 'enum') return `${path}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  if (e.keyword === 'pattern' && path.startsWith('kafka.brokers')) return `${path}: "must be host:port, e.g. 127.0.0.1:9092"`;
  return `${path}: ${e.message ?? e.keyword}`;
}

export function defaultConfig(): LagscaleConfig {
  return {
    kafka: { brokers: [], clientId: 'lagscale', connectTimeoutMs: 5000, requestTimeoutMs: 10000 },
    lag: { groups: [], intervalSeconds: 5, windowSize: 10, offsetResetPolicy: 'latest', readCommittedGroups: [], exactTimeLag: false, allTopics: false },
    exporter: { host: '127.0.0.1', port: 9308 },
  };
}

/** Reads and validates a YAML config file; every mistake is listed with its path. */
export function loadConfigFile(path: string): Partial<Record<keyof LagscaleConfig, object>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text) ?? {};
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(error as Error).message}`);
  }
  if (!validate(document)) {
    const problems = (validate.errors ?? []).map(describeSchemaError);
    throw new ConfigError(`config file ${path} has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  - ${problems.join('\n  - ')}`);
  }
  const autoscaler = (document as { autoscaler?: AutoscalerSection }).autoscaler;
  if (autoscaler !== undefined) {
    const problem = autoscalerGroupProblem(autoscaler);
    if (problem !== null) throw new ConfigError(`config file ${path} has 1 problem:\n  - ${problem}`);
  }
  return document as Partial<Record<keyof LagscaleConfig, object>>;
}

/** Environment variables that override the file (the flags override both). */
export function applyEnv(config: LagscaleConfig, env: NodeJS.ProcessEnv = process.env): void {
  if (env.KAFKA_BROKERS) config.kafka.brokers = splitList(env.KAFKA_BROKERS);
  if (env.KAFKA_CLIENT_ID) config.kafka.clientId = env.KAFKA_CLIENT_ID;
  if (env.KAFKA_SASL_MECHANISM || env.KAFKA_SASL_USERNAME) {
    config.kafka.sasl = {
      mechanism: (env.KAFKA_SASL_MECHANISM ?? config.kafka.sasl?.mechanism ?? 'SCRAM-SHA-512') as SaslMechanism,
      username: env.KAFKA_SASL_USERNAME ?? config.kafka.sasl?.username ?? '',
      password: env.KAFKA_SASL_PASSWORD ?? config.kafka.sasl?.password ?? '',
    };
  }
  if (env.KAFKA_TLS_CA) config.kafka.tls = { ...config.kafka.tls, enabled: true, ca: env.KAFKA_TLS_CA };
  if (env.LAGSCALE_EXPORTER_PORT) config.exporter.port = parseInteger(env.LAGSCALE_EXPORTER_PORT, 'LAGSCALE_EXPORTER_PORT', 0, 65535);
}

/** The autoscaler names exactly one group: a consumer group (`group`) or a share group (`shareGroup`). */
export function autoscalerGroupProblem(section: AutoscalerSection): string | null {
  if (section.group !== undefined && section.shareGroup !== undefined)
    return 'autoscaler.shareGroup: give either group (a consumer group) or shareGroup (a share group), not both';
  if (section.group === undefined && section.shareGroup === undefined)
    return 'autoscaler.group: required (the consumer group to scale), or shareGroup for a share group';
  if (section.shareGroupMaxSize !== undefined && section.shareGroup === undefined)
    return 'autoscaler.shareGroupMaxSize: only applies with shareGroup (a consumer group is capped by its partitions)';
  return null;
}

/** The group an autoscaler section names, with its kind. */
export function autoscalerGroup(section: AutoscalerSection): { name: string; kind: 'consumer' | 'share' } {
  return section.shareGroup !== undefined ? { name: section.shareGroup, kind: 'share' } : { name: section.group as string, kind: 'consumer' };
}

export function mergeConfig(base: LagscaleConfig, file: Partial<Record<keyof LagscaleConfig, object>>): LagscaleConfig {
  return {
    kafka: { ...base.kafka, ...(file.kafka ?? {}) },
    lag: { ...base.lag, ...(file.lag ?? {}) },
    exporter: { ...base.exporter, ...(file.exporter ?? {}) },
    ...(file.autoscaler ? { autoscaler: file.autoscaler as AutoscalerSection } : {}),
    ...(file.api ? { api: file.api as NonNullable<LagscaleConfig['api']> } : {}),
    ...(file.store ? { store: file.store as StoreSection } : {}),
  };
}

export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function parseInteger(value: string, what: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${what} must be a whole number from ${min} to ${max}, got "${value}"`);
  return n;
}

export function parseSeconds(value: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new ConfigError(`${what} must be a duration like 5s, 500ms or 1m, got "${value}"`);
  const n = Number(match[1]);
  const seconds = match[2] === 'ms' ? n / 1000 : match[2] === 'm' ? n * 60 : n;
  if (!(seconds > 0)) throw new ConfigError(`${what} must be more than zero, got "${value}"`);
  return seconds;
}

export function toConnectionOptions(config: LagscaleConfig): KafkaConnectionOptions {
  const { kafka } = config;
  if (kafka.brokers.length === 0) {
    throw new ConfigError('no Kafka brokers: pass --brokers host:port, set KAFKA_BROKERS, or set kafka.brokers in the config file');
  }
  for (const b of kafka.brokers) {
    if (!new RegExp(brokerPattern).test(b)) throw new ConfigError(`broker "${b}" must be host:port, e.g. 127.0.0.1:9092`);
  }
  const tls = kafka.tls;
  const useTls = tls !== undefined && (tls.enabled ?? true);
  return {
    brokers: kafka.brokers,
    clientId: kafka.clientId,
    connectTimeoutMs: kafka.connectTimeoutMs,
    requestTimeoutMs: kafka.requestTimeoutMs,
    ...(useTls
      ? {
          tls: {
            ...(tls.ca ? { ca: tls.ca } : {}),
            ...(tls.cert ? { cert: tls.cert } : {}),
            ...(tls.key ? { key: tls.key } : {}),
            rejectUnauthorized: !(tls.insecure ?? false),
          },
        }
      : {}),
    ...(kafka.sasl ? { sasl: kafka.sasl } : {}),
  };
}

export function compileGroupPattern(pattern: string | undefined): RegExp | undefined {
  if (pattern === undefined) return undefined;
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw new ConfigError(`group pattern "${pattern}" is not a valid regular expression: ${(error as Error).message}`);
  }
}
