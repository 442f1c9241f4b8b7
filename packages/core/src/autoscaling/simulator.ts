/**
 * The simulator: replays arrivals per tick through a model of one topic's partitions and one
 * consumer group, and lets a controller (a policy + behavior, or the oracle's schedule) resize the
 * group every interval, exactly as the live loop would: the controller sees a ScalingInput built by
 * the real LagEvaluator from the model's offsets (smoothed rates, estimated time lag, members).
 *
 * The model, in whole records and fixed ticks:
 * - Records are keyed round-robin, so arrivals spread evenly over the P partitions; each partition
 *   is a FIFO of (arrival time, count) runs, so its time lag (age of its oldest unconsumed record)
 *   is exact.
 * - A replica starts `startupSeconds` after it is asked for, then joins the group. Every change of
 *   membership (a join or a leave) is an eager rebalance: nobody consumes for `rebalanceSeconds`.
 * - Members are assigned partitions round-robin (member j owns j, j+m, j+2m, ...); members beyond P
 *   idle. A member consumes up to `serviceRatePerReplica` records/s, shared evenly among its
 *   partitions that have records; a partition that runs dry leaves its share to the others.
 *   Records arrive at the start of their tick; the committed offset is the consumed position.
 * - Scaling in removes replicas still starting first (as Kubernetes deletes unready pods first).
 * - Replica-seconds count every replica asked for, from the moment it is asked for (starting ones
 *   cost money too) until it is removed.
 * Deterministic: no randomness, no clocks.
 */
import { LagEvaluator, type LagEvaluatorOptions } from '../lag-evaluator.js';
import type { ClusterObservation } from '../observation.js';
import { decide, initialBehaviorState } from './behavior.js';
import { scalingInputFromSnapshot } from './scaling-input.js';
import { ScalingMetricUnavailableError } from './threshold-policy.js';
import type { BehaviorConfig, PolicyRecommendation, ScalingDecision, ScalingInput, ScalingPolicy } from './types.js';

export interface ConsumerModel {
  readonly partitions: number;
  /** Records/s one consumer processes when it has work. */
  readonly serviceRatePerReplica: number;
  /** Seconds from asking for a replica until it joins the group. */
  readonly startupSeconds: number;
  /** Seconds without consumption after every membership change. */
  readonly rebalanceSeconds: number;
}

export interface TickOutcome {
  /** Records consumed this tick. */
  readonly consumed: number;
  /** Records behind at the end of the tick. */
  readonly backlog: number;
  /** Worst partition time lag (s) at the end of the tick. */
  readonly timeLagSeconds: number;
}

/** A partition's unconsumed records as runs of (arrival time, count), oldest first, in a growable ring. */
class PartitionQueue {
  times: Float64Array;
  counts: Float64Array;
  head = 0;
  /** Runs held. */
  runs = 0;
  /** Records held. */
  size = 0;

  constructor(capacity = 16) {
    this.times = new Float64Array(capacity);
    this.counts = new Float64Array(capacity);
  }

  push(time: number, count: number): void {
    if (this.runs === this.times.length) this.#grow();
    const slot = (this.head + this.runs) % this.times.length;
    this.times[slot] = time;
    this.counts[slot] = count;
    this.runs++;
    this.size += count;
  }

  #grow(): void {
    const capacity = this.times.length * 2;
    const times = new Float64Array(capacity);
    const counts = new Float64Array(capacity);
    for (let i = 0; i < this.runs; i++) {
      const slot = (this.head + i) % this.times.length;
      times[i] = this.times[slot] as number;
      counts[i] = this.counts[slot] as number;
    }
    this.times = times;
    this.counts = counts;
    this.head = 0;
  }

  /** Consumes up to `max` records from the front; returns how many. */
  take(max: number): number {
    if (max >= this.size) {
      const taken = this.size;
      this.head = 0;
      this.runs = 0;
      this.size = 0;
      return taken;
    }
    let left = max;
    const capacity = this.times.length;
    while (left > 0) {
      const run = this.counts[this.head] as number;
      if (run <= left) {
        left -= run;
        this.head = (this.head + 1) % capacity;
        this.runs--;
      } else {
        this.counts[this.head] = run - left;
        left = 0;
      }
    }
    this.size -= max;
    return max;
  }

  oldest(): number | null {
    return this.runs > 0 ? (this.times[this.head] as number) : null;
  }

  clone(): PartitionQueue {
    // Only the runs held, unrolled to the front, with room to grow.
    const copy = new PartitionQueue(Math.max(16, this.runs * 2));
    const capacity = this.times.length;
    for (let i = 0; i < this.runs; i++) {
      const slot = (this.head + i) % capacity;
      copy.times[i] = this.times[slot] as number;
      copy.counts[i] = this.counts[slot] as number;
    }
    copy.runs = this.runs;
    copy.size = this.size;
    return copy;
  }
}

/**
 * The partitions and the group, advanced one tick at a time. Exposed (and cloneable) so the oracle
 * can search over futures with exactly the dynamics the simulator reports on.
 */
export class ConsumerGroupModel {
  readonly model: ConsumerModel;
  readonly tickSeconds: number;
  /** Simulated seconds since the start. */
  time = 0;
  #queues: PartitionQueue[];
  #logEnd: number[];
  #committed: number[];
  /** Consumption credit per member slot (fractions of a record carried between ticks). */
  #credit: number[];
  #members: number;
  /** Join times of replicas asked for but not yet in the group, earliest first. */
  #starting: number[] = [];
  #pauseUntil = Number.NEGATIVE_INFINITY;
  #cursor = 0;
  /** Per member: where its next leftover records are taken from, so no partition is always served last. */
  #turns: number[];
  /** Reused by #serve, so a tick allocates nothing. */
  readonly #scratch: number[] = [];

  /** `queues` is for clone() only. */
  constructor(model: ConsumerModel, tickSeconds: number, initialReplicas: number, queues?: PartitionQueue[]) {
    if (!Number.isInteger(model.partitions) || model.partitions < 1) throw new RangeError(`partitions must be an integer >= 1, got ${model.partitions}`);
    if (!(model.serviceRatePerReplica > 0)) throw new RangeError(`serviceRatePerReplica must be > 0, got ${model.serviceRatePerReplica}`);
    if (!(model.startupSeconds >= 0)) throw new RangeError(`startupSeconds must be >= 0, got ${model.startupSeconds}`);
    if (!(model.rebalanceSeconds >= 0)) throw new RangeError(`rebalanceSeconds must be >= 0, got ${model.rebalanceSeconds}`);
    if (!(tickSeconds > 0)) throw new RangeError(`tickSeconds must be > 0, got ${tickSeconds}`);
    if (!Number.isInteger(initialReplicas) || initialReplicas < 0) throw new RangeError(`initialReplicas must be an integer >= 0, got ${initialReplicas}`);
    this.model = model;
    this.tickSeconds = tickSeconds;
    this.#queues = queues ?? Array.from({ length: model.partitions }, () => new PartitionQueue());
    this.#logEnd = new Array<number>(model.partitions).fill(0);
    this.#committed = new Array<number>(model.partitions).fill(0);
    this.#credit = new Array<number>(model.partitions).fill(0);
    this.#turns = new Array<number>(model.partitions).fill(0);
    this.#members = initialReplicas;
  }

  /** Replicas asked for (members plus starting ones): what the target reports and what costs. */
  get replicas(): number {
    return this.#members + this.#starting.length;
  }

  /** Replicas that have joined the group. */
  get members(): number {
    return this.#members;
  }

  get backlog(): number {
    let total = 0;
    for (const queue of this.#queues) total += queue.size;
    return total;
  }

  get logEndOffsets(): readonly number[] {
    return this.#logEnd;
  }

  get committedOffsets(): readonly number[] {
    return this.#committed;
  }

  /** Worst partition time lag (s) now. */
  timeLagSeconds(): number {
    let worst = 0;
    for (const queue of this.#queues) {
      const oldest = queue.oldest();
      if (oldest !== null && this.time - oldest > worst) worst = this.time - oldest;
    }
    return worst;
  }

  #rebalance(): void {
    this.#pauseUntil = Math.max(this.#pauseUntil, this.time + this.model.rebalanceSeconds);
    this.#credit.fill(0);
  }

  /** Resizes to `replicas` now. New replicas join after the start-up delay; removals start with replicas still starting. */
  setReplicas(replicas: number): void {
    if (!Number.isInteger(replicas) || replicas < 0) throw new RangeError(`replicas must be an integer >= 0, got ${replicas}`);
    const current = this.replicas;
    if (replicas > current) {
      for (let i = current; i < replicas; i++) this.#starting.push(this.time + this.model.startupSeconds);
    } else if (replicas < current) {
      let remove = current - replicas;
      const fromStarting = Math.min(remove, this.#starting.length);
      this.#starting.length -= fromStarting;
      remove -= fromStarting;
      if (remove > 0) {
        this.#members -= remove;
        this.#rebalance();
      }
    }
  }

  /** Advances one tick: joins, arrivals (at the tick's start), consumption, and reports the end state. */
  step(arrivals: number): TickOutcome {
    const dt = this.tickSeconds;
    const start = this.time;
    const p = this.model.partitions;

    let joined = 0;
    while (this.#starting.length > 0 && (this.#starting[0] as number) <= start + 1e-9) {
      this.#starting.shift();
      joined++;
    }
    if (joined > 0) {
      this.#members += joined;
      this.#rebalance();
    }

    if (arrivals > 0) {
      const each = Math.floor(arrivals / p);
      const extra = arrivals - each * p;
      for (let i = 0; i < p; i++) {
        const partition = (this.#cursor + i) % p;
        const count = each + (i < extra ? 1 : 0);
        if (count > 0) {
          (this.#queues[partition] as PartitionQueue).push(start, count);
          this.#logEnd[partition] = (this.#logEnd[partition] as number) + count;
        }
      }
      this.#cursor = (this.#cursor + extra) % p;
    }

    let consumed = 0;
    const working = Math.min(this.#members, p);
    const serving = Math.max(0, Math.min(dt, start + dt - Math.max(start, this.#pauseUntil)));
    if (working > 0 && serving > 0) {
      const capacity = this.model.serviceRatePerReplica * serving;
      for (let member = 0; member < working; member++) consumed += this.#serve(member, working, capacity);
    }

    this.time = start + dt;
    let backlog = 0;
    let worst = 0;
    for (const queue of this.#queues) {
      backlog += queue.size;
      const oldest = queue.oldest();
      if (oldest !== null && this.time - oldest > worst) worst = this.time - oldest;
    }
    return { consumed, backlog, timeLagSeconds: worst };
  }

  /** One member's tick: whole records up to its credit, split evenly over its partitions with records. */
  #serve(member: number, members: number, capacity: number): number {
    const p = this.model.partitions;
    const queues = this.#queues;
    const credit = (this.#credit[member] as number) + capacity;
    let budget = Math.floor(credit + 1e-9);
    let waiting = 0;
    for (let partition = member; partition < p; partition += members) waiting += (queues[partition] as PartitionQueue).size;
    if (waiting <= budget) {
      // Caught up this tick (the usual case): everything goes, and unused capacity cannot be banked.
      for (let partition = member; partition < p; partition += members) this.#take(partition, (queues[partition] as PartitionQueue).size);
      this.#credit[member] = credit - Math.floor(credit + 1e-9);
      return waiting;
    }
    let consumed = 0;
    const open = this.#scratch;
    open.length = 0;
    for (let partition = member; partition < p; partition += members) if ((queues[partition] as PartitionQueue).size > 0) open.push(partition);
    while (budget > 0) {
      const share = Math.floor(budget / open.length);
      if (share === 0) {
        // Fewer records than partitions left: one each, taking turns (as a fetcher rotates its partitions).
        const turn = this.#turns[member] as number;
        for (let i = 0; i < budget; i++) consumed += this.#take(open[(turn + i) % open.length] as number, 1);
        this.#turns[member] = turn + budget;
        break;
      }
      let kept = 0;
      for (const partition of open) {
        const taken = this.#take(partition, share);
        consumed += taken;
        budget -= taken;
        if ((queues[partition] as PartitionQueue).size > 0) open[kept++] = partition;
      }
      open.length = kept;
    }
    this.#credit[member] = credit - consumed;
    return consumed;
  }

  #take(partition: number, count: number): number {
    const taken = (this.#queues[partition] as PartitionQueue).take(count);
    this.#committed[partition] = (this.#committed[partition] as number) + taken;
    return taken;
  }

  /** What the offset collector would read now: the model's offsets, members and their assignments. */
  observe(epochMs: number, topic: string, group: string): ClusterObservation {
    const p = this.model.partitions;
    const working = Math.min(this.#members, p);
    const members = Array.from({ length: this.#members }, (_, j) => ({
      memberId: `${group}-${j}`,
      clientId: `${group}-${j}`,
      host: `/10.0.0.${j % 250}`,
      instanceId: null,
      assignment: j < working ? [{ topic, partitions: Array.from({ length: Math.ceil((p - j) / working) }, (_, i) => j + i * working) }] : [],
    }));
    return {
      time: epochMs + this.time * 1000,
      topics: [
        {
          topic,
          partitions: this.#logEnd.map((logEnd, partition) => ({ partition, leader: 0, logEndOffset: logEnd, logStartOffset: 0, lastStableOffset: logEnd })),
        },
      ],
      groups: [
        {
          group,
          state: this.#members === 0 ? 'Empty' : 'Stable',
          protocolType: 'consumer',
          members,
          offsets: this.#committed.map((offset, partition) => ({ topic, partition, offset })),
        },
      ],
      errors: [],
      stats: { durationMs: 0, requests: 0, brokers: 1 },
    };
  }

  clone(): ConsumerGroupModel {
    const copy = new ConsumerGroupModel(
      this.model,
      this.tickSeconds,
      0,
      this.#queues.map((q) => q.clone()),
    );
    copy.time = this.time;
    copy.#logEnd = this.#logEnd.slice();
    copy.#committed = this.#committed.slice();
    copy.#credit = this.#credit.slice();
    copy.#members = this.#members;
    copy.#starting = this.#starting.slice();
    copy.#pauseUntil = this.#pauseUntil;
    copy.#cursor = this.#cursor;
    copy.#turns = this.#turns.slice();
    return copy;
  }
}

/** Decides the replica count every interval; sees what the live loop would see. */
export interface ScalingController {
  readonly name: string;
  next(input: ScalingInput): { readonly replicas: number; readonly decision?: ScalingDecision };
}

export interface SimulationOptions {
  readonly model: ConsumerModel;
  /** Records arriving in each tick. */
  readonly arrivals: readonly number[];
  readonly controller: ScalingController;
  /** Default 1. */
  readonly tickSeconds?: number;
  /** Seconds between controller cycles (HPA's sync period). Default 15. */
  readonly intervalSeconds?: number;
  /** Time lag above this counts as a violation in the report. */
  readonly timeLagSloSeconds: number;
  /** Replicas (already joined) at the start. Default 1. */
  readonly initialReplicas?: number;
  /** Epoch ms of simulated time 0 (what ScalingInput.time counts from). Default 0. */
  readonly startTimeMs?: number;
  readonly topic?: string;
  readonly group?: string;
  /** Options of the lag evaluator that turns offsets into rates and time lag (as the live engine's). */
  readonly lagEvaluator?: LagEvaluatorOptions;
  /** Return the per-tick series. Default false. */
  readonly series?: boolean;
  /** Return every decision the controller recorded. Default false. */
  readonly decisions?: boolean;
}

export interface SimulationSeries {
  /** End of each tick, simulated seconds. */
  readonly time: number[];
  readonly arrivals: number[];
  readonly backlog: number[];
  readonly timeLagSeconds: number[];
  readonly replicas: number[];
  readonly members: number[];
}

export interface SimulationReport {
  readonly controller: string;
  readonly ticks: number;
  readonly tickSeconds: number;
  readonly durationSeconds: number;
  /** Σ replicas asked for × seconds (starting replicas included). */
  readonly replicaSeconds: number;
  readonly meanReplicas: number;
  readonly peakReplicas: number;
  /** Worst partition time lag, worst tick. */
  readonly peakTimeLagSeconds: number;
  /** 99th percentile over ticks of the worst partition time lag. */
  readonly p99TimeLagSeconds: number;
  readonly timeLagSloSeconds: number;
  /** Seconds whose worst partition time lag exceeded the SLO. */
  readonly secondsOverSlo: number;
  /** Changes of the replica count. */
  readonly scaleEvents: number;
  readonly scaleUps: number;
  readonly scaleDowns: number;
  readonly arrived: number;
  readonly consumed: number;
  readonly finalBacklog: number;
  readonly series?: SimulationSeries;
  readonly decisions?: ScalingDecision[];
}

/** The q-quantile (0..1) of `values` by nearest rank. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Accumulates a run's numbers tick by tick (shared by the simulator and the oracle). */
export class SimulationMeter {
  readonly #slo: number;
  readonly #dt: number;
  readonly timeLags: Float64Array;
  ticks = 0;
  replicaSeconds = 0;
  peakReplicas = 0;
  peakTimeLag = 0;
  secondsOverSlo = 0;
  arrived = 0;
  consumed = 0;

  constructor(ticks: number, tickSeconds: number, sloSeconds: number) {
    this.timeLags = new Float64Array(ticks);
    this.#dt = tickSeconds;
    this.#slo = sloSeconds;
  }

  record(arrivals: number, replicasDuringTick: number, outcome: TickOutcome): void {
    this.timeLags[this.ticks++] = outcome.timeLagSeconds;
    this.replicaSeconds += replicasDuringTick * this.#dt;
    this.peakReplicas = Math.max(this.peakReplicas, replicasDuringTick);
    this.peakTimeLag = Math.max(this.peakTimeLag, outcome.timeLagSeconds);
    if (outcome.timeLagSeconds > this.#slo + 1e-9) this.secondsOverSlo += this.#dt;
    this.arrived += arrivals;
    this.consumed += outcome.consumed;
  }
}

/** Replays `arrivals` under `controller` and reports cost and time lag. */
export function simulate(options: SimulationOptions): SimulationReport {
  const dt = options.tickSeconds ?? 1;
  const interval = options.intervalSeconds ?? 15;
  const ticksPerCycle = Math.round(interval / dt);
  if (!(ticksPerCycle >= 1) || Math.abs(ticksPerCycle * dt - interval) > 1e-9) {
    throw new RangeError(`intervalSeconds (${interval}) must be a whole number of ticks (${dt} s)`);
  }
  if (!(options.timeLagSloSeconds > 0)) throw new RangeError(`timeLagSloSeconds must be > 0, got ${options.timeLagSloSeconds}`);
  const topic = options.topic ?? 'simulated';
  const group = options.group ?? 'simulated-group';
  const epoch = options.startTimeMs ?? 0;
  const model = new ConsumerGroupModel(options.model, dt, options.initialReplicas ?? 1);
  const evaluator = new LagEvaluator(options.lagEvaluator);
  const meter = new SimulationMeter(options.arrivals.length, dt, options.timeLagSloSeconds);
  const series: SimulationSeries | undefined = options.series
    ? { time: [], arrivals: [], backlog: [], timeLagSeconds: [], replicas: [], members: [] }
    : undefined;
  const decisions: ScalingDecision[] | undefined = options.decisions ? [] : undefined;
  let scaleUps = 0;
  let scaleDowns = 0;
  let backlog = 0;

  // The engine sees the cluster at time 0 too, so the first cycle already has a previous point.
  evaluator.evaluate(model.observe(epoch, topic, group));
  for (let tick = 0; tick < options.arrivals.length; tick++) {
    const arrivals = options.arrivals[tick] as number;
    const replicas = model.replicas;
    const outcome = model.step(arrivals);
    backlog = outcome.backlog;
    meter.record(arrivals, replicas, outcome);
    if (series !== undefined) {
      series.time.push(model.time);
      series.arrivals.push(arrivals);
      series.backlog.push(outcome.backlog);
      series.timeLagSeconds.push(outcome.timeLagSeconds);
      series.replicas.push(replicas);
      series.members.push(model.members);
    }
    if ((tick + 1) % ticksPerCycle === 0) {
      const snapshot = evaluator.evaluate(model.observe(epoch, topic, group));
      // Ready = joined: replicas still starting are asked for (and paid) but not ready.
      const input = scalingInputFromSnapshot(snapshot, group, model.replicas, model.members);
      if (input === null) throw new Error(`simulator: group ${group} missing from its own snapshot`);
      const { replicas: desired, decision } = options.controller.next(input);
      if (decision !== undefined) decisions?.push(decision);
      if (desired > model.replicas) scaleUps++;
      else if (desired < model.replicas) scaleDowns++;
      model.setReplicas(desired);
    }
  }

  const ticks = meter.ticks;
  const duration = ticks * dt;
  return {
    controller: options.controller.name,
    ticks,
    tickSeconds: dt,
    durationSeconds: duration,
    replicaSeconds: meter.replicaSeconds,
    meanReplicas: duration > 0 ? meter.replicaSeconds / duration : 0,
    peakReplicas: meter.peakReplicas,
    peakTimeLagSeconds: meter.peakTimeLag,
    p99TimeLagSeconds: quantile(meter.timeLags, 0.99),
    timeLagSloSeconds: options.timeLagSloSeconds,
    secondsOverSlo: meter.secondsOverSlo,
    scaleEvents: scaleUps + scaleDowns,
    scaleUps,
    scaleDowns,
    arrived: meter.arrived,
    consumed: meter.consumed,
    finalBacklog: backlog,
    ...(series === undefined ? {} : { series }),
    ...(decisions === undefined ? {} : { decisions }),
  };
}

/** Replays a fixed list of replica counts, one per cycle (the oracle's plan); holds the last one after it ends. */
export function scheduleController(name: string, replicasPerCycle: readonly number[]): ScalingController {
  let cycle = 0;
  return {
    name,
    next(input) {
      const replicas = replicasPerCycle[Math.min(cycle, replicasPerCycle.length - 1)] ?? input.currentReplicas;
      cycle++;
      return { replicas };
    },
  };
}

export interface PolicyControllerOptions<Config, State> {
  readonly policy: ScalingPolicy<Config, State>;
  /** Parsed policy config (policy.parseConfig). */
  readonly config: Config;
  readonly behavior: BehaviorConfig;
  /** Label in reports. Default: the policy's name. */
  readonly name?: string;
}

/**
 * The live decision path, unchanged: policy.recommend, then behavior's `decide`. A metric the
 * policy cannot compute counts as a failed read (recommendation null), as in the live loop.
 */
export function policyController<Config, State>(options: PolicyControllerOptions<Config, State>): ScalingController {
  const { policy, config, behavior } = options;
  let policyState = policy.initialState(config);
  let behaviorState = initialBehaviorState();
  return {
    name: options.name ?? policy.name,
    next(input) {
      let recommendation: PolicyRecommendation | null = null;
      try {
        const result = policy.recommend(input, config, policyState);
        recommendation = result.recommendation;
        policyState = result.state;
      } catch (error) {
        if (!(error instanceof ScalingMetricUnavailableError)) throw error;
      }
      const { decision, state } = decide({ input, policy: policy.name, recommendation, behavior, state: behaviorState });
      behaviorState = state;
      return { replicas: decision.desiredReplicas, decision };
    },
  };
}
