import { type ClusterObservation, LagEvaluator } from '@lagscale/core';
import { describe, expect, it } from 'vitest';
import { PrometheusText } from '../src/prometheus.js';
import { writeShareGroupMetrics } from '../src/share-metrics.js';

const observation: ClusterObservation = {
  time: 1000,
  topics: [
    {
      topic: 'orders',
      partitions: [0, 1].map((partition) => ({ partition, leader: 1, logEndOffset: 500, logStartOffset: 0, lastStableOffset: null })),
    },
    { topic: 'audit', partitions: [{ partition: 0, leader: -1, logEndOffset: null, logStartOffset: null, lastStableOffset: null, error: 'no leader' }] },
  ],
  groups: [],
  shareGroups: [
    {
      group: 'queue',
      state: 'Stable',
      members: [{ memberId: 'm', clientId: 'c', host: 'h', instanceId: null, assignment: [] }],
      partitions: [
        { topic: 'orders', partition: 0, startOffset: 300, brokerLag: 150 },
        { topic: 'orders', partition: 1, startOffset: 450, brokerLag: null },
        { topic: 'audit', partition: 0, startOffset: 10, brokerLag: null },
      ],
    },
  ],
  errors: [],
  stats: { durationMs: 1, requests: 1, brokers: 1 },
};

describe('share-group metrics', () => {
  it('exports lag, start offsets and sums per share-partition, and no sum for a topic with an unknown lag', () => {
    const out = new PrometheusText();
    writeShareGroupMetrics(out, new LagEvaluator().evaluate(observation));
    const text = out.toString();
    expect(text).toContain('lagscale_sharegroup_lag{sharegroup="queue",topic="orders",partition="0"} 150');
    // The broker did not count partition 1: the upper bound end − start.
    expect(text).toContain('lagscale_sharegroup_lag{sharegroup="queue",topic="orders",partition="1"} 50');
    expect(text).toContain('lagscale_sharegroup_start_offset{sharegroup="queue",topic="audit",partition="0"} 10');
    expect(text).toContain('lagscale_sharegroup_lag_sum{sharegroup="queue",topic="orders"} 200');
    expect(text).not.toContain('lagscale_sharegroup_lag_sum{sharegroup="queue",topic="audit"}');
    expect(text).toContain('lagscale_sharegroup_lag_exact{sharegroup="queue"} 0');
    expect(text).toContain('lagscale_sharegroup_members{sharegroup="queue"} 1');
    expect(text).toContain('lagscale_sharegroup_status{sharegroup="queue",status="ERR"} 1');
    expect(text).toMatch(/^# TYPE lagscale_sharegroup_lag gauge$/m);
  });
});
