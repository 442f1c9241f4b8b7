import { type ResolvedPolicy, type ResolvedSource, resolveSourceAndPolicy } from '@lagscale/autoscaler';
import { type BehaviorConfig, type GroupKind, parseBehaviorConfig, ScalingConfigError } from '@lagscale/core';
import type { ScaleTargetRef } from '../target/scale-target.js';

/**
 * The `ScaledConsumer` custom resource (lagscale.dev/v1alpha1): one per scaled workload, as KEDA's
 * ScaledObject. The CRD's OpenAPI schema refuses what it can (types, ranges, enums, unknown fields,
 * min ≤ max) with the field's path; `parseScaledConsumer` checks the rest with the same code the
 * YAML config uses, and its problems become the Ready condition's message.
 */
export const SCALED_CONSUMER = { group: 'lagscale.dev', version: 'v1alpha1', kind: 'ScaledConsumer', plural: 'scaledconsumers' } as const;
export const SCALED_CONSUMER_API_VERSION = `${SCALED_CONSUMER.group}/${SCALED_CONSUMER.version}`;

/**
 * `spec.source`: where the metric comes from. Kafka lag (the default, `spec.kafka` and
 * `spec.group`) or a PromQL query with KEDA's prometheus scaler semantics. Credentials come from
 * `secretRef`, a Secret with `bearerToken`, or `username` and `password`, or `customAuthHeader`
 * and `customAuthValue`, and optionally `ca.crt`, `tls.crt` and `tls.key`.
 */
export type ScaledConsumerSource =
  | { readonly type: 'kafka' }
  | ({ readonly type: 'prometheus'; readonly secretRef?: { readonly name: string } } & Readonly<Record<string, unknown>>);

export interface ScaledConsumerSpec {
  /** Required unless `source.type` is prometheus. */
  readonly kafka?: {
    readonly brokers: readonly string[];
    readonly clientId?: string;
    /** TLS to the brokers; the Secret holds `ca.crt`, and `tls.crt` + `tls.key` for client certificates. */
    readonly tls?: { readonly enabled?: boolean; readonly secretRef?: { readonly name: string } };
    /** SASL; the Secret holds `username` and `password`. */
    readonly sasl?: { readonly mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; readonly secretRef: { readonly name: string } };
  };
  /** The consumer group to scale; exactly one of `group` and `shareGroup`. */
  readonly group?: string;
  /** A share group (KIP-932) to scale instead: members not bound to partitions, capped by the group's maximum size. */
  readonly shareGroup?: string;
  /** The share group's maximum size (group.share.max.size); absent: read from the brokers, else 200. */
  readonly shareGroupMaxSize?: number;
  readonly source?: ScaledConsumerSource;
  /** Only these topics count (default: every topic the group consumes). */
  readonly topics?: readonly string[];
  readonly scaleTargetRef: ScaleTargetRef;
  /** `{ name: rate | threshold, ...its parameters }` (the YAML config's autoscaler.policy); not with a prometheus source. */
  readonly policy?: Record<string, unknown>;
  /** The YAML config's autoscaler.behavior: min/max, scaleUp/scaleDown, cooldown, idle, fallback. */
  readonly behavior?: Record<string, unknown>;
  readonly paused?: boolean;
}

export interface ScaledConsumerCondition {
  readonly type: 'Ready' | 'Active' | 'Fallback' | 'Paused';
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
  readonly observedGeneration?: number;
}

export interface ScaledConsumerStatus {
  readonly observedGeneration?: number;
  readonly currentReplicas?: number;
  readonly desiredReplicas?: number;
  readonly readyReplicas?: number;
  readonly lastScaleTime?: string;
  readonly lastDecision?: {
    readonly time: string;
    readonly action: string;
    readonly policy: string;
    readonly reason: string;
    readonly desiredReplicas: number;
    readonly arithmetic?: string;
    readonly lag?: number | null;
    readonly timeLagSeconds?: number | null;
  };
  /** The rate policy's learned records per second per replica: a new leader starts from it. */
  readonly serviceRatePerReplica?: number;
  readonly conditions?: readonly ScaledConsumerCondition[];
}

export interface ScaledConsumer {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid?: string;
    readonly generation?: number;
    readonly resourceVersion?: string;
  };
  readonly spec: ScaledConsumerSpec;
  readonly status?: ScaledConsumerStatus;
}

/** A ScaledConsumer's spec made ready to run: policy and behavior parsed by the scaling core. */
export interface ParsedScaledConsumer {
  readonly key: string;
  readonly resource: ScaledConsumer;
  /** The group scaled: `spec.group` (consumer) or `spec.shareGroup` (share). */
  readonly group: { readonly name: string; readonly kind: GroupKind };
  readonly policy: ResolvedPolicy;
  readonly behavior: BehaviorConfig;
  /**
   * Kafka lag, or the query with every setting but its credentials (the controller adds those
   * from `spec.source.secretRef` and checks the whole again).
   */
  readonly source: ResolvedSource;
  /** Identifies the Kafka cluster (and credentials): ScaledConsumers with the same key share one lag collection. Null with a prometheus source. */
  readonly clusterKey: string | null;
}

/** `namespace/name`. */
export function scaledConsumerKey(resource: Pick<ScaledConsumer, 'metadata'>): string {
  return `${resource.metadata.namespace}/${resource.metadata.name}`;
}

/** Checks what the schema cannot; throws ScalingConfigError listing every problem with its `spec.` path. */
export function parseScaledConsumer(resource: ScaledConsumer): ParsedScaledConsumer {
  const { spec } = resource;
  const problems: string[] = [];
  let resolved: { source: ResolvedSource; policy: ResolvedPolicy } | null = null;
  let behavior: BehaviorConfig | null = null;
  const { secretRef: _credentials, ...rawSource } = (spec.source ?? { type: 'kafka' }) as Record<string, unknown>;
  const prometheus = rawSource.type === 'prometheus';
  try {
    resolved = resolveSourceAndPolicy(rawSource, prometheus ? spec.policy : (spec.policy ?? {}), { source: 'spec.source', policy: 'spec.policy' });
  } catch (error) {
    if (!(error instanceof ScalingConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (!prometheus && spec.kafka === undefined) problems.push('spec.kafka: required unless spec.source.type is prometheus');
  if (spec.group !== undefined && spec.shareGroup !== undefined) {
    problems.push('spec.shareGroup: give either group (a consumer group) or shareGroup (a share group), not both');
  } else if (spec.group === undefined && spec.shareGroup === undefined) {
    problems.push('spec.group: required (the consumer group to scale), or spec.shareGroup for a share group');
  }
  if (spec.shareGroupMaxSize !== undefined && spec.shareGroup === undefined) {
    problems.push('spec.shareGroupMaxSize: only applies with spec.shareGroup (a consumer group is capped by its partitions)');
  }
  try {
    behavior = parseBehaviorConfig({ ...(spec.behavior ?? {}), ...(spec.paused === true ? { paused: true } : {}) }, 'spec.behavior');
  } catch (error) {
    if (!(error instanceof ScalingConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length > 0 || resolved === null || behavior === null) throw new ScalingConfigError(problems);
  const { source, policy } = resolved;
  const group = spec.shareGroup !== undefined ? { name: spec.shareGroup, kind: 'share' as const } : { name: spec.group as string, kind: 'consumer' as const };
  const kafka = spec.kafka;
  if (source.type === 'prometheus' || kafka === undefined)
    return { key: scaledConsumerKey(resource), resource, group, policy, behavior, source, clusterKey: null };
  const clusterKey = JSON.stringify({
    namespace: kafka.tls?.secretRef !== undefined || kafka.sasl !== undefined ? resource.metadata.namespace : '',
    brokers: [...kafka.brokers].sort(),
    tls: kafka.tls?.enabled === true ? (kafka.tls.secretRef?.name ?? true) : false,
    sasl: kafka.sasl === undefined ? null : `${kafka.sasl.mechanism}:${kafka.sasl.secretRef.name}`,
  });
  return { key: scaledConsumerKey(resource), resource, group, policy, behavior, source, clusterKey };
}

const nonNegativeInteger = { type: 'integer', minimum: 0 } as const;
const scalingRules = {
  type: 'object',
  properties: {
    stabilizationWindowSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
    selectPolicy: { type: 'string', enum: ['Max', 'Min', 'Disabled'] },
    policies: {
      type: 'array',
      maxItems: 10,
      items: {
        type: 'object',
        required: ['type', 'value', 'periodSeconds'],
        properties: {
          type: { type: 'string', enum: ['Pods', 'Percent'] },
          value: { type: 'integer', minimum: 1 },
          periodSeconds: { type: 'integer', minimum: 1, maximum: 1800 },
        },
      },
    },
  },
} as const;

const secretRef = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 253 } } } as const;

/**
 * The OpenAPI v3 schema of the resource (structural, as apiextensions.k8s.io/v1 requires: no
 * `additionalProperties` beside `properties`). Unknown fields are pruned; clients that ask for
 * strict field validation (kubectl does by default) are refused them with their path.
 */
export const scaledConsumerSchema = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['scaleTargetRef'],
      'x-kubernetes-validations': [
        {
          rule: '!has(self.group) || !has(self.shareGroup)',
          message: 'give either group (a consumer group) or shareGroup (a share group), not both',
          fieldPath: '.shareGroup',
        },
        {
          rule: 'has(self.group) || has(self.shareGroup)',
          message: 'group (the consumer group to scale) is required, or shareGroup for a share group',
          fieldPath: '.group',
        },
        {
          rule: '!has(self.shareGroupMaxSize) || has(self.shareGroup)',
          message: 'shareGroupMaxSize only applies with shareGroup (a consumer group is capped by its partitions)',
          fieldPath: '.shareGroupMaxSize',
        },
        {
          rule: "has(self.kafka) || (has(self.source) && self.source.type == 'prometheus')",
          message: 'kafka is required unless source.type is prometheus',
          fieldPath: '.kafka',
        },
        {
          rule: "!has(self.source) || self.source.type != 'prometheus' || !has(self.policy)",
          message: "policy is not used with source type prometheus (the source's threshold and activationThreshold decide); remove it",
          fieldPath: '.policy',
        },
      ],
      properties: {
        kafka: {
          type: 'object',
          required: ['brokers'],
          properties: {
            brokers: { type: 'array', minItems: 1, maxItems: 100, items: { type: 'string', minLength: 3, maxLength: 300, pattern: '^[^\\s:]+:[0-9]{1,5}$' } },
            clientId: { type: 'string', minLength: 1, maxLength: 200 },
            tls: { type: 'object', properties: { enabled: { type: 'boolean' }, secretRef } },
            sasl: {
              type: 'object',
              required: ['mechanism', 'secretRef'],
              properties: { mechanism: { type: 'string', enum: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] }, secretRef },
            },
          },
        },
        group: {
          type: 'string',
          minLength: 1,
          maxLength: 249,
          description: 'the consumer group whose lag drives the scaling (with a prometheus source, the scaled group, for labels and the metrics API)',
        },
        shareGroup: {
          type: 'string',
          minLength: 1,
          maxLength: 249,
          description:
            'instead of group: the share group (KIP-932) whose lag drives the scaling; its members are not bound to partitions, so the cap is the group maximum size',
        },
        shareGroupMaxSize: {
          type: 'integer',
          minimum: 1,
          description: "the share group's maximum size (the brokers' group.share.max.size); default: read from the brokers, else 200",
        },
        source: {
          type: 'object',
          required: ['type'],
          properties: {
            type: { type: 'string', enum: ['kafka', 'prometheus'] },
            serverAddress: { type: 'string', minLength: 1, maxLength: 2000 },
            query: { type: 'string', minLength: 1, maxLength: 20000 },
            threshold: { type: 'number', exclusiveMinimum: true, minimum: 0 },
            activationThreshold: { type: 'number' },
            metricType: { type: 'string', enum: ['AverageValue', 'Value'] },
            ignoreNullValues: { type: 'boolean' },
            queryParameters: { type: 'object', additionalProperties: { type: 'string' } },
            customHeaders: { type: 'object', additionalProperties: { type: 'string' } },
            namespace: { type: 'string', minLength: 1 },
            unsafeSsl: { type: 'boolean' },
            timeout: { type: 'integer', minimum: 1 },
            pollingInterval: { type: 'number', exclusiveMinimum: true, minimum: 0 },
            tolerance: {
              type: 'object',
              properties: { scaleUp: { type: 'number', minimum: 0, maximum: 1 }, scaleDown: { type: 'number', minimum: 0, maximum: 1 } },
            },
            secretRef,
          },
          'x-kubernetes-validations': [
            {
              rule: "self.type != 'prometheus' || (has(self.serverAddress) && has(self.query) && has(self.threshold))",
              message: 'source type prometheus needs serverAddress, query and threshold',
            },
          ],
        },
        topics: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 249, pattern: '^[a-zA-Z0-9._-]+$' } },
        scaleTargetRef: {
          type: 'object',
          required: ['name'],
          properties: {
            apiVersion: { type: 'string', minLength: 1, default: 'apps/v1' },
            kind: { type: 'string', minLength: 1, default: 'Deployment' },
            name: { type: 'string', minLength: 1, maxLength: 253 },
          },
        },
        policy: {
          type: 'object',
          properties: {
            name: { type: 'string', enum: ['rate', 'threshold'], default: 'rate' },
            // rate
            targetDrainSeconds: { type: 'number', exclusiveMinimum: true, minimum: 0 },
            timeLagSloSeconds: { type: 'number', exclusiveMinimum: true, minimum: 0 },
            utilisation: { type: 'number', exclusiveMinimum: true, minimum: 0, maximum: 1 },
            serviceRatePerReplica: { type: 'number', exclusiveMinimum: true, minimum: 0 },
            minSamples: { type: 'integer', minimum: 1 },
            serviceRateHalfLifeSeconds: { type: 'number', exclusiveMinimum: true, minimum: 0 },
            forecastHorizonSeconds: { type: 'number', minimum: 0 },
            arrivalHalfLifeSeconds: { type: 'number', minimum: 0 },
            startupSeconds: { type: 'number', minimum: 0 },
            rebalanceSeconds: { type: 'number', minimum: 0 },
            // threshold (KEDA's Kafka scaler)
            lagThreshold: { type: 'integer', minimum: 1 },
            metricType: { type: 'string', enum: ['AverageValue', 'Value'] },
            activationLagThreshold: nonNegativeInteger,
            offsetResetPolicy: { type: 'string', enum: ['latest', 'earliest'] },
            allowIdleConsumers: { type: 'boolean' },
            excludePersistentLag: { type: 'boolean' },
            scaleToZeroOnInvalidOffset: { type: 'boolean' },
            limitToPartitionsWithLag: { type: 'boolean' },
            ensureEvenDistributionOfPartitions: { type: 'boolean' },
            topic: { type: 'string', minLength: 1 },
            partitionLimitation: { type: 'array', items: nonNegativeInteger },
            tolerance: {
              type: 'object',
              properties: { scaleUp: { type: 'number', minimum: 0, maximum: 1 }, scaleDown: { type: 'number', minimum: 0, maximum: 1 } },
            },
          },
        },
        behavior: {
          type: 'object',
          properties: {
            minReplicas: nonNegativeInteger,
            maxReplicas: { type: 'integer', minimum: 1 },
            idleReplicas: nonNegativeInteger,
            cooldownSeconds: nonNegativeInteger,
            scaleUp: scalingRules,
            scaleDown: scalingRules,
            fallback: {
              type: 'object',
              required: ['failureThreshold', 'replicas'],
              properties: { failureThreshold: { type: 'integer', minimum: 1 }, replicas: nonNegativeInteger },
            },
          },
          'x-kubernetes-validations': [
            {
              rule: '!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas',
              message: 'minReplicas must not exceed maxReplicas',
              fieldPath: '.minReplicas',
            },
            {
              rule: '!has(self.idleReplicas) || !has(self.minReplicas) || self.idleReplicas < self.minReplicas',
              message: 'idleReplicas must be below minReplicas',
              fieldPath: '.idleReplicas',
            },
          ],
        },
        paused: { type: 'boolean', description: 'hold the replicas as they are; decisions are still computed and shown' },
      },
    },
    status: {
      type: 'object',
      properties: {
        observedGeneration: { type: 'integer' },
        currentReplicas: { type: 'integer' },
        desiredReplicas: { type: 'integer' },
        readyReplicas: { type: 'integer' },
        lastScaleTime: { type: 'string', format: 'date-time' },
        lastDecision: {
          type: 'object',
          properties: {
            time: { type: 'string' },
            action: { type: 'string' },
            policy: { type: 'string' },
            reason: { type: 'string' },
            desiredReplicas: { type: 'integer' },
            arithmetic: { type: 'string' },
            lag: { type: 'number', nullable: true },
            timeLagSeconds: { type: 'number', nullable: true },
          },
        },
        serviceRatePerReplica: { type: 'number' },
        conditions: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['type'],
          items: {
            type: 'object',
            required: ['type', 'status', 'lastTransitionTime'],
            properties: {
              type: { type: 'string' },
              status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
              reason: { type: 'string' },
              message: { type: 'string' },
              lastTransitionTime: { type: 'string', format: 'date-time' },
              observedGeneration: { type: 'integer' },
            },
          },
        },
      },
    },
  },
} as const;

/** The CustomResourceDefinition manifest (also rendered into deploy/). */
export function scaledConsumerCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${SCALED_CONSUMER.plural}.${SCALED_CONSUMER.group}` },
    spec: {
      group: SCALED_CONSUMER.group,
      scope: 'Namespaced',
      names: { kind: SCALED_CONSUMER.kind, plural: SCALED_CONSUMER.plural, singular: 'scaledconsumer', listKind: 'ScaledConsumerList', shortNames: ['scon'] },
      versions: [
        {
          name: SCALED_CONSUMER.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: scaledConsumerSchema },
          additionalPrinterColumns: [
            { name: 'Group', type: 'string', jsonPath: '.spec.group' },
            { name: 'ShareGroup', type: 'string', jsonPath: '.spec.shareGroup' },
            { name: 'Target', type: 'string', jsonPath: '.spec.scaleTargetRef.name' },
            { name: 'Current', type: 'integer', jsonPath: '.status.currentReplicas' },
            { name: 'Desired', type: 'integer', jsonPath: '.status.desiredReplicas' },
            { name: 'Ready', type: 'string', jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
}
