import type { ShareGroupObservation, SharePartitionObservation } from './observation.js';
import type { OffsetTimeTable } from './offset-time-table.js';
import { SmoothedRate } from './rate.js';
import type { ShareGroupLag, SharePartitionLag } from './snapshot.js';
import { evaluatePartitionStatus, groupStatus, StatusWindow } from './status.js';

/** What the lag evaluator knows of one topic partition this cycle (its log and its offset/time table). */
export interface PartitionView {
  readonly logEndOffset: number | null;
  readonly logStartOffset: number | null;
  readonly table: OffsetTimeTable;
  readonly produceRate: number | null;
  readonly error?: string;
}

interface SharePartitionState {
  readonly window: StatusWindow;
  readonly acknowledgeRate: SmoothedRate;
  seen: number;
}

/**
 * Share-group lag from the broker's numbers (KIP-932, KIP-1226): per share-partition the lag the
 * broker counts, or, where it does not count, the upper bound end − start; the age of the oldest
 * record not acknowledged (the start offset's, interpolated from the offset/time table, or its
 * timestamp in exact mode); the acknowledge rate (records that stopped waiting per second:
 * the log end's advance less the lag's growth); and Burrow-style status on the start offset.
 * Pure, like the lag evaluator that calls it: time comes from the observations.
 */
export class ShareLagEvaluator {
  readonly #windowSize: number;
  readonly #allowedLag: number;
  readonly #halfLife: number;
  readonly #groups = new Map<string, Map<string, Map<number, SharePartitionState>>>();

  constructor(options: { windowSize: number; allowedLag: number; rateHalfLifeSeconds: number }) {
    this.#windowSize = options.windowSize;
    this.#allowedLag = options.allowedLag;
    this.#halfLife = options.rateHalfLifeSeconds;
  }

  evaluate(
    group: ShareGroupObservation,
    partitionOf: (topic: string, partition: number) => PartitionView | undefined,
    now: number,
    cycle: number,
  ): ShareGroupLag {
    let states = this.#groups.get(group.group);
    if (states === undefined) {
      states = new Map();
      this.#groups.set(group.group, states);
    }
    const partitions = [...group.partitions]
      .sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
      .map((observed) => this.#evaluatePartition(states, observed, partitionOf(observed.topic, observed.partition), group.members.length > 0, now, cycle));
    let lag = 0;
    let lagExact = group.error === undefined;
    let timeLag: number | null = null;
    let produceRate: number | null = null;
    let acknowledgeRate: number | null = null;
    for (const p of partitions) {
      if (p.lag === null) lagExact = false;
      else lag += p.lag;
      if (p.lagMode !== 'exact') lagExact = false;
      if (p.timeLagSeconds !== null && (timeLag === null || p.timeLagSeconds > timeLag)) timeLag = p.timeLagSeconds;
      if (p.produceRate !== null) produceRate = (produceRate ?? 0) + p.produceRate;
      if (p.acknowledgeRate !== null) acknowledgeRate = (acknowledgeRate ?? 0) + p.acknowledgeRate;
    }
    const { status: worst, reason: statusReason } = groupStatus(partitions, group.error, 'no share-partition state yet');
    return {
      group: group.group,
      state: group.state,
      members: group.members.length,
      status: worst,
      statusReason,
      lag,
      lagExact,
      timeLagSeconds: timeLag,
      produceRate,
      acknowledgeRate,
      topics: [...new Set(partitions.map((p) => p.topic))],
      partitions,
      ...(group.error === undefined ? {} : { error: group.error }),
    };
  }

  #evaluatePartition(
    states: Map<string, Map<number, SharePartitionState>>,
    observed: SharePartitionObservation,
    log: PartitionView | undefined,
    hasMembers: boolean,
    now: number,
    cycle: number,
  ): SharePartitionLag {
    const logEnd = log?.logEndOffset ?? null;
    const start = observed.startOffset;
    let lag: number | null = null;
    let lagMode: SharePartitionLag['lagMode'] = null;
    if (observed.brokerLag !== null) {
      lag = observed.brokerLag;
      lagMode = 'exact';
    } else if (start !== null && logEnd !== null) {
      lag = Math.max(0, logEnd - start);
      lagMode = 'upper_bound';
    }

    let timeLagSeconds: number | null = null;
    let timeLagMode: SharePartitionLag['timeLagMode'] = null;
    if (lag === 0) {
      timeLagSeconds = 0;
      timeLagMode = 'estimate';
    } else if (lag !== null) {
      if (typeof observed.recordTimestamp === 'number') {
        timeLagSeconds = Math.max(0, (now - observed.recordTimestamp) / 1000);
        timeLagMode = 'exact';
      } else {
        const at = start === null || log === undefined ? null : log.table.timeAt(start);
        if (at !== null) {
          timeLagSeconds = Math.max(0, (now - at) / 1000);
          timeLagMode = 'estimate';
        }
      }
    }

    let byPartition = states.get(observed.topic);
    if (byPartition === undefined) {
      byPartition = new Map();
      states.set(observed.topic, byPartition);
    }
    let state = byPartition.get(observed.partition);
    if (state === undefined) {
      state = { window: new StatusWindow(this.#windowSize), acknowledgeRate: new SmoothedRate(this.#halfLife), seen: cycle };
      byPartition.set(observed.partition, state);
    }
    state.seen = cycle;
    state.window.push(now, start, lag);
    // Records no longer waiting: everything produced, less what still lags (exact), or the start offset (bound).
    const acknowledged = logEnd !== null && lagMode === 'exact' && lag !== null ? logEnd - lag : start;
    const acknowledgeRate = acknowledged === null ? state.acknowledgeRate.value : state.acknowledgeRate.update(acknowledged, now);
    const error = observed.error ?? log?.error ?? (log === undefined ? `topic ${observed.topic} partition ${observed.partition} not in metadata` : undefined);
    // No member has fetched from it yet: nothing waits that the broker knows of, and nothing is wrong.
    const { status, reason } =
      start === null && observed.brokerLag === null && error === undefined
        ? { status: 'OK' as const, reason: 'share-partition not initialised' }
        : evaluatePartitionStatus({
            window: state.window,
            windowSize: this.#windowSize,
            hasOwner: hasMembers,
            error,
            allowedLag: this.#allowedLag,
            progress: 'acknowledgements',
          });
    return {
      topic: observed.topic,
      partition: observed.partition,
      startOffset: start,
      logEndOffset: logEnd,
      lag,
      lagMode,
      timeLagSeconds,
      timeLagMode,
      produceRate: log?.produceRate ?? null,
      acknowledgeRate,
      status,
      statusReason: reason,
      ...(error === undefined ? {} : { error }),
    };
  }

  /** Drops the state of share groups and partitions absent from this cycle. */
  forget(cycle: number): void {
    for (const [group, topics] of this.#groups) {
      for (const [topic, states] of topics) {
        for (const [partition, state] of states) if (state.seen !== cycle) states.delete(partition);
        if (states.size === 0) topics.delete(topic);
      }
      if (topics.size === 0) this.#groups.delete(group);
    }
  }
}
