import { EventEmitter } from 'node:events';
import { LocalProcessPool } from '@lagscale/autoscaler';
import { createLogger, registerLagRoutes } from '@lagscale/exporter';
import type { LagMonitor } from '@lagscale/kafka';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-support/kafka.js';

const logger = createLogger('test-pool', 'silent');
// A worker that drains for `drainMs` after SIGTERM (or never, with -1), then exits 0.
const worker = (drainMs: number): string[] => [
  process.execPath,
  '-e',
  `setInterval(() => {}, 1000); process.on('SIGTERM', () => { if (${drainMs} >= 0) setTimeout(() => process.exit(0), ${drainMs}); });`,
];

// Let the workers install their SIGTERM handlers before they are asked to drain: Node starts in
// ~100 ms on a quiet machine, but one CI run with both lanes busy took longer than 400 ms.
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 2_000));

describe('LocalProcessPool', () => {
  it('scales out and in, newest first, and waits for drains', async () => {
    const pool = new LocalProcessPool({ command: worker(200), logger, output: 'ignore', drainTimeoutSeconds: 5 });
    const exits: { id: number; code: number | null; expected: boolean }[] = [];
    pool.on('worker-exit', (e) => exits.push(e));
    try {
      await pool.setReplicas(3);
      expect(await pool.currentReplicas()).toBe(3);
      await settle();
      const ids = pool.workers().map((w) => w.id);
      await pool.setReplicas(1);
      expect(await pool.currentReplicas()).toBe(1);
      expect(pool.workers().filter((w) => w.state === 'draining')).toHaveLength(2);
      await waitFor('drained workers to exit', async () => exits.length === 2, 5000, 50);
      expect(exits.map((e) => e.id).sort()).toEqual(ids.slice(1).sort());
      expect(exits.every((e) => e.code === 0 && e.expected)).toBe(true);
      expect(pool.workers().map((w) => w.id)).toEqual([ids[0]]);
    } finally {
      await pool.close();
    }
  });

  it('SIGKILLs a worker that does not drain within the timeout', async () => {
    const pool = new LocalProcessPool({ command: worker(-1), logger, output: 'ignore', drainTimeoutSeconds: 0.5 });
    const exits: { signal: NodeJS.Signals | null }[] = [];
    pool.on('worker-exit', (e) => exits.push(e));
    await pool.setReplicas(1);
    await settle();
    const started = Date.now();
    await pool.close();
    expect(exits[0]?.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it('replaces a worker that dies unasked', async () => {
    const pool = new LocalProcessPool({ command: worker(0), logger, output: 'ignore', restartDelaySeconds: 0.1 });
    try {
      await pool.setReplicas(2);
      const [victim] = pool.workers();
      process.kill(victim?.pid as number, 'SIGKILL');
      await waitFor('a replacement worker', async () => pool.workers().length === 2 && !pool.workers().some((w) => w.id === victim?.id), 5000, 50);
      expect(await pool.currentReplicas()).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('reports a crash loop and an absence of workers in its health, and /healthz and /readyz answer 503 for them', async () => {
    // A worker that dies at once: the pool replaces it again and again.
    const crashing = new LocalProcessPool({ command: [process.execPath, '-e', 'process.exit(3)'], logger, output: 'ignore', restartDelaySeconds: 0.05 });
    // Only what the health routes read of a lag monitor: a collection that just succeeded.
    const monitor = Object.assign(new EventEmitter(), {
      latest: { time: Date.now(), groups: [], errors: [] },
      intervalMs: 1000,
      lastSuccess: Date.now(),
      counters: { cycles: 1, failedCycles: 0 },
      lastError: null,
    });
    const app = Fastify();
    const check = () => {
      const health = crashing.health();
      return { ok: health.status !== 'crashing', ready: health.status === 'ok', ...health };
    };
    registerLagRoutes(app, { monitor: monitor as unknown as LagMonitor, components: [{ name: 'workers', check }] });
    try {
      expect(crashing.health()).toMatchObject({ status: 'ok', desired: 0, running: 0, recentCrashes: 0 });
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      await crashing.setReplicas(1);
      await waitFor('three crashes', async () => crashing.health().recentCrashes >= 3, 10_000, 20);
      expect(crashing.health()).toMatchObject({ status: 'crashing', desired: 1, lastCrash: { code: 3 } });
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ status: 'failing', components: { workers: { ok: false, status: 'crashing' } } });
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    } finally {
      await crashing.close();
      await app.close();
    }
    // Wanted and none running (all stopped by someone else): not ready, but alive.
    const absent = new LocalProcessPool({ command: worker(0), logger, output: 'ignore', restartDelaySeconds: 30 });
    try {
      await absent.setReplicas(1);
      await settle();
      process.kill(absent.workers()[0]?.pid as number, 'SIGKILL');
      await waitFor('the worker to be gone', async () => absent.workers().length === 0, 5000, 20);
      expect(absent.health()).toMatchObject({ status: 'absent', desired: 1, running: 0, recentCrashes: 1 });
    } finally {
      await absent.close();
    }
  });

  it('refuses an empty command and a negative replica count', async () => {
    expect(() => new LocalProcessPool({ command: [], logger })).toThrow(/command is empty/);
    const pool = new LocalProcessPool({ command: worker(0), logger, output: 'ignore' });
    await expect(pool.setReplicas(-1)).rejects.toThrow(/whole number/);
    await pool.close();
  });
});
