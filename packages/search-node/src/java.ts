import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

export interface FindJavaOptions {
  /** The oldest Java major version that runs the product. */
  readonly needed: number;
  /** Newer than this is refused (a product that breaks on a newer JDK). */
  readonly newest?: number;
  /** What needs it, for the error: "OpenSearch 2.19.6". */
  readonly product: string;
  /** A JDK to use instead of looking for one (its `bin/java`); refused when too old. */
  readonly javaHome?: string;
}

/**
 * The Java to run a product with: `javaHome` when given, else `JAVA_HOME` or `java` on PATH when
 * its version fits, else the newest fitting JDK in /usr/lib/jvm.
 */
export async function findJava(options: FindJavaOptions): Promise<string> {
  const fits = (major: number): boolean => major >= options.needed && (options.newest === undefined || major <= options.newest);
  const range = options.newest === undefined ? `${options.needed} or newer` : `${options.needed} to ${options.newest}`;
  if (options.javaHome !== undefined) {
    const java = join(options.javaHome, 'bin', 'java');
    const major = await javaMajor(java);
    if (major === null) throw new Error(`${options.product}: no Java at ${java}; point the JDK setting at a JDK's home folder`);
    if (!fits(major)) throw new Error(`${options.product} needs Java ${range}; ${java} is Java ${major}`);
    return java;
  }
  const candidates = [process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java'];
  if (existsSync('/usr/lib/jvm')) {
    for (const entry of readdirSync('/usr/lib/jvm').sort().reverse()) candidates.push(join('/usr/lib/jvm', entry, 'bin', 'java'));
  }
  const seen: string[] = [];
  for (const java of candidates) {
    const major = await javaMajor(java);
    if (major === null) continue;
    seen.push(`${java} (${major})`);
    if (fits(major)) return java;
  }
  throw new Error(
    `${options.product} needs Java ${range}; found ${seen.length ? seen.join(', ') : 'no Java'}. Install a JDK ${options.needed}+ or set JAVA_HOME to one.`,
  );
}

/** The major version of a `java` binary, or null when it does not run. */
export async function javaMajor(java: string): Promise<number | null> {
  try {
    const result = await promisify(execFile)(java, ['-version']);
    const match = /version "(\d+)(?:\.(\d+))?/.exec(`${result.stderr}${result.stdout}`);
    if (!match) return null;
    return match[1] === '1' ? Number(match[2]) : Number(match[1]);
  } catch {
    return null;
  }
}

/** A tool of the JDK that `java` belongs to (`javac`, `jar`), or an error saying a JDK is needed. */
export function jdkTool(java: string, tool: 'javac' | 'jar'): string {
  const path = java.includes('/') ? join(dirname(java), tool) : tool;
  if (java.includes('/') && !existsSync(path)) {
    throw new Error(`${path} is missing: ${java} belongs to a JRE, and lagscale compiles small stand-ins with a JDK; install the full JDK`);
  }
  return path;
}
