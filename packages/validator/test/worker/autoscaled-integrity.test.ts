import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Autoscaler, LocalProcessPool, resolvePolicy } from '@lagscale/autoscaler';
import { parseBehaviorConfig } from '@lagscale/core';
import { createLogger } from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import { type Job, SqliteResultStore } from '@lagscale/validator';
import { describe, expect, inject, it } from 'vitest';
import { parseDescribeOutput, runConsumerGroupsCommand } from '../../../../test-support/consumer-groups-command.js';
import { createTopic, waitFor } from '../../../../test-support/kafka.js';
import { describeShareGroupOffsets } from '../../../../test-support/share-groups-command.js';
import { jobDone, sqliteJob, workerCommand } from './helpers.js';
import { auditJob } from './job-audit.js';
import { produceJob } from './order-records.js';

const brokers = inject('kafkaBrokers');
const libDir = inject('kafkaLibDir');
const main = fileURLToPath(new URL('../../../cli/dist/main.js', import.meta.url));

const TOTAL = 100_000;
const PARTITIONS = 8;
const isMalformed = (n: number): boolean => n % 100 === 0;

/** How the workers join their group, and how the test tells what the group did. */
interface Membership {
  readonly name: string;
  /** `lagscale worker` flags naming the group. */
  readonly flags: (group: string) => string[];
  readonly groupKind: 'share' | 'consumer';
  /** The most workers: past the partition count for a share group. */
  readonly peak: number;
  /** A /metrics line that counts records a worker settled (its value > 0: the worker works). */
  readonly working: (line: string) => boolean;
  /** Kafka's own tool: whether it sees nothing waiting on any partition. */
  readonly toolSeesLagZero: (group: string) => Promise<boolean>;
}

const MEMBERSHIPS: readonly Membership[] = [
  {
    name: 'a KIP-932 share group',
    flags: (group) => ['--share-group', group],
    groupKind: 'share',
    peak: 24,
    working: (l) => l.startsWith('lagscale_validator_share_acknowledgements_total{') && l.includes('type="accept"'),
    toolSeesLagZero: async (group) => {
      const rows = await describeShareGroupOffsets(libDir, brokers[0] as string, group);
      return rows.length === PARTITIONS && rows.every((row) => row.lag === 0);
    },
  },
  {
    name: 'a KIP-848 consumer group',
    flags: (group) => ['--group', group, '--group-protocol', 'consumer'],
    groupKind: 'consumer',
    peak: PARTITIONS,
    working: (l) => l.startsWith('lagscale_validator_batches_total{'),
    toolSeesLagZero: async (group) => {
      const listed = await runConsumerGroupsCommand(libDir, brokers[0] as string, ['--list', '--type', 'consumer']);
      const rows = parseDescribeOutput((await runConsumerGroupsCommand(libDir, brokers[0] as string, ['--describe', '--group', group])).stdout);
      return listed.stdout.split('\n').some((l) => l.startsWith(`${group} `) || l === group) && rows.length === PARTITIONS && rows.every((r) => r.lag === 0);
    },
  },
];

/** What a worker's /metrics line counts so far, 0 when it does not answer. */
async function settledBy(metricsUrl: string | null, working: Membership['working']): Promise<number> {
  if (metricsUrl === null) return 0;
  try {
    const text = await (await fetch(new URL('/metrics', metricsUrl), { signal: AbortSignal.timeout(2000) })).text();
    const line = text.split('\n').find(working);
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  } catch {
    return 0;
  }
}

/**
 * Validation workers scaled by the autoscaler on a real broker: a 100,000-record job on an
 * 8-partition topic, `lagscale worker` processes scaled 1 → peak → 1 on the group's lag, one
 * worker SIGKILLed mid-job, and every scale-in SIGTERMs workers in the middle of their batches.
 * - As a share group (KIP-932): peak 24, past the partition count (KEDA's threshold arithmetic
 *   without the partition cap), and all 24 work; the killed worker's acquired records come back
 *   when its locks expire.
 * - As a consumer group on the consumer protocol (KIP-848): peak 8; partitions move one member at
 *   a time, each let go after its handled records are committed; the killed worker's partitions
 *   move after its session times out.
 * Afterwards every record has exactly one result or one DLQ entry (lost 0, duplicated 0), and
 * Kafka's own tool (`kafka-share-groups`, `kafka-consumer-groups`) shows the group's lag at 0.
 */
describe.each(MEMBERSHIPS)('validation workers in $name scaled 1 → $peak → 1 by the autoscaler, with a SIGKILL', (membership) => {
  const PEAK = membership.peak;
  it('leave exactly one result or DLQ entry per record, and every worker at the peak works', async () => {
    const started = Date.now();
    const dir = mkdtempSync(join(tmpdir(), `lagscale-${membership.groupKind}-integrity-`));
    const job = `${membership.groupKind}-${Date.now().toString(36)}`;
    const topic = `${job}-requests`;
    const group = `${job}-validators`;
    const file = join(dir, 'results.db');
    await createTopic(brokers, topic, PARTITIONS);
    await sqliteJob(file, job, TOTAL);

    const pool = new LocalProcessPool({
      command: workerCommand(main, brokers, file, [
        ...membership.flags(group),
        '--requests-topic',
        topic,
        '--batch-size',
        '100',
        // Work that waits rather than computes (a slow downstream call): 24 workers on 2 cores
        // then do 24 times the work of one, which is what a share group is for.
        '--record-cost-ms',
        '5',
      ]),
      logger: createLogger(`${membership.groupKind}-integrity`, 'warn'),
      output: 'ignore',
      drainTimeoutSeconds: 60,
      restartDelaySeconds: 0.5,
    });
    const exits: { id: number; code: number | null; signal: NodeJS.Signals | null; expected: boolean }[] = [];
    pool.on('worker-exit', (exit) => exits.push(exit));
    const read = SqliteResultStore.open(file);
    const monitor = new LagMonitor({ connection: { brokers }, groups: [group], intervalSeconds: 1 });
    const autoscaler = new Autoscaler({
      monitor,
      group,
      groupKind: membership.groupKind,
      policy: resolvePolicy({ name: 'threshold', lagThreshold: 2000 }),
      behavior: parseBehaviorConfig({
        minReplicas: 1,
        maxReplicas: PEAK,
        scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: PEAK, periodSeconds: 1 }] },
        scaleDown: { stabilizationWindowSeconds: 3, policies: [{ type: 'Percent', value: 100, periodSeconds: 1 }] },
      }),
      target: pool,
      logger: createLogger(`${membership.groupKind}-integrity-autoscaler`, 'warn'),
    });
    const decided: number[] = [1];
    autoscaler.on('decision', (decision) => {
      if (decided.at(-1) !== decision.desiredReplicas) decided.push(decision.desiredReplicas);
    });
    const progress = async (): Promise<Job> => (await read.getJob(job)) as Job;
    const timeline: string[] = [];
    const mark = async (what: string): Promise<void> => {
      const j = await progress();
      timeline.push(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what} (${j.results + j.dlq} done)`);
    };
    try {
      const produced = await produceJob(brokers, { topic, jobId: job, total: TOTAL, isMalformed, seed: 11 });
      await mark('all records produced');
      await pool.setReplicas(1);
      await mark('1 worker');
      await jobDone(read, job, TOTAL, 0.02);
      // The autoscaler takes over: 98,000 records waiting at 2,000 a worker ask for 49, capped at the peak.
      autoscaler.start();
      monitor.start();
      await waitFor(`the autoscaler to scale out to ${PEAK}`, async () => (await pool.currentReplicas()) === PEAK, 60_000, 200);
      await mark(`scaled out to ${PEAK} by the autoscaler`);
      // Every worker works (a share group: more workers than partitions, all acknowledging records).
      let last: number[] = [];
      const working = await waitFor(
        `all ${PEAK} workers to have settled records`,
        async () => {
          last = await Promise.all(pool.workers().map((w) => settledBy(w.metricsUrl, membership.working)));
          return last.filter((n) => n > 0).length >= PEAK ? last : undefined;
        },
        120_000,
        500,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; settled per worker: ${JSON.stringify(last)}`);
      });
      await mark(`${working.filter((n) => n > 0).length} workers settled records`);
      const victim = pool.workers().sort((a, b) => a.id - b.id)[0];
      process.kill(victim?.pid as number, 'SIGKILL');
      await mark(`SIGKILL worker ${victim?.id}`);
      await waitFor('the pool to replace the killed worker', async () => exits.length >= 1, 30_000, 100);
      // The killed worker's records come back after their 30 s lock (share) or its session timeout (consumer).
      const final = await jobDone(read, job, TOTAL);
      await mark('all records done');
      await waitFor('the autoscaler to scale back in to 1', async () => decided.at(-1) === 1 && pool.workers().length === 1, 60_000, 200);
      await mark(`back to 1 worker; replicas the autoscaler asked for: ${decided.join(' → ')}`);
      expect(Math.max(...decided)).toBe(PEAK);
      expect(exits.filter((e) => !e.expected).map((e) => e.signal)).toEqual(['SIGKILL']);
      // Every scale-in SIGTERMed workers mid-batch: each drained and exited cleanly.
      expect(exits.filter((e) => e.expected).length).toBeGreaterThanOrEqual(PEAK - 1);
      for (const drain of exits.filter((e) => e.expected)) {
        expect(drain.code === 0 || (drain.code === null && drain.signal === 'SIGTERM'), JSON.stringify(drain)).toBe(true);
      }
      const malformed = new Set(produced.malformed);
      const audit = await auditJob(read, job, TOTAL, malformed);
      timeline.push(`audit: ${JSON.stringify(audit)}`);
      expect(audit).toMatchObject({ lost: 0, duplicated: 0, misplaced: 0, results: TOTAL - malformed.size, dlq: malformed.size });
      expect(final.results + final.dlq).toBe(TOTAL);
      // The independent truth: Kafka's tool sees nothing waiting in the group.
      expect(await waitFor("Kafka's tool to show lag 0 on every partition", () => membership.toolSeesLagZero(group), 60_000, 1000)).toBe(true);
    } finally {
      process.stderr.write(`${membership.groupKind} integrity (${((Date.now() - started) / 1000).toFixed(1)} s):\n  ${timeline.join('\n  ')}\n`);
      await autoscaler.stop();
      await monitor.stop();
      await pool.close();
      await read.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
