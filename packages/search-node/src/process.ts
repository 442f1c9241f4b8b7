import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** A running single-node search engine on loopback (OpenSearch or Elasticsearch). */
export interface LocalSearchNode {
  readonly url: string;
  readonly httpPort: number;
  readonly version: string;
  /** Process id of the running JVM (changes on restart). */
  readonly pid: number;
  /** The node's home: config/, data/, logs/. */
  readonly homeDir: string;
  /** Graceful stop, then SIGKILL after 20 s; removes a temporary home. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; the home stays for `start()`/`restart()`. */
  kill(): Promise<void>;
  /** Starts the node again on the same ports and data after `kill()`. */
  start(): Promise<void>;
  /** Graceful stop and start on the same ports and data. */
  restart(): Promise<void>;
  /** SIGSTOP: the node keeps its sockets but answers nothing (a hung node). */
  pause(): void;
  resume(): void;
  /** The last lines of the node's console log, for error messages. */
  logTail(lines?: number): string;
}

/** What a caller may choose of a local node, whichever the engine. */
export interface LocalSearchNodeOptions {
  readonly version?: string;
  readonly cacheDir?: string;
  /** Keep the node's home (data, logs) here across runs; default: a temporary folder removed on stop. */
  readonly dataDir?: string;
  /** Fixed HTTP port; default: a free one. */
  readonly httpPort?: number;
  /** Heap in MB (default 512: enough for the validator's indices in tests and demos). */
  readonly heapMb?: number;
  /** Extra node settings, e.g. `{ 'indices.memory.index_buffer_size': '20%' }`. */
  readonly settings?: Readonly<Record<string, string>>;
  readonly onProgress?: (line: string) => void;
  /** How long to wait for the node to be ready; default 180 s (a busy 2-core machine). */
  readonly startTimeoutMs?: number;
}

/** One start of the JVM: the command and, for a node that reads its settings there, what to write on its stdin. */
export interface JvmLaunch {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /**
   * Written to the JVM's stdin at start; the pipe then stays open while the node runs (the node
   * stops when it closes). Without it stdin is /dev/null.
   */
  readonly stdin?: Uint8Array;
}

export interface SupervisedNodeOptions {
  /** "OpenSearch" or "Elasticsearch", for progress lines and errors. */
  readonly product: string;
  readonly version: string;
  readonly url: string;
  readonly httpPort: number;
  readonly homeDir: string;
  /** Remove `homeDir` on stop (a temporary home). */
  readonly temporary: boolean;
  /** stdout and stderr of the JVM are appended here. */
  readonly consoleLog: string;
  readonly heapMb: number;
  readonly startTimeoutMs: number;
  readonly progress: (line: string) => void;
  /** Called before every start (settings that must be written anew each time). */
  readonly launch: () => JvmLaunch;
  /** A byte the JVM writes on stderr once it serves (Elasticsearch: 0x18), awaited before the yellow cluster health that means ready. */
  readonly readyByte?: number;
  /** Bytes on stdin that ask the JVM to stop gracefully (Elasticsearch: 0x1B); without them, SIGTERM. */
  readonly stopBytes?: Uint8Array;
}

const STOP_GRACE_MS = 20_000;

/**
 * Starts a node's JVM, waits until it is ready, and gives back the controls every local node has:
 * stop, kill, start, restart, pause, resume. A node that exits or does not get ready in time is an
 * error carrying the end of its log.
 */
export async function superviseNode(options: SupervisedNodeOptions): Promise<LocalSearchNode> {
  const { product, version, url, progress } = options;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const logTail = (lines = 40): string => {
    try {
      return readFileSync(options.consoleLog, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no console log)';
    }
  };

  const launch = async (): Promise<void> => {
    const started = Date.now();
    const spec = options.launch();
    const out = openSync(options.consoleLog, 'a');
    const readyByte = options.readyByte;
    const spawned = spawn(spec.command, [...spec.args], {
      cwd: options.homeDir,
      stdio: [spec.stdin === undefined ? 'ignore' : 'pipe', out, readyByte === undefined ? out : 'pipe'],
      env: spec.env,
    });
    closeSync(out);
    child = spawned;
    let exitCode: number | null | undefined;
    let ready = false;
    exited = new Promise((resolve) => {
      spawned.once('exit', (code, signal) => {
        exitCode = code ?? (signal ? -1 : null);
        resolve();
      });
      spawned.once('error', () => {
        exitCode = -2;
        resolve();
      });
    });
    if (spec.stdin !== undefined && spawned.stdin) {
      // A node that died closes the pipe: the write fails, and the exit says why.
      spawned.stdin.on('error', () => {});
      spawned.stdin.write(spec.stdin);
    }
    if (readyByte !== undefined && spawned.stderr) {
      spawned.stderr.on('data', (chunk: Buffer) => {
        if (!ready && chunk.includes(readyByte)) ready = true;
        appendFileSync(options.consoleLog, chunk);
      });
    }
    progress(`${product} ${version} starting on ${url} (pid ${spawned.pid}, heap ${options.heapMb} MB)`);
    for (;;) {
      if (exitCode !== undefined) {
        throw new Error(`${product} ${version} exited (code ${exitCode}) before it was ready. Its log:\n${logTail()}`);
      }
      if (Date.now() - started > options.startTimeoutMs) {
        spawned.kill('SIGKILL');
        const what = readyByte === undefined || ready ? 'answer yellow health' : 'say it was ready';
        throw new Error(`${product} did not ${what} on ${url} within ${options.startTimeoutMs / 1000}s. Its log:\n${logTail()}`);
      }
      // The ready byte says the node serves; its shards may still be recovering, hence the health too.
      if ((readyByte === undefined || ready) && (await healthy(url))) break;
      await sleep(readyByte === undefined || ready ? 250 : 50);
    }
    progress(`${product} ready on ${url} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  };

  /** Asks the JVM to stop (stop bytes or `signal`), waits up to `graceMs`, then SIGKILL. */
  const stopAndWait = async (signal: NodeJS.Signals, graceMs: number): Promise<void> => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    if (signal === 'SIGTERM' && options.stopBytes !== undefined && running.stdin?.writable) running.stdin.write(options.stopBytes);
    else running.kill(signal);
    const grace = new AbortController();
    const done = await Promise.race([exited.then(() => true), sleep(graceMs, false, { signal: grace.signal }).catch(() => false)]);
    grace.abort();
    if (!done) {
      running.kill('SIGKILL');
      await exited;
    }
  };

  try {
    await launch();
  } catch (error) {
    await stopAndWait('SIGKILL', 0);
    if (options.temporary) await rm(options.homeDir, { recursive: true, force: true });
    throw error;
  }

  return {
    url,
    httpPort: options.httpPort,
    version,
    get pid() {
      return child?.pid ?? -1;
    },
    homeDir: options.homeDir,
    async stop() {
      if (child?.signalCode === 'SIGSTOP') child.kill('SIGCONT');
      await stopAndWait('SIGTERM', STOP_GRACE_MS);
      if (options.temporary) await rm(options.homeDir, { recursive: true, force: true });
    },
    kill: () => stopAndWait('SIGKILL', 0),
    start: launch,
    async restart() {
      await stopAndWait('SIGTERM', STOP_GRACE_MS);
      await launch();
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    logTail,
  };
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/_cluster/health?wait_for_status=yellow&timeout=1s`, { signal: AbortSignal.timeout(3000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}
