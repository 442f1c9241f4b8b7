/**
 * How a worker of the local pool notices that the pool is gone. The pool (`lagscale up`,
 * `lagscale autoscale`) gives each worker a stdin pipe it holds open and never writes to, and sets
 * this variable. When the pool's process dies, however it dies (SIGKILL included), the kernel closes
 * its end of the pipe and the worker reads end-of-file: it then drains, commits and exits like on
 * SIGTERM. Without this a worker outlives its pool, consuming where nobody sees it, and nothing
 * scales it in. Any program can follow it: read stdin to its end when the variable is set.
 */
export const POOL_PARENT_ENV = 'LAGSCALE_POOL_PARENT';

/** What watchPoolParent needs of a process (the real one by default). */
export interface PoolChildProcess {
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: NodeJS.ReadableStream & { unref?: () => void };
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/**
 * Calls `onPoolGone` once when this process was started by a local pool and the pool's process
 * has gone. From then on a write to stdout or stderr (the pool read them) fails with EPIPE; those
 * errors are dropped so that the drain's own log lines cannot crash it. Does nothing (and returns
 * false) when the process was not started by a pool: a worker run by hand keeps its stdin alone.
 */
export function watchPoolParent(onPoolGone: (reason: string) => void, child: PoolChildProcess = process): boolean {
  const parent = child.env[POOL_PARENT_ENV];
  if (parent === undefined || parent === '') return false;
  let gone = false;
  const fire = (how: string): void => {
    if (gone) return;
    gone = true;
    onPoolGone(`the local pool that started this worker (pid ${parent}) is gone: ${how}`);
  };
  const dropBrokenPipe = (error: NodeJS.ErrnoException): void => {
    if (error.code !== 'EPIPE') throw error;
  };
  child.stdout.on('error', dropBrokenPipe);
  child.stderr.on('error', dropBrokenPipe);
  child.stdin.on('end', () => fire('its pipe to this worker closed'));
  child.stdin.on('error', (error: Error) => fire(`its pipe to this worker failed (${error.message})`));
  // Read and drop whatever arrives (the pool writes nothing); the pipe alone must not keep a finished worker alive.
  child.stdin.on('data', () => {});
  child.stdin.unref?.();
  return true;
}
