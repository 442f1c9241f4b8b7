import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildOnce, defaultCacheDir, goEnvironment } from './build-cache.js';
import { logTail } from './log-tail.js';

/** The KEDA release the benches and the conformance test run beside lagscale. */
export const DEFAULT_KEDA_VERSION = 'v2.21.1';
/** v2.21's go.mod names Go 1.27.4: the go command fetches that toolchain through the module proxy. */
export const DEFAULT_KEDA_GO_TOOLCHAIN = 'go1.27.4';

const KEDA_MODULE = 'github.com/kedacore/keda/v2';

/** KEDA's operator and metrics adapter as absolute paths in the per-user cache, with its CRDs. */
export interface KedaBinaries {
  readonly version: string;
  readonly operator: string;
  readonly adapter: string;
  /** The module's `config/crd/bases`: ScaledObject, ScaledJob, TriggerAuthentication, ... */
  readonly crdDir: string;
}

export interface ResolveKedaOptions {
  /** KEDA release, e.g. v2.21.1 (default). */
  readonly version?: string;
  /** The Go toolchain the release needs (GOTOOLCHAIN); default go1.27.4. */
  readonly goToolchain?: string;
  /** Default: $LAGSCALE_CACHE_DIR, else $XDG_CACHE_HOME/lagscale, else ~/.cache/lagscale. */
  readonly cacheDir?: string;
  readonly onProgress?: (line: string) => void;
  /** How long to wait for another process building the same version; default 60 minutes. */
  readonly lockTimeoutMs?: number;
}

interface CompleteMarker {
  readonly keda: string;
  readonly go: string;
  readonly builtAt: string;
}

function binariesIn(versionDir: string, version: string): KedaBinaries {
  return { version, operator: join(versionDir, 'keda-operator'), adapter: join(versionDir, 'keda-adapter'), crdDir: join(versionDir, 'crds') };
}

function isComplete(versionDir: string, version: string): boolean {
  const found = binariesIn(versionDir, version);
  if (!existsSync(found.operator) || !existsSync(found.adapter) || !existsSync(found.crdDir)) return false;
  try {
    return (JSON.parse(readFileSync(join(versionDir, '.complete'), 'utf8')) as CompleteMarker).keda === version;
  } catch {
    return false;
  }
}

/**
 * Makes sure KEDA's operator and metrics adapter of the given release are in the per-user cache
 * (`<cache>/keda/<version>/`), building them from the Go module on first use. The module has a
 * `replace` directive, so `go install module@version` refuses it: the module is downloaded, copied
 * into a writable folder and built there. A cold build takes ~25 minutes on 2 cores; a finished
 * cache is reused at once, and several processes asking at once wait for the one that builds.
 */
export async function resolveKeda(options: ResolveKedaOptions = {}): Promise<KedaBinaries> {
  const version = options.version ?? DEFAULT_KEDA_VERSION;
  const versionDir = join(options.cacheDir ?? defaultCacheDir(), 'keda', version);
  if (isComplete(versionDir, version)) return binariesIn(versionDir, version);
  const progress = options.onProgress ?? (() => {});
  await buildOnce({
    dir: versionDir,
    what: `KEDA ${version}`,
    isComplete: () => isComplete(versionDir, version),
    build: () => build(versionDir, version, options.goToolchain ?? DEFAULT_KEDA_GO_TOOLCHAIN, progress),
    progress,
    lockTimeoutMs: options.lockTimeoutMs ?? 60 * 60_000,
  });
  return binariesIn(versionDir, version);
}

async function build(versionDir: string, version: string, toolchain: string, progress: (line: string) => void): Promise<void> {
  const started = Date.now();
  const logFile = join(versionDir, 'build.log');
  const env = goEnvironment({ GOTOOLCHAIN: toolchain, GOFLAGS: '-mod=mod' });
  await writeFile(logFile, `build of KEDA ${version} with ${toolchain} started ${new Date().toISOString()}\n`);
  const go = (args: readonly string[], cwd: string) => promisify(execFile)('go', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  let moduleDir: string;
  try {
    progress(`downloading ${KEDA_MODULE}@${version} (and the ${toolchain} toolchain it needs, once)`);
    moduleDir = (JSON.parse((await go(['mod', 'download', '-json', `${KEDA_MODULE}@${version}`], versionDir)).stdout) as { Dir: string }).Dir;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error("Go is needed to build KEDA for its peer tests, but 'go' is not on PATH.");
    throw new Error(`cannot download ${KEDA_MODULE}@${version} with ${toolchain}: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`);
  }
  // The module cache is read-only; the build writes go.sum entries into the copy.
  const source = join(versionDir, 'src');
  await rm(source, { recursive: true, force: true });
  await cp(moduleDir, source, { recursive: true });
  await makeWritable(source);
  const staging = join(versionDir, `bin.${process.pid}.tmp`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  progress(`building KEDA ${version} (operator, metrics adapter) with ${toolchain} (first run only, ~25 minutes cold; log: ${logFile})`);
  const ldflags = `-s -w -X ${KEDA_MODULE}/version.Version=${version}`;
  await goBuild(['build', '-trimpath', '-ldflags', ldflags, '-o', `${staging}/`, './cmd/operator', './cmd/adapter'], source, env, logFile, started, progress);
  const crds = join(versionDir, 'crds');
  await rm(crds, { recursive: true, force: true });
  await cp(join(source, 'config', 'crd', 'bases'), crds, { recursive: true });
  const goVersion = (await go(['env', 'GOVERSION'], source)).stdout.trim();
  // The binaries first, then the marker: a reader that sees the marker finds them.
  await rename(join(staging, 'operator'), join(versionDir, 'keda-operator'));
  await rename(join(staging, 'adapter'), join(versionDir, 'keda-adapter'));
  const marker: CompleteMarker = { keda: version, go: goVersion, builtAt: new Date().toISOString() };
  await writeFile(join(versionDir, '.complete'), `${JSON.stringify(marker)}\n`);
  await rm(staging, { recursive: true, force: true });
  await rm(source, { recursive: true, force: true });
  progress(`built KEDA ${version} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

function goBuild(args: string[], cwd: string, env: NodeJS.ProcessEnv, logFile: string, started: number, progress: (line: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fd = openSync(logFile, 'a');
    const child = spawn('go', args, { cwd, env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const ticker = setInterval(() => progress(`  ... still compiling KEDA (${((Date.now() - started) / 1000).toFixed(0)}s)`), 60_000);
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(new Error(`cannot run go build for KEDA: ${error.message}`));
    });
    child.on('exit', (code, signal) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`go build of KEDA failed (${signal ?? `exit ${code}`}); last lines of ${logFile}:\n${logTail(logFile)}`));
    });
  });
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await makeWritable(path);
    else await chmod(path, 0o644);
  }
}
