import { existsSync, readFileSync } from 'node:fs';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { type ControlPlane, resolveControlPlaneBinaries, stagingModules, startControlPlane } from '@lagscale/kubernetes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-support/kafka.js';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Math.round(Number(kb) / 1024);
}

/**
 * A real etcd, kube-apiserver and kube-controller-manager. There is no scheduler and no kubelet,
 * so a Deployment's pods stay Pending: that they exist at all shows the controller manager works.
 */
describe('test control plane', () => {
  let controlPlane: ControlPlane;
  let kubeconfig: KubeConfig;

  beforeAll(async () => {
    const progress = (line: string): void => {
      process.stderr.write(`[kubernetes] ${line}\n`);
    };
    // A cold build takes minutes (CI builds the binaries in a step of its own first).
    await resolveControlPlaneBinaries({ onProgress: progress });
    const started = Date.now();
    controlPlane = await startControlPlane({ onProgress: progress });
    progress(`started in ${Date.now() - started} ms`);
    kubeconfig = new KubeConfig();
    kubeconfig.loadFromFile(controlPlane.kubeconfigPath);
  }, 30 * 60_000);

  afterAll(async () => {
    await controlPlane?.stop();
  });

  it('serves the admin kubeconfig on a loopback port with the built version', async () => {
    expect(controlPlane.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(kubeconfig.getCurrentCluster()?.server).toBe(controlPlane.server);
    expect(controlPlane.caPem).toContain('BEGIN CERTIFICATE');
    expect(existsSync(controlPlane.certificates.frontProxyCa.cert)).toBe(true);
    expect(existsSync(controlPlane.certificates.frontProxyClient.key)).toBe(true);
    const namespaces = await kubeconfig.makeApiClient(CoreV1Api).listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toEqual(expect.arrayContaining(['default', 'kube-system']));
    expect(controlPlane.processes.map((p) => p.name)).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager']);
  });

  it('runs the controller manager: a Deployment gets its ReplicaSet and Pending pods', async () => {
    const core = kubeconfig.makeApiClient(CoreV1Api);
    const apps = kubeconfig.makeApiClient(AppsV1Api);
    const namespace = 'control-plane-test';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const labels = { app: 'web' };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }] } },
        },
      },
    });

    const replicaSet = await waitFor('the deployment controller to create a ReplicaSet', async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace });
      return list.items.find((rs) => rs.metadata?.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'web'));
    });
    expect(replicaSet.spec?.replicas).toBe(2);

    // The replicaset controller retries until the serviceaccount controller has made `default`.
    const pods = await waitFor(
      'the replicaset controller to create 2 pods',
      async () => {
        const list = await core.listNamespacedPod({ namespace });
        return list.items.length === 2 ? list.items : undefined;
      },
      60_000,
    );
    for (const pod of pods) {
      expect(pod.metadata?.ownerReferences?.[0]?.name).toBe(replicaSet.metadata?.name);
      expect(pod.status?.phase).toBe('Pending');
      expect(pod.spec?.nodeName).toBeUndefined();
    }

    const memory = controlPlane.processes.map((p) => `${p.name} ${rssMb(p.pid)} MB`).join(', ');
    process.stderr.write(`[kubernetes] resident memory: ${memory}\n`);
  });

  it('stops every process and removes its folder', async () => {
    const pids = controlPlane.processes.map((p) => p.pid);
    expect(pids.every(isRunning)).toBe(true);
    await controlPlane.stop();
    expect(pids.filter(isRunning)).toEqual([]);
    expect(existsSync(controlPlane.dir)).toBe(false);
    await controlPlane.stop(); // a second stop is a no-op
  });
});

describe('stagingModules', () => {
  it('pins the modules the release requires at v0.0.0 and replaces with ./staging, and no others', () => {
    const goMod = [
      'module k8s.io/kubernetes',
      '',
      'go 1.26.0',
      '',
      'require (',
      '\tgithub.com/spf13/cobra v1.10.1',
      '\tk8s.io/api v0.0.0',
      '\tk8s.io/client-go v0.0.0 // indirect',
      '\tk8s.io/kube-openapi v0.0.0-20250910181357-589584f1c912',
      ')',
      '',
      'replace (',
      '\tk8s.io/api => ./staging/src/k8s.io/api',
      '\tk8s.io/client-go => ./staging/src/k8s.io/client-go',
      '\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller',
      ')',
    ].join('\n');
    expect(stagingModules(goMod)).toEqual(['k8s.io/api', 'k8s.io/client-go']);
  });
});
