import type { Command } from 'commander';
import { parseInteger } from '../config.js';
import { addConnectionOptions, type ConnectionFlags } from '../options.js';
import { demoPlan, replayDemo } from '../stack/demo.js';
import { demoOrder } from '../stack/demo-records.js';
import { type LocalStack, STACK_SHARE_GROUP, STACK_WORKER_GROUP, startLocalStack } from '../stack/local-stack.js';
import { printStackBanner, runUntilStopped, stackSettings } from './up.js';

interface DemoFlags extends ConnectionFlags {
  host?: string;
  port?: string;
  duration: string;
  peakRate?: string;
  recordCostMs: string;
  shareGroup?: boolean;
  exit?: boolean;
}

/** Settings that make scaling visible within minutes on a laptop (see docs in the command help). */
const DEMO_STACK = {
  lagIntervalSeconds: 3,
  workerBatchSize: 50,
  policy: { name: 'rate', timeLagSloSeconds: 20, serviceRatePerReplica: 80, startupSeconds: 5 },
  behavior: { scaleDown: { stabilizationWindowSeconds: 30 } },
};

async function waitForScaleIn(stack: LocalStack, minimum: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stack.autoscaler.currentReplicas <= minimum && (stack.autoscaler.lastDecision?.desiredReplicas ?? minimum) <= minimum) return true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return false;
}

/**
 * `lagscale demo` (`npm run demo`): the local stack with demo settings, then a match day of the
 * World Cup '98 trace replayed as validation jobs, compressed into a few minutes: lag rises,
 * workers scale out, lag drains, workers scale in. The stack keeps running afterwards.
 */
export function registerDemoCommand(program: Command): void {
  const command = program
    .command('demo')
    .description('start the local stack and replay a World Cup 98 match day as validation jobs: watch lag rise, workers scale out and back in')
    .option('--host <address>', 'listen address of the API and console (default 127.0.0.1, env LAGSCALE_HOST)')
    .option('-p, --port <port>', 'listen port of the API and console (default 8080, env LAGSCALE_PORT)')
    .option('--duration <seconds>', 'wall-clock seconds of replayed load', '150')
    .option('--peak-rate <records/s>', 'records per second at the peak of the day (default 400; 1500 with --share-group)')
    .option('--record-cost-ms <ms>', 'extra work per record in each worker, so a laptop needs several workers at the peak', '10')
    .option('--share-group', 'run the workers as a share group (Kafka 4.2+): they scale past the 8 partitions, up to 24')
    .option('--exit', 'stop the stack once the workers are back to the minimum (for scripts and tests)');
  addConnectionOptions(command).action(async (flags: DemoFlags) => {
    const duration = parseInteger(flags.duration, '--duration', 10, 86_400);
    const peakRate = parseInteger(flags.peakRate ?? (flags.shareGroup === true ? '1500' : '400'), '--peak-rate', 1, 1_000_000);
    const { config, options } = stackSettings(flags);
    config.lag.intervalSeconds = DEMO_STACK.lagIntervalSeconds;
    const stack = await startLocalStack({
      config,
      ...options,
      workerRecordCostMs: parseInteger(flags.recordCostMs, '--record-cost-ms', 0, 60_000),
      workerBatchSize: DEMO_STACK.workerBatchSize,
      policy: options.policy ?? DEMO_STACK.policy,
      behavior: options.behavior ?? DEMO_STACK.behavior,
      ...(flags.shareGroup === true ? { shareGroup: true } : {}),
    });
    printStackBanner(stack);
    const stopping = new AbortController();
    process.once('SIGINT', () => stopping.abort());
    process.once('SIGTERM', () => stopping.abort());
    const plan = await demoPlan(duration, peakRate);
    const ruleSet = await stack.store.getRuleSet('customer-orders');
    if (!ruleSet) throw new Error('the demo needs the example rule set customer-orders; the stack saves it on first start of an empty store');
    process.stderr.write(
      `demo: replaying ${plan.source}: ${plan.arrivals.totalRecords} records over ${duration} s, peak ${plan.arrivals.peakPerTick}/s; watch ${stack.url}/autoscaler\n`,
    );
    const replay = await replayDemo({
      plan,
      connection: stack.connection,
      store: stack.store,
      ruleSet,
      record: demoOrder,
      signal: stopping.signal,
      onTick: ({ second, rate, produced }) => {
        if (second % 10 !== 9) return;
        const latest = stack.monitor.latest;
        const group =
          flags.shareGroup === true
            ? latest?.shareGroups?.find((g) => g.group === STACK_SHARE_GROUP)
            : latest?.groups.find((g) => g.group === STACK_WORKER_GROUP);
        process.stderr.write(
          `demo ${second + 1}/${duration}s: ${rate} records/s, ${produced} sent, lag ${group?.lag ?? '?'}, workers ${stack.autoscaler.currentReplicas}\n`,
        );
      },
    });
    if (!stopping.signal.aborted) {
      process.stderr.write(`demo: load done (${replay.produced} records in ${replay.jobs.length} jobs); waiting for lag to drain and workers to scale in\n`);
      const scaledIn = await waitForScaleIn(stack, 1, 180_000);
      process.stderr.write(scaledIn ? 'demo: back to one worker.\n' : 'demo: workers did not scale back in within 3 minutes.\n');
    }
    if (flags.exit || stopping.signal.aborted) {
      await stack.stop();
      return;
    }
    process.stderr.write('demo complete; the stack keeps running. Press Ctrl-C to stop.\n');
    await runUntilStopped(stack);
  });
}
