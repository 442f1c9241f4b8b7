import { EventEmitter } from 'node:events';
import type { LagSnapshot, ShareGroupLag, SharePartitionLag } from '@lagscale/core';
import { defaultBehavior } from '@lagscale/core';
import type { LagMonitor } from '@lagscale/kafka';
import {
  answerTrigger,
  GroupView,
  metricItems,
  metricNameOf,
  parseLabelSelector,
  parseScaledConsumer,
  parseScalerMetadata,
  type ScaledConsumer,
  ScalerRequestError,
  scaledConsumerSchema,
} from '@lagscale/kubernetes';
import { describe, expect, it } from 'vitest';

/** Share group `validator`: 8 share-partitions of `requests` with 1,250 records each not acknowledged, 4 members. */
function shareSnapshot(): LagSnapshot {
  const partitions: SharePartitionLag[] = Array.from({ length: 8 }, (_, i) => ({
    topic: i < 6 ? 'requests' : 'retries',
    partition: i,
    startOffset: 1000,
    logEndOffset: 2250,
    lag: 1250,
    lagMode: 'exact',
    timeLagSeconds: 30,
    timeLagMode: 'estimate',
    produceRate: 10,
    acknowledgeRate: 10,
    status: 'OK',
    statusReason: '',
  }));
  const validator: ShareGroupLag = {
    group: 'validator',
    state: 'Stable',
    members: 4,
    status: 'OK',
    statusReason: '',
    lag: 10_000,
    lagExact: true,
    timeLagSeconds: 30,
    produceRate: 80,
    acknowledgeRate: 80,
    topics: ['requests', 'retries'],
    partitions,
  };
  return {
    time: Date.parse('2026-12-03T12:00:00Z'),
    groups: [],
    shareGroups: [validator],
    topics: [],
    errors: [],
    stats: { durationMs: 1, requests: 1, brokers: 1 },
  };
}

describe('ScaledConsumer naming a share group', () => {
  const resource = (spec: Partial<ScaledConsumer['spec']>): ScaledConsumer => ({
    metadata: { name: 'x', namespace: 'shop' },
    spec: { kafka: { brokers: ['a:9092'] }, scaleTargetRef: { name: 'w' }, ...spec },
  });

  it('parses spec.shareGroup as a share group, spec.group as a consumer group', () => {
    expect(parseScaledConsumer(resource({ shareGroup: 'validator', shareGroupMaxSize: 50 })).group).toEqual({ name: 'validator', kind: 'share' });
    expect(parseScaledConsumer(resource({ group: 'orders' })).group).toEqual({ name: 'orders', kind: 'consumer' });
  });

  it('refuses both, neither, and shareGroupMaxSize without a share group, naming the path of the mistake', () => {
    expect(() => parseScaledConsumer(resource({ group: 'orders', shareGroup: 'validator' }))).toThrow(
      'spec.shareGroup: give either group (a consumer group) or shareGroup (a share group), not both',
    );
    expect(() => parseScaledConsumer(resource({}))).toThrow('spec.group: required (the consumer group to scale), or spec.shareGroup for a share group');
    expect(() => parseScaledConsumer(resource({ group: 'orders', shareGroupMaxSize: 10 }))).toThrow(
      'spec.shareGroupMaxSize: only applies with spec.shareGroup',
    );
  });

  it('has the same rules in the CRD schema (the API server refuses them with the field path)', () => {
    const spec = scaledConsumerSchema.properties.spec;
    expect(spec.required).toEqual(['scaleTargetRef']);
    expect(spec.properties.shareGroup).toMatchObject({ type: 'string', minLength: 1, maxLength: 249 });
    expect(spec.properties.shareGroupMaxSize).toMatchObject({ type: 'integer', minimum: 1 });
    const rules = spec['x-kubernetes-validations'].map((r) => [r.rule, r.fieldPath]);
    expect(rules).toContainEqual(['!has(self.group) || !has(self.shareGroup)', '.shareGroup']);
    expect(rules).toContainEqual(['has(self.group) || has(self.shareGroup)', '.group']);
    expect(rules).toContainEqual(['!has(self.shareGroupMaxSize) || has(self.shareGroup)', '.shareGroupMaxSize']);
  });
});

describe("a share group's view of the shared lag collection", () => {
  it('keeps only its share group, and of it only its topics', () => {
    const monitor = new EventEmitter() as unknown as LagMonitor;
    const view = new GroupView(monitor, { name: 'validator', kind: 'share' }, ['retries']);
    const seen = view.view(shareSnapshot());
    expect(seen.groups).toEqual([]);
    expect(seen.shareGroups?.map((g) => [g.group, g.lag, g.partitions.length])).toEqual([['validator', 2500, 2]]);
    expect(new GroupView(monitor, { name: 'other', kind: 'share' }, undefined).view(shareSnapshot()).shareGroups).toEqual([]);
    // A consumer group's view holds no share groups.
    expect(new GroupView(monitor, 'validator', undefined).view(shareSnapshot())).toMatchObject({ groups: [] });
    expect(new GroupView(monitor, 'validator', undefined).view(shareSnapshot()).shareGroups).toBeUndefined();
  });
});

describe("the external metrics API serves a share group's lag", () => {
  const source = {
    scaledConsumers: () => [
      {
        name: 'validator',
        group: 'validator',
        groupKind: 'share' as const,
        snapshot: shareSnapshot(),
        behavior: defaultBehavior({ minReplicas: 1, maxReplicas: 30 }),
        decision: { recommendation: { replicas: 25 }, desiredReplicas: 25 } as never,
      },
    ],
  };

  it('as lagscale_sharegroup_lag with a sharegroup label, per topic when selected; desired replicas too; no consumer-group metrics', () => {
    expect(metricItems(source, 'shop', 'lagscale_sharegroup_lag', parseLabelSelector('sharegroup=validator'))).toEqual([
      {
        metricName: 'lagscale_sharegroup_lag',
        metricLabels: { sharegroup: 'validator', scaledconsumer: 'validator' },
        timestamp: '2026-12-03T12:00:00.000Z',
        value: '10000',
      },
    ]);
    expect(metricItems(source, 'shop', 'lagscale_sharegroup_lag', parseLabelSelector('topic in (requests)')).map((i) => i.value)).toEqual(['7500']);
    expect(metricItems(source, 'shop', 'lagscale_desired_replicas', parseLabelSelector('sharegroup=validator')).map((i) => i.value)).toEqual(['25']);
    // The start offset's age is no scaling signal for a share group (a redelivered record holds it old).
    expect(metricItems(source, 'shop', 'lagscale_consumergroup_time_lag_seconds', [])).toEqual([]);
    expect(metricItems(source, 'shop', 'kafka_consumergroup_lag', [])).toEqual([]);
  });
});

describe('KEDA external scaler: a trigger naming a share group', () => {
  it('reads shareGroup and shareGroupMaxSize, and refuses both group keys, or a size without a share group, naming the key', () => {
    const trigger = parseScalerMetadata({ shareGroup: 'validator', policy: 'threshold', lagThreshold: '100', shareGroupMaxSize: '40' }, ['a:9092']);
    expect(trigger).toMatchObject({ group: 'validator', groupKind: 'share', maxGroupSize: 40 });
    expect(metricNameOf(trigger)).toBe('lagscale-threshold-sharegroup-validator');
    const refusal = (metadata: Record<string, string>) => {
      try {
        parseScalerMetadata(metadata, ['a:9092']);
      } catch (error) {
        expect(error).toBeInstanceOf(ScalerRequestError);
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(refusal({ consumerGroup: 'orders', shareGroup: 'validator' })).toBe(
      'scalerMetadata.shareGroup: give either consumerGroup (a consumer group) or shareGroup (a share group), not both',
    );
    expect(refusal({ consumerGroup: 'orders', shareGroupMaxSize: '10' })).toMatch(/^scalerMetadata\.shareGroupMaxSize: only applies with shareGroup/);
    expect(refusal({ shareGroup: 'validator', shareGroupMaxSize: 'lots' })).toBe('scalerMetadata.shareGroupMaxSize: must be a whole number >= 1, got "lots"');
  });

  it("answers with KEDA's lag metric uncapped by the 8 partitions, capped at the group's maximum size", () => {
    const trigger = parseScalerMetadata({ shareGroup: 'validator', policy: 'threshold', lagThreshold: '100' }, ['a:9092']);
    const answer = answerTrigger(trigger, shareSnapshot(), undefined);
    expect(answer).toMatchObject({ metricName: 'lagscale-threshold-sharegroup-validator', value: 10_000, target: 100, active: true });
    expect(answer.recommendation.replicas).toBe(100);
    // The scaler's default size (the brokers' group.share.max.size), unless the trigger says.
    expect(answerTrigger(trigger, shareSnapshot(), undefined, { shareGroupMaxSize: 30 }).value).toBe(3000);
    const rate = parseScalerMetadata({ shareGroup: 'validator', policy: 'rate', serviceRatePerReplica: '5', shareGroupMaxSize: '60' }, ['a:9092']);
    expect(answerTrigger(rate, shareSnapshot(), undefined).value).toBe(60);
    // The same name as a consumer group is not the share group.
    const asConsumerGroup = parseScalerMetadata({ consumerGroup: 'validator' }, ['a:9092']);
    expect(() => answerTrigger(asConsumerGroup, shareSnapshot(), undefined)).toThrow('consumer group "validator" is not known to the cluster');
    expect(() => answerTrigger({ ...trigger, group: 'other' }, shareSnapshot(), undefined)).toThrow('share group "other" is not known to the cluster');
  });
});
