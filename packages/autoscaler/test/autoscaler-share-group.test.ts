import { EventEmitter } from 'node:events';
import { Autoscaler, resolvePolicy, type ScaleTarget } from '@lagscale/autoscaler';
import { type LagSnapshot, parseBehaviorConfig, type ScalingDecision, type SharePartitionLag } from '@lagscale/core';
import { createLogger } from '@lagscale/exporter';
import { describe, expect, it } from 'vitest';

const logger = createLogger('test-autoscaler-share', 'silent');

class CountingTarget implements ScaleTarget {
  readonly name = 'memory:share';
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

/** Share group `validator`: 8 share-partitions, `lagEach` records not acknowledged on each, 4 members. */
function snapshot(time: number, lagEach: number): LagSnapshot {
  const partitions: SharePartitionLag[] = Array.from({ length: 8 }, (_, i) => ({
    topic: 'requests',
    partition: i,
    startOffset: 0,
    logEndOffset: lagEach,
    lag: lagEach,
    lagMode: 'exact',
    timeLagSeconds: 10,
    timeLagMode: 'estimate',
    produceRate: null,
    acknowledgeRate: null,
    status: 'OK',
    statusReason: '',
  }));
  return {
    time,
    groups: [],
    shareGroups: [
      {
        group: 'validator',
        state: 'Stable',
        members: 4,
        status: 'OK',
        statusReason: '',
        lag: lagEach * 8,
        lagExact: true,
        timeLagSeconds: 10,
        produceRate: null,
        acknowledgeRate: null,
        topics: ['requests'],
        partitions,
      },
    ],
    topics: [],
    errors: [],
    stats: { durationMs: 1, requests: 1, brokers: 1 },
  };
}

async function decide(options: { maxGroupSize?: number; snapshots: LagSnapshot[] }): Promise<{ decisions: ScalingDecision[]; target: CountingTarget }> {
  const monitor = new EventEmitter();
  const target = new CountingTarget(4);
  const autoscaler = new Autoscaler({
    monitor,
    group: 'validator',
    groupKind: 'share',
    ...(options.maxGroupSize === undefined ? {} : { maxGroupSize: options.maxGroupSize }),
    policy: resolvePolicy({ name: 'threshold', lagThreshold: 100 }),
    behavior: parseBehaviorConfig({
      minReplicas: 1,
      maxReplicas: 50,
      scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 100, periodSeconds: 15 }] },
    }),
    target,
    logger,
  });
  const decisions: ScalingDecision[] = [];
  autoscaler.on('decision', (d) => decisions.push(d));
  autoscaler.start();
  for (const s of options.snapshots) monitor.emit('snapshot', s);
  await autoscaler.stop();
  return { decisions, target };
}

describe('Autoscaler on a share group (local target)', () => {
  it('scales past the partition count: 8 partitions, lag 10,000 at 100 per replica -> maxReplicas 50', async () => {
    const { decisions, target } = await decide({ snapshots: [snapshot(1000, 1250)] });
    expect(decisions[0]?.recommendation?.replicas).toBe(100);
    expect(decisions[0]?.recommendation?.arithmetic).toContain('share group: no partition cap');
    expect(decisions[0]?.inputs).toMatchObject({ lag: 10_000, partitions: 8, activeConsumers: 4 });
    expect(target.writes).toEqual([50]);
  });

  it("is capped by the share group's maximum size", async () => {
    const { target } = await decide({ maxGroupSize: 30, snapshots: [snapshot(1000, 1250)] });
    expect(target.writes).toEqual([30]);
  });

  it('holds when the share group is not in the snapshot (a failed metric read), as for a consumer group', async () => {
    const missing = { ...snapshot(1000, 1250), shareGroups: [] };
    const { decisions, target } = await decide({ snapshots: [missing] });
    expect(decisions[0]?.recommendation).toBeNull();
    expect(decisions[0]?.reason).toContain('share group validator is not in the snapshot');
    expect(target.writes).toEqual([]);
  });
});
