/**
 * bench/kubernetes-scale: lagscale's controller and a real KEDA side by side at N workloads (a
 * consumer group and a Deployment each), on one control plane and one broker, both at a 15 s
 * cycle (the controller's --interval-seconds; KEDA's pollingInterval and the HPA controller's sync
 * period). Per run: CPU per cycle and per workload, RSS, API requests and Kafka requests per cycle,
 * and the time from a lag step on one group to that Deployment's spec.replicas (20 steps while all
 * N are live), in cycles.
 *
 *   npx tsx bench/kubernetes-scale/run.ts
 *   env: COUNTS=100,500,2000,5000  SYSTEMS=lagscale,lagscale-sharded,keda  SHARDS=3  CYCLE_SECONDS=15
 *        CYCLES=4 (measured)  STEPS=20  KEDA_WARMUP_MINUTES=10 (KEDA "survives" N when every
 *        ScaledObject's HPA reads its metric within this time; KEDA is not run at a larger N after one
 *        it did not survive)  RESULTS_FILE=kubernetes-scale.json  CONTROLLER_NODE_ARGS (default: the bin's flags)
 *
 * What is measured where:
 * - CPU and RSS from /proc of the processes: lagscale's controller process(es); KEDA's operator
 *   and metrics adapter. The HPA controller runs inside kube-controller-manager with every other
 *   controller: its CPU is given apart (`controllerManagerCpuMsPerCycle`), not added to KEDA's.
 * - API requests: lagscale's `lagscale_controller_api_requests_total`, KEDA's client-go
 *   `rest_client_requests_total` (operator + adapter); watches count once.
 * - Kafka requests: a proxy in front of the broker reads each request's client id (the broker
 *   advertises the proxy's port, so every connection goes through it).
 * Deployments are created paused: the deployment controller then makes no ReplicaSets or pods,
 * while their scale subresource (what both systems read and write) works as always.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, AutoscalingV2Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { KafkaCluster } from '@lagscale/kafka';
import { applyManifests, freePorts, type Manifest, scaledConsumerCrd, startControlPlane, startKeda } from '@lagscale/kubernetes';
import { onJsonLines } from '../../packages/kubernetes/test/helpers.js';
import { admin, createTopic, produce } from '../../test-support/kafka.js';
import { cpuSecondsOf } from '../../test-support/process-cpu.js';
import { KafkaRequestCounter } from '../support/kafka-request-counter.js';
import { shippedFlags } from '../support/shipped-flags.js';

const COUNTS = (process.env.COUNTS ?? '100,500,2000,5000').split(',').map(Number);
const SYSTEMS = (process.env.SYSTEMS ?? 'lagscale,lagscale-sharded,keda').split(',') as System[];
const SHARDS = Number(process.env.SHARDS ?? 3);
const CYCLE = Number(process.env.CYCLE_SECONDS ?? 15);
const CYCLES = Number(process.env.CYCLES ?? 4);
const STEPS = Number(process.env.STEPS ?? 20);
const KEDA_WARMUP_MS = Number(process.env.KEDA_WARMUP_MINUTES ?? 10) * 60_000;
const RESULTS_FILE = process.env.RESULTS_FILE ?? 'kubernetes-scale.json';
/** The controller's Node flags: the bin's own by default (see packages/cli/bin). */
const CONTROLLER_NODE_ARGS = (process.env.CONTROLLER_NODE_ARGS ?? shippedFlags()).split(' ').filter(Boolean);
const PARTITIONS = 4;
const TOPIC = 'scale-bench';
/** Baseline lag 100 per partition (400 < lagThreshold 1000: 1 replica); a step commits 0 (4,000: 4 replicas, the partition count). */
const BASELINE = 900;
const STEPPED_REPLICAS = 4;
const main = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

type System = 'lagscale' | 'lagscale-sharded' | 'keda';

interface Row {
  system: 'lagscale' | 'keda';
  workloads: number;
  shards: number | null;
  survived: boolean;
  note?: string;
  cpuMsPerCycle: number;
  cpuMsPerWorkloadCycle: number;
  controllerManagerCpuMsPerCycle: number;
  rssMb: number;
  apiRequestsPerCycle: number;
  kafkaRequestsPerCycle: number;
  kafkaRequestsByName: Record<string, number>;
  p50ReactionCycles: number | null;
  p99ReactionCycles: number | null;
  reactionsSeconds: number[];
  warmupSeconds: number;
}

const log = (line: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` over `items`, `width` at a time, logging progress every 10%. */
async function inPool<T>(what: string, items: readonly T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let done = 0;
  const step = Math.max(1, Math.floor(items.length / 10));
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await work(item);
        if (++done % step === 0) log(`  ${what}: ${done}/${items.length}`);
      }
    }),
  );
}

function rssMbOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

async function metricSum(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name) && (line[name.length] === '{' || line[name.length] === ' ')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

// ---- the broker behind the counting proxy, the control plane at a 15 s HPA sync, KEDA ----
const [proxyPort, brokerPort] = (await freePorts(2)) as [number, number];
const { counter } = await KafkaRequestCounter.start({ host: '127.0.0.1', port: brokerPort }, proxyPort);
const cluster = await KafkaCluster.start({
  nodes: 1,
  port: brokerPort,
  heapMb: 1024,
  properties: { 'advertised.listeners': `PLAINTEXT://127.0.0.1:${proxyPort}` },
  onProgress: log,
});
const brokers = [`127.0.0.1:${proxyPort}`];
const controlPlane = await startControlPlane({
  onProgress: log,
  controllerManagerArgs: [`--horizontal-pod-autoscaler-sync-period=${CYCLE}s`, '--kube-api-qps=100', '--kube-api-burst=200'],
});
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
const apps = kubeConfig.makeApiClient(AppsV1Api);
const core = kubeConfig.makeApiClient(CoreV1Api);
const custom = kubeConfig.makeApiClient(CustomObjectsApi);
const hpas = kubeConfig.makeApiClient(AutoscalingV2Api);
const controllerManagerPid = controlPlane.processes.find((p) => p.name === 'kube-controller-manager')?.pid as number;
const keda = SYSTEMS.includes('keda') ? await startKeda({ controlPlane, kubeConfig, onProgress: log }) : null;
const kafkaAdmin = admin(brokers);
const rows: Row[] = [];
let run = 0;

try {
  await applyManifests(kubeConfig, [scaledConsumerCrd() as unknown as Manifest]);
  await createTopic(brokers, TOPIC, PARTITIONS);
  await produce(brokers, { topic: TOPIC, perPartition: Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, 1000])) });
  for (const workloads of COUNTS) {
    for (const system of SYSTEMS) {
      const failed = rows.find((r) => r.system === 'keda' && !r.survived);
      if (system === 'keda' && failed !== undefined) {
        log(`keda at ${workloads}: not run (it did not survive ${failed.workloads})`);
        continue;
      }
      const row = await measure(system, workloads);
      rows.push(row);
      log(
        `${row.system}${row.shards === null ? '' : ` (${row.shards} shard${row.shards > 1 ? 's' : ''})`} at ${workloads}: ${row.survived ? '' : `did not survive (${row.note}); `}${row.cpuMsPerWorkloadCycle.toFixed(3)} CPU ms per workload per cycle, RSS ${row.rssMb.toFixed(0)} MB, ${row.apiRequestsPerCycle.toFixed(1)} API and ${row.kafkaRequestsPerCycle.toFixed(1)} Kafka requests per cycle, reaction p50 ${row.p50ReactionCycles?.toFixed(2)} p99 ${row.p99ReactionCycles?.toFixed(2)} cycles`,
      );
      await writeResults();
    }
  }
} finally {
  await kafkaAdmin.close();
  await keda?.stop();
  await controlPlane.stop();
  await cluster.stop();
  await counter.close();
}
await writeResults();

async function commit(group: string, offset: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await kafkaAdmin.alterConsumerGroupOffsets({
        groupId: group,
        topics: [{ name: TOPIC, partitionOffsets: Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, offset: BigInt(offset) })) }],
      });
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(250);
    }
  }
}

/** One run: N workloads of a fresh namespace under one system, warmed up, measured, stepped, torn down. */
async function measure(system: System, workloads: number): Promise<Row> {
  const namespace = `scale-${++run}-${system}-${workloads}`;
  const names = Array.from({ length: workloads }, (_, i) => `w-${i}`);
  const group = (name: string) => `${namespace}-${name}`;
  log(`${system} at ${workloads}: creating ${workloads} groups and paused Deployments in ${namespace}`);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await inPool('groups', names, 8, (name) => commit(group(name), BASELINE));
  await inPool('Deployments', names, 16, (name) => apps.createNamespacedDeployment({ namespace, body: deployment(name) as never }));
  const started = Date.now();
  const running =
    system === 'keda' ? await startKedaRun(namespace, names, group) : await startLagscaleRun(namespace, names, group, system === 'lagscale' ? 1 : SHARDS);
  let row: Row;
  try {
    const warmed = await running.warmUp();
    const warmupSeconds = (Date.now() - started) / 1000;
    if (!warmed.ok) {
      row = { ...emptyRow(system, workloads), survived: false, note: warmed.note, warmupSeconds };
      return row;
    }
    await sleep(2 * CYCLE * 1000);
    // ---- steady cost over CYCLES cycles ----
    counter.take(running.kafkaClientPrefix);
    const cpuBefore = running.cpuSeconds();
    const kcmBefore = cpuSecondsOf(controllerManagerPid);
    const apiBefore = await running.apiRequests();
    await sleep(CYCLES * CYCLE * 1000);
    const cpuMs = (running.cpuSeconds() - cpuBefore) * 1000;
    const kcmMs = (cpuSecondsOf(controllerManagerPid) - kcmBefore) * 1000;
    const api = (await running.apiRequests()) - apiBefore;
    const kafka = counter.take(running.kafkaClientPrefix);
    const rssMb = running.rssMb();
    // ---- lag steps on STEPS groups, 2 s apart, while all N are live ----
    const reactions = await steps(namespace, names, group);
    const kafkaTotal = Object.values(kafka).reduce((a, b) => a + b, 0);
    row = {
      system: system === 'keda' ? 'keda' : 'lagscale',
      workloads,
      shards: system === 'keda' ? null : system === 'lagscale' ? 1 : SHARDS,
      survived: reactions.length === Math.min(STEPS, workloads),
      ...(reactions.length < Math.min(STEPS, workloads) ? { note: `${Math.min(STEPS, workloads) - reactions.length} steps not reached within 10 cycles` } : {}),
      cpuMsPerCycle: cpuMs / CYCLES,
      cpuMsPerWorkloadCycle: cpuMs / CYCLES / workloads,
      controllerManagerCpuMsPerCycle: kcmMs / CYCLES,
      rssMb,
      apiRequestsPerCycle: api / CYCLES,
      kafkaRequestsPerCycle: kafkaTotal / CYCLES,
      kafkaRequestsByName: Object.fromEntries(Object.entries(kafka).map(([name, count]) => [name, count / CYCLES])),
      p50ReactionCycles: percentile(reactions, 50) === null ? null : (percentile(reactions, 50) as number) / CYCLE,
      p99ReactionCycles: percentile(reactions, 99) === null ? null : (percentile(reactions, 99) as number) / CYCLE,
      reactionsSeconds: reactions,
      warmupSeconds,
    };
    return row;
  } finally {
    await running.stop();
    await core.deleteNamespace({ name: namespace }).catch(() => {});
  }
}

/** Steps STEPS groups from lag 400 to 4,000, 2 s apart; the seconds until each Deployment asks for 4 replicas. */
async function steps(namespace: string, names: readonly string[], group: (name: string) => string): Promise<number[]> {
  const count = Math.min(STEPS, names.length);
  const chosen = Array.from({ length: count }, (_, i) => names[Math.floor((i * names.length) / count)] as string);
  const reached: number[] = [];
  const pending = new Map<string, number>();
  const deadline = () => Date.now() + 10 * CYCLE * 1000;
  let until = deadline();
  const stepping = (async () => {
    for (const name of chosen) {
      await commit(group(name), 0);
      pending.set(name, Date.now());
      until = deadline();
      await sleep(2000);
    }
  })();
  while ((pending.size > 0 || reached.length + pending.size < count) && Date.now() < until) {
    for (const [name, at] of [...pending]) {
      const replicas = (await apps.readNamespacedDeployment({ name, namespace })).spec?.replicas ?? 0;
      if (replicas >= STEPPED_REPLICAS) {
        reached.push((Date.now() - at) / 1000);
        pending.delete(name);
      }
    }
    await sleep(500);
  }
  await stepping;
  return reached;
}

interface RunningSystem {
  readonly kafkaClientPrefix: string;
  warmUp(): Promise<{ ok: boolean; note?: string }>;
  cpuSeconds(): number;
  rssMb(): number;
  apiRequests(): Promise<number>;
  stop(): Promise<void>;
}

async function startLagscaleRun(namespace: string, names: readonly string[], group: (name: string) => string, shards: number): Promise<RunningSystem> {
  await inPool('ScaledConsumers', names, 16, (name) =>
    custom.createNamespacedCustomObject({
      group: 'lagscale.dev',
      version: 'v1alpha1',
      namespace,
      plural: 'scaledconsumers',
      body: {
        apiVersion: 'lagscale.dev/v1alpha1',
        kind: 'ScaledConsumer',
        metadata: { name },
        spec: {
          kafka: { brokers, clientId: 'lagscale-controller' },
          group: group(name),
          topics: [TOPIC],
          scaleTargetRef: { name },
          policy: { name: 'threshold', lagThreshold: 1000 },
          behavior: { minReplicas: 1, maxReplicas: 8 },
        },
      },
    }),
  );
  const ports = (await freePorts(shards)) as number[];
  const children: ChildProcess[] = ports.map((port, i) =>
    spawn(
      process.execPath,
      [
        ...CONTROLLER_NODE_ARGS,
        main,
        'controller',
        '--kubeconfig',
        controlPlane.kubeconfigPath,
        '--namespace',
        namespace,
        '--interval-seconds',
        String(CYCLE),
        '--port',
        String(port),
        ...(shards === 1 ? ['--no-leader-elect'] : ['--shards', String(shards), '--lease-namespace', namespace, '--identity', `controller-${i}`]),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    ),
  );
  for (const child of children) passErrors(child);
  const metricsUrls = ports.map((port) => `http://127.0.0.1:${port}/metrics`);
  const served = async () => {
    let sum = 0;
    for (const url of metricsUrls) sum += await metricSum(url, 'lagscale_controller_scaled_consumers').catch(() => 0);
    return sum;
  };
  return {
    kafkaClientPrefix: 'lagscale',
    warmUp: async () => {
      const deadline = Date.now() + 10 * 60_000;
      // Warm: every ScaledConsumer served and its first status written (the first statuses go
      // through the controller's request limit, 50 per second: 5,000 take 100 s), nothing queued.
      const sum = async (name: string) => {
        let total = 0;
        for (const url of metricsUrls) total += await metricSum(url, name).catch(() => 0);
        return total;
      };
      for (;;) {
        const [count, statuses, queued] = [
          await served(),
          await sum('lagscale_controller_status_writes_total'),
          await sum('lagscale_controller_api_queued_requests'),
        ];
        if (count >= names.length && statuses >= names.length && queued === 0) return { ok: true };
        if (Date.now() > deadline) return { ok: false, note: `served ${count} of ${names.length}, ${statuses} statuses written after 10 minutes` };
        await sleep(1000);
      }
    },
    cpuSeconds: () => children.reduce((sum, child) => sum + cpuSecondsOf(child.pid as number), 0),
    rssMb: () => children.reduce((sum, child) => sum + rssMbOf(child.pid as number), 0),
    apiRequests: async () => {
      let sum = 0;
      for (const url of metricsUrls) sum += await metricSum(url, 'lagscale_controller_api_requests_total');
      return sum;
    },
    stop: async () => {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

async function startKedaRun(namespace: string, names: readonly string[], group: (name: string) => string): Promise<RunningSystem> {
  if (keda === null) throw new Error('KEDA is not running');
  await inPool('ScaledObjects', names, 16, (name) =>
    custom.createNamespacedCustomObject({
      group: 'keda.sh',
      version: 'v1alpha1',
      namespace,
      plural: 'scaledobjects',
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name },
        spec: {
          scaleTargetRef: { name },
          pollingInterval: CYCLE,
          minReplicaCount: 1,
          maxReplicaCount: 8,
          triggers: [{ type: 'kafka', metadata: { bootstrapServers: brokers.join(','), consumerGroup: group(name), topic: TOPIC, lagThreshold: '1000' } }],
        },
      },
    }),
  );
  const pids = [keda.operator.pid, keda.adapter.pid];
  const urls = [keda.operatorMetricsUrl, keda.adapterMetricsUrl];
  return {
    // KEDA's Kafka clients: every client id but the bench's own (producer, admin) and lagscale's.
    kafkaClientPrefix: '',
    warmUp: async () => {
      const deadline = Date.now() + KEDA_WARMUP_MS;
      let reading = 0;
      while (Date.now() < deadline) {
        const list = await hpas.listNamespacedHorizontalPodAutoscaler({ namespace });
        reading = list.items.filter((hpa) => (hpa.status?.currentMetrics ?? []).some((m) => m.external?.current !== undefined)).length;
        if (reading >= names.length) return { ok: true };
        await sleep(5000);
      }
      return { ok: false, note: `${reading} of ${names.length} HPAs had read their metric after ${KEDA_WARMUP_MS / 60_000} minutes` };
    },
    cpuSeconds: () => pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0),
    rssMb: () => pids.reduce((sum, pid) => sum + rssMbOf(pid), 0),
    apiRequests: async () => {
      let sum = 0;
      for (const url of urls) sum += await metricSum(url, 'rest_client_requests_total');
      return sum;
    },
    stop: async () => {
      await custom.deleteCollectionNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects' }).catch(() => {});
      const deadline = Date.now() + 10 * 60_000;
      while (Date.now() < deadline) {
        const left = (await custom.listNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects' })) as {
          items: unknown[];
        };
        if (left.items.length === 0) break;
        await sleep(2000);
      }
    },
  };
}

/** A controller's log lines of level error and above (and anything not JSON) go to this process's stderr. */
function passErrors(child: ChildProcess): void {
  onJsonLines(child.stderr, (entry, line) => {
    if (((entry?.level as number | undefined) ?? 100) >= 50) process.stderr.write(`${line}\n`);
  });
}

function deployment(name: string): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      paused: true,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'lagscale:bench' }] } },
    },
  };
}

function emptyRow(system: System, workloads: number): Row {
  return {
    system: system === 'keda' ? 'keda' : 'lagscale',
    workloads,
    shards: system === 'keda' ? null : system === 'lagscale' ? 1 : SHARDS,
    survived: false,
    cpuMsPerCycle: 0,
    cpuMsPerWorkloadCycle: 0,
    controllerManagerCpuMsPerCycle: 0,
    rssMb: 0,
    apiRequestsPerCycle: 0,
    kafkaRequestsPerCycle: 0,
    kafkaRequestsByName: {},
    p50ReactionCycles: null,
    p99ReactionCycles: null,
    reactionsSeconds: [],
    warmupSeconds: 0,
  };
}

async function writeResults(): Promise<void> {
  await mkdir(new URL('../results/', import.meta.url), { recursive: true });
  const lagscaleAt = (n: number) => rows.find((r) => r.system === 'lagscale' && r.shards === 1 && r.workloads === n && r.survived);
  const kedaSurvived = rows.filter((r) => r.system === 'keda' && r.survived && lagscaleAt(r.workloads) !== undefined);
  const largest = kedaSurvived.at(-1);
  const ratio = largest === undefined ? null : largest.cpuMsPerWorkloadCycle / (lagscaleAt(largest.workloads) as Row).cpuMsPerWorkloadCycle;
  await writeFile(
    new URL(`../results/${RESULTS_FILE}`, import.meta.url),
    `${JSON.stringify(
      {
        benchmark: 'kubernetes-scale',
        date: new Date().toISOString(),
        cycleSeconds: CYCLE,
        cyclesMeasured: CYCLES,
        steps: STEPS,
        kedaVersion: keda?.binaries.version ?? null,
        kedaCpuPerWorkloadOverLagscale: ratio === null ? null : { workloads: largest?.workloads, ratio },
        rows,
      },
      null,
      2,
    )}\n`,
  );
}
