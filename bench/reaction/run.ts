/**
 * bench/reaction: how soon after a step increase in load does the first scale-out decision come,
 * with the lag engine polling every 5 s? Live, on a real broker, with the local target running
 * demo consumers. Several trials, each starting the step at a different phase of the poll.
 * Prints the delays (and in intervals) and writes bench/results/reaction.json.
 *
 *   npx tsx bench/reaction/run.ts        (env: TRIALS, INTERVAL_SECONDS, POLICY)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Autoscaler, LocalProcessPool, resolvePolicy } from '@lagscale/autoscaler';
import { parseBehaviorConfig, type ScalingDecision } from '@lagscale/core';
import { createLogger } from '@lagscale/exporter';
import { KafkaCluster, LagMonitor } from '@lagscale/kafka';
import { createTopic, producer } from '../../test-support/kafka.js';

const TRIALS = Number(process.env.TRIALS ?? 3);
const INTERVAL = Number(process.env.INTERVAL_SECONDS ?? 5);
const POLICY = process.env.POLICY ?? 'rate';
const main = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const cluster = await KafkaCluster.start({ nodes: 1, onProgress: log });
const results: { trial: number; phaseSeconds: number; delaySeconds: number; intervals: number; decision: string }[] = [];
try {
  const brokers = cluster.brokers;
  for (let trial = 1; trial <= TRIALS; trial++) {
    const topic = `reaction-${trial}`;
    const group = `reaction-${trial}-workers`;
    await createTopic(brokers, topic, 8);
    const logger = createLogger('bench-reaction', 'warn');
    const monitor = new LagMonitor({ connection: { brokers }, groups: [group], intervalSeconds: INTERVAL, offsetResetPolicy: 'earliest' });
    const target = new LocalProcessPool({
      command: [process.execPath, main, 'demo-consumer', '-b', brokers.join(','), '-g', group, '-t', topic, '--per-record-ms', '10', '--batch-size', '20'],
      logger,
      output: 'ignore',
      drainTimeoutSeconds: 10,
    });
    const policy = resolvePolicy(
      POLICY === 'threshold' ? { name: 'threshold', lagThreshold: 100 } : { name: 'rate', targetDrainSeconds: 30, serviceRatePerReplica: 100 },
    );
    const behavior = parseBehaviorConfig({ minReplicas: 1, maxReplicas: 8 });
    const autoscaler = new Autoscaler({ monitor, group, policy, behavior, target, logger });
    const decisions: ScalingDecision[] = [];
    autoscaler.on('decision', (d) => decisions.push(d));
    await target.setReplicas(1);
    autoscaler.start();
    monitor.start();
    // Steady state first: the worker joined and a few cycles passed with no load.
    await new Promise((r) => setTimeout(r, 3 * INTERVAL * 1000 + ((trial - 1) * INTERVAL * 1000) / TRIALS));
    const client = producer(brokers);
    const stepAt = Date.now();
    const phaseSeconds = ((stepAt - (decisions[decisions.length - 1]?.time ?? stepAt)) / 1000) % INTERVAL;
    let producing = true;
    // The step: 400 records/s, four times what one worker (10 ms per record) can do.
    const production = (async () => {
      for (let tick = 0; producing; tick++) {
        await new Promise((r) => setTimeout(r, Math.max(0, stepAt + tick * 100 - Date.now())));
        await client.send({ messages: Array.from({ length: 40 }, (_, i) => ({ topic, partition: (tick * 40 + i) % 8, key: `k${i}`, value: 'x' })) });
      }
    })();
    const deadline = Date.now() + 12 * INTERVAL * 1000;
    let first: ScalingDecision | undefined;
    while (Date.now() < deadline && !first) {
      first = decisions.find((d) => d.time >= stepAt && d.action === 'scale_up');
      await new Promise((r) => setTimeout(r, 100));
    }
    producing = false;
    await production;
    await client.close();
    await autoscaler.stop();
    await monitor.stop();
    await target.close();
    if (!first) {
      log(`trial ${trial}: no scale-out within ${12 * INTERVAL} s`);
      results.push({ trial, phaseSeconds, delaySeconds: Number.NaN, intervals: Number.NaN, decision: 'none' });
      continue;
    }
    const delay = (first.time - stepAt) / 1000;
    results.push({ trial, phaseSeconds, delaySeconds: delay, intervals: delay / INTERVAL, decision: first.reason });
    log(`trial ${trial}: first scale-out ${delay.toFixed(2)} s (${(delay / INTERVAL).toFixed(2)} intervals) after the step: ${first.reason}`);
  }
} finally {
  await cluster.stop();
}
const worst = Math.max(...results.map((r) => r.delaySeconds));
const lines = [
  `reaction: policy ${POLICY}, lag polled every ${INTERVAL} s, step from 0 to 400 records/s (one worker does 100/s)`,
  ...results.map((r) => `  trial ${r.trial}: first scale-out after ${r.delaySeconds.toFixed(2)} s = ${r.intervals.toFixed(2)} intervals`),
  `worst ${worst.toFixed(2)} s = ${(worst / INTERVAL).toFixed(2)} intervals; goal: within 2 intervals (${2 * INTERVAL} s): ${worst <= 2 * INTERVAL ? 'met' : 'NOT met'}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
await mkdir(new URL('../results/', import.meta.url), { recursive: true });
await writeFile(
  new URL('../results/reaction.json', import.meta.url),
  `${JSON.stringify({ benchmark: 'reaction', date: new Date().toISOString(), policy: POLICY, intervalSeconds: INTERVAL, trials: results, worstSeconds: worst, worstIntervals: worst / INTERVAL }, null, 2)}\n`,
);
