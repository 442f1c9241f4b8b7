import type { ChildProcess } from 'node:child_process';
import { AppsV1Api, CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type ControlPlane, freePorts, shardOf } from '@lagscale/kubernetes';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { createScaledConsumer, onJsonLines, spawnController, startTestCluster, workerDeployment } from './helpers.js';

const brokers = inject('kafkaBrokers');
const namespace = 'shards';
const LEASE_SECONDS = 6;
const SHARDS = 3;
const WORKLOADS = 12;
/** 10,000 records over eight partitions: at 2,500 per replica, 4 replicas. */
const EIGHTHS = Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 1250]));

interface ControllerProcess {
  readonly identity: string;
  readonly child: ChildProcess;
  readonly port: number;
  /** Each scale write it logged (`target_scaled`): which target, to what, when. */
  readonly scales: { at: number; target: string; to: number }[];
}

/**
 * Three `lagscale controller --shards 3` processes against one real control plane: each holds one
 * shard and serves only its ScaledConsumers; SIGKILL one and its shard is taken over within the
 * lease duration; every change of replicas of every workload is written once, by one replica.
 */
describe('three controllers sharing three shards', () => {
  let controlPlane: ControlPlane;
  let kubeConfig: KubeConfig;
  const controllers: ControllerProcess[] = [];
  const topic = `shards-${Date.now().toString(36)}`;
  const names = Array.from({ length: WORKLOADS }, (_, i) => `w-${i}`);
  const group = (name: string) => `${topic}-${name}`;

  const startController = async (identity: string): Promise<ControllerProcess> => {
    const [port] = (await freePorts(1)) as [number];
    const child = spawnController(controlPlane.kubeconfigPath, [
      '--shards',
      String(SHARDS),
      '--lease-namespace',
      namespace,
      '--identity',
      identity,
      '--lease-duration-seconds',
      String(LEASE_SECONDS),
      '--port',
      String(port),
    ]);
    const started: ControllerProcess = { identity, child, port, scales: [] };
    onJsonLines(child.stderr, (entry) => {
      if (entry?.event === 'target_scaled') started.scales.push({ at: Date.now(), target: entry.target as string, to: entry.to as number });
    });
    controllers.push(started);
    return started;
  };

  const gauge = async (controller: ControllerProcess, name: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${controller.port}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  };

  beforeAll(async () => {
    ({ controlPlane, kubeConfig } = await startTestCluster(namespace));
    await createTopic(brokers, topic, 8);
    await produce(brokers, { topic, perPartition: EIGHTHS });
    // Every group at the end: no lag yet.
    for (const name of names) await commitOffsets(brokers, group(name), topic, Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 1250])));
  }, 30 * 60_000);

  afterAll(async () => {
    for (const c of controllers) c.child.kill('SIGKILL');
    await controlPlane?.stop();
  });

  it('splits the ScaledConsumers, takes over a dead replica’s shard within the lease duration, and writes each change once', { timeout: 240_000 }, async () => {
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const leases = kubeConfig.makeApiClient(CoordinationV1Api);
    for (const name of names) {
      // Paused: no ReplicaSets or pods, while the scale subresource works as always.
      const deployment = workerDeployment(name, []);
      await apps.createNamespacedDeployment({ namespace, body: { ...deployment, spec: { ...(deployment.spec as object), paused: true } } as never });
      await createScaledConsumer(kubeConfig, namespace, name, {
        kafka: { brokers },
        group: group(name),
        scaleTargetRef: { name },
        policy: { name: 'threshold', lagThreshold: 2500 },
        behavior: { minReplicas: 1, maxReplicas: 8 },
      });
    }
    for (const identity of ['controller-a', 'controller-b', 'controller-c']) await startController(identity);

    // One shard each, and together every ScaledConsumer served exactly once.
    await waitFor(
      'one shard held by each controller, every ScaledConsumer served once',
      async () => {
        const held = await Promise.all(controllers.map((c) => gauge(c, 'lagscale_controller_shards_held').catch(() => 0)));
        const served = await Promise.all(controllers.map((c) => gauge(c, 'lagscale_controller_scaled_consumers').catch(() => 0)));
        return held.every((h) => h === 1) && served.reduce((a, b) => a + b, 0) === WORKLOADS;
      },
      60_000,
      500,
    );
    const holderOf = async (shard: number): Promise<string | undefined> =>
      (await leases.readNamespacedLease({ name: `lagscale-controller-shard-${shard}`, namespace }).catch(() => undefined))?.spec?.holderIdentity || undefined;

    const replicas = async (name: string): Promise<number> => (await apps.readNamespacedDeployment({ name, namespace })).spec?.replicas ?? -1;
    const allAt = async (count: number): Promise<boolean> => (await Promise.all(names.map(replicas))).every((r) => r === count);
    // Lag 10,000 on every group: 4 replicas each, each written once, by the holder of its shard.
    for (const name of names) await commitOffsets(brokers, group(name), topic, Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 0])));
    await waitFor('4 replicas everywhere', () => allAt(4), 60_000, 250);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (const name of names) {
      const target = `kubernetes:deployment/${namespace}/${name}`;
      const writes = controllers.flatMap((c) => c.scales.filter((s) => s.target === target).map((s) => ({ by: c.identity, to: s.to })));
      expect(writes, target).toEqual([{ by: await holderOf(shardOf(`${namespace}/${name}`, SHARDS)), to: 4 }]);
    }

    // SIGKILL the holder of w-0's shard: another replica holds it within the lease duration (and a retry).
    const shard = shardOf(`${namespace}/w-0`, SHARDS);
    const victimIdentity = (await holderOf(shard)) as string;
    const killed = controllers.find((c) => c.identity === victimIdentity) as ControllerProcess;
    killed.child.kill('SIGKILL');
    const killedAt = Date.now();
    const taker = await waitFor(
      'another controller to hold the dead one’s shard',
      async () => {
        const holder = await holderOf(shard);
        return holder !== undefined && holder !== victimIdentity ? holder : undefined;
      },
      (LEASE_SECONDS + 15) * 1000,
      100,
    );
    const handover = (Date.now() - killedAt) / 1000;
    expect(handover).toBeLessThan(LEASE_SECONDS + 4);

    // More lag (every group reads the one topic): 20,000 → 8 replicas everywhere, the dead replica's workloads included.
    await produce(brokers, { topic, perPartition: EIGHTHS });
    await waitFor('8 replicas everywhere', () => allAt(8), 90_000, 250);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // Per workload, the writes of all replicas together: each a new number on the way up, none
    // repeated (two replicas scaling one workload would write the same number twice).
    for (const name of names) {
      const target = `kubernetes:deployment/${namespace}/${name}`;
      const writes = controllers.flatMap((c) => c.scales.filter((s) => s.target === target).map((s) => ({ ...s, by: c.identity }))).sort((x, y) => x.at - y.at);
      const numbers = writes.map((w) => w.to);
      expect(numbers[0], target).toBe(4);
      expect(numbers.at(-1), target).toBe(8);
      expect(
        numbers.every((to, i) => i === 0 || to > (numbers[i - 1] as number)),
        `${target}: ${JSON.stringify(writes)}`,
      ).toBe(true);
      expect(writes.filter((w) => w.by === killed.identity && w.at > killedAt)).toEqual([]);
    }
    process.stderr.write(
      `[sharded-controllers] ${victimIdentity} SIGKILLed, its shard ${shard} held by ${taker} ${handover.toFixed(1)} s later (lease ${LEASE_SECONDS} s); writes: ${controllers.map((c) => `${c.identity} ${c.scales.length}`).join(', ')}\n`,
    );
  });
});
