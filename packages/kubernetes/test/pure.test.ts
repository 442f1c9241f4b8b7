import type { BehaviorConfig, GroupLag, LagSnapshot, PartitionLag } from '@lagscale/core';
import { defaultBehavior, groupLagForTopics } from '@lagscale/core';
import { LabelSelectorError, matchesLabels, metricItems, parseLabelSelector, parseScaledConsumer, quantity, type ScaledConsumer } from '@lagscale/kubernetes';
import { describe, expect, it } from 'vitest';

const partition = (topic: string, n: number, lag: number | null, timeLag: number | null, rate: number | null): PartitionLag => ({
  topic,
  partition: n,
  committedOffset: 0,
  logEndOffset: lag ?? 0,
  logStartOffset: 0,
  lag,
  timeLagSeconds: timeLag,
  timeLagMode: 'estimate',
  produceRate: rate,
  consumeRate: rate === null ? null : rate / 2,
  status: 'OK',
  statusReason: '',
  owner: null,
});

const group: GroupLag = {
  group: 'orders',
  state: 'Stable',
  members: 2,
  isolation: 'read_uncommitted',
  status: 'OK',
  statusReason: '',
  lag: 1600,
  lagComplete: false,
  timeLagSeconds: 40,
  produceRate: 30,
  consumeRate: 15,
  topics: ['a', 'b'],
  partitions: [partition('a', 0, 1000, 12.5, 10), partition('a', 1, 500, 40, 20), partition('b', 0, 100, 3, null), partition('b', 1, null, null, null)],
};

describe('groupLagForTopics', () => {
  it('recomputes the totals from the partitions of the topics kept', () => {
    const a = groupLagForTopics(group, new Set(['a']));
    expect(a).toMatchObject({ lag: 1500, lagComplete: true, timeLagSeconds: 40, produceRate: 30, consumeRate: 15, topics: ['a'] });
    expect(a.partitions).toHaveLength(2);
    const b = groupLagForTopics(group, new Set(['b']));
    expect(b).toMatchObject({ lag: 100, lagComplete: false, timeLagSeconds: 3, produceRate: null, consumeRate: null, topics: ['b'] });
    expect(groupLagForTopics(group, new Set(['c']))).toMatchObject({ lag: 0, lagComplete: true, timeLagSeconds: null, partitions: [] });
  });
});

describe('label selectors', () => {
  it('parses equality, set and existence terms and matches label sets', () => {
    const selector = parseLabelSelector('consumergroup=orders, topic in (a, b),!canary,env!=dev,tier');
    expect(selector).toEqual([
      { key: 'consumergroup', op: 'in', values: ['orders'] },
      { key: 'topic', op: 'in', values: ['a', 'b'] },
      { key: 'canary', op: 'doesnotexist' },
      { key: 'env', op: 'notin', values: ['dev'] },
      { key: 'tier', op: 'exists' },
    ]);
    expect(matchesLabels(selector, { consumergroup: 'orders', topic: 'a', tier: 'x' })).toBe(true);
    expect(matchesLabels(selector, { consumergroup: 'orders', topic: 'c', tier: 'x' })).toBe(false);
    expect(matchesLabels(selector, { consumergroup: 'orders', topic: 'a', tier: 'x', canary: 'y' })).toBe(false);
    expect(matchesLabels(selector, { consumergroup: 'orders', topic: 'a', tier: 'x', env: 'dev' })).toBe(false);
    expect(matchesLabels(parseLabelSelector('a==b'), { a: 'b' })).toBe(true);
    expect(parseLabelSelector(undefined)).toEqual([]);
    expect(() => parseLabelSelector('bad key=1')).toThrow(LabelSelectorError);
  });
});

describe('external metric values', () => {
  const snapshot: LagSnapshot = { time: Date.parse('2026-12-03T12:00:00Z'), groups: [group], errors: [] } as unknown as LagSnapshot;
  const behavior: BehaviorConfig = defaultBehavior({ minReplicas: 2, maxReplicas: 6 });
  const source = {
    scaledConsumers: (namespace: string) =>
      namespace !== 'shop'
        ? []
        : [
            {
              name: 'orders',
              group: 'orders',
              snapshot,
              behavior,
              decision: { recommendation: { replicas: 9 }, desiredReplicas: 6 } as never,
            },
          ],
  };

  it('gives one value per ScaledConsumer, per topic when the selector names topics, and clamps desired replicas to min and max', () => {
    expect(metricItems(source, 'shop', 'kafka_consumergroup_lag', parseLabelSelector('consumergroup=orders'))).toEqual([
      {
        metricName: 'kafka_consumergroup_lag',
        metricLabels: { consumergroup: 'orders', scaledconsumer: 'orders' },
        timestamp: '2026-12-03T12:00:00.000Z',
        value: '1600',
      },
    ]);
    expect(metricItems(source, 'shop', 'kafka_consumergroup_lag', parseLabelSelector('topic in (a,b)')).map((i) => [i.metricLabels.topic, i.value])).toEqual([
      ['a', '1500'],
      ['b', '100'],
    ]);
    expect(metricItems(source, 'shop', 'lagscale_consumergroup_time_lag_seconds', [])[0]?.value).toBe('40');
    expect(metricItems(source, 'shop', 'lagscale_desired_replicas', [])[0]?.value).toBe('6');
    expect(metricItems(source, 'shop', 'kafka_consumergroup_lag', parseLabelSelector('consumergroup=other'))).toEqual([]);
    expect(metricItems(source, 'elsewhere', 'kafka_consumergroup_lag', [])).toEqual([]);
    expect([quantity(12), quantity(1.5), quantity(0.0004)]).toEqual(['12', '1500m', '0m']);
  });
});

describe('parseScaledConsumer', () => {
  const resource = (spec: Partial<ScaledConsumer['spec']>): ScaledConsumer => ({
    metadata: { name: 'x', namespace: 'shop' },
    spec: { kafka: { brokers: ['b:9092', 'a:9092'] }, group: 'g', scaleTargetRef: { name: 'w' }, ...spec },
  });

  it('parses policy and behavior with the YAML config code, naming each problem with its spec path', () => {
    const parsed = parseScaledConsumer(resource({ policy: { name: 'threshold', lagThreshold: 50 }, behavior: { maxReplicas: 7 } }));
    expect(parsed.policy.name).toBe('threshold');
    expect(parsed.behavior.maxReplicas).toBe(7);
    expect(() => parseScaledConsumer(resource({ policy: { name: 'rate', utilisation: 3 }, behavior: { minReplicas: 150 } }))).toThrow(
      /spec\.policy\.utilisation: must be a number > 0 and <= 1, got 3[\s\S]*spec\.behavior\.maxReplicas: must be >= minReplicas \(150\)/,
    );
  });

  it('shares one lag collection between resources on the same brokers (in any order) and credentials', () => {
    const a = parseScaledConsumer(resource({}));
    const b = parseScaledConsumer({
      ...resource({}),
      metadata: { name: 'y', namespace: 'other' },
      spec: { ...resource({}).spec, kafka: { brokers: ['a:9092', 'b:9092'] } },
    });
    expect(a.clusterKey).toBe(b.clusterKey);
    const sasl = parseScaledConsumer(resource({ kafka: { brokers: ['a:9092', 'b:9092'], sasl: { mechanism: 'PLAIN', secretRef: { name: 's' } } } }));
    expect(sasl.clusterKey).not.toBe(a.clusterKey);
  });

  it('takes a prometheus source without Kafka, keeps its secretRef out of the query settings, and names mistakes with their path', () => {
    const query = { type: 'prometheus', serverAddress: 'https://prometheus:9090', query: 'sum(queue_depth)', threshold: 10 } as const;
    const { kafka: _kafka, ...withoutKafka } = resource({}).spec;
    const parsed = parseScaledConsumer({ ...resource({}), spec: { ...withoutKafka, source: { ...query, secretRef: { name: 'auth' } } } });
    expect(parsed.source.type).toBe('prometheus');
    expect(parsed.policy.name).toBe('prometheus');
    expect(parsed.clusterKey).toBeNull();
    expect(parsed.source.type === 'prometheus' && parsed.source.config.threshold).toBe(10);
    expect(parseScaledConsumer(resource({ source: { type: 'kafka' } })).source.type).toBe('kafka');
    expect(() => parseScaledConsumer({ ...resource({}), spec: withoutKafka })).toThrow(/spec\.kafka: required unless spec\.source\.type is prometheus/);
    expect(() => parseScaledConsumer(resource({ source: query, policy: { name: 'rate' } }))).toThrow(/spec\.policy: not used with source type prometheus/);
    expect(() => parseScaledConsumer(resource({ source: { ...query, serverAddress: 'ftp://x' } }))).toThrow(/spec\.source\.serverAddress/);
    expect(() => parseScaledConsumer(resource({ source: { type: 'kafka', query: 'x' } as never }))).toThrow(/spec\.source\.query: unknown key/);
  });
});
