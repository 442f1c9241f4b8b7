import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '@lagscale/exporter';
import {
  applyManifests,
  type ControlPlane,
  controllerManifests,
  externalMetricsManifests,
  issueCertificate,
  KubeletStandIn,
  type Manifest,
  SCALED_CONSUMER,
  type ScaledConsumer,
  ScaledConsumerController,
  writeKubeconfig,
} from '@lagscale/kubernetes';
import { SqliteResultStore, VALIDATION_TOPICS } from '@lagscale/validator';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopic, waitFor } from '../../../test-support/kafka.js';
import { jobDone, sqliteJob, startGroupAtEnd, workerCommand } from '../../validator/test/worker/helpers.js';
import { auditJob } from '../../validator/test/worker/job-audit.js';
import { produceJob } from '../../validator/test/worker/order-records.js';
import { startTestCluster, workerDeployment } from './helpers.js';

const brokers = inject('kafkaBrokers');
const main = fileURLToPath(new URL('../../cli/dist/main.js', import.meta.url));
const logger = createLogger('scaled-consumer-test', 'warn');
const { group: crdGroup, version, plural } = SCALED_CONSUMER;

/**
 * The Kubernetes loop on a real control plane and a real broker: a ScaledConsumer's controller
 * reads the lag of a consumer group and scales a Deployment through /scale; the Deployment's
 * ReplicaSet makes pods; the kubelet stand-in runs each pod as a `lagscale worker` process; the
 * workers drain the lag; the controller scales back in. Nothing is lost or doubled on the way.
 */
describe('ScaledConsumer on a real control plane', () => {
  let controlPlane: ControlPlane;
  let kubeConfig: KubeConfig;
  let kubelet: KubeletStandIn;
  let custom: CustomObjectsApi;
  let apps: AppsV1Api;
  const namespace = 'scaling';

  beforeAll(async () => {
    ({ controlPlane, kubeConfig } = await startTestCluster(namespace));
    custom = kubeConfig.makeApiClient(CustomObjectsApi);
    apps = kubeConfig.makeApiClient(AppsV1Api);
    kubelet = new KubeletStandIn({ kubeConfig, logger });
    await kubelet.start();
  }, 30 * 60_000);

  afterAll(async () => {
    await kubelet?.stop();
    await controlPlane?.stop();
  });

  // Strict field validation, as kubectl asks by default: an unknown field is an error, not pruned.
  const create = (body: Record<string, unknown>) =>
    custom.createNamespacedCustomObject({
      group: crdGroup,
      version,
      namespace,
      plural,
      fieldValidation: 'Strict',
      body: { apiVersion: `${crdGroup}/${version}`, kind: 'ScaledConsumer', ...body },
    });
  const read = async (name: string) => (await custom.getNamespacedCustomObject({ group: crdGroup, version, namespace, plural, name })) as ScaledConsumer;

  it('refuses bad specs in the API server, naming the field', async () => {
    const base = { kafka: { brokers: ['127.0.0.1:9092'] }, group: 'g', scaleTargetRef: { name: 'w' } };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, behavior: { maxReplicas: 0 } }, 'spec.behavior.maxReplicas'],
      [{ ...base, behavior: { minReplicas: 5, maxReplicas: 2 } }, 'spec.behavior.minReplicas'],
      [{ ...base, policy: { name: 'bogus' } }, 'spec.policy.name'],
      [{ ...base, policy: { name: 'threshold', lagTreshold: 10 } }, 'spec.policy.lagTreshold'],
      [{ ...base, kafka: { brokers: ['no-port'] } }, 'spec.kafka.brokers[0]'],
      [{ ...base, scaleTargetRef: {} }, 'spec.scaleTargetRef.name'],
      [{ kafka: base.kafka, scaleTargetRef: base.scaleTargetRef }, 'spec.group'],
      // A share group instead of a consumer group: one of the two, and its size only with it.
      [{ ...base, shareGroup: 'v' }, 'spec.shareGroup'],
      [{ ...base, shareGroupMaxSize: 50 }, 'spec.shareGroupMaxSize'],
      [{ kafka: base.kafka, scaleTargetRef: base.scaleTargetRef, shareGroup: 'v', shareGroupMaxSize: 0 }, 'spec.shareGroupMaxSize'],
    ];
    for (const [spec, path] of cases) {
      const error = (await create({ metadata: { name: 'bad' }, spec }).catch((e: unknown) => e)) as { code?: number; body?: string };
      // 422 for a value the schema refuses, 400 for an unknown field (strict field validation).
      expect([400, 422], JSON.stringify(spec)).toContain(error.code);
      expect(String(error.body), JSON.stringify(spec)).toContain(path);
    }
    // A share group alone is accepted (server-side dry run: nothing is created).
    const shareGroup = { kafka: base.kafka, scaleTargetRef: base.scaleTargetRef, shareGroup: 'v', shareGroupMaxSize: 50 };
    const accepted = (await custom.createNamespacedCustomObject({
      group: crdGroup,
      version,
      namespace,
      plural,
      fieldValidation: 'Strict',
      dryRun: 'All',
      body: { apiVersion: `${crdGroup}/${version}`, kind: 'ScaledConsumer', metadata: { name: 'share' }, spec: shareGroup },
    })) as ScaledConsumer;
    expect(accepted.spec).toMatchObject({ shareGroup: 'v', shareGroupMaxSize: 50 });
  });

  it("accepts the controller's install manifests (server-side apply, dry run): CRD, RBAC, Deployment and the metrics API registration", async () => {
    const manifests = [
      ...controllerManifests({ namespace: 'lagscale' }),
      ...externalMetricsManifests({ namespace: 'lagscale', port: 6443, caBundle: controlPlane.caPem }),
    ];
    // The namespace first (a dry run stores nothing, and namespaced objects need theirs to exist).
    await applyManifests(
      kubeConfig,
      manifests.filter((m) => m.kind === 'Namespace'),
    );
    const applied = await applyManifests(
      kubeConfig,
      manifests.filter((m) => m.kind !== 'Namespace'),
      { dryRun: true },
    );
    expect(applied.map((m) => m.kind)).toEqual(manifests.filter((m) => m.kind !== 'Namespace').map((m) => m.kind));
    // A mistake in one is refused with its field.
    const broken = { ...(manifests.find((m) => m.kind === 'Deployment') as Manifest), spec: { replicas: 'two' } } as Manifest;
    await expect(applyManifests(kubeConfig, [broken], { dryRun: true })).rejects.toThrow(/replicas/);
  });

  it('reports what the schema cannot check, and a missing target, in the Ready condition', async () => {
    const controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: 1 });
    await controller.start();
    try {
      await create({
        // The schema checks min <= max only when both are given; the default maxReplicas is 100.
        metadata: { name: 'bad-min' },
        spec: { kafka: { brokers }, group: 'nobody', scaleTargetRef: { name: 'nothing' }, behavior: { minReplicas: 150 } },
      });
      await create({ metadata: { name: 'no-target' }, spec: { kafka: { brokers }, group: 'nobody', scaleTargetRef: { name: 'does-not-exist' } } });
      const ready = (resource: ScaledConsumer) => resource.status?.conditions?.find((c) => c.type === 'Ready');
      const invalid = await waitFor('the InvalidSpec condition', async () => {
        const condition = ready(await read('bad-min'));
        return condition?.reason === 'InvalidSpec' ? condition : undefined;
      });
      expect(invalid).toMatchObject({ status: 'False', message: expect.stringContaining('spec.behavior.maxReplicas: must be >= minReplicas (150)') });
      const missing = await waitFor('the TargetNotFound condition', async () => {
        const condition = ready(await read('no-target'));
        return condition?.reason === 'TargetNotFound' ? condition : undefined;
      });
      expect(missing.message).toContain('"does-not-exist"');
      expect(missing.message).toContain('check scaleTargetRef.name');
    } finally {
      await controller.stop();
      // Not served by the next tests' controllers (they would log the missing target every cycle).
      for (const name of ['bad-min', 'no-target'])
        await custom.deleteNamespacedCustomObject({ group: crdGroup, version, namespace, plural, name }).catch(() => {});
    }
  });

  it('holds the fallback replicas while Kafka cannot be read, with the Fallback condition, and says Forbidden when RBAC lacks /scale', {
    timeout: 120_000,
  }, async () => {
    const idle = [process.execPath, '-e', 'setInterval(() => {}, 1000); process.on("SIGTERM", () => process.exit(0))'];
    await apps.createNamespacedDeployment({ namespace, body: workerDeployment('unreachable', idle) as never });
    const controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: 1 });
    await controller.start();
    try {
      // Nothing listens on port 1: every collection fails; after 2 failed reads the fallback holds 3.
      await create({
        metadata: { name: 'kafka-down' },
        spec: {
          kafka: { brokers: ['127.0.0.1:1'] },
          group: 'g',
          scaleTargetRef: { name: 'unreachable' },
          behavior: { fallback: { failureThreshold: 2, replicas: 3 } },
        },
      });
      await waitFor(
        'the fallback replicas',
        async () => (await apps.readNamespacedDeployment({ name: 'unreachable', namespace })).spec?.replicas === 3,
        60_000,
        250,
      );
      const status = await waitFor('the Fallback condition', async () => {
        const s = (await read('kafka-down')).status;
        return s?.conditions?.find((c) => c.type === 'Fallback')?.status === 'True' ? s : undefined;
      });
      expect(status.conditions?.find((c) => c.type === 'Active')).toMatchObject({ status: 'Unknown', reason: 'MetricsUnavailable' });
      expect(status.lastDecision).toMatchObject({ action: 'fallback', desiredReplicas: 3 });
      // It stays there: no decision on stale numbers.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect((await apps.readNamespacedDeployment({ name: 'unreachable', namespace })).spec?.replicas).toBe(3);
    } finally {
      await controller.stop();
    }

    // A controller whose user may watch ScaledConsumers and write their status, but not scale.
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-limited-'));
    const cert = await issueCertificate(dir, controlPlane.certificates.ca, 'limited', '/CN=lagscale-limited', 'clientAuth');
    const kubeconfigPath = await writeKubeconfig(join(dir, 'kubeconfig'), {
      server: controlPlane.server,
      caCertPath: controlPlane.certificates.ca.cert,
      clientCertPath: cert.cert,
      clientKeyPath: cert.key,
    });
    await applyManifests(kubeConfig, [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'lagscale-limited' },
        rules: [
          { apiGroups: ['lagscale.dev'], resources: ['scaledconsumers'], verbs: ['get', 'list', 'watch'] },
          { apiGroups: ['lagscale.dev'], resources: ['scaledconsumers/status'], verbs: ['get', 'patch'] },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'lagscale-limited' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'lagscale-limited' },
        subjects: [{ kind: 'User', name: 'lagscale-limited', apiGroup: 'rbac.authorization.k8s.io' }],
      },
    ]);
    const limitedConfig = new KubeConfig();
    limitedConfig.loadFromFile(kubeconfigPath);
    const limited = new ScaledConsumerController({ kubeConfig: limitedConfig, logger, elector: null, intervalSeconds: 1, namespace });
    await limited.start();
    try {
      await custom.deleteNamespacedCustomObject({ group: crdGroup, version, namespace, plural, name: 'kafka-down' });
      await create({ metadata: { name: 'forbidden' }, spec: { kafka: { brokers }, group: 'g', scaleTargetRef: { name: 'unreachable' } } });
      const ready = await waitFor('the TargetForbidden condition', async () => {
        const condition = (await read('forbidden')).status?.conditions?.find((c) => c.type === 'Ready');
        return condition?.reason === 'TargetForbidden' ? condition : undefined;
      });
      expect(ready.message).toContain('grant the controller');
    } finally {
      await limited.stop();
      await apps.deleteNamespacedDeployment({ name: 'unreachable', namespace });
      await custom.deleteNamespacedCustomObject({ group: crdGroup, version, namespace, plural, name: 'forbidden' }).catch(() => {});
    }
  });

  it('scales a Deployment out and in on real lag; its pods are real workers, and every record has exactly one result', { timeout: 600_000 }, async () => {
    const TOTAL = 100_000;
    const isMalformed = (n: number): boolean => n % 100 === 0;
    const job = `k8s-${Date.now().toString(36)}`;
    const group = `${job}-validators`;
    const topic = VALIDATION_TOPICS.requests;
    await createTopic(brokers, topic, 8).catch(() => {});
    const file = join(mkdtempSync(join(tmpdir(), 'lagscale-k8s-')), 'results.db');
    await sqliteJob(file, job, TOTAL);
    await startGroupAtEnd(brokers, group, topic);

    // Each record costs a worker 1 ms more: one worker takes ~100 s for the job, four ~25 s.
    const command = workerCommand(main, brokers, file, ['--group', group, '--batch-size', '500', '--record-cost-ms', '1']);
    await apps.createNamespacedDeployment({ namespace, body: workerDeployment('validator', command) as never });
    const controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: 2, statusRefreshSeconds: 5 });
    await controller.start();
    const replicas: number[] = [];
    const sampling = setInterval(() => {
      void apps
        .readNamespacedDeployment({ name: 'validator', namespace })
        .then((d) => replicas.push(d.spec?.replicas ?? -1))
        .catch(() => {});
    }, 500);
    const store = SqliteResultStore.open(file);
    try {
      await create({
        metadata: { name: 'validator' },
        spec: {
          kafka: { brokers },
          group,
          topics: [topic],
          scaleTargetRef: { name: 'validator' },
          policy: { name: 'threshold', lagThreshold: 5000 },
          behavior: {
            minReplicas: 1,
            maxReplicas: 4,
            scaleUp: { stabilizationWindowSeconds: 0 },
            scaleDown: { stabilizationWindowSeconds: 6, policies: [{ type: 'Percent', value: 100, periodSeconds: 5 }] },
          },
        },
      });
      const produced = await produceJob(brokers, { topic, jobId: job, total: TOTAL, isMalformed, seed: 7 });
      await waitFor('the Deployment to be scaled out', async () => Math.max(0, ...replicas) >= 3, 60_000, 200);
      const workerPods = () => [...kubelet.running().keys()].filter((key) => key.startsWith(`${namespace}/validator-`)).length;
      await waitFor('more than one worker pod running', async () => workerPods() >= 3, 60_000, 200);
      const final = await jobDone(store, job, TOTAL);
      await waitFor('the Deployment to be scaled back in to 1', async () => replicas.at(-1) === 1, 90_000, 500);
      await waitFor('one worker pod left', async () => workerPods() === 1, 90_000, 200);

      const malformed = new Set(produced.malformed);
      expect(final.results).toBe(TOTAL - malformed.size);
      expect(final.dlq).toBe(malformed.size);
      const numbers: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.searchResults({ jobId: job, limit: 1000, facets: false, ...(cursor === undefined ? {} : { cursor }) });
        for (const item of page.items) numbers.push(item.recordNumber);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(new Set(numbers).size).toBe(numbers.length);
      expect(numbers.filter((n) => malformed.has(n))).toEqual([]);
      expect(numbers).toHaveLength(TOTAL - malformed.size);

      // The decision is in the status, with its arithmetic, and the resource is Ready. The status is
      // written after the scale (the pod can be gone first): it follows within a few cycles.
      const status = await waitFor(
        'the status to show the scale-in to 1',
        async () => {
          const s = (await read('validator')).status;
          return s?.desiredReplicas === 1 && s.currentReplicas === 1 ? s : undefined;
        },
        20_000,
        250,
      );
      expect(status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Serving' });
      expect(status?.lastDecision?.arithmetic).toMatch(/\d/);
      expect(status?.lastDecision?.desiredReplicas).toBe(1);
      expect(kubelet.started).toBeGreaterThanOrEqual(3);
      process.stderr.write(
        `[scaled-consumer] replicas over time: ${replicas.filter((r, i) => i === 0 || r !== replicas[i - 1]).join(' → ')}; scale writes ${controller.counters.scaleWrites}, status writes ${controller.counters.statusWrites}, pods started ${kubelet.started}\n`,
      );
    } finally {
      clearInterval(sampling);
      await controller.stop();
      await store.close();
    }
  });
  it('scales share-group workers past the partition count: the Deployment goes beyond 8 replicas on 8 partitions, every record exactly once', {
    timeout: 600_000,
  }, async () => {
    const TOTAL = 100_000;
    const isMalformed = (n: number): boolean => n % 100 === 0;
    const job = `k8s-share-${Date.now().toString(36)}`;
    const shareGroup = `${job}-validators`;
    const topic = `${job}-requests`;
    await createTopic(brokers, topic, 8);
    const file = join(mkdtempSync(join(tmpdir(), 'lagscale-k8s-share-')), 'results.db');
    await sqliteJob(file, job, TOTAL);
    // Each record costs a worker 2 ms of waiting (a slow downstream call): work more members do faster.
    const command = workerCommand(main, brokers, file, [
      '--share-group',
      shareGroup,
      '--requests-topic',
      topic,
      '--batch-size',
      '200',
      '--record-cost-ms',
      '2',
    ]);
    await apps.createNamespacedDeployment({ namespace, body: workerDeployment('share-validator', command) as never });
    const controller = new ScaledConsumerController({ kubeConfig, logger, elector: null, intervalSeconds: 2, statusRefreshSeconds: 5 });
    await controller.start();
    const replicas: number[] = [];
    const sampling = setInterval(() => {
      void apps
        .readNamespacedDeployment({ name: 'share-validator', namespace })
        .then((d) => replicas.push(d.spec?.replicas ?? -1))
        .catch(() => {});
    }, 500);
    const store = SqliteResultStore.open(file);
    const workerPods = () => [...kubelet.running().keys()].filter((key) => key.startsWith(`${namespace}/share-validator-`)).length;
    let mostPods = 0;
    const counting = setInterval(() => {
      mostPods = Math.max(mostPods, workerPods());
    }, 250);
    try {
      const produced = await produceJob(brokers, { topic, jobId: job, total: TOTAL, isMalformed, seed: 13 });
      await create({
        metadata: { name: 'share-validator' },
        spec: {
          kafka: { brokers },
          shareGroup,
          topics: [topic],
          scaleTargetRef: { name: 'share-validator' },
          policy: { name: 'threshold', lagThreshold: 5000 },
          behavior: {
            minReplicas: 1,
            maxReplicas: 12,
            scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 12, periodSeconds: 1 }] },
            scaleDown: { stabilizationWindowSeconds: 6, policies: [{ type: 'Percent', value: 100, periodSeconds: 5 }] },
          },
        },
      });
      await waitFor('the Deployment to go past the 8 partitions', async () => Math.max(0, ...replicas) > 8, 90_000, 200);
      await waitFor('more than 8 worker pods running', async () => workerPods() > 8, 90_000, 200);
      const final = await jobDone(store, job, TOTAL);
      await waitFor('the Deployment to be scaled back in to 1', async () => replicas.at(-1) === 1, 90_000, 500);
      await waitFor('one worker pod left', async () => workerPods() === 1, 90_000, 200);
      const malformed = new Set(produced.malformed);
      const audit = await auditJob(store, job, TOTAL, malformed);
      expect(audit).toMatchObject({ lost: 0, duplicated: 0, misplaced: 0, results: TOTAL - malformed.size, dlq: malformed.size });
      expect(final.results + final.dlq).toBe(TOTAL);
      const status = (await read('share-validator')).status;
      expect(status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
      process.stderr.write(
        `[scaled-consumer] share group: replicas over time ${replicas.filter((r, i) => i === 0 || r !== replicas[i - 1]).join(' → ')}; most pods running ${mostPods}; audit ${JSON.stringify(audit)}\n`,
      );
    } finally {
      clearInterval(sampling);
      clearInterval(counting);
      await controller.stop();
      await store.close();
      await custom.deleteNamespacedCustomObject({ group: crdGroup, version, namespace, plural, name: 'share-validator' }).catch(() => {});
      await apps.deleteNamespacedDeployment({ name: 'share-validator', namespace }).catch(() => {});
    }
  });
});
