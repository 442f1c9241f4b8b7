import https from 'node:https';
import { AppsV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ScalingDecision } from '@lagscale/core';
import { createLogger } from '@lagscale/exporter';
import { type ControlPlane, ScaledConsumerController } from '@lagscale/kubernetes';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { createScaledConsumer, startTestCluster, workerDeployment } from './helpers.js';

const brokers = inject('kafkaBrokers');
const logger = createLogger('controller-at-scale-test', 'warn');
const warnings: Record<string, unknown>[] = [];
const warn = logger.warn.bind(logger);
logger.warn = ((first: unknown, ...rest: unknown[]) => {
  if (typeof first === 'object' && first !== null) warnings.push(first as Record<string, unknown>);
  return (warn as (...args: unknown[]) => void)(first, ...rest);
}) as typeof logger.warn;

/**
 * Requests this process sends to the API server, by method and path (the Kubernetes client sends
 * each through `https.request`); watches count once, when opened.
 */
const sent: { method: string; path: string }[] = [];
const originalRequest = https.request;
https.request = ((...args: unknown[]) => {
  let path = '';
  let method = 'GET';
  for (const arg of args) {
    if (typeof arg === 'string') path = new URL(arg).pathname;
    else if (arg instanceof URL) path = arg.pathname;
    else if (typeof arg === 'object' && arg !== null) {
      const options = arg as { path?: string; method?: string; pathname?: string };
      path = options.path ?? options.pathname ?? path;
      method = options.method ?? method;
    }
  }
  sent.push({ method: method.toUpperCase(), path: path.split('?')[0] ?? path });
  return (originalRequest as (...a: unknown[]) => ReturnType<typeof https.request>)(...args);
}) as typeof https.request;

const COUNT = 24;
const INTERVAL = 2;

/**
 * The controller at scale on a real control plane: with many ScaledConsumers on Deployments, a
 * steady cycle reads every workload from the Deployment informer's cache and writes no status it
 * already wrote: no GET of /scale, no status PATCH. A lag step still reaches spec.replicas within
 * a cycle or two, and the cycles after the write read the new count (the cache may be behind).
 */
describe('the ScaledConsumer controller at scale', () => {
  let controlPlane: ControlPlane;
  let kubeConfig: KubeConfig;
  const namespace = 'at-scale';

  beforeAll(async () => {
    ({ controlPlane, kubeConfig } = await startTestCluster(namespace));
  }, 30 * 60_000);

  afterAll(async () => {
    https.request = originalRequest;
    await controlPlane?.stop();
  });

  it(`${COUNT} ScaledConsumers: no /scale read and no status write in a steady cycle; a lag step scales within two cycles`, {
    timeout: 300_000,
  }, async () => {
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const run = Date.now().toString(36);
    const topic = `at-scale-${run}`;
    const partitions = Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 500]));
    await createTopic(brokers, topic, 8);
    await produce(brokers, { topic, perPartition: Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 1000])) });
    // The step's workload has its own topic; the others share one and stay where they are.
    const stepTopic = `${topic}-step`;
    await createTopic(brokers, stepTopic, 8);
    await produce(brokers, { topic: stepTopic, perPartition: partitions });
    for (let i = 0; i < COUNT; i++) {
      const name = `consumer-${i}`;
      const group = `${topic}-g${i}`;
      const own = i === 0 ? stepTopic : topic;
      await commitOffsets(brokers, group, own, Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, i === 0 ? 0 : 500])));
      await apps.createNamespacedDeployment({ namespace, body: workerDeployment(name, [], 4) as never });
      // 4,000 behind at 1,000 per replica: 4, what each Deployment has.
      await createScaledConsumer(kubeConfig, namespace, name, {
        kafka: { brokers },
        group,
        topics: [own],
        scaleTargetRef: { name },
        policy: { name: 'threshold', lagThreshold: 1000 },
        behavior: { maxReplicas: 10 },
      });
    }

    const controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: INTERVAL, namespace });
    await controller.start();
    try {
      // Warm-up: every resource served and its first status written.
      await waitFor('every ScaledConsumer served', async () => controller.runtimes().size === COUNT, 60_000, 100);
      await waitFor('a status for each', async () => controller.counters.statusWrites >= COUNT, 60_000, 200);
      // kube-controller-manager makes each Deployment's 4 pods (they stay Pending: no kubelet); its
      // status.replicas is in the ScaledConsumer's status, so that moves until then.
      await waitFor(
        "every Deployment's pods made",
        async () => (await apps.listNamespacedDeployment({ namespace })).items.every((d) => d.status?.replicas === 4),
        120_000,
        500,
      );
      await new Promise((resolve) => setTimeout(resolve, 2 * INTERVAL * 1000));

      const before = { ...controller.counters, requests: sent.length, decisions: decisionCount(controller) };
      await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL * 1000));
      const steady = sent.slice(before.requests);
      const decided = decisionCount(controller) - before.decisions;
      const scaleGets = steady.filter((r) => r.method === 'GET' && r.path.endsWith('/scale')).length;
      const statusPatches = steady.filter((r) => r.method === 'PATCH' && r.path.endsWith('/status')).length;
      process.stderr.write(
        `[at-scale] ${COUNT} ScaledConsumers, ${decided} decisions in 3 cycles: ${steady.length} API requests (${scaleGets} GET /scale, ${statusPatches} status PATCH), cache reads ${controller.counters.cacheReads - before.cacheReads}\n`,
      );
      // Every ScaledConsumer decided at least twice in the 3 cycles, all of it from memory.
      expect(decided).toBeGreaterThanOrEqual(2 * COUNT);
      expect(controller.counters.cacheReads - before.cacheReads).toBeGreaterThanOrEqual(decided);
      expect(scaleGets).toBe(0);
      expect(controller.counters.scaleReads - before.scaleReads).toBe(0);
      expect(statusPatches).toBe(0);
      expect(controller.counters.statusWrites - before.statusWrites).toBe(0);
      expect(controller.counters.podLists - before.podLists).toBe(0);
      // Nothing but (re)opened watches, if any.
      expect(steady.filter((r) => r.method !== 'GET' || r.path.endsWith('/pods'))).toEqual([]);

      // The step: 4,000 more behind for consumer-0, 8 replicas.
      await produce(brokers, { topic: stepTopic, perPartition: partitions });
      const stepAt = Date.now();
      await waitFor(
        'consumer-0 scaled to 8',
        async () => ((await apps.readNamespacedDeployment({ name: 'consumer-0', namespace })).spec?.replicas ?? 0) === 8,
        30_000,
        50,
      );
      const seconds = (Date.now() - stepAt) / 1000;
      process.stderr.write(`[at-scale] lag step to spec.replicas 8 in ${seconds.toFixed(2)} s (interval ${INTERVAL} s)\n`);
      // The collection that sees the step comes within a cycle; one more for a busy machine.
      expect(seconds).toBeLessThan(2 * INTERVAL + 1);
      // One write, or two when a collection saw the produce half done (a step on the way up). The
      // controller counts a write when its answer is back, which on a busy machine can come after
      // the poll above saw the Deployment change.
      await waitFor('the controller to count its scale write', async () => controller.counters.scaleWrites >= 1, 10_000, 50);
      const writesAtEight = controller.counters.scaleWrites;
      expect(writesAtEight).toBeGreaterThanOrEqual(1);
      expect(writesAtEight).toBeLessThanOrEqual(2);

      // The cycles after the write take 8 as current, with no "changed elsewhere" warning.
      // (The controller keeps only each autoscaler's last decision: the test collects them.)
      const runtime = controller.runtimes().get(`${namespace}/consumer-0`);
      const latest: ScalingDecision[] = [];
      runtime?.autoscaler.on('decision', (decision) => latest.push(decision));
      await waitFor('two more decisions of consumer-0', async () => latest.length >= 2, 30_000, 100);
      latest.splice(2);
      expect(latest.map((d) => d.currentReplicas)).toEqual([8, 8]);
      expect(latest.map((d) => d.action)).toEqual(['none', 'none']);
      expect(warnings.filter((w) => w.event === 'replicas_changed_elsewhere')).toEqual([]);
      expect(controller.counters.scaleWrites).toBe(writesAtEight);
      // The limiter saw the scale write in its lane.
      expect(controller.requestLimiter.counters.scale.requests).toBeGreaterThanOrEqual(1);
    } finally {
      await controller.stop();
    }
  });
});

function decisionCount(controller: ScaledConsumerController): number {
  let count = 0;
  for (const runtime of controller.runtimes().values()) for (const n of runtime.autoscaler.counters.decisionsByAction.values()) count += n;
  return count;
}
