import { resolvePolicy } from '@lagscale/autoscaler';
import { type ConsumerModel, defaultBehavior, loadTrace, parseBehaviorConfig, policyController, runOracle, ScalingConfigError, simulate } from '@lagscale/core';
import { type Command, Option } from 'commander';
import { ConfigError, loadConfigFile } from '../config.js';

interface SimulateFlags {
  trace: string;
  policy?: string;
  config?: string;
  json?: boolean;
  compression: string;
  scale: string;
  start?: string;
  duration?: string;
  tick: string;
  interval: string;
  partitions: string;
  serviceRate: string;
  startup: string;
  rebalance: string;
  slo: string;
  oracle: boolean;
}

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${flag} must be a number > 0, got "${value}"`);
  return n;
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('replay a trace (CSV time,count) through a model of partitions and consumers under a policy, with the oracle as lower bound')
    .requiredOption('--trace <file>', 'CSV of time,count (e.g. the World Cup 98 per-minute trace)')
    .addOption(new Option('--policy <name>', "policy to simulate (default: the config file's, else rate)").choices(['rate', 'threshold']))
    .option('-c, --config <file>', 'YAML whose autoscaler.policy and autoscaler.behavior are used')
    .option('--json', 'print the report as JSON')
    .option('--compression <n>', 'trace seconds per simulated second', '60')
    .option('--scale <f>', 'multiply every count', '1')
    .option('--start <time>', 'start of the slice (timestamp, or trace seconds)')
    .option('--duration <seconds>', 'trace seconds to replay')
    .option('--tick <seconds>', 'simulated seconds per tick', '1')
    .option('--interval <seconds>', 'seconds between decisions', '15')
    .option('--partitions <n>', 'partitions of the topic', '48')
    .option('--service-rate <n>', 'records/s one consumer processes', '50')
    .option('--startup <seconds>', 'seconds before a new consumer consumes', '20')
    .option('--rebalance <seconds>', 'seconds without consumption after each change', '5')
    .option('--slo <seconds>', 'time-lag SLO for the report and the oracle', '60')
    .option('--no-oracle', 'skip the oracle (it searches, so it takes longer)')
    .action(async (flags: SimulateFlags) => {
      const progress = (line: string): void => {
        process.stderr.write(`${line}\n`);
      };
      const file = flags.config ? loadConfigFile(flags.config) : {};
      const section = (file.autoscaler ?? {}) as { policy?: Record<string, unknown>; behavior?: Record<string, unknown> };
      const model: ConsumerModel = {
        partitions: Math.round(positive(flags.partitions, '--partitions')),
        serviceRatePerReplica: positive(flags.serviceRate, '--service-rate'),
        startupSeconds: Number(flags.startup),
        rebalanceSeconds: Number(flags.rebalance),
      };
      const slo = positive(flags.slo, '--slo');
      const tickSeconds = positive(flags.tick, '--tick');
      const intervalSeconds = positive(flags.interval, '--interval');
      let policy: ReturnType<typeof resolvePolicy>;
      let behavior: ReturnType<typeof parseBehaviorConfig>;
      try {
        policy = resolvePolicy({ ...(section.policy ?? {}), ...(flags.policy ? { name: flags.policy } : {}) }, 'autoscaler.policy');
        behavior = section.behavior
          ? parseBehaviorConfig(section.behavior, 'autoscaler.behavior')
          : defaultBehavior({ minReplicas: 1, maxReplicas: model.partitions });
      } catch (error) {
        if (error instanceof ScalingConfigError) throw new ConfigError(error.message);
        throw error;
      }
      progress(`reading ${flags.trace}`);
      const arrivals = await loadTrace(flags.trace, {
        compression: positive(flags.compression, '--compression'),
        scale: positive(flags.scale, '--scale'),
        tickSeconds,
        ...(flags.start ? { start: /^\d+(\.\d+)?$/.test(flags.start) ? Number(flags.start) : flags.start } : {}),
        ...(flags.duration ? { durationSeconds: positive(flags.duration, '--duration') } : {}),
      }).catch((error: Error) => {
        throw new ConfigError(error.message);
      });
      progress(`${arrivals.perTick.length} ticks, ${arrivals.totalRecords} records; simulating policy ${policy.name}`);
      let started = Date.now();
      const report = simulate({
        model,
        arrivals: arrivals.perTick,
        controller: policyController({ policy: policy.policy, config: policy.config, behavior, name: policy.name }),
        tickSeconds,
        intervalSeconds,
        timeLagSloSeconds: slo,
      });
      progress(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      let oracle: ReturnType<typeof runOracle>['report'] | null = null;
      if (flags.oracle) {
        progress('computing the oracle (knows the future; lower bound on replica-seconds)');
        started = Date.now();
        oracle = runOracle({
          model,
          arrivals: arrivals.perTick,
          timeLagSloSeconds: slo,
          tickSeconds,
          intervalSeconds,
          minReplicas: behavior.minReplicas,
        }).report;
        progress(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
      const summary = (r: typeof report) => ({
        replicaSeconds: r.replicaSeconds,
        meanReplicas: r.meanReplicas,
        peakReplicas: r.peakReplicas,
        peakTimeLagSeconds: r.peakTimeLagSeconds,
        p99TimeLagSeconds: r.p99TimeLagSeconds,
        secondsOverSlo: r.secondsOverSlo,
        scaleEvents: r.scaleEvents,
      });
      const result = {
        trace: { file: flags.trace, ticks: arrivals.perTick.length, records: arrivals.totalRecords, compression: arrivals.compression, scale: arrivals.scale },
        model,
        intervalSeconds,
        timeLagSloSeconds: slo,
        policy: { name: policy.name, config: policy.config, ...summary(report) },
        oracle: oracle ? summary(oracle) : null,
        ratioToOracle: oracle ? report.replicaSeconds / oracle.replicaSeconds : null,
      };
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const row = (name: string, r: ReturnType<typeof summary>) =>
        `${name.padEnd(10)} ${String(Math.round(r.replicaSeconds)).padStart(14)} ${r.meanReplicas.toFixed(2).padStart(8)} ${String(r.peakReplicas).padStart(6)} ${r.p99TimeLagSeconds.toFixed(1).padStart(9)} ${r.peakTimeLagSeconds.toFixed(1).padStart(9)} ${r.secondsOverSlo.toFixed(0).padStart(9)} ${String(r.scaleEvents).padStart(7)}`;
      const lines = [
        `${'controller'.padEnd(10)} ${'replica-s'.padStart(14)} ${'mean'.padStart(8)} ${'peak'.padStart(6)} ${'p99 lag'.padStart(9)} ${'peak lag'.padStart(9)} ${'s > SLO'.padStart(9)} ${'events'.padStart(7)}`,
        row(policy.name, result.policy),
      ];
      if (result.oracle)
        lines.push(row('oracle', result.oracle), `${policy.name} uses ${(result.ratioToOracle as number).toFixed(2)}x the oracle's replica-seconds`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
