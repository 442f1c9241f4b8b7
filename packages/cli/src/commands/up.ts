import { join } from 'node:path';
import { KafkaCluster } from '@lagscale/kafka';
import type { Command } from 'commander';
import { applyEnv, defaultConfig, parseInteger } from '../config.js';
import { untilStopSignal } from '../runtime.js';
import { startExporter } from './exporter.js';

/**
 * `npm start`: the local stack. Without KAFKA_BROKERS it starts a one-node Kafka whose data
 * lives in .lagscale/ (so a second start reuses it), then the lag exporter.
 */
export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('start the local stack: Kafka (unless KAFKA_BROKERS is set) and the lag exporter')
    .action(async () => {
      const config = defaultConfig();
      applyEnv(config);
      const home = process.env.LAGSCALE_HOME ?? join(process.cwd(), '.lagscale');
      let cluster: KafkaCluster | null = null;
      if (config.kafka.brokers.length === 0) {
        const port = parseInteger(process.env.LAGSCALE_KAFKA_PORT ?? '9092', 'LAGSCALE_KAFKA_PORT', 1, 65535);
        cluster = await KafkaCluster.start({
          dataDir: join(home, 'kafka'),
          port,
          onProgress: (line) => process.stderr.write(`${line}\n`),
        }).catch((error: Error) => {
          throw new Error(`${error.message}\n(to use an existing cluster instead, set KAFKA_BROKERS=host:port)`);
        });
        config.kafka.brokers = cluster.brokers;
      }
      const exporter = await startExporter(config).catch(async (error: unknown) => {
        await cluster?.stop();
        throw error;
      });
      process.stdout.write(
        [
          '',
          'lagscale is running:',
          `  Kafka brokers      ${config.kafka.brokers.join(',')}${cluster ? ` (local, data in ${cluster.dataDir})` : ''}`,
          `  lag metrics        ${exporter.url}/metrics`,
          `  lag API            ${exporter.url}/api/v1/groups`,
          `  health             ${exporter.url}/healthz`,
          'Press Ctrl-C to stop everything.',
          '',
        ].join('\n'),
      );
      await untilStopSignal();
      process.stderr.write('stopping...\n');
      await exporter.stop();
      await cluster?.stop();
    });
}
