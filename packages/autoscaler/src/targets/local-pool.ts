import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from '@lagscale/exporter';
import { POOL_PARENT_ENV } from './pool-parent.js';
import type { ScaleTarget } from './target.js';

export interface LocalPoolOptions {
  /** Program and arguments of one worker, e.g. ['node', 'dist/main.js', 'worker']. */
  readonly command: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Scale-in: SIGTERM, then SIGKILL after this many seconds. Default 30. */
  readonly drainTimeoutSeconds?: number;
  /** Crashed workers come back after this delay, doubling per crash in a row up to 30 s. Default 1 s. */
  readonly restartDelaySeconds?: number;
  readonly logger: Logger;
  /** Where workers' stdout/stderr go: 'inherit' (default) or 'ignore'. */
  readonly output?: 'inherit' | 'ignore';
  readonly name?: string;
  /**
   * How a worker says it is ready: a path on the address it announced (`/readyz` for `lagscale
   * worker`), ready when it answers 2xx; a worker that announced no address yet is not ready.
   * Unset: every running worker counts as ready (as a pod without a readiness probe).
   */
  readonly readinessPath?: string;
}

export interface WorkerInfo {
  readonly id: number;
  readonly pid: number | undefined;
  readonly startedAt: number;
  readonly state: 'running' | 'draining';
  /** Where the worker serves Prometheus metrics, once it said so (see `metricsUrlOf`). */
  readonly metricsUrl: string | null;
}

/**
 * A worker tells the pool where its metrics are by a JSON log line with a `metricsUrl` field
 * (`lagscale worker` logs one when it listens); the pool reads its output until that line.
 */
export function metricsUrlOf(line: string): string | null {
  if (!line.includes('"metricsUrl"')) return null;
  try {
    const value = (JSON.parse(line) as { metricsUrl?: unknown }).metricsUrl;
    return typeof value === 'string' && /^https?:\/\//.test(value) ? value : null;
  } catch {
    return null;
  }
}

/** Output read for the metrics line at most; a worker that has not said it by then is not asked again. */
const METRICS_LINE_SEARCH_BYTES = 64 * 1024;

/** What `/healthz` and `/readyz` of a stack say about its workers. */
export interface PoolHealth {
  readonly desired: number;
  readonly running: number;
  /** Workers that exited unasked in the last five minutes. */
  readonly recentCrashes: number;
  readonly lastCrash: { readonly at: string; readonly workerId: number; readonly code: number | null; readonly signal: string | null } | null;
  /** `crashing`: 3 or more unasked exits in five minutes; `absent`: workers are wanted and none runs. */
  readonly status: 'ok' | 'crashing' | 'absent';
}

const CRASH_WINDOW_MS = 5 * 60_000;
const CRASHING_AFTER = 3;

interface Worker {
  readonly id: number;
  readonly child: ChildProcess;
  readonly startedAt: number;
  state: 'running' | 'draining';
  metricsUrl: string | null;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

interface LocalPoolEvents {
  'worker-exit': [{ id: number; code: number | null; signal: NodeJS.Signals | null; expected: boolean }];
  'worker-start': [{ id: number; pid: number | undefined }];
}

/**
 * The `local` target: a pool of worker processes running one command. Scale-out spawns workers
 * (each gets LAGSCALE_WORKER_ID); scale-in sends SIGTERM to the newest ones, waits for them to
 * drain, then SIGKILLs stragglers. Workers that die unasked are replaced, with backoff.
 */
export class LocalProcessPool extends EventEmitter<LocalPoolEvents> implements ScaleTarget {
  readonly name: string;
  readonly #options: LocalPoolOptions;
  readonly #workers = new Map<number, Worker>();
  #desired = 0;
  #nextId = 1;
  #crashStreak = 0;
  /** Times (epoch ms) of unasked exits in the last CRASH_WINDOW_MS, oldest first. */
  readonly #crashTimes: number[] = [];
  #lastCrash: PoolHealth['lastCrash'] = null;
  #restartTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: LocalPoolOptions) {
    super();
    if (options.command.length === 0) throw new Error('local target: command is empty; set target.command to the worker program and its arguments');
    this.#options = options;
    this.name = options.name ?? `local:${options.command.join(' ')}`;
  }

  async currentReplicas(): Promise<number> {
    let running = 0;
    for (const w of this.#workers.values()) if (w.state === 'running') running++;
    return running;
  }

  /**
   * Running workers that are ready. With `readinessPath`, one loopback GET per running worker
   * (in parallel, 1 s timeout each); asked only when the policy reads ready replicas.
   */
  async readyReplicas(): Promise<number> {
    const running = [...this.#workers.values()].filter((w) => w.state === 'running');
    const path = this.#options.readinessPath;
    if (path === undefined) return running.length;
    const answers = await Promise.all(
      running.map(async (w) => {
        if (w.metricsUrl === null) return false;
        try {
          const response = await fetch(new URL(path, w.metricsUrl), { signal: AbortSignal.timeout(1000) });
          await response.body?.cancel();
          return response.ok;
        } catch {
          return false; // not answering is not ready
        }
      }),
    );
    return answers.filter(Boolean).length;
  }

  get desiredReplicas(): number {
    return this.#desired;
  }

  workers(): WorkerInfo[] {
    return [...this.#workers.values()].map((w) => ({ id: w.id, pid: w.child.pid, startedAt: w.startedAt, state: w.state, metricsUrl: w.metricsUrl }));
  }

  health(now = Date.now()): PoolHealth {
    while (this.#crashTimes.length > 0 && (this.#crashTimes[0] as number) < now - CRASH_WINDOW_MS) this.#crashTimes.shift();
    const running = [...this.#workers.values()].filter((w) => w.state === 'running').length;
    const recentCrashes = this.#crashTimes.length;
    const status = recentCrashes >= CRASHING_AFTER ? 'crashing' : this.#desired > 0 && running === 0 ? 'absent' : 'ok';
    return { desired: this.#desired, running, recentCrashes, lastCrash: this.#lastCrash, status };
  }

  async setReplicas(replicas: number): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0) throw new RangeError(`replicas must be a whole number >= 0, got ${replicas}`);
    if (this.#closed) throw new Error('local pool is closed');
    this.#desired = replicas;
    await this.#reconcile();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#desired = 0;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    await Promise.all([...this.#workers.values()].map((w) => this.#stop(w)));
  }

  async #reconcile(): Promise<void> {
    const running = [...this.#workers.values()].filter((w) => w.state === 'running');
    if (running.length < this.#desired) {
      for (let i = running.length; i < this.#desired; i++) this.#spawn();
    } else if (running.length > this.#desired) {
      // Newest first: the oldest workers have warm caches and settled assignments.
      const surplus = running.sort((a, b) => b.startedAt - a.startedAt || b.id - a.id).slice(0, running.length - this.#desired);
      // Do not wait for the drain: the loop goes on while workers finish their batches.
      for (const w of surplus) void this.#stop(w);
    }
  }

  #spawn(): void {
    const id = this.#nextId++;
    const [program, ...args] = this.#options.command as [string, ...string[]];
    const child = spawn(program, args, {
      cwd: this.#options.cwd,
      env: { ...process.env, ...this.#options.env, LAGSCALE_WORKER_ID: String(id), [POOL_PARENT_ENV]: String(process.pid) },
      // Piped, not inherited: the pool reads the line that says where the worker's metrics are,
      // and passes everything on unchanged. stdin is a pipe held open and never written: when
      // this process dies, the worker reads its end and drains (see pool-parent.ts).
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A worker that exits closes its end: writing nothing, the pool only has to ignore that.
    child.stdin?.on('error', () => {});
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => {
        this.#options.logger.error(
          { event: 'worker_spawn_failed', workerId: id, command: this.#options.command, err: error.message },
          `cannot start worker: ${error.message}`,
        );
        resolve({ code: null, signal: null });
      });
    });
    const worker: Worker = { id, child, startedAt: Date.now(), state: 'running', metricsUrl: null, exited };
    this.#watchOutput(worker, child.stdout, process.stdout);
    this.#watchOutput(worker, child.stderr, process.stderr);
    this.#workers.set(id, worker);
    this.#options.logger.info({ event: 'worker_started', workerId: id, pid: child.pid }, `worker ${id} started`);
    this.emit('worker-start', { id, pid: child.pid });
    void exited.then(({ code, signal }) => {
      child.stdin?.destroy();
      this.#workers.delete(id);
      const expected = worker.state === 'draining' || this.#closed;
      this.emit('worker-exit', { id, code, signal, expected });
      if (expected) {
        this.#options.logger.info({ event: 'worker_stopped', workerId: id, code, signal }, `worker ${id} stopped`);
        return;
      }
      this.#crashStreak++;
      this.#crashTimes.push(Date.now());
      this.#lastCrash = { at: new Date().toISOString(), workerId: id, code, signal };
      const delay = Math.min(30, (this.#options.restartDelaySeconds ?? 1) * 2 ** (this.#crashStreak - 1));
      this.#options.logger.warn({ event: 'worker_crashed', workerId: id, code, signal, restartInSeconds: delay }, `worker ${id} exited unasked; replacing it`);
      if (this.#restartTimer) clearTimeout(this.#restartTimer);
      this.#restartTimer = setTimeout(() => {
        this.#restartTimer = null;
        if (!this.#closed) void this.#reconcile();
      }, delay * 1000);
    });
    // A worker that stays up a minute ends a crash streak.
    setTimeout(() => {
      if (this.#workers.has(id)) this.#crashStreak = 0;
    }, 60_000).unref();
  }

  /** Passes a worker's output on (unless the pool was told to drop it), looking for its metrics line. */
  #watchOutput(worker: Worker, from: NodeJS.ReadableStream | null, to: NodeJS.WritableStream): void {
    if (from === null) return;
    const forward = (this.#options.output ?? 'inherit') === 'inherit';
    let searched = 0;
    let partial = '';
    from.on('data', (chunk: Buffer) => {
      if (forward) to.write(chunk);
      if (worker.metricsUrl !== null || searched > METRICS_LINE_SEARCH_BYTES) return;
      searched += chunk.length;
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const url = metricsUrlOf(line);
        if (url !== null) {
          worker.metricsUrl = url;
          return;
        }
      }
    });
  }

  async #stop(worker: Worker): Promise<void> {
    if (worker.state === 'draining') {
      await worker.exited;
      return;
    }
    worker.state = 'draining';
    this.#options.logger.info({ event: 'worker_draining', workerId: worker.id }, `worker ${worker.id}: SIGTERM, draining`);
    worker.child.kill('SIGTERM');
    const timeoutMs = (this.#options.drainTimeoutSeconds ?? 30) * 1000;
    const timer = setTimeout(() => {
      this.#options.logger.warn(
        { event: 'worker_killed', workerId: worker.id, drainTimeoutSeconds: timeoutMs / 1000 },
        `worker ${worker.id} did not drain in time: SIGKILL`,
      );
      worker.child.kill('SIGKILL');
    }, timeoutMs);
    await worker.exited;
    clearTimeout(timer);
  }
}
