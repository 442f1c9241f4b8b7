import { Autoscaler, resolvePolicy, type ScaleTarget } from '@lagscale/autoscaler';
import { parseBehaviorConfig, type ScalingDecision } from '@lagscale/core';
import { createLogger } from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import { describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';

const brokers = inject('kafkaBrokers');
const logger = createLogger('test-autoscaler', 'silent');

/** A target that only remembers the number it was asked for (the loop's contract, no processes). */
class CountingTarget implements ScaleTarget {
  readonly name = 'memory:test';
  replicas: number;
  readonly writes: number[] = [];
  constructor(initial: number) {
    this.replicas = initial;
  }
  async currentReplicas(): Promise<number> {
    return this.replicas;
  }
  /** Ready replicas to report; null: this target cannot tell (no readyReplicas at all). */
  ready: number | null = null;
  readyReads = 0;
  async setReplicas(replicas: number): Promise<void> {
    this.writes.push(replicas);
    this.replicas = replicas;
  }
  async close(): Promise<void> {}
}

describe('Autoscaler control loop', () => {
  it('holds replicas while Kafka cannot be read, then goes to the fallback count after N failures', async () => {
    const monitor = new LagMonitor({ connection: { brokers: ['127.0.0.1:1'], connectTimeoutMs: 200 }, groups: ['g'], intervalSeconds: 0.2 });
    const target = new CountingTarget(2);
    const autoscaler = new Autoscaler({
      monitor,
      group: 'g',
      policy: resolvePolicy({ name: 'threshold', lagThreshold: 10 }),
      behavior: parseBehaviorConfig({ minReplicas: 1, maxReplicas: 10, fallback: { failureThreshold: 2, replicas: 5 } }),
      target,
      logger,
    });
    const decisions: ScalingDecision[] = [];
    autoscaler.on('decision', (d) => decisions.push(d));
    autoscaler.start();
    monitor.start();
    try {
      await waitFor('a fallback decision', async () => decisions.find((d) => d.action === 'fallback'), 15_000, 50);
    } finally {
      await autoscaler.stop();
      await monitor.stop();
    }
    const firstFallback = decisions.findIndex((d) => d.action === 'fallback');
    // KEDA: fallback once failures exceed the threshold; before that the replicas are held.
    expect(firstFallback).toBe(2);
    expect(decisions.slice(0, 2).every((d) => d.desiredReplicas === 2 && d.recommendation === null)).toBe(true);
    expect(decisions[0]?.reason).toContain('lag collection failed');
    expect(target.writes).toEqual([5]);
    expect(autoscaler.counters.errorsByStage.get('metrics')).toBeGreaterThanOrEqual(3);
  });

  it('records but does not apply decisions while paused, and applies them after resume', async () => {
    const topic = `loop-${Date.now().toString(36)}`;
    const group = `${topic}-g`;
    await createTopic(brokers, topic, 4);
    await produce(brokers, { topic, perPartition: { 0: 100, 1: 100, 2: 100, 3: 100 } });
    await commitOffsets(brokers, group, topic, { 0: 0, 1: 0, 2: 0, 3: 0 });
    const monitor = new LagMonitor({ connection: { brokers }, groups: [group], intervalSeconds: 0.3 });
    const target = new CountingTarget(1);
    const autoscaler = new Autoscaler({
      monitor,
      group,
      policy: resolvePolicy({ name: 'threshold', lagThreshold: 50 }),
      behavior: parseBehaviorConfig({ minReplicas: 1, maxReplicas: 10 }),
      target,
      logger,
    });
    const decisions: ScalingDecision[] = [];
    autoscaler.on('decision', (d) => decisions.push(d));
    autoscaler.pause();
    autoscaler.start();
    monitor.start();
    try {
      await waitFor('two paused decisions', async () => decisions.filter((d) => d.action === 'paused').length >= 2, 15_000, 50);
      expect(target.writes).toEqual([]);
      const paused = decisions.find((d) => d.action === 'paused');
      // 400 records of lag at 50 per replica, capped at 4 partitions: the policy wants 4.
      expect(paused?.recommendation?.replicas).toBe(4);
      autoscaler.resume();
      await waitFor('a scale-up after resume', async () => decisions.find((d) => d.action === 'scale_up'), 15_000, 50);
      expect(target.writes[0]).toBe(4);
      expect(autoscaler.decisions(1)[0]?.group).toBe(group);
    } finally {
      await autoscaler.stop();
      await monitor.stop();
    }
  });

  it('asks the target for ready replicas only for metricType Value, and scales the ready count by metric / target', async () => {
    const topic = `ready-${Date.now().toString(36)}`;
    const group = `${topic}-g`;
    await createTopic(brokers, topic, 8);
    await produce(brokers, { topic, perPartition: { 0: 100, 1: 100, 2: 100, 3: 100, 4: 100 } });
    await commitOffsets(brokers, group, topic, { 0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0 });
    const run = async (policy: Record<string, unknown>, target: CountingTarget): Promise<ScalingDecision> => {
      const monitor = new LagMonitor({ connection: { brokers }, groups: [group], intervalSeconds: 0.3 });
      const withReady: ScaleTarget = {
        name: target.name,
        currentReplicas: () => target.currentReplicas(),
        setReplicas: (n) => target.setReplicas(n),
        close: () => target.close(),
        readyReplicas: async () => {
          target.readyReads++;
          if (target.ready === null) throw new Error('cannot tell');
          return target.ready;
        },
      };
      const autoscaler = new Autoscaler({
        monitor,
        group,
        policy: resolvePolicy(policy),
        behavior: parseBehaviorConfig({ minReplicas: 1, maxReplicas: 20 }),
        target: withReady,
        logger,
      });
      const decisions: ScalingDecision[] = [];
      autoscaler.on('decision', (d) => decisions.push(d));
      autoscaler.pause();
      autoscaler.start();
      monitor.start();
      try {
        return await waitFor('a decision with lag', async () => decisions.find((d) => d.inputs.lag === 500), 15_000, 50);
      } finally {
        await autoscaler.stop();
        await monitor.stop();
      }
    };
    // Lag 500 at 100: Value with 3 current of which 2 are ready -> ceil(5 x 2) = 10.
    const valueTarget = new CountingTarget(3);
    valueTarget.ready = 2;
    const value = await run({ name: 'threshold', lagThreshold: 100, metricType: 'Value' }, valueTarget);
    expect(value.recommendation?.replicas).toBe(10);
    expect(value.inputs.readyReplicas).toBe(2);
    expect(valueTarget.readyReads).toBeGreaterThanOrEqual(1);
    // AverageValue does not read it (no pod list paid for): ceil(500 / 100) = 5.
    const averageTarget = new CountingTarget(3);
    averageTarget.ready = 2;
    const average = await run({ name: 'threshold', lagThreshold: 100 }, averageTarget);
    expect(average.recommendation?.replicas).toBe(5);
    expect(average.inputs.readyReplicas).toBeNull();
    expect(averageTarget.readyReads).toBe(0);
    // A failed ready read fails the cycle's metric, as HPA's does.
    const blindTarget = new CountingTarget(3);
    const blind = await run({ name: 'threshold', lagThreshold: 100, metricType: 'Value' }, blindTarget);
    expect(blind.recommendation).toBeNull();
    expect(blind.reason).toContain('metricType Value needs the ready replicas');
  });
});
