import { readFileSync } from 'node:fs';
import { chown, link, mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** The uid a node runs as when lagscale runs as root: OpenSearch and Elasticsearch refuse to run as root. */
export const UNPRIVILEGED_ID = 65534;

export function runningAsRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Free loopback ports (free when asked: a port can be taken again before use). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
          }),
      ),
    );
  } finally {
    for (const server of servers) server.close();
  }
}

/** Hard-links a resolved folder's files into `to` (copies them when the cache is on another file system). */
export async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) await linkTree(source, target);
    else {
      try {
        await link(source, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
        await writeFile(target, readFileSync(source));
      }
    }
  }
}

/**
 * Makes `homeDir` and the folders the node writes to owned by {@link UNPRIVILEGED_ID} when
 * lagscale runs as root (the node then runs as that uid); does nothing otherwise.
 */
export async function giveToNodeUser(homeDir: string, writable: readonly string[]): Promise<void> {
  if (!runningAsRoot()) return;
  await chown(homeDir, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
  for (const dir of writable) await chownTree(dir);
}

async function chownTree(dir: string): Promise<void> {
  await chown(dir, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path);
    else await chown(path, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
  }
}

/** `java args` as the node's user: through `setpriv` to {@link UNPRIVILEGED_ID} when running as root. */
export function asNodeUser(java: string, args: readonly string[]): [string, string[]] {
  return runningAsRoot() ? ['setpriv', [`--reuid=${UNPRIVILEGED_ID}`, `--regid=${UNPRIVILEGED_ID}`, '--clear-groups', java, ...args]] : [java, [...args]];
}

/**
 * The JVM flags a small loopback node of either engine starts with: a fixed heap, serial GC and
 * the C1 compiler (fastest start and least memory on 2 cores), and the netty and log4j settings
 * both distributions' launchers pass.
 */
export function smallNodeJvmFlags(heapMb: number): string[] {
  return [
    `-Xms${heapMb}m`,
    `-Xmx${heapMb}m`,
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Xss1m',
    '-Djava.awt.headless=true',
    '-Dfile.encoding=UTF-8',
    '-Djna.nosys=true',
    '-Dio.netty.noUnsafe=true',
    '-Dio.netty.noKeySetOptimization=true',
    '-Dio.netty.recycler.maxCapacityPerThread=0',
    '-Dlog4j.shutdownHookEnabled=false',
    '-Dlog4j2.disable.jmx=true',
  ];
}

/** log4j2.properties for a node that logs to its console only, without the deprecation warnings every request would add. */
export function consoleLog4jConfig(pattern: string, deprecationLogger: string): string {
  return [
    'status = error',
    'appender.console.type = Console',
    'appender.console.name = console',
    'appender.console.layout.type = PatternLayout',
    `appender.console.layout.pattern = ${pattern}`,
    'rootLogger.level = info',
    'rootLogger.appenderRef.console.ref = console',
    `logger.deprecation.name = ${deprecationLogger}`,
    'logger.deprecation.level = error',
    '',
  ].join('\n');
}
