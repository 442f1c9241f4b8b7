import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@lagscale/exporter';
import { type KafkaConnectionOptions, runBatchConsumer } from '@lagscale/kafka';

export interface DemoConsumerOptions {
  readonly connection: KafkaConnectionOptions;
  readonly group: string;
  readonly topics: readonly string[];
  /** Simulated work per record, in milliseconds. */
  readonly perRecordMs: number;
  /** Records per commit. Default 50. */
  readonly batchSize?: number;
  /** Append `topic partition offset` per record here, after its offset is committed. */
  readonly out?: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export interface DemoConsumerResult {
  readonly processed: number;
  readonly committed: number;
  readonly discarded: number;
}

/**
 * The built-in demo consumer the local target runs: it joins the group, "works" `perRecordMs` per
 * record and counts a batch only after its fenced commit was accepted (see runBatchConsumer), so
 * its `out` files hold each record once across scale-out, scale-in and SIGTERM. A SIGKILL between
 * commit and count can lose a count line; the validator's idempotent sink covers that case.
 */
export async function runDemoConsumer(options: DemoConsumerOptions): Promise<DemoConsumerResult> {
  const { logger } = options;
  logger.info({ event: 'demo_consumer_started', group: options.group, topics: options.topics, perRecordMs: options.perRecordMs }, 'demo consumer joining');
  const result = await runBatchConsumer({
    connection: options.connection,
    group: options.group,
    topics: options.topics,
    clientId: `lagscale-demo-${process.env.LAGSCALE_WORKER_ID ?? process.pid}`,
    batchSize: options.batchSize ?? 50,
    logger,
    signal: options.signal,
    handle: async (batch) => {
      if (options.perRecordMs > 0) await sleep(options.perRecordMs * batch.length);
    },
    committed: (records) => {
      if (options.out) appendFileSync(options.out, `${records.map((m) => `${m.topic} ${m.partition} ${m.offset}`).join('\n')}\n`);
    },
  });
  logger.info({ event: 'demo_consumer_stopped', ...result }, 'demo consumer left the group');
  return { processed: result.handled, committed: result.committed, discarded: result.discarded };
}
