import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Kafka versions the launcher knows how to configure. Others are tried with the 4.x layout. */
export const DEFAULT_KAFKA_VERSION = '4.4.0';
export const SUPPORTED_KAFKA_VERSIONS = ['4.4.0', '4.1.1', '3.9.1'] as const;

export function defaultCacheDir(): string {
  return process.env.LAGSCALE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lagscale');
}

export function isKafka3(version: string): boolean {
  return version.startsWith('3.');
}

/** Where the jars of one Kafka version live once resolved. */
export function kafkaLibDir(version: string, cacheDir = defaultCacheDir()): string {
  return join(cacheDir, 'kafka', version, 'libs');
}

function pomFor(version: string): string {
  // Kafka 4 logs through log4j2 behind slf4j 1.x; Kafka 3.9 brings slf4j-reload4j itself.
  const logging = isKafka3(version)
    ? ''
    : `<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.lagscale.cache</groupId>
  <artifactId>kafka-broker-${version}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${version}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>${version}</version></dependency>
    ${logging}
  </dependencies>
</project>
`;
}

export interface ResolveOptions {
  readonly version?: string;
  readonly cacheDir?: string;
  /** Called with one human line per step (the first run downloads ~60 MB). */
  readonly onProgress?: (line: string) => void;
}

/**
 * Makes sure Apache Kafka's broker jars (kafka_2.13 and its runtime dependencies) are in the
 * per-user cache, resolving them with Maven on first use. Returns the folder of jars.
 * Safe to call from several processes at once: one resolves, the others wait for it.
 */
export async function resolveKafkaJars(options: ResolveOptions = {}): Promise<string> {
  const version = options.version ?? DEFAULT_KAFKA_VERSION;
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const versionDir = join(cacheDir, 'kafka', version);
  const libDir = join(versionDir, 'libs');
  const marker = join(libDir, '.complete');
  if (existsSync(marker)) return libDir;

  await mkdir(versionDir, { recursive: true });
  const lock = join(versionDir, '.resolving');
  const progress = options.onProgress ?? (() => {});
  for (let waited = 0; ; waited += 500) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (existsSync(marker)) return libDir;
      if (waited === 0) progress(`waiting for another process resolving Kafka ${version} jars`);
      if (waited > 10 * 60_000) {
        throw new Error(`Kafka ${version} jars: lock ${lock} held for over 10 minutes; remove it if no other lagscale process is resolving jars`);
      }
      await sleep(500);
    }
  }
  try {
    if (existsSync(marker)) return libDir;
    await rm(libDir, { recursive: true, force: true });
    await writeFile(join(versionDir, 'pom.xml'), pomFor(version));
    progress(`resolving Apache Kafka ${version} broker jars with Maven into ${libDir} (first run only)`);
    const started = Date.now();
    await runMaven(versionDir, ['-B', '-q', 'dependency:copy-dependencies', `-DoutputDirectory=${libDir}`, '-DincludeScope=runtime'], progress);
    const jars = (await readdir(libDir)).filter((f) => f.endsWith('.jar'));
    if (!jars.some((j) => j.startsWith(`kafka_2.13-${version}`))) {
      throw new Error(`Maven finished but kafka_2.13-${version}.jar is not in ${libDir}`);
    }
    await writeFile(marker, `${new Date().toISOString()}\n`);
    progress(`resolved ${jars.length} jars for Kafka ${version} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return libDir;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

function runMaven(cwd: string, args: string[], progress: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn('mvn', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const ticker = setInterval(() => progress('  ... still resolving Kafka jars with Maven'), 10_000);
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(new Error(`cannot run Maven (mvn) to fetch Kafka's jars: ${error.message}. Install Maven 3 and make sure 'mvn' is on PATH.`));
    });
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`Maven failed (exit ${code}) resolving Kafka's jars in ${cwd}:\n${output.trim()}`));
    });
  });
}
