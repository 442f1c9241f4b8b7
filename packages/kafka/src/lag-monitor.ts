import { EventEmitter } from 'node:events';
import { LagEvaluator, type LagEvaluatorOptions, type LagSnapshot } from '@lagscale/core';
import { type CollectorOptions, describeError, OffsetCollector } from './collector.js';

export interface LagMonitorOptions extends CollectorOptions, LagEvaluatorOptions {
  /** Seconds between collection cycles. Default 5. */
  readonly intervalSeconds?: number;
  /** Group totals kept per group for "lag over time" (one per cycle). Default 720 (1 h at 5 s). */
  readonly historyLength?: number;
}

export interface GroupHistoryPoint {
  readonly time: number;
  readonly lag: number;
  readonly timeLagSeconds: number | null;
  readonly members: number;
  readonly produceRate: number | null;
  readonly consumeRate: number | null;
}

export interface LagMonitorEvents {
  snapshot: [LagSnapshot];
  error: [Error];
}

/**
 * The lag engine's loop: collect, evaluate, publish, every interval. Keeps the latest snapshot,
 * per-group history and counters for the exporter's own metrics. A failed cycle is reported and
 * the next one tries again; it never stops the loop.
 */
export class LagMonitor extends EventEmitter<LagMonitorEvents> {
  readonly collector: OffsetCollector;
  readonly #evaluator: LagEvaluator;
  readonly #intervalMs: number;
  readonly #historyLength: number;
  readonly #history = new Map<string, GroupHistoryPoint[]>();
  #latest: LagSnapshot | null = null;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  readonly counters = { cycles: 0, failedCycles: 0 };
  lastError: string | null = null;
  lastSuccess = 0;

  constructor(options: LagMonitorOptions) {
    super();
    this.collector = new OffsetCollector(options);
    this.#evaluator = new LagEvaluator(options);
    const interval = options.intervalSeconds ?? 5;
    if (!(interval > 0)) throw new RangeError(`lag interval must be > 0 seconds, got ${interval}`);
    this.#intervalMs = interval * 1000;
    this.#historyLength = options.historyLength ?? 720;
  }

  get latest(): LagSnapshot | null {
    return this.#latest;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  history(group: string): readonly GroupHistoryPoint[] {
    return this.#history.get(group) ?? [];
  }

  /** Runs one cycle now. Rejects when the cluster cannot be read at all. */
  async runCycle(): Promise<LagSnapshot> {
    const observation = await this.collector.collect();
    const snapshot = this.#evaluator.evaluate(observation);
    this.counters.cycles++;
    this.#record(snapshot);
    this.#latest = snapshot;
    this.lastSuccess = Date.now();
    this.lastError = observation.errors.length > 0 ? observation.errors.map((e) => `${e.operation} ${e.broker}: ${e.message}`).join('; ') : null;
    this.emit('snapshot', snapshot);
    return snapshot;
  }

  /** Starts the loop; the first cycle runs at once. */
  start(): void {
    if (this.#timer !== null || this.#stopped) return;
    const tick = (): void => {
      this.#running = this.runCycle()
        .then(() => undefined)
        .catch((error: unknown) => {
          this.counters.failedCycles++;
          this.lastError = describeError(error);
          this.emit('error', error instanceof Error ? error : new Error(String(error)));
        })
        .finally(() => {
          this.#running = null;
          if (!this.#stopped) this.#timer = setTimeout(tick, this.#intervalMs);
        });
    };
    this.#timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#running;
    await this.collector.close();
  }

  #record(snapshot: LagSnapshot): void {
    const seen = new Set<string>();
    for (const group of snapshot.groups) {
      seen.add(group.group);
      const points = this.#history.get(group.group) ?? [];
      points.push({
        time: snapshot.time,
        lag: group.lag,
        timeLagSeconds: group.timeLagSeconds,
        members: group.members,
        produceRate: group.produceRate,
        consumeRate: group.consumeRate,
      });
      if (points.length > this.#historyLength) points.splice(0, points.length - this.#historyLength);
      this.#history.set(group.group, points);
    }
    for (const group of this.#history.keys()) if (!seen.has(group)) this.#history.delete(group);
  }
}
