import { AppsV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '@lagscale/exporter';
import { type ControlPlane, type RunningKeda, ScaledConsumerController, startKeda } from '@lagscale/kubernetes';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { admin, commitOffsets, createTopic, produce, producer, waitFor } from '../../../test-support/kafka.js';
import { createScaledConsumer, startTestCluster } from './helpers.js';

const brokers = inject('kafkaBrokers');
const logger = createLogger('keda-conformance-test', 'warn');
const namespace = 'conformance';
const PARTITIONS = 8;
/** Records per partition produced once; lag is then set by committing at `END - lag`. */
const END = 1000;
const LAG_THRESHOLD = 10;
const ACTIVATION = 5;

/** Two settings side by side: KEDA's Kafka trigger and lagscale's `threshold` policy with the same metadata. */
const PAIRS = [
  { name: 'plain', excludePersistentLag: false },
  { name: 'persistent', excludePersistentLag: true },
] as const;

/**
 * Lag per partition for one step. `moving` partitions keep the given lag while their committed
 * offset advances (a consumer keeping up); the others stand still (a stuck consumer: persistent lag).
 */
interface Step {
  readonly what: string;
  readonly lag: Readonly<Record<number, number>>;
  readonly moving?: readonly number[];
  /** Expected replicas per pair, worked out from KEDA's documented arithmetic. */
  readonly expected: Readonly<Record<(typeof PAIRS)[number]['name'], number>>;
}

// lagThreshold 10, activationLagThreshold 5, limitToPartitionsWithLag, min 0, max 10, 8 partitions.
const STEPS: readonly Step[] = [
  { what: 'no lag', lag: {}, expected: { plain: 0, persistent: 0 } },
  { what: 'lag 3 on one partition: under the activation threshold', lag: { 0: 3 }, expected: { plain: 0, persistent: 0 } },
  {
    what: 'lag 25 on 4 partitions, moving: ceil(25/10)',
    lag: { 0: 7, 1: 6, 2: 6, 3: 6 },
    moving: [0, 1, 2, 3],
    expected: { plain: 3, persistent: 3 },
  },
  {
    what: 'lag 200 on 2 partitions, moving: 20, limited to the 2 partitions with lag',
    lag: { 4: 100, 5: 100 },
    moving: [4, 5],
    expected: { plain: 2, persistent: 2 },
  },
  {
    what: 'lag 60 stuck on partition 0, 5 moving on each of 1-3: 75 counted (4 partitions), or 15 without the stuck one',
    lag: { 0: 60, 1: 5, 2: 5, 3: 5 },
    moving: [1, 2, 3],
    expected: { plain: 4, persistent: 2 },
  },
  {
    what: 'lag 40 on all 8 partitions, moving: ceil(40/10)',
    lag: { 0: 5, 1: 5, 2: 5, 3: 5, 4: 5, 5: 5, 6: 5, 7: 5 },
    moving: [0, 1, 2, 3, 4, 5, 6, 7],
    expected: { plain: 4, persistent: 4 },
  },
  { what: 'no lag again: back to 0 after the cooldown', lag: {}, expected: { plain: 0, persistent: 0 } },
];

/**
 * Conformance with KEDA itself: the same consumer groups and lag steps under a KEDA ScaledObject
 * (Kafka trigger, acted on by the control plane's HPA controller through KEDA's metrics adapter)
 * and under a ScaledConsumer with the `threshold` policy. After each step, both Deployments settle
 * on the same replica count, the one KEDA's arithmetic gives.
 */
describe('KEDA conformance: a ScaledObject with a Kafka trigger and a ScaledConsumer with the threshold policy', () => {
  let controlPlane: ControlPlane;
  let kubeConfig: KubeConfig;
  let keda: RunningKeda;
  let controller: ScaledConsumerController;
  let apps: AppsV1Api;
  const topic = `conformance-${Date.now().toString(36)}`;
  const group = (pair: string) => `${topic}-${pair}`;
  /** Each partition's end offset: END after the first produce, more where a step moved it. */
  const ends: number[] = Array.from({ length: PARTITIONS }, () => END);
  const kafkaAdmin = admin(brokers);
  const records = producer(brokers);

  beforeAll(async () => {
    ({ controlPlane, kubeConfig } = await startTestCluster(namespace));
    keda = await startKeda({ controlPlane, kubeConfig, onProgress: (line) => process.stderr.write(`[keda] ${line}\n`) });
    apps = kubeConfig.makeApiClient(AppsV1Api);
    await createTopic(brokers, topic, PARTITIONS);
    await produce(brokers, { topic, perPartition: Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, END])) });
    // The first commits retry while the offsets topic loads.
    for (const pair of PAIRS) await commitOffsets(brokers, group(pair.name), topic, Object.fromEntries(ends.map((end, p) => [p, end])));
    controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: 2 });
    await controller.start();
  }, 60 * 60_000);

  afterAll(async () => {
    await controller?.stop();
    await keda?.stop();
    await controlPlane?.stop();
    await records.close();
    await kafkaAdmin.close();
  });

  it(
    'agrees with KEDA after every lag step',
    async () => {
      const custom = kubeConfig.makeApiClient(CustomObjectsApi);
      for (const pair of PAIRS) {
        for (const side of ['keda', 'lagscale'] as const)
          await apps.createNamespacedDeployment({ namespace, body: deployment(`${pair.name}-${side}`) as never });
        const metadata = {
          bootstrapServers: brokers.join(','),
          consumerGroup: group(pair.name),
          topic,
          lagThreshold: String(LAG_THRESHOLD),
          activationLagThreshold: String(ACTIVATION),
          limitToPartitionsWithLag: 'true',
          excludePersistentLag: String(pair.excludePersistentLag),
        };
        await custom.createNamespacedCustomObject({
          group: 'keda.sh',
          version: 'v1alpha1',
          namespace,
          plural: 'scaledobjects',
          body: {
            apiVersion: 'keda.sh/v1alpha1',
            kind: 'ScaledObject',
            metadata: { name: `${pair.name}-keda` },
            spec: {
              scaleTargetRef: { name: `${pair.name}-keda` },
              pollingInterval: 2,
              cooldownPeriod: 6,
              minReplicaCount: 0,
              maxReplicaCount: 10,
              advanced: { horizontalPodAutoscalerConfig: { behavior: BEHAVIOR } },
              triggers: [{ type: 'kafka', metadata }],
            },
          },
        });
        await createScaledConsumer(kubeConfig, namespace, `${pair.name}-lagscale`, {
          kafka: { brokers },
          group: group(pair.name),
          topics: [topic],
          scaleTargetRef: { name: `${pair.name}-lagscale` },
          policy: {
            name: 'threshold',
            topic,
            lagThreshold: LAG_THRESHOLD,
            activationLagThreshold: ACTIVATION,
            limitToPartitionsWithLag: true,
            excludePersistentLag: pair.excludePersistentLag,
          },
          behavior: { minReplicas: 0, maxReplicas: 10, cooldownSeconds: 6, ...BEHAVIOR },
        });
      }

      const replicas = async (name: string) => (await apps.readNamespacedDeployment({ name, namespace })).spec?.replicas ?? -1;
      const outcomes: string[] = [];
      for (const step of STEPS) {
        await commitAll(step.lag);
        const mover = moving(step);
        try {
          let seen: Record<string, number> = {};
          const settled = await waitFor(
            `both sides at the replicas of step "${step.what}"`,
            async () => {
              seen = {};
              for (const pair of PAIRS) for (const side of ['keda', 'lagscale']) seen[`${pair.name}-${side}`] = await replicas(`${pair.name}-${side}`);
              return PAIRS.every((pair) => seen[`${pair.name}-keda`] === step.expected[pair.name] && seen[`${pair.name}-lagscale`] === step.expected[pair.name])
                ? seen
                : null;
            },
            60_000,
            500,
          ).catch(() => null);
          outcomes.push(`${step.what}: expected ${JSON.stringify(step.expected)}, saw ${JSON.stringify(settled ?? seen)}`);
          if (settled === null) throw new Error(`step "${step.what}" did not settle:\n${outcomes.join('\n')}`);
          // Settled: both stay there for two more cycles of each (no late flap). One exception,
          // KEDA's own: with excludePersistentLag it compares offsets per read, and its HPA queries
          // and activity polls both read; two reads within one move of the offsets (a loaded
          // machine slows the mover) count a moving partition as stuck. Such a dip is reported,
          // not failed (docs/kubernetes.md, "KEDA itself, side by side"); lagscale may not dip.
          await new Promise((resolve) => setTimeout(resolve, 5000));
          for (const pair of PAIRS)
            for (const side of ['keda', 'lagscale']) {
              const now = await replicas(`${pair.name}-${side}`);
              if (now !== step.expected[pair.name] && side === 'keda' && pair.excludePersistentLag && step.moving !== undefined) {
                outcomes.push(`  KEDA's persistent-lag dip after settling: ${pair.name}-keda at ${now}`);
                continue;
              }
              expect(now, `${pair.name}-${side} after "${step.what}"`).toBe(step.expected[pair.name]);
            }
        } finally {
          await mover.stop();
        }
      }
      process.stderr.write(`[keda-conformance]\n${outcomes.join('\n')}\n`);
    },
    20 * 60_000,
  );

  /** Commits both groups so that each partition's lag is `lag[p]` (0 where not given) below its end. */
  async function commitAll(lag: Readonly<Record<number, number>>): Promise<void> {
    const partitionOffsets = ends.map((end, partition) => ({ partition, offset: BigInt(end - (lag[partition] ?? 0)) }));
    for (const pair of PAIRS) await kafkaAdmin.alterConsumerGroupOffsets({ groupId: group(pair.name), topics: [{ name: topic, partitionOffsets }] });
  }

  /**
   * For a step with moving partitions: every 150 ms, one record more on each and the committed
   * offsets one further, so their lag stays the same while their offsets move. (Faster than any
   * two reads of either side: KEDA reads on each HPA query and each activity poll.)
   */
  function moving(step: Step): { stop(): Promise<void> } {
    const partitions = step.moving ?? [];
    let stopped = false;
    const loop = (async () => {
      while (!stopped && partitions.length > 0) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        if (stopped) break;
        await records.send({ messages: partitions.map((partition) => ({ topic, partition, key: 'k', value: 'moving' })) });
        for (const p of partitions) ends[p] = (ends[p] as number) + 1;
        await commitAll(step.lag);
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        await loop;
      },
    };
  }
});

/** HPA behavior on both sides: no stabilization window, any step at once (the steps are the test, not the damping). */
const BEHAVIOR = {
  scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 10, periodSeconds: 1 }] },
  scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 100, periodSeconds: 1 }] },
};

function deployment(name: string): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'lagscale:test' }] } },
    },
  };
}
