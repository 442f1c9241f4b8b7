import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import { logTail } from './log-tail.js';

/** One running program of the control plane, its output captured to `logFile`. */
export interface SupervisedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
}

interface Entry extends SupervisedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  exitStatus: string | null;
}

// Runs beside the parent in its own process group and reads one pid a line. Its stdin closes
// when the parent exits in any way, SIGKILL included: then it kills those pids and removes the
// folder, so a killed test run leaves no API server behind. A clean stop kills it first.
const WATCHDOG = 'pids=""; while read -r pid; do pids="$pids $pid"; done; [ -n "$pids" ] && kill -KILL $pids 2>/dev/null; sleep 1; rm -rf "$1"';

/**
 * The child processes of one control plane: started in order, stopped in reverse, and killed
 * with the parent (on its `exit` event, and by a watchdog when the parent is killed outright).
 */
export class ProcessGroup {
  readonly #entries: Entry[] = [];
  readonly #watchdog: ChildProcess;
  readonly #exitHook = (): void => {
    for (const entry of this.#entries) if (entry.exitStatus === null) entry.child.kill('SIGKILL');
  };

  /** `dir` is removed by the watchdog if the parent dies without stopping the group. */
  constructor(dir: string) {
    this.#watchdog = spawn('sh', ['-c', WATCHDOG, 'lagscale-watchdog', dir], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    // Without sh there is no watchdog; the exit hook still runs.
    this.#watchdog.on('error', () => {});
    this.#watchdog.stdin?.on('error', () => {});
    this.#watchdog.unref();
    (this.#watchdog.stdin as Socket | null)?.unref();
    process.once('exit', this.#exitHook);
  }

  get processes(): SupervisedProcess[] {
    return this.#entries.map(({ name, pid, logFile }) => ({ name, pid, logFile }));
  }

  spawn(name: string, binary: string, args: readonly string[], logFile: string, env?: NodeJS.ProcessEnv): SupervisedProcess {
    const fd = openSync(logFile, 'a');
    const child = spawn(binary, args, { stdio: ['ignore', fd, fd], ...(env === undefined ? {} : { env }) });
    closeSync(fd);
    if (child.pid === undefined) {
      // spawn reports ENOENT and the like asynchronously; the pid is missing at once.
      throw new Error(`cannot start ${name} (${binary}); is the binary there and executable?`);
    }
    const entry: Entry = {
      name,
      pid: child.pid,
      logFile,
      child,
      exitStatus: null,
      exited: new Promise<void>((resolve) => {
        child.once('exit', (code, signal) => {
          entry.exitStatus = signal ?? `exit code ${code}`;
          resolve();
        });
      }),
    };
    this.#entries.push(entry);
    this.#watchdog.stdin?.write(`${child.pid}\n`);
    return { name, pid: child.pid, logFile };
  }

  /** The end of a process's log, for errors (the log is removed with the folder on stop). */
  logTail(name: string): string {
    const entry = this.#entries.find((e) => e.name === name);
    return entry ? logTail(entry.logFile) : `(${name} was not started)`;
  }

  /** Throws, with the end of its log, if the named process has exited. */
  assertRunning(name: string): void {
    const entry = this.#entries.find((e) => e.name === name);
    if (entry?.exitStatus != null) {
      throw new Error(`${name} exited (${entry.exitStatus}) during start-up; the end of its log:\n${logTail(entry.logFile)}`);
    }
  }

  /** Stops the processes in reverse start order (SIGTERM, then SIGKILL after `graceMs`). */
  async stop(graceMs = 10_000): Promise<void> {
    for (const entry of [...this.#entries].reverse()) {
      if (entry.exitStatus !== null) continue;
      entry.child.kill('SIGTERM');
      const timer = setTimeout(() => entry.child.kill('SIGKILL'), graceMs);
      await entry.exited;
      clearTimeout(timer);
    }
    this.#watchdog.kill('SIGKILL');
    process.removeListener('exit', this.#exitHook);
  }
}
