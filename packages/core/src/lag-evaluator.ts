import type { ClusterObservation, CommittedOffset, GroupObservation, PartitionObservation } from './observation.js';
import { OffsetTimeTable } from './offset-time-table.js';
import { SmoothedRate } from './rate.js';
import { type PartitionView, ShareLagEvaluator } from './share-lag.js';
import type { GroupLag, IsolationLevel, LagSnapshot, OffsetResetPolicy, PartitionLag, PartitionOwner, TopicOffsets } from './snapshot.js';
import { evaluatePartitionStatus, groupStatus, StatusWindow } from './status.js';

export interface LagEvaluatorOptions {
  /** Observations per status window (Burrow's "intervals"). Default 10. */
  readonly windowSize?: number;
  /** Lag at or below this counts as caught up in the status rules (Burrow's `allowed-lag`). Default 0. */
  readonly allowedLag?: number;
  /** Half-life of the produce/consume rate smoothing. Default 10 s. */
  readonly rateHalfLifeSeconds?: number;
  /** Points kept per partition for time-lag interpolation. Default 64. */
  readonly timeTableCapacity?: number;
  /** Lag of a partition without a committed offset, as the consumer's auto.offset.reset would read it. Default latest. */
  readonly offsetResetPolicy?: OffsetResetPolicy;
  /** Groups whose consumers use isolation.level=read_committed: their lag is measured to the last stable offset. */
  readonly readCommittedGroups?: readonly string[];
}

/** What the evaluator remembers of one partition of a topic. */
interface PartitionState {
  readonly table: OffsetTimeTable;
  readonly produceRate: SmoothedRate;
  seen: number;
  /** This cycle's observation and smoothed produce rate (valid when seen === cycle). */
  observed: PartitionObservation | undefined;
  currentProduceRate: number | null;
}

/** What the evaluator remembers of one partition as one group consumes it. */
interface GroupPartitionState {
  readonly window: StatusWindow;
  readonly consumeRate: SmoothedRate;
  seen: number;
}

type ByTopic<T> = Map<string, Map<number, T>>;

function nested<T>(map: ByTopic<T>, topic: string): Map<number, T> {
  let inner = map.get(topic);
  if (inner === undefined) {
    inner = new Map();
    map.set(topic, inner);
  }
  return inner;
}

/**
 * Turns a stream of cluster observations into lag snapshots. It keeps the little state the
 * numbers need (offset/time tables, rate smoothers, status windows) and forgets topics and groups
 * that stop appearing. Pure: no clocks, no I/O; time comes from the observations.
 *
 * State is keyed topic → partition number (no string keys per partition) and status windows are
 * typed-array rings, because one cycle can cover tens of thousands of group partitions.
 */
export class LagEvaluator {
  readonly #windowSize: number;
  readonly #allowedLag: number;
  readonly #halfLife: number;
  readonly #tableCapacity: number;
  readonly #resetPolicy: OffsetResetPolicy;
  readonly #readCommitted: ReadonlySet<string>;
  readonly #partitions: ByTopic<PartitionState> = new Map();
  readonly #groups = new Map<string, ByTopic<GroupPartitionState>>();
  readonly #shares: ShareLagEvaluator;
  #cycle = 0;

  constructor(options: LagEvaluatorOptions = {}) {
    this.#windowSize = options.windowSize ?? 10;
    this.#allowedLag = options.allowedLag ?? 0;
    if (!Number.isSafeInteger(this.#allowedLag) || this.#allowedLag < 0) throw new RangeError(`allowedLag must be an integer >= 0, got ${options.allowedLag}`);
    if (!Number.isInteger(this.#windowSize) || this.#windowSize < 2) {
      throw new RangeError(`windowSize must be an integer >= 2, got ${options.windowSize}`);
    }
    this.#halfLife = options.rateHalfLifeSeconds ?? 10;
    this.#tableCapacity = options.timeTableCapacity ?? 64;
    this.#resetPolicy = options.offsetResetPolicy ?? 'latest';
    this.#readCommitted = new Set(options.readCommittedGroups ?? []);
    this.#shares = new ShareLagEvaluator({ windowSize: this.#windowSize, allowedLag: this.#allowedLag, rateHalfLifeSeconds: this.#halfLife });
  }

  evaluate(observation: ClusterObservation): LagSnapshot {
    const cycle = ++this.#cycle;
    const now = observation.time;
    const topicErrors = new Map<string, string | undefined>();

    const topics: TopicOffsets[] = [];
    for (const topic of observation.topics) {
      topicErrors.set(topic.topic, topic.error);
      const states = nested(this.#partitions, topic.topic);
      const partitions: TopicOffsets['partitions'][number][] = [];
      for (const p of topic.partitions) {
        let state = states.get(p.partition);
        if (state === undefined) {
          state = {
            table: new OffsetTimeTable(this.#tableCapacity),
            produceRate: new SmoothedRate(this.#halfLife),
            seen: cycle,
            observed: p,
            currentProduceRate: null,
          };
          states.set(p.partition, state);
        }
        state.seen = cycle;
        state.observed = p;
        let produceRate = state.produceRate.value;
        if (p.logEndOffset !== null) {
          state.table.add(p.logEndOffset, now);
          produceRate = state.produceRate.update(p.logEndOffset, now);
        }
        state.currentProduceRate = produceRate;
        partitions.push({
          partition: p.partition,
          leader: p.leader,
          logEndOffset: p.logEndOffset,
          logStartOffset: p.logStartOffset,
          lastStableOffset: p.lastStableOffset,
          produceRate,
          error: p.error,
        });
      }
      topics.push({ topic: topic.topic, partitions, error: topic.error });
    }

    const groups = observation.groups.map((group) => this.#evaluateGroup(group, topicErrors, now, cycle));
    const partitionOf = (topic: string, partition: number): PartitionView | undefined => {
      const state = this.#partitions.get(topic)?.get(partition);
      const observed = state?.seen === cycle ? state.observed : undefined;
      if (state === undefined || observed === undefined) return undefined;
      return {
        logEndOffset: observed.logEndOffset,
        logStartOffset: observed.logStartOffset,
        table: state.table,
        produceRate: state.currentProduceRate,
        ...(observed.error === undefined ? {} : { error: observed.error }),
      };
    };
    const shareGroups = observation.shareGroups?.map((group) => this.#shares.evaluate(group, partitionOf, now, cycle));
    this.#forget(cycle);
    return { time: now, groups, ...(shareGroups === undefined ? {} : { shareGroups }), topics, errors: observation.errors, stats: observation.stats };
  }

  #evaluateGroup(group: GroupObservation, topicErrors: ReadonlyMap<string, string | undefined>, now: number, cycle: number): GroupLag {
    const isolation: IsolationLevel = this.#readCommitted.has(group.group) ? 'read_committed' : 'read_uncommitted';
    const owners: ByTopic<PartitionOwner> = new Map();
    for (const member of group.members) {
      const owner: PartitionOwner = { memberId: member.memberId, clientId: member.clientId, host: member.host };
      for (const assigned of member.assignment) {
        const byPartition = nested(owners, assigned.topic);
        for (const partition of assigned.partitions) byPartition.set(partition, owner);
      }
    }
    const committed: ByTopic<CommittedOffset> = new Map();
    for (const c of group.offsets) nested(committed, c.topic).set(c.partition, c);

    let groupStates = this.#groups.get(group.group);
    if (groupStates === undefined) {
      groupStates = new Map();
      this.#groups.set(group.group, groupStates);
    }

    const topicNames = [...new Set([...owners.keys(), ...committed.keys()])].sort();
    const partitions: PartitionLag[] = [];
    for (const topicName of topicNames) {
      const known = this.#partitions.get(topicName);
      const topicKnown = topicErrors.has(topicName);
      const topicError = topicErrors.get(topicName);
      const committedHere = committed.get(topicName);
      const ownersHere = owners.get(topicName);
      const states = nested(groupStates, topicName);
      // Every partition the topic has now, plus committed ones the topic no longer has.
      const numbers: number[] = [];
      // forEach, not for-of over entries: no [key, value] array per partition per cycle.
      known?.forEach((state, partition) => {
        if (state.seen === cycle) numbers.push(partition);
      });
      if (committedHere !== undefined) {
        for (const partition of committedHere.keys()) if (known?.get(partition)?.seen !== cycle) numbers.push(partition);
      }
      numbers.sort((a, b) => a - b);
      for (const partition of numbers) {
        const state = known?.get(partition);
        const observed = state?.seen === cycle ? state.observed : undefined;
        const error =
          observed?.error ??
          (!topicKnown
            ? `topic ${topicName} not found (deleted?)`
            : (topicError ?? (observed === undefined ? `partition ${partition} not in topic metadata` : undefined)));
        partitions.push(
          this.#evaluatePartition(
            states,
            topicName,
            partition,
            observed,
            state,
            error,
            committedHere?.get(partition),
            ownersHere?.get(partition) ?? null,
            isolation,
            now,
            cycle,
          ),
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
      if (p.timeLagSeconds !== null && (timeLag === null || p.timeLagSeconds > timeLag)) timeLag = p.timeLagSeconds;
      if (p.produceRate !== null) produceRate = (produceRate ?? 0) + p.produceRate;
      if (p.consumeRate !== null) consumeRate = (consumeRate ?? 0) + p.consumeRate;
    }
    const { status: worst, reason: statusReason } = groupStatus(partitions, group.error, 'no committed offsets and no assignments');
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
      topics: topicNames,
      partitions,
      error: group.error,
    };
  }

  #evaluatePartition(
    states: Map<number, GroupPartitionState>,
    topic: string,
    partition: number,
    observed: PartitionObservation | undefined,
    partitionState: PartitionState | undefined,
    error: string | undefined,
    committed: CommittedOffset | undefined,
    owner: PartitionOwner | null,
    isolation: IsolationLevel,
    now: number,
    cycle: number,
  ): PartitionLag {
    const logEnd = observed === undefined ? null : isolation === 'read_committed' ? observed.lastStableOffset : observed.logEndOffset;
    const logStart = observed?.logStartOffset ?? null;
    const committedOffset = committed?.offset ?? null;

    let lag: number | null = null;
    if (logEnd !== null) {
      if (committedOffset !== null) lag = logEnd > committedOffset ? logEnd - committedOffset : 0;
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
        const at = from === null || partitionState === undefined ? null : partitionState.table.timeAt(from);
        if (at !== null) {
          timeLagSeconds = Math.max(0, (now - at) / 1000);
          timeLagMode = 'estimate';
        }
      }
    }

    let state = states.get(partition);
    if (state === undefined) {
      state = { window: new StatusWindow(this.#windowSize), consumeRate: new SmoothedRate(this.#halfLife), seen: cycle };
      states.set(partition, state);
    }
    state.seen = cycle;
    state.window.push(now, committedOffset, lag);
    const consumeRate = committedOffset === null ? state.consumeRate.value : state.consumeRate.update(committedOffset, now);

    const { status, reason } = evaluatePartitionStatus({
      window: state.window,
      windowSize: this.#windowSize,
      hasOwner: owner !== null,
      error,
      allowedLag: this.#allowedLag,
    });
    return {
      topic,
      partition,
      committedOffset,
      logEndOffset: logEnd,
      logStartOffset: logStart,
      lag,
      timeLagSeconds,
      timeLagMode,
      produceRate: partitionState?.seen === cycle ? partitionState.currentProduceRate : null,
      consumeRate,
      status,
      statusReason: reason,
      owner,
      error,
    };
  }

  /** Drops state of partitions and groups absent from this cycle, so memory follows the cluster. */
  #forget(cycle: number): void {
    this.#shares.forget(cycle);
    // forEach, not for-of over entries: no [key, value] array per pair per cycle. Deleting the
    // entry being visited is safe in both.
    this.#partitions.forEach((states, topic) => {
      states.forEach((state, partition) => {
        if (state.seen !== cycle) states.delete(partition);
        else state.observed = undefined;
      });
      if (states.size === 0) this.#partitions.delete(topic);
    });
    this.#groups.forEach((topics, group) => {
      topics.forEach((states, topic) => {
        states.forEach((state, partition) => {
          if (state.seen !== cycle) states.delete(partition);
        });
        if (states.size === 0) topics.delete(topic);
      });
      if (topics.size === 0) this.#groups.delete(group);
    });
  }
}
