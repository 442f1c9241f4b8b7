import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScalingDecision } from '@lagscale/core';
import { encodeRequest, SqliteResultStore } from '@lagscale/validator';
import { describe, expect, inject, it } from 'vitest';
import { createTopic, produce, producer, waitFor } from '../../../test-support/kafka.js';
import { startGroupAtEnd } from '../../validator/test/worker/helpers.js';

/**
 * What happens when the process that runs a local pool dies by SIGKILL (the autoscaler here;
 * `lagscale up` runs the same pool): its workers read end-of-file on the stdin pipe the pool held
 * (pool-parent.ts), drain their batch, commit and exit, so no worker goes on consuming unseen. A
 * restarted autoscaler finds no workers of the old one, starts its own from the replicas it
 * observes, and writes the target once per decision.
 */

const main = fileURLToPath(new URL('../../cli/dist/main.js', import.meta.url));
const autoscalerDist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** A process is gone once it has no /proc entry, or only a zombie's (nobody may reap orphans in a container). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** A child process whose stdout and stderr are kept, line by line, as JSON log events where they parse. */
interface Watched {
  readonly child: ChildProcess;
  readonly events: Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function watch(program: string, args: string[], env: NodeJS.ProcessEnv = process.env): Watched {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const events: Record<string, unknown>[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const event = JSON.parse(line) as unknown;
          if (typeof event === 'object' && event !== null) events.push(event as Record<string, unknown>);
        } catch {
          // Not a log line.
        }
      }
    });
  }
  return { child, events, exited };
}

/** Pids of the workers a pool started, from its `worker_started` log events. */
function poolWorkerPids(events: readonly Record<string, unknown>[]): number[] {
  return events.filter((e) => e.event === 'worker_started' && typeof e.pid === 'number' && typeof e.workerId === 'number').map((e) => e.pid as number);
}

describe('a local pool whose process dies', () => {
  it('has its workers exit (they notice the pipe close), whatever they were doing', { timeout: 60_000 }, async () => {
    // The pool in a process of its own, running workers that follow pool-parent.ts and log what they saw.
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-pool-parent-'));
    const worker = `import { watchPoolParent } from ${JSON.stringify(autoscalerDist)};
      import { appendFileSync } from 'node:fs';
      const log = (what) => appendFileSync(${JSON.stringify(join(dir, 'worker-'))} + process.env.LAGSCALE_WORKER_ID, what + '\\n');
      const watching = watchPoolParent((reason) => { log('gone: ' + reason); console.log('a line to a closed pipe'); setTimeout(() => { log('drained'); process.exit(0); }, 200); });
      log('watching ' + watching);
      setInterval(() => {}, 1000);`;
    const poolScript = `import { LocalProcessPool } from ${JSON.stringify(autoscalerDist)};
      import { createLogger } from '@lagscale/exporter';
      const pool = new LocalProcessPool({ command: [process.execPath, '--input-type=module', '-e', ${JSON.stringify(worker)}], logger: createLogger('pool', 'info') });
      await pool.setReplicas(3);`;
    const pool = watch(process.execPath, ['--input-type=module', '-e', poolScript], { ...process.env });
    const pids = await waitFor('three workers', async () => (poolWorkerPids(pool.events).length === 3 ? poolWorkerPids(pool.events) : undefined), 20_000, 50);
    await waitFor('the workers to watch their pipe', async () => readdirSync(dir).length === 3 || undefined, 20_000, 50);
    pool.child.kill('SIGKILL');
    await pool.exited;
    const killedAt = Date.now();
    await waitFor('every worker to exit', async () => pids.every((pid) => !running(pid)) || undefined, 20_000, 50);
    const exitMs = Date.now() - killedAt;
    const logs = readdirSync(dir).map((file) => readFileSync(join(dir, file), 'utf8'));
    console.log(`pool parent: pool SIGKILLed; ${pids.length} workers exited ${exitMs} ms later; orphans 0`);
    expect(logs).toHaveLength(3);
    for (const log of logs)
      expect(log).toMatch(/^watching true\ngone: the local pool that started this worker \(pid \d+\) is gone: its pipe to this worker closed\ndrained\n$/);
    // Run by hand (no pool), a worker leaves its stdin alone.
    const alone = watch(process.execPath, [
      '--input-type=module',
      '-e',
      `import { watchPoolParent } from ${JSON.stringify(autoscalerDist)}; console.log(JSON.stringify({ watching: watchPoolParent(() => {}) }));`,
    ]);
    await alone.exited;
    expect(alone.events).toEqual([{ watching: false }]);
  });
});

describe('lagscale autoscale, SIGKILLed mid-decision and restarted (real broker)', () => {
  const brokers = inject('kafkaBrokers');

  function countLines(dir: string): { total: number; unique: number } {
    const lines: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.startsWith('worker-'))) {
      const text = readFileSync(join(dir, file), 'utf8').trim();
      if (text !== '') lines.push(...text.split('\n'));
    }
    return { total: lines.length, unique: new Set(lines).size };
  }

  it('leaves no orphan workers, loses or repeats no record, and the restarted autoscaler scales once per decision', { timeout: 400_000 }, async () => {
    const run = `crash${Date.now().toString(36)}`;
    const topic = `${run}-work`;
    const group = `${run}-workers`;
    const partitions = 4;
    await createTopic(brokers, topic, partitions);
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-autoscaler-crash-'));
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
        '  policy: { name: rate, targetDrainSeconds: 10, serviceRatePerReplica: 40, startupSeconds: 3, rebalanceSeconds: 2 }',
        '  behavior:',
        '    minReplicas: 2',
        '    maxReplicas: 4',
        '    scaleDown: { stabilizationWindowSeconds: 5 }',
        '  target:',
        '    type: local',
        `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(main)}, demo-consumer, -b, ${JSON.stringify(brokers.join(','))}, -g, ${group}, -t, ${topic}, --per-record-ms, '8', --batch-size, '20', --out, ${JSON.stringify(join(dir, 'worker-{worker}.txt'))}]`,
        '    drainTimeoutSeconds: 20',
        '',
      ].join('\n'),
    );
    const urlOf = (w: Watched) =>
      waitFor('the autoscaler API', async () => w.events.find((e) => e.event === 'autoscaler_started')?.url as string | undefined, 30_000, 50);
    const decisionsOf = async (url: string): Promise<ScalingDecision[]> =>
      ((await (await fetch(`${url}/api/v1/autoscaler/decisions?limit=1000`)).json()) as { decisions: ScalingDecision[] }).decisions.reverse();
    const scaleDecisions = (events: readonly Record<string, unknown>[]) =>
      events.filter((e) => e.event === 'scaling_decision' && (e.action === 'scale_up' || e.action === 'scale_down'));

    // --- the first autoscaler: two workers join, a burst arrives, SIGKILL right after its scale-out write
    const first = watch(process.execPath, [main, 'autoscale', '-c', config]);
    let second: Watched | undefined;
    try {
      const firstUrl = await urlOf(first);
      await waitFor('both workers to join', async () => (await decisionsOf(firstUrl)).some((d) => d.inputs.activeConsumers >= 2) || undefined, 60_000, 250);
      const perPartition = 500;
      const records = partitions * perPartition;
      await produce(brokers, { topic, perPartition: Object.fromEntries(Array.from({ length: partitions }, (_, p) => [p, perPartition])), batchSize: 250 });
      // The decision is logged right after its write to the pool: its new workers are starting when the kill lands.
      await waitFor('a scale-out decision', async () => scaleDecisions(first.events).some((e) => e.action === 'scale_up') || undefined, 60_000, 5);
      first.child.kill('SIGKILL');
      const killedAt = Date.now();
      await first.exited;
      const firstWorkers = poolWorkerPids(first.events);
      const firstScaleEvents = scaleDecisions(first.events).length;
      const countedAtKill = countLines(dir);
      await waitFor("the first autoscaler's workers to exit", async () => firstWorkers.every((pid) => !running(pid)) || undefined, 45_000, 100);
      const workersExitedMs = Date.now() - killedAt;
      const orphans = firstWorkers.filter(running).length;

      // --- the restart: it finds none of the old workers, starts its own, drains the rest of the backlog
      second = watch(process.execPath, [main, 'autoscale', '-c', config]);
      const secondUrl = await urlOf(second);
      await waitFor('every record to be counted', async () => countLines(dir).unique >= records || undefined, 200_000, 1000);
      await waitFor(
        'the restarted autoscaler to settle at its minimum',
        async () => {
          const last = (await decisionsOf(secondUrl)).at(-1);
          return (last?.desiredReplicas === 2 && last.currentReplicas === 2) || undefined;
        },
        90_000,
        1000,
      );
      const decisions = await decisionsOf(secondUrl);
      const metrics = await (await fetch(`${secondUrl}/metrics`)).text();
      const scaleEventsMetric = [...metrics.matchAll(/^lagscale_autoscaler_scale_events_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      second.child.kill('SIGTERM');
      const secondExit = await second.exited;

      const secondWorkers = poolWorkerPids(second.events);
      const writes = decisions.filter((d) => d.desiredReplicas !== d.currentReplicas && d.action !== 'paused');
      const spawnedByDecisions = writes.reduce((sum, d) => sum + Math.max(0, d.desiredReplicas - d.currentReplicas), 0);
      const crashes = second.events.filter((e) => e.event === 'worker_crashed').length;
      const counted = countLines(dir);
      const story = decisions
        .filter((d) => d.action !== 'none')
        .map((d) => `${new Date(d.time).toISOString()} ${d.action} ${d.currentReplicas}->${d.desiredReplicas}: ${d.reason}`)
        .join('\n');
      console.log(
        `autoscaler crash: kills 1, restarts 1; first autoscaler: ${firstWorkers.length} workers started, ${firstScaleEvents} scale events, ` +
          `${countedAtKill.unique} records counted at the kill; its workers exited ${workersExitedMs} ms after the kill; orphans ${orphans}; ` +
          `restarted: first decision saw ${decisions[0]?.currentReplicas} replicas, ${decisions.length} decisions, ${writes.length} scale writes, ` +
          `scale events metric ${scaleEventsMetric}, ${secondWorkers.length} workers started (2 at start + ${spawnedByDecisions} by decisions), ${crashes} crashes; ` +
          `records ${records}: counted ${counted.total} lines, ${counted.unique} unique, lost ${records - counted.unique}, duplicated ${counted.total - counted.unique}`,
      );
      expect(firstScaleEvents, 'the kill came after a scale-out decision').toBeGreaterThanOrEqual(1);
      expect(firstWorkers.length, 'the first autoscaler started its two workers and more').toBeGreaterThan(2);
      // One write per decision before the kill too: the workers it started are its minimum plus what its decisions added.
      const firstAdded = scaleDecisions(first.events).reduce((sum, e) => sum + Math.max(0, Number(e.desiredReplicas) - Number(e.currentReplicas)), 0);
      expect(firstWorkers.length).toBe(2 + firstAdded);
      expect(orphans, 'workers of the killed autoscaler still running').toBe(0);
      expect(decisions[0]?.currentReplicas, `the restart observes its own two workers first\n${story}`).toBe(2);
      expect(scaleEventsMetric, `one scale event per decision that changed the replicas\n${story}`).toBe(writes.length);
      expect(secondWorkers.length, `workers started: the minimum, then exactly what the decisions added\n${story}`).toBe(2 + spawnedByDecisions);
      expect(crashes).toBe(0);
      expect(counted.unique, 'records counted at least once').toBe(records);
      expect(counted.total, 'records counted in all (duplicates would show here)').toBe(records);
      expect(secondExit.code).toBe(0);
      expect(existsSync(dir)).toBe(true);
    } finally {
      for (const w of [first, second]) if (w !== undefined && w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
  });

  it('with validation workers: the job in flight gets exactly one result or DLQ entry per record across the kill and the restart', {
    timeout: 400_000,
  }, async () => {
    const run = `crashv${Date.now().toString(36)}`;
    const group = `${run}-validators`;
    const topic = 'validation.requests';
    await createTopic(brokers, topic, 8).catch(() => {});
    // validation.requests is shared by the tests of a run: this group reads only what comes next.
    await startGroupAtEnd(brokers, group, topic);
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-autoscaler-crash-validator-'));
    const storeFile = join(dir, 'results.db');
    const ruleSet = JSON.parse(readFileSync(fileURLToPath(new URL('../../validator/examples/orders.ruleset.json', import.meta.url)), 'utf8')) as {
      name: string;
      version: number;
    };
    const job = `${run}-job`;
    const total = 4000;
    const setup = SqliteResultStore.open(storeFile);
    await setup.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet as never, Date.now());
    await setup.createJob({ id: job, ruleSet: ruleSet.name, ruleSetVersion: ruleSet.version, total, createdAt: Date.now(), source: 'test' });
    await setup.close();
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
        '  policy: { name: rate, targetDrainSeconds: 10, serviceRatePerReplica: 60, startupSeconds: 3, rebalanceSeconds: 2 }',
        '  behavior:',
        '    minReplicas: 2',
        '    maxReplicas: 4',
        '    scaleDown: { stabilizationWindowSeconds: 5 }',
        '  target:',
        '    type: local',
        `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(main)}, worker, -b, ${JSON.stringify(brokers.join(','))}, --store, ${JSON.stringify(storeFile)}, --group, ${group}, --batch-size, '50', --record-cost-ms, '4']`,
        '    drainTimeoutSeconds: 20',
        '',
      ].join('\n'),
    );
    const urlOf = (w: Watched) =>
      waitFor('the autoscaler API', async () => w.events.find((e) => e.event === 'autoscaler_started')?.url as string | undefined, 30_000, 50);
    const decisionsOf = async (url: string): Promise<ScalingDecision[]> =>
      ((await (await fetch(`${url}/api/v1/autoscaler/decisions?limit=1000`)).json()) as { decisions: ScalingDecision[] }).decisions.reverse();
    const read = SqliteResultStore.open(storeFile);
    const first = watch(process.execPath, [main, 'autoscale', '-c', config]);
    let second: Watched | undefined;
    const client = producer(brokers);
    try {
      const firstUrl = await urlOf(first);
      await waitFor('both workers to join', async () => (await decisionsOf(firstUrl)).some((d) => d.inputs.activeConsumers >= 2) || undefined, 90_000, 250);
      const malformed = new Set<number>();
      const messages = [];
      for (let i = 1; i <= total; i++) {
        const bad = i % 100 === 0;
        if (bad) malformed.add(i);
        const value = bad ? `{"orderId": "o-${i}", "items": [` : JSON.stringify({ orderId: `o-${i}`, customer: { email: `c${i}@example.org` }, items: [] });
        const e = encodeRequest({ jobId: job, recordNumber: i, ruleSet: ruleSet.name, value });
        messages.push({
          topic,
          key: e.key.toString(),
          value: e.value.toString(),
          headers: Object.fromEntries(Object.entries(e.headers).map(([k, v]) => [k, v.toString()])),
        });
      }
      for (let i = 0; i < messages.length; i += 500) await client.send({ messages: messages.slice(i, i + 500) });
      await waitFor(
        'a scale-out decision',
        async () => first.events.some((e) => e.event === 'scaling_decision' && e.action === 'scale_up') || undefined,
        60_000,
        5,
      );
      first.child.kill('SIGKILL');
      const killedAt = Date.now();
      await first.exited;
      const firstWorkers = poolWorkerPids(first.events);
      const doneAtKill = await read.getJob(job);
      await waitFor("the first autoscaler's workers to exit", async () => firstWorkers.every((pid) => !running(pid)) || undefined, 45_000, 100);
      const workersExitedMs = Date.now() - killedAt;
      const orphans = firstWorkers.filter(running).length;

      second = watch(process.execPath, [main, 'autoscale', '-c', config]);
      const secondUrl = await urlOf(second);
      const finished = await waitFor(
        'every record to have a result or a DLQ entry',
        async () => {
          const j = await read.getJob(job);
          return j && j.results + j.dlq >= total ? j : undefined;
        },
        200_000,
        500,
      );
      const decisions = await decisionsOf(secondUrl);
      second.child.kill('SIGTERM');
      await second.exited;
      const after = await read.getJob(job);
      const dlq = await read.listDlq({ jobId: job, limit: 1000 });
      console.log(
        `autoscaler crash, validation job: kills 1, restarts 1; ${firstWorkers.length} workers of the first autoscaler exited ${workersExitedMs} ms after the kill; orphans ${orphans}; ` +
          `at the kill ${doneAtKill?.results ?? 0} results and ${doneAtKill?.dlq ?? 0} DLQ entries; restarted: first decision saw ${decisions[0]?.currentReplicas} replicas; ` +
          `records ${total}: results ${after?.results}, DLQ ${after?.dlq} (malformed ${malformed.size}), lost ${total - (after?.results ?? 0) - (after?.dlq ?? 0)}`,
      );
      expect(orphans).toBe(0);
      expect(decisions[0]?.currentReplicas).toBe(2);
      expect(finished.results + finished.dlq).toBe(total);
      expect(after?.results).toBe(total - malformed.size);
      expect(after?.dlq).toBe(malformed.size);
      expect(new Set(dlq.items.map((d) => d.recordNumber))).toEqual(malformed);
    } finally {
      await client.close();
      await read.close();
      for (const w of [first, second]) if (w !== undefined && w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
  });
});
