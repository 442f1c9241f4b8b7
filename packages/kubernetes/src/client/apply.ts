import { request } from 'node:https';
import { type KubeConfig, KubernetesObjectApi, type V1APIResource } from '@kubernetes/client-node';

/** A manifest as written in YAML: apiVersion, kind, metadata, and the rest. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly [field: string]: unknown;
  };
  readonly [field: string]: unknown;
}

/** The API server refused a manifest; the message has its answer (with the field paths). */
export class ApplyError extends Error {
  override readonly name = 'ApplyError';

  constructor(
    message: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(message);
  }
}

class Discovery extends KubernetesObjectApi {
  lookup(apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
    return this.resource(apiVersion, kind);
  }
}

/**
 * Server-side apply of manifests, sent as they are written. The typed client would re-serialize
 * them through its models, which drop the `x-kubernetes-*` keys of a CRD schema; this sends the
 * JSON untouched. `dryRun` asks the API server to validate and default everything without storing.
 */
export async function applyManifests(
  kubeConfig: KubeConfig,
  manifests: readonly Manifest[],
  options: { readonly fieldManager?: string; readonly dryRun?: boolean; readonly namespace?: string } = {},
): Promise<Record<string, unknown>[]> {
  const discovery = kubeConfig.makeApiClient(Discovery);
  const server = kubeConfig.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('the kubeconfig has no current cluster');
  const applied: Record<string, unknown>[] = [];
  for (const manifest of manifests) {
    const resource = await discovery.lookup(manifest.apiVersion, manifest.kind);
    if (resource === undefined) throw new ApplyError(`the API server has no kind ${manifest.kind} in ${manifest.apiVersion}`, 404, '');
    const base = manifest.apiVersion.includes('/') ? `/apis/${manifest.apiVersion}` : `/api/${manifest.apiVersion}`;
    const namespace = manifest.metadata.namespace ?? options.namespace ?? 'default';
    const path = `${base}${resource.namespaced ? `/namespaces/${namespace}` : ''}/${resource.name}/${encodeURIComponent(manifest.metadata.name)}`;
    const query = new URLSearchParams({ fieldManager: options.fieldManager ?? 'lagscale', force: 'true', fieldValidation: 'Strict' });
    if (options.dryRun === true) query.set('dryRun', 'All');
    const body = JSON.stringify(resource.namespaced ? { ...manifest, metadata: { ...manifest.metadata, namespace } } : manifest);
    const answer = await send(kubeConfig, new URL(`${path}?${query}`, server), body);
    if (answer.status >= 300) {
      let message = answer.body;
      try {
        message = (JSON.parse(answer.body) as { message?: string }).message ?? answer.body;
      } catch {}
      throw new ApplyError(`${manifest.kind} ${manifest.metadata.name}: ${message}`, answer.status, answer.body);
    }
    applied.push(JSON.parse(answer.body) as Record<string, unknown>);
  }
  return applied;
}

async function send(kubeConfig: KubeConfig, url: URL, body: string): Promise<{ status: number; body: string }> {
  const options: Parameters<typeof request>[1] = {
    method: 'PATCH',
    headers: { 'content-type': 'application/apply-patch+yaml', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
  };
  await kubeConfig.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const sent = request(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    sent.on('error', reject);
    sent.end(body);
  });
}
