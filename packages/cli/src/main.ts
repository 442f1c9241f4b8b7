#!/usr/bin/env -S node --heap-growing-percent=50 --max-semi-space-size=8
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from './config.js';

type Register = (program: Command) => void;

/**
 * The commands, loaded on demand: a process loads only the modules of the command it runs (the
 * exporter does not hold the Kubernetes client's or the validator's code: about 20 MB of source
 * and compiled code in its heap). Help, a version or an unknown name loads them all, in this order.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  lag: async () => (await import('./commands/lag.js')).registerLagCommand,
  exporter: async () => (await import('./commands/exporter.js')).registerExporterCommand,
  kafka: async () => (await import('./commands/kafka.js')).registerKafkaCommand,
  opensearch: async () => (await import('./commands/opensearch.js')).registerOpenSearchCommand,
  elasticsearch: async () => (await import('./commands/elasticsearch.js')).registerElasticsearchCommand,
  up: async () => (await import('./commands/up.js')).registerUpCommand,
  demo: async () => (await import('./commands/demo.js')).registerDemoCommand,
  'demo-consumer': async () => (await import('./commands/demo-consumer.js')).registerDemoConsumerCommand,
  autoscale: async () => (await import('./commands/autoscale.js')).registerAutoscaleCommand,
  simulate: async () => (await import('./commands/simulate.js')).registerSimulateCommand,
  policy: async () => (await import('./commands/policy.js')).registerPolicyCommand,
  worker: async () => (await import('./commands/worker.js')).registerWorkerCommand,
  api: async () => (await import('./commands/api.js')).registerApiCommand,
  controller: async () => (await import('./commands/controller.js')).registerControllerCommand,
  'keda-scaler': async () => (await import('./commands/keda-scaler.js')).registerKedaScalerCommand,
  kube: async () => (await import('./commands/kube.js')).registerKubeCommand,
  validate: async () => (await import('./commands/validate.js')).registerValidateCommand,
};

/** The first word of the arguments that is not a global option (or its value). */
function commandName(args: readonly string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--log-level') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return null;
}

async function commandsFor(args: readonly string[]): Promise<Register[]> {
  const name = commandName(args);
  const names = name !== null && Object.hasOwn(COMMANDS, name) ? [name] : Object.keys(COMMANDS);
  return Promise.all(names.map((n) => (COMMANDS[n] as () => Promise<Register>)()));
}

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

for (const register of await commandsFor(process.argv.slice(2))) register(program);

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
