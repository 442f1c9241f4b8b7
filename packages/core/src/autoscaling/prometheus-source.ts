/**
 * Source `prometheus`: scale on the value of a PromQL query, with KEDA's prometheus scaler
 * semantics (pkg/scalers/prometheus_scaler.go): `threshold` is the HPA AverageValue target per
 * replica, `activationThreshold` decides activity (value > activationThreshold), an empty result
 * (or NaN/±Inf) is 0 under `ignoreNullValues` (the default) and a failed read otherwise, and a
 * query that returns more than one series is a failed read. The pure half lives here: the config
 * (validated up front, each mistake named by its path), the request the query makes, the query
 * result turned into one value, and that value turned into replicas by the same HPA arithmetic
 * the `threshold` policy uses. The HTTP client is in @lagscale/autoscaler (sources/prometheus.ts).
 */

import { type ConfigObject, joinPath, readBoolean, readChoice, readInteger, readObject, rejectUnknownKeys } from './config-reader.js';
import {
  formatTolerance,
  type HpaMetricType,
  type HpaTolerance,
  hpaAverageValueReplicas,
  hpaValueReplicas,
  ScalingMetricUnavailableError,
} from './threshold-policy.js';
import { type PolicyRecommendation, ScalingConfigError, type ScalingInput, type ScalingPolicy } from './types.js';

/** Credentials for the query API (KEDA's TriggerAuthentication parameters for the prometheus scaler). */
export type PrometheusAuth =
  | { readonly mode: 'none' }
  | { readonly mode: 'bearer'; readonly bearerToken: string | null; readonly bearerTokenFile: string | null }
  | { readonly mode: 'basic'; readonly username: string; readonly password: string }
  | { readonly mode: 'custom'; readonly customAuthHeader: string; readonly customAuthValue: string };

export interface PrometheusSourceConfig {
  /** Base address of the query API, without a trailing slash (`http://prometheus:9090`, or a path prefix for Thanos/Mimir). */
  readonly serverAddress: string;
  /** The PromQL instant query; it must return one series or a scalar. */
  readonly query: string;
  /** The HPA target (KEDA threshold, a float > 0): per replica for AverageValue, for the whole value for Value. */
  readonly threshold: number;
  /** KEDA trigger `metricType`: AverageValue (default; value / threshold replicas) or Value (ready replicas x value / threshold). */
  readonly metricType: HpaMetricType;
  /** Active while value > activationThreshold (KEDA default 0). */
  readonly activationThreshold: number;
  /** Empty result, an empty value, NaN or ±Inf count as 0 (true, KEDA's default) or fail the read (false). */
  readonly ignoreNullValues: boolean;
  /** Extra query-string parameters (KEDA queryParameters), e.g. { dedup: 'true' } for Thanos. */
  readonly queryParameters: Readonly<Record<string, string>>;
  /** Extra request headers (KEDA customHeaders), e.g. { 'X-Scope-OrgID': 'team-a' } for Mimir/Cortex. */
  readonly customHeaders: Readonly<Record<string, string>>;
  /** Sent as the `namespace` query parameter (KEDA namespace, for Thanos' namespaced queries); null: not sent. */
  readonly namespace: string | null;
  /** Skip certificate verification (KEDA unsafeSsl; for self-signed test servers only). */
  readonly unsafeSsl: boolean;
  /** PEM files for https: the CA to trust, and a client certificate and key (KEDA authModes tls). */
  readonly tls: { readonly ca: string | null; readonly cert: string | null; readonly key: string | null };
  readonly auth: PrometheusAuth;
  /** Milliseconds before a query is abandoned and counted as a failed read (KEDA timeout; default 3000, KEDA's global HTTP timeout). */
  readonly timeout: number;
  /** Seconds between queries (KEDA's ScaledObject pollingInterval; default 30). One query = one autoscaler cycle. */
  readonly pollingInterval: number;
  readonly tolerance: HpaTolerance;
}

export const PROMETHEUS_SOURCE_DEFAULTS = {
  activationThreshold: 0,
  metricType: 'AverageValue',
  ignoreNullValues: true,
  unsafeSsl: false,
  timeout: 3000,
  pollingInterval: 30,
  tolerance: { scaleUp: 0.1, scaleDown: 0.1 },
} as const;

const CONFIG_KEYS = [
  'serverAddress',
  'query',
  'threshold',
  'activationThreshold',
  'ignoreNullValues',
  'queryParameters',
  'customHeaders',
  'namespace',
  'unsafeSsl',
  'tls',
  'auth',
  'timeout',
  'pollingInterval',
  'metricType',
  'tolerance',
] as const;

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : String(value);
}

/** A float as KEDA reads trigger metadata: a number, or a string holding one ("100.50"). */
function readFloat(
  obj: ConfigObject,
  key: string,
  path: string,
  problems: string[],
  rule: { required: boolean; fallback: number; positive?: boolean },
): number {
  const value = obj[key];
  const at = joinPath(path, key);
  if (value === undefined || value === null) {
    if (rule.required) problems.push(`${at}: required (a number${rule.positive ? ' > 0' : ''})`);
    return rule.fallback;
  }
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value.trim()) : value;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed)) {
    problems.push(`${at}: must be a number, got ${describe(value)}`);
    return rule.fallback;
  }
  if (rule.positive && parsed <= 0) {
    problems.push(`${at}: must be more than 0 (the value one replica should carry), got ${parsed}`);
    return rule.fallback;
  }
  return parsed;
}

function readText(obj: ConfigObject, key: string, path: string, problems: string[], required: boolean): string | null {
  const value = obj[key];
  if (value === undefined || value === null) {
    if (required) problems.push(`${joinPath(path, key)}: required`);
    return null;
  }
  if (typeof value !== 'string' || value.trim() === '') {
    problems.push(`${joinPath(path, key)}: must be a non-empty string, got ${describe(value)}`);
    return null;
  }
  return value;
}

/** KEDA's "key-1=value-1,key-2=value-2" string, or a YAML map of strings. */
function readStringMap(obj: ConfigObject, key: string, path: string, problems: string[], namePattern: RegExp, what: string): Record<string, string> {
  const value = obj[key];
  const at = joinPath(path, key);
  if (value === undefined || value === null || value === '') return {};
  const entries: [string, unknown][] = [];
  if (typeof value === 'string') {
    for (const pair of value.split(',')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) {
        problems.push(`${at}: ${JSON.stringify(pair.trim())} is not key=value (expected e.g. "a=1,b=2")`);
        return {};
      }
      entries.push([pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()]);
    }
  } else if (typeof value === 'object' && !Array.isArray(value)) {
    entries.push(...Object.entries(value as Record<string, unknown>));
  } else {
    problems.push(`${at}: must be a map of strings or a string like "a=1,b=2", got ${describe(value)}`);
    return {};
  }
  const map: Record<string, string> = {};
  for (const [name, item] of entries) {
    if (!namePattern.test(name)) {
      problems.push(`${joinPath(at, name)}: ${JSON.stringify(name)} is not a valid ${what} name`);
      continue;
    }
    if (name === PROTO) {
      problems.push(`${joinPath(at, name)}: ${protoRefusal(what)}`);
      continue;
    }
    if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') {
      problems.push(`${joinPath(at, name)}: must be a string, got ${describe(item)}`);
      continue;
    }
    map[name] = String(item);
  }
  return map;
}

// RFC 9110 token characters: what a header name may hold.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// A name the token rules allow but a JavaScript object does not hold: `map.__proto__ = 'x'` sets
// no key, so the header or parameter would be dropped without a word (an auth header among them).
const PROTO = '__proto__';
const protoRefusal = (what: string): string => `"${PROTO}" cannot be a ${what} name here (a JavaScript object would drop it, not send it); rename it`;
const PARAMETER_NAME = /^[^\s&=#]+$/;
const RESERVED_PARAMETERS = ['query', 'time'];

function readServerAddress(obj: ConfigObject, path: string, problems: string[]): string {
  const text = readText(obj, 'serverAddress', path, problems, true);
  if (text === null) return '';
  let url: URL;
  try {
    // "prometheus:9090" parses as a URL of scheme "prometheus"; say what is missing instead.
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new Error('no scheme');
    url = new URL(text);
  } catch {
    problems.push(`${joinPath(path, 'serverAddress')}: must be an http:// or https:// URL like http://127.0.0.1:9090, got ${JSON.stringify(text)}`);
    return '';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${joinPath(path, 'serverAddress')}: must use http or https, got ${url.protocol.replace(/:$/, '')}`);
    return '';
  }
  if (url.search !== '' || url.hash !== '') {
    problems.push(`${joinPath(path, 'serverAddress')}: must not carry a query string or fragment (use queryParameters)`);
    return '';
  }
  if (url.username !== '' || url.password !== '') {
    problems.push(`${joinPath(path, 'serverAddress')}: must not carry credentials (use auth.username and auth.password)`);
    return '';
  }
  return text.replace(/\/+$/, '');
}

function readTls(obj: ConfigObject, path: string, problems: string[]): PrometheusSourceConfig['tls'] {
  const at = joinPath(path, 'tls');
  const inner = readObject(obj.tls, at, problems);
  if (inner === null) return { ca: null, cert: null, key: null };
  rejectUnknownKeys(inner, ['ca', 'cert', 'key'], at, problems);
  const tls = {
    ca: readText(inner, 'ca', at, problems, false),
    cert: readText(inner, 'cert', at, problems, false),
    key: readText(inner, 'key', at, problems, false),
  };
  if ((tls.cert === null) !== (tls.key === null)) problems.push(`${at}: cert and key go together (a client certificate needs its key)`);
  return tls;
}

function readAuth(obj: ConfigObject, path: string, problems: string[]): PrometheusAuth {
  const at = joinPath(path, 'auth');
  const inner = readObject(obj.auth, at, problems);
  if (inner === null) return { mode: 'none' };
  rejectUnknownKeys(inner, ['bearerToken', 'bearerTokenFile', 'username', 'password', 'customAuthHeader', 'customAuthValue'], at, problems);
  const bearerToken = readText(inner, 'bearerToken', at, problems, false);
  const bearerTokenFile = readText(inner, 'bearerTokenFile', at, problems, false);
  const username = readText(inner, 'username', at, problems, false);
  const customAuthHeader = readText(inner, 'customAuthHeader', at, problems, false);
  const modes = [
    bearerToken !== null || bearerTokenFile !== null ? 'bearer' : null,
    username !== null ? 'basic' : null,
    customAuthHeader !== null ? 'custom' : null,
  ].filter((mode) => mode !== null);
  if (modes.length > 1) {
    problems.push(`${at}: choose one of bearerToken(File), username/password or customAuthHeader/customAuthValue, got ${modes.join(' and ')}`);
    return { mode: 'none' };
  }
  if (bearerToken !== null && bearerTokenFile !== null) {
    problems.push(`${at}: bearerToken and bearerTokenFile exclude each other (the file is read on every query, so a rotated token is picked up)`);
  }
  if (modes[0] === 'bearer') return { mode: 'bearer', bearerToken, bearerTokenFile };
  if (modes[0] === 'basic') {
    const password = inner.password;
    if (typeof password !== 'string') problems.push(`${joinPath(at, 'password')}: required with username (a string)`);
    return { mode: 'basic', username: username as string, password: typeof password === 'string' ? password : '' };
  }
  if (modes[0] === 'custom') {
    if (!HEADER_NAME.test(customAuthHeader as string)) problems.push(`${joinPath(at, 'customAuthHeader')}: is not a valid header name`);
    else if (customAuthHeader === PROTO) problems.push(`${joinPath(at, 'customAuthHeader')}: ${protoRefusal('header')}`);
    const value = readText(inner, 'customAuthValue', at, problems, true);
    return { mode: 'custom', customAuthHeader: customAuthHeader as string, customAuthValue: value ?? '' };
  }
  if (inner.password !== undefined) problems.push(`${joinPath(at, 'password')}: needs username`);
  if (inner.customAuthValue !== undefined) problems.push(`${joinPath(at, 'customAuthValue')}: needs customAuthHeader`);
  return { mode: 'none' };
}

function readTolerance(obj: ConfigObject, path: string, problems: string[]): HpaTolerance {
  const value = obj.tolerance;
  if (value === undefined) return PROMETHEUS_SOURCE_DEFAULTS.tolerance;
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0 || parsed > 1) {
    problems.push(`${joinPath(path, 'tolerance')}: must be a number between 0 and 1 (HPA's tolerance around the target), got ${describe(value)}`);
    return PROMETHEUS_SOURCE_DEFAULTS.tolerance;
  }
  return { scaleUp: parsed, scaleDown: parsed };
}

/**
 * Validates a `source: { type: prometheus, ... }` section (without `type`) and fills KEDA's
 * defaults. Every mistake is listed with its path under `path` (ScalingConfigError).
 */
export function parsePrometheusSourceConfig(raw: unknown, path = ''): PrometheusSourceConfig {
  const problems: string[] = [];
  const obj = readObject(raw, path, problems);
  if (obj === null) throw new ScalingConfigError(problems);
  rejectUnknownKeys(obj, CONFIG_KEYS, path, problems);
  const d = PROMETHEUS_SOURCE_DEFAULTS;
  const serverAddress = readServerAddress(obj, path, problems);
  const query = readText(obj, 'query', path, problems, true) ?? '';
  const threshold = readFloat(obj, 'threshold', path, problems, { required: true, fallback: 1, positive: true });
  const activationThreshold = readFloat(obj, 'activationThreshold', path, problems, { required: false, fallback: d.activationThreshold });
  const ignoreNullValues = readBoolean(obj, 'ignoreNullValues', path, problems, d.ignoreNullValues);
  const queryParameters = readStringMap(obj, 'queryParameters', path, problems, PARAMETER_NAME, 'query parameter');
  for (const name of RESERVED_PARAMETERS) {
    if (Object.hasOwn(queryParameters, name)) problems.push(`${joinPath(joinPath(path, 'queryParameters'), name)}: is set by the source itself; remove it`);
  }
  const customHeaders = readStringMap(obj, 'customHeaders', path, problems, HEADER_NAME, 'header');
  const namespace = readText(obj, 'namespace', path, problems, false);
  const unsafeSsl = readBoolean(obj, 'unsafeSsl', path, problems, d.unsafeSsl);
  const tls = readTls(obj, path, problems);
  const auth = readAuth(obj, path, problems);
  // KEDA's timeout is in milliseconds ("1000").
  const timeout = readInteger(obj, 'timeout', path, problems, d.timeout, { min: 1, max: 300_000, message: 'must be milliseconds between 1 and 300000' });
  const pollingInterval = readFloat(obj, 'pollingInterval', path, problems, { required: false, fallback: d.pollingInterval, positive: true });
  // KEDA takes AverageValue and Value for a scaler's metric (Utilization is for cpu and memory only).
  const metricType = readChoice(obj, 'metricType', path, problems, ['AverageValue', 'Value'] as const, d.metricType);
  const tolerance = readTolerance(obj, path, problems);
  if (serverAddress.startsWith('http:') && (tls.ca !== null || tls.cert !== null || unsafeSsl)) {
    problems.push(`${joinPath(path, 'tls')}: TLS settings need an https:// serverAddress`);
  }
  if (problems.length > 0) throw new ScalingConfigError(problems);
  return {
    serverAddress,
    query,
    threshold,
    metricType,
    activationThreshold,
    ignoreNullValues,
    queryParameters,
    customHeaders,
    namespace,
    unsafeSsl,
    tls,
    auth,
    timeout,
    pollingInterval,
    tolerance,
  };
}

/**
 * The instant-query URL at `time` (ms), as KEDA builds it: `query` and `time` (RFC 3339), then
 * `namespace` when set, then the extra query parameters.
 */
export function prometheusQueryUrl(config: Pick<PrometheusSourceConfig, 'serverAddress' | 'query' | 'namespace' | 'queryParameters'>, time: number): URL {
  const url = new URL(`${config.serverAddress}/api/v1/query`);
  url.searchParams.set('query', config.query);
  url.searchParams.set('time', new Date(time).toISOString());
  if (config.namespace !== null) url.searchParams.set('namespace', config.namespace);
  for (const [name, value] of Object.entries(config.queryParameters)) url.searchParams.set(name, value);
  return url;
}

/** One query's value, with what was read to get it (recorded with each decision). */
export interface PrometheusQueryValue {
  /** The value the autoscaler scales on. */
  readonly value: number;
  readonly resultType: 'vector' | 'scalar';
  /** Labels of the one series of a vector result; null for a scalar or an empty result. */
  readonly labels: Readonly<Record<string, string>> | null;
  /** Why the value is 0 without being read (empty result, NaN under ignoreNullValues); null when it was read. */
  readonly substituted: string | null;
  /** One line: `query <promql> = 250 (vector, {job="lag"})`. */
  readonly description: string;
}

/** Prometheus' sample value: a decimal string, or NaN, +Inf, -Inf (which Number() does not all accept). */
export function parsePrometheusFloat(text: string): number | null {
  const trimmed = text.trim();
  if (/^[+-]?inf(inity)?$/i.test(trimmed)) return trimmed.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (/^nan$/i.test(trimmed)) return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(trimmed)) return null;
  return Number(trimmed);
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  return `{${Object.entries(labels)
    .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
    .join(',')}}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The body of `GET /api/v1/query` turned into one value with KEDA's rules. Throws
 * ScalingMetricUnavailableError (a failed metric read: hold, then fallback) where KEDA's read
 * fails: an error answer, more than one series, an empty result or NaN/±Inf with
 * ignoreNullValues false, a value that is not a number. Also where KEDA would quietly report 0
 * for a query that cannot be meant (a range vector, a string): that is a mistake in the query.
 */
export function prometheusQueryValue(body: unknown, config: Pick<PrometheusSourceConfig, 'query' | 'ignoreNullValues'>): PrometheusQueryValue {
  const query = config.query;
  const fail = (why: string): never => {
    throw new ScalingMetricUnavailableError(`prometheus query ${query}: ${why}`);
  };
  if (!isRecord(body)) return fail('the answer is not a JSON object');
  if (body.status !== 'success') {
    return fail(
      `Prometheus answered ${String(body.status)}${body.errorType ? ` (${String(body.errorType)})` : ''}: ${String(body.error ?? 'no error message')}`,
    );
  }
  const data = body.data;
  if (!isRecord(data)) return fail('the answer has no data');
  const empty = (what: string): PrometheusQueryValue => {
    if (!config.ignoreNullValues) fail(`${what}; the target may be lost (ignoreNullValues is false, so this is a failed read)`);
    return { value: 0, resultType: 'vector', labels: null, substituted: what, description: `query ${query} = 0 (${what}; ignoreNullValues)` };
  };

  let sample: unknown;
  let labels: Record<string, string> | null = null;
  const resultType = data.resultType;
  if (resultType === 'scalar') {
    sample = data.result;
  } else if (resultType === 'vector') {
    const result = data.result;
    if (!Array.isArray(result)) return fail('the vector result is not a list');
    if (result.length === 0) return empty('the result is empty');
    if (result.length > 1) {
      return fail(`returned ${result.length} series; the query must return one (aggregate it, e.g. sum(...) or max(...))`);
    }
    const series = result[0];
    if (!isRecord(series)) return fail('the series is not an object');
    labels = isRecord(series.metric) ? Object.fromEntries(Object.entries(series.metric).map(([k, v]) => [k, String(v)])) : {};
    sample = series.value;
    if (Array.isArray(sample) && sample.length === 0) return empty('the value list is empty');
  } else if (resultType === 'matrix') {
    return fail('returned a range vector (matrix); use an instant vector: drop the [range] or wrap it in a function such as rate() or max_over_time()');
  } else {
    return fail(`returned a ${String(resultType)} result; the query must return one series or a scalar`);
  }
  if (!Array.isArray(sample) || sample.length < 2) return fail('the sample is not [time, "value"]');
  const raw = sample[1];
  if (typeof raw !== 'string') return fail(`the sample value ${describe(raw)} is not a string`);
  const value = parsePrometheusFloat(raw);
  if (value === null) return fail(`the sample value ${JSON.stringify(raw)} is not a number`);
  const shape = labels === null ? (resultType as 'vector' | 'scalar') : `vector, ${formatLabels(labels)}`;
  if (!Number.isFinite(value)) {
    const what = `the value is ${raw.trim()}`;
    if (!config.ignoreNullValues) fail(`${what} (ignoreNullValues is false, so this is a failed read)`);
    return {
      value: 0,
      resultType: resultType as 'vector' | 'scalar',
      labels,
      substituted: what,
      description: `query ${query} = 0 (${what}, ${shape}; ignoreNullValues)`,
    };
  }
  return { value, resultType: resultType as 'vector' | 'scalar', labels, substituted: null, description: `query ${query} = ${value} (${shape})` };
}

/** The policy's view of a query value: added to the ScalingInput by the autoscaler for this source. */
export interface ExternalMetricReading {
  /** The source's name, e.g. `prometheus`. */
  readonly source: string;
  readonly value: number;
  /** What was read, in one line (the query and its result). */
  readonly description: string;
}

/** A ScalingInput carrying the value of a source other than Kafka lag. */
export interface ScalingInputWithMetric extends ScalingInput {
  readonly externalMetric: ExternalMetricReading;
}

export function externalMetricOf(input: ScalingInput): ExternalMetricReading | null {
  return 'externalMetric' in input ? (input as ScalingInputWithMetric).externalMetric : null;
}

/**
 * KEDA hands the HPA the value in thousandths (a milli-quantity, truncated), and the threshold the
 * same way: 0.0004 is 0 to the HPA. Kept, so the same value gives the same replicas.
 */
export function toMilli(value: number): number {
  return Math.trunc(value * 1000) / 1000;
}

function fmt(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
}

function recommendPrometheus(input: ScalingInput, config: PrometheusSourceConfig): PolicyRecommendation {
  const reading = externalMetricOf(input);
  if (reading === null) throw new ScalingMetricUnavailableError('no prometheus query value this cycle');
  const value = toMilli(reading.value);
  const target = toMilli(config.threshold);
  const current = input.currentReplicas;
  const ready = input.readyReplicas ?? null;
  const byValue = config.metricType === 'Value';
  const hpa = byValue ? hpaValueReplicas(value, target, current, ready, config.tolerance) : hpaAverageValueReplicas(value, target, current, config.tolerance);
  const tolerance = formatTolerance(config.tolerance);
  const active = reading.value > config.activationThreshold;
  const activity = `value ${fmt(reading.value)} ${active ? '>' : '<='} activationThreshold ${fmt(config.activationThreshold)}`;
  let arithmetic = byValue
    ? `${reading.description}; metricType Value: usage ratio ${fmt(value)} / ${fmt(target)} = ${fmt(hpa.usageRatio)}`
    : `${reading.description}; ${fmt(value)} / threshold ${fmt(target)} = ${fmt(value / target)} -> ceil ${Math.max(0, Math.ceil(value / target))}`;
  let reason: string;
  if (current === 0) {
    // As with the threshold policy: at 0 replicas the HPA is off and KEDA's activity alone decides.
    arithmetic += `; at 0 replicas the HPA is not consulted: ${activity}`;
    reason = active ? `active at 0 replicas (${activity}): activate, then scale on the query` : `inactive at 0 replicas (${activity})`;
  } else if (byValue) {
    arithmetic += hpa.withinTolerance
      ? ` within tolerance ${tolerance} -> keep ${current}`
      : ` outside tolerance ${tolerance} -> ceil(${fmt(hpa.usageRatio)} x ${ready} ready) = ${hpa.replicas}`;
    reason = hpa.withinTolerance
      ? `query value ${fmt(value)} is within tolerance ${tolerance} of the target ${fmt(target)}: keep ${current}`
      : `query value ${fmt(value)} is ${fmt(hpa.usageRatio)}x the target ${fmt(target)}: ${ready} ready of ${current} replicas x ${fmt(hpa.usageRatio)} -> ${hpa.replicas}`;
    if (!active) reason += `; inactive (${activity})`;
  } else {
    const ratio = `usage ratio ${fmt(value)} / (${fmt(target)} x ${current}) = ${fmt(hpa.usageRatio)}`;
    arithmetic += hpa.withinTolerance
      ? `; ${ratio} within tolerance ${tolerance} -> keep ${current}`
      : `; ${ratio} outside tolerance ${tolerance} -> ${hpa.replicas}`;
    reason = hpa.withinTolerance
      ? `query value ${fmt(value)} is within tolerance ${tolerance} of ${fmt(target)} per replica at ${current} replicas: keep ${current}`
      : `query value ${fmt(value)} at ${fmt(target)} per replica needs ${hpa.replicas} replicas`;
    if (!active) reason += `; inactive (${activity})`;
  }
  return {
    policy: 'prometheus',
    replicas: hpa.replicas,
    active,
    metric: { name: 'prometheus', value, target },
    arithmetic,
    reason,
    details: {
      query: config.query,
      value: reading.value,
      threshold: config.threshold,
      metricType: config.metricType,
      activationThreshold: config.activationThreshold,
      readyReplicas: ready,
      usageRatio: Number.isFinite(hpa.usageRatio) ? hpa.usageRatio : null,
      withinTolerance: hpa.withinTolerance,
    },
  };
}

/**
 * The policy of the prometheus source: KEDA's prometheus scaler + HPA AverageValue or Value. It reads the
 * query value the autoscaler put in the input (`externalMetric`); without one it is a failed read.
 */
export const prometheusPolicy: ScalingPolicy<PrometheusSourceConfig, null> = {
  name: 'prometheus',
  parseConfig: (raw) => parsePrometheusSourceConfig(raw),
  initialState: () => null,
  readsReadyReplicas: (config) => config.metricType === 'Value',
  recommend: (input, config) => ({ recommendation: recommendPrometheus(input, config), state: null }),
};
