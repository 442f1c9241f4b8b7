import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** $LAGSCALE_CACHE_DIR, else $XDG_CACHE_HOME/lagscale, else ~/.cache/lagscale. */
export function defaultCacheDir(): string {
  return process.env.LAGSCALE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lagscale');
}

export interface BuildOnceOptions {
  /** The folder of one version in the cache; the lock is `<dir>/.building`. */
  readonly dir: string;
  /** What is built, for messages: "helm v4.3.2". */
  readonly what: string;
  /** True once a finished build is in `dir` (checked before and after waiting for the lock). */
  readonly isComplete: () => boolean;
  /** Builds into `dir`; runs only while this process holds the lock. */
  readonly build: () => Promise<void>;
  readonly progress: (line: string) => void;
  /** How long to wait for another process building the same thing. */
  readonly lockTimeoutMs: number;
}

/**
 * Builds into the cache once, whoever asks: several processes (CI steps, test files, a user's
 * commands) may ask at once; one takes the lock folder and builds, the others wait until the build
 * is complete. A lock left by a process of this machine that no longer runs (killed mid-build) is
 * removed.
 */
export async function buildOnce(options: BuildOnceOptions): Promise<void> {
  const { dir, what, isComplete, progress, lockTimeoutMs } = options;
  if (isComplete()) return;
  await mkdir(dir, { recursive: true });
  const lock = join(dir, '.building');
  for (let waited = 0; ; waited += 1000) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'owner.json'), JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (isComplete()) return;
      if (lockIsStale(lock)) {
        progress(`removing the lock ${lock} of a build that died`);
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (waited === 0) progress(`waiting for another process building ${what}`);
      if (waited > lockTimeoutMs) {
        throw new Error(
          `${what}: lock ${lock} held for over ${Math.round(lockTimeoutMs / 60_000)} minutes; remove it if no other lagscale process is building`,
        );
      }
      await sleep(1000);
    }
  }
  try {
    if (!isComplete()) await options.build();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** A lock whose owner was a process on this machine that no longer runs (killed mid-build). */
function lockIsStale(lock: string): boolean {
  let owner: { pid: number; host: string };
  try {
    owner = JSON.parse(readFileSync(join(lock, 'owner.json'), 'utf8')) as { pid: number; host: string };
  } catch {
    return false; // just created, owner not written yet
  }
  if (owner.host !== hostname()) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** For `go` commands: never fetch another Go toolchain; no C compiler needed; no go.work from the current folder. */
export function goEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOWORK: 'off', ...extra };
}
