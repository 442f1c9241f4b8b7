import { type PrometheusSourceConfig, parsePrometheusSourceConfig, prometheusPolicy, ScalingConfigError } from '@lagscale/core';
import type { PrometheusText } from '@lagscale/exporter';
import { type ResolvedPolicy, resolvePolicy } from '../policies.js';
import type { PrometheusMetricSource } from './prometheus.js';

/** Where the autoscaler's metric comes from: Kafka lag (the lag engine, the default) or a PromQL query. */
export type ResolvedSource = { readonly type: 'kafka' } | { readonly type: 'prometheus'; readonly config: PrometheusSourceConfig };

export const SOURCE_TYPES = ['kafka', 'prometheus'] as const;

/**
 * `{ type: prometheus, serverAddress, query, threshold, ... }` → the validated source. Absent:
 * Kafka lag. Mistakes name their path under `pathPrefix` (e.g. `autoscaler.source.threshold`).
 */
export function resolveSource(raw: unknown, pathPrefix = 'source'): ResolvedSource {
  if (raw === undefined || raw === null) return { type: 'kafka' };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ScalingConfigError([`${pathPrefix}: must be an object like { type: prometheus, ... }`]);
  const { type, ...rest } = raw as Record<string, unknown>;
  if (type === 'kafka') {
    if (Object.keys(rest).length > 0) {
      throw new ScalingConfigError(
        Object.keys(rest).map((key) => `${pathPrefix}.${key}: unknown key (source kafka takes no settings; the lag section configures it)`),
      );
    }
    return { type: 'kafka' };
  }
  if (type !== 'prometheus')
    throw new ScalingConfigError([`${pathPrefix}.type: unknown source ${JSON.stringify(type)}; use one of ${SOURCE_TYPES.join(', ')}`]);
  return { type: 'prometheus', config: parsePrometheusSourceConfig(rest, pathPrefix) };
}

/**
 * The source and the policy that goes with it. With Kafka lag, `policy` chooses (rate, threshold);
 * with a PromQL query the source's own threshold decides (KEDA's prometheus scaler), so a
 * `policy` section is a mistake rather than something silently ignored.
 */
export function resolveSourceAndPolicy(
  rawSource: unknown,
  rawPolicy: unknown,
  paths: { readonly source: string; readonly policy: string },
): { source: ResolvedSource; policy: ResolvedPolicy } {
  const problems: string[] = [];
  let source: ResolvedSource = { type: 'kafka' };
  try {
    source = resolveSource(rawSource, paths.source);
  } catch (error) {
    if (!(error instanceof ScalingConfigError)) throw error;
    problems.push(...error.problems);
  }
  let policy: ResolvedPolicy | null = null;
  const prometheusAsked = typeof rawSource === 'object' && rawSource !== null && (rawSource as { type?: unknown }).type === 'prometheus';
  if (prometheusAsked || source.type === 'prometheus') {
    if (rawPolicy !== undefined && rawPolicy !== null) {
      problems.push(
        `${paths.policy}: not used with source type prometheus (the source's threshold and activationThreshold decide, as KEDA's prometheus scaler); remove it`,
      );
    }
    if (source.type === 'prometheus') policy = { name: 'prometheus', policy: prometheusPolicy, config: source.config };
  } else {
    try {
      policy = resolvePolicy(rawPolicy, paths.policy);
    } catch (error) {
      if (!(error instanceof ScalingConfigError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0 || policy === null) throw new ScalingConfigError(problems);
  return { source, policy };
}

/** A prometheus source with the labels of its autoscaler (`consumergroup`, `target`). */
export interface LabelledSource {
  readonly source: PrometheusMetricSource;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Prometheus families of prometheus sources: queries run, failed, and the last value read. One
 * source (`lagscale autoscale`) or all of them at each scrape (the Kubernetes controller's).
 */
export function prometheusSourceMetrics(
  sources: PrometheusMetricSource | (() => Iterable<LabelledSource>),
  labels: Readonly<Record<string, string>> = {},
): (out: PrometheusText) => void {
  const all = (): LabelledSource[] => (typeof sources === 'function' ? [...sources()] : [{ source: sources, labels }]);
  return (out) => {
    const entries = all();
    if (entries.length === 0) return;
    out.family('lagscale_autoscaler_source_queries_total', 'counter', 'Queries the autoscaler ran against its metric source.');
    for (const { source, labels } of entries)
      out.sample('lagscale_autoscaler_source_queries_total', { ...labels, source: 'prometheus' }, source.counters.queries);
    out.family('lagscale_autoscaler_source_failures_total', 'counter', 'Queries of the metric source that failed (each a failed metric read).');
    for (const { source, labels } of entries)
      out.sample('lagscale_autoscaler_source_failures_total', { ...labels, source: 'prometheus' }, source.counters.failures);
    out.family('lagscale_autoscaler_source_value', 'gauge', 'The last value read from the metric source.');
    for (const { source, labels } of entries)
      if (source.lastReading !== null) out.sample('lagscale_autoscaler_source_value', { ...labels, source: 'prometheus' }, source.lastReading.value);
  };
}
