/**
 * What KEDA asks an external scaler, answered from lagscale's lag snapshot and policies. Pure: no
 * I/O; the gRPC server (external-scaler-server.ts) feeds it snapshots and metadata.
 *
 * A ScaledObject's trigger metadata (strings, as KEDA passes them) picks the consumer group, an
 * optional topic and a lagscale policy with its parameters, named as in KEDA's Kafka scaler where
 * they exist:
 *
 *   consumerGroup: orders        topic: payments        policy: threshold   lagThreshold: "100"
 *   consumerGroup: orders        policy: rate           timeLagSloSeconds: "60"
 *
 * The metric handed to the HPA (AverageValue, KEDA's default for external triggers):
 * - `threshold`: KEDA's own Kafka lag metric and target (lagThreshold), so the HPA's answer is
 *   KEDA's, number for number;
 * - any other policy: the replicas the policy recommends, with target 1, so the HPA's
 *   ceil(value / target) is the policy's answer (and the HPA's behavior applies on top).
 */
import { resolvePolicy } from '@lagscale/autoscaler';
import { type LagSnapshot, type PolicyRecommendation, ScalingConfigError, ScalingMetricUnavailableError, scalingInputFromSnapshot } from '@lagscale/core';

/** Metadata keys the scaler reads itself; every other key is a parameter of the policy. */
const OWN_KEYS = ['consumerGroup', 'topic', 'policy', 'bootstrapServers'] as const;
/** Keys of the trigger that are KEDA's own (how to reach the scaler); KEDA passes them along too. */
const KEDA_KEYS = ['scalerAddress', 'caCert', 'tlsCertFile', 'tlsClientCert', 'tlsClientKey', 'unsafeSsl', 'enableTLS'] as const;

export class ScalerRequestError extends Error {
  constructor(
    message: string,
    /** gRPC-like kind: the request is wrong (`invalid`), or the data is not there (`unavailable`). */
    readonly kind: 'invalid' | 'unavailable',
  ) {
    super(message);
    this.name = 'ScalerRequestError';
  }
}

/** A trigger's metadata, checked: the group, the topic, and the policy with its parsed config. */
export interface ScalerTrigger {
  readonly group: string;
  readonly topic: string | null;
  readonly policy: ReturnType<typeof resolvePolicy>;
  /** Identifies the trigger's settings: a change of metadata starts the policy's state afresh. */
  readonly key: string;
}

/** KEDA passes every value as a string: numbers, booleans and JSON objects are read back. */
function metadataValue(value: string): unknown {
  const text = value.trim();
  if (/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch {
      return value;
    }
  }
  return value;
}

/**
 * Reads a trigger's metadata. Mistakes are refused with the exact key, as KEDA refuses a bad
 * ScaledObject: `scalerMetadata.lagThreshold: must be ...`.
 */
export function parseScalerMetadata(metadata: Readonly<Record<string, string>>, clusterBrokers: readonly string[]): ScalerTrigger {
  const group = metadata.consumerGroup?.trim();
  if (!group) throw new ScalerRequestError('scalerMetadata.consumerGroup: required, the consumer group whose lag drives the workload', 'invalid');
  const servers = metadata.bootstrapServers?.trim();
  if (servers) {
    const asked = servers.split(',').map((s) => s.trim());
    if (!asked.some((server) => clusterBrokers.includes(server))) {
      throw new ScalerRequestError(
        `scalerMetadata.bootstrapServers: this scaler reads the cluster at ${clusterBrokers.join(',')}, not ${servers}; run one scaler per cluster (or leave bootstrapServers out)`,
        'invalid',
      );
    }
  }
  const topic = metadata.topic?.trim() || null;
  const policyName = metadata.policy?.trim() || 'threshold';
  const parameters: Record<string, unknown> = { name: policyName };
  for (const [key, value] of Object.entries(metadata)) {
    if ((OWN_KEYS as readonly string[]).includes(key) || (KEDA_KEYS as readonly string[]).includes(key)) continue;
    parameters[key] = metadataValue(value);
  }
  // KEDA's Kafka scaler takes the topic as a parameter of its metric (limitToPartitionsWithLag needs it).
  if (policyName === 'threshold' && topic !== null) parameters.topic = topic;
  let policy: ReturnType<typeof resolvePolicy>;
  try {
    policy = resolvePolicy(parameters, 'scalerMetadata');
  } catch (error) {
    if (error instanceof ScalingConfigError) {
      const problems = error.problems.map((p) => p.replace(/^scalerMetadata\.name/, 'scalerMetadata.policy'));
      throw new ScalerRequestError(problems.join('; '), 'invalid');
    }
    throw error;
  }
  const key = JSON.stringify(Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { group, topic, policy, key };
}

/** The metric of a trigger: its name, for GetMetricSpec and GetMetrics. */
export function metricNameOf(trigger: ScalerTrigger): string {
  const name = `lagscale-${trigger.policy.name}-${trigger.group}${trigger.topic === null ? '' : `-${trigger.topic}`}`;
  // The HPA's metric names are lower-case and limited in what they hold.
  return name.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
}

export interface ScalerAnswer {
  readonly metricName: string;
  /** What GetMetrics reports. */
  readonly value: number;
  /** What GetMetricSpec reports as the target per replica. */
  readonly target: number;
  /** IsActive. */
  readonly active: boolean;
  readonly recommendation: PolicyRecommendation;
  readonly policyState: unknown;
}

/**
 * The answer for one trigger from one snapshot. The policy's current replicas are the group's
 * active members (what Kafka sees consuming), since KEDA's calls do not carry the workload's
 * replica count. Throws `ScalerRequestError('unavailable')` when the group's lag is not known
 * (KEDA then counts an error for the cycle and, after its threshold, uses the fallback).
 */
export function answerTrigger(trigger: ScalerTrigger, snapshot: LagSnapshot | null, policyState: unknown): ScalerAnswer {
  if (snapshot === null) throw new ScalerRequestError('no lag has been collected yet; the first cycle is still running', 'unavailable');
  const groupLag = snapshot.groups.find((g) => g.group === trigger.group);
  if (groupLag === undefined)
    throw new ScalerRequestError(`consumer group "${trigger.group}" is not known to the cluster (no committed offsets, no members)`, 'unavailable');
  // Members stand in for ready replicas too: KEDA's HPA applies the trigger's metricType to the
  // metric and target reported here, so the policy's own replica count is only informative.
  const input = scalingInputFromSnapshot(snapshot, trigger.group, groupLag.members, groupLag.members);
  if (input === null) throw new ScalerRequestError(`consumer group "${trigger.group}" is not in the snapshot`, 'unavailable');
  const partitions = trigger.topic === null ? input.partitions : input.partitions.filter((p) => p.topic === trigger.topic);
  if (trigger.topic !== null && partitions.length === 0) {
    throw new ScalerRequestError(`consumer group "${trigger.group}" has no offsets on topic "${trigger.topic}"`, 'unavailable');
  }
  const unknown = partitions.filter((p) => p.logEndOffset === null);
  if (unknown.length > 0) {
    throw new ScalerRequestError(`lag of ${unknown.length} partition(s) of "${trigger.group}" is unknown this cycle (leader not answering)`, 'unavailable');
  }
  let result: { recommendation: PolicyRecommendation; state: unknown };
  try {
    result = trigger.policy.policy.recommend(
      { ...input, partitions },
      trigger.policy.config,
      policyState ?? trigger.policy.policy.initialState(trigger.policy.config),
    );
  } catch (error) {
    if (error instanceof ScalingMetricUnavailableError) throw new ScalerRequestError(error.message, 'unavailable');
    throw error;
  }
  const { recommendation } = result;
  const keda = trigger.policy.name === 'threshold';
  return {
    metricName: metricNameOf(trigger),
    value: keda ? recommendation.metric.value : recommendation.replicas,
    target: keda ? (trigger.policy.config as { lagThreshold: number }).lagThreshold : 1,
    active: recommendation.active,
    recommendation,
    policyState: result.state,
  };
}
