import { type LimiterClock, type RequestLane, RequestLimiter } from '@lagscale/kubernetes';
import { describe, expect, it } from 'vitest';

/** A clock that moves only when told, firing what falls due in time order. */
class FakeClock implements LimiterClock {
  time = 1_000_000;
  #timers: { at: number; run: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.time;
  }

  schedule(run: () => void, ms: number): () => void {
    const timer = { at: this.time + ms, run, cancelled: false };
    this.#timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#timers.splice(this.#timers.indexOf(due), 1);
      this.time = due.at;
      due.run();
      await settle();
    }
    this.time = end;
    await settle();
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

/** Queues `count` requests on `lane`, each noting `label` and the clock's time when it is let through. */
function enqueue(limiter: RequestLimiter, clock: FakeClock, lane: RequestLane, count: number, order: { label: string; at: number }[], label = lane): void {
  for (let i = 0; i < count; i++)
    void limiter.acquire(lane).then(() => {
      order.push({ label: `${label}${count > 1 ? i : ''}`, at: clock.time });
    });
}

describe('RequestLimiter (token bucket, two lanes)', () => {
  it('lets the burst through at once, then one request per 1/qps', async () => {
    const clock = new FakeClock();
    const limiter = new RequestLimiter({ qps: 10, burst: 3, clock });
    const order: { label: string; at: number }[] = [];
    enqueue(limiter, clock, 'status', 5, order);
    await settle();
    expect(order.map((o) => o.label)).toEqual(['status0', 'status1', 'status2']);
    await clock.advance(100);
    expect(order.map((o) => o.at - 1_000_000)).toEqual([0, 0, 0, 100]);
    await clock.advance(100);
    expect(order).toHaveLength(5);
    expect(limiter.counters.status).toMatchObject({ requests: 5, queued: 0 });
    // Waited 0, 0, 0, 0.1 and 0.2 s.
    expect(limiter.counters.status.queueWaitSeconds).toBeCloseTo(0.3, 9);
  });

  it('a scale request queued behind 50 status writes takes the next token: it waits at most one token', async () => {
    const clock = new FakeClock();
    const limiter = new RequestLimiter({ qps: 50, burst: 5, clock });
    const order: { label: string; at: number }[] = [];
    enqueue(limiter, clock, 'status', 55, order);
    await settle();
    expect(order).toHaveLength(5);
    // 7 ms into the 20 ms a token takes, a scale write arrives behind 50 queued status writes.
    await clock.advance(7);
    const arrived = clock.time;
    enqueue(limiter, clock, 'scale', 1, order, 'scale');
    await settle();
    await clock.advance(13);
    expect(order[5]).toEqual({ label: 'scale', at: arrived + 13 });
    expect(limiter.counters.scale.queueWaitSeconds).toBeLessThanOrEqual(1 / 50);
    expect(limiter.counters.status).toMatchObject({ requests: 5, queued: 50 });
    // Then the status writes, one per token, in their order.
    await clock.advance(40);
    expect(order.slice(6).map((o) => o.label)).toEqual(['status5', 'status6']);
  });

  it('serves every queued scale request before any queued status write, each lane in arrival order', async () => {
    const clock = new FakeClock();
    const limiter = new RequestLimiter({ qps: 100, burst: 1, clock });
    const order: { label: string; at: number }[] = [];
    enqueue(limiter, clock, 'status', 1, order, 'first-status');
    await settle();
    enqueue(limiter, clock, 'status', 3, order);
    enqueue(limiter, clock, 'scale', 3, order);
    await clock.advance(60);
    expect(order.map((o) => o.label)).toEqual(['first-status', 'scale0', 'scale1', 'scale2', 'status0', 'status1', 'status2']);
    expect(order.map((o) => o.at - 1_000_000)).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(limiter.counters.scale.requests).toBe(3);
    expect(limiter.counters.status.requests).toBe(4);
  });

  it('with qps 0 lets everything through at once and still counts it', async () => {
    const clock = new FakeClock();
    const limiter = new RequestLimiter({ qps: 0, clock });
    const order: { label: string; at: number }[] = [];
    enqueue(limiter, clock, 'status', 200, order);
    enqueue(limiter, clock, 'scale', 1, order);
    await settle();
    expect(order).toHaveLength(201);
    expect(limiter.counters.status.requests).toBe(200);
    expect(limiter.counters.scale).toMatchObject({ requests: 1, queueWaitSeconds: 0 });
  });

  it('runs the request and gives back its answer', async () => {
    const limiter = new RequestLimiter();
    await expect(limiter.run('scale', async () => 42)).resolves.toBe(42);
    await expect(limiter.run('status', async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect(limiter.counters.scale.requests).toBe(1);
    expect(limiter.counters.status.requests).toBe(1);
  });
});
