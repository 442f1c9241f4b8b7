import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildOnce, copyRuntimeDependencies, defaultCacheDir, mavenDependency, runMaven, writeMavenReactor } from '@lagscale/search-node';

export { defaultCacheDir };

/** The OpenSearch version the launcher assembles: the newest that runs on Java 17. */
export const DEFAULT_OPENSEARCH_VERSION = '2.19.6';

/**
 * The modules a node needs for what lagscale asks of it: HTTP (netty4), analyzers, scripts,
 * extra field types, matrix stats, joins and reindex. `classname` is the module's plugin class;
 * the Maven jars carry no plugin descriptor, so the launcher writes one.
 */
export const OPENSEARCH_MODULES: readonly OpenSearchModule[] = [
  { name: 'transport-netty4', artifactId: 'transport-netty4-client', classname: 'org.opensearch.transport.Netty4Plugin' },
  { name: 'analysis-common', artifactId: 'analysis-common', classname: 'org.opensearch.analysis.common.CommonAnalysisPlugin' },
  { name: 'lang-painless', artifactId: 'lang-painless', classname: 'org.opensearch.painless.PainlessPlugin' },
  { name: 'mapper-extras', artifactId: 'mapper-extras-client', classname: 'org.opensearch.index.mapper.MapperExtrasPlugin' },
  {
    name: 'aggs-matrix-stats',
    artifactId: 'aggs-matrix-stats-client',
    classname: 'org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin',
  },
  { name: 'parent-join', artifactId: 'parent-join-client', classname: 'org.opensearch.join.ParentJoinPlugin' },
  { name: 'reindex', artifactId: 'reindex-client', classname: 'org.opensearch.index.reindex.ReindexPlugin' },
];

export interface OpenSearchModule {
  readonly name: string;
  readonly artifactId: string;
  readonly classname: string;
}

/** Where a resolved OpenSearch version lives: `lib/` (the server) and `modules/<name>/`. */
export interface OpenSearchDistribution {
  readonly version: string;
  readonly dir: string;
  readonly libDir: string;
  readonly modulesDir: string;
}

export interface ResolveOptions {
  readonly version?: string;
  readonly cacheDir?: string;
  /** Called with one human line per step (the first run downloads ~90 MB). */
  readonly onProgress?: (line: string) => void;
}

/** The Java major version an OpenSearch version needs (3.x moved to Java 21). */
export function javaNeededFor(version: string): number {
  return Number(version.split('.')[0]) >= 3 ? 21 : 17;
}

/**
 * Makes sure an OpenSearch server (the `org.opensearch:opensearch` jar, its runtime
 * dependencies and the modules in {@link OPENSEARCH_MODULES}) is in the per-user cache, resolving
 * it with Maven on first use. Safe to call from several processes at once: one resolves, the
 * others wait for it.
 */
export async function resolveOpenSearch(options: ResolveOptions = {}): Promise<OpenSearchDistribution> {
  const version = options.version ?? DEFAULT_OPENSEARCH_VERSION;
  const dir = join(options.cacheDir ?? defaultCacheDir(), 'opensearch', version);
  const distribution = { version, dir, libDir: join(dir, 'lib'), modulesDir: join(dir, 'modules') };
  const progress = options.onProgress ?? (() => {});
  await buildOnce(dir, `OpenSearch ${version}`, progress, async () => {
    const build = join(dir, 'maven');
    await rm(build, { recursive: true, force: true });
    await rm(distribution.libDir, { recursive: true, force: true });
    await rm(distribution.modulesDir, { recursive: true, force: true });
    await writeReactor(build, version);
    progress(`resolving OpenSearch ${version} with Maven into ${dir} (first run only)`);
    const started = Date.now();
    await copyRuntimeDependencies(build, 'OpenSearch', progress);
    await rename(join(build, 'server', 'jars'), distribution.libDir);
    if (!existsSync(join(distribution.libDir, `opensearch-${version}.jar`))) {
      throw new Error(`Maven finished but opensearch-${version}.jar is not in ${distribution.libDir}`);
    }
    await matchLog4jCore(distribution.libDir, build, progress);
    const serverJars = new Set(await readdir(distribution.libDir));
    await mkdir(distribution.modulesDir);
    for (const module of OPENSEARCH_MODULES) {
      const moduleDir = join(distribution.modulesDir, module.name);
      await rename(join(build, module.name, 'jars'), moduleDir);
      // A jar both in lib/ and in a module's folder is loaded twice and start-up fails ("jar hell").
      for (const jar of await readdir(moduleDir)) {
        if (serverJars.has(jar)) await unlink(join(moduleDir, jar));
      }
      await checkPluginClass(moduleDir, module, version);
      await writeFile(join(moduleDir, 'plugin-descriptor.properties'), pluginDescriptor(module, version));
      await writeFile(join(moduleDir, 'plugin-security.policy'), MODULE_POLICY);
    }
    await rm(build, { recursive: true, force: true });
    progress(
      `resolved OpenSearch ${version} (${serverJars.size} server jars, ${OPENSEARCH_MODULES.length} modules) in ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
  });
  return distribution;
}

/**
 * log4j-core is an optional dependency of the server, so its version is not pinned by the
 * server's pom: take the one that matches the log4j-api the server brought.
 */
async function matchLog4jCore(libDir: string, build: string, progress: (line: string) => void): Promise<void> {
  const jars = await readdir(libDir);
  const api = jars.map((jar) => /^log4j-api-(.+)\.jar$/.exec(jar)?.[1]).find(Boolean);
  if (!api) throw new Error(`OpenSearch's lib/ in ${libDir} has no log4j-api jar`);
  if (jars.includes(`log4j-core-${api}.jar`)) return;
  for (const jar of jars.filter((j) => j.startsWith('log4j-core-'))) await unlink(join(libDir, jar));
  await runMaven(
    build,
    ['-B', '-q', '-N', 'dependency:copy', `-Dartifact=org.apache.logging.log4j:log4j-core:${api}`, `-DoutputDirectory=${libDir}`],
    'OpenSearch',
    progress,
  );
}

/** Replaced by the version matching log4j-api when they differ (see matchLog4jCore). */
const LOG4J_CORE_GUESS = '2.25.4';

/** One Maven reactor: the server and each module as a sub-project, so one run resolves them all. */
async function writeReactor(build: string, version: string): Promise<void> {
  // The server's optional dependencies that a node needs: log4j's implementation and geo shapes.
  const server = [
    mavenDependency('org.opensearch', 'opensearch', version),
    mavenDependency('org.opensearch', 'opensearch-plugin-classloader', version),
    mavenDependency('org.apache.logging.log4j', 'log4j-core', LOG4J_CORE_GUESS),
    mavenDependency('org.locationtech.jts', 'jts-core', '1.15.0'),
    mavenDependency('org.locationtech.spatial4j', 'spatial4j', '0.7'),
  ];
  const projects = new Map<string, string[]>([['server', server]]);
  for (const module of OPENSEARCH_MODULES) projects.set(module.name, [mavenDependency('org.opensearch.plugin', module.artifactId, version)]);
  await writeMavenReactor(build, `opensearch-${version}`, projects);
}

/** The descriptor names a class; fail at resolve time, not at node start, when the jar lacks it. */
async function checkPluginClass(moduleDir: string, module: OpenSearchModule, version: string): Promise<void> {
  const jar = join(moduleDir, `${module.artifactId}-${version}.jar`);
  // A jar's central directory lists entry names uncompressed, so a byte search finds the class.
  const entry = `${module.classname.replaceAll('.', '/')}.class`;
  if (!(await readFile(jar)).includes(entry)) {
    throw new Error(`${jar} has no ${entry}: OpenSearch ${version} names the ${module.name} module's plugin class differently`);
  }
}

function pluginDescriptor(module: OpenSearchModule, version: string): string {
  return [
    `description=${module.name} module of OpenSearch ${version}, assembled by lagscale`,
    `version=${version}`,
    `name=${module.name}`,
    `classname=${module.classname}`,
    `java.version=${javaNeededFor(version)}`,
    `opensearch.version=${version}`,
    'extended.plugins=',
    'has.native.controller=false',
    '',
  ].join('\n');
}

/**
 * The node runs on loopback only, for tests and local development, so each module may do what
 * its code asks (sockets, reflection, class loaders). A production cluster runs the official
 * distribution with its own policies.
 */
const MODULE_POLICY = 'grant {\n  permission java.security.AllPermission;\n};\n';
