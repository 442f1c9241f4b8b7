/**
 * bench/share-groups: what a share group (KIP-932) buys over a classic consumer group when the
 * work per record is not CPU (a sleep per record, like the demo's --record-cost-ms), measured in
 * one run on a broker of its own, with the project's own consumers in this process.
 *
 * 1. Drain: the same backlog (RECORDS records, PARTITIONS partitions, produced RECORDS_PER_SEND a
 *    send per partition) read from the start by a classic group of PARTITIONS members (more would
 *    sit idle) and by a share group of SHARE_MEMBERS members, same batch size, each batch costing
 *    RECORD_COST_MS × its records in sleep. Drain time runs from the first batch handed to a member
 *    to the last record done; CPU is this process's (process.cpuUsage) and the broker's, from the
 *    members' start to the last record done.
 * 2. Scale-out: a bigger backlog consumed by SCALE_FROM members; after a steady stretch SCALE_TO -
 *    SCALE_FROM members are added at once. The pause is the longest time without a batch done,
 *    across the group, after the new members start (and the longest run of empty 100 ms buckets),
 *    beside the same figures over the steady stretch before. The classic group rebalances eagerly
 *    (the client's default); the KIP-848 group (group.protocol=consumer, lagscale's own member)
 *    moves partitions one at a time, each after its handled records are committed.
 * Both are also run for a KIP-848 group of PARTITIONS members.
 *
 * Every member is one runBatchConsumer / runKip848Consumer / runShareConsumer call with its own AbortController.
 * Prints a table with ratios and writes bench/results/share-groups.json.
 *   npm run bench:share-groups   (env: RECORDS, RECORD_COST_MS, BATCH_SIZE, SHARE_MEMBERS, SCALE_RECORDS)
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, platform, release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaCluster, type KafkaConnectionOptions, runBatchConsumer, runKip848Consumer, runShareConsumer, setGroupConfigs } from '@lagscale/kafka';
import { createTopic, produce } from '../../test-support/kafka.js';
import { cpuSecondsOf } from '../../test-support/process-cpu.js';

const env = (name: string, fallback: number): number => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const RECORDS = env('RECORDS', 40_000);
const PARTITIONS = env('PARTITIONS', 8);
const BATCH_SIZE = env('BATCH_SIZE', 100);
const RECORD_COST_MS = env('RECORD_COST_MS', 2);
const CLASSIC_MEMBERS = PARTITIONS;
const SHARE_MEMBERS = env('SHARE_MEMBERS', 24);
/** Records per partition in one produce request: producer batches of about a consumer batch (a share fetch acquires whole batches). */
const RECORDS_PER_SEND = env('RECORDS_PER_SEND', 100);
const SCALE_FROM = 4;
const SCALE_TO = 8;
/** Enough that SCALE_TO members never run dry within the scale-out window (checked). */
const SCALE_RECORDS = env('SCALE_RECORDS', 80_000);
/** After the first batch, before the steady stretch (the group settles). */
const SCALE_WARMUP_MS = 3_000;
const SCALE_BEFORE_MS = 6_000;
const SCALE_AFTER_MS = 12_000;
const BUCKET_MS = 100;
const DRAIN_TIMEOUT_MS = 180_000;

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

type GroupKind = 'classic' | 'kip848' | 'share';

/** One batch a member finished working on. */
interface BatchDone {
  readonly at: number;
  readonly records: number;
  readonly member: number;
}

/** Per member: its consumer's result, or why it failed. */
type MemberOutcome = Record<string, number> | { readonly error: string };

interface Member {
  readonly index: number;
  readonly controller: AbortController;
  readonly finished: Promise<MemberOutcome>;
  firstBatchAt?: number;
  assignments: number;
}

const brokerCpuSeconds = (pid: number | undefined): number => (pid === undefined ? Number.NaN : cpuSecondsOf(pid));

const processCpuSeconds = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

/** Consumer log events counted by name; warnings also printed, once per event name. */
class EventCounts {
  readonly counts: Record<string, number> = {};
  readonly #printed = new Set<string>();
  readonly logger = {
    info: (fields: object) => this.#count(fields),
    warn: (fields: object, message: string) => {
      const event = this.#count(fields);
      if (!this.#printed.has(event)) {
        this.#printed.add(event);
        log(`  warn (first of its kind): ${message} ${JSON.stringify(fields)}`);
      }
    },
  };

  #count(fields: object): string {
    const event = String((fields as { event?: unknown }).event ?? 'unnamed');
    this.counts[event] = (this.counts[event] ?? 0) + 1;
    return event;
  }
}

/** A group's members and every batch they finished, with each record's first completion. */
class GroupRun {
  readonly batches: BatchDone[] = [];
  readonly members: Member[] = [];
  readonly events = new EventCounts();
  readonly #seen = new Set<string>();
  handled = 0;
  firstDeliveryAt: number | undefined;
  #waiting: { count: number; resolve: () => void } | null = null;
  /** When `distinct` first reached the awaited count, with the CPU of this process and the broker then. */
  reached: { at: number; processCpu: number; brokerCpu: number } | null = null;

  constructor(
    readonly kind: GroupKind,
    readonly group: string,
    readonly topic: string,
    readonly connection: KafkaConnectionOptions,
    readonly brokerPid: number | undefined,
  ) {}

  get distinct(): number {
    return this.#seen.size;
  }

  start(count: number): void {
    for (let i = 0; i < count; i++) this.members.push(this.#startMember(this.members.length));
  }

  /** Resolves when `count` different records were done. */
  whenDistinct(count: number, timeoutMs: number): Promise<void> {
    if (this.distinct >= count) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.group}: ${this.distinct} of ${count} records done after ${timeoutMs / 1000} s`)), timeoutMs);
      this.#waiting = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }

  /** Stops every member and waits for them to leave the group. */
  async stop(): Promise<MemberOutcome[]> {
    for (const m of this.members) m.controller.abort();
    return Promise.all(this.members.map((m) => m.finished));
  }

  #done(member: Member, batch: readonly { partition: number; offset: bigint }[]): void {
    const at = performance.now();
    member.firstBatchAt ??= at;
    this.handled += batch.length;
    for (const r of batch) this.#seen.add(`${r.partition}:${r.offset}`);
    this.batches.push({ at, records: batch.length, member: member.index });
    const waiting = this.#waiting;
    if (waiting !== null && this.distinct >= waiting.count) {
      this.reached = { at, processCpu: processCpuSeconds(), brokerCpu: brokerCpuSeconds(this.brokerPid) };
      this.#waiting = null;
      waiting.resolve();
    }
  }

  #startMember(index: number): Member {
    const controller = new AbortController();
    const member: Member = { index, controller, finished: Promise.resolve({}), assignments: 0 };
    // The work per record: time, not CPU, spent a batch at a time (the demo's --record-cost-ms).
    const handle = async (batch: readonly { partition: number; offset: bigint }[]): Promise<void> => {
      this.firstDeliveryAt ??= performance.now();
      await sleep(RECORD_COST_MS * batch.length);
      this.#done(member, batch);
    };
    const common = {
      connection: this.connection,
      group: this.group,
      topics: [this.topic],
      clientId: `bench-${this.kind}-${index + 1}`,
      batchSize: BATCH_SIZE,
      logger: this.events.logger,
      signal: controller.signal,
      handle,
      assigned: () => {
        member.assignments++;
      },
    };
    const running = this.kind === 'classic' ? runBatchConsumer(common) : this.kind === 'kip848' ? runKip848Consumer(common) : runShareConsumer(common);
    return Object.assign(member, {
      finished: running.then(
        (result) => ({ ...result }) as Record<string, number>,
        (error: Error) => {
          log(`  member ${index + 1} of ${this.group} failed: ${error.message}`);
          return { error: error.message };
        },
      ),
    });
  }
}

async function newGroup(kind: GroupKind, name: string, topic: string, connection: KafkaConnectionOptions, brokerPid: number | undefined): Promise<GroupRun> {
  const group = `bench-${kind}-${name}`;
  // A new share group starts at the log end; the backlog is what is measured.
  if (kind === 'share') await setGroupConfigs(connection, group, { 'share.auto.offset.reset': 'earliest' });
  return new GroupRun(kind, group, topic, connection, brokerPid);
}

interface DrainMeasurement {
  readonly kind: GroupKind;
  readonly members: number;
  /** First batch handed to a member → last record done. */
  readonly drainSeconds: number;
  readonly recordsPerSecond: number;
  /** Members started → first batch handed out (the classic group waits group.initial.rebalance.delay.ms). */
  readonly joinSeconds: number;
  /** Members started → last record done. */
  readonly secondsFromStart: number;
  readonly records: number;
  /** Records done more than once. */
  readonly duplicates: number;
  /** Records each member did, fewest and most; members that got none. */
  readonly perMember: { readonly min: number; readonly max: number; readonly idle: number };
  /** CPU seconds per 100,000 records, members' start → last record done. */
  readonly cpu: { readonly processSecondsPer100k: number; readonly brokerSecondsPer100k: number };
  readonly events: Record<string, number>;
  readonly memberResults: MemberOutcome[];
}

async function measureDrain(kind: GroupKind, members: number, topic: string, connection: KafkaConnectionOptions, brokerPid: number | undefined) {
  const run = await newGroup(kind, 'drain', topic, connection, brokerPid);
  log(`drain: ${kind} group, ${members} members, ${RECORDS.toLocaleString('en')} records`);
  const startedAt = performance.now();
  const processCpu = processCpuSeconds();
  const brokerCpu = brokerCpuSeconds(brokerPid);
  run.start(members);
  const drained = await run.whenDistinct(RECORDS, DRAIN_TIMEOUT_MS).then(
    () => null,
    (error: Error) => error,
  );
  const memberResults = await run.stop();
  if (drained !== null) throw drained;
  const reached = run.reached as NonNullable<GroupRun['reached']>;
  const firstDelivery = run.firstDeliveryAt as number;
  const perMember = run.members.map((m) => run.batches.filter((b) => b.member === m.index).reduce((sum, b) => sum + b.records, 0));
  const drainSeconds = (reached.at - firstDelivery) / 1000;
  const per100k = (seconds: number): number => (seconds / RECORDS) * 100_000;
  const measured: DrainMeasurement = {
    kind,
    members,
    drainSeconds,
    recordsPerSecond: RECORDS / drainSeconds,
    joinSeconds: (firstDelivery - startedAt) / 1000,
    secondsFromStart: (reached.at - startedAt) / 1000,
    records: RECORDS,
    duplicates: run.handled - run.distinct,
    perMember: { min: Math.min(...perMember), max: Math.max(...perMember), idle: perMember.filter((n) => n === 0).length },
    cpu: { processSecondsPer100k: per100k(reached.processCpu - processCpu), brokerSecondsPer100k: per100k(reached.brokerCpu - brokerCpu) },
    events: run.events.counts,
    memberResults,
  };
  log(
    `  ${drainSeconds.toFixed(2)} s, ${Math.round(measured.recordsPerSecond).toLocaleString('en')} records/s (join ${measured.joinSeconds.toFixed(2)} s), CPU ${measured.cpu.processSecondsPer100k.toFixed(2)} s/100k here, ${measured.cpu.brokerSecondsPer100k.toFixed(2)} s/100k broker`,
  );
  return measured;
}

/** Gaps in consumption within a window: the longest time without a batch done, and the longest run of empty buckets. */
interface Pause {
  /** Longest time between consecutive batches done across the group (the window's edges count as batches). */
  readonly longestGapMs: number;
  /** When that gap began, ms from the scale-out. */
  readonly longestGapFromMs: number;
  /** Longest run of 100 ms buckets without a record done, in ms. */
  readonly longestZeroStretchMs: number;
  readonly recordsPerSecond: number;
}

function pauseIn(batches: readonly BatchDone[], from: number, to: number, origin: number): Pause {
  const inside = batches.filter((b) => b.at >= from && b.at < to);
  // The gap around `from` starts at the last batch done before the window.
  const before = batches.filter((b) => b.at < from).at(-1);
  const times = [before?.at ?? from, ...inside.map((b) => b.at), to];
  let longestGapMs = 0;
  let longestGapFromMs = 0;
  for (let i = 1; i < times.length; i++) {
    const gap = (times[i] as number) - (times[i - 1] as number);
    if (gap > longestGapMs) {
      longestGapMs = gap;
      longestGapFromMs = (times[i - 1] as number) - origin;
    }
  }
  const buckets = new Array<number>(Math.ceil((to - from) / BUCKET_MS)).fill(0);
  for (const b of inside) {
    const i = Math.floor((b.at - from) / BUCKET_MS);
    buckets[i] = (buckets[i] ?? 0) + b.records;
  }
  let run = 0;
  let longestRun = 0;
  for (const n of buckets) {
    run = n === 0 ? run + 1 : 0;
    longestRun = Math.max(longestRun, run);
  }
  const records = inside.reduce((sum, b) => sum + b.records, 0);
  return { longestGapMs, longestGapFromMs, longestZeroStretchMs: longestRun * BUCKET_MS, recordsPerSecond: records / ((to - from) / 1000) };
}

interface ScaleOutMeasurement {
  readonly kind: GroupKind;
  readonly from: number;
  readonly to: number;
  /** The steady stretch before the scale-out (SCALE_FROM members): the baseline gap. */
  readonly before: Pause;
  /** From the new members' start to SCALE_AFTER_MS later. */
  readonly after: Pause;
  /** The last 4 s of the window (SCALE_TO members, if they took over). */
  readonly recordsPerSecondAtEnd: number;
  /** Scale-out → each new member's first batch done, ms. */
  readonly newMembersFirstBatchMs: (number | null)[];
  /** Records done more than once (a classic member's batch whose commit the rebalance refused is read again). */
  readonly duplicates: number;
  readonly backlogRanDry: boolean;
  /** Assignments each member was told of (rebalances it took part in). */
  readonly assignmentsPerMember: number[];
  /** Records done per 500 ms from the start of the steady stretch, the scale-out at index SCALE_BEFORE_MS / 500. */
  readonly timeline500ms: number[];
  readonly events: Record<string, number>;
  readonly memberResults: MemberOutcome[];
}

async function measureScaleOut(kind: GroupKind, topic: string, connection: KafkaConnectionOptions, brokerPid: number | undefined) {
  const run = await newGroup(kind, 'scale-out', topic, connection, brokerPid);
  log(`scale-out: ${kind} group, ${SCALE_FROM} → ${SCALE_TO} members`);
  let memberResults: MemberOutcome[];
  let scaledAt: number;
  try {
    run.start(SCALE_FROM);
    await run.whenDistinct(1, 60_000);
    await sleep(SCALE_WARMUP_MS + SCALE_BEFORE_MS);
    scaledAt = performance.now();
    run.start(SCALE_TO - SCALE_FROM);
    await sleep(SCALE_AFTER_MS);
  } finally {
    memberResults = await run.stop();
  }
  const end = scaledAt + SCALE_AFTER_MS;
  const before = pauseIn(run.batches, scaledAt - SCALE_BEFORE_MS, scaledAt, scaledAt);
  const after = pauseIn(run.batches, scaledAt, end, scaledAt);
  const timeline500ms: number[] = [];
  for (let t = scaledAt - SCALE_BEFORE_MS; t < end; t += 500) {
    timeline500ms.push(run.batches.filter((b) => b.at >= t && b.at < t + 500).reduce((sum, b) => sum + b.records, 0));
  }
  const measured: ScaleOutMeasurement = {
    kind,
    from: SCALE_FROM,
    to: SCALE_TO,
    before,
    after,
    recordsPerSecondAtEnd: pauseIn(run.batches, end - 4_000, end, scaledAt).recordsPerSecond,
    newMembersFirstBatchMs: run.members.slice(SCALE_FROM).map((m) => (m.firstBatchAt === undefined ? null : Math.round(m.firstBatchAt - scaledAt))),
    duplicates: run.handled - run.distinct,
    backlogRanDry: run.distinct >= SCALE_RECORDS,
    assignmentsPerMember: run.members.map((m) => m.assignments),
    timeline500ms,
    events: run.events.counts,
    memberResults,
  };
  log(
    `  longest gap ${Math.round(after.longestGapMs)} ms after the scale-out (steady before: ${Math.round(before.longestGapMs)} ms); ${Math.round(before.recordsPerSecond)} → ${Math.round(measured.recordsPerSecondAtEnd)} records/s`,
  );
  return measured;
}

type Outcome<T> = T | { readonly error: string };

async function attempt<T extends object>(what: string, measure: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return await measure();
  } catch (error) {
    log(`${what} failed: ${(error as Error).message}`);
    return { error: (error as Error).message };
  }
}

const succeeded = <T extends object>(outcome: Outcome<T>): outcome is T => !('error' in outcome);

if (RECORDS % PARTITIONS !== 0 || SCALE_RECORDS % PARTITIONS !== 0)
  throw new Error(`RECORDS and SCALE_RECORDS must be multiples of PARTITIONS (${PARTITIONS})`);

const cluster = await KafkaCluster.start({
  nodes: 1,
  heapMb: 1024,
  // The classic members started together join one generation (the launcher's default is 0 for fast tests).
  properties: { 'group.initial.rebalance.delay.ms': '3000' },
  onProgress: log,
});
try {
  const connection: KafkaConnectionOptions = { brokers: cluster.brokers };
  const brokerPid = cluster.runningNodeIds.map((id) => cluster.pidOf(id))[0];
  const drainTopic = 'bench-share-groups-drain';
  const scaleTopic = 'bench-share-groups-scale';
  const produceStarted = performance.now();
  for (const [topic, records] of [
    [drainTopic, RECORDS],
    [scaleTopic, SCALE_RECORDS],
  ] as const) {
    await createTopic(cluster.brokers, topic, PARTITIONS);
    const perPartition = Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, records / PARTITIONS]));
    log(`producing ${records.toLocaleString('en')} records to ${topic} (${PARTITIONS} partitions, ${RECORDS_PER_SEND} a send per partition)`);
    await produce(cluster.brokers, {
      topic,
      perPartition,
      batchSize: RECORDS_PER_SEND,
      value: (p, i) => `{"partition":${p},"n":${i},"pad":"${'x'.repeat(64)}"}`,
    });
  }
  const produceSeconds = (performance.now() - produceStarted) / 1000;

  // A failed measurement is written down with its error and the others still run: the bench is run once.
  const classicDrain = await attempt('classic drain', () => measureDrain('classic', CLASSIC_MEMBERS, drainTopic, connection, brokerPid));
  const kip848Drain = await attempt('KIP-848 drain', () => measureDrain('kip848', CLASSIC_MEMBERS, drainTopic, connection, brokerPid));
  const shareDrain = await attempt('share drain', () => measureDrain('share', SHARE_MEMBERS, drainTopic, connection, brokerPid));
  const classicScale = await attempt('classic scale-out', () => measureScaleOut('classic', scaleTopic, connection, brokerPid));
  const kip848Scale = await attempt('KIP-848 scale-out', () => measureScaleOut('kip848', scaleTopic, connection, brokerPid));
  const shareScale = await attempt('share scale-out', () => measureScaleOut('share', scaleTopic, connection, brokerPid));
  const failed = [classicDrain, kip848Drain, shareDrain, classicScale, kip848Scale, shareScale].some((m) => !succeeded(m));

  const floor = (members: number): number => (RECORDS * RECORD_COST_MS) / members / 1000;
  const drainRatios =
    succeeded(classicDrain) && succeeded(shareDrain)
      ? {
          shareOverClassicSeconds: shareDrain.drainSeconds / classicDrain.drainSeconds,
          shareOverClassicRecordsPerSecond: shareDrain.recordsPerSecond / classicDrain.recordsPerSecond,
          shareOverClassicProcessCpuPer100k: shareDrain.cpu.processSecondsPer100k / classicDrain.cpu.processSecondsPer100k,
          shareOverClassicBrokerCpuPer100k: shareDrain.cpu.brokerSecondsPer100k / classicDrain.cpu.brokerSecondsPer100k,
          ...(succeeded(kip848Drain)
            ? {
                kip848OverClassicSeconds: kip848Drain.drainSeconds / classicDrain.drainSeconds,
                kip848OverClassicProcessCpuPer100k: kip848Drain.cpu.processSecondsPer100k / classicDrain.cpu.processSecondsPer100k,
                kip848OverClassicBrokerCpuPer100k: kip848Drain.cpu.brokerSecondsPer100k / classicDrain.cpu.brokerSecondsPer100k,
              }
            : {}),
        }
      : null;
  const scaleRatios =
    succeeded(classicScale) && succeeded(shareScale)
      ? {
          classicOverShareLongestGap: classicScale.after.longestGapMs / shareScale.after.longestGapMs,
          classicLongestGapOverItsSteadyGap: classicScale.after.longestGapMs / classicScale.before.longestGapMs,
          shareLongestGapOverItsSteadyGap: shareScale.after.longestGapMs / shareScale.before.longestGapMs,
          ...(succeeded(kip848Scale)
            ? {
                classicOverKip848LongestGap: classicScale.after.longestGapMs / kip848Scale.after.longestGapMs,
                kip848LongestGapOverItsSteadyGap: kip848Scale.after.longestGapMs / kip848Scale.before.longestGapMs,
              }
            : {}),
        }
      : null;

  const out: string[] = [];
  out.push(
    `share-groups: Kafka ${cluster.version}, ${cpus().length} cores shared by the broker and this process; ${RECORDS.toLocaleString('en')} records, ${PARTITIONS} partitions, batch ${BATCH_SIZE}, ${RECORD_COST_MS} ms sleep per record`,
  );
  out.push('');
  out.push(
    `${'drain'.padEnd(28)} ${'seconds'.padStart(8)} ${'records/s'.padStart(10)} ${'join s'.padStart(7)} ${'CPU s/100k'.padStart(11)} ${'broker s/100k'.padStart(14)} ${'dupl.'.padStart(6)}`,
  );
  for (const [name, m] of [
    [`classic, ${CLASSIC_MEMBERS} members`, classicDrain],
    [`KIP-848, ${CLASSIC_MEMBERS} members`, kip848Drain],
    [`share, ${SHARE_MEMBERS} members`, shareDrain],
  ] as const) {
    out.push(
      succeeded(m)
        ? `${name.padEnd(28)} ${m.drainSeconds.toFixed(2).padStart(8)} ${Math.round(m.recordsPerSecond).toLocaleString('en').padStart(10)} ${m.joinSeconds.toFixed(2).padStart(7)} ${m.cpu.processSecondsPer100k.toFixed(2).padStart(11)} ${m.cpu.brokerSecondsPer100k.toFixed(2).padStart(14)} ${m.duplicates.toString().padStart(6)}`
        : `${name.padEnd(28)} failed: ${m.error}`,
    );
  }
  out.push(
    `share/classic drain time ${drainRatios?.shareOverClassicSeconds.toFixed(2) ?? '-'} (the sleep alone: ${floor(CLASSIC_MEMBERS).toFixed(1)} s and ${floor(SHARE_MEMBERS).toFixed(1)} s, ratio ${(CLASSIC_MEMBERS / SHARE_MEMBERS).toFixed(2)})`,
  );
  out.push('');
  out.push(
    `${`scale-out ${SCALE_FROM} → ${SCALE_TO}`.padEnd(28)} ${'gap ms'.padStart(8)} ${'zero ms'.padStart(8)} ${'steady gap'.padStart(11)} ${'rec/s before'.padStart(13)} ${'rec/s end'.padStart(10)} ${'new 1st ms'.padStart(11)} ${'dupl.'.padStart(6)}`,
  );
  for (const [name, m] of [
    ['classic (eager)', classicScale],
    ['KIP-848', kip848Scale],
    ['share', shareScale],
  ] as const) {
    if (!succeeded(m)) {
      out.push(`${name.padEnd(28)} failed: ${m.error}`);
      continue;
    }
    const firsts = m.newMembersFirstBatchMs.filter((v): v is number => v !== null);
    out.push(
      `${name.padEnd(28)} ${Math.round(m.after.longestGapMs).toString().padStart(8)} ${m.after.longestZeroStretchMs.toString().padStart(8)} ${Math.round(m.before.longestGapMs).toString().padStart(11)} ${Math.round(m.before.recordsPerSecond).toString().padStart(13)} ${Math.round(m.recordsPerSecondAtEnd).toString().padStart(10)} ${(firsts.length === m.newMembersFirstBatchMs.length ? Math.max(...firsts).toString() : 'none').padStart(11)} ${m.duplicates.toString().padStart(6)}`,
    );
  }
  out.push(
    `longest gap: classic/share ${scaleRatios?.classicOverShareLongestGap.toFixed(1) ?? '-'}, classic/KIP-848 ${scaleRatios?.classicOverKip848LongestGap?.toFixed(1) ?? '-'}`,
  );
  process.stdout.write(`${out.join('\n')}\n`);

  await mkdir(new URL('../results/', import.meta.url), { recursive: true });
  const result = {
    benchmark: 'share-groups',
    date: new Date().toISOString(),
    kafkaVersion: cluster.version,
    machine: {
      cores: cpus().length,
      model: cpus()[0]?.model,
      os: `${platform()} ${release()}`,
      node: process.version,
      note: 'the broker and this process (every member) share these cores with whatever else runs on the machine',
    },
    setup: {
      records: RECORDS,
      partitions: PARTITIONS,
      batchSize: BATCH_SIZE,
      recordCostMs: RECORD_COST_MS,
      recordCost: 'sleep(recordCostMs × batch.length) per batch, before the batch counts as done',
      recordsPerProduceSend: RECORDS_PER_SEND,
      classicMembers: CLASSIC_MEMBERS,
      shareMembers: SHARE_MEMBERS,
      scaleOut: {
        from: SCALE_FROM,
        to: SCALE_TO,
        records: SCALE_RECORDS,
        warmupMs: SCALE_WARMUP_MS,
        steadyBeforeMs: SCALE_BEFORE_MS,
        afterMs: SCALE_AFTER_MS,
        bucketMs: BUCKET_MS,
      },
      brokerProperties: { 'group.initial.rebalance.delay.ms': '3000' },
      shareGroupConfigs: { 'share.auto.offset.reset': 'earliest' },
      classicAssignment: 'classic protocol, eager rebalance, round-robin assignor (the client defaults through runBatchConsumer)',
      kip848Assignment: "consumer protocol (KIP-848), the broker's default assignor, heartbeats at the broker's interval (5 s by default)",
      kip848Members: CLASSIC_MEMBERS,
      produceSeconds,
    },
    drain: {
      classic: classicDrain,
      kip848: kip848Drain,
      share: shareDrain,
      ratios: drainRatios,
      /** What the sleep alone would take with every member busy all the time. */
      sleepFloorSeconds: { classic: floor(CLASSIC_MEMBERS), share: floor(SHARE_MEMBERS) },
    },
    scaleOut: {
      classic: classicScale,
      kip848: kip848Scale,
      share: shareScale,
      ratios: scaleRatios,
    },
  };
  await writeFile(new URL('../results/share-groups.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  log('wrote bench/results/share-groups.json');
  if (failed) process.exitCode = 1;
} finally {
  await cluster.stop();
}
