import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Autoscaler, LocalProcessPool, resolvePolicy } from '@lagscale/autoscaler';
import { LagEvaluator, type LagSnapshot, parseBehaviorConfig, type ScalingDecision } from '@lagscale/core';
import { createLogger, PrometheusText, writeLagMetrics } from '@lagscale/exporter';
import { KafkaCluster, LagMonitor, OffsetCollector } from '@lagscale/kafka';
import { createRequestProducer, type Job, type ProducedMessage, SqliteResultStore, VALIDATION_TOPICS } from '@lagscale/validator';
import { Connection, metadataV12 } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coordinatorOf, createTopic, waitFor } from '../../../../test-support/kafka.js';
import { endOffsets } from './helpers.js';
import { auditJob, keysOf, repeats } from './job-audit.js';
import { OrderRecords, ordersRuleSet as ruleSet } from './order-records.js';

const main = fileURLToPath(new URL('../../../cli/dist/main.js', import.meta.url));

const TOTAL = 100_000;
/** Produced before the workers start; the rest during the first outage. */
const EARLY = 90_000;
const PARTITIONS = 6;
const MAX_WORKERS = 3;
const FALLBACK_REPLICAS = 3;
/** 1% malformed (truncated JSON): the DLQ must hold exactly these. */
const isMalformed = (n: number): boolean => n % 100 === 0;
const TOPIC = VALIDATION_TOPICS.requests;
const DLQ_TOPIC = VALIDATION_TOPICS.deadLetters;

/** Leader and in-sync replicas of every partition of `topics`, asked of the first running node that answers. */
async function partitionStates(cluster: KafkaCluster, topics: string[]): Promise<{ topic: string; partition: number; leader: number; isr: number[] }[]> {
  let lastError: unknown;
  for (const id of cluster.runningNodeIds) {
    const [host, port] = cluster.brokerOf(id).split(':') as [string, string];
    const connection = new Connection('lagscale-test-metadata', { connectTimeout: 1000, requestTimeout: 3000 });
    try {
      await connection.connect(host, Number(port));
      const metadata = await metadataV12.api.async(connection, topics);
      return metadata.topics.flatMap((t) =>
        t.partitions.map((p) => ({ topic: t.name ?? '', partition: p.partitionIndex, leader: p.leaderId, isr: p.isrNodes })),
      );
    } catch (error) {
      lastError = error;
    } finally {
      await connection.close().catch(() => {});
    }
  }
  throw new Error(`no running node answered Metadata: ${(lastError as Error | undefined)?.message ?? 'none running'}`);
}

/**
 * A group name whose coordinator is `node`: the group's coordinator is the leader of the offsets
 * partition its name hashes to, so trying names finds one. Then the failover takes the group's
 * coordinator down with the controller, every run, not one run in three.
 */
async function groupCoordinatedBy(cluster: KafkaCluster, node: number, prefix: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const name = `${prefix}-${i}`;
    const coordinator = await waitFor(
      `a coordinator for ${name}`,
      async () => {
        const id = await coordinatorOf(cluster, name);
        return id >= 0 ? id : undefined;
      },
      30_000,
      250,
    );
    if (coordinator === node) return name;
  }
  throw new Error(`no group name among 200 tried is coordinated by node ${node}`);
}

/** One look of the lag engine at the group while brokers fail. */
interface LagSample {
  /** When the collection began (every reading in it is from then or later). */
  readonly at: number;
  readonly lagComplete: boolean;
  /** The partitions reported with a lag; a partition not listed, or listed with lag null, is unknown. */
  readonly partitions: { partition: number; lag: number | null; logEnd: number | null; committed: number | null; error?: string }[];
  /** What the exporter would serve for it: `kafka_consumergroup_lag{partition}` and `kafka_consumergroup_lag_sum` of the input topic. */
  readonly exported: { readonly lag: Map<number, number>; readonly lagSum: number | null };
  /** Why the group's offsets could not be read (its coordinator gone, say), if so. */
  readonly groupError?: string;
}

/** The input topic's lag samples in the Prometheus text of a snapshot. */
function exportedLag(snapshot: LagSnapshot, group: string): LagSample['exported'] {
  const out = new PrometheusText();
  writeLagMetrics(out, snapshot);
  const lag = new Map<number, number>();
  let lagSum: number | null = null;
  const labels = `consumergroup="${group}",topic="${TOPIC}"`;
  for (const line of out.toString().split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`kafka_consumergroup_lag{${labels},partition="`)) lag.set(Number(/partition="(\d+)"/.exec(line)?.[1]), value);
    if (line.startsWith(`kafka_consumergroup_lag_sum{${labels}}`)) lagSum = value;
  }
  return { lag, lagSum };
}

/**
 * The issue's failover proof: three combined broker+controller nodes, topics with replication
 * factor 3 and min.insync.replicas 2, a 100,000-record job (1% malformed) validated by
 * `lagscale worker` processes that the real autoscaler scales out through the local target. Mid-job
 * the node leading most input partitions is SIGKILLed (and the active KRaft controller: the same
 * node when it can be, else later, once the first is back, as killing two of three voters at once
 * loses the quorum), and each is restarted. Afterwards every record is counted exactly; the lag
 * engine, sampled during the outages, reported the dead leader's partitions as unknown and never a
 * number other than the true one; the autoscaler held or fell back and did not flap.
 */
describe('a broker failover during a validation job', () => {
  let cluster: KafkaCluster;

  beforeAll(async () => {
    cluster = await KafkaCluster.start({
      nodes: 3,
      heapMb: 512,
      properties: {
        // Fence a dead broker after 3 s instead of 9 s: leaders move sooner.
        'broker.heartbeat.interval.ms': '500',
        'broker.session.timeout.ms': '3000',
        'default.replication.factor': '3',
        'min.insync.replicas': '2',
        'offsets.topic.replication.factor': '3',
      },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('loses and doubles nothing, reports unknown lag while leaders are gone, and the autoscaler does not flap', async () => {
    const started = Date.now();
    const brokers = cluster.brokers;
    const timeline: string[] = [];
    const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-failover-'));
    const storeFile = join(dir, 'results.db');
    const job = `failover-${Date.now().toString(36)}`;
    // The group is coordinated by the active controller: the node killed first, unless another node leads more input partitions.
    const group = await groupCoordinatedBy(cluster, await cluster.activeController(), `${job}-validators`);
    const replicated = { 'min.insync.replicas': '2' };
    await createTopic(brokers, TOPIC, PARTITIONS, replicated, 3);
    await createTopic(brokers, DLQ_TOPIC, 1, replicated, 3);
    const setup = SqliteResultStore.open(storeFile);
    await setup.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet as never, Date.now());
    await setup.createJob({ id: job, ruleSet: ruleSet.name, ruleSetVersion: ruleSet.version, total: TOTAL, createdAt: Date.now(), source: 'test' });
    await setup.close();

    // Most records first; the rest while the first node is down, through the leader changes (an
    // upload that goes on during a failover), with the product's producer settings.
    const records = new OrderRecords({ seed: 15 });
    // The product's request producer (uploads and DLQ replays send through it), 5,000 records a send.
    const produceRange = async (from: number, to: number): Promise<{ malformed: number[] }> => {
      const client = createRequestProducer({ brokers }, 'lagscale-test-orders');
      const malformed: number[] = [];
      try {
        for (let start = from; start <= to; start += 5000) {
          const messages: ProducedMessage[] = [];
          for (let n = start; n <= Math.min(to, start + 4999); n++) {
            const generated = records.request(job, ruleSet.name, n, isMalformed(n));
            if (generated.malformed) malformed.push(n);
            const { key, value, headers } = generated.message;
            messages.push({ topic: TOPIC, key, value, headers: new Map(Object.entries(headers).map(([k, v]) => [Buffer.from(k), v])) });
          }
          await client.send({ messages });
        }
      } finally {
        await client.close();
      }
      return { malformed };
    };
    const early = await produceRange(1, EARLY);
    const endsBefore = (await endOffsets(brokers, TOPIC)).map(Number);
    expect(endsBefore.reduce((a, b) => a + b, 0)).toBe(EARLY);
    timeline.push(`${elapsed()}: ${EARLY} records produced, log ends ${endsBefore.join(',')}`);
    let late: { malformed: number[] } | null = null;
    /** When the last records were acknowledged: from then on the lag engine must report the final log ends exactly. */
    let lateDoneAt = Number.POSITIVE_INFINITY;

    const logger = createLogger('broker-failover', 'warn');
    const pool = new LocalProcessPool({
      command: [
        process.execPath,
        main,
        'worker',
        '-b',
        brokers.join(','),
        '--store',
        storeFile,
        '--group',
        group,
        '--batch-size',
        '500',
        // 2 ms a record (a timer, not CPU): three workers need about a minute for the job, so
        // the faults land mid-job on a fast machine too.
        '--record-cost-ms',
        '2',
      ],
      logger,
      output: 'ignore',
      drainTimeoutSeconds: 60,
      restartDelaySeconds: 0.5,
    });
    const exits: { id: number; code: number | null; signal: NodeJS.Signals | null; expected: boolean }[] = [];
    pool.on('worker-exit', (exit) => exits.push(exit));
    const monitor = new LagMonitor({
      connection: { brokers, connectTimeoutMs: 2000, requestTimeoutMs: 4000 },
      groups: [group],
      intervalSeconds: 1,
      offsetResetPolicy: 'earliest',
    });
    monitor.on('error', () => {});
    const behavior = parseBehaviorConfig(
      { minReplicas: 1, maxReplicas: MAX_WORKERS, fallback: { failureThreshold: 3, replicas: FALLBACK_REPLICAS } },
      'behavior',
    );
    const autoscaler = new Autoscaler({
      monitor,
      group,
      policy: resolvePolicy({ name: 'threshold', lagThreshold: 5000, offsetResetPolicy: 'earliest' }),
      behavior,
      target: pool,
      logger,
    });
    const decisions: ScalingDecision[] = [];
    autoscaler.on('decision', (d) => decisions.push(d));
    /** Snapshots whose group lag was incomplete, by time: decisions then must hold or fall back. */
    const incompleteAt: number[] = [];
    monitor.on('snapshot', (s: LagSnapshot) => {
      if (s.groups.find((g) => g.group === group)?.lagComplete !== true) incompleteAt.push(s.time);
    });

    const read = SqliteResultStore.open(storeFile);
    const progress = async (): Promise<Job> => (await read.getJob(job)) as Job;
    const done = async (): Promise<number> => {
      const j = await progress();
      return j.results + j.dlq;
    };
    const doneAtLeast = (share: number) =>
      waitFor(`${Math.round(share * 100)}% of the records done`, async () => (await done()) >= share * TOTAL, 180_000, 100);

    // The lag engine's view during the faults, sampled by a collector of its own.
    const sampler = new OffsetCollector({ connection: { brokers, connectTimeoutMs: 1000, requestTimeoutMs: 2000 }, groups: [group] });
    const evaluator = new LagEvaluator({ offsetResetPolicy: 'earliest' });
    const samples: LagSample[] = [];
    const sample = async (): Promise<LagSample> => {
      const at = Date.now();
      const snapshot = evaluator.evaluate(await sampler.collect());
      const g = snapshot.groups.find((x) => x.group === group);
      const s: LagSample = {
        at,
        lagComplete: g?.lagComplete ?? false,
        exported: exportedLag(snapshot, group),
        ...(g?.error === undefined ? {} : { groupError: g.error }),
        partitions: (g?.partitions ?? []).map((p) => ({
          partition: p.partition,
          lag: p.lag,
          logEnd: p.logEndOffset,
          committed: p.committedOffset,
          ...(p.error === undefined ? {} : { error: p.error }),
        })),
      };
      samples.push(s);
      return s;
    };
    /** Samples until every partition in `partitions` was reported unknown at least once and then known again. */
    const sampleOutage = async (partitions: number[], what: string): Promise<{ unknownSamples: number; samples: number }> => {
      const seenUnknown = new Set<number>();
      let count = 0;
      let unknownSamples = 0;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const s = await sample().catch(() => null);
        count++;
        if (s !== null) {
          // Unknown: not reported with a number (listed with lag null, or not listed at all when the
          // group's coordinator is gone and its offsets cannot be read).
          const unknown = Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) => !s.partitions.some((x) => x.partition === p && x.lag !== null));
          if (partitions.every((p) => unknown.includes(p))) unknownSamples++;
          for (const p of unknown) seenUnknown.add(p);
          if (partitions.every((p) => seenUnknown.has(p)) && s.lagComplete) break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      timeline.push(`${elapsed()}: ${what}: ${count} samples, ${unknownSamples} with all of partitions ${partitions.join(',')} unknown`);
      return { unknownSamples, samples: count };
    };

    const kills: string[] = [];
    const restarts: string[] = [];
    /** SIGKILL a node, sample the lag engine through the outage, start the node again and wait until every replica is in sync. */
    const failNode = async (node: number, roles: string, during?: () => Promise<void>): Promise<void> => {
      const before = await partitionStates(cluster, [TOPIC]);
      const led = before.filter((p) => p.leader === node).map((p) => p.partition);
      await cluster.stopNode(node, 'SIGKILL');
      kills.push(`node ${node} (${roles}; led input partitions ${led.join(',') || 'none'}) at ${elapsed()}, ${await done()} records done`);
      timeline.push(`${elapsed()}: SIGKILL node ${node} (${roles})`);
      const work = during?.();
      // Observed now: a failure is reported once the outage is sampled.
      work?.catch(() => {});
      const outage = await sampleOutage(led, `node ${node} down`);
      if (led.length > 0) expect(outage.unknownSamples, `samples with node ${node}'s partitions unknown`).toBeGreaterThan(0);
      await work;
      const moved = await partitionStates(cluster, [TOPIC]);
      expect(moved.every((p) => p.leader !== node && p.leader >= 0)).toBe(true);
      await cluster.startNode(node);
      restarts.push(`node ${node} at ${elapsed()}, ${await done()} records done`);
      timeline.push(`${elapsed()}: node ${node} restarted`);
      await waitFor(
        `node ${node} back in sync for every partition`,
        async () => (await partitionStates(cluster, [TOPIC, DLQ_TOPIC, '__consumer_offsets'])).every((p) => p.isr.length === 3),
        90_000,
        500,
      );
      timeline.push(`${elapsed()}: every partition has 3 in-sync replicas again`);
    };

    let scaleEvents = 0;
    let scalingStopped: Promise<void> | null = null;
    const stopScaling = (): Promise<void> => {
      scalingStopped ??= autoscaler.stop().then(() => monitor.stop());
      return scalingStopped;
    };
    try {
      await pool.setReplicas(1);
      autoscaler.start();
      monitor.start();
      await doneAtLeast(0.1);
      await waitFor('the autoscaler to scale out', async () => (await pool.currentReplicas()) >= 2, 60_000, 200);
      timeline.push(`${elapsed()}: scaled out to ${await pool.currentReplicas()} workers, ${await done()} records done`);

      // The victims: the node leading most input partitions and the active controller.
      const controller = await cluster.activeController();
      const coordinator = await coordinatorOf(cluster, group);
      const leaders = await partitionStates(cluster, [TOPIC]);
      const ledBy = (node: number): number => leaders.filter((p) => p.leader === node).length;
      const most = Math.max(...cluster.nodeIds.map(ledBy));
      // On a tie, the controller if it is among the busiest: one kill then takes both roles.
      const busiest = ledBy(controller) === most ? controller : (cluster.nodeIds.find((n) => ledBy(n) === most) as number);
      timeline.push(
        `${elapsed()}: leaders ${cluster.nodeIds.map((n) => `node ${n}: ${ledBy(n)}`).join(', ')}; active controller node ${controller}; group coordinator node ${coordinator}`,
      );
      const produceLate = async (): Promise<void> => {
        const started = Date.now();
        late = await produceRange(EARLY + 1, TOTAL);
        lateDoneAt = Date.now();
        timeline.push(`${elapsed()}: records ${EARLY + 1}..${TOTAL} produced during the outage in ${((lateDoneAt - started) / 1000).toFixed(1)} s`);
      };
      if (busiest === controller) {
        await failNode(busiest, 'leader of most input partitions and active controller', produceLate);
      } else {
        await failNode(busiest, 'leader of most input partitions', produceLate);
        // Killing the controller together with the first node would leave one voter of three: no quorum.
        const nowController = await cluster.activeController();
        await failNode(nowController, 'active controller');
      }

      const final = await waitFor(
        'every record to have a result or a dead letter',
        async () => {
          const j = await progress();
          return j.results + j.dlq >= TOTAL ? j : undefined;
        },
        180_000,
        200,
      );
      timeline.push(`${elapsed()}: all records done (${final.results} results, ${final.dlq} DLQ)`);
      // The workers' commits reached the end too: the group's lag drains to 0 (commits sent to a
      // coordinator that died would leave it frozen, and the autoscaler scaled up for ever).
      await waitFor(
        "the group's committed offsets to reach the log end",
        async () => {
          const s = await sample();
          return s.lagComplete && s.partitions.every((p) => p.lag === 0) ? s : undefined;
        },
        60_000,
        500,
      );
      timeline.push(`${elapsed()}: the group's lag is 0 on every partition`);
      // A batch redelivered after a fault is rewritten, not added: wait a moment for any such batch.
      await new Promise((r) => setTimeout(r, 2000));
      await stopScaling();
      scaleEvents = autoscaler.counters.scaleUps + autoscaler.counters.scaleDowns;
      // The workers drain and exit on SIGTERM after the failover too (they hung once: the client's
      // close left every connection open when leaving the group failed at the dead coordinator).
      const exitsBefore = exits.length;
      await pool.setReplicas(0);
      await waitFor('every worker to drain and exit', async () => pool.workers().length === 0, 40_000, 200);
      const drains = exits.slice(exitsBefore);
      for (const d of drains) expect(d.expected && (d.code === 0 || (d.code === null && d.signal === 'SIGTERM')), JSON.stringify(d)).toBe(true);
      timeline.push(`${elapsed()}: ${drains.length} workers drained and exited on SIGTERM`);

      // Counts: one result per well-formed record, exactly the malformed ones in the DLQ.
      const malformed = new Set([...early.malformed, ...((late as { malformed: number[] } | null)?.malformed ?? [])]);
      expect(malformed.size).toBe(TOTAL / 100);
      const trueEnds = (await endOffsets(brokers, TOPIC)).map(Number);
      const audit = await auditJob(read, job, TOTAL, malformed);
      const prefix = `${job}:`;
      const requestKeys = await keysOf(brokers, TOPIC, `${job}-requests-reader`, (key) => key.startsWith(prefix));
      const deadLetterKeys = await keysOf(brokers, DLQ_TOPIC, `${job}-dlq-reader`, (key) => key.startsWith(prefix));
      const republished = repeats(deadLetterKeys);
      process.stderr.write(
        `broker failover counts: records ${audit.records}, results ${audit.results}, DLQ ${audit.dlq} (malformed ${malformed.size}), lost ${audit.lost}, duplicated ${audit.duplicated}, misplaced ${audit.misplaced}; ` +
          `request topic ${requestKeys.size} keys (${repeats(requestKeys).extraCopies} extra copies); DLQ topic ${deadLetterKeys.size} keys (${republished.extraCopies} republished on redelivery)\n`,
      );
      expect(audit.lostExamples).toEqual([]);
      expect(audit.lost).toBe(0);
      expect(audit.duplicated).toBe(0);
      expect(audit.misplaced).toBe(0);
      expect(audit.results).toBe(TOTAL - malformed.size);
      expect(audit.dlq).toBe(malformed.size);
      expect(requestKeys.size).toBe(TOTAL);
      expect(repeats(requestKeys).extraCopies).toBe(0);
      expect(deadLetterKeys.size).toBe(malformed.size);

      // The lag engine: a partition's lag was either unknown or a true one. A known log end lies
      // between the log end before the outage and the final one and never goes back; once the last
      // records were acknowledged it is the final one exactly; committed offsets never go back; and
      // lag is log end minus committed.
      const lastCommitted = new Map<number, number>();
      const lastEnd = new Map<number, number>();
      let known = 0;
      let unknown = 0;
      let groupErrors = 0;
      let partialSums = 0;
      for (const s of samples) {
        if (s.groupError !== undefined) groupErrors++;
        // Complete means every partition known.
        if (s.lagComplete) expect(s.partitions.filter((p) => p.lag !== null)).toHaveLength(PARTITIONS);
        // The exporter serves the same numbers, and a topic's sum only when it is whole.
        const knownLags = s.partitions.filter((p) => p.lag !== null);
        expect(new Map(knownLags.map((p) => [p.partition, p.lag as number]))).toEqual(s.exported.lag);
        if (knownLags.length === PARTITIONS) expect(s.exported.lagSum).toBe(knownLags.reduce((sum, p) => sum + (p.lag as number), 0));
        else {
          expect(s.exported.lagSum).toBeNull();
          partialSums++;
        }
        for (const p of s.partitions) {
          if (p.lag === null) {
            unknown++;
            continue;
          }
          known++;
          const end = p.logEnd as number;
          if (s.at > lateDoneAt) expect(end, `partition ${p.partition} log end at ${s.at}`).toBe(trueEnds[p.partition]);
          expect(end).toBeGreaterThanOrEqual(Math.max(endsBefore[p.partition] as number, lastEnd.get(p.partition) ?? 0));
          expect(end).toBeLessThanOrEqual(trueEnds[p.partition] as number);
          lastEnd.set(p.partition, end);
          if (p.committed !== null) {
            expect(p.committed).toBeGreaterThanOrEqual(lastCommitted.get(p.partition) ?? 0);
            lastCommitted.set(p.partition, p.committed);
            expect(p.lag).toBe((p.logEnd as number) - p.committed);
          }
        }
      }
      timeline.push(
        `lag samples: ${samples.length}, partition readings known ${known} (all true), unknown ${unknown}; group offsets unreadable in ${groupErrors}; ` +
          `${partialSums} samples without a lag sum (a partition unknown), none with a partial one`,
      );
      expect(partialSums).toBeGreaterThan(0);

      // The autoscaler: while lag was incomplete it held its count or went to the fallback count,
      // and it never flapped: up to the maximum, no scale-in in this short job (the 300 s scale-down window).
      const blind = decisions.filter((d) => /metric read failed|incomplete|collection failed/.test(d.reason));
      for (const d of blind) {
        expect([d.currentReplicas, FALLBACK_REPLICAS], `${d.action}: ${d.reason}`).toContain(d.desiredReplicas);
        expect(['none', 'fallback']).toContain(d.action);
      }
      const moves = decisions.filter((d) => d.desiredReplicas !== d.currentReplicas);
      timeline.push(
        `autoscaler: ${decisions.length} decisions, ${blind.length} while lag was incomplete (${blind.filter((d) => d.action === 'fallback').length} fallback), ` +
          `${incompleteAt.length} incomplete snapshots; scale events ${scaleEvents}: ${moves.map((d) => `${d.currentReplicas}->${d.desiredReplicas}`).join(', ')}`,
      );
      expect(autoscaler.counters.scaleDowns).toBe(0);
      expect(autoscaler.counters.scaleUps).toBeGreaterThanOrEqual(1);
      expect(autoscaler.counters.scaleUps).toBeLessThanOrEqual(MAX_WORKERS - 1);
      const workerCrashes = exits.filter((e) => !e.expected).length;
      timeline.push(`worker processes: ${exits.length} exits, ${workerCrashes} unasked (restarted by the pool)`);
    } finally {
      process.stderr.write(
        `broker failover (${elapsed()}):\n  kills: ${kills.join('; ') || 'none'}\n  restarts: ${restarts.join('; ') || 'none'}\n  scale events: ${scaleEvents}\n  ${timeline.join('\n  ')}\n`,
      );
      await stopScaling();
      await sampler.close();
      await pool.close();
      await read.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
