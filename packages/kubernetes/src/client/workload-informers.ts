import { AppsV1Api, type Informer, type KubeConfig, makeInformer, type ObjectCache, type V1LabelSelector } from '@kubernetes/client-node';
import type { Logger } from '@lagscale/exporter';

/** The workload kinds read from an informer's cache; any other kind is read through its /scale. */
export type InformedKind = 'Deployment' | 'StatefulSet';

/** What a scale target needs of a Deployment or StatefulSet. */
export interface InformedWorkload {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly resourceVersion?: string };
  readonly spec?: { readonly replicas?: number; readonly selector?: V1LabelSelector };
  readonly status?: { readonly replicas?: number; readonly readyReplicas?: number };
}

type WorkloadInformer = Informer<InformedWorkload & { metadata: { name: string } }> & ObjectCache<InformedWorkload>;

interface Entry {
  readonly informer: WorkloadInformer;
  users: number;
  /** The first list arrived. */
  synced: boolean;
  /** When the list or watch began failing (ms), null while it works. */
  failingSince: number | null;
  stopped: boolean;
  /** Why the list or watch failed last. */
  failure: Error | null;
  /** A refusal (403) was logged: the retries that meet it again stay quiet. */
  saidForbidden: boolean;
  /** Readers waiting for the first list (or its failure). */
  waiting: (() => void)[];
}

/** A synced cache whose watch has failed this long is no longer read: reads go to /scale. */
const STALE_AFTER_MS = 30_000;

/** The informed kind of `apiVersion`/`kind`, or null for a kind read through /scale. */
export function informedKind(apiVersion: string, kind: string): InformedKind | null {
  return apiVersion === 'apps/v1' && (kind === 'Deployment' || kind === 'StatefulSet') ? kind : null;
}

/**
 * One shared informer (a list, then a watch) per workload kind in use, cluster-wide or in one
 * namespace, so a scale target reads spec.replicas, status and the selector from memory instead
 * of one GET of /scale per cycle. Started with the first user, stopped with the last. Until a
 * cache has synced (or when its watch has been down for 30 s, or RBAC refuses list/watch) a
 * target reads /scale as before.
 */
export class WorkloadInformers {
  readonly #kubeConfig: KubeConfig;
  readonly #apps: AppsV1Api;
  readonly #namespace: string | undefined;
  readonly #logger: Logger;
  readonly #entries = new Map<InformedKind, Entry>();

  constructor(options: { readonly kubeConfig: KubeConfig; readonly namespace?: string; readonly logger: Logger }) {
    this.#kubeConfig = options.kubeConfig;
    this.#apps = options.kubeConfig.makeApiClient(AppsV1Api);
    this.#namespace = options.namespace;
    this.#logger = options.logger;
  }

  /** Kinds with a running informer. */
  get kinds(): InformedKind[] {
    return [...this.#entries.keys()];
  }

  acquire(kind: InformedKind): WorkloadCache {
    let entry = this.#entries.get(kind);
    if (entry === undefined) {
      entry = this.#start(kind);
      this.#entries.set(kind, entry);
    }
    entry.users++;
    const found = entry;
    let released = false;
    return {
      kind,
      get synced() {
        // As client-go's informers: a cache that has synced stays in use while its watch
        // reconnects (seconds behind at worst); only a watch down for long sends reads to /scale.
        return found.synced && !found.stopped && (found.failingSince === null || Date.now() - found.failingSince < STALE_AFTER_MS);
      },
      get failure() {
        return found.failure;
      },
      get: (namespace, name) => found.informer.get(name, namespace),
      // As client-go's WaitForCacheSync: the first reads wait for the list instead of each sending
      // a GET of /scale (a thousand targets starting at once would fill the rate limit for 20 s).
      waitForSync: (timeoutMs) => {
        if (found.synced || found.failure !== null || found.stopped) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          timer.unref();
          found.waiting.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      },
      release: () => {
        if (released) return;
        released = true;
        this.#release(kind, found);
      },
    };
  }

  async close(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) {
      entry.stopped = true;
      await entry.informer.stop();
    }
  }

  #release(kind: InformedKind, entry: Entry): void {
    entry.users--;
    if (entry.users > 0 || this.#entries.get(kind) !== entry) return;
    this.#entries.delete(kind);
    entry.stopped = true;
    for (const resolve of entry.waiting.splice(0)) resolve();
    void entry.informer.stop();
  }

  #start(kind: InformedKind): Entry {
    const namespace = this.#namespace;
    const plural = kind === 'Deployment' ? 'deployments' : 'statefulsets';
    const path = namespace === undefined ? `/apis/apps/v1/${plural}` : `/apis/apps/v1/namespaces/${namespace}/${plural}`;
    const list = async () => {
      if (kind === 'Deployment')
        return namespace === undefined ? this.#apps.listDeploymentForAllNamespaces() : this.#apps.listNamespacedDeployment({ namespace });
      return namespace === undefined ? this.#apps.listStatefulSetForAllNamespaces() : this.#apps.listNamespacedStatefulSet({ namespace });
    };
    const informer = makeInformer<InformedWorkload & { metadata: { name: string } }>(this.#kubeConfig, path, list as never) as WorkloadInformer;
    const entry: Entry = { informer, users: 0, synced: false, failingSince: null, stopped: false, failure: null, saidForbidden: false, waiting: [] };
    const wake = (): void => {
      for (const resolve of entry.waiting.splice(0)) resolve();
    };
    const run = async (): Promise<void> => {
      if (entry.stopped) return;
      entry.failure = null;
      await informer.start();
      // start() resolves after the list and the watch's opening; a failure of either went to 'error'.
      if (entry.failure === null && !entry.stopped) {
        entry.synced = true;
        entry.failingSince = null;
      }
      wake();
    };
    const retry = (delay: number): void => {
      setTimeout(() => {
        run().catch(() => {});
      }, delay).unref();
    };
    informer.on('error', (error) => {
      entry.failingSince ??= Date.now();
      wake();
      entry.failure = error instanceof Error ? error : new Error(String(error));
      if (entry.stopped) return;
      const code = (error as { code?: number; statusCode?: number }).code ?? (error as { statusCode?: number }).statusCode;
      // Forbidden: RBAC will not change soon; try again now and then, reading /scale meanwhile.
      const delay = code === 403 ? 60_000 : 1000;
      const why =
        code === 403
          ? `forbidden: grant the controller's service account list and watch on ${plural}.apps${namespace === undefined ? '' : ` in ${namespace}`}`
          : apiMessage(error);
      if (code === 403 && entry.saidForbidden) {
        retry(delay);
        return;
      }
      entry.saidForbidden = code === 403;
      this.#logger.warn(
        { event: 'workload_watch_failed', kind, status: code ?? null, err: why, retryInSeconds: delay / 1000 },
        `cannot list or watch ${plural} (${why}); reading each ${kind} through /scale every cycle until it can, trying again in ${delay / 1000} s`,
      );
      retry(delay);
    });
    run().catch(() => {});
    this.#logger.info({ event: 'workload_informer_started', kind, namespace: namespace ?? null }, `watching ${plural}`);
    return entry;
  }
}

/** The API server's own message of a failed request (its Status body), else the error's. */
function apiMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string')
    try {
      const message = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof message === 'string') return message;
    } catch {}
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error);
}

/** One user's handle on a kind's cache. */
export interface WorkloadCache {
  readonly kind: InformedKind;
  /** The cache holds a full list kept current by a watch: an absent workload does not exist. */
  readonly synced: boolean;
  readonly failure: Error | null;
  get(namespace: string, name: string): InformedWorkload | undefined;
  /** Resolves when the first list is in, or has failed, or after `timeoutMs`. */
  waitForSync(timeoutMs: number): Promise<void>;
  release(): void;
}

/**
 * A label selector as the scale subresource gives it (metav1.LabelSelectorAsSelector's String):
 * requirements sorted by key, `k=v` for matchLabels, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
 */
export function labelSelectorString(selector: V1LabelSelector | undefined): string {
  if (selector === undefined) return '';
  const requirements: [string, string][] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) requirements.push([key, `${key}=${value}`]);
  for (const expression of selector.matchExpressions ?? []) {
    const values = [...(expression.values ?? [])].sort().join(',');
    switch (expression.operator) {
      case 'In':
        requirements.push([expression.key, `${expression.key} in (${values})`]);
        break;
      case 'NotIn':
        requirements.push([expression.key, `${expression.key} notin (${values})`]);
        break;
      case 'Exists':
        requirements.push([expression.key, expression.key]);
        break;
      case 'DoesNotExist':
        requirements.push([expression.key, `!${expression.key}`]);
        break;
      default:
        requirements.push([expression.key, `${expression.key} ${expression.operator} (${values})`]);
    }
  }
  return requirements
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([, text]) => text)
    .join(',');
}
