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
 *   shareGroup: validator        policy: threshold      lagThreshold: "100"   shareGroupMaxSize: "200"
 *
 * `shareGroup` (instead of `consumerGroup`) names a share group (KIP-932): its members are not
 * bound to partitions, so the policies cap it at the group's maximum size (`shareGroupMaxSize`,
 * default the brokers' group.share.max.size, else 200) instead of the partition count.
 *
 * The metric handed to the HPA (AverageValue, KEDA's default for external triggers):
 * - `threshold`: KEDA's own Kafka lag metric and target (lagThreshold), so the HPA's answer is
 *   KEDA's, number for number;
 * - any other policy: the replicas the policy recommends, with target 1, so the HPA's
 *   ceil(value / target) is the policy's answer (and the HPA's behavior applies on top).
 */
import { createHash } from 'node:crypto';
import { resolvePolicy, SCALING_POLICIES } from '@lagscale/autoscaler';
import {
  type GroupKind,
  type LagSnapshot,
  type PolicyRecommendation,
  ScalingConfigError,
  ScalingMetricUnavailableError,
  scalingInputFromSnapshot,
} from '@lagscale/core';
import { SCALER_TOKEN_METADATA_KEY } from './scaler-auth.js';

/** Metadata keys the scaler reads itself; every other key is a parameter of the policy. */
const OWN_KEYS = ['consumerGroup', 'shareGroup', 'shareGroupMaxSize', 'topic', 'policy', 'bootstrapServers'] as const;
/** Keys of the trigger that are KEDA's own (how to reach the scaler); KEDA passes them along too. */
const KEDA_KEYS = ['scalerAddress', 'caCert', 'tlsCertFile', 'tlsClientCert', 'tlsClientKey', 'unsafeSsl', 'enableTLS'] as const;

export class ScalerRequestError extends Error {
  constructor(
    message: string,
    /**
     * gRPC-like kind: the request is wrong (`invalid`), the data is not there (`unavailable`), the
     * caller is not known (`unauthenticated`), or the scaler holds all it may (`exhausted`).
     */
    readonly kind: 'invalid' | 'unavailable' | 'unauthenticated' | 'exhausted',
  ) {
    super(message);
    this.name = 'ScalerRequestError';
  }
}

/** A trigger's metadata, checked: the group, the topic, and the policy with its parsed config. */
export interface ScalerTrigger {
  readonly group: string;
  /** `share`: the trigger names a share group (`shareGroup`). Absent: `consumer`. */
  readonly groupKind?: GroupKind;
  /** Share groups: `shareGroupMaxSize` from the metadata; null: the scaler's (the brokers' setting or 200). */
  readonly maxGroupSize?: number | null;
  readonly topic: string | null;
  readonly policy: ReturnType<typeof resolvePolicy>;
  /**
   * Fingerprint of the trigger's metadata (SHA-256 of its sorted keys and values, the token left
   * out): the policy's state is held per namespace/name and fingerprint, so other metadata under a
   * ScaledObject's name gets a state of its own and cannot reset that ScaledObject's.
   */
  readonly key: string;
}

/**
 * Bounds on what a caller can make the scaler hold. Each caller's ScaledObject costs an entry (its
 * parsed trigger and policy state, about a kilobyte); the bounds keep the total flat whoever calls.
 */
export interface ScalerLimits {
  /** ScaledObject states held at once; beyond it the least recently used is dropped (its policy starts afresh). */
  readonly maxEntries: number;
  /** A state nobody asked about for this long is dropped. KEDA asks every pollingInterval, the HPA every 15 s. */
  readonly idleSeconds: number;
  /** Keys in a trigger's metadata. */
  readonly maxMetadataKeys: number;
  /** Characters of a metadata key. */
  readonly maxMetadataKeyLength: number;
  /** Characters of a metadata value (room for a PEM certificate, which KEDA passes along as caCert). */
  readonly maxMetadataValueLength: number;
  /** StreamIsActive calls open at once (each holds a listener on the lag collection). */
  readonly maxStreams: number;
}

export const DEFAULT_SCALER_LIMITS: ScalerLimits = {
  maxEntries: 1000,
  idleSeconds: 1800,
  maxMetadataKeys: 64,
  maxMetadataKeyLength: 253,
  maxMetadataValueLength: 4096,
  maxStreams: 1000,
};

/** Kubernetes' own limits: a namespace is a DNS label, a ScaledObject's name a DNS subdomain. */
export const MAX_NAMESPACE_LENGTH = 63;
export const MAX_SCALED_OBJECT_NAME_LENGTH = 253;

/** The largest request the limits allow, with room for the protobuf framing: gRPC refuses bigger ones before they are read. */
export function maxRequestBytes(limits: ScalerLimits): number {
  return limits.maxMetadataKeys * (limits.maxMetadataKeyLength + limits.maxMetadataValueLength + 16) + 2 * MAX_SCALED_OBJECT_NAME_LENGTH + 4096;
}

/** What KEDA sends with every call: the ScaledObject and its trigger's metadata. */
export interface ScaledObjectRef {
  readonly name: string;
  readonly namespace: string;
  readonly scalerMetadata: Readonly<Record<string, string>>;
}

const shown = (text: string): string => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);

/** Checks the sizes of what a caller sent, naming the field and the limit; the ref as checked. */
export function checkScaledObjectRef(ref: Partial<ScaledObjectRef> | null | undefined, limits: ScalerLimits): ScaledObjectRef {
  if (!ref) throw new ScalerRequestError('scaledObjectRef: required', 'invalid');
  const field = (name: 'namespace' | 'name', value: string | undefined, max: number, what: string): string => {
    if (typeof value !== 'string' || value === '')
      throw new ScalerRequestError(`scaledObjectRef.${name}: required (KEDA sends the ScaledObject's ${name})`, 'invalid');
    if (value.length > max) {
      throw new ScalerRequestError(`scaledObjectRef.${name}: ${value.length} characters, more than the ${max} Kubernetes allows for ${what}`, 'invalid');
    }
    return value;
  };
  const namespace = field('namespace', ref.namespace, MAX_NAMESPACE_LENGTH, 'a namespace');
  const name = field('name', ref.name, MAX_SCALED_OBJECT_NAME_LENGTH, "a ScaledObject's name");
  const scalerMetadata = ref.scalerMetadata ?? {};
  const entries = Object.entries(scalerMetadata);
  if (entries.length > limits.maxMetadataKeys) {
    throw new ScalerRequestError(`scalerMetadata: ${entries.length} keys, more than the ${limits.maxMetadataKeys} allowed`, 'invalid');
  }
  for (const [key, value] of entries) {
    if (key.length > limits.maxMetadataKeyLength) {
      throw new ScalerRequestError(
        `scalerMetadata: key ${shown(key)} has ${key.length} characters, more than the ${limits.maxMetadataKeyLength} allowed`,
        'invalid',
      );
    }
    if (typeof value === 'string' && value.length > limits.maxMetadataValueLength) {
      throw new ScalerRequestError(
        `scalerMetadata.${key}: value of ${value.length} characters, more than the ${limits.maxMetadataValueLength} allowed`,
        'invalid',
      );
    }
  }
  return { namespace, name, scalerMetadata };
}

/** The fingerprint of a trigger's metadata (see ScalerTrigger.key). */
export function metadataFingerprint(metadata: Readonly<Record<string, string>>): string {
  const entries = Object.entries(metadata)
    .filter(([key]) => key !== SCALER_TOKEN_METADATA_KEY)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex');
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
  const own = (key: string): string | undefined => (Object.hasOwn(metadata, key) ? metadata[key] : undefined);
  const consumerGroup = own('consumerGroup')?.trim();
  const shareGroup = own('shareGroup')?.trim();
  if (consumerGroup && shareGroup) {
    throw new ScalerRequestError('scalerMetadata.shareGroup: give either consumerGroup (a consumer group) or shareGroup (a share group), not both', 'invalid');
  }
  const group = consumerGroup || shareGroup;
  if (!group) {
    throw new ScalerRequestError(
      'scalerMetadata.consumerGroup: required, the consumer group whose lag drives the workload (or shareGroup for a share group)',
      'invalid',
    );
  }
  const groupKind: GroupKind = shareGroup ? 'share' : 'consumer';
  const maxSizeText = own('shareGroupMaxSize')?.trim();
  let maxGroupSize: number | null = null;
  if (maxSizeText !== undefined && maxSizeText !== '') {
    if (groupKind !== 'share') {
      throw new ScalerRequestError('scalerMetadata.shareGroupMaxSize: only applies with shareGroup (a consumer group is capped by its partitions)', 'invalid');
    }
    maxGroupSize = Number(maxSizeText);
    if (!/^\d+$/.test(maxSizeText) || !(maxGroupSize >= 1)) {
      throw new ScalerRequestError(`scalerMetadata.shareGroupMaxSize: must be a whole number >= 1, got ${JSON.stringify(maxSizeText)}`, 'invalid');
    }
  }
  const servers = own('bootstrapServers')?.trim();
  if (servers) {
    const asked = servers.split(',').map((s) => s.trim());
    if (!asked.some((server) => clusterBrokers.includes(server))) {
      throw new ScalerRequestError(
        `scalerMetadata.bootstrapServers: this scaler reads the cluster at ${clusterBrokers.join(',')}, not ${servers}; run one scaler per cluster (or leave bootstrapServers out)`,
        'invalid',
      );
    }
  }
  const topic = own('topic')?.trim() || null;
  const policyName = own('policy')?.trim() || 'threshold';
  if (Object.hasOwn(metadata, 'name')) throw new ScalerRequestError('scalerMetadata.name: not a parameter; the policy is chosen with `policy`', 'invalid');
  // An own key only: `constructor`, `toString` or `__proto__` are not policies (Object.prototype's are not ours).
  if (!Object.hasOwn(SCALING_POLICIES, policyName)) {
    throw new ScalerRequestError(
      `scalerMetadata.policy: unknown policy ${JSON.stringify(policyName)}; use one of ${Object.keys(SCALING_POLICIES).join(', ')}`,
      'invalid',
    );
  }
  // Built from entries (own data properties): a `__proto__` key stays a key, it never sets a prototype.
  const parameterEntries: [string, unknown][] = [['name', policyName]];
  for (const [key, value] of Object.entries(metadata)) {
    if ((OWN_KEYS as readonly string[]).includes(key) || (KEDA_KEYS as readonly string[]).includes(key) || key === SCALER_TOKEN_METADATA_KEY) continue;
    parameterEntries.push([key, metadataValue(value)]);
  }
  // KEDA's Kafka scaler takes the topic as a parameter of its metric (limitToPartitionsWithLag needs it).
  if (policyName === 'threshold' && topic !== null) parameterEntries.push(['topic', topic]);
  const parameters: Record<string, unknown> = Object.fromEntries(parameterEntries);
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
  return { group, ...(groupKind === 'share' ? { groupKind, maxGroupSize } : {}), topic, policy, key: metadataFingerprint(metadata) };
}

/** The metric of a trigger: its name, for GetMetricSpec and GetMetrics. */
export function metricNameOf(trigger: ScalerTrigger): string {
  const kind = trigger.groupKind === 'share' ? 'sharegroup-' : '';
  const name = `lagscale-${trigger.policy.name}-${kind}${trigger.group}${trigger.topic === null ? '' : `-${trigger.topic}`}`;
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
export function answerTrigger(
  trigger: ScalerTrigger,
  snapshot: LagSnapshot | null,
  policyState: unknown,
  defaults: { readonly shareGroupMaxSize?: number | null } = {},
): ScalerAnswer {
  if (snapshot === null) throw new ScalerRequestError('no lag has been collected yet; the first cycle is still running', 'unavailable');
  const kind = trigger.groupKind ?? 'consumer';
  const what = kind === 'share' ? 'share group' : 'consumer group';
  const members =
    kind === 'share' ? snapshot.shareGroups?.find((g) => g.group === trigger.group)?.members : snapshot.groups.find((g) => g.group === trigger.group)?.members;
  if (members === undefined) {
    throw new ScalerRequestError(
      kind === 'share'
        ? `share group "${trigger.group}" is not known to the cluster (no share-partition state, no members; share groups need Kafka 4.1+ with share.version enabled)`
        : `consumer group "${trigger.group}" is not known to the cluster (no committed offsets, no members)`,
      'unavailable',
    );
  }
  // Members stand in for ready replicas too: KEDA's HPA applies the trigger's metricType to the
  // metric and target reported here, so the policy's own replica count is only informative.
  const input = scalingInputFromSnapshot(snapshot, trigger.group, members, members, {
    kind,
    maxGroupSize: trigger.maxGroupSize ?? defaults.shareGroupMaxSize ?? null,
  });
  if (input === null) throw new ScalerRequestError(`${what} "${trigger.group}" is not in the snapshot`, 'unavailable');
  const partitions = trigger.topic === null ? input.partitions : input.partitions.filter((p) => p.topic === trigger.topic);
  if (trigger.topic !== null && partitions.length === 0) {
    throw new ScalerRequestError(`${what} "${trigger.group}" has no offsets on topic "${trigger.topic}"`, 'unavailable');
  }
  const unknown = partitions.filter((p) => p.logEndOffset === null);
  if (unknown.length > 0) {
    throw new ScalerRequestError(
      `lag of ${unknown.length} partition(s) of ${what} "${trigger.group}" is unknown this cycle (leader not answering)`,
      'unavailable',
    );
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
