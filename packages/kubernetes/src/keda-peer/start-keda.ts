import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiextensionsV1Api, ApiregistrationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { applyManifests, type Manifest } from '../client/apply.js';
import { issueCertificate } from '../control-plane/certificates.js';
import { type KedaBinaries, type ResolveKedaOptions, resolveKeda } from '../control-plane/keda.js';
import { type ControlPlane, freePorts, waitHealthy } from '../control-plane/launcher.js';
import { ProcessGroup, type SupervisedProcess } from '../control-plane/processes.js';
import { externalMetricsManifests } from '../metrics-api/manifests.js';

export interface StartKedaOptions {
  readonly controlPlane: ControlPlane;
  /** A client of that control plane with cluster-admin rights (its kubeconfig). */
  readonly kubeConfig: KubeConfig;
  /** KEDA's namespace (its Secrets, Events, certificates' names). Default `keda`. */
  readonly namespace?: string;
  /** Which KEDA to build or reuse. */
  readonly keda?: ResolveKedaOptions;
  /** Extra operator flags, e.g. `--kube-api-qps=50`. */
  readonly operatorArgs?: readonly string[];
  readonly adapterArgs?: readonly string[];
  readonly onProgress?: (line: string) => void;
  readonly startTimeoutMs?: number;
}

/** KEDA running beside lagscale: its operator and its metrics adapter, registered as the external metrics API. */
export interface RunningKeda {
  readonly binaries: KedaBinaries;
  readonly namespace: string;
  readonly operator: SupervisedProcess;
  readonly adapter: SupervisedProcess;
  /** The operator's Prometheus metrics (plain HTTP on loopback). */
  readonly operatorMetricsUrl: string;
  /** The adapter's own Prometheus metrics (plain HTTP on loopback). */
  readonly adapterMetricsUrl: string;
  /** Where its processes log. */
  readonly dir: string;
  /** Stops the adapter, then the operator; removes the APIService so another server can take the route. */
  stop(): Promise<void>;
}

const APISERVICE = 'v1beta1.external.metrics.k8s.io';

/**
 * Runs a real KEDA (built from its Go module) out of cluster against the given control plane, as
 * its release manifests run it in one: the CRDs, the operator (leader election off, certificate
 * rotation off) and the metrics adapter behind the `external.metrics.k8s.io` APIService, so the
 * control plane's HPA controller acts on the HPAs KEDA creates. Both processes share one
 * certificate signed by the control plane's CA that names 127.0.0.1: the adapter reaches the
 * operator's gRPC metrics service with it (mutual TLS), and the aggregator reaches the adapter.
 */
export async function startKeda(options: StartKedaOptions): Promise<RunningKeda> {
  const progress = options.onProgress ?? (() => {});
  const namespace = options.namespace ?? 'keda';
  const binaries = await resolveKeda({ onProgress: progress, ...options.keda });
  const { kubeConfig, controlPlane } = options;
  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
  await installKedaCrds(kubeConfig, binaries.crdDir, deadline);
  await kubeConfig
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: namespace } } })
    .catch((error: { code?: number }) => {
      if (error.code !== 409) throw error;
    });

  const dir = await mkdtemp(join(tmpdir(), 'lagscale-keda-'));
  const certDir = join(dir, 'certs');
  await mkdir(certDir);
  const serving = await issueCertificate(certDir, controlPlane.certificates.ca, 'keda', '/CN=keda', 'serverAuth,clientAuth', [
    'IP:127.0.0.1',
    'DNS:localhost',
    `DNS:keda-operator.${namespace}.svc`,
    `DNS:keda-metrics-apiserver.${namespace}.svc`,
  ]);
  // The file names both KEDA programs read from --cert-dir.
  await writeFile(join(certDir, 'ca.crt'), await readFile(controlPlane.certificates.ca.cert));
  await writeFile(join(certDir, 'tls.crt'), await readFile(serving.cert));
  await writeFile(join(certDir, 'tls.key'), await readFile(serving.key));

  const [grpcPort, operatorMetricsPort, probePort, securePort, adapterMetricsPort] = (await freePorts(5)) as [number, number, number, number, number];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: controlPlane.kubeconfigPath,
    POD_NAMESPACE: namespace,
    KEDA_CLUSTER_OBJECT_NAMESPACE: namespace,
    WATCH_NAMESPACE: '',
  };
  const group = new ProcessGroup(dir);
  try {
    const operator = group.spawn(
      'keda-operator',
      binaries.operator,
      [
        '--leader-elect=false',
        `--metrics-bind-address=127.0.0.1:${operatorMetricsPort}`,
        `--health-probe-bind-address=127.0.0.1:${probePort}`,
        `--metrics-service-bind-address=127.0.0.1:${grpcPort}`,
        `--cert-dir=${certDir}`,
        '--enable-cert-rotation=false',
        `--ca-dir=${certDir}`,
        '--zap-log-level=info',
        ...(options.operatorArgs ?? []),
      ],
      join(dir, 'operator.log'),
      env,
    );
    await waitHealthy(group, 'keda-operator', `http://127.0.0.1:${probePort}/readyz`, null, deadline);
    progress(`KEDA ${binaries.version} operator ready (gRPC metrics service on 127.0.0.1:${grpcPort})`);
    const adapter = group.spawn(
      'keda-adapter',
      binaries.adapter,
      [
        `--secure-port=${securePort}`,
        '--bind-address=127.0.0.1',
        `--cert-dir=${certDir}`,
        `--tls-cert-file=${join(certDir, 'tls.crt')}`,
        `--tls-private-key-file=${join(certDir, 'tls.key')}`,
        `--metrics-service-address=127.0.0.1:${grpcPort}`,
        `--port=${adapterMetricsPort}`,
        `--authentication-kubeconfig=${controlPlane.kubeconfigPath}`,
        `--authorization-kubeconfig=${controlPlane.kubeconfigPath}`,
        `--kubeconfig=${controlPlane.kubeconfigPath}`,
        `--lister-kubeconfig=${controlPlane.kubeconfigPath}`,
        ...(options.adapterArgs ?? []),
      ],
      join(dir, 'adapter.log'),
      env,
    );
    await waitHealthy(group, 'keda-adapter', `http://127.0.0.1:${adapterMetricsPort}/metrics`, null, deadline);
    await applyManifests(
      kubeConfig,
      externalMetricsManifests({
        namespace,
        service: 'keda-metrics-apiserver',
        port: securePort,
        caBundle: await readFile(controlPlane.certificates.ca.cert, 'utf8'),
        serviceAccount: 'keda-metrics-server',
        externalName: 'localhost',
      }),
    );
    await waitApiServiceAvailable(kubeConfig, group, deadline);
    progress(`KEDA ${binaries.version} metrics adapter serves external.metrics.k8s.io (127.0.0.1:${securePort})`);
    return {
      binaries,
      namespace,
      operator,
      adapter,
      operatorMetricsUrl: `http://127.0.0.1:${operatorMetricsPort}/metrics`,
      adapterMetricsUrl: `http://127.0.0.1:${adapterMetricsPort}/metrics`,
      dir,
      stop: async () => {
        await deleteApiService(kubeConfig);
        await group.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await group.stop(2000);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** KEDA's CRDs (ScaledObject, TriggerAuthentication, ...) from the module's config, established. */
async function installKedaCrds(kubeConfig: KubeConfig, crdDir: string, deadline: number): Promise<void> {
  const manifests: Manifest[] = [];
  for (const file of (await readdir(crdDir)).filter((name) => name.endsWith('.yaml')).sort())
    manifests.push(
      ...parseAllDocuments(await readFile(join(crdDir, file), 'utf8'))
        .map((document) => document.toJS() as Manifest)
        .filter((m) => m?.kind === 'CustomResourceDefinition'),
    );
  await applyManifests(kubeConfig, manifests);
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  for (const crd of manifests) {
    for (;;) {
      const found = await api.readCustomResourceDefinition({ name: crd.metadata.name });
      if (found.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`KEDA's CRD ${crd.metadata.name} was not established in time`);
      await sleep(100);
    }
  }
}

async function waitApiServiceAvailable(kubeConfig: KubeConfig, group: ProcessGroup, deadline: number): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiregistrationV1Api);
  let last = 'not read yet';
  while (Date.now() < deadline) {
    group.assertRunning('keda-adapter');
    const found = await api.readAPIService({ name: APISERVICE });
    const available = found.status?.conditions?.find((c) => c.type === 'Available');
    if (available?.status === 'True') return;
    last = `${available?.reason ?? '?'}: ${available?.message ?? ''}`;
    await sleep(250);
  }
  throw new Error(`the APIService ${APISERVICE} did not become Available (${last}); the end of the adapter's log:\n${group.logTail('keda-adapter')}`);
}

async function deleteApiService(kubeConfig: KubeConfig): Promise<void> {
  await kubeConfig
    .makeApiClient(ApiregistrationV1Api)
    .deleteAPIService({ name: APISERVICE })
    .catch(() => {});
}
