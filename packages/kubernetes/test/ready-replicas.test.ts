import { AppsV1Api, CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { createLogger } from '@lagscale/exporter';
import { type ControlPlane, KubeletStandIn, SCALED_CONSUMER, type ScaledConsumer, ScaledConsumerController } from '@lagscale/kubernetes';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { createScaledConsumer, startTestCluster, workerDeployment } from './helpers.js';

const brokers = inject('kafkaBrokers');
const logger = createLogger('ready-replicas-test', 'warn');
const { group: crdGroup, version, plural } = SCALED_CONSUMER;

/**
 * KEDA's `metricType: Value` on a real control plane: the ScaledConsumer keeps the field (the
 * CRD's structural schema would prune an unknown one), and the ready replicas the decision scales
 * are the Ready pods of the Deployment, not its replica count. The controller reads them from the
 * Deployment's status.readyReplicas in its informer's cache: the kubelet stand-in marks the pods
 * Ready, kube-controller-manager counts them into the ReplicaSets' and the Deployment's status.
 * (Before, a pod list through the scale's selector; same count, one request fewer per write.)
 */
describe('metricType Value with ready pods on a real control plane', () => {
  let controlPlane: ControlPlane;
  let kubeConfig: KubeConfig;
  let kubelet: KubeletStandIn;
  const namespace = 'ready';

  beforeAll(async () => {
    ({ controlPlane, kubeConfig } = await startTestCluster(namespace));
    kubelet = new KubeletStandIn({ kubeConfig, logger });
    await kubelet.start();
  }, 30 * 60_000);

  afterAll(async () => {
    await kubelet?.stop();
    await controlPlane?.stop();
  });

  it('scales ceil(lag / lagThreshold × READY pods): 0 of 3 ready asks 0, then 5 × the Ready pods', { timeout: 180_000 }, async () => {
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    const topic = `ready-${Date.now().toString(36)}`;
    const group = `${topic}-g`;
    await createTopic(brokers, topic, 8);
    await produce(brokers, { topic, perPartition: { 0: 200, 1: 200, 2: 100 } });
    await commitOffsets(brokers, group, topic, { 0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0 });

    // Three pods that run but will not be Ready for 10 minutes (the stand-in honours the probe's delay).
    const idle = [process.execPath, '-e', 'setInterval(() => {}, 1000); process.on("SIGTERM", () => process.exit(0))'];
    const deployment = workerDeployment('slow-ready', idle, 3) as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    const container = deployment.spec.template.spec.containers[0] as Record<string, unknown>;
    container.readinessProbe = { exec: { command: ['true'] }, initialDelaySeconds: 600 };
    await apps.createNamespacedDeployment({ namespace, body: deployment as never });

    const controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: 1 });
    await controller.start();
    const read = async () => (await custom.getNamespacedCustomObject({ group: crdGroup, version, namespace, plural, name: 'by-value' })) as ScaledConsumer;
    try {
      await createScaledConsumer(kubeConfig, namespace, 'by-value', {
        kafka: { brokers },
        group,
        topics: [topic],
        scaleTargetRef: { name: 'slow-ready' },
        policy: { name: 'threshold', lagThreshold: 100, metricType: 'Value' },
        behavior: { minReplicas: 1, maxReplicas: 20 },
      });
      expect((await read()).spec.policy).toMatchObject({ metricType: 'Value' });

      // Lag 500 at 100: ratio 5; no pod is Ready, so 5 × 0 = 0 (the HPA's answer; the scale-down
      // window keeps 3). AverageValue would have asked 5.
      const unready = await waitFor(
        'a decision on 0 ready pods',
        async () => {
          const decision = (await read()).status?.lastDecision;
          return decision?.arithmetic?.includes('ready)') ? decision : undefined;
        },
        60_000,
        250,
      );
      expect(unready.arithmetic).toContain('usage ratio 500 / 100 = 5 outside tolerance 0.1 -> ceil(5 x 0 ready) = 0');
      expect((await apps.readNamespacedDeployment({ name: 'slow-ready', namespace })).spec?.replicas).toBe(3);

      // Without the delay the rollout's new pods are Ready at once. The loop then scales on however
      // many are Ready at its cycle (1, 2, 3, ... while the rollout goes on): 5 × ready each time.
      await apps.patchNamespacedDeployment(
        { name: 'slow-ready', namespace, body: { spec: { template: { spec: { containers: [{ name: 'main', readinessProbe: null }] } } } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      const ready = await waitFor(
        'a decision on ready pods',
        async () => {
          const decision = (await read()).status?.lastDecision;
          const match = /ceil\(5 x (\d+) ready\) = (\d+)/.exec(decision?.arithmetic ?? '');
          return match !== null && Number(match[1]) >= 1
            ? { arithmetic: decision?.arithmetic ?? '', ready: Number(match[1]), asked: Number(match[2]) }
            : undefined;
        },
        120_000,
        250,
      );
      expect(ready.asked).toBe(5 * ready.ready);
      console.log(`metricType Value: 0 of 3 pods ready -> ${unready.arithmetic}; after the rollout -> ${ready.arithmetic}`);
    } finally {
      await controller.stop();
    }
  });
});
