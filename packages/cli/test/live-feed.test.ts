import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import type { LagMonitor } from '@lagscale/kafka';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registerLiveRoutes } from '../src/stack/events.js';
import { StackHistory } from '../src/stack/history.js';

/** Opens the live feed on a connection of its own; `read: false` never reads what arrives. */
function subscribe(port: number, read: boolean): Promise<{ status: number; closed: Promise<void>; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const sent = request({ host: '127.0.0.1', port, path: '/api/v1/events', agent: false }, (response) => {
      const closed = new Promise<void>((done) => {
        response.socket.once('close', () => done());
      });
      if (read) response.resume();
      else response.socket.pause();
      resolve({ status: response.statusCode ?? 0, closed, stop: () => sent.destroy() });
    });
    sent.on('error', reject);
    sent.end();
  });
}

describe('the live feed (GET /api/v1/events)', () => {
  it('refuses subscribers beyond its cap with 503, and drops a reader that leaves too much unread', async () => {
    // Only what the feed reads of a lag monitor: snapshots as events.
    const monitor = Object.assign(new EventEmitter(), { latest: null });
    const app = Fastify();
    registerLiveRoutes(app, {
      monitor: monitor as unknown as LagMonitor,
      autoscaler: null,
      history: new StackHistory(),
      maxSubscribers: 2,
      maxBufferedBytes: 64 * 1024,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    try {
      const reading = await subscribe(port, true);
      const stalled = await subscribe(port, false);
      expect([reading.status, stalled.status]).toEqual([200, 200]);
      const third = await fetch(`http://127.0.0.1:${port}/api/v1/events`);
      expect(third.status).toBe(503);
      expect(await third.json()).toMatchObject({ error: 'too_many_subscribers' });

      // Big snapshots until the stalled reader's unread bytes pass the cap (the kernel's buffers take some first).
      const group = (i: number) => ({ group: `group-${i}`, lag: i, timeLagSeconds: 1, consumeRate: 1, produceRate: 1, members: 1, partitions: [] });
      const snapshot = { time: Date.now(), groups: Array.from({ length: 500 }, (_, i) => group(i)), errors: [] };
      let dropped = false;
      void stalled.closed.then(() => {
        dropped = true;
      });
      for (let i = 0; i < 2000 && !dropped; i++) {
        monitor.emit('snapshot', { ...snapshot, time: snapshot.time + i });
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(dropped).toBe(true);
      // The reader that keeps up stays, and its place freed lets a new one in.
      const again = await subscribe(port, true);
      expect(again.status).toBe(200);
      reading.stop();
      again.stop();
    } finally {
      await app.close();
    }
  });
});
