import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScalingDecision } from '@lagscale/core';
import { describe, expect, inject, it } from 'vitest';
import { createTopic, produce, waitFor } from '../../../test-support/kafka.js';

const brokers = inject('kafkaBrokers');
const main = fileURLToPath(new URL('../../cli/dist/main.js', import.meta.url));

function countLines(dir: string): { total: number; unique: number } {
  const lines: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.startsWith('worker-'))) {
    const text = readFileSync(join(dir, file), 'utf8').trim();
    if (text !== '') lines.push(...text.split('\n'));
  }
  return { total: lines.length, unique: new Set(lines).size };
}

/**
 * The whole loop on a real broker: 8 partitions, one demo worker, a burst of records. The
 * autoscaler scales out (never above 8), the backlog drains, it scales back to one, and the
 * workers' own count shows every record exactly once.
 */
describe('lagscale autoscale, local target, end to end', () => {
  // One retry: about one run in six here, one partition's records stopped arriving before the
  // end (docs/known-issues.md); the counts must still be exact to pass.
  it('scales out on a burst, drains, scales in, and loses or repeats nothing', { timeout: 300_000, retry: 1 }, async () => {
    const run = `e2e${Date.now().toString(36)}`;
    const topic = `${run}-work`;
    const group = `${run}-workers`;
    await createTopic(brokers, topic, 8);
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-autoscale-'));
    const config = join(dir, 'lagscale.yaml');
    writeFileSync(
      config,
      [
        'kafka:',
        `  brokers: [${brokers.join(', ')}]`,
        'lag:',
        '  intervalSeconds: 1',
        '  offsetResetPolicy: earliest',
        'exporter:',
        '  port: 0',
        'autoscaler:',
        `  group: ${group}`,
        '  policy: { name: rate, targetDrainSeconds: 15, serviceRatePerReplica: 40, startupSeconds: 3, rebalanceSeconds: 2 }',
        '  behavior:',
        '    minReplicas: 1',
        '    maxReplicas: 20',
        '    scaleDown: { stabilizationWindowSeconds: 5 }',
        '  target:',
        '    type: local',
        `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(main)}, demo-consumer, -b, ${JSON.stringify(brokers.join(','))}, -g, ${group}, -t, ${topic}, --per-record-ms, '8', --batch-size, '20', --out, ${JSON.stringify(join(dir, 'worker-{worker}.txt'))}]`,
        '    drainTimeoutSeconds: 20',
        '',
      ].join('\n'),
    );
    const child: ChildProcess = spawn(process.execPath, [main, 'autoscale', '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    try {
      const url = await waitFor('the autoscaler API', async () => /"url":"(http:[^"]+)"/.exec(stderr)?.[1], 30_000);
      const decisions = async (): Promise<ScalingDecision[]> =>
        ((await (await fetch(`${url}/api/v1/autoscaler/decisions?limit=1000`)).json()) as { decisions: ScalingDecision[] }).decisions;
      await waitFor('the first worker to join', async () => (await decisions()).some((d) => d.inputs.activeConsumers >= 1), 30_000);

      const records = 8 * 600;
      const burstAt = Date.now();
      await produce(brokers, { topic, perPartition: Object.fromEntries(Array.from({ length: 8 }, (_, p) => [p, 600])), batchSize: 200 });
      const firstScaleUp = await waitFor(
        'a scale-out decision',
        async () => (await decisions()).reverse().find((d) => d.action === 'scale_up' && d.time >= burstAt),
        30_000,
      );
      const reactionSeconds = (firstScaleUp.time - burstAt) / 1000;

      await waitFor('every record to be counted', async () => countLines(dir).unique >= records || undefined, 150_000, 1000).catch((error: Error) => {
        // Say which partitions fell short, to tell a lost record from a stalled partition.
        const counted = new Map<string, number>();
        for (const file of readdirSync(dir).filter((f) => f.startsWith('worker-'))) {
          for (const line of readFileSync(join(dir, file), 'utf8').trim().split('\n')) {
            const partition = line.split(' ')[1] ?? '?';
            counted.set(partition, (counted.get(partition) ?? 0) + 1);
          }
        }
        throw new Error(`${error.message}; counted per partition (600 each expected): ${JSON.stringify(Object.fromEntries(counted))}`);
      });
      await waitFor(
        'scale-in back to one worker',
        async () => (await decisions())[0]?.desiredReplicas === 1 && (await decisions())[0]?.currentReplicas === 1,
        90_000,
        1000,
      );

      const all = (await decisions()).reverse();
      const peak = Math.max(...all.map((d) => d.desiredReplicas));
      const counted = countLines(dir);
      console.log(
        `autoscale e2e: first scale-out ${reactionSeconds.toFixed(1)} s after the burst (interval 1 s) to ${firstScaleUp.desiredReplicas}; peak ${peak} replicas; ` +
          `${counted.total} lines, ${counted.unique} unique of ${records}; reason: ${firstScaleUp.reason}`,
      );
      const story = all
        .filter((d) => d.action !== 'none')
        .map((d) => `${new Date(d.time).toISOString()} ${d.action} ${d.currentReplicas}->${d.desiredReplicas}: ${d.reason}`)
        .join('\n');
      expect(peak, story).toBeGreaterThan(1);
      expect(peak, story).toBeLessThanOrEqual(8);
      expect(counted.unique, 'records counted at least once').toBe(records);
      expect(counted.total, 'records counted in all (duplicates would show here)').toBe(records);
      // Within three 1 s intervals even on a loaded machine; bench/reaction measures the 5 s case.
      expect(reactionSeconds, story).toBeLessThanOrEqual(3);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/lagscale_autoscaler_scale_events_total\{consumergroup="[^"]+",target="[^"]+",direction="up"\} [1-9]/);
      expect(metrics).toContain('lagscale_autoscaler_desired_replicas{');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    expect(existsSync(dir)).toBe(true);
  });
});
