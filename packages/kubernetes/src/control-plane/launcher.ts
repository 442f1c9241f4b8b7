import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ControlPlaneBinaries, resolveControlPlaneBinaries } from './binaries.js';
import { type ControlPlaneCertificates, makeControlPlaneCertificates } from './certificates.js';
import { writeKubeconfig } from './kubeconfig.js';
import { ProcessGroup, type SupervisedProcess } from './processes.js';

export interface ControlPlaneOptions {
  /** Kubernetes release, e.g. v1.37.2 (default). */
  readonly version?: string;
  /** etcd release, e.g. v3.7.3 (default). */
  readonly etcdVersion?: string;
  readonly cacheDir?: string;
  /** Called with one human line per step; the first use builds the binaries (minutes). */
  readonly onProgress?: (line: string) => void;
  /** Time from spawning etcd until the controller manager is healthy; default 120 s. */
  readonly startTimeoutMs?: number;
  /** Extra kube-apiserver flags, e.g. `['--feature-gates=...']`; later ones win. */
  readonly apiServerArgs?: readonly string[];
  /** Extra kube-controller-manager flags. */
  readonly controllerManagerArgs?: readonly string[];
}

/** A running etcd, kube-apiserver and kube-controller-manager on loopback ports (no nodes, no kubelet). */
export interface ControlPlane {
  readonly kubernetesVersion: string;
  /** API server URL, https://127.0.0.1:<port>. */
  readonly server: string;
  /** An admin (system:masters) kubeconfig with its certificates embedded. */
  readonly kubeconfigPath: string;
  /** PEM text of the cluster CA and of the admin client certificate and key. */
  readonly caPem: string;
  readonly adminCertPem: string;
  readonly adminKeyPem: string;
  /** Every certificate's path; the front-proxy CA and client are what an aggregated API server needs. */
  readonly certificates: ControlPlaneCertificates;
  /** The temporary folder holding certificates, etcd's data and the logs; removed on stop. */
  readonly dir: string;
  readonly processes: readonly SupervisedProcess[];
  /** Stops the controller manager, the API server and etcd, and removes `dir`. Safe to call twice. */
  stop(): Promise<void>;
}

/** `count` distinct free loopback ports (free when asked: a port can be taken again before use). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
          }),
      ),
    );
  } finally {
    for (const server of servers) server.close();
  }
}

export interface TlsFiles {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** The CA, client certificate and key of {@link TlsFiles}, read. */
interface TlsCredentials {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

async function readTlsFiles(tls: TlsFiles): Promise<TlsCredentials> {
  const [ca, cert, key] = await Promise.all([readFile(tls.ca), tls.cert ? readFile(tls.cert) : undefined, tls.key ? readFile(tls.key) : undefined]);
  return { ca, cert, key };
}

/**
 * GET, over TLS with a client certificate when `tls` is given (plain HTTP otherwise); resolves with
 * the status and body, or rejects on a connection error.
 */
function httpGet(url: string, tls: TlsCredentials | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options = { ...tls, agent: false, timeout: 2000 };
    const req = (tls === null ? httpRequest : httpsRequest)(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 2 s')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls `url` (over TLS with `tls`, plain HTTP when null) until it answers 200 and `healthy(body)`,
 * failing early if `name` exits. The last answer or connection error goes into the timeout's message.
 */
export async function waitHealthy(
  group: ProcessGroup,
  name: string,
  url: string,
  tls: TlsFiles | null,
  deadline: number,
  healthy: (body: string) => boolean = () => true,
): Promise<void> {
  const credentials = tls === null ? null : await readTlsFiles(tls);
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    group.assertRunning(name);
    try {
      const { status, body } = await httpGet(url, credentials);
      if (status === 200 && healthy(body)) return;
      last = `HTTP ${status}: ${body.trim().split('\n').slice(-8).join(' | ')}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(200);
  }
  group.assertRunning(name);
  throw new Error(`${name} was not healthy at ${url} in time (last: ${last}); the end of its log:\n${group.logTail(name)}`);
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager on free loopback ports with fresh
 * certificates in a temporary folder, and waits until the API server is ready and the
 * controller manager healthy. Builds or reuses the binaries in the per-user cache first.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const progress = options.onProgress ?? (() => {});
  const binaries = await resolveControlPlaneBinaries({
    ...(options.version ? { version: options.version } : {}),
    ...(options.etcdVersion ? { etcdVersion: options.etcdVersion } : {}),
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    onProgress: progress,
  });
  const dir = await mkdtemp(join(tmpdir(), 'lagscale-kube-'));
  const group = new ProcessGroup(dir);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await group.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const started = Date.now();
    const certificates = await makeControlPlaneCertificates(await mkdirp(join(dir, 'pki')));
    const controlPlane = await launch(binaries, certificates, group, dir, options, progress);
    progress(`Kubernetes ${binaries.kubernetesVersion} control plane ready at ${controlPlane.server} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return { ...controlPlane, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function mkdirp(path: string): Promise<string> {
  await mkdir(path, { recursive: true });
  return path;
}

async function launch(
  binaries: ControlPlaneBinaries,
  pki: ControlPlaneCertificates,
  group: ProcessGroup,
  dir: string,
  options: ControlPlaneOptions,
  progress: (line: string) => void,
): Promise<Omit<ControlPlane, 'stop'>> {
  const [etcdPort, etcdPeerPort, apiServerPort, controllerManagerPort] = (await freePorts(4)) as [number, number, number, number];
  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
  const logs = await mkdirp(join(dir, 'logs'));

  const etcdUrl = `https://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
  progress(`starting etcd ${binaries.etcdVersion}, kube-apiserver and kube-controller-manager in ${dir}`);
  group.spawn(
    'etcd',
    binaries.etcd,
    [
      '--name=lagscale',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=lagscale=${peerUrl}`,
      `--cert-file=${pki.etcdServing.cert}`,
      `--key-file=${pki.etcdServing.key}`,
      `--trusted-ca-file=${pki.ca.cert}`,
      '--client-cert-auth',
      // Test data: losing it in a power cut is fine, and fsync dominates etcd's latency here.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    join(logs, 'etcd.log'),
  );
  const etcdClient = { ca: pki.ca.cert, cert: pki.apiServerEtcdClient.cert, key: pki.apiServerEtcdClient.key };
  await waitHealthy(group, 'etcd', `${etcdUrl}/health`, etcdClient, deadline, (body) => body.includes('"health":"true"'));

  const server = `https://127.0.0.1:${apiServerPort}`;
  group.spawn(
    'kube-apiserver',
    binaries.kubeApiserver,
    [
      `--etcd-servers=${etcdUrl}`,
      `--etcd-cafile=${pki.ca.cert}`,
      `--etcd-certfile=${pki.apiServerEtcdClient.cert}`,
      `--etcd-keyfile=${pki.apiServerEtcdClient.key}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiServerPort}`,
      `--tls-cert-file=${pki.apiServerServing.cert}`,
      `--tls-private-key-file=${pki.apiServerServing.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccount.publicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccount.privateKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      // The default reconciler refuses a loopback advertise address (and there is one API server).
      '--endpoint-reconciler-type=none',
      // Aggregation: the API server proxies to aggregated API servers as front-proxy-client.
      `--requestheader-client-ca-file=${pki.frontProxyCa.cert}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${pki.frontProxyClient.cert}`,
      `--proxy-client-key-file=${pki.frontProxyClient.key}`,
      `--cert-dir=${join(dir, 'apiserver')}`,
      '--profiling=false',
      ...(options.apiServerArgs ?? []),
    ],
    join(logs, 'kube-apiserver.log'),
  );
  const admin = { ca: pki.ca.cert, cert: pki.adminClient.cert, key: pki.adminClient.key };
  await waitHealthy(group, 'kube-apiserver', `${server}/readyz`, admin, deadline, (body) => body.trim() === 'ok');

  const kubeconfigPath = await writeKubeconfig(join(dir, 'admin.kubeconfig'), {
    server,
    caCertPath: pki.ca.cert,
    clientCertPath: pki.adminClient.cert,
    clientKeyPath: pki.adminClient.key,
  });
  const controllerManagerKubeconfig = await writeKubeconfig(join(dir, 'kube-controller-manager.kubeconfig'), {
    server,
    caCertPath: pki.ca.cert,
    clientCertPath: pki.controllerManagerClient.cert,
    clientKeyPath: pki.controllerManagerClient.key,
    name: 'kube-controller-manager',
  });
  group.spawn(
    'kube-controller-manager',
    binaries.kubeControllerManager,
    [
      `--kubeconfig=${controllerManagerKubeconfig}`,
      `--authentication-kubeconfig=${controllerManagerKubeconfig}`,
      `--authorization-kubeconfig=${controllerManagerKubeconfig}`,
      '--leader-elect=false',
      // Each controller acts as its own service account, as in a real cluster (RBAC per controller).
      '--use-service-account-credentials',
      `--service-account-private-key-file=${pki.serviceAccount.privateKey}`,
      `--root-ca-file=${pki.ca.cert}`,
      `--cluster-signing-cert-file=${pki.ca.cert}`,
      `--cluster-signing-key-file=${pki.ca.key}`,
      '--horizontal-pod-autoscaler-sync-period=5s',
      '--bind-address=127.0.0.1',
      `--secure-port=${controllerManagerPort}`,
      `--tls-cert-file=${pki.controllerManagerServing.cert}`,
      `--tls-private-key-file=${pki.controllerManagerServing.key}`,
      '--controllers=*',
      '--profiling=false',
      ...(options.controllerManagerArgs ?? []),
    ],
    join(logs, 'kube-controller-manager.log'),
  );
  await waitHealthy(
    group,
    'kube-controller-manager',
    `https://127.0.0.1:${controllerManagerPort}/healthz`,
    { ca: pki.ca.cert },
    deadline,
    (body) => body.trim() === 'ok',
  );

  const [caPem, adminCertPem, adminKeyPem] = await Promise.all([
    readFile(pki.ca.cert, 'utf8'),
    readFile(pki.adminClient.cert, 'utf8'),
    readFile(pki.adminClient.key, 'utf8'),
  ]);
  return {
    kubernetesVersion: binaries.kubernetesVersion,
    server,
    kubeconfigPath,
    caPem,
    adminCertPem,
    adminKeyPem,
    certificates: pki,
    dir,
    processes: group.processes,
  };
}
