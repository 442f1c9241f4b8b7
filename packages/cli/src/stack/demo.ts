import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadTrace, type TraceArrivals } from '@lagscale/core';
import { type KafkaConnectionOptions, toClientConnectionOptions } from '@lagscale/kafka';
import { encodeRequest, type ResultStore, VALIDATION_TOPICS } from '@lagscale/validator';
import { type MessageToProduce, Producer } from '@platformatic/kafka';

/**
 * The World Cup '98 trace: in the repository's data/traces, or in the CLI package's own data/
 * when lagscale was installed from its packed tarball (scripts/pack.mjs puts it there).
 */
export const DEMO_TRACE = [
  new URL('../../../../data/traces/worldcup98-per-minute.csv.gz', import.meta.url),
  new URL('../../data/traces/worldcup98-per-minute.csv.gz', import.meta.url),
]
  .map((url) => fileURLToPath(url))
  .reduce((found, candidate) => (existsSync(found) ? found : candidate));

/** A World Cup '98 match day, 08:00 to midnight: quiet morning, the evening match, the night. */
const DEMO_SLICE = { start: '1998-06-10 08:00:00', traceSeconds: 16 * 3600, peakPerMinute: 108_000 };

export interface DemoPlan {
  readonly arrivals: TraceArrivals;
  /** Where the load comes from, for people. */
  readonly source: string;
}

/**
 * The load of the demo: `durationSeconds` of wall time whose rate follows the trace (or, when the
 * trace file is absent, a built-in day of the same shape), scaled so the peak is `peakRate`
 * records per second.
 */
export async function demoPlan(durationSeconds: number, peakRate: number, tracePath = DEMO_TRACE): Promise<DemoPlan> {
  if (existsSync(tracePath)) {
    const arrivals = await loadTrace(tracePath, {
      start: DEMO_SLICE.start,
      durationSeconds: DEMO_SLICE.traceSeconds,
      compression: DEMO_SLICE.traceSeconds / durationSeconds,
      // Counts are per trace minute; one wall second replays `compression` trace seconds.
      scale: peakRate / (DEMO_SLICE.peakPerMinute * (DEMO_SLICE.traceSeconds / durationSeconds / 60)),
      tickSeconds: 1,
    });
    return { arrivals, source: `World Cup '98 trace, ${DEMO_SLICE.start} + 16 h` };
  }
  // A day's shape without the file: a base load with an evening hump at 4× to 8× the base.
  const perTick = Array.from({ length: durationSeconds }, (_, i) => {
    const x = i / durationSeconds;
    const hump = Math.exp(-(((x - 0.55) / 0.12) ** 2));
    return Math.round(peakRate * (0.15 + 0.85 * hump));
  });
  const totalRecords = perTick.reduce((a, b) => a + b, 0);
  return {
    arrivals: {
      tickSeconds: 1,
      perTick,
      totalRecords,
      peakPerTick: Math.max(...perTick),
      traceStart: 0,
      traceSeconds: durationSeconds,
      compression: 1,
      scale: 1,
    },
    source: 'built-in day pattern (trace file not found)',
  };
}

export interface DemoReplayOptions {
  readonly plan: DemoPlan;
  readonly connection: KafkaConnectionOptions;
  readonly store: ResultStore;
  readonly ruleSet: { readonly name: string; readonly version: number };
  /** A record's JSON for record `n` of a job. */
  readonly record: (n: number) => string;
  /** Seconds of load per job: the replay is a series of jobs. Default 10. */
  readonly jobSeconds?: number;
  readonly onTick?: (tick: { second: number; rate: number; produced: number; jobId: string }) => void;
  readonly signal?: AbortSignal;
}

/**
 * Replays the plan as validation jobs: each `jobSeconds` window is one job whose records are
 * produced second by second at the trace's rate. Returns the jobs and how many records were sent.
 */
export async function replayDemo(options: DemoReplayOptions): Promise<{ jobs: string[]; produced: number }> {
  const { plan, store, ruleSet } = options;
  const jobSeconds = options.jobSeconds ?? 10;
  const producer = new Producer({
    clientId: 'lagscale-demo',
    bootstrapBrokers: [...options.connection.brokers],
    ...toClientConnectionOptions(options.connection),
    idempotent: true,
    acks: -1,
  });
  const runId = Date.now().toString(36);
  const jobs: string[] = [];
  let produced = 0;
  const started = Date.now();
  try {
    const perTick = plan.arrivals.perTick;
    for (let windowStart = 0; windowStart < perTick.length; windowStart += jobSeconds) {
      const window = perTick.slice(windowStart, windowStart + jobSeconds);
      const jobId = `demo-${runId}-${String(jobs.length + 1).padStart(3, '0')}`;
      await store.createJob({
        id: jobId,
        ruleSet: ruleSet.name,
        ruleSetVersion: ruleSet.version,
        total: window.reduce((a, b) => a + b, 0),
        createdAt: Date.now(),
        source: `demo:${plan.source}`,
      });
      jobs.push(jobId);
      let recordNumber = 0;
      for (const [i, count] of window.entries()) {
        if (options.signal?.aborted) return { jobs, produced };
        const second = windowStart + i;
        const messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[] = [];
        for (let k = 0; k < count; k++) {
          const request = encodeRequest({
            jobId,
            recordNumber: ++recordNumber,
            ruleSet: ruleSet.name,
            ruleSetVersion: ruleSet.version,
            value: options.record(recordNumber),
          });
          messages.push({
            topic: VALIDATION_TOPICS.requests,
            key: request.key,
            value: request.value,
            // Without serializers the client wants header names as bytes.
            headers: new Map(Object.entries(request.headers).map(([name, value]) => [Buffer.from(name), value])),
          });
        }
        if (messages.length > 0) await producer.send({ messages });
        produced += count;
        options.onTick?.({ second, rate: count, produced, jobId });
        // Keep to wall time: one tick per second from the start, whatever producing took.
        const due = started + (second + 1) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
    return { jobs, produced };
  } finally {
    await producer.close();
  }
}
