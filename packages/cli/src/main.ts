#!/usr/bin/env -S node --max-semi-space-size=64
import { Command, CommanderError, Option } from 'commander';
import { registerApiCommand } from './commands/api.js';
import { registerAutoscaleCommand } from './commands/autoscale.js';
import { registerControllerCommand } from './commands/controller.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerDemoConsumerCommand } from './commands/demo-consumer.js';
import { registerElasticsearchCommand } from './commands/elasticsearch.js';
import { registerExporterCommand } from './commands/exporter.js';
import { registerKafkaCommand } from './commands/kafka.js';
import { registerKedaScalerCommand } from './commands/keda-scaler.js';
import { registerKubeCommand } from './commands/kube.js';
import { registerLagCommand } from './commands/lag.js';
import { registerOpenSearchCommand } from './commands/opensearch.js';
import { registerPolicyCommand } from './commands/policy.js';
import { registerSimulateCommand } from './commands/simulate.js';
import { registerUpCommand } from './commands/up.js';
import { registerValidateCommand } from './commands/validate.js';
import { registerWorkerCommand } from './commands/worker.js';
import { ConfigError } from './config.js';

/** Exit codes: 0 done, 1 the work failed (Kafka unreachable, group unknown), 2 bad flags or config. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const program = new Command('lagscale')
  .description('Kafka consumer lag you can trust, and autoscaling driven by it')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();
program.addOption(new Option('--log-level <level>', 'structured log level').choices(['debug', 'info', 'warn', 'error']).default('info'));
program.hook('preAction', (command) => {
  process.env.LAGSCALE_LOG_LEVEL = command.opts().logLevel as string;
});

registerLagCommand(program);
registerExporterCommand(program);
registerKafkaCommand(program);
registerOpenSearchCommand(program);
registerElasticsearchCommand(program);
registerUpCommand(program);
registerDemoCommand(program);
registerDemoConsumerCommand(program);
registerAutoscaleCommand(program);
registerSimulateCommand(program);
registerPolicyCommand(program);
registerWorkerCommand(program);
registerApiCommand(program);
registerControllerCommand(program);
registerKedaScalerCommand(program);
registerKubeCommand(program);
registerValidateCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (error instanceof ConfigError) {
    process.stderr.write(`lagscale: ${error.message}\n`);
    process.exitCode = EXIT_USAGE;
  } else {
    process.stderr.write(`lagscale: ${(error as Error).message}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}
