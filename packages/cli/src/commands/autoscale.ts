import { Autoscaler, autoscalerMetrics, LocalProcessPool, registerAutoscalerRoutes, resolvePolicy } from '@lagscale/autoscaler';
import { parseBehaviorConfig, ScalingConfigError } from '@lagscale/core';
import { createExporterServer, createLogger } from '@lagscale/exporter';
import type { Command } from 'commander';
import { ConfigError, parseInteger } from '../config.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';
import { lagMonitorFrom, listenOn, logCollection, untilStopSignal } from '../runtime.js';

interface AutoscaleFlags extends ConnectionFlags {
  port?: string;
  host?: string;
}

export function registerAutoscaleCommand(program: Command): void {
  const command = program
    .command('autoscale')
    .description('the control loop: collect lag, decide, scale the target; serves /metrics and /api/v1/autoscaler')
    .option('--host <address>', 'listen address (default 127.0.0.1)')
    .option('-p, --port <port>', 'listen port (default 9308)');
  addConnectionOptions(command).action(async (flags: AutoscaleFlags) => {
    if (!flags.config) throw new ConfigError('autoscale needs a config file with an autoscaler section: --config lagscale.yaml (see docs/autoscaler.md)');
    const config = resolveConfig(flags);
    if (flags.host) config.exporter.host = flags.host;
    if (flags.port) config.exporter.port = parseInteger(flags.port, '--port', 0, 65535);
    const section = config.autoscaler;
    if (!section) throw new ConfigError(`config file ${flags.config} has no autoscaler section (group, policy, behavior, target)`);
    let policy: ReturnType<typeof resolvePolicy>;
    let behavior: ReturnType<typeof parseBehaviorConfig>;
    try {
      policy = resolvePolicy(section.policy, 'autoscaler.policy');
      behavior = parseBehaviorConfig(section.behavior ?? {}, 'autoscaler.behavior');
    } catch (error) {
      if (error instanceof ScalingConfigError) throw new ConfigError(`config file ${flags.config}: ${error.message}`);
      throw error;
    }

    const logger = createLogger('lagscale-autoscaler');
    const groups = config.lag.groups.length > 0 ? [...new Set([...config.lag.groups, section.group])] : [section.group];
    const monitor = lagMonitorFrom(config, groups);
    logCollection(monitor, logger);
    const target = new LocalProcessPool({
      command: section.target.command,
      ...(section.target.env ? { env: section.target.env } : {}),
      ...(section.target.cwd ? { cwd: section.target.cwd } : {}),
      ...(section.target.drainTimeoutSeconds ? { drainTimeoutSeconds: section.target.drainTimeoutSeconds } : {}),
      logger,
      name: `local:${section.group}`,
    });
    const autoscaler = new Autoscaler({ monitor, group: section.group, policy, behavior, target, logger });
    const app = await createExporterServer({ monitor, logger, metrics: [autoscalerMetrics(autoscaler)] });
    registerAutoscalerRoutes(app, autoscaler);
    const url = await listenOn(app, config);
    // Start at the minimum; the first decision follows the first lag snapshot.
    await target.setReplicas(Math.max(behavior.minReplicas, behavior.idleReplicas ?? behavior.minReplicas));
    autoscaler.start();
    monitor.start();
    logger.info(
      {
        event: 'autoscaler_started',
        url,
        group: section.group,
        policy: policy.name,
        minReplicas: behavior.minReplicas,
        maxReplicas: behavior.maxReplicas,
        target: target.name,
      },
      `autoscaling ${section.group} with policy ${policy.name}; API on ${url}`,
    );
    await untilStopSignal();
    logger.info({ event: 'autoscaler_stopping' }, 'stopping: draining workers');
    await autoscaler.stop();
    await monitor.stop();
    await target.close();
    await app.close();
  });
}
