import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildOnce, defaultCacheDir, goEnvironment } from './build-cache.js';
import { logTail } from './log-tail.js';

export const DEFAULT_HELM_VERSION = 'v4.3.2';

/** Helm as an absolute path in the per-user cache. */
export interface HelmBinary {
  readonly version: string;
  readonly helm: string;
}

export interface ResolveHelmOptions {
  /** Helm release, e.g. v4.3.2 (default). */
  readonly version?: string;
  /** Default: $LAGSCALE_CACHE_DIR, else $XDG_CACHE_HOME/lagscale, else ~/.cache/lagscale. */
  readonly cacheDir?: string;
  /** Called with one human line per step. */
  readonly onProgress?: (line: string) => void;
  /** How long to wait for another process building the same version; default 30 minutes. */
  readonly lockTimeoutMs?: number;
}

interface CompleteMarker {
  readonly helm: string;
  readonly go: string;
  readonly builtAt: string;
}

function isComplete(binDir: string, version: string): boolean {
  const marker = join(binDir, '.complete');
  if (!existsSync(marker) || !existsSync(join(binDir, 'helm'))) return false;
  try {
    return (JSON.parse(readFileSync(marker, 'utf8')) as CompleteMarker).helm === version;
  } catch {
    return false;
  }
}

/**
 * Makes sure helm of the given version is in the per-user cache (`<cache>/helm/<version>/helm`),
 * building it with `go install` on first use (needs Go; a cold build takes ~5 minutes of CPU, a
 * finished cache is reused at once). Several processes may call it at once: one builds, the
 * others wait for it, as with the Kubernetes binaries.
 */
export async function resolveHelm(options: ResolveHelmOptions = {}): Promise<HelmBinary> {
  const version = options.version ?? DEFAULT_HELM_VERSION;
  const versionDir = join(options.cacheDir ?? defaultCacheDir(), 'helm', version);
  const found: HelmBinary = { version, helm: join(versionDir, 'helm') };
  if (isComplete(versionDir, version)) return found;

  const progress = options.onProgress ?? (() => {});
  await buildOnce({
    dir: versionDir,
    what: `helm ${version}`,
    isComplete: () => isComplete(versionDir, version),
    build: () => build(versionDir, version, progress),
    progress,
    lockTimeoutMs: options.lockTimeoutMs ?? 30 * 60_000,
  });
  return found;
}

async function build(versionDir: string, version: string, progress: (line: string) => void): Promise<void> {
  const started = Date.now();
  const staging = join(versionDir, `bin.${process.pid}.tmp`);
  const logFile = join(versionDir, 'build.log');
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await writeFile(logFile, `build of helm ${version} started ${new Date().toISOString()}\n`);
  let goVersion: string;
  try {
    goVersion = (await promisify(execFile)('go', ['env', 'GOVERSION'], { cwd: versionDir, env: goEnvironment({}) })).stdout.trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error("Go is needed to build helm for the chart tests, but 'go' is not on PATH. Install Go 1.26 or newer.");
    throw error;
  }
  const module = `helm.sh/helm/v4/cmd/helm@${version}`;
  progress(`building helm ${version} with ${goVersion} into ${versionDir} (first run only, ~5 minutes; log: ${logFile})`);
  // go install with GOBIN puts the one binary in the staging folder; the module's own go.mod and
  // its replace directives apply (a wrapper module is not needed, unlike Kubernetes).
  await new Promise<void>((resolve, reject) => {
    const fd = openSync(logFile, 'a');
    // helm's Makefile stamps the release into internal/version; without it `helm version` says only v4.3.
    const ldflags = `-s -w -X helm.sh/helm/v4/internal/version.version=${version}`;
    const child = spawn('go', ['install', '-trimpath', '-ldflags', ldflags, module], {
      cwd: versionDir,
      env: goEnvironment({ GOBIN: staging }),
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const ticker = setInterval(() => progress(`  ... still compiling helm (${seconds(started)})`), 30_000);
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(new Error(`cannot run go install ${module}: ${error.message}`));
    });
    child.on('exit', (code, signal) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`go install ${module} failed (${signal ?? `exit ${code}`}); last lines of ${logFile}:\n${logTail(logFile)}`));
    });
  });
  const { stdout } = await promisify(execFile)(join(staging, 'helm'), ['version', '--short'], { timeout: 30_000 });
  if (!stdout.includes(version)) throw new Error(`the helm built from ${module} says '${stdout.trim()}', not ${version}`);
  const marker: CompleteMarker = { helm: version, go: goVersion, builtAt: new Date().toISOString() };
  // The binary first, then the marker: a reader that sees the marker finds the binary.
  await rename(join(staging, 'helm'), join(versionDir, 'helm'));
  await writeFile(join(versionDir, '.complete'), `${JSON.stringify(marker)}\n`);
  await rm(staging, { recursive: true, force: true });
  progress(`built helm ${version} in ${seconds(started)}`);
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}
