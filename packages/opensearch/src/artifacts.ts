import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

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

export function defaultCacheDir(): string {
  return process.env.LAGSCALE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lagscale');
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
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const dir = join(cacheDir, 'opensearch', version);
  const distribution = { version, dir, libDir: join(dir, 'lib'), modulesDir: join(dir, 'modules') };
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return distribution;

  await mkdir(dir, { recursive: true });
  const lock = join(dir, '.resolving');
  const progress = options.onProgress ?? (() => {});
  for (let waited = 0; ; waited += 500) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (existsSync(marker)) return distribution;
      if (waited === 0) progress(`waiting for another process resolving OpenSearch ${version}`);
      if (waited > 10 * 60_000) {
        throw new Error(`OpenSearch ${version}: lock ${lock} held for over 10 minutes; remove it if no other lagscale process is resolving OpenSearch`);
      }
      await sleep(500);
    }
  }
  try {
    if (existsSync(marker)) return distribution;
    const build = join(dir, 'maven');
    await rm(build, { recursive: true, force: true });
    await rm(distribution.libDir, { recursive: true, force: true });
    await rm(distribution.modulesDir, { recursive: true, force: true });
    await writeReactor(build, version);
    progress(`resolving OpenSearch ${version} with Maven into ${dir} (first run only)`);
    const started = Date.now();
    // Maven expands ${project.basedir} per sub-project: each one's jars land in its own folder.
    const eachProjectsFolder = '-DoutputDirectory=$' + '{project.basedir}/jars';
    await runMaven(build, ['-B', '-q', 'dependency:copy-dependencies', '-DincludeScope=runtime', eachProjectsFolder], progress);
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
    await writeFile(marker, `${new Date().toISOString()}\n`);
    progress(
      `resolved OpenSearch ${version} (${serverJars.size} server jars, ${OPENSEARCH_MODULES.length} modules) in ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    return distribution;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
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
    progress,
  );
}

function dependency(groupId: string, artifactId: string, version: string): string {
  return `<dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version></dependency>`;
}

function pom(artifactId: string, body: string): string {
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

/** Replaced by the version matching log4j-api when they differ (see matchLog4jCore). */
const LOG4J_CORE_GUESS = '2.25.4';

/** One Maven reactor: the server and each module as a sub-project, so one run resolves them all. */
async function writeReactor(build: string, version: string): Promise<void> {
  const names = ['server', ...OPENSEARCH_MODULES.map((m) => m.name)];
  await mkdir(build, { recursive: true });
  await writeFile(join(build, 'pom.xml'), pom(`opensearch-${version}`, `  <modules>${names.map((n) => `<module>${n}</module>`).join('')}</modules>`));
  // The server's optional dependencies that a node needs: log4j's implementation and geo shapes.
  const server = [
    dependency('org.opensearch', 'opensearch', version),
    dependency('org.opensearch', 'opensearch-plugin-classloader', version),
    dependency('org.apache.logging.log4j', 'log4j-core', LOG4J_CORE_GUESS),
    dependency('org.locationtech.jts', 'jts-core', '1.15.0'),
    dependency('org.locationtech.spatial4j', 'spatial4j', '0.7'),
  ];
  await mkdir(join(build, 'server'));
  await writeFile(join(build, 'server', 'pom.xml'), pom(`opensearch-server-${version}`, `  <dependencies>${server.join('')}</dependencies>`));
  for (const module of OPENSEARCH_MODULES) {
    await mkdir(join(build, module.name));
    await writeFile(
      join(build, module.name, 'pom.xml'),
      pom(`opensearch-module-${module.name}-${version}`, `  <dependencies>${dependency('org.opensearch.plugin', module.artifactId, version)}</dependencies>`),
    );
  }
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

function runMaven(cwd: string, args: string[], progress: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn('mvn', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const ticker = setInterval(() => progress('  ... still resolving OpenSearch with Maven'), 10_000);
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(new Error(`cannot run Maven (mvn) to fetch OpenSearch: ${error.message}. Install Maven 3 and make sure 'mvn' is on PATH.`));
    });
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`Maven failed (exit ${code}) resolving OpenSearch in ${cwd}:\n${output.trim()}`));
    });
  });
}
