import type { LagSnapshot } from '@lagscale/core';
import type { Logger } from '@lagscale/exporter';
import { type ExternalScalerServer, type RefusalLine, RefusalLog, type ScalerSnapshotSource, startExternalScaler } from '@lagscale/kubernetes';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { call, connectKedaClient, type KedaClient } from '../../../test-support/keda-client.js';

/**
 * Refused calls are logged at most once per method and reason per window, with a count of those
 * left out: a flood of bad calls cannot flood the log. No Kafka: every call here is refused before
 * any lag is read.
 */

describe('RefusalLog alone (the clock moved by hand)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes the first refusal of a method and reason at once, counts the rest of the window, and sums them up when it ends', () => {
    vi.useFakeTimers();
    const lines: RefusalLine[] = [];
    const log = new RefusalLog(10_000, (line) => lines.push(line));
    for (let i = 1; i <= 1000; i++) log.note('IsActive', 'invalid', `bad call ${i}`);
    log.note('IsActive', 'unauthenticated', 'no token');
    log.note('GetMetrics', 'invalid', 'bad metrics call');
    expect(lines).toEqual([
      { method: 'IsActive', reason: 'invalid', message: 'bad call 1', suppressed: 0 },
      { method: 'IsActive', reason: 'unauthenticated', message: 'no token', suppressed: 0 },
      { method: 'GetMetrics', reason: 'invalid', message: 'bad metrics call', suppressed: 0 },
    ]);
    vi.advanceTimersByTime(9_999);
    expect(lines).toHaveLength(3);
    // The window ends: one line for the 999 left out (with the last of them); nothing for windows that left none out.
    vi.advanceTimersByTime(1);
    expect(lines.slice(3)).toEqual([{ method: 'IsActive', reason: 'invalid', message: 'bad call 1000', suppressed: 999 }]);
    // That line opened the next window: the flood goes on, still one line per window.
    for (let i = 1; i <= 50; i++) log.note('IsActive', 'invalid', `later call ${i}`);
    expect(lines).toHaveLength(4);
    vi.advanceTimersByTime(10_000);
    expect(lines.slice(4)).toEqual([{ method: 'IsActive', reason: 'invalid', message: 'later call 50', suppressed: 50 }]);
    // A window with nothing left out closes silently; the next refusal is written at once again.
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(5);
    log.note('IsActive', 'invalid', 'after the quiet');
    log.note('GetMetrics', 'invalid', 'also after the quiet');
    expect(lines.slice(5).map((line) => line.suppressed)).toEqual([0, 0]);
    // Stopping writes what the open windows still hold, and no timer is left behind.
    log.note('IsActive', 'invalid', 'last before stopping');
    log.close();
    expect(lines.slice(7)).toEqual([{ method: 'IsActive', reason: 'invalid', message: 'last before stopping', suppressed: 1 }]);
    expect(vi.getTimerCount()).toBe(0);
    expect(() => new RefusalLog(0, () => {})).toThrow(/windowMs: must be > 0/);
  });
});

describe('KEDA external scaler on loopback: a flood of refused calls', () => {
  const token = 'a-token-of-32-characters-exactly';
  const windowMs = 5_000;
  const warnings: Record<string, unknown>[] = [];
  const logger = {
    warn: (fields: object, message: string) => warnings.push({ ...fields, message }),
    info: () => {},
    error: () => {},
    debug: () => {},
  } as unknown as Logger;
  const source: ScalerSnapshotSource = { latest: null as LagSnapshot | null, on: () => {}, off: () => {} };
  let scaler: ExternalScalerServer;
  let client: KedaClient;

  beforeAll(async () => {
    scaler = await startExternalScaler({ source, brokers: ['127.0.0.1:9092'], logger, auth: { tokens: [token] }, refusalLogWindowMs: windowMs });
    client = connectKedaClient(scaler.address);
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 5_000, (error) => (error ? reject(error) : resolve())));
  });

  afterAll(async () => {
    client?.close();
    await scaler?.close();
  });

  it('writes one line per method and reason per window, then one with the count of those left out; every call is still counted', async () => {
    const refused = (promise: Promise<unknown>) =>
      promise.then(
        () => {
          throw new Error('the call succeeded; a refusal was expected');
        },
        () => {},
      );
    const started = Date.now();
    // 300 calls without a token (UNAUTHENTICATED), 300 with the token and no consumerGroup (INVALID_ARGUMENT), 100 of each kind at a time.
    for (let round = 0; round < 3; round++) {
      await Promise.all([
        ...Array.from({ length: 100 }, (_, i) =>
          refused(call(client.IsActive.bind(client), { name: `so-${round}-${i}`, namespace: 'shop', scalerMetadata: {} })),
        ),
        ...Array.from({ length: 100 }, (_, i) =>
          refused(call(client.IsActive.bind(client), { name: `so-${round}-${i}`, namespace: 'shop', scalerMetadata: { scalerTokenFromEnv: token } })),
        ),
      ]);
    }
    const elapsed = Date.now() - started;
    expect(scaler.counters.errors.get('IsActive')).toBe(600);
    expect(scaler.counters.unauthenticated.get('IsActive')).toBe(300);
    const refusals = () => warnings.filter((line) => line.event === 'keda_scaler_refused');
    // All 600 within one window (elapsed is checked, so a slow machine shows as such rather than as a wrong count).
    expect(elapsed).toBeLessThan(windowMs);
    expect(refusals().map(({ method, reason, suppressed }) => ({ method, reason, suppressed }))).toEqual([
      { method: 'IsActive', reason: 'unauthenticated', suppressed: 0 },
      { method: 'IsActive', reason: 'invalid', suppressed: 0 },
    ]);
    expect(refusals()[1]?.message).toBe(
      'IsActive: scalerMetadata.consumerGroup: required, the consumer group whose lag drives the workload (or shareGroup for a share group)',
    );
    // When the window ends: one line per reason for the 299 left out, saying so.
    await new Promise((resolve) => setTimeout(resolve, windowMs + 300));
    const summaries = refusals().slice(2);
    expect(summaries.map(({ reason, suppressed }) => ({ reason, suppressed })).sort((a, b) => String(a.reason).localeCompare(String(b.reason)))).toEqual([
      { reason: 'invalid', suppressed: 299 },
      { reason: 'unauthenticated', suppressed: 299 },
    ]);
    expect(summaries.find((line) => line.reason === 'unauthenticated')?.message).toBe(
      `IsActive: 299 more call(s) refused (unauthenticated) in the last ${windowMs / 1000} s, not logged one by one; the last: a token is required: gRPC metadata "authorization: Bearer <token>", or the trigger metadata scalerTokenFromEnv naming an environment variable of the scale target that holds it`,
    );
    process.stderr.write(`[keda] 600 refused calls in ${elapsed} ms -> ${refusals().length} log lines\n`);
  });
});
