import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The per-user cache: `LAGSCALE_CACHE_DIR`, else `$XDG_CACHE_HOME/lagscale`, else `~/.cache/lagscale`. */
export function defaultCacheDir(): string {
  return process.env.LAGSCALE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lagscale');
}

/**
 * Fills `dir` once with `build`, under a lock that parallel processes share: one builds, the
 * others wait and then use what it built. A finished folder holds `.complete`; a build that
 * failed leaves none, so the next call starts over.
 */
export async function buildOnce(dir: string, what: string, progress: (line: string) => void, build: () => Promise<void>): Promise<void> {
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return;
  await mkdir(dir, { recursive: true });
  const lock = join(dir, '.resolving');
  for (let waited = 0; ; waited += 500) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (existsSync(marker)) return;
      if (waited === 0) progress(`waiting for another process resolving ${what}`);
      if (waited > 10 * 60_000) {
        throw new Error(`${what}: lock ${lock} held for over 10 minutes; remove it if no other lagscale process is resolving ${what}`);
      }
      await sleep(500);
    }
  }
  try {
    if (existsSync(marker)) return;
    await build();
    await writeFile(marker, `${new Date().toISOString()}\n`);
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

export function mavenDependency(groupId: string, artifactId: string, version: string): string {
  return `<dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version></dependency>`;
}

export function mavenPom(artifactId: string, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.lagscale.cache</groupId>
  <artifactId>${artifactId}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
${body}
</project>
`;
}

/**
 * One Maven reactor in `build`: a sub-project per entry of `projects` (folder name → its
 * `<dependency>` elements), so one run resolves them all.
 */
export async function writeMavenReactor(build: string, name: string, projects: ReadonlyMap<string, readonly string[]>): Promise<void> {
  await mkdir(build, { recursive: true });
  const modules = [...projects.keys()].map((folder) => `<module>${folder}</module>`).join('');
  await writeFile(join(build, 'pom.xml'), mavenPom(name, `  <modules>${modules}</modules>`));
  for (const [folder, dependencies] of projects) {
    await mkdir(join(build, folder));
    await writeFile(join(build, folder, 'pom.xml'), mavenPom(`${name}-${folder}`, `  <dependencies>${dependencies.join('')}</dependencies>`));
  }
}

/** Copies each sub-project's runtime dependencies into `<build>/<sub-project>/jars`. */
export function copyRuntimeDependencies(build: string, what: string, progress: (line: string) => void): Promise<void> {
  // Maven expands ${project.basedir} per sub-project: each one's jars land in its own folder.
  const eachProjectsFolder = '-DoutputDirectory=$' + '{project.basedir}/jars';
  return runMaven(build, ['-B', '-q', 'dependency:copy-dependencies', '-DincludeScope=runtime', eachProjectsFolder], what, progress);
}

/** Runs `mvn` in `cwd`; `what` names the product in progress lines and errors ("OpenSearch"). */
export function runMaven(cwd: string, args: readonly string[], what: string, progress: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn('mvn', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const ticker = setInterval(() => progress(`  ... still resolving ${what} with Maven`), 10_000);
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(new Error(`cannot run Maven (mvn) to fetch ${what}: ${error.message}. Install Maven 3 and make sure 'mvn' is on PATH.`));
    });
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`Maven failed (exit ${code}) resolving ${what} in ${cwd}:\n${output.trim()}`));
    });
  });
}
