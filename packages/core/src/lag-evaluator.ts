import type { ClusterObservation, GroupObservation, PartitionObservation, TopicObservation } from './observation.js';
import { OffsetTimeTable } from './offset-time-table.js';
import { SmoothedRate } from './rate.js';
import type { GroupLag, IsolationLevel, LagSnapshot, OffsetResetPolicy, PartitionLag, PartitionOwner, TopicOffsets } from './snapshot.js';
import { evaluatePartitionStatus, type Status, type WindowPoint, worstStatus } from './status.js';

export interface LagEvaluatorOptions {
  /** Observations per status window (Burrow's "intervals"). Default 10. */
  readonly windowSize?: number;
  /** Half-life of the produce/consume rate smoothing. Default 10 s. */
  readonly rateHalfLifeSeconds?: number;
  /** Points kept per partition for time-lag interpolation. Default 64. */
  readonly timeTableCapacity?: number;
  /** Lag of a partition without a committed offset, as the consumer's auto.offset.reset would read it. Default latest. */
  readonly offsetResetPolicy?: OffsetResetPolicy;
  /** Groups whose consumers use isolation.level=read_committed: their lag is measured to the last stable offset. */
  readonly readCommittedGroups?: readonly string[];
}

interface PartitionState {
  readonly table: OffsetTimeTable;
  readonly produceRate: SmoothedRate;
  seen: number;
}

interface GroupPartitionState {
  window: WindowPoint[];
  readonly consumeRate: SmoothedRate;
  seen: number;
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * Turns a stream of cluster observations into lag snapshots. It keeps the little state the
 * numbers need (offset/time tables, rate smoothers, status windows) and forgets topics and groups
 * that stop appearing. Pure: no clocks, no I/O; time comes from the observations.
 */
export class LagEvaluator {
  readonly #windowSize: number;
  readonly #halfLife: number;
  readonly #tableCapacity: number;
  readonly #resetPolicy: OffsetResetPolicy;
  readonly #readCommitted: ReadonlySet<string>;
  readonly #partitions = new Map<string, PartitionState>();
  readonly #groups = new Map<string, Map<string, GroupPartitionState>>();
  #cycle = 0;

  constructor(options: LagEvaluatorOptions = {}) {
    this.#windowSize = options.windowSize ?? 10;
    if (!Number.isInteger(this.#windowSize) || this.#windowSize < 2) {
      throw new RangeError(`windowSize must be an integer >= 2, got ${options.windowSize}`);
    }
    this.#halfLife = options.rateHalfLifeSeconds ?? 10;
    this.#tableCapacity = options.timeTableCapacity ?? 64;
    this.#resetPolicy = options.offsetResetPolicy ?? 'latest';
    this.#readCommitted = new Set(options.readCommittedGroups ?? []);
  }

  evaluate(observation: ClusterObservation): LagSnapshot {
    const cycle = ++this.#cycle;
    const now = observation.time;
    const topicsByName = new Map<string, TopicObservation>();
    for (const topic of observation.topics) topicsByName.set(topic.topic, topic);

    const topics: TopicOffsets[] = observation.topics.map((topic) => ({
      topic: topic.topic,
      ...(topic.error === undefined ? {} : { error: topic.error }),
      partitions: topic.partitions.map((p) => {
        const state = this.#partitionState(topic.topic, p.partition, cycle);
        let produceRate: number | null = state.produceRate.value;
        if (p.logEndOffset !== null) {
          state.table.add(p.logEndOffset, now);
          produceRate = state.produceRate.update(p.logEndOffset, now);
        }
        return {
          partition: p.partition,
          leader: p.leader,
          logEndOffset: p.logEndOffset,
          logStartOffset: p.logStartOffset,
          lastStableOffset: p.lastStableOffset,
          produceRate,
          ...(p.error === undefined ? {} : { error: p.error }),
        };
      }),
    }));
    const produceRates = new Map<string, number | null>();
    for (const topic of topics) for (const p of topic.partitions) produceRates.set(key(topic.topic, p.partition), p.produceRate);

    const groups = observation.groups.map((group) => this.#evaluateGroup(group, topicsByName, produceRates, now, cycle));
    this.#forget(cycle);
    return { time: now, groups, topics, errors: observation.errors, stats: observation.stats };
  }

  #evaluateGroup(
    group: GroupObservation,
    topicsByName: ReadonlyMap<string, TopicObservation>,
    produceRates: ReadonlyMap<string, number | null>,
    now: number,
    cycle: number,
  ): GroupLag {
    const isolation: IsolationLevel = this.#readCommitted.has(group.group) ? 'read_committed' : 'read_uncommitted';
    const owners = new Map<string, PartitionOwner>();
    const topicNames = new Set<string>();
    for (const member of group.members) {
      for (const assigned of member.assignment) {
        topicNames.add(assigned.topic);
        for (const partition of assigned.partitions) {
          owners.set(key(assigned.topic, partition), { memberId: member.memberId, clientId: member.clientId, host: member.host });
        }
      }
    }
    const committed = new Map<string, { offset: number; recordTimestamp: number | null | undefined }>();
    for (const c of group.offsets) {
      topicNames.add(c.topic);
      committed.set(key(c.topic, c.partition), { offset: c.offset, recordTimestamp: c.recordTimestamp });
    }

    let groupStates = this.#groups.get(group.group);
    if (groupStates === undefined) {
      groupStates = new Map();
      this.#groups.set(group.group, groupStates);
    }

    const partitions: PartitionLag[] = [];
    for (const topicName of [...topicNames].sort()) {
      const topic = topicsByName.get(topicName);
      const known = new Map<number, PartitionObservation>();
      for (const p of topic?.partitions ?? []) known.set(p.partition, p);
      const numbers = new Set<number>(known.keys());
      for (const c of group.offsets) if (c.topic === topicName) numbers.add(c.partition);
      for (const partition of [...numbers].sort((a, b) => a - b)) {
        const observed = known.get(partition);
        const missing =
          topic === undefined
            ? `topic ${topicName} not found (deleted?)`
            : (topic.error ?? (observed === undefined ? `partition ${partition} not in topic metadata` : undefined));
        partitions.push(
          this.#evaluatePartition({
            groupStates,
            topic: topicName,
            partition,
            observed,
            error: observed?.error ?? missing,
            committed: committed.get(key(topicName, partition)),
            owner: owners.get(key(topicName, partition)) ?? null,
            produceRate: produceRates.get(key(topicName, partition)) ?? null,
            isolation,
            now,
            cycle,
          }),
        );
      }
    }

    let lag = 0;
    let lagComplete = group.error === undefined;
    let timeLag: number | null = null;
    let produceRate: number | null = null;
    let consumeRate: number | null = null;
    for (const p of partitions) {
      if (p.lag === null) lagComplete = false;
      else lag += p.lag;
      if (p.timeLagSeconds !== null) timeLag = Math.max(timeLag ?? 0, p.timeLagSeconds);
      if (p.produceRate !== null) produceRate = (produceRate ?? 0) + p.produceRate;
      if (p.consumeRate !== null) consumeRate = (consumeRate ?? 0) + p.consumeRate;
    }
    const worst = group.error !== undefined ? ('ERR' as Status) : worstStatus(partitions.map((p) => p.status));
    const worstPartition = partitions.find((p) => p.status === worst);
    const statusReason =
      group.error !== undefined
        ? group.error
        : worstPartition === undefined
          ? partitions.length === 0
            ? 'no committed offsets and no assignments'
            : 'all partitions OK'
          : worst === 'OK'
            ? 'all partitions OK'
            : `${worstPartition.topic}[${worstPartition.partition}]: ${worstPartition.statusReason}`;
    return {
      group: group.group,
      state: group.state,
      members: group.members.length,
      isolation,
      status: worst,
      statusReason,
      lag,
      lagComplete,
      timeLagSeconds: timeLag,
      produceRate,
      consumeRate,
      topics: [...topicNames].sort(),
      partitions,
      ...(group.error === undefined ? {} : { error: group.error }),
    };
  }

  #evaluatePartition(input: {
    groupStates: Map<string, GroupPartitionState>;
    topic: string;
    partition: number;
    observed: PartitionObservation | undefined;
    error: string | undefined;
    committed: { offset: number; recordTimestamp: number | null | undefined } | undefined;
    owner: PartitionOwner | null;
    produceRate: number | null;
    isolation: IsolationLevel;
    now: number;
    cycle: number;
  }): PartitionLag {
    const { observed, committed, now } = input;
    const logEnd = input.isolation === 'read_committed' ? (observed?.lastStableOffset ?? null) : (observed?.logEndOffset ?? null);
    const logStart = observed?.logStartOffset ?? null;
    const committedOffset = committed?.offset ?? null;

    let lag: number | null = null;
    if (logEnd !== null) {
      if (committedOffset !== null) lag = Math.max(0, logEnd - committedOffset);
      else if (this.#resetPolicy === 'earliest') lag = logStart === null ? null : Math.max(0, logEnd - logStart);
      else lag = 0;
    }

    let timeLagSeconds: number | null = null;
    let timeLagMode: PartitionLag['timeLagMode'] = null;
    if (lag === 0) {
      timeLagSeconds = 0;
      timeLagMode = 'estimate';
    } else if (lag !== null) {
      const exact = committed?.recordTimestamp;
      if (typeof exact === 'number') {
        timeLagSeconds = Math.max(0, (now - exact) / 1000);
        timeLagMode = 'exact';
      } else {
        const from = committedOffset ?? logStart;
        const at = from === null ? null : (this.#partitions.get(key(input.topic, input.partition))?.table.timeAt(from) ?? null);
        if (at !== null) {
          timeLagSeconds = Math.max(0, (now - at) / 1000);
          timeLagMode = 'estimate';
        }
      }
    }

    const stateKey = key(input.topic, input.partition);
    let state = input.groupStates.get(stateKey);
    if (state === undefined) {
      state = { window: [], consumeRate: new SmoothedRate(this.#halfLife), seen: input.cycle };
      input.groupStates.set(stateKey, state);
    }
    state.seen = input.cycle;
    state.window.push({ time: now, committed: committedOffset, lag });
    if (state.window.length > this.#windowSize) state.window.shift();
    const consumeRate = committedOffset === null ? state.consumeRate.value : state.consumeRate.update(committedOffset, now);

    const { status, reason } = evaluatePartitionStatus({
      window: state.window,
      windowSize: this.#windowSize,
      hasOwner: input.owner !== null,
      error: input.error,
    });
    return {
      topic: input.topic,
      partition: input.partition,
      committedOffset,
      logEndOffset: logEnd,
      logStartOffset: logStart,
      lag,
      timeLagSeconds,
      timeLagMode,
      produceRate: input.produceRate,
      consumeRate,
      status,
      statusReason: reason,
      owner: input.owner,
      ...(input.error === undefined ? {} : { error: input.error }),
    };
  }

  #partitionState(topic: string, partition: number, cycle: number): PartitionState {
    const k = key(topic, partition);
    let state = this.#partitions.get(k);
    if (state === undefined) {
      state = { table: new OffsetTimeTable(this.#tableCapacity), produceRate: new SmoothedRate(this.#halfLife), seen: cycle };
      this.#partitions.set(k, state);
    }
    state.seen = cycle;
    return state;
  }

  /** Drops state of partitions and groups absent from this cycle, so memory follows the cluster. */
  #forget(cycle: number): void {
    for (const [k, state] of this.#partitions) if (state.seen !== cycle) this.#partitions.delete(k);
    for (const [group, states] of this.#groups) {
      for (const [k, state] of states) if (state.seen !== cycle) states.delete(k);
      if (states.size === 0) this.#groups.delete(group);
    }
  }
}
