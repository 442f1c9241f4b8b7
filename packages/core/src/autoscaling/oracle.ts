/**
 * The oracle: a controller that knows every future arrival and, cycle by cycle, asks for the fewest
 * replicas that keep the worst partition time lag within the SLO, in exactly the simulator's model
 * (service rate, start-up delay, rebalance pauses, partition assignment). Its replica-seconds are
 * the bound the online policies are compared with.
 *
 * Method: a greedy search forward over cycles, smallest replica count first, each candidate tested
 * on a copy of the model against the real future arrivals (exact lookahead), with backtracking.
 * - Candidates per cycle are the counts the partitions can use (1, 2, ..., P/2, P: see
 *   `usableConsumers`); any other count costs more and consumes no faster than the usable count
 *   below it.
 * - A candidate r passes when, asked for now and replaced next cycle by the largest count, the time
 *   lag stays within the SLO through the lookahead: so r never leads into a state no later decision
 *   can save (a replica asked for next cycle serves only after its start-up and the rebalance).
 * - A candidate below the current count must also hold alone through the lookahead: a scale-in that
 *   is undone within the lookahead pays start-ups and rebalances that cost more than it saves.
 * - If no candidate passes at a cycle, the search backtracks: the previous cycle takes its next
 *   larger passing candidate, up to `maxBacktrackCycles` back. Where even that fails (the load
 *   exceeds what P consumers can do), the cycle takes the count with the smallest peak time lag and
 *   the cycle is counted as infeasible.
 * - Candidates are found by binary search in three ranges (below the current count, the current
 *   count, above it), each monotone: more replicas never raise the time lag, except that a change
 *   costs a rebalance that keeping the count does not.
 * `runOracle` plans with one or more lookaheads (longer ones scale in less eagerly; twice the base
 * did best on the World Cup trace among 1x, 2x and 3x), replays each plan through `simulate` (so its
 * cost and time lag are measured by the same code as every policy's) and keeps the cheapest that
 * meets the SLO. This is a clairvoyant plan, not a proof of optimality (the exact optimum over queue
 * states is intractable), which is why the work bound (every record needs 1/μ of some replica's
 * time) is reported beside it as an absolute floor.
 */
import { usableConsumers } from './rate-policy.js';
import { ConsumerGroupModel, type ConsumerModel, type SimulationReport, scheduleController, simulate } from './simulator.js';

export interface OracleOptions {
  readonly model: ConsumerModel;
  readonly arrivals: readonly number[];
  readonly timeLagSloSeconds: number;
  /** Default 1. */
  readonly tickSeconds?: number;
  /** Default 15. */
  readonly intervalSeconds?: number;
  /** Default 1 (as the simulator). */
  readonly initialReplicas?: number;
  /** Default 1. */
  readonly minReplicas?: number;
  /** Default: the partition count (more would idle). */
  readonly maxReplicas?: number;
  /** Default: interval + start-up + rebalance + SLO (planOracle); twice that (runOracle). */
  readonly lookaheadSeconds?: number;
  /** How many cycles back the search may revise. Default 8. */
  readonly maxBacktrackCycles?: number;
}

export interface OraclePlan {
  /** Replicas to ask for at the end of each cycle (as a controller would return them). */
  readonly replicasPerCycle: number[];
  readonly lookaheadSeconds: number;
  /** Times the search went back to revise an earlier cycle. */
  readonly backtracks: number;
  /** Cycles where no count kept the SLO over the lookahead (best effort taken). */
  readonly infeasibleCycles: number;
  /** Σ records / μ over records that must be consumed: no schedule can use fewer replica-seconds. */
  readonly workBoundReplicaSeconds: number;
}

/** Revisions tried for one failing cycle before giving up on it (bounds the search). */
const MAX_BACKTRACKS_PER_FRONTIER = 64;

interface Frame {
  /** The model at the end of this cycle, before its decision. */
  readonly state: ConsumerGroupModel;
  /** Next candidate index to try. */
  next: number;
}

/** Plans the oracle's replica counts; see the file comment for the method. */
export function planOracle(options: OracleOptions): OraclePlan {
  const dt = options.tickSeconds ?? 1;
  const interval = options.intervalSeconds ?? 15;
  const perCycle = Math.round(interval / dt);
  if (!(perCycle >= 1) || Math.abs(perCycle * dt - interval) > 1e-9)
    throw new RangeError(`intervalSeconds (${interval}) must be a whole number of ticks (${dt} s)`);
  const { model, arrivals } = options;
  const slo = options.timeLagSloSeconds;
  if (!(slo > 0)) throw new RangeError(`timeLagSloSeconds must be > 0, got ${slo}`);
  const partitions = model.partitions;
  const minReplicas = options.minReplicas ?? 1;
  const maxReplicas = Math.min(options.maxReplicas ?? partitions, partitions);
  if (!Number.isInteger(minReplicas) || minReplicas < 0 || minReplicas > maxReplicas) {
    throw new RangeError(`minReplicas must be an integer between 0 and maxReplicas (${maxReplicas}), got ${minReplicas}`);
  }
  const lookahead = options.lookaheadSeconds ?? interval + model.startupSeconds + model.rebalanceSeconds + slo;
  const lookaheadTicks = Math.max(1, Math.ceil(lookahead / dt));
  const maxBacktrack = options.maxBacktrackCycles ?? 8;

  const candidates = [...new Set(Array.from({ length: maxReplicas - minReplicas + 1 }, (_, i) => usableConsumers(minReplicas + i, partitions)))]
    .filter((r) => r >= minReplicas && r <= maxReplicas)
    .sort((a, b) => a - b);
  if (minReplicas === 0 && !candidates.includes(0)) candidates.unshift(0);

  /**
   * Peak time lag from `state` when asking for `replicas` now and, if `rescueAfter` is given,
   * for `maxReplicas` that many ticks later; stops early once above the SLO unless `full`.
   */
  const probe = (state: ConsumerGroupModel, from: number, replicas: number, rescueAfter: number | null, full: boolean): number => {
    const trial = state.clone();
    trial.setReplicas(replicas);
    let peak = 0;
    const end = Math.min(arrivals.length, from + lookaheadTicks);
    for (let tick = from; tick < end; tick++) {
      if (rescueAfter !== null && tick === from + rescueAfter) trial.setReplicas(maxReplicas);
      const lag = trial.step(arrivals[tick] as number).timeLagSeconds;
      if (lag > peak) peak = lag;
      if (!full && peak > slo + 1e-9) break;
    }
    return peak;
  };
  /**
   * r passes when, after one cycle of r, the largest count could still take over within the SLO:
   * so whatever comes later, no cycle is a dead end (the largest count itself must hold).
   */
  const passes = (state: ConsumerGroupModel, from: number, replicas: number): boolean => {
    // A scale-in must also hold by itself for the whole lookahead: a dip shorter than that pays
    // start-ups (and rebalances) to come back up that cost more than the dip saves.
    if (replicas < state.replicas && probe(state, from, replicas, null, false) > slo + 1e-9) return false;
    return probe(state, from, replicas, replicas < maxReplicas ? perCycle : null, false) <= slo + 1e-9;
  };

  /**
   * Index of the smallest passing candidate from `frame.next`, by binary search: more replicas never
   * raise the time lag, except that any change costs a rebalance the current count does not. So
   * the counts below the current one, the current one, and those above are searched in that order,
   * each range being monotone.
   */
  const smallestPassing = (frame: Frame, from: number): number | null => {
    const current = frame.state.replicas;
    const firstIn = (lo: number, hi: number): number | null => {
      if (lo > hi || !passes(frame.state, from, candidates[hi] as number)) return null;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (passes(frame.state, from, candidates[mid] as number)) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    };
    let below = frame.next;
    while (below < candidates.length && (candidates[below] as number) < current) below++;
    const found = firstIn(frame.next, below - 1);
    if (found !== null) return found;
    let above = below;
    if (candidates[below] === current) {
      if (passes(frame.state, from, current)) return below;
      above = below + 1;
    }
    return firstIn(above, candidates.length - 1);
  };

  const cycles = Math.floor(arrivals.length / perCycle);
  const plan: number[] = [];
  const frames: (Frame | undefined)[] = [];
  let backtracks = 0;
  let infeasible = 0;
  let frontier = -1;
  let budget = MAX_BACKTRACKS_PER_FRONTIER;

  // Cycle 0's state: the first interval runs with the initial replicas, before any decision.
  const first = new ConsumerGroupModel(model, dt, options.initialReplicas ?? 1);
  for (let tick = 0; tick < Math.min(perCycle, arrivals.length); tick++) first.step(arrivals[tick] as number);
  frames[0] = { state: first, next: 0 };

  let cycle = 0;
  while (cycle < cycles) {
    const frame = frames[cycle] as Frame;
    const from = (cycle + 1) * perCycle;
    let chosen: number | null = null;
    const index = smallestPassing(frame, from);
    if (index !== null) {
      chosen = candidates[index] as number;
      frame.next = index + 1;
    }
    if (chosen === null) {
      frame.next = candidates.length;
      if (cycle > frontier) {
        frontier = cycle;
        budget = MAX_BACKTRACKS_PER_FRONTIER;
      }
      if (cycle > 0 && cycle - 1 >= frontier - maxBacktrack && frames[cycle - 1] !== undefined && budget > 0) {
        frames[cycle] = undefined;
        cycle--;
        plan.length = cycle;
        backtracks++;
        budget--;
        continue;
      }
      // Nothing keeps the SLO even with earlier cycles revised: least harm, fewest replicas on ties.
      let best = Number.POSITIVE_INFINITY;
      for (const r of candidates) {
        const peak = probe(frame.state, from, r, null, true);
        if (peak < best - 1e-9) {
          best = peak;
          chosen = r;
        }
      }
      infeasible++;
    }
    const replicas = chosen ?? maxReplicas;
    plan[cycle] = replicas;
    const next = frame.state.clone();
    next.setReplicas(replicas);
    for (let tick = from; tick < Math.min(arrivals.length, from + perCycle); tick++) next.step(arrivals[tick] as number);
    frames[cycle + 1] = { state: next, next: 0 };
    // Keep only what a backtrack can reach.
    if (cycle - maxBacktrack - 1 >= 0) frames[cycle - maxBacktrack - 1] = undefined;
    cycle++;
  }

  // Records arriving in the last SLO seconds need not be consumed within the run.
  let mustConsume = 0;
  const tail = Math.ceil(slo / dt);
  for (let tick = 0; tick < arrivals.length - tail; tick++) mustConsume += arrivals[tick] as number;
  return {
    replicasPerCycle: plan,
    lookaheadSeconds: lookaheadTicks * dt,
    backtracks,
    infeasibleCycles: infeasible,
    workBoundReplicaSeconds: mustConsume / model.serviceRatePerReplica,
  };
}

export interface OracleRun {
  readonly plan: OraclePlan;
  readonly report: SimulationReport;
  /** Every lookahead tried, with its replica-seconds and seconds over the SLO. */
  readonly tried: readonly { readonly lookaheadSeconds: number; readonly replicaSeconds: number; readonly secondsOverSlo: number }[];
}

/**
 * Plans with each lookahead (default: `lookaheadSeconds`, else twice interval + start-up +
 * rebalance + SLO), replays every plan through the simulator, and keeps the cheapest with the least
 * time over the SLO.
 */
export function runOracle(options: OracleOptions & { readonly lookaheads?: readonly number[] }): OracleRun {
  const base = (options.intervalSeconds ?? 15) + options.model.startupSeconds + options.model.rebalanceSeconds + options.timeLagSloSeconds;
  const lookaheads = options.lookaheads ?? (options.lookaheadSeconds !== undefined ? [options.lookaheadSeconds] : [2 * base]);
  let best: { plan: OraclePlan; report: SimulationReport } | null = null;
  const tried: OracleRun['tried'][number][] = [];
  for (const lookaheadSeconds of lookaheads) {
    const plan = planOracle({ ...options, lookaheadSeconds });
    const report = simulate({
      model: options.model,
      arrivals: options.arrivals,
      controller: scheduleController('oracle', plan.replicasPerCycle),
      tickSeconds: options.tickSeconds,
      intervalSeconds: options.intervalSeconds,
      timeLagSloSeconds: options.timeLagSloSeconds,
      initialReplicas: options.initialReplicas,
    });
    tried.push({ lookaheadSeconds: plan.lookaheadSeconds, replicaSeconds: report.replicaSeconds, secondsOverSlo: report.secondsOverSlo });
    if (
      best === null ||
      report.secondsOverSlo < best.report.secondsOverSlo ||
      (report.secondsOverSlo === best.report.secondsOverSlo && report.replicaSeconds < best.report.replicaSeconds)
    ) {
      best = { plan, report };
    }
  }
  if (best === null) throw new RangeError('runOracle: lookaheads must not be empty');
  return { ...best, tried };
}
