import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Logger } from '@lagscale/exporter';
import { microTime } from '../client/micro-time.js';

export interface KubeletStandInOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** Node name. Default `lagscale-test-node`. */
  readonly nodeName?: string;
  /** Where each container's stdout and stderr go. Default: ignored. */
  readonly output?: 'inherit' | 'ignore';
  /** Extra environment for every container (PATH and HOME are passed through). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The image's ENTRYPOINT, for containers that give only `args` (a kubelet takes it from the
   * image), e.g. `[process.execPath, '<repo>/packages/cli/dist/main.js']` for the lagscale image.
   */
  readonly entrypoint?: readonly string[];
  /**
   * Give each pod the credentials of its service account, as a kubelet does: a token from the
   * TokenRequest API, written with the API server's address and CA into a kubeconfig that
   * KUBECONFIG names (in-cluster config reads fixed paths a local process cannot have). So the
   * pod's process works with exactly the RBAC its service account was granted. Default false.
   */
  readonly serviceAccountCredentials?: boolean;
  /**
   * Changes a pod's command (entrypoint and args) before it runs. Every pod here shares the one
   * loopback network, so e.g. pods of one Deployment that all listen on a fixed port need a free
   * port each, as real pods have their own network.
   */
  readonly adjustCommand?: (pod: V1Pod, command: readonly string[]) => string[];
}

/** What a pod's process is started with, worked out once per pod (Secrets read, token requested). */
interface Launch {
  readonly command: string[];
  readonly env: Record<string, string>;
  readonly cwd: string | undefined;
}

interface RunningPod {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  child: ChildProcess | null;
  restarts: number;
  startedAt: string;
  stopping: boolean;
  exited: Promise<void>;
  /** Files of the pod's Secret volumes and its kubeconfig; removed with the pod. */
  readonly dir: string;
  launch: Launch | null;
}

/**
 * A kubelet for tests, without containers: it registers a Node, binds every unscheduled pod to it
 * (there is no scheduler either), runs each pod's first container's command as a local process,
 * reports the pod Running and Ready through the status subresource, restarts a process that exits
 * (restartPolicy Always), and on deletion sends SIGTERM, then SIGKILL after the grace period, and
 * removes the pod. With it a Deployment's pods run real `lagscale worker` processes.
 *
 * Secret volumes are written to a folder per pod and the mount path in the command, args and env
 * values is replaced by that folder (a process cannot have the real path); env from Secret keys
 * and the pod's name and namespace are filled in.
 */
export class KubeletStandIn {
  readonly nodeName: string;
  readonly #options: KubeletStandInOptions;
  readonly #core: CoreV1Api;
  readonly #coordination: CoordinationV1Api;
  readonly #pods = new Map<string, RunningPod>();
  #informer: ReturnType<typeof makeInformer<V1Pod>> | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  /** Processes started, for tests that count. */
  started = 0;

  constructor(options: KubeletStandInOptions) {
    this.#options = options;
    this.nodeName = options.nodeName ?? 'lagscale-test-node';
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#coordination = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  /** Pods whose process runs now, by `namespace/name`, with their pids. */
  running(): Map<string, number | undefined> {
    return new Map([...this.#pods].filter(([, pod]) => pod.child !== null && !pod.stopping).map(([key, pod]) => [key, pod.child?.pid]));
  }

  async start(): Promise<void> {
    await this.#registerNode();
    this.#heartbeat = setInterval(() => void this.#renewNode().catch(() => {}), 10_000);
    this.#heartbeat.unref();
    const informer = makeInformer<V1Pod>(this.#options.kubeConfig, '/api/v1/pods', () => this.#core.listPodForAllNamespaces() as never);
    this.#informer = informer;
    const enqueue = (pod: V1Pod): void => {
      this.#queue = this.#queue
        .then(() => this.#sync(pod))
        .catch((error: unknown) => {
          this.#options.logger.warn({ event: 'kubelet_sync_failed', pod: pod.metadata?.name, err: (error as Error).message }, 'kubelet stand-in: sync failed');
        });
    };
    informer.on('add', enqueue);
    informer.on('update', enqueue);
    informer.on('delete', (pod) => {
      const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
      const running = this.#pods.get(key);
      if (running !== undefined) void this.#terminate(running, 0);
    });
    informer.on('error', () => {
      setTimeout(() => {
        if (!this.#stopped) informer.start().catch(() => {});
      }, 1000).unref();
    });
    await informer.start();
  }

  /** Stops the watch and every process (SIGTERM, then SIGKILL after 10 s); pods stay in the API. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    await this.#informer?.stop();
    await this.#queue;
    await Promise.all([...this.#pods.values()].map((pod) => this.#kill(pod, 10)));
    for (const pod of this.#pods.values()) rmSync(pod.dir, { recursive: true, force: true });
  }

  async #registerNode(): Promise<void> {
    try {
      await this.#core.createNode({
        body: {
          metadata: { name: this.nodeName, labels: { 'kubernetes.io/hostname': this.nodeName, 'kubernetes.io/os': 'linux' } },
          status: { capacity: { cpu: '64', memory: '256Gi', pods: '500' }, allocatable: { cpu: '64', memory: '256Gi', pods: '500' } },
        },
      });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 409)) throw error;
    }
    await this.#renewNode();
  }

  /** Node status Ready and the node Lease renewed, so the node lifecycle controller never evicts the pods. */
  async #renewNode(): Promise<void> {
    const now = new Date();
    await this.#core.patchNodeStatus(
      {
        name: this.nodeName,
        body: {
          status: {
            conditions: [
              { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'lagscale test kubelet', lastHeartbeatTime: now, lastTransitionTime: now },
            ],
            addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    const namespace = 'kube-node-lease';
    try {
      const lease = await this.#coordination.readNamespacedLease({ name: this.nodeName, namespace });
      await this.#coordination.replaceNamespacedLease({
        name: this.nodeName,
        namespace,
        body: { metadata: lease.metadata, spec: { holderIdentity: this.nodeName, leaseDurationSeconds: 40, renewTime: microTime(now) } },
      });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
      await this.#coordination.createNamespacedLease({
        namespace,
        body: { metadata: { name: this.nodeName, namespace }, spec: { holderIdentity: this.nodeName, leaseDurationSeconds: 40, renewTime: microTime(now) } },
      });
    }
  }

  async #sync(pod: V1Pod): Promise<void> {
    if (this.#stopped) return;
    const namespace = pod.metadata?.namespace as string;
    const name = pod.metadata?.name as string;
    const key = `${namespace}/${name}`;
    const running = this.#pods.get(key);
    if (pod.metadata?.deletionTimestamp !== undefined) {
      if (running !== undefined) void this.#terminate(running, pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30);
      else await this.#forget(namespace, name);
      return;
    }
    if (pod.spec?.nodeName === undefined || pod.spec.nodeName === '') {
      await this.#core.createNamespacedPodBinding({
        name,
        namespace,
        body: { metadata: { name, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName } },
      });
      return;
    }
    if (pod.spec.nodeName !== this.nodeName || running !== undefined) return;
    const runningPod: RunningPod = {
      key,
      namespace,
      name,
      child: null,
      restarts: 0,
      startedAt: new Date().toISOString(),
      stopping: false,
      exited: Promise.resolve(),
      dir: mkdtempSync(join(tmpdir(), 'lagscale-pod-')),
      launch: null,
    };
    this.#pods.set(key, runningPod);
    try {
      runningPod.launch = await this.#prepare(runningPod, pod);
    } catch (error) {
      // Not started: forgotten, so the pod's next update tries again.
      this.#pods.delete(key);
      rmSync(runningPod.dir, { recursive: true, force: true });
      throw error;
    }
    this.#run(runningPod, pod);
  }

  /** The command and environment of the pod's first container, with its Secrets and credentials in place. */
  async #prepare(running: RunningPod, pod: V1Pod): Promise<Launch> {
    const container = pod.spec?.containers[0];
    const given = container?.command ?? [];
    const written = [...(given.length > 0 ? given : (this.#options.entrypoint ?? [])), ...(container?.args ?? [])];
    const command = this.#options.adjustCommand?.(pod, written) ?? written;
    const secrets = new Map<string, Record<string, string>>();
    const secretData = async (secretName: string): Promise<Record<string, string>> => {
      let data = secrets.get(secretName);
      if (data === undefined) {
        const secret = await this.#core.readNamespacedSecret({ name: secretName, namespace: running.namespace });
        data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
        secrets.set(secretName, data);
      }
      return data;
    };
    // Secret volumes: files under the pod's folder, and that folder in place of the mount path.
    const mounts: [string, string][] = [];
    for (const mount of container?.volumeMounts ?? []) {
      const volume = pod.spec?.volumes?.find((v) => v.name === mount.name);
      if (volume?.secret?.secretName === undefined) continue;
      const data = await secretData(volume.secret.secretName);
      const local = join(running.dir, 'volumes', mount.name);
      const items = volume.secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
      for (const item of items) {
        const value = data[item.key];
        if (value === undefined) throw new Error(`pod ${running.key}: Secret ${volume.secret.secretName} has no key ${item.key}`);
        await mkdir(dirname(join(local, item.path)), { recursive: true });
        await writeFile(join(local, item.path), value, { mode: 0o600 });
      }
      mounts.push([mount.mountPath.replace(/\/+$/, ''), local]);
    }
    const localPath = (value: string): string => {
      for (const [mountPath, local] of mounts) if (value === mountPath || value.startsWith(`${mountPath}/`)) return local + value.slice(mountPath.length);
      return value;
    };
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...this.#options.env };
    for (const variable of container?.env ?? []) {
      const from = variable.valueFrom;
      if (variable.value !== undefined) env[variable.name] = localPath(variable.value);
      else if (from?.fieldRef?.fieldPath === 'metadata.name') env[variable.name] = running.name;
      else if (from?.fieldRef?.fieldPath === 'metadata.namespace') env[variable.name] = running.namespace;
      else if (from?.secretKeyRef !== undefined) {
        const value = (await secretData(from.secretKeyRef.name as string))[from.secretKeyRef.key];
        if (value !== undefined) env[variable.name] = value;
        else if (from.secretKeyRef.optional !== true)
          throw new Error(`pod ${running.key}: Secret ${from.secretKeyRef.name} has no key ${from.secretKeyRef.key}`);
      }
    }
    if (this.#options.serviceAccountCredentials === true && pod.spec?.automountServiceAccountToken !== false)
      env.KUBECONFIG = await this.#serviceAccountKubeconfig(running, pod.spec?.serviceAccountName ?? 'default');
    return { command: command.map(localPath), env, cwd: container?.workingDir };
  }

  /** A kubeconfig with a token of the pod's service account (TokenRequest), as the pod's credentials. */
  async #serviceAccountKubeconfig(running: RunningPod, serviceAccount: string): Promise<string> {
    const request = await this.#core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace: running.namespace,
      // No audiences: the API server's own (a token for it, as the one a kubelet mounts).
      body: { spec: { audiences: [], expirationSeconds: 24 * 3600 } },
    });
    const cluster = this.#options.kubeConfig.getCurrentCluster();
    if (cluster === null) throw new Error('kubelet stand-in: its kubeconfig has no current cluster');
    const file = join(running.dir, 'kubeconfig');
    const user = `system:serviceaccount:${running.namespace}:${serviceAccount}`;
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'cluster',
            cluster: {
              server: cluster.server,
              ...(cluster.caData !== undefined ? { 'certificate-authority-data': cluster.caData } : {}),
              ...(cluster.caFile !== undefined ? { 'certificate-authority': cluster.caFile } : {}),
            },
          },
        ],
        users: [{ name: user, user: { token: request.status?.token } }],
        contexts: [{ name: 'pod', context: { cluster: 'cluster', user, namespace: running.namespace } }],
        'current-context': 'pod',
      }),
      { mode: 0o600 },
    );
    return file;
  }

  #run(running: RunningPod, pod: V1Pod): void {
    const launch = running.launch;
    if (launch === null || launch.command.length === 0) {
      this.#options.logger.warn({ event: 'kubelet_no_command', pod: running.key }, 'pod has no command: nothing to run');
      return;
    }
    const [program, ...args] = launch.command as [string, ...string[]];
    const output = this.#options.output ?? 'ignore';
    const child = spawn(program, args, { env: launch.env, cwd: launch.cwd, stdio: ['ignore', output, output] });
    running.child = child;
    this.started++;
    running.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        running.child = null;
        resolve();
        if (running.stopping || this.#stopped) return;
        // restartPolicy Always: the container comes back, after a short backoff.
        running.restarts++;
        this.#options.logger.warn({ event: 'kubelet_container_exited', pod: running.key, code, signal }, 'container exited; restarting it');
        void this.#patchStatus(running, false).catch(() => {});
        setTimeout(
          () => {
            if (!running.stopping && !this.#stopped) this.#run(running, pod);
          },
          Math.min(10_000, 500 * running.restarts),
        ).unref();
      });
      child.once('error', () => resolve());
    });
    const reportFailure = (error: Error): void =>
      this.#options.logger.warn({ event: 'kubelet_status_failed', pod: running.key, err: error.message }, 'cannot report the pod status');
    // A readiness probe's initialDelaySeconds is honoured (the probe itself is not run): Running
    // but not Ready until then, as a real kubelet reports a pod whose probe has not passed yet.
    const readyAfterSeconds = pod.spec?.containers?.[0]?.readinessProbe?.initialDelaySeconds ?? 0;
    if (readyAfterSeconds <= 0) {
      void this.#patchStatus(running, true).catch(reportFailure);
      return;
    }
    void this.#patchStatus(running, false).catch(reportFailure);
    setTimeout(() => {
      if (running.child === child && !running.stopping && !this.#stopped) void this.#patchStatus(running, true).catch(reportFailure);
    }, readyAfterSeconds * 1000).unref();
  }

  async #patchStatus(running: RunningPod, ready: boolean): Promise<void> {
    const now = new Date();
    const status = ready ? 'True' : 'False';
    await this.#core.patchNamespacedPodStatus(
      {
        name: running.name,
        namespace: running.namespace,
        body: {
          status: {
            phase: 'Running',
            hostIP: '127.0.0.1',
            podIP: '127.0.0.1',
            podIPs: [{ ip: '127.0.0.1' }],
            startTime: new Date(running.startedAt),
            conditions: [
              { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
              { type: 'Initialized', status: 'True', lastTransitionTime: now },
              { type: 'ContainersReady', status, lastTransitionTime: now },
              { type: 'Ready', status, lastTransitionTime: now },
            ],
            containerStatuses: [
              {
                name: 'main',
                image: 'lagscale',
                imageID: '',
                ready,
                restartCount: running.restarts,
                started: ready,
                state: ready ? { running: { startedAt: now } } : { waiting: { reason: 'CrashLoopBackOff' } },
              },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  }

  /** Deletion: SIGTERM, SIGKILL after the grace period, then the pod is removed from the API. */
  async #terminate(running: RunningPod, graceSeconds: number): Promise<void> {
    if (running.stopping) return;
    await this.#kill(running, graceSeconds);
    this.#pods.delete(running.key);
    rmSync(running.dir, { recursive: true, force: true });
    await this.#forget(running.namespace, running.name);
  }

  async #kill(running: RunningPod, graceSeconds: number): Promise<void> {
    running.stopping = true;
    const child = running.child;
    if (child === null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(0, graceSeconds) * 1000);
    await running.exited;
    clearTimeout(timer);
  }

  async #forget(namespace: string, name: string): Promise<void> {
    try {
      await this.#core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
    }
  }
}
