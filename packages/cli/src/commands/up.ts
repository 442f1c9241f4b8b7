import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, type LagscaleConfig, parseInteger } from '../config.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';
import { untilStopSignal } from '../runtime.js';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../stack/local-stack.js';

interface UpFlags extends ConnectionFlags {
  host?: string;
  port?: string;
}

/** The stack's settings from flags, env vars and an optional config file. */
export function stackSettings(flags: UpFlags): { config: LagscaleConfig; options: Omit<LocalStackOptions, 'config'> } {
  const config = resolveConfig(flags);
  if (config.autoscaler?.source !== undefined && config.autoscaler.source.type !== 'kafka') {
    // The stack's workers are the lag engine's own consumers; a query source belongs to `lagscale autoscale`.
    throw new ConfigError(
      `autoscaler.source: lagscale up scales its validation workers on their Kafka lag; source type ${config.autoscaler.source.type} is for lagscale autoscale (see docs/autoscaler.md)`,
    );
  }
  config.exporter.host = flags.host ?? process.env.LAGSCALE_HOST ?? '127.0.0.1';
  config.exporter.port = parseInteger(flags.port ?? process.env.LAGSCALE_PORT ?? '8080', flags.port ? '--port' : 'LAGSCALE_PORT', 0, 65535);
  return {
    config,
    options: {
      home: process.env.LAGSCALE_HOME ?? join(process.cwd(), '.lagscale'),
      kafkaPort: parseInteger(process.env.LAGSCALE_KAFKA_PORT ?? '9092', 'LAGSCALE_KAFKA_PORT', 1, 65535),
      ...(config.autoscaler?.policy ? { policy: config.autoscaler.policy } : {}),
      ...(config.autoscaler?.behavior ? { behavior: config.autoscaler.behavior } : {}),
      ...(config.autoscaler?.holdScaleOutWhenStoreDown === false ? { holdScaleOutWhenStoreDown: false } : {}),
      ...(process.env.LAGSCALE_SHARE_GROUP === '1' ? { shareGroup: true } : {}),
      ...groupProtocolFromEnv(),
      onProgress: (line) => process.stderr.write(`${line}\n`),
    },
  };
}

export function printStackBanner(stack: LocalStack): void {
  process.stdout.write(
    [
      '',
      `lagscale is running: open ${stack.url}/`,
      `  console            ${stack.url}/${stack.consoleBuilt ? '' : '  (not built: run npm run build)'}`,
      `  API                ${stack.url}/api/v1  (described at ${stack.url}/openapi.json)`,
      `  metrics            ${stack.url}/metrics`,
      `  Kafka brokers      ${stack.brokers.join(',')}${stack.kafka ? ` (local, data in ${stack.kafka.dataDir})` : ''}`,
      `  result store       ${stack.storeDescription}`,
      'Press Ctrl-C to stop everything (workers drain first).',
      '',
    ].join('\n'),
  );
}

/** Waits for Ctrl-C (or SIGTERM), then stops the stack; a second Ctrl-C forces the exit. */
export async function runUntilStopped(stack: LocalStack): Promise<void> {
  await untilStopSignal();
  process.stderr.write('stopping: draining workers, then Kafka (Ctrl-C again to force)...\n');
  process.once('SIGINT', () => process.exit(130));
  await stack.stop();
  process.stderr.write('stopped.\n');
}

/**
 * `npm start`: the local stack. Without KAFKA_BROKERS it starts a one-node Kafka whose data lives
 * in .lagscale/ (so a second start reuses it), then the API and console, the lag exporter, the
 * autoscaler and one validation worker.
 */
export function registerUpCommand(program: Command): void {
  const command = program
    .command('up')
    .description('start the local stack: Kafka (unless KAFKA_BROKERS is set), API and console, lag exporter, autoscaler, a validation worker')
    .option('--host <address>', 'listen address of the API and console (default 127.0.0.1, env LAGSCALE_HOST)')
    .option('-p, --port <port>', 'listen port of the API and console (default 8080, env LAGSCALE_PORT)');
  addConnectionOptions(command).action(async (flags: UpFlags) => {
    const { config, options } = stackSettings(flags);
    const stack = await startLocalStack({ config, ...options });
    printStackBanner(stack);
    await runUntilStopped(stack);
  });
}

/** `LAGSCALE_GROUP_PROTOCOL`: classic (the default) or consumer (KIP-848); anything else stops start-up. */
function groupProtocolFromEnv(): { groupProtocol?: 'classic' | 'consumer' } {
  const value = process.env.LAGSCALE_GROUP_PROTOCOL;
  if (value === undefined || value === '') return {};
  if (value !== 'classic' && value !== 'consumer') throw new ConfigError(`LAGSCALE_GROUP_PROTOCOL: expected classic or consumer, got '${value}'`);
  return { groupProtocol: value };
}
