import { LocalProcessPool } from '@lagscale/autoscaler';
import { createLogger } from '@lagscale/exporter';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-support/kafka.js';

const logger = createLogger('test-pool', 'silent');
// A worker that drains for `drainMs` after SIGTERM (or never, with -1), then exits 0.
const worker = (drainMs: number): string[] => [
  process.execPath,
  '-e',
  `setInterval(() => {}, 1000); process.on('SIGTERM', () => { if (${drainMs} >= 0) setTimeout(() => process.exit(0), ${drainMs}); });`,
];

// Let the workers install their SIGTERM handlers before they are asked to drain.
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 400));

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

  it('refuses an empty command and a negative replica count', async () => {
    expect(() => new LocalProcessPool({ command: [], logger })).toThrow(/command is empty/);
    const pool = new LocalProcessPool({ command: worker(0), logger, output: 'ignore' });
    await expect(pool.setReplicas(-1)).rejects.toThrow(/whole number/);
    await pool.close();
  });
});
