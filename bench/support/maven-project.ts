/**
 * The Java programs the benchmarks run beside lagscale (bench/lag-collect/java,
 * bench/validator-throughput/java): each a Maven project, built into its jar when pom.xml or
 * src/ changed since, with its runtime classpath cached in target/ (resolved again when pom.xml
 * changes). Also how to run a command and report its failure with the tail of its output.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

type RunError = Error & { code?: number | string; killed?: boolean; signal?: NodeJS.Signals | null };

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  error: RunError | null;
}

/** Runs a command to its end; never rejects (the result says how it ended). */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; timeoutMs: number; onStderrLine?: (line: string) => void },
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { cwd: options.cwd, timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const err = error as RunError | null;
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
        error: err,
      });
    });
    const onLine = options.onStderrLine;
    if (onLine && child.stderr) {
      let pending = '';
      child.stderr.on('data', (chunk: Buffer | string) => {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) onLine(line);
      });
    }
  });
}

const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** The last lines of a program's output, without colour codes. */
export function tail(text: string, lines = 40): string {
  return text.replace(ANSI_ESCAPE, '').trimEnd().split('\n').slice(-lines).join('\n');
}

/** An error saying what failed and how (not found, timed out, exit code), with the last of its output. */
export function commandFailure(what: string, result: RunResult, hint: string): Error {
  if (result.error?.code === 'ENOENT') return new Error(`${what}: command not found. ${hint}`);
  const reason = result.error?.killed ? 'timed out' : `exited with ${result.code ?? result.error?.signal ?? 'an error'}`;
  const output = tail(`${result.stdout}\n${result.stderr}`);
  return new Error(`${what} ${reason}${output ? `; last output:\n${output}` : ''}`);
}

/** `java` of JAVA_HOME when it is set, else the one on PATH. */
export function javaBinary(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

export const JDK_HINT = 'Install a JDK 17+ or set JAVA_HOME.';
const MAVEN_HINT = 'Install Maven 3 (e.g. apt-get install maven) and a JDK 17+.';
const MAVEN_FLAGS = ['-q', '-B', '-Dstyle.color=never'];

export interface MavenProject {
  /** The folder of pom.xml and src/. */
  readonly dir: string;
  /** The jar `mvn package` makes, as the pom's finalName names it: `<finalName>.jar`. */
  readonly jarName: string;
}

async function newestSourceMtime(dir: string): Promise<number> {
  let newest = (await stat(join(dir, 'pom.xml'))).mtimeMs;
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else newest = Math.max(newest, (await stat(path)).mtimeMs);
    }
  };
  await walk(join(dir, 'src'));
  return newest;
}

async function mtimeOr0(path: string): Promise<number> {
  return existsSync(path) ? (await stat(path)).mtimeMs : 0;
}

const prepared = new Map<string, Promise<string>>();

/** Builds the project's jar if it is missing or older than pom.xml/src, and returns the full runtime classpath (the jar first). */
export function prepareMavenProject(project: MavenProject): Promise<string> {
  let classpath = prepared.get(project.dir);
  if (classpath !== undefined) return classpath;
  classpath = build(project);
  prepared.set(project.dir, classpath);
  // A failed build is not cached: the next call tries again.
  classpath.catch(() => prepared.delete(project.dir));
  return classpath;
}

async function build({ dir, jarName }: MavenProject): Promise<string> {
  const target = join(dir, 'target');
  const jar = join(target, jarName);
  const classpathFile = join(target, 'runtime-classpath.txt');
  if ((await mtimeOr0(jar)) <= (await newestSourceMtime(dir))) {
    const built = await runCommand('mvn', [...MAVEN_FLAGS, 'package'], { cwd: dir, timeoutMs: 600_000 });
    if (built.code !== 0) throw commandFailure(`'mvn package' in ${dir}`, built, MAVEN_HINT);
    if (!existsSync(jar)) throw new Error(`'mvn package' succeeded but ${jar} is missing`);
  }
  if ((await mtimeOr0(classpathFile)) <= (await stat(join(dir, 'pom.xml'))).mtimeMs) {
    const resolved = await runCommand(
      'mvn',
      [...MAVEN_FLAGS, 'dependency:build-classpath', '-Dmdep.includeScope=runtime', `-Dmdep.outputFile=${classpathFile}`],
      {
        cwd: dir,
        timeoutMs: 600_000,
      },
    );
    if (resolved.code !== 0 || !existsSync(classpathFile)) throw commandFailure(`'mvn dependency:build-classpath' in ${dir}`, resolved, MAVEN_HINT);
  }
  const dependencies = (await readFile(classpathFile, 'utf8')).trim();
  return dependencies ? `${jar}:${dependencies}` : jar;
}
