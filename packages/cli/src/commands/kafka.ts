import { DEFAULT_KAFKA_VERSION, KafkaCluster } from '@lagscale/kafka';
import { type Command, Option } from 'commander';
import { parseInteger } from '../config.js';
import { untilStopSignal } from '../runtime.js';

interface KafkaStartFlags {
  nodes: string;
  kafkaVersion?: string;
  dataDir?: string;
  port?: string;
  secure?: boolean;
}

export function registerKafkaCommand(program: Command): void {
  const kafka = program.command('kafka').description('run a local Apache Kafka (KRaft) from Maven Central jars, for development and tests');
  kafka
    .command('start')
    .description('start 1 or 3 brokers on loopback and keep them running until Ctrl-C')
    .addOption(new Option('-n, --nodes <count>', 'number of broker+controller nodes').choices(['1', '3']).default('1'))
    .option('--kafka-version <version>', `Apache Kafka version (default ${DEFAULT_KAFKA_VERSION}, share groups on; 4.1.1 and 3.9.1 also work)`)
    .option('--data-dir <dir>', 'keep data here across runs (default: temporary)')
    .option('-p, --port <port>', 'plaintext port of the first node (default: any free port)')
    .option('--secure', 'also open SASL_SSL (SCRAM/PLAIN) and SSL (client certificate) listeners')
    .action(async (flags: KafkaStartFlags) => {
      const cluster = await KafkaCluster.start({
        nodes: flags.nodes === '3' ? 3 : 1,
        ...(flags.kafkaVersion ? { version: flags.kafkaVersion } : {}),
        ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
        ...(flags.port ? { port: parseInteger(flags.port, '--port', 1, 65535) } : {}),
        ...(flags.secure ? { secure: true } : {}),
        onProgress: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`KAFKA_BROKERS=${cluster.brokers.join(',')}\n`);
      if (cluster.secure) {
        const s = cluster.secure;
        process.stdout.write(
          `SASL_SSL brokers: ${s.saslSslBrokers.join(',')} (user ${s.username}, password ${s.password}, CA ${s.certificates.caCert})\n` +
            `SSL brokers (client certificate required): ${s.sslBrokers.join(',')} (cert ${s.certificates.clientCert}, key ${s.certificates.clientKey})\n`,
        );
      }
      process.stdout.write('Kafka is running; press Ctrl-C to stop it.\n');
      await untilStopSignal();
      process.stderr.write('stopping Kafka...\n');
      await cluster.stop();
    });
}
