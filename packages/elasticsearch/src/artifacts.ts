import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildOnce, copyRuntimeDependencies, defaultCacheDir, findJava, jdkTool, mavenDependency, runMaven, writeMavenReactor } from '@lagscale/search-node';
import { compileStandIns, javaNeededFor } from './stand-ins.js';

/** The Elasticsearch version the launcher assembles by default: the newest 8.x, on Java 17. */
export const DEFAULT_ELASTICSEARCH_VERSION = '8.19.21';

/** The versions lagscale's tests run against (8.19 on Java 17, 9.x on Java 21+). */
export const TESTED_ELASTICSEARCH_VERSIONS: readonly string[] = ['8.19.21', '9.5.3'];

/** Where a resolved Elasticsearch version lives, laid out as the distribution's `lib/` and `modules/`. */
export interface ElasticsearchDistribution {
  readonly version: string;
  readonly dir: string;
  /** The server and its runtime dependencies (the module path), plus `entitlement-bridge/`, `entitlement-agent/`, `tools/ansi-console/`. */
  readonly libDir: string;
  readonly modulesDir: string;
  /** The jar patched into java.base (`--patch-module`). */
  readonly bridgeJar: string;
}

export interface ResolveElasticsearchOptions {
  readonly version?: string;
  readonly cacheDir?: string;
  /** The JDK that compiles the stand-ins (and runs the node); default: found by {@link findElasticsearchJava}. */
  readonly javaHome?: string;
  /** Called with one human line per step (the first run downloads ~45 MB). */
  readonly onProgress?: (line: string) => void;
}

/**
 * The launcher writes the 7-field ServerArgs of 8.19 and 9.x, and 8.19 is the first 8.x without
 * the SecurityManager path: older versions need another launcher.
 */
export function checkSupportedVersion(version: string): void {
  const [major, minor] = version.split('.').map(Number);
  if (!/^\d+\.\d+\.\d+$/.test(version) || major === undefined || minor === undefined || major < 8 || (major === 8 && minor < 19)) {
    throw new Error(`Elasticsearch ${version}: the local launcher runs 8.19.x and 9.x (it writes their start-up arguments); pick one of those`);
  }
}

/** The Java for a version: `javaHome` when given, else a JDK of at least 17 (8.x) or 21 (9.x). */
export function findElasticsearchJava(version: string, javaHome?: string): Promise<string> {
  return findJava({ needed: javaNeededFor(version), product: `Elasticsearch ${version}`, ...(javaHome === undefined ? {} : { javaHome }) });
}

/**
 * Makes sure an Elasticsearch server is in the per-user cache, resolving it with Maven on first
 * use: `org.elasticsearch:elasticsearch` with its runtime dependencies in `lib/`,
 * `elasticsearch-entitlement-bridge` in `lib/entitlement-bridge/`, the `transport-netty4` module
 * (HTTP) in `modules/`, and the three stand-ins (see `stand-ins.ts`) compiled with the JDK's javac.
 * Safe to call from several processes at once: one resolves, the others wait for it.
 */
export async function resolveElasticsearch(options: ResolveElasticsearchOptions = {}): Promise<ElasticsearchDistribution> {
  const version = options.version ?? DEFAULT_ELASTICSEARCH_VERSION;
  checkSupportedVersion(version);
  const dir = join(options.cacheDir ?? defaultCacheDir(), 'elasticsearch', version);
  const libDir = join(dir, 'lib');
  const modulesDir = join(dir, 'modules');
  const bridgeJar = join(libDir, 'entitlement-bridge', `elasticsearch-entitlement-bridge-${version}.jar`);
  const distribution: ElasticsearchDistribution = { version, dir, libDir, modulesDir, bridgeJar };
  const progress = options.onProgress ?? (() => {});
  await buildOnce(dir, `Elasticsearch ${version}`, progress, async () => {
    const java = await findElasticsearchJava(version, options.javaHome);
    const build = join(dir, 'maven');
    for (const stale of [build, libDir, modulesDir]) await rm(stale, { recursive: true, force: true });
    const projects = new Map([
      ['server', [mavenDependency('org.elasticsearch', 'elasticsearch', version)]],
      ['transport-netty4', [mavenDependency('org.elasticsearch.plugin', 'transport-netty4', version)]],
    ]);
    await writeMavenReactor(build, `elasticsearch-${version}`, projects);
    progress(`resolving Elasticsearch ${version} with Maven into ${dir} (first run only)`);
    const started = Date.now();
    await copyRuntimeDependencies(build, 'Elasticsearch', progress);
    await rename(join(build, 'server', 'jars'), libDir);
    if (!existsSync(join(libDir, `elasticsearch-${version}.jar`))) throw new Error(`Maven finished but elasticsearch-${version}.jar is not in ${libDir}`);
    // The bridge is patched into java.base; on the module path as well it would be a split package.
    await unlink(join(libDir, `elasticsearch-entitlement-bridge-${version}.jar`)).catch(() => {});
    await runMaven(
      build,
      [
        '-B',
        '-q',
        '-N',
        'dependency:copy',
        `-Dartifact=org.elasticsearch:elasticsearch-entitlement-bridge:${version}`,
        `-DoutputDirectory=${join(libDir, 'entitlement-bridge')}`,
      ],
      'Elasticsearch',
      progress,
    );
    const serverJars = new Set(await readdir(libDir));
    const netty = join(modulesDir, 'transport-netty4');
    await mkdir(modulesDir);
    await rename(join(build, 'transport-netty4', 'jars'), netty);
    // A jar both in lib/ and in a module's folder is loaded twice and start-up fails ("jar hell").
    for (const jar of await readdir(netty)) if (serverJars.has(jar)) await unlink(join(netty, jar));
    await extractPluginFiles(java, join(netty, `transport-netty4-${version}.jar`), 'transport-netty4', netty, join(build, 'extract'));
    progress(`compiling lagscale's stand-ins for the entitlement agent, the ANSI console loader and rest-root with ${jdkTool(java, 'javac')}`);
    await compileStandIns(java, version, join(build, 'stand-ins'), {
      libDir,
      agentDir: join(libDir, 'entitlement-agent'),
      ansiConsoleDir: join(libDir, 'tools', 'ansi-console'),
      restRootDir: join(modulesDir, 'rest-root'),
    });
    await rm(build, { recursive: true, force: true });
    progress(
      `resolved Elasticsearch ${version} (${serverJars.size} server jars, modules transport-netty4 and rest-root) in ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
  });
  return distribution;
}

/** The module's descriptor and entitlement policy ship inside its jar (META-INF/es-plugins/<name>/). */
async function extractPluginFiles(java: string, jar: string, name: string, into: string, work: string): Promise<void> {
  await mkdir(work, { recursive: true });
  const inJar = `META-INF/es-plugins/${name}`;
  const files = ['plugin-descriptor.properties', 'entitlement-policy.yaml'];
  await promisify(execFile)(jdkTool(java, 'jar'), ['--extract', '--file', jar, ...files.map((file) => `${inJar}/${file}`)], { cwd: work });
  for (const file of files) {
    const extracted = join(work, inJar, file);
    if (!existsSync(extracted)) throw new Error(`${jar} has no ${inJar}/${file}: this Elasticsearch version packs its ${name} module differently`);
    await copyFile(extracted, join(into, file));
  }
}
