import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { applyManifests, type ControlPlane, type Manifest, SCALED_CONSUMER, scaledConsumerCrd, startControlPlane } from '@lagscale/kubernetes';
import { waitFor } from '../../../test-support/kafka.js';

/** Creates the ScaledConsumer CRD (or leaves it) and waits until the API server serves it. */
export async function installCrd(kubeConfig: KubeConfig): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const crd = scaledConsumerCrd() as unknown as Manifest;
  await applyManifests(kubeConfig, [crd]);
  await waitFor(
    'the ScaledConsumer CRD to be established',
    async () => {
      const found = await api.readCustomResourceDefinition({ name: crd.metadata.name });
      return found.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    },
    30_000,
    100,
  );
}

export async function createNamespace(kubeConfig: KubeConfig, name: string): Promise<void> {
  await kubeConfig
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name } } })
    .catch((error: { code?: number }) => {
      if (error.code !== 409) throw error;
    });
}

/** A Deployment whose pods run `command` through the kubelet stand-in. */
export function workerDeployment(name: string, command: readonly string[], replicas = 1): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 60,
          containers: [
            {
              name: 'main',
              image: 'lagscale:test',
              command: [...command],
              env: [{ name: 'LAGSCALE_WORKER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            },
          ],
        },
      },
    },
  };
}

/** A GET through the API server with the kubeconfig's credentials; the parsed JSON and the status. */
export async function getThroughApiServer(kubeConfig: KubeConfig, path: string): Promise<{ status: number; body: unknown }> {
  const { request } = await import('node:https');
  const server = kubeConfig.getCurrentCluster()?.server as string;
  const options: import('node:https').RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
  await kubeConfig.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const sent = request(new URL(path, server), options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        resolve({ status: response.statusCode ?? 0, body });
      });
    });
    sent.on('error', reject);
    sent.end();
  });
}

/** Creates a ScaledConsumer (strict field validation, as kubectl does by default). */
export async function createScaledConsumer(kubeConfig: KubeConfig, namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: SCALED_CONSUMER.group,
    version: SCALED_CONSUMER.version,
    namespace,
    plural: SCALED_CONSUMER.plural,
    fieldValidation: 'Strict',
    body: { apiVersion: `${SCALED_CONSUMER.group}/${SCALED_CONSUMER.version}`, kind: 'ScaledConsumer', metadata: { name }, spec },
  });
}

/** A started control plane with the CRD installed and `namespace` created, and an admin KubeConfig for it. */
export async function startTestCluster(namespace: string): Promise<{ controlPlane: ControlPlane; kubeConfig: KubeConfig }> {
  const controlPlane = await startControlPlane({ onProgress: (line) => process.stderr.write(`[kubernetes] ${line}\n`) });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
  await installCrd(kubeConfig);
  await createNamespace(kubeConfig, namespace);
  return { controlPlane, kubeConfig };
}

const main = fileURLToPath(new URL('../../cli/dist/main.js', import.meta.url));

/** Calls `onEntry` with each JSON line a process writes to `stream` (its structured log); `null` for a line that is not JSON. */
export function onJsonLines(stream: NodeJS.ReadableStream | null | undefined, onEntry: (entry: Record<string, unknown> | null, line: string) => void): void {
  let pending = '';
  stream?.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      let entry: Record<string, unknown> | null = null;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {}
      onEntry(entry, line);
    }
  });
}

/**
 * A `lagscale controller` process for the control plane of `kubeconfigPath`, collecting every
 * second, with `args` added (lease or namespace flags, `--port`); logs are JSON lines on stderr.
 */
export function spawnController(kubeconfigPath: string, args: readonly string[]): ChildProcess {
  return spawn(process.execPath, [main, 'controller', '--kubeconfig', kubeconfigPath, '--interval-seconds', '1', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}
