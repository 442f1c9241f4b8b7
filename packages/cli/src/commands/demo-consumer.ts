import { runDemoConsumer, watchPoolParent } from '@lagscale/autoscaler';
import { createLogger } from '@lagscale/exporter';
import type { Command } from 'commander';
import { ConfigError, parseInteger, splitList, toConnectionOptions } from '../config.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';

interface DemoConsumerFlags extends ConnectionFlags {
  group: string;
  topic: string;
  perRecordMs: string;
  batchSize: string;
  out?: string;
}

export function registerDemoConsumerCommand(program: Command): void {
  const command = program
    .command('demo-consumer')
    .description('a consumer whose per-record cost is configurable: what the local target runs for demos and tests')
    .requiredOption('-g, --group <id>', 'consumer group')
    .requiredOption('-t, --topic <list>', 'topics to consume (comma-separated)')
    .option('--per-record-ms <ms>', 'simulated work per record', '5')
    .option('--batch-size <n>', 'records per commit', '50')
    .option('--out <file>', 'append "topic partition offset" per record after its commit (for counting); {worker} becomes LAGSCALE_WORKER_ID');
  addConnectionOptions(command).action(async (flags: DemoConsumerFlags) => {
    const config = resolveConfig(flags);
    const topics = splitList(flags.topic);
    if (topics.length === 0) throw new ConfigError('--topic needs at least one topic');
    const logger = createLogger('lagscale-demo-consumer');
    const controller = new AbortController();
    process.once('SIGTERM', () => controller.abort());
    process.once('SIGINT', () => controller.abort());
    watchPoolParent((reason) => {
      logger.warn({ event: 'pool_gone', reason }, reason);
      controller.abort();
    });
    await runDemoConsumer({
      connection: toConnectionOptions(config),
      group: flags.group,
      topics,
      perRecordMs: parseInteger(flags.perRecordMs, '--per-record-ms', 0, 60_000),
      batchSize: parseInteger(flags.batchSize, '--batch-size', 1, 100_000),
      ...(flags.out ? { out: flags.out.replaceAll('{worker}', process.env.LAGSCALE_WORKER_ID ?? String(process.pid)) } : {}),
      logger,
      signal: controller.signal,
    });
  });
}
