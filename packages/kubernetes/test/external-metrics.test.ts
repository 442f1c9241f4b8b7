import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiregistrationV1Api, AppsV1Api, AutoscalingV2Api, type KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '@lagscale/exporter';
import {
  applyManifests,
  type ControlPlane,
  createExternalMetricsServer,
  externalMetricsManifests,
  issueCertificate,
  KubeletStandIn,
  ScaledConsumerController,
} from '@lagscale/kubernetes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { createScaledConsumer, getThroughApiServer, startTestCluster, workerDeployment } from './helpers.js';

const brokers = inject('kafkaBrokers');
const logger = createLogger('external-metrics-test', 'warn');
const namespace = 'hpa';

/**
 * lagscale's numbers for the native HPA: the external metrics API registered with the real
 * aggregator through an APIService (TLS, the aggregator's front-proxy certificate, delegated
 * authorization), read through the API server, and the real HPA controller in
 * kube-controller-manager scaling a Deployment on `kafka_consumergroup_lag`.
 */
describe('external metrics API behind the aggregator', () => {
  let controlPlane: ControlPlane;
  let kubeConfig: KubeConfig;
  let kubelet: KubeletStandIn;
  let controller: ScaledConsumerController;
  let metrics: FastifyInstance;
  let port: number;
  const topic = `hpa-${Date.now().toString(36)}`;
  const group = `${topic}-group`;

  beforeAll(async () => {
    ({ controlPlane, kubeConfig } = await startTestCluster(namespace));
    kubelet = new KubeletStandIn({ kubeConfig, logger });
    await kubelet.start();
    // A group 10,000 records behind, with no consumer: its lag stays put.
    await createTopic(brokers, topic, 2);
    await produce(brokers, { topic, perPartition: { 0: 5000, 1: 5000 } });
    await commitOffsets(brokers, group, topic, { 0: 0, 1: 0 });

    controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: 1 });
    await controller.start();
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-metrics-tls-'));
    const serving = await issueCertificate(dir, controlPlane.certificates.ca, 'metrics', '/CN=lagscale-metrics', 'serverAuth', [
      `DNS:lagscale-metrics.${namespace}.svc`,
      'DNS:localhost',
      'IP:127.0.0.1',
    ]);
    metrics = await createExternalMetricsServer({
      source: controller.metricsSource(),
      logger,
      tls: { cert: readFileSync(serving.cert, 'utf8'), key: readFileSync(serving.key, 'utf8') },
      kubeConfig,
    });
    await metrics.listen({ host: '127.0.0.1', port: 0 });
    port = (metrics.server.address() as { port: number }).port;
    // Routing off (the default), the Service an ExternalName to localhost: the aggregator dials the server's port here.
    await applyManifests(kubeConfig, externalMetricsManifests({ namespace, port, caBundle: controlPlane.caPem, externalName: 'localhost' }));
  }, 30 * 60_000);

  afterAll(async () => {
    await metrics?.close();
    await controller?.stop();
    await kubelet?.stop();
    await controlPlane?.stop();
  });

  it('is Available through the aggregator and answers metric values by namespace and label selector', async () => {
    const idle = [process.execPath, '-e', 'setInterval(() => {}, 1000); process.on("SIGTERM", () => process.exit(0))'];
    await kubeConfig.makeApiClient(AppsV1Api).createNamespacedDeployment({ namespace, body: workerDeployment('hpa-target', idle) as never });
    // Paused: the ScaledConsumer names the cluster and group and computes decisions; the HPA scales.
    await createScaledConsumer(kubeConfig, namespace, 'orders', {
      kafka: { brokers },
      group,
      topics: [topic],
      scaleTargetRef: { name: 'hpa-target' },
      paused: true,
      policy: { name: 'threshold', lagThreshold: 2500 },
      behavior: { maxReplicas: 8 },
    });
    const registration = kubeConfig.makeApiClient(ApiregistrationV1Api);
    await waitFor(
      'the APIService to be Available',
      async () => {
        const service = await registration.readAPIService({ name: 'v1beta1.external.metrics.k8s.io' });
        return service.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True');
      },
      60_000,
      250,
    );
    const discovery = await getThroughApiServer(kubeConfig, '/apis/external.metrics.k8s.io/v1beta1');
    expect(discovery.status).toBe(200);
    expect((discovery.body as { resources: { name: string }[] }).resources.map((r) => r.name)).toEqual([
      'kafka_consumergroup_lag',
      'lagscale_consumergroup_time_lag_seconds',
      'lagscale_sharegroup_lag',
      'lagscale_desired_replicas',
    ]);
    const lag = await waitFor('the lag through the API server', async () => {
      const answer = await getThroughApiServer(
        kubeConfig,
        `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/kafka_consumergroup_lag?labelSelector=consumergroup%3D${group}`,
      );
      const items = (answer.body as { items?: { value: string; metricLabels: Record<string, string> }[] }).items ?? [];
      return items.length > 0 ? items : undefined;
    });
    expect(lag).toEqual([
      {
        metricName: 'kafka_consumergroup_lag',
        metricLabels: { consumergroup: group, scaledconsumer: 'orders' },
        timestamp: expect.any(String),
        value: '10000',
      },
    ]);
    const byTopic = await getThroughApiServer(
      kubeConfig,
      `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/kafka_consumergroup_lag?labelSelector=${encodeURIComponent(`consumergroup=${group},topic in (${topic})`)}`,
    );
    expect((byTopic.body as { items: { metricLabels: Record<string, string>; value: string }[] }).items).toEqual([
      expect.objectContaining({ metricLabels: { consumergroup: group, scaledconsumer: 'orders', topic }, value: '10000' }),
    ]);
    const desired = await waitFor('the desired replicas', async () => {
      const answer = await getThroughApiServer(kubeConfig, `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/lagscale_desired_replicas`);
      return ((answer.body as { items?: { value: string }[] }).items ?? [])[0];
    });
    // ceil(10,000 / 2,500) = 4, capped at the topic's 2 partitions (KEDA's allowIdleConsumers: false).
    expect(desired.value).toBe('2');
    // Another namespace sees none of them; an unknown metric is 404.
    const other = await getThroughApiServer(kubeConfig, '/apis/external.metrics.k8s.io/v1beta1/namespaces/default/kafka_consumergroup_lag');
    expect((other.body as { items: unknown[] }).items).toEqual([]);
    expect((await getThroughApiServer(kubeConfig, `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/no_such_metric`)).status).toBe(404);
  });

  it('refuses callers that are not the aggregator', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const sent = request(
        {
          host: '127.0.0.1',
          port,
          path: `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/kafka_consumergroup_lag`,
          rejectUnauthorized: false,
          headers: { 'x-remote-user': 'system:admin' },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      sent.on('error', reject);
      sent.end();
    });
    expect(status).toBe(401);
  });

  it("lets the real HPA controller scale a Deployment on lagscale's metric", async () => {
    await kubeConfig.makeApiClient(AutoscalingV2Api).createNamespacedHorizontalPodAutoscaler({
      namespace,
      body: {
        metadata: { name: 'hpa-target' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'hpa-target' },
          minReplicas: 1,
          maxReplicas: 8,
          metrics: [
            {
              type: 'External',
              external: {
                metric: { name: 'kafka_consumergroup_lag', selector: { matchLabels: { consumergroup: group } } },
                target: { type: 'AverageValue', averageValue: '2000' },
              },
            },
          ],
        },
      },
    });
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    // ceil(10,000 / 2,000) = 5; from 1 the HPA's default scale-up allows up to 5 in one step.
    const replicas = await waitFor(
      'the HPA to scale the Deployment to 5',
      async () => {
        const deployment = await apps.readNamespacedDeployment({ name: 'hpa-target', namespace });
        return deployment.spec?.replicas === 5 ? 5 : undefined;
      },
      90_000,
      500,
    );
    expect(replicas).toBe(5);
    const hpa = await kubeConfig.makeApiClient(AutoscalingV2Api).readNamespacedHorizontalPodAutoscaler({ name: 'hpa-target', namespace });
    // What the HPA read: 10,000 records behind, shared by the replicas it had then.
    expect(hpa.status?.currentMetrics?.[0]?.external?.metric?.name).toBe('kafka_consumergroup_lag');
    expect(hpa.status?.currentMetrics?.[0]?.external?.current?.averageValue).toMatch(/^\d/);
  });
});
