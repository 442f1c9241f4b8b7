/**
 * bench/kubernetes-controller: what the ScaledConsumer controller costs per lag cycle with 1, 50
 * and 200 ScaledConsumers on one Kafka cluster (CPU ms and API requests per cycle, memory), and
 * how long a lag step takes to reach the Deployment's spec.replicas, beside the same autoscaler
 * with the local target. Real broker, real control plane (no kubelet: pods stay Pending, which
 * changes nothing the controller reads but ready counts). Each count is measured once every
 * Deployment's pods exist (kube-controller-manager makes them at its own pace; status.replicas is
 * part of a ScaledConsumer's status, so it moves until then) and the controller's request queue is
 * empty (the first statuses go out at the rate limit), a steady state: no scale writes.
 * kube-controller-manager runs with a higher client rate (200 QPS) so that thousands of pods are
 * made in a minute or two, not ten. The previous results file (or BASELINE_FILE), when there is
 * one, is kept in the new one as `previousRun`, and each count's CPU per ScaledConsumer is printed
 * against it.
 *
 *   npx tsx bench/kubernetes-controller/run.ts
 *   (env: COUNTS=1,50,200 CYCLES=5 INTERVAL_SECONDS=2 TRIALS=3 CREATE_CONCURRENCY=8 SETTLE_SECONDS=300 BASELINE_FILE=<json> LOG_LEVEL=error)
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Autoscaler, LocalProcessPool, resolvePolicy } from '@lagscale/autoscaler';
import { parseBehaviorConfig } from '@lagscale/core';
import { createLogger } from '@lagscale/exporter';
import { KafkaCluster, LagMonitor } from '@lagscale/kafka';
import { applyManifests, type Manifest, ScaledConsumerController, scaledConsumerCrd, startControlPlane } from '@lagscale/kubernetes';
import { createScaledConsumer, workerDeployment } from '../../packages/kubernetes/test/helpers.js';
import { commitOffsets, createTopic, produce } from '../../test-support/kafka.js';

const COUNTS = (process.env.COUNTS ?? '1,50,200').split(',').map(Number);
const CYCLES = Number(process.env.CYCLES ?? 5);
const INTERVAL = Number(process.env.INTERVAL_SECONDS ?? 2);
const TRIALS = Number(process.env.TRIALS ?? 3);
const CREATE_CONCURRENCY = Number(process.env.CREATE_CONCURRENCY ?? 8);
const SETTLE_SECONDS = Number(process.env.SETTLE_SECONDS ?? 300);
const resultsFile = new URL('../results/kubernetes-controller.json', import.meta.url);
const previousRun = await readFile(process.env.BASELINE_FILE ?? resultsFile, 'utf8').then(
  (text) => {
    const { date, costs } = JSON.parse(text) as {
      date: string;
      costs: { scaledConsumers: number; cpuMsPerCyclePerScaledConsumer: number; apiRequestsPerCycle: number }[];
    };
    return { date, costs };
  },
  () => null,
);
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
// LOG_LEVEL=debug shows why each status is written and each informer failure (stderr).
const logger = createLogger('bench-kubernetes', process.env.LOG_LEVEL ?? 'error');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Requests this process sends to the API server: the Kubernetes client sends each through
 * `https.request`, counted here (watches count once, when opened).
 */
let apiRequestCount = 0;
const originalRequest = https.request;
https.request = ((...args: Parameters<typeof https.request>) => {
  apiRequestCount++;
  return originalRequest(...args);
}) as typeof https.request;

const cluster = await KafkaCluster.start({ nodes: 1, onProgress: log });
const controlPlane = await startControlPlane({ onProgress: log, controllerManagerArgs: ['--kube-api-qps=200', '--kube-api-burst=400'] });
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
const brokers = cluster.brokers;
const apps = kubeConfig.makeApiClient(AppsV1Api);
const core = kubeConfig.makeApiClient(CoreV1Api);
const costs: {
  scaledConsumers: number;
  cpuMsPerCycle: number;
  cpuMsPerCyclePerScaledConsumer: number;
  apiRequestsPerCycle: number;
  rssMb: number;
  heapMb: number;
  /** The controller's own counts per cycle: GETs of /scale, reads from the informer cache, status and scale writes, requests by lane. */
  perCycle: { scaleReads: number; cacheReads: number; podLists: number; statusWrites: number; scaleWrites: number; scaleLane: number; statusLane: number };
  /** Seconds from the controller's start until every ScaledConsumer was served. */
  servedInSeconds: number;
}[] = [];
const reaction: { target: 'kubernetes' | 'local'; trial: number; seconds: number }[] = [];
try {
  await applyManifests(kubeConfig, [scaledConsumerCrd() as unknown as Manifest]);
  await sleep(2000);
  const topic = 'bench-controller';
  await createTopic(brokers, topic, 8);
  await produce(brokers, { topic, perPartition: Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 1000])) });

  // ---- cost per cycle ----
  let made = 0;
  for (const count of COUNTS) {
    const namespace = `bench-${count}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    log(`${count} ScaledConsumers: creating their groups, Deployments and resources`);
    const first = made;
    made += count;
    let next = 0;
    const createOne = async (i: number): Promise<void> => {
      const group = `bench-group-${first + i}`;
      await commitOffsets(brokers, group, topic, Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 500])));
      const name = `consumer-${i}`;
      await apps.createNamespacedDeployment({ namespace, body: workerDeployment(name, [], 4) as never });
      // 4,000 behind at 1,000 per replica: 4, what the Deployment has; no scale writes, the steady state.
      await createScaledConsumer(kubeConfig, namespace, name, {
        kafka: { brokers },
        group,
        scaleTargetRef: { name },
        policy: { name: 'threshold', lagThreshold: 1000 },
        behavior: { maxReplicas: 8 },
      });
    };
    await Promise.all(
      Array.from({ length: Math.min(CREATE_CONCURRENCY, count) }, async () => {
        for (let i = next++; i < count; i = next++) await createOne(i);
      }),
    );
    const startedAt = Date.now();
    const controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: INTERVAL, namespace });
    await controller.start();
    // Warm-up: every resource served, every Deployment's pods made, a few cycles decided.
    while (controller.runtimes().size < count) await sleep(100);
    const servedInSeconds = (Date.now() - startedAt) / 1000;
    const settleBy = Date.now() + SETTLE_SECONDS * 1000;
    for (;;) {
      const deployments = (await apps.listNamespacedDeployment({ namespace })).items;
      const pending = deployments.filter((d) => d.status?.replicas !== d.spec?.replicas).length;
      if (pending === 0) break;
      if (Date.now() > settleBy) {
        log(`  ${pending} Deployments still without all their pods after ${SETTLE_SECONDS} s: measuring anyway`);
        break;
      }
      await sleep(1000);
    }
    // Then the first statuses (one write each, 50 a second under the default limit) are out.
    const queued = () => controller.requestLimiter.counters.scale.queued + controller.requestLimiter.counters.status.queued;
    while (queued() > 0 && Date.now() < settleBy + 120_000) await sleep(500);
    await sleep(3 * INTERVAL * 1000);
    global.gc?.();
    const requestsBefore = apiRequestCount;
    const countersBefore = { ...controller.counters };
    const lanesBefore = { scale: controller.requestLimiter.counters.scale.requests, status: controller.requestLimiter.counters.status.requests };
    const cpuBefore = process.cpuUsage();
    await sleep(CYCLES * INTERVAL * 1000);
    const cpu = process.cpuUsage(cpuBefore);
    const requestsAfter = apiRequestCount;
    const memory = process.memoryUsage();
    const counted = (key: 'scaleReads' | 'cacheReads' | 'podLists' | 'statusWrites' | 'scaleWrites') =>
      (controller.counters[key] - countersBefore[key]) / CYCLES;
    const perCycle = {
      scaleReads: counted('scaleReads'),
      cacheReads: counted('cacheReads'),
      podLists: counted('podLists'),
      statusWrites: counted('statusWrites'),
      scaleWrites: counted('scaleWrites'),
      scaleLane: (controller.requestLimiter.counters.scale.requests - lanesBefore.scale) / CYCLES,
      statusLane: (controller.requestLimiter.counters.status.requests - lanesBefore.status) / CYCLES,
    };
    await controller.stop();
    const cpuMsPerCycle = (cpu.user + cpu.system) / 1000 / CYCLES;
    const apiRequestsPerCycle = (requestsAfter - requestsBefore) / CYCLES;
    costs.push({
      scaledConsumers: count,
      cpuMsPerCycle,
      cpuMsPerCyclePerScaledConsumer: cpuMsPerCycle / count,
      apiRequestsPerCycle,
      rssMb: memory.rss / 2 ** 20,
      heapMb: memory.heapUsed / 2 ** 20,
      perCycle,
      servedInSeconds,
    });
    log(
      `  ${count}: ${cpuMsPerCycle.toFixed(1)} CPU ms per cycle, ${apiRequestsPerCycle.toFixed(1)} API requests per cycle (${perCycle.scaleReads} GET /scale, ${perCycle.statusWrites} status writes, ${perCycle.cacheReads} cache reads), RSS ${(memory.rss / 2 ** 20).toFixed(0)} MB`,
    );
  }

  // ---- reaction to a lag step: kubernetes target vs local target ----
  const namespace = 'bench-reaction';
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  for (let trial = 1; trial <= TRIALS; trial++) {
    for (const kind of ['kubernetes', 'local'] as const) {
      const stepTopic = `bench-step-${kind}-${trial}`;
      const group = `${stepTopic}-group`;
      await createTopic(brokers, stepTopic, 8);
      await commitOffsets(brokers, group, stepTopic, Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 0])));
      let reached: () => Promise<boolean>;
      let stop: () => Promise<void>;
      if (kind === 'kubernetes') {
        const name = `step-${trial}`;
        await apps.createNamespacedDeployment({ namespace, body: workerDeployment(name, [], 1) as never });
        await createScaledConsumer(kubeConfig, namespace, name, {
          kafka: { brokers },
          group,
          topics: [stepTopic],
          scaleTargetRef: { name },
          policy: { name: 'threshold', lagThreshold: 1000 },
          behavior: { maxReplicas: 8 },
        });
        const controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: INTERVAL, namespace });
        await controller.start();
        reached = async () => ((await apps.readNamespacedDeployment({ name, namespace })).spec?.replicas ?? 0) >= 4;
        stop = () => controller.stop();
      } else {
        const monitor = new LagMonitor({ connection: { brokers }, groups: [group], intervalSeconds: INTERVAL });
        const pool = new LocalProcessPool({
          command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'],
          logger,
          output: 'ignore',
          drainTimeoutSeconds: 1,
        });
        const autoscaler = new Autoscaler({
          monitor,
          group,
          policy: resolvePolicy({ name: 'threshold', lagThreshold: 1000 }),
          behavior: parseBehaviorConfig({ maxReplicas: 8 }),
          target: pool,
          logger,
        });
        await pool.setReplicas(1);
        autoscaler.start();
        monitor.start();
        reached = async () => pool.desiredReplicas >= 4;
        stop = async () => {
          await autoscaler.stop();
          await monitor.stop();
          await pool.close();
        };
      }
      // Steady first, then at a phase of the poll that differs per trial, 4,000 records at once.
      await sleep(3 * INTERVAL * 1000 + ((trial - 1) * INTERVAL * 1000) / TRIALS);
      await produce(brokers, { topic: stepTopic, perPartition: Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 500])) });
      const stepAt = Date.now();
      while (!(await reached())) await sleep(50);
      const seconds = (Date.now() - stepAt) / 1000;
      reaction.push({ target: kind, trial, seconds });
      log(`  reaction trial ${trial} ${kind}: ${seconds.toFixed(2)} s from the step to 4 replicas`);
      await stop();
    }
  }
} finally {
  await controlPlane.stop();
  await cluster.stop();
}

const one = costs.find((c) => c.scaledConsumers === Math.min(...COUNTS));
const mean = (target: 'kubernetes' | 'local') => {
  const values = reaction.filter((r) => r.target === target).map((r) => r.seconds);
  return values.reduce((a, b) => a + b, 0) / values.length;
};
const kubernetesReaction = mean('kubernetes');
const localReaction = mean('local');
const lines = [
  `controller cost per lag cycle (${INTERVAL} s interval, ${CYCLES} cycles measured), one Kafka cluster:`,
  ...costs.map(
    (c) =>
      `  ${String(c.scaledConsumers).padStart(4)} ScaledConsumers: ${c.cpuMsPerCycle.toFixed(1)} CPU ms/cycle (${c.cpuMsPerCyclePerScaledConsumer.toFixed(2)} per ScaledConsumer, ${(c.cpuMsPerCyclePerScaledConsumer / (one?.cpuMsPerCyclePerScaledConsumer ?? 1)).toFixed(2)}x the per-resource cost at ${one?.scaledConsumers}), ${c.apiRequestsPerCycle.toFixed(1)} API requests/cycle (${(c.apiRequestsPerCycle / c.scaledConsumers).toFixed(2)} each), RSS ${c.rssMb.toFixed(0)} MB, heap ${c.heapMb.toFixed(0)} MB`,
  ),
  ...costs.flatMap((c) => {
    const before = previousRun?.costs.find((p) => p.scaledConsumers === c.scaledConsumers);
    return before === undefined
      ? []
      : [
          `  ${String(c.scaledConsumers).padStart(4)} against the previous run (${previousRun?.date}): CPU per ScaledConsumer ${before.cpuMsPerCyclePerScaledConsumer.toFixed(2)} -> ${c.cpuMsPerCyclePerScaledConsumer.toFixed(3)} ms (${(c.cpuMsPerCyclePerScaledConsumer / before.cpuMsPerCyclePerScaledConsumer).toFixed(3)}x), API requests/cycle ${before.apiRequestsPerCycle.toFixed(1)} -> ${c.apiRequestsPerCycle.toFixed(1)}`,
        ];
  }),
  `lag step to spec.replicas (mean of ${TRIALS}): kubernetes target ${kubernetesReaction.toFixed(2)} s, local target ${localReaction.toFixed(2)} s: ${(kubernetesReaction / localReaction).toFixed(2)}x`,
];
process.stdout.write(`${lines.join('\n')}\n`);
await mkdir(new URL('../results/', import.meta.url), { recursive: true });
await writeFile(
  resultsFile,
  `${JSON.stringify(
    {
      benchmark: 'kubernetes-controller',
      date: new Date().toISOString(),
      intervalSeconds: INTERVAL,
      cyclesMeasured: CYCLES,
      costs,
      previousRun,
      reaction: { trials: reaction, kubernetesMeanSeconds: kubernetesReaction, localMeanSeconds: localReaction, ratio: kubernetesReaction / localReaction },
    },
    null,
    2,
  )}\n`,
);
