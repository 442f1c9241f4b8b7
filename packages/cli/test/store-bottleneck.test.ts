import { Autoscaler, resolvePolicy, type ScaleTarget } from '@lagscale/autoscaler';
import { parseBehaviorConfig, type ScalingDecision } from '@lagscale/core';
import { createLogger } from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import { OpenSearchResultStore } from '@lagscale/validator';
import { describe, expect, inject, it } from 'vitest';
import type {} from '../../../test-support/global-services.js';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';

const brokers = inject('kafkaBrokers');
const openSearchUrl = inject('openSearchUrl');

class CountingTarget implements ScaleTarget {
  readonly name = 'memory:test';
  readonly writes: number[] = [];
  constructor(public replicas: number) {}
  async currentReplicas(): Promise<number> {
    return this.replicas;
  }
  async setReplicas(replicas: number): Promise<void> {
    this.writes.push(replicas);
    this.replicas = replicas;
  }
  async close(): Promise<void> {}
}

/**
 * The rule "do not scale out into a dead store", as the local stack wires it: real lag on a real
 * topic asks for more consumers, the store on a real OpenSearch node is made read-only (the flood
 * watermark's block), and the autoscaler holds, saying why; once the block is lifted it scales up.
 */
describe('the autoscaler in front of a store that does not take writes', () => {
  it('holds scale-ups while the store is blocked and scales once it takes writes again', async () => {
    const topic = `bottleneck-${Date.now().toString(36)}`;
    const group = `${topic}-g`;
    await createTopic(brokers, topic, 4);
    await produce(brokers, { topic, perPartition: { 0: 100, 1: 100, 2: 100, 3: 100 } });
    await commitOffsets(brokers, group, topic, { 0: 0, 1: 0, 2: 0, 3: 0 });
    const store = await OpenSearchResultStore.open({ url: openSearchUrl, indexPrefix: topic });
    const block = (value: boolean | null) =>
      fetch(`${openSearchUrl}/${topic}-results/_settings`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ 'index.blocks.read_only_allow_delete': value }),
      });
    expect((await block(true)).status).toBe(200);
    const monitor = new LagMonitor({ connection: { brokers }, groups: [group], intervalSeconds: 0.3 });
    const target = new CountingTarget(1);
    const autoscaler = new Autoscaler({
      monitor,
      group,
      policy: resolvePolicy({ name: 'threshold', lagThreshold: 50 }),
      behavior: parseBehaviorConfig({ minReplicas: 1, maxReplicas: 10 }),
      target,
      logger: createLogger('test-bottleneck', 'silent'),
      scaleOutHold: async () => {
        const problem = await store.ping();
        return problem === null ? null : `the workers' result store is their bottleneck (${problem})`;
      },
    });
    const decisions: ScalingDecision[] = [];
    autoscaler.on('decision', (d) => decisions.push(d));
    autoscaler.start();
    monitor.start();
    try {
      await waitFor('three held decisions', async () => decisions.filter((d) => d.reason.includes('scale-out held')).length >= 3, 15_000, 50);
      expect(target.writes).toEqual([]);
      const held = decisions.find((d) => d.reason.includes('scale-out held'));
      expect(held?.recommendation?.replicas).toBe(4);
      expect(held?.reason).toContain(`${topic}-results has index.blocks.read_only_allow_delete`);
      expect((await block(null)).status).toBe(200);
      await waitFor('a scale-up once the store takes writes', async () => decisions.find((d) => d.action === 'scale_up'), 15_000, 50);
      expect(target.writes[0]).toBe(4);
    } finally {
      await autoscaler.stop();
      await monitor.stop();
      await store.close();
    }
  }, 60_000);
});
