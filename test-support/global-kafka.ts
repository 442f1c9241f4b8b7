import { KafkaCluster } from '@lagscale/kafka';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
    kafkaLibDir: string;
  }
}

let cluster: KafkaCluster | undefined;

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
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}
