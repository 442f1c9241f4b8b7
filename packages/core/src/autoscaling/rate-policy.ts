/**
 * Policy `rate` (the default): size the group from how fast records arrive (λ) and how fast one
 * consumer works (μ), instead of from how much lag has piled up.
 *
 * 1. The formula: desired = ceil((λ + backlog / drainTime) / (μ · utilisation)), drainTime being
 *    `targetDrainSeconds` or, with a time-lag SLO, what is left of it (SLO − time lag, at least the
 *    reaction time), rounded up to a count the partitions can use (`usableConsumers`).
 * 2. With an SLO, its slack may carry bursts instead of idle headroom: a smaller usable count (from
 *    the one that keeps up with the sustained λ at full μ) is taken when the forecast (arrivals at
 *    λ / utilisation, the start-up and rebalance the change costs) keeps the time lag within the SLO
 *    minus one rebalance over the reaction time (one interval + start-up + rebalance), after which a
 *    later cycle could still add replicas in time (`forecastTimeLag`).
 * 3. With an SLO longer than the reaction time, a count below the arrivals (max of λ now and the
 *    sustained λ) may be taken too: it spends the SLO's slack (the backlog grows) while its
 *    forecast at those arrivals, over one SLO period, keeps the time lag a whole reaction time
 *    below the SLO. Time lag grows at most a second per second, so whatever arrives, a later cycle
 *    still adds replicas before the SLO is reached. (Then only a count that keeps up with both is
 *    judged by rule 2.)
 * 4. Below the current count only as far as that forecast says is safe (scale-in gate).
 *
 * The forecasts date the backlog from the group's log-end offsets of recent cycles: after a burst,
 * the records near the head are dense and the head ages faster than even arrivals would say.
 *
 * μ is learned online: committed-offset growth per consumer over a cycle measures μ only when the
 * consumers had work the whole time (every partition lagging at both ends) and the membership did
 * not change around it (a rebalance pauses consumption). Otherwise the growth is just λ, which says
 * only that μ is at least that much. Until `minSamples` busy cycles were seen the prior is used. *
 * A share group (KIP-932, `ScalingInput.groupKind` share) is not bound to partitions: any count up
 * to the group's maximum size (`group.share.max.size`) is usable, each member carries a full μ, and
 * a member joining or leaving pauses nobody (no rebalance in the forecast). μ is learned from
 * acknowledgements per member, the group counting as busy when, at both ends, more records than
 * members waited on share-partitions whose start offset moved. Records redelivered are not lag to
 * scale on: the backlog is dated as if it were the newest records (`shareBacklogAge`), not by the
 * start offset a poison record holds back, and a scale-in no worse than holding is taken.
 */
import { type ConfigObject, joinPath, readInteger, readObject, rejectUnknownKeys } from './config-reader.js';
import { DEFAULT_SHARE_GROUP_MAX_SIZE, type PolicyRecommendation, ScalingConfigError, type ScalingInput, type ScalingPolicy } from './types.js';

export interface RatePolicyConfig {
  /** Drain the backlog within this many seconds. Null: derived from the time-lag SLO. */
  readonly targetDrainSeconds: number | null;
  /** Keep the worst partition's time lag under this many seconds. Null: no time-lag target. */
  readonly timeLagSloSeconds: number | null;
  /** Fraction of μ each replica is planned to use (headroom for bursts). Default 0.8. */
  readonly utilisation: number;
  /** Prior per-replica service rate (records/s), used until enough busy cycles were measured. */
  readonly serviceRatePerReplica: number;
  /** Busy cycles measured before the learned μ replaces the prior. Default 3. */
  readonly minSamples: number;
  /** Half-life of the learned μ's smoothing, in seconds. Default 120. */
  readonly serviceRateHalfLifeSeconds: number;
  /** How far ahead the forecast looks. Null: the reaction time (interval + start-up + rebalance). */
  readonly forecastHorizonSeconds: number | null;
  /** Half-life (s) of the sustained arrival rate a smaller group must keep up with. Null: the SLO (else the drain time). */
  readonly arrivalHalfLifeSeconds: number | null;
  /** Seconds from asking for a replica until it consumes (start-up and joining), assumed by the forecast. Default 30. */
  readonly startupSeconds: number;
  /** Consumption pause a change of replicas causes (the rebalance), assumed by the forecast. Default 5. */
  readonly rebalanceSeconds: number;
}

export interface RatePolicyState {
  /** Offsets of the previous cycle, to measure growth. */
  readonly last: RateObservation | null;
  /** Active consumers one cycle before `last`: a μ sample needs the same membership for two intervals. */
  readonly consumersBefore: number | null;
  /** Smoothed μ from busy cycles (records/s per consumer); null until the first. */
  readonly learnedServiceRate: number | null;
  readonly busySamples: number;
  /** Smoothed per-consumer throughput of cycles that were not busy: μ is at least this. */
  readonly idleThroughput: number | null;
  /** λ from log-end growth between the last two cycles, used when the input has no produce rate. */
  readonly arrivalRate: number | null;
  /** Seconds between the last two cycles (the loop's interval), for the forecast's horizon. */
  readonly intervalSeconds: number | null;
  /** λ smoothed over `arrivalHalfLifeSeconds`: bursts shorter than that are the SLO's to absorb. */
  readonly sustainedArrivalRate: number | null;
  /**
   * The group's total log-end offset at recent cycles, oldest first: when the backlog's records
   * arrived, for the forecast. Absent in state saved by older versions.
   */
  readonly arrivalHistory?: readonly ArrivalPoint[];
}

export interface ArrivalPoint {
  readonly time: number;
  readonly logEnd: number;
}

/** Cycles of arrival history kept: enough to date a backlog as old as a long SLO at short intervals. */
const ARRIVAL_HISTORY_POINTS = 64;

interface RateObservation {
  readonly time: number;
  readonly activeConsumers: number;
  readonly partitions: ReadonlyMap<string, PartitionOffsets>;
}

interface PartitionOffsets {
  readonly committed: number | null;
  readonly logEnd: number | null;
  /** Share groups: the share-partition start offset. */
  readonly start?: number | null;
}

const KEYS = [
  'targetDrainSeconds',
  'timeLagSloSeconds',
  'utilisation',
  'serviceRatePerReplica',
  'minSamples',
  'serviceRateHalfLifeSeconds',
  'forecastHorizonSeconds',
  'arrivalHalfLifeSeconds',
  'startupSeconds',
  'rebalanceSeconds',
] as const;

/** Drain time used when neither a drain time nor an SLO is configured. */
export const DEFAULT_TARGET_DRAIN_SECONDS = 60;
/** Prior μ when none is configured: deliberately modest, corrected as soon as consumers are busy. */
export const DEFAULT_SERVICE_RATE_PER_REPLICA = 100;
/** The loop's interval until two cycles were seen (HPA's sync period). */
const DEFAULT_INTERVAL_SECONDS = 15;

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : value === null ? 'null' : Array.isArray(value) ? 'an array' : String(value);
}

/** A number from config (YAML number or KEDA-style string) above `min` (or at least it, when inclusive); null when absent. */
function readBounded(
  obj: ConfigObject,
  key: string,
  path: string,
  problems: string[],
  bounds: { min: number; inclusive: boolean; max?: number },
): number | null {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  const max = bounds.max ?? Number.POSITIVE_INFINITY;
  const aboveMin = typeof parsed === 'number' && (bounds.inclusive ? parsed >= bounds.min : parsed > bounds.min);
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || !aboveMin || parsed > max) {
    const range = `a number ${bounds.inclusive ? '>=' : '>'} ${bounds.min}${bounds.max === undefined ? '' : ` and <= ${bounds.max}`}`;
    problems.push(`${joinPath(path, key)}: must be ${range}, got ${describe(value)}`);
    return null;
  }
  return parsed;
}

const positive = { min: 0, inclusive: false } as const;

/** Validates raw policy config; every mistake is reported with its path (relative to `path`). */
export function parseRatePolicyConfig(raw: unknown, path = ''): RatePolicyConfig {
  const problems: string[] = [];
  const obj = readObject(raw, path, problems);
  if (obj === null) throw new ScalingConfigError(problems);
  rejectUnknownKeys(obj, KEYS, path, problems);
  const timeLagSloSeconds = readBounded(obj, 'timeLagSloSeconds', path, problems, positive);
  const targetDrainSeconds = readBounded(obj, 'targetDrainSeconds', path, problems, positive);
  const config: RatePolicyConfig = {
    targetDrainSeconds: targetDrainSeconds ?? (timeLagSloSeconds === null ? DEFAULT_TARGET_DRAIN_SECONDS : null),
    timeLagSloSeconds,
    utilisation: readBounded(obj, 'utilisation', path, problems, { ...positive, max: 1 }) ?? 0.8,
    serviceRatePerReplica: readBounded(obj, 'serviceRatePerReplica', path, problems, positive) ?? DEFAULT_SERVICE_RATE_PER_REPLICA,
    minSamples: readInteger(obj, 'minSamples', path, problems, 3, { min: 1 }),
    serviceRateHalfLifeSeconds: readBounded(obj, 'serviceRateHalfLifeSeconds', path, problems, positive) ?? 120,
    forecastHorizonSeconds: readBounded(obj, 'forecastHorizonSeconds', path, problems, positive),
    arrivalHalfLifeSeconds: readBounded(obj, 'arrivalHalfLifeSeconds', path, problems, positive),
    startupSeconds: readBounded(obj, 'startupSeconds', path, problems, { min: 0, inclusive: true }) ?? 30,
    rebalanceSeconds: readBounded(obj, 'rebalanceSeconds', path, problems, { min: 0, inclusive: true }) ?? 5,
  };
  if (problems.length > 0) throw new ScalingConfigError(problems);
  return config;
}

/**
 * Consumers that can be put to use for a required capacity of `consumersNeeded` replicas' worth,
 * with `partitions` partitions of equal load. A consumer owning k partitions must carry k/P of the
 * load, so what limits a group of m is its busiest member: ceil(P/m) partitions. The answer is the
 * smallest m whose busiest member's share fits one replica: m = ceil(P / floor(P / needed)), capped
 * at P (more consumers than partitions sit idle). E.g. P=32, 9 needed: 9 or 10 consumers leave one
 * with 4 partitions, no better than 8, so 11 (3 each at most).
 */
export function usableConsumers(consumersNeeded: number, partitions: number): number {
  if (partitions <= 0) return Math.max(0, Math.ceil(consumersNeeded));
  if (consumersNeeded <= 0) return 0;
  const perConsumer = Math.floor(partitions / consumersNeeded);
  if (perConsumer < 1) return partitions;
  return Math.min(partitions, Math.ceil(partitions / perConsumer));
}

/** Service capacity (replicas' worth) of m consumers on P equally loaded partitions: P / ceil(P/m), at most m. */
export function effectiveConsumers(consumers: number, partitions: number): number {
  if (consumers <= 0) return 0;
  if (partitions <= 0) return consumers;
  const m = Math.min(consumers, partitions);
  return partitions / Math.ceil(partitions / m);
}

/** A stretch of the forecast with a constant consumption rate (records/s); the last one runs to the horizon. */
export interface ForecastPhase {
  readonly seconds: number;
  readonly capacity: number;
}

export interface TimeLagForecastInput {
  /** Records behind now. */
  readonly backlog: number;
  /** Age (s) of the oldest record behind now. */
  readonly timeLagSeconds: number;
  /**
   * When the backlog's records arrived, if known: ages (s) now at counts of records from the head,
   * piecewise linear between the points (records ascending from 0, ages descending). Absent: the
   * backlog is taken to have arrived evenly over the last `timeLagSeconds`. After a burst the
   * records near the head are denser than that, and the head ages faster than even arrivals say.
   */
  readonly backlogProfile?: readonly BacklogPoint[];
  /** Arrival rate (records/s), assumed constant over the horizon. */
  readonly arrivalRate: number;
  readonly phases: readonly ForecastPhase[];
  readonly horizonSeconds: number;
}

export interface BacklogPoint {
  readonly records: number;
  readonly ageSeconds: number;
}

/** Age now of the record `k` places behind the head, from a profile (linear between its points). */
function ageInProfile(profile: readonly BacklogPoint[], k: number): number {
  let previous = profile[0] as BacklogPoint;
  for (const point of profile) {
    if (k <= point.records) {
      if (point.records <= previous.records) return point.ageSeconds;
      return previous.ageSeconds + ((k - previous.records) / (point.records - previous.records)) * (point.ageSeconds - previous.ageSeconds);
    }
    previous = point;
  }
  return 0;
}

export interface TimeLagForecast {
  /** Worst time lag (s) over the horizon. */
  readonly peakTimeLagSeconds: number;
  /** Records behind at the horizon. */
  readonly backlogAtHorizon: number;
}

/**
 * Fluid forecast of one FIFO queue. The backlog's records are taken to have arrived evenly over the
 * last `timeLag` seconds, new ones at `arrivalRate`; consumption follows the phases (a rebalance is
 * a phase of capacity 0). With D(t) the records consumed since now, the oldest record left arrived
 * at −T + T·D/B while D < B and at (D − B)/λ after; the time lag is t minus that, 0 when the queue
 * is empty. It is linear between breakpoints (phase ends, the old backlog running out, the queue
 * emptying), so its peak is found exactly by looking at those.
 */
export function forecastTimeLag(input: TimeLagForecastInput): TimeLagForecast {
  const { backlog: b, timeLagSeconds: age, arrivalRate: lambda, horizonSeconds: horizon } = input;
  const arrived = (t: number): number => b + lambda * t;
  const profile = input.backlogProfile !== undefined && input.backlogProfile.length >= 2 ? input.backlogProfile : null;
  const headAge = (t: number, done: number): number => {
    if (done >= arrived(t) - 1e-9) return 0;
    if (done < b) return t + (profile === null ? age - (age * done) / b : ageInProfile(profile, done));
    return lambda > 0 ? Math.max(0, t - (done - b) / lambda) : 0;
  };
  let t = 0;
  let done = 0;
  let peak = b > 0 ? age : 0;
  for (const [index, phase] of input.phases.entries()) {
    if (t >= horizon) break;
    const end = index === input.phases.length - 1 ? horizon : Math.min(horizon, t + Math.max(0, phase.seconds));
    const c = phase.capacity;
    const at = (s: number): number => Math.min(done + c * (s - t), arrived(s));
    const points = [end];
    if (c > 0 && done < b) points.push(t + (b - done) / c);
    if (c > lambda && done < arrived(t)) points.push(t + (arrived(t) - done) / (c - lambda));
    // The profile's corners: the head's age changes slope there.
    if (c > 0 && profile !== null) for (const point of profile) if (point.records > done && point.records < b) points.push(t + (point.records - done) / c);
    for (const s of points) if (s > t && s <= end) peak = Math.max(peak, headAge(s, at(s)));
    done = at(end);
    t = end;
  }
  return { peakTimeLagSeconds: peak, backlogAtHorizon: Math.max(0, arrived(horizon) - done) };
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

const round = (value: number, digits = 1): string => (Number.isInteger(value) ? String(value) : value.toFixed(digits));

/** What the policy concluded about μ this cycle (exported for tests and the decision log). */
export interface ServiceRateEstimate {
  readonly serviceRate: number;
  readonly source: 'prior' | 'learned' | 'observed';
  readonly busySamples: number;
}

export function serviceRateOf(state: RatePolicyState, config: RatePolicyConfig): ServiceRateEstimate {
  const learned = state.busySamples >= config.minSamples && state.learnedServiceRate !== null ? state.learnedServiceRate : null;
  const base = learned ?? config.serviceRatePerReplica;
  // Idle consumers still show μ is at least their throughput: a prior set too low must not keep
  // the group oversized forever (an oversized group is never busy, so it would never be measured).
  if (state.idleThroughput !== null && state.idleThroughput > base) {
    return { serviceRate: state.idleThroughput, source: 'observed', busySamples: state.busySamples };
  }
  return { serviceRate: base, source: learned !== null ? 'learned' : 'prior', busySamples: state.busySamples };
}

/** Folds one cycle's offsets into the state: μ samples, idle throughput, λ from log ends. */
function observe(input: ScalingInput, config: RatePolicyConfig, state: RatePolicyState): RatePolicyState {
  const share = input.groupKind === 'share';
  const partitions = new Map<string, PartitionOffsets>();
  for (const p of input.partitions) {
    partitions.set(key(p.topic, p.partition), {
      committed: p.committedOffset,
      logEnd: p.logEndOffset,
      ...(share ? { start: p.startOffset ?? null } : {}),
    });
  }
  const current: RateObservation = { time: input.time, activeConsumers: input.activeConsumers, partitions };
  const last = state.last;
  const next = { ...state, last: current, consumersBefore: last?.activeConsumers ?? null };
  if (last === null) return next;
  const seconds = (input.time - last.time) / 1000;
  if (!(seconds > 0)) return { ...state };

  let committedGrowth = 0;
  let logEndGrowth = 0;
  let logEndKnown = 0;
  let busy = partitions.size > 0;
  let rewound = false;
  // Share groups: records waiting at both ends on share-partitions whose start offset moved.
  let workBefore = 0;
  let workNow = 0;
  for (const [k, now] of partitions) {
    const before = last.partitions.get(k);
    if (before === undefined) {
      busy = false; // a new partition: nothing to compare yet
      continue;
    }
    if (now.logEnd !== null && before.logEnd !== null && now.logEnd >= before.logEnd) {
      logEndGrowth += now.logEnd - before.logEnd;
      logEndKnown++;
    }
    if (now.committed === null || before.committed === null) {
      // Nobody commits here: not every consumer can have been working. A share-partition without
      // state only means no member fetched there yet; the members work wherever records are.
      if (!share) busy = false;
      continue;
    }
    if (now.committed < before.committed) {
      rewound = true; // offsets reset: the growth means nothing this cycle
      continue;
    }
    committedGrowth += now.committed - before.committed;
    const lagBefore = before.logEnd === null ? null : before.logEnd - before.committed;
    const lagNow = now.logEnd === null ? null : now.logEnd - now.committed;
    if (share) {
      // A start offset that did not move holds records being redelivered or held: no work more
      // members could share, so a poison record never passes for a busy group (and never lowers μ).
      const moved = now.start !== null && now.start !== undefined && before.start !== null && before.start !== undefined && now.start > before.start;
      if (moved && lagBefore !== null && lagNow !== null) {
        workBefore += Math.max(0, lagBefore);
        workNow += Math.max(0, lagNow);
      }
      continue;
    }
    if (lagBefore === null || lagNow === null || lagBefore <= 0 || lagNow <= 0) busy = false;
  }
  // A share group's members take records from any partition: it was busy when, at both ends,
  // records waited for every member (more than one each) on share-partitions that were being worked.
  if (share) busy = input.activeConsumers > 0 && workBefore > input.activeConsumers && workNow > input.activeConsumers;
  const arrivalRate = logEndKnown > 0 ? logEndGrowth / seconds : state.arrivalRate;
  const sustainedHalfLife = config.arrivalHalfLifeSeconds ?? config.timeLagSloSeconds ?? config.targetDrainSeconds ?? DEFAULT_TARGET_DRAIN_SECONDS;
  const latest = input.produceRate ?? arrivalRate;
  const sustainedArrivalRate =
    latest === null
      ? state.sustainedArrivalRate
      : state.sustainedArrivalRate === null
        ? latest
        : state.sustainedArrivalRate + (1 - 0.5 ** (seconds / sustainedHalfLife)) * (latest - state.sustainedArrivalRate);

  // Consumer-group members beyond the partitions sit idle; a share group's all work.
  const consumers = share ? input.activeConsumers : Math.min(input.activeConsumers, partitions.size);
  const stableMembers = input.activeConsumers === last.activeConsumers && state.consumersBefore === last.activeConsumers;
  let { learnedServiceRate, busySamples, idleThroughput } = state;
  if (!rewound && stableMembers && consumers > 0) {
    const perConsumer = committedGrowth / seconds / consumers;
    const alpha = 1 - 0.5 ** (seconds / config.serviceRateHalfLifeSeconds);
    if (busy) {
      learnedServiceRate = learnedServiceRate === null ? perConsumer : learnedServiceRate + alpha * (perConsumer - learnedServiceRate);
      busySamples++;
    } else if (perConsumer > 0) {
      idleThroughput = idleThroughput === null ? perConsumer : idleThroughput + alpha * (perConsumer - idleThroughput);
    }
  }
  return { ...next, learnedServiceRate, busySamples, idleThroughput, arrivalRate, intervalSeconds: seconds, sustainedArrivalRate };
}

/** The group's total log-end offset, appended to the history (null when a partition's is unknown: the history restarts). */
function recordArrivals(input: ScalingInput, history: readonly ArrivalPoint[] | undefined): readonly ArrivalPoint[] {
  let logEnd = 0;
  for (const p of input.partitions) {
    if (p.logEndOffset === null) return [];
    logEnd += p.logEndOffset;
  }
  const kept = (history ?? []).filter((point) => point.time < input.time && point.logEnd <= logEnd);
  return [...kept, { time: input.time, logEnd }].slice(-ARRIVAL_HISTORY_POINTS);
}

/**
 * The backlog's arrival profile from the history: for each past cycle whose log end lies inside
 * the backlog, how many records from the head that was and how old. The head's age is the time
 * lag (the worst partition's), so a partition behind the others is not hidden by the total.
 */
function backlogProfileOf(history: readonly ArrivalPoint[], time: number, backlog: number, timeLag: number): BacklogPoint[] | undefined {
  const now = history[history.length - 1];
  if (now === undefined || now.time !== time || backlog <= 0) return undefined;
  const head = now.logEnd - backlog;
  const points: BacklogPoint[] = [{ records: 0, ageSeconds: timeLag }];
  for (const point of history) {
    if (point.logEnd <= head) continue;
    const age = (time - point.time) / 1000;
    if (age >= timeLag) continue; // older than the head: the time lag already says more
    points.push({ records: point.logEnd - head, ageSeconds: age });
  }
  // The history may not reach back to the head (it restarted): then nothing better than even arrivals is known.
  return points.length >= 2 ? points : undefined;
}

/**
 * A share group's backlog dated as if its records were the newest: the age of the record
 * `backlog` places behind the group's log end, from the arrival history (linear between cycles),
 * never older than `oldest`, the age of the oldest record not acknowledged. A record redelivered
 * keeps its share-partition's start offset, and `oldest`, old while the rest is acknowledged; the
 * count of what waits, dated from the arrivals, is what more members could work through. Beyond
 * the history the arrivals go on at λ; with nothing arriving nothing is known but `oldest`.
 * Members take records from every partition, so the group's total is the right scale.
 */
export function shareBacklogAge(history: readonly ArrivalPoint[], time: number, backlog: number, lambda: number, oldest: number | null): number {
  if (backlog <= 0) return 0;
  const now = history[history.length - 1];
  let age: number | null = null;
  if (now !== undefined && now.time === time) {
    const head = now.logEnd - backlog;
    for (let i = history.length - 2; i >= 0; i--) {
      const point = history[i] as ArrivalPoint;
      if (point.logEnd > head) continue;
      // The record at `head` arrived between this cycle and the next, whose log end passed it.
      const next = history[i + 1] as ArrivalPoint;
      const arrived = point.time + ((head - point.logEnd) / (next.logEnd - point.logEnd)) * (next.time - point.time);
      age = (time - arrived) / 1000;
      break;
    }
    if (age === null) {
      const first = history[0] as ArrivalPoint;
      age = lambda > 0 ? (time - first.time) / 1000 + (first.logEnd - head) / lambda : null;
    }
  } else if (lambda > 0) {
    age = backlog / lambda;
  }
  if (age === null) return oldest ?? 0;
  return oldest === null ? age : Math.min(age, oldest);
}

/** One candidate replica count, forecast. */
interface Assessment {
  readonly replicas: number;
  readonly pass: boolean;
  readonly peak: number | null;
  /** It keeps up and drains in time: only the SLO forecast (`peak`) can have failed it. */
  readonly keepsUp: boolean;
  readonly text: string;
}

function recommend(input: ScalingInput, config: RatePolicyConfig, previous: RatePolicyState): { recommendation: PolicyRecommendation; state: RatePolicyState } {
  const observed = observe(input, config, previous);
  const state: RatePolicyState = { ...observed, arrivalHistory: recordArrivals(input, previous.arrivalHistory) };
  const partitions = input.partitions.length;
  let backlog = 0;
  for (const p of input.partitions) {
    // No committed offset: the group starts at the log end (auto.offset.reset=latest), nothing behind.
    if (p.logEndOffset !== null && p.committedOffset !== null && p.logEndOffset > p.committedOffset) backlog += p.logEndOffset - p.committedOffset;
  }
  const lambdaKnown = input.produceRate ?? state.arrivalRate;
  const lambda = Math.max(0, lambdaKnown ?? 0);
  const { serviceRate: mu, source, busySamples } = serviceRateOf(state, config);
  const current = input.currentReplicas;
  if (lambdaKnown === null && backlog === 0) {
    // First cycle: no rate yet and nothing behind. Idling on missing data could stop a busy group.
    const recommendation: PolicyRecommendation = {
      policy: 'rate',
      replicas: current,
      active: true,
      metric: { name: 'required_rate', value: 0, target: mu * config.utilisation },
      arithmetic: `arrival rate unknown (first cycle), backlog 0: hold ${current}`,
      reason: 'waiting for a second cycle to measure the arrival rate',
      details: { arrivalRate: null, serviceRate: mu, serviceRateSource: source, busySamples, backlog },
    };
    return { recommendation, state };
  }
  const slo = config.timeLagSloSeconds;
  // A share group's members are not bound to partitions: none sits idle for want of one, the
  // broker's group.share.max.size caps them, and a member joining or leaving pauses nobody.
  const share = input.groupKind === 'share';
  const maxGroupSize = input.maxGroupSize ?? DEFAULT_SHARE_GROUP_MAX_SIZE;
  const rebalanceSeconds = share ? 0 : config.rebalanceSeconds;
  const usable = (consumersNeeded: number): number =>
    share ? Math.min(maxGroupSize, Math.max(0, Math.ceil(consumersNeeded - 1e-9))) : usableConsumers(consumersNeeded, partitions);
  const timeLag = share
    ? shareBacklogAge(state.arrivalHistory ?? [], input.time, backlog, lambda, input.timeLagSeconds)
    : (input.timeLagSeconds ?? (backlog > 0 && lambda > 0 ? backlog / lambda : 0));
  const active = backlog > 0 || lambda > 0;

  const interval = state.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS;
  const reaction = interval + config.startupSeconds + rebalanceSeconds;
  const horizon = config.forecastHorizonSeconds ?? reaction;
  // The formula: drain within the configured time, or within what is left of the SLO's budget (no
  // sooner than the group can be resized: asking for faster only buys replicas that come too late).
  const sloDrain = slo === null ? null : Math.max(reaction, slo - timeLag);
  const drainSeconds = Math.min(config.targetDrainSeconds ?? Number.POSITIVE_INFINITY, sloDrain ?? Number.POSITIVE_INFINITY);
  const perReplica = mu * config.utilisation;
  const required = lambda + backlog / drainSeconds;
  const needed = Math.ceil(required / perReplica - 1e-9);
  const formula = share ? usable(required / perReplica) : partitions > 0 ? usableConsumers(required / perReplica, partitions) : needed;

  const lambdaText = lambdaKnown === null ? 'λ unknown (0)' : `λ ${round(lambda)}/s`;
  const drainText = Number.isFinite(drainSeconds) ? `${round(drainSeconds)} s` : '∞';
  let arithmetic = `ceil((${lambdaText} + backlog ${backlog} / drain ${drainText}) / (μ ${round(mu, 2)}/s × ${config.utilisation})) = ceil(${round(required)} / ${round(perReplica, 2)}) = ${needed}`;
  if (share) {
    arithmetic +=
      formula < needed
        ? `; share group: at most ${maxGroupSize} members (group.share.max.size) -> ${formula}`
        : `; share group: members are not bound to the ${partitions} partitions, no partition cap`;
  } else if (partitions > 0 && formula !== needed) {
    arithmetic +=
      formula === partitions && needed >= partitions
        ? `; ${partitions} partitions: at most ${partitions} consumers can work`
        : `; ${partitions} partitions: ${needed} consumers leave one with ${Math.ceil(partitions / Math.max(1, needed))}, ${formula} hold at most ${Math.ceil(partitions / formula)} each -> ${formula}`;
  }

  // The forecast: what a count does over the reaction time (this cycle, a start-up, a rebalance),
  // with arrivals at λ / utilisation: the burst the utilisation headroom is meant for.
  const sustained = state.sustainedArrivalRate ?? lambda;
  const burst = Math.max(lambda, sustained) / config.utilisation;
  const members = share ? input.activeConsumers : Math.min(input.activeConsumers, Math.max(partitions, 1));
  const capacityOf = (replicas: number): number => (share ? Math.min(replicas, maxGroupSize) : effectiveConsumers(replicas, partitions)) * mu;
  // Room left under the SLO for the rebalance a later scale-up will cause.
  const sloTarget = slo === null ? null : slo - rebalanceSeconds;
  // A count below the sustained λ lets the backlog grow. It is allowed while its forecast stays a
  // whole reaction time (interval + start-up + rebalance) below the SLO: time lag grows at most one
  // second per second whatever arrives, so a surprise seen at the next cycle is met by replicas that
  // work before the SLO is reached. That margin replaces the utilisation headroom, so its forecast
  // takes arrivals as measured. It must hold for one SLO period at least (or one reaction time if
  // longer), so a group is not scaled in for a moment only to scale out again. An SLO shorter than
  // the reaction time leaves no such room: then every count must keep up.
  const deficitTarget = slo === null || slo - reaction <= 0 ? null : slo - reaction;
  const deficitHorizon = slo === null ? horizon : Math.max(horizon, slo);
  const steady = Math.max(lambda, state.sustainedArrivalRate ?? lambda);
  const backlogProfile = backlogProfileOf(state.arrivalHistory ?? [], input.time, backlog, timeLag);
  const dated = backlogProfile === undefined ? {} : { backlogProfile };
  const assess = (replicas: number): Assessment => {
    const capacity = capacityOf(replicas);
    const phases: ForecastPhase[] =
      replicas > members
        ? [
            { seconds: config.startupSeconds, capacity: capacityOf(members) },
            { seconds: rebalanceSeconds, capacity: 0 },
            { seconds: Number.POSITIVE_INFINITY, capacity },
          ]
        : replicas < members
          ? [
              { seconds: rebalanceSeconds, capacity: 0 },
              { seconds: Number.POSITIVE_INFINITY, capacity },
            ]
          : [{ seconds: Number.POSITIVE_INFINITY, capacity }];
    // A group must at least keep up: with λ, or with an SLO with the sustained λ (the SLO's slack
    // carries the bursts above it). When the SLO leaves room to fall behind, a count below the
    // arrivals of now falls behind now, whatever the average says: it is judged as such.
    const keepUpWith = sloTarget === null ? lambda : deficitTarget === null ? sustained : steady;
    const keepUpText = sloTarget === null ? 'λ' : deficitTarget === null ? 'sustained λ' : 'max(λ, sustained λ)';
    const keepsUp = capacity >= keepUpWith && (capacity > 0 || !active);
    // Or, with an SLO, it may fall behind (spend the SLO's slack, the backlog growing) while the
    // time lag stays a whole reaction time below the SLO (see `deficitTarget`).
    const spends = !keepsUp && deficitTarget !== null && capacity > 0;
    let pass = keepsUp || spends;
    let text = `${replicas}: capacity ${round(capacity)}/s ${keepsUp ? '>=' : '<'} ${keepUpText} ${round(keepUpWith)}/s`;
    let peak: number | null = null;
    if (keepsUp && sloTarget !== null) {
      const forecast = forecastTimeLag({ backlog, timeLagSeconds: timeLag, ...dated, arrivalRate: burst, phases, horizonSeconds: horizon });
      peak = forecast.peakTimeLagSeconds;
      const ok = peak <= sloTarget + 1e-9;
      pass &&= ok;
      text += `, peak time lag ${round(peak)} s ${ok ? '<=' : '>'} ${round(sloTarget)} s (SLO ${round(slo as number)} - rebalance ${round(rebalanceSeconds)})`;
    } else if (spends && deficitTarget !== null) {
      const forecast = forecastTimeLag({ backlog, timeLagSeconds: timeLag, ...dated, arrivalRate: steady, phases, horizonSeconds: deficitHorizon });
      peak = forecast.peakTimeLagSeconds;
      const ok = peak <= deficitTarget + 1e-9;
      pass &&= ok;
      text += `, spending the SLO: peak time lag over ${round(deficitHorizon)} s at ${round(steady)}/s ${round(peak)} s ${ok ? '<=' : '>'} ${round(deficitTarget)} s (SLO ${round(slo as number)} - reaction ${round(reaction)})`;
    }
    let drains = true;
    if (keepsUp && config.targetDrainSeconds !== null && (backlog > 0 || replicas !== members)) {
      const drain = forecastTimeLag({ backlog, timeLagSeconds: timeLag, ...dated, arrivalRate: lambda, phases, horizonSeconds: config.targetDrainSeconds });
      drains = drain.backlogAtHorizon <= 1e-6;
      pass &&= drains;
      text += `, ${drains ? 'caught up' : `${Math.round(drain.backlogAtHorizon)} records still behind`} after ${round(config.targetDrainSeconds)} s`;
    }
    return { replicas, pass, peak, keepsUp: keepsUp && drains, text };
  };
  const usableBetween = (from: number, to: number): number[] => {
    const counts: number[] = [];
    for (let n = Math.max(0, from); n <= to; n++) if (share ? n <= maxGroupSize : partitions === 0 || usableConsumers(n, partitions) === n) counts.push(n);
    return counts;
  };

  let replicas = formula;
  let chosen: Assessment | null = null;
  let reason = `${formula} replicas carry ${round(required)} records/s (λ plus draining ${backlog} records in ${drainText}) at ${config.utilisation * 100}% of μ ${round(mu, 2)}/s (${source})`;
  const forecastText =
    slo === null
      ? `catch-up forecast at λ over the drain time`
      : `forecast over ${round(horizon)} s, arrivals at max(λ, sustained λ)/${config.utilisation} = ${round(burst)}/s`;
  if (slo !== null && partitions > 0) {
    // The SLO's slack may carry the burst instead of idle headroom: the smallest count (from the one
    // that keeps up with the sustained λ) whose forecast stays inside the SLO, below `current` too.
    const floor = active ? (deficitTarget === null ? Math.max(1, usable(sustained / mu)) : 1) : 0;
    for (const n of usableBetween(floor, formula - 1)) {
      const assessment = assess(n);
      if (assessment.pass) {
        chosen = assessment;
        break;
      }
    }
    if (chosen !== null) {
      arithmetic += `; SLO budget, ${forecastText}: ${chosen.text} -> ${chosen.replicas}`;
      reason = `${chosen.replicas} replicas keep the time lag inside the ${round(slo)} s SLO even if arrivals rise to ${round(burst)}/s (formula: ${formula})`;
      replicas = chosen.replicas;
    }
  }
  if (chosen === null && formula < current && partitions > 0) {
    // Scale in only as far as the forecast says is safe; otherwise hold at the smallest safe count.
    let verdict = '';
    replicas = current;
    // A share group holds its members only where holding helps: a count that keeps up with a
    // forecast no worse than the current count's is safe, though both break the SLO. Their peak is
    // then the age the backlog has now, which more members cannot lower (a record redelivered).
    const holding = share ? assess(Math.min(current, maxGroupSize)) : null;
    let noWorse = false;
    for (const n of usableBetween(formula, current - 1)) {
      const assessment = assess(n);
      if (verdict === '') verdict = assessment.text;
      noWorse =
        !assessment.pass &&
        holding !== null &&
        holding.keepsUp &&
        assessment.keepsUp &&
        assessment.peak !== null &&
        holding.peak !== null &&
        assessment.peak <= holding.peak + 1e-9;
      if (assessment.pass || noWorse) {
        chosen = assessment;
        replicas = n;
        break;
      }
    }
    const safe = noWorse && holding !== null ? `no worse than holding ${current} (peak ${round(holding.peak ?? 0)} s)` : 'safe';
    arithmetic += `; scale-in ${current}->${formula}, ${forecastText}: ${chosen === null ? `${verdict}: unsafe, hold ${current}` : `${chosen.text}: ${safe} -> ${replicas}`}`;
    if (replicas !== formula) {
      reason =
        replicas === current
          ? `holding ${current}: scaling in is forecast to break the target`
          : `scaling in only to ${replicas}: fewer is forecast to break the target`;
    }
  }

  const recommendation: PolicyRecommendation = {
    policy: 'rate',
    replicas,
    active,
    metric: { name: 'required_rate', value: required, target: perReplica },
    arithmetic,
    reason: active ? reason : 'no backlog and nothing arriving',
    details: {
      arrivalRate: lambdaKnown === null ? null : lambda,
      serviceRate: mu,
      serviceRateSource: source,
      busySamples,
      backlog,
      timeLagSeconds: timeLag,
      drainSeconds: Number.isFinite(drainSeconds) ? drainSeconds : null,
      requiredRate: required,
      formulaReplicas: formula,
      sustainedArrivalRate: state.sustainedArrivalRate,
      forecastHorizonSeconds: horizon,
      forecastPeakTimeLagSeconds: chosen?.peak ?? null,
    },
  };
  return { recommendation, state };
}

export const ratePolicy: ScalingPolicy<RatePolicyConfig, RatePolicyState> = {
  name: 'rate',
  parseConfig: (raw) => parseRatePolicyConfig(raw),
  initialState: () => ({
    last: null,
    consumersBefore: null,
    learnedServiceRate: null,
    busySamples: 0,
    idleThroughput: null,
    arrivalRate: null,
    intervalSeconds: null,
    sustainedArrivalRate: null,
    arrivalHistory: [],
  }),
  recommend,
};
