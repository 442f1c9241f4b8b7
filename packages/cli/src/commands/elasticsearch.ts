import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkSupportedVersion, DEFAULT_ELASTICSEARCH_VERSION, resolveElasticsearch, startElasticsearchNode } from '@lagscale/elasticsearch';
import type { Command } from 'commander';
import { parseInteger } from '../config.js';
import { ConfigError } from '../config-error.js';
import { untilStopSignal } from '../runtime.js';

interface ElasticsearchStartFlags {
  elasticsearchVersion?: string;
  javaHome?: string;
  dataDir?: string;
  port?: string;
  heapMb: string;
}

export function registerElasticsearchCommand(program: Command): void {
  const elasticsearch = program
    .command('elasticsearch')
    .description('run a local single-node Elasticsearch assembled from Maven Central artifacts, a result store for development and tests');
  elasticsearch
    .command('start')
    .description('start a node on loopback and keep it running until Ctrl-C')
    .option('--elasticsearch-version <version>', `Elasticsearch version: 8.19.x or 9.x (default ${DEFAULT_ELASTICSEARCH_VERSION}; 9.x needs Java 21+)`)
    .option('--java-home <dir>', 'the JDK to run it with (default: JAVA_HOME, java on PATH or /usr/lib/jvm, the first new enough)')
    .option('--data-dir <dir>', 'keep the node home (data, logs) here across runs (default: temporary)')
    .option('-p, --port <port>', 'HTTP port (default: any free port)')
    .option('--heap-mb <mb>', 'JVM heap in MB', '512')
    .action(async (flags: ElasticsearchStartFlags) => {
      checkFlags(flags);
      const node = await startElasticsearchNode({
        ...(flags.elasticsearchVersion ? { version: flags.elasticsearchVersion } : {}),
        ...(flags.javaHome ? { javaHome: flags.javaHome } : {}),
        ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
        ...(flags.port ? { httpPort: parseInteger(flags.port, '--port', 1, 65535) } : {}),
        heapMb: parseInteger(flags.heapMb, '--heap-mb', 256, 32_768),
        onProgress: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(
        `LAGSCALE_STORE=${node.url}\nElasticsearch ${node.version} is running on ${node.java} (home ${node.homeDir}); press Ctrl-C to stop it.\n`,
      );
      await untilStopSignal();
      process.stderr.write('stopping Elasticsearch...\n');
      await node.stop();
    });
  elasticsearch
    .command('resolve')
    .description('resolve the server, its module and the stand-ins into the per-user cache (once; CI does this before the tests)')
    .option('--elasticsearch-version <version>', `Elasticsearch version (default ${DEFAULT_ELASTICSEARCH_VERSION})`)
    .option('--java-home <dir>', 'the JDK whose javac compiles the stand-ins')
    .action(async (flags: { elasticsearchVersion?: string; javaHome?: string }) => {
      checkFlags(flags);
      const distribution = await resolveElasticsearch({
        ...(flags.elasticsearchVersion ? { version: flags.elasticsearchVersion } : {}),
        ...(flags.javaHome ? { javaHome: flags.javaHome } : {}),
        onProgress: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`Elasticsearch ${distribution.version} in ${distribution.dir}\n`);
    });
}

/** A version the launcher cannot start or a JDK folder without java stops here, saying what to pass instead. */
function checkFlags(flags: { elasticsearchVersion?: string; javaHome?: string }): void {
  try {
    checkSupportedVersion(flags.elasticsearchVersion ?? DEFAULT_ELASTICSEARCH_VERSION);
  } catch (error) {
    throw new ConfigError(`--elasticsearch-version: ${(error as Error).message}`);
  }
  if (flags.javaHome !== undefined && !existsSync(join(flags.javaHome, 'bin', 'java'))) {
    throw new ConfigError(`--java-home ${flags.javaHome}: there is no bin/java in it; give a JDK's home folder, e.g. /usr/lib/jvm/temurin-25-jdk-amd64`);
  }
}
