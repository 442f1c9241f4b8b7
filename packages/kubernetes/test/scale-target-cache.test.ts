import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '@lagscale/exporter';
import {
  type InformedWorkload,
  KubernetesScaleTarget,
  labelSelectorString,
  type ScaleTargetCounters,
  ScaleTargetError,
  type WorkloadCache,
  type WorkloadInformers,
} from '@lagscale/kubernetes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The target's reads from a workload cache, without a cluster: an API stand-in answers discovery
 * and the PATCH of /scale (with the resourceVersion the write made); the cache is a plain object
 * the test moves by hand, behind or past the writes.
 */
describe('KubernetesScaleTarget reading a workload cache', () => {
  let server: Server;
  let kubeConfig: KubeConfig;
  const patches: { path: string; body: unknown }[] = [];
  let nextVersion = 11;
  const requests: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests.push(`${request.method} ${request.url}`);
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        response.setHeader('content-type', 'application/json');
        if (request.method === 'GET' && request.url === '/apis/apps/v1') {
          response.end(
            JSON.stringify({
              kind: 'APIResourceList',
              groupVersion: 'apps/v1',
              resources: [{ name: 'deployments', namespaced: true, kind: 'Deployment', verbs: ['get', 'list', 'watch', 'patch'] }],
            }),
          );
          return;
        }
        if (request.method === 'PATCH' && request.url?.endsWith('/scale')) {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spec: { replicas: number } };
          patches.push({ path: request.url, body });
          response.end(JSON.stringify({ kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { resourceVersion: String(nextVersion++) }, spec: body.spec }));
          return;
        }
        response.statusCode = 404;
        response.end(JSON.stringify({ kind: 'Status', code: 404, message: 'not here' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'stand-in', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'nobody' }],
      contexts: [{ name: 'stand-in', cluster: 'stand-in', user: 'nobody' }],
      currentContext: 'stand-in',
    });
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  /** A cache of one Deployment the test sets by hand; `undefined` when it is absent. */
  function fakeInformers(): { informers: WorkloadInformers; set: (workload: InformedWorkload | undefined) => void; released: () => number } {
    let current: InformedWorkload | undefined;
    let released = 0;
    const cache: WorkloadCache = {
      kind: 'Deployment',
      synced: true,
      failure: null,
      waitForSync: async () => {},
      get: (namespace, name) => (current?.metadata?.namespace === namespace && current.metadata.name === name ? current : undefined),
      release: () => {
        released++;
      },
    };
    return {
      informers: { acquire: () => cache } as unknown as WorkloadInformers,
      set: (workload) => {
        current = workload;
      },
      released: () => released,
    };
  }

  const deployment = (resourceVersion: string, replicas: number, ready = 0): InformedWorkload => ({
    metadata: { name: 'web', namespace: 'shop', resourceVersion },
    spec: { replicas, selector: { matchLabels: { app: 'web', tier: 'front' } } },
    status: { replicas, readyReplicas: ready },
  });

  function target(informers: WorkloadInformers, warnings: Record<string, unknown>[], counters: ScaleTargetCounters) {
    const logger = createLogger('scale-target-cache-test', 'warn');
    const warn = logger.warn.bind(logger);
    logger.warn = ((first: unknown, ...rest: unknown[]) => {
      if (typeof first === 'object' && first !== null) warnings.push(first as Record<string, unknown>);
      return (warn as (...args: unknown[]) => void)(first, ...rest);
    }) as typeof logger.warn;
    return new KubernetesScaleTarget({ kubeConfig, namespace: 'shop', ref: { name: 'web' }, logger, informers, counters, attempts: 1 });
  }

  it('reads spec.replicas, status and the selector from the cache, with no request', async () => {
    const { informers, set, released } = fakeInformers();
    const counters = { scaleReads: 0, cacheReads: 0, podLists: 0 };
    const scaleTarget = target(informers, [], counters);
    set(deployment('10', 4, 3));
    const before = requests.length;
    expect(await scaleTarget.read()).toEqual({ replicas: 4, statusReplicas: 4, selector: 'app=web,tier=front', readyReplicas: 3, resourceVersion: '10' });
    expect(await scaleTarget.readyReplicas()).toBe(3);
    expect(requests.length).toBe(before);
    expect(counters).toEqual({ scaleReads: 0, cacheReads: 2, podLists: 0 });
    await scaleTarget.close();
    expect(released()).toBe(1);
  });

  it('a workload absent from the synced cache is not_found, with the message a GET of /scale gives', async () => {
    const { informers, set } = fakeInformers();
    const scaleTarget = target(informers, [], { scaleReads: 0, cacheReads: 0, podLists: 0 });
    set(undefined);
    const error = await scaleTarget.read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScaleTargetError);
    expect(error).toMatchObject({
      reason: 'not_found',
      message: 'kubernetes:deployment/shop/web: cannot read the scale of Deployment "web" in namespace "shop": it does not exist (check scaleTargetRef.name)',
    });
  });

  it('takes its own writes while the cache is behind them, and warns only when someone else changed replicas', async () => {
    const { informers, set } = fakeInformers();
    const warnings: Record<string, unknown>[] = [];
    const scaleTarget = target(informers, warnings, { scaleReads: 0, cacheReads: 0, podLists: 0 });
    nextVersion = 11;
    set(deployment('10', 4));
    expect(await scaleTarget.currentReplicas()).toBe(4);
    await scaleTarget.setReplicas(8); // makes version 11
    expect(patches.at(-1)?.body).toEqual({ spec: { replicas: 8 } });
    // The cache has not seen the write yet: 8, not 4, and no warning.
    expect(await scaleTarget.currentReplicas()).toBe(8);
    // A second write before the cache moves (version 12), then the cache catches up one write at a time.
    await scaleTarget.setReplicas(9);
    expect(await scaleTarget.currentReplicas()).toBe(9);
    set(deployment('11', 8));
    expect(await scaleTarget.currentReplicas()).toBe(9);
    set(deployment('12', 9));
    expect(await scaleTarget.currentReplicas()).toBe(9);
    expect(warnings.filter((w) => w.event === 'replicas_changed_elsewhere')).toEqual([]);
    // Someone else sets 3: the cache moved past every version of ours; that is said once.
    set(deployment('13', 3));
    expect(await scaleTarget.currentReplicas()).toBe(3);
    expect(await scaleTarget.currentReplicas()).toBe(3);
    expect(warnings.filter((w) => w.event === 'replicas_changed_elsewhere')).toEqual([
      expect.objectContaining({ written: 9, found: 3, target: 'kubernetes:deployment/shop/web' }),
    ]);
  });

  it('turns a selector into the string the scale subresource gives', () => {
    expect(labelSelectorString(undefined)).toBe('');
    expect(labelSelectorString({ matchLabels: { b: '2', a: '1' } })).toBe('a=1,b=2');
    expect(
      labelSelectorString({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['front', 'back'] },
          { key: 'canary', operator: 'DoesNotExist' },
          { key: 'zone', operator: 'NotIn', values: ['b', 'a'] },
          { key: 'ready', operator: 'Exists' },
        ],
      }),
    ).toBe('app=web,!canary,ready,tier in (back,front),zone notin (a,b)');
  });
});
