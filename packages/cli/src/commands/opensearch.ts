import { DEFAULT_OPENSEARCH_VERSION, resolveOpenSearch, startOpenSearchNode } from '@lagscale/opensearch';
import type { Command } from 'commander';
import { parseInteger } from '../config.js';
import { untilStopSignal } from '../runtime.js';

interface OpenSearchStartFlags {
  openSearchVersion?: string;
  dataDir?: string;
  port?: string;
  heapMb: string;
}

export function registerOpenSearchCommand(program: Command): void {
  const openSearch = program
    .command('opensearch')
    .description('run a local single-node OpenSearch assembled from Maven Central artifacts, the shared result store for development and tests');
  openSearch
    .command('start')
    .description('start a node on loopback and keep it running until Ctrl-C')
    .option('--opensearch-version <version>', `OpenSearch version (default ${DEFAULT_OPENSEARCH_VERSION}; 3.x needs Java 21+)`)
    .option('--data-dir <dir>', 'keep the node home (data, logs) here across runs (default: temporary)')
    .option('-p, --port <port>', 'HTTP port (default: any free port)')
    .option('--heap-mb <mb>', 'JVM heap in MB', '512')
    .action(async (flags: OpenSearchStartFlags) => {
      const node = await startOpenSearchNode({
        ...(flags.openSearchVersion ? { version: flags.openSearchVersion } : {}),
        ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
        ...(flags.port ? { httpPort: parseInteger(flags.port, '--port', 1, 65535) } : {}),
        heapMb: parseInteger(flags.heapMb, '--heap-mb', 256, 32_768),
        onProgress: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`OPENSEARCH_URL=${node.url}\nOpenSearch ${node.version} is running (home ${node.homeDir}); press Ctrl-C to stop it.\n`);
      await untilStopSignal();
      process.stderr.write('stopping OpenSearch...\n');
      await node.stop();
    });
  openSearch
    .command('resolve')
    .description('resolve the server and its modules into the per-user cache (once; CI does this before the tests)')
    .option('--opensearch-version <version>', `OpenSearch version (default ${DEFAULT_OPENSEARCH_VERSION})`)
    .action(async (flags: { openSearchVersion?: string }) => {
      const distribution = await resolveOpenSearch({
        ...(flags.openSearchVersion ? { version: flags.openSearchVersion } : {}),
        onProgress: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`OpenSearch ${distribution.version} in ${distribution.dir}\n`);
    });
}
