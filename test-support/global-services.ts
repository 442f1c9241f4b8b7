import { KafkaCluster } from '@lagscale/kafka';
import { type OpenSearchNode, startOpenSearchNode } from '@lagscale/opensearch';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
    kafkaLibDir: string;
    /** A single OpenSearch node for the store tests; each test file uses its own index prefix. */
    openSearchUrl: string;
  }
}

let cluster: KafkaCluster | undefined;
let openSearch: OpenSearchNode | undefined;

export async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  cluster = await KafkaCluster.start({
    nodes: 1,
    properties: { 'log.cleaner.backoff.ms': '1000' },
    onProgress: (line) => process.stderr.write(`[kafka] ${line}\n`),
  });
  process.stderr.write(`[kafka] test broker ${cluster.brokers.join(',')} ready in ${Date.now() - started} ms\n`);
  project.provide('kafkaBrokers', cluster.brokers);
  project.provide('kafkaLibDir', cluster.libDir);
  // npm test's lanes share one node (test-support/run-lanes.mjs); a lane run alone starts its own.
  const shared = process.env.LAGSCALE_TEST_OPENSEARCH_URL;
  if (shared) {
    project.provide('openSearchUrl', shared);
    return;
  }
  const openSearchStarted = Date.now();
  openSearch = await startOpenSearchNode({ onProgress: (line) => process.stderr.write(`[opensearch] ${line}\n`) });
  process.stderr.write(`[opensearch] test node ${openSearch.url} ready in ${Date.now() - openSearchStarted} ms\n`);
  project.provide('openSearchUrl', openSearch.url);
}

export async function teardown(): Promise<void> {
  await Promise.all([cluster?.stop(), openSearch?.stop()]);
}
