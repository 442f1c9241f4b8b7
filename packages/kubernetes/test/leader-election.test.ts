import type { ChildProcess } from 'node:child_process';
import { AppsV1Api, CoordinationV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { ControlPlane } from '@lagscale/kubernetes';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { createScaledConsumer, onJsonLines, spawnController, startTestCluster, workerDeployment } from './helpers.js';

const brokers = inject('kafkaBrokers');
const namespace = 'election';
const LEASE_SECONDS = 6;
/** 10,000 records over eight partitions. */
const EIGHTHS = Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 1250]));

interface ControllerProcess {
  readonly identity: string;
  readonly child: ChildProcess;
  /** Each scale write this instance logged (`target_scaled`), with when. */
  readonly scales: { at: number; to: number }[];
  /** Times it logged that someone else changed the replicas. */
  noticed: number;
}

/**
 * Two `lagscale controller` processes against one real control plane: only the Lease holder
 * scales; SIGKILL it and the other takes over within the lease duration, and every change of
 * replicas is written exactly once.
 */
describe('two controllers and a Lease', () => {
  let controlPlane: ControlPlane;
  let kubeConfig: KubeConfig;
  const controllers: ControllerProcess[] = [];
  const topic = `election-${Date.now().toString(36)}`;
  const group = `${topic}-group`;

  const startController = (identity: string): ControllerProcess => {
    const child = spawnController(controlPlane.kubeconfigPath, [
      '--lease-namespace',
      namespace,
      '--identity',
      identity,
      '--lease-duration-seconds',
      String(LEASE_SECONDS),
      '--port',
      '0',
    ]);
    const started: ControllerProcess = { identity, child, scales: [], noticed: 0 };
    // Logs are JSON lines on stderr.
    onJsonLines(child.stderr, (entry) => {
      if (entry?.event === 'target_scaled') started.scales.push({ at: Date.now(), to: entry.to as number });
      if (entry?.event === 'replicas_changed_elsewhere') started.noticed++;
    });
    controllers.push(started);
    return started;
  };

  beforeAll(async () => {
    ({ controlPlane, kubeConfig } = await startTestCluster(namespace));
    // Eight partitions: the threshold policy never asks for more consumers than partitions.
    await createTopic(brokers, topic, 8);
    await produce(brokers, { topic, perPartition: EIGHTHS });
    await commitOffsets(brokers, group, topic, Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 0])));
  }, 30 * 60_000);

  afterAll(async () => {
    for (const c of controllers) c.child.kill('SIGKILL');
    await controlPlane?.stop();
  });

  it('lets only the holder scale, and hands over within the lease duration after a SIGKILL, writing each change once', { timeout: 180_000 }, async () => {
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const idle = [process.execPath, '-e', 'setInterval(() => {}, 1000)'];
    await apps.createNamespacedDeployment({ namespace, body: workerDeployment('election-target', idle) as never });
    const a = startController('controller-a');
    const b = startController('controller-b');
    const leases = kubeConfig.makeApiClient(CoordinationV1Api);
    const holder = async (): Promise<string | undefined> =>
      (await leases.readNamespacedLease({ name: 'lagscale-controller', namespace }).catch(() => undefined))?.spec?.holderIdentity || undefined;
    const first = await waitFor('a Lease holder', holder, 30_000, 200);
    await createScaledConsumer(kubeConfig, namespace, 'election', {
      kafka: { brokers },
      group,
      scaleTargetRef: { name: 'election-target' },
      policy: { name: 'threshold', lagThreshold: 2500 },
      behavior: { maxReplicas: 8 },
    });
    const replicas = async (): Promise<number> => (await apps.readNamespacedDeployment({ name: 'election-target', namespace })).spec?.replicas ?? -1;
    // Lag 10,000 at 2,500 per replica: 4.
    await waitFor('4 replicas', async () => (await replicas()) === 4, 60_000, 200);
    const leader = first === a.identity ? a : b;
    const follower = leader === a ? b : a;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(leader.scales.map((s) => s.to)).toEqual([4]);
    expect(follower.scales).toEqual([]);

    leader.child.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor('the other controller to hold the Lease', async () => (await holder()) === follower.identity, (LEASE_SECONDS + 10) * 1000, 100);
    const handover = (Date.now() - killedAt) / 1000;
    // Within the lease duration plus one retry period of the new holder.
    expect(handover).toBeLessThan(LEASE_SECONDS + 3);

    // More lag: 20,000 → 8 replicas, written by the new leader alone, once.
    await produce(brokers, { topic, perPartition: EIGHTHS });
    await waitFor('8 replicas', async () => (await replicas()) === 8, 60_000, 200);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // The new leader's writes: each a new number on the way up (the lag grows while it is
    // produced, so a step on the way is fine), none repeated, all after it took over.
    const writes = follower.scales.map((s) => s.to);
    expect(writes.at(-1)).toBe(8);
    expect(writes.every((to, i) => to > (i === 0 ? 4 : (writes[i - 1] as number)))).toBe(true);
    expect(follower.scales.every((s) => s.at > killedAt)).toBe(true);
    expect(leader.scales.map((s) => s.to)).toEqual([4]);

    // Someone else edits the replicas: noticed, logged, and the controller writes its own number back (it owns them, as HPA does).
    await apps.patchNamespacedDeploymentScale(
      { name: 'election-target', namespace, body: { spec: { replicas: 2 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor('the controller to restore 8 replicas', async () => (await replicas()) === 8 && follower.scales.length > writes.length, 60_000, 200);
    expect(follower.noticed).toBeGreaterThanOrEqual(1);
    process.stderr.write(
      `[leader-election] hand-over ${handover.toFixed(1)} s after SIGKILL (lease ${LEASE_SECONDS} s); writes: ${leader.identity} ${leader.scales.map((s) => s.to).join(',')}, ${follower.identity} ${writes.join(',')}\n`,
    );
  });
});
