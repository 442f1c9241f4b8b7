import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '@lagscale/exporter';
import { freePorts } from '@lagscale/kafka';
import { type ControlPlane, SCALED_CONSUMER, type ScaledConsumer, ScaledConsumerController } from '@lagscale/kubernetes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-support/kafka.js';
import { type RunningPrometheus, securedWebConfig, startPrometheus, TEST_BASIC_AUTH } from '../../../test-support/prometheus.js';
import { createScaledConsumer, spawnController, startTestCluster, workerDeployment } from './helpers.js';

const logger = createLogger('scaled-consumer-prometheus-test', 'warn');
const { group: crdGroup, version, plural } = SCALED_CONSUMER;
const { username, password } = TEST_BASIC_AUTH;

/**
 * A ScaledConsumer that scales on a PromQL query instead of Kafka lag (KEDA's prometheus scaler
 * semantics), on a real control plane and a real Prometheus behind TLS and basic auth whose
 * credentials and CA come from a Secret. No Kafka is involved: `spec.kafka` is not needed.
 */
describe('ScaledConsumer with a prometheus source', () => {
  const namespace = 'prom-scaling';
  let controlPlane: ControlPlane;
  let kubeConfig: KubeConfig;
  let custom: CustomObjectsApi;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  let prometheus: RunningPrometheus;
  let gauge: Server;
  let depth = 0;
  let dir: string;
  let caPem: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lagscale-scon-prometheus-'));
    const { cert, webConfig } = securedWebConfig(dir);
    caPem = readFileSync(cert, 'utf8');
    // The metric scaled on: a queue depth the test sets.
    gauge = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      response.end(`# TYPE queue_depth gauge\nqueue_depth{queue="orders"} ${depth}\n`);
    });
    await new Promise<void>((resolve) => gauge.listen(0, '127.0.0.1', resolve));
    const gaugePort = (gauge.address() as { port: number }).port;
    prometheus = await startPrometheus({
      scrapeConfigs: `  - job_name: queue\n    static_configs: [{ targets: ['127.0.0.1:${gaugePort}'] }]`,
      webConfig,
    });
    ({ controlPlane, kubeConfig } = await startTestCluster(namespace));
    custom = kubeConfig.makeApiClient(CustomObjectsApi);
    apps = kubeConfig.makeApiClient(AppsV1Api);
    core = kubeConfig.makeApiClient(CoreV1Api);
  }, 30 * 60_000);

  afterAll(async () => {
    await controlPlane?.stop();
    await prometheus?.stop();
    await new Promise((resolve) => gauge?.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const read = async (name: string) => (await custom.getNamespacedCustomObject({ group: crdGroup, version, namespace, plural, name })) as ScaledConsumer;
  const secret = (name: string, data: Record<string, string>) =>
    core.createNamespacedSecret({
      namespace,
      body: { metadata: { name }, stringData: data },
    });
  const source = (extra: Record<string, unknown> = {}) => ({
    type: 'prometheus',
    serverAddress: prometheus.url,
    query: 'sum(queue_depth{queue="orders"})',
    threshold: 10,
    pollingInterval: 1,
    ...extra,
  });

  it('refuses specs in the API server that name neither Kafka nor a query, or give a policy to a query, naming the field', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ group: 'g', scaleTargetRef: { name: 'w' } }, /spec\.kafka.*kafka is required unless source\.type is prometheus/],
      [
        { group: 'g', scaleTargetRef: { name: 'w' }, source: source(), policy: { name: 'rate' } },
        /spec\.policy.*policy is not used with source type prometheus/,
      ],
      [{ group: 'g', scaleTargetRef: { name: 'w' }, source: { type: 'prometheus', threshold: 10 } }, /spec\.source.*needs serverAddress, query and threshold/],
      [{ group: 'g', scaleTargetRef: { name: 'w' }, source: source({ threshold: 0 }) }, /spec\.source\.threshold/],
      [{ group: 'g', scaleTargetRef: { name: 'w' }, source: source({ type: 'graphite' }) }, /spec\.source\.type/],
    ];
    for (const [spec, message] of cases) {
      const error = (await createScaledConsumer(kubeConfig, namespace, 'bad', spec).catch((e: unknown) => e)) as { code?: number; body?: string };
      expect(error.code, JSON.stringify(spec)).toBe(422);
      expect(String(error.body), JSON.stringify(spec)).toMatch(message);
    }
  });

  it('scales a Deployment on the query, with the credentials and CA of a Secret, and says why it cannot when the Secret is wrong', async () => {
    await apps.createNamespacedDeployment({ namespace, body: workerDeployment('queue-workers', ['sleep', '3600']) as never });
    await secret('prometheus-auth', { username, password, 'ca.crt': caPem });
    await secret('prometheus-two-auths', { username, password, bearerToken: 'x', 'ca.crt': caPem });
    const controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: 1 });
    await controller.start();
    const replicas = async () => (await apps.readNamespacedDeployment({ name: 'queue-workers', namespace })).spec?.replicas;
    const ready = async (name: string) => (await read(name)).status?.conditions?.find((c) => c.type === 'Ready');
    try {
      const behavior = { minReplicas: 1, maxReplicas: 8, scaleDown: { stabilizationWindowSeconds: 0 } };
      await createScaledConsumer(kubeConfig, namespace, 'queue', {
        group: 'queue-workers',
        scaleTargetRef: { name: 'queue-workers' },
        source: source({ secretRef: { name: 'prometheus-auth' } }),
        behavior,
      });
      const serving = await waitFor(
        'the ScaledConsumer to serve',
        async () => ((await ready('queue'))?.status === 'True' ? ready('queue') : null),
        30_000,
        200,
      );
      expect(serving?.message).toContain('on the query sum(queue_depth{queue="orders"})');
      const steps: string[] = [];
      // ceil(value / threshold) replicas (AverageValue), between min 1 and max 8.
      for (const [value, expected] of [
        [45, 5],
        [12, 2],
        [500, 8],
        [0, 1],
      ] as const) {
        depth = value;
        const started = Date.now();
        await waitFor(`${expected} replicas for a queue depth of ${value}`, async () => (await replicas()) === expected, 60_000, 250);
        steps.push(`${value} -> ${expected} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
      // The status is written after the scale (one write at a time per resource): wait for it to follow.
      const status = await waitFor(
        'the status to follow the scale to 1',
        async () => {
          const current = (await read('queue')).status;
          return current?.desiredReplicas === 1 ? current : null;
        },
        20_000,
        250,
      );
      expect(status?.lastDecision?.policy).toBe('prometheus');
      expect(status?.desiredReplicas).toBe(1);
      const runtime = controller.runtimes().get(`${namespace}/queue`);
      expect(runtime?.metricSource?.counters.queries).toBeGreaterThan(4);
      expect(controller.monitors.size).toBe(0); // no Kafka connection was made

      // A Secret that is not there, and one with two kinds of credentials: the Ready condition says which and why.
      await createScaledConsumer(kubeConfig, namespace, 'no-secret', {
        group: 'g',
        scaleTargetRef: { name: 'queue-workers' },
        source: source({ secretRef: { name: 'missing' } }),
      });
      await createScaledConsumer(kubeConfig, namespace, 'two-auths', {
        group: 'g',
        scaleTargetRef: { name: 'queue-workers' },
        source: source({ secretRef: { name: 'prometheus-two-auths' } }),
      });
      const missing = await waitFor('the missing Secret reported', async () => ((await ready('no-secret'))?.status === 'False' ? ready('no-secret') : null));
      expect(missing?.reason).toBe('SourceCredentialsUnavailable');
      expect(missing?.message).toBe(`Secret ${namespace}/missing (spec.source.secretRef) does not exist`);
      const twoAuths = await waitFor('the two credentials reported', async () => ((await ready('two-auths'))?.status === 'False' ? ready('two-auths') : null));
      expect(twoAuths?.reason).toBe('InvalidSpec');
      expect(twoAuths?.message).toMatch(/spec\.source \(with Secret prom-scaling\/prometheus-two-auths\)\.auth: choose one of/);
      process.stdout.write(`[scaled-consumer-prometheus] ${steps.join('; ')}; ${runtime?.metricSource?.counters.queries} queries\n`);
    } finally {
      await controller.stop();
    }
  });

  it("has `lagscale controller` export each query's counters and last value on /metrics", async () => {
    const [port] = (await freePorts(1)) as [number];
    depth = 30;
    const child = spawnController(controlPlane.kubeconfigPath, ['--no-leader-elect', '-n', namespace, '--port', String(port)]);
    let log = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      log = (log + chunk).slice(-4000);
    });
    try {
      const labels = 'consumergroup="queue-workers",target="kubernetes:deployment/prom-scaling/queue-workers",source="prometheus"';
      const text = await waitFor(
        'the controller to export the query',
        async () => {
          const body = await (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null))?.text();
          return body?.includes(`lagscale_autoscaler_source_value{${labels}} 30`) ? body : null;
        },
        30_000,
        250,
      ).catch((error: Error) => {
        throw new Error(`${error.message}\ncontroller log:\n${log}`);
      });
      expect(Number(new RegExp(`^lagscale_autoscaler_source_queries_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1])).toBeGreaterThan(0);
      expect(text).toMatch(new RegExp(`^lagscale_autoscaler_source_failures_total\\{${labels}\\} 0$`, 'm'));
      // The query's 30 at threshold 10 asks 3.
      await waitFor(
        '3 replicas from the controller process',
        async () => (await apps.readNamespacedDeployment({ name: 'queue-workers', namespace })).spec?.replicas === 3,
      );
      // Its API requests by lane: the scale write went through the scale lane, the status writes through the other.
      const after = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(after).toContain('# TYPE lagscale_controller_api_requests_total counter');
      expect(Number(/^lagscale_controller_api_requests_total\{lane="scale"\} (\d+)$/m.exec(after)?.[1])).toBeGreaterThanOrEqual(1);
      expect(Number(/^lagscale_controller_api_requests_total\{lane="status"\} (\d+)$/m.exec(after)?.[1])).toBeGreaterThanOrEqual(1);
      expect(after).toMatch(/^lagscale_controller_api_queue_wait_seconds_total\{lane="scale"\} [\d.e-]+$/m);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});
