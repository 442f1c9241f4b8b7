import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildOnce, defaultCacheDir, goEnvironment } from './build-cache.js';
import { logTail } from './log-tail.js';

export const DEFAULT_KUBERNETES_VERSION = 'v1.37.2';
export const DEFAULT_ETCD_VERSION = 'v3.7.3';

const KUBERNETES_COMMANDS = ['kube-apiserver', 'kube-controller-manager'] as const;

/** The programs of the test control plane, as absolute paths in the per-user cache. */
export interface ControlPlaneBinaries {
  readonly kubernetesVersion: string;
  readonly etcdVersion: string;
  readonly binDir: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly etcd: string;
}

export interface ResolveBinariesOptions {
  /** Kubernetes release, e.g. v1.37.2 (default). */
  readonly version?: string;
  /** etcd release, e.g. v3.7.3 (default). */
  readonly etcdVersion?: string;
  /** Default: $LAGSCALE_CACHE_DIR, else $XDG_CACHE_HOME/lagscale, else ~/.cache/lagscale. */
  readonly cacheDir?: string;
  /** Called with one human line per step (the first build downloads ~1 GB of Go modules). */
  readonly onProgress?: (line: string) => void;
  /** How long to wait for another process building the same version; default 60 minutes. */
  readonly lockTimeoutMs?: number;
}

interface CompleteMarker {
  readonly kubernetes: string;
  readonly etcd: string;
  readonly go: string;
  readonly builtAt: string;
}

/** Where the binaries of one Kubernetes version live once built. */
export function kubernetesBinDir(version = DEFAULT_KUBERNETES_VERSION, cacheDir = defaultCacheDir()): string {
  return join(cacheDir, 'kubernetes', version, 'bin');
}

function binariesIn(binDir: string, kubernetesVersion: string, etcdVersion: string): ControlPlaneBinaries {
  return {
    kubernetesVersion,
    etcdVersion,
    binDir,
    kubeApiserver: join(binDir, 'kube-apiserver'),
    kubeControllerManager: join(binDir, 'kube-controller-manager'),
    etcd: join(binDir, 'etcd'),
  };
}

function isComplete(binDir: string, kubernetesVersion: string, etcdVersion: string): boolean {
  const marker = join(binDir, '.complete');
  if (!existsSync(marker)) return false;
  try {
    const built = JSON.parse(readFileSync(marker, 'utf8')) as CompleteMarker;
    return built.kubernetes === kubernetesVersion && built.etcd === etcdVersion;
  } catch {
    return false;
  }
}

/**
 * Makes sure kube-apiserver, kube-controller-manager and etcd of the given versions are in the
 * per-user cache, building them from their Go modules on first use (needs Go; a cold build takes
 * several minutes, a finished cache is reused at once). Safe to call from several processes at
 * once: one builds, the others wait for it.
 */
export async function resolveControlPlaneBinaries(options: ResolveBinariesOptions = {}): Promise<ControlPlaneBinaries> {
  const version = options.version ?? DEFAULT_KUBERNETES_VERSION;
  const etcdVersion = options.etcdVersion ?? DEFAULT_ETCD_VERSION;
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const versionDir = join(cacheDir, 'kubernetes', version);
  const binDir = join(versionDir, 'bin');
  if (isComplete(binDir, version, etcdVersion)) return binariesIn(binDir, version, etcdVersion);

  const progress = options.onProgress ?? (() => {});
  await buildOnce({
    dir: versionDir,
    what: `Kubernetes ${version} binaries`,
    isComplete: () => isComplete(binDir, version, etcdVersion),
    build: () => build(versionDir, version, etcdVersion, progress),
    progress,
    lockTimeoutMs: options.lockTimeoutMs ?? 60 * 60_000,
  });
  return binariesIn(binDir, version, etcdVersion);
}

async function build(versionDir: string, version: string, etcdVersion: string, progress: (line: string) => void): Promise<void> {
  const started = Date.now();
  const binDir = join(versionDir, 'bin');
  const stagingBin = join(versionDir, `bin.${process.pid}.tmp`);
  const logFile = join(versionDir, 'build.log');
  const go = new GoRunner(logFile, progress);
  await rm(stagingBin, { recursive: true, force: true });
  await mkdir(stagingBin, { recursive: true });
  await writeFile(logFile, `build of Kubernetes ${version} and etcd ${etcdVersion} started ${new Date().toISOString()}\n`);
  const goVersion = (await go.output(versionDir, ['env', 'GOVERSION'])).trim();
  progress(`building Kubernetes ${version} and etcd ${etcdVersion} with ${goVersion} into ${binDir} (first run only; log: ${logFile})`);

  // kube-apiserver and kube-controller-manager: k8s.io/kubernetes requires its staging modules
  // (k8s.io/api, client-go, ...) at v0.0.0 and points them at ./staging in its own replace block,
  // which does not apply to a module that requires it. A wrapper module replaces each of them
  // with its published release, v0.<minor>.<patch>.
  const kubernetesGoMod = await go.modFile(versionDir, `k8s.io/kubernetes@${version}`);
  const staging = stagingModules(kubernetesGoMod);
  if (staging.length === 0) throw new Error(`no staging modules found in the go.mod of k8s.io/kubernetes@${version}; is it a release tag?`);
  const stagingVersion = version.replace(/^v1\./, 'v0.');
  const kubernetesModule = join(versionDir, 'src', 'kubernetes');
  await mkdir(kubernetesModule, { recursive: true });
  await writeFile(
    join(kubernetesModule, 'go.mod'),
    [
      '// Generated by @lagscale/kubernetes: builds the test control plane from the Kubernetes release.',
      'module lagscale.local/kubernetes-control-plane',
      '',
      goDirectives(kubernetesGoMod),
      '',
      `require k8s.io/kubernetes ${version}`,
      '',
      'replace (',
      ...staging.map((module) => `\t${module} => ${module} ${stagingVersion}`),
      ')',
      '',
      'tool (',
      ...KUBERNETES_COMMANDS.map((command) => `\tk8s.io/kubernetes/cmd/${command}`),
      ')',
      '',
    ].join('\n'),
  );
  let step = Date.now();
  progress(`downloading the Go modules of Kubernetes ${version} (${staging.length} staging modules at ${stagingVersion}; ~1 GB on first use)`);
  await go.run(kubernetesModule, ['mod', 'tidy'], 'downloading Kubernetes modules');
  progress(`  modules ready in ${seconds(step)}`);

  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(version) ?? [];
  const ldflags = [
    '-s',
    '-w',
    `-X k8s.io/component-base/version.gitVersion=${version}`,
    `-X k8s.io/component-base/version.gitMajor=${major ?? ''}`,
    `-X k8s.io/component-base/version.gitMinor=${minor ?? ''}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
  ].join(' ');
  step = Date.now();
  progress(`compiling ${KUBERNETES_COMMANDS.join(' and ')} (a cold build takes ~15 minutes of CPU)`);
  await go.run(
    kubernetesModule,
    ['build', '-trimpath', '-ldflags', ldflags, '-o', `${stagingBin}/`, ...KUBERNETES_COMMANDS.map((command) => `k8s.io/kubernetes/cmd/${command}`)],
    'compiling Kubernetes',
  );
  progress(`  compiled in ${seconds(step)}`);

  // etcd: its server module's etcdmain package is the whole program.
  const etcdGoMod = await go.modFile(versionDir, `go.etcd.io/etcd/server/v3@${etcdVersion}`);
  const etcdModule = join(versionDir, 'src', 'etcd');
  await mkdir(etcdModule, { recursive: true });
  await writeFile(
    join(etcdModule, 'go.mod'),
    [
      '// Generated by @lagscale/kubernetes: builds etcd for the test control plane.',
      'module lagscale.local/etcd',
      '',
      goDirectives(etcdGoMod),
      '',
      `require go.etcd.io/etcd/server/v3 ${etcdVersion}`,
      '',
    ].join('\n'),
  );
  await writeFile(
    join(etcdModule, 'main.go'),
    'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n',
  );
  step = Date.now();
  progress(`downloading and compiling etcd ${etcdVersion}`);
  await go.run(etcdModule, ['mod', 'tidy'], 'downloading etcd modules');
  await go.run(etcdModule, ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(stagingBin, 'etcd'), '.'], 'compiling etcd');
  progress(`  etcd ready in ${seconds(step)}`);

  await checkVersion(join(stagingBin, 'kube-apiserver'), ['--version'], version);
  await checkVersion(join(stagingBin, 'kube-controller-manager'), ['--version'], version);
  await checkVersion(join(stagingBin, 'etcd'), ['--version'], etcdVersion.replace(/^v/, ''));
  const marker: CompleteMarker = { kubernetes: version, etcd: etcdVersion, go: goVersion, builtAt: new Date().toISOString() };
  await writeFile(join(stagingBin, '.complete'), `${JSON.stringify(marker)}\n`);
  // Swap the finished folder in whole: a reader sees the old cache, none, or the new one.
  await rm(binDir, { recursive: true, force: true });
  await rename(stagingBin, binDir);
  progress(`built the Kubernetes ${version} test control plane in ${seconds(started)}`);
}

/**
 * The staging modules a Kubernetes release's go.mod both requires at v0.0.0 and replaces with
 * a folder under ./staging (the ones a module requiring k8s.io/kubernetes must pin itself).
 */
export function stagingModules(goMod: string): string[] {
  const replaced = new Set([...goMod.matchAll(/^\s*(\S+)\s+=>\s+\.\/staging\//gm)].map((match) => match[1]));
  const required = [...goMod.matchAll(/^\s*(?:require\s+)?(\S+)\s+v0\.0\.0\s*(?:\/\/.*)?$/gm)].map((match) => match[1] as string);
  return [...new Set(required.filter((module) => replaced.has(module)))].sort();
}

/** The `go` line (and single-line `godebug` lines) of a go.mod, so the wrapper builds like the original. */
function goDirectives(goMod: string): string {
  const goLine = /^go\s+\S+\s*$/m.exec(goMod)?.[0];
  if (!goLine) throw new Error('the go.mod has no go directive');
  const godebug = goMod.match(/^godebug\s+\S+=\S+\s*$/gm) ?? [];
  return [goLine.trim(), ...godebug.map((line) => line.trim())].join('\n');
}

async function checkVersion(binary: string, args: string[], expected: string): Promise<void> {
  const { stdout, stderr } = await promisify(execFile)(binary, args, { timeout: 30_000 });
  if (!`${stdout}${stderr}`.includes(expected)) {
    throw new Error(`${binary} ${args.join(' ')} printed '${`${stdout}${stderr}`.trim()}', not version ${expected}`);
  }
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

/** Runs the go command with a local toolchain only, logging everything to one file. */
class GoRunner {
  readonly #logFile: string;
  readonly #progress: (line: string) => void;
  readonly #env: NodeJS.ProcessEnv;

  constructor(logFile: string, progress: (line: string) => void) {
    this.#logFile = logFile;
    this.#progress = progress;
    this.#env = goEnvironment({ GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=mod`.trim() });
  }

  async output(cwd: string, args: string[]): Promise<string> {
    try {
      return (await promisify(execFile)('go', args, { cwd, env: this.#env, maxBuffer: 16 * 1024 * 1024 })).stdout;
    } catch (error) {
      throw goError(args, cwd, error as NodeJS.ErrnoException & { stdout?: string; stderr?: string });
    }
  }

  /** The go.mod text of one module version (downloads that module if needed). */
  async modFile(cwd: string, moduleAtVersion: string): Promise<string> {
    const info = JSON.parse(await this.output(cwd, ['mod', 'download', '-json', moduleAtVersion])) as { GoMod?: string; Error?: string };
    if (!info.GoMod) throw new Error(`go mod download ${moduleAtVersion} gave no go.mod${info.Error ? `: ${info.Error}` : ''}`);
    return readFile(info.GoMod, 'utf8');
  }

  run(cwd: string, args: string[], doing: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const fd = openSync(this.#logFile, 'a');
      const child = spawn('go', args, { cwd, env: this.#env, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      const started = Date.now();
      const ticker = setInterval(() => this.#progress(`  ... still ${doing} (${seconds(started)})`), 30_000);
      child.on('error', (error) => {
        clearInterval(ticker);
        reject(goError(args, cwd, error));
      });
      child.on('exit', (code, signal) => {
        clearInterval(ticker);
        if (code === 0) resolve();
        else
          reject(new Error(`go ${args.join(' ')} failed (${signal ?? `exit ${code}`}) in ${cwd}; last lines of ${this.#logFile}:\n${logTail(this.#logFile)}`));
      });
    });
  }
}

function goError(args: string[], cwd: string, error: NodeJS.ErrnoException & { stdout?: string; stderr?: string }): Error {
  if (error.code === 'ENOENT') {
    return new Error("Go is needed to build the Kubernetes test control plane, but 'go' is not on PATH. Install Go 1.26 or newer.");
  }
  const detail = `${error.stderr ?? ''}${error.stdout ?? ''}`.trim() || error.message;
  return new Error(`go ${args.join(' ')} failed in ${cwd}: ${detail}`);
}
