/**
 * bench/policy: the `rate` policy against KEDA's `threshold` and the clairvoyant oracle, on the
 * World Cup 98 trace in the simulator (same model, same HPA behavior, the live policy code).
 *
 * - rate: its defaults, told only what an operator knows: the SLO, the service rate as its prior
 *   (it learns its own from then on), start-up and rebalance times.
 * - threshold: lagThreshold (and KEDA's ensureEvenDistributionOfPartitions) tuned by search on this
 *   very trace: the setting with the fewest replica-seconds among those that meet the SLO (time
 *   over it within the error budget). Hindsight no operator has; it makes the baseline strong.
 * - oracle: knows the future; its replica-seconds are the bound (packages/core/src/autoscaling/oracle.ts).
 * Prints a table with ratios and writes bench/results/policy.json. SWEEP=1 repeats the comparison
 * for SLOs of 30 and 120 s.
 *
 *   npx tsx bench/policy/run.ts
 *   env: START, DAYS, COMPRESSION, SCALE, PARTITIONS, MU, STARTUP, REBALANCE, SLO, SLO_BUDGET, INTERVAL, SWEEP, RESULT
 */
import { mkdir, writeFile } from 'node:fs/promises';
import {
  type ConsumerModel,
  defaultBehavior,
  loadTrace,
  policyController,
  type RatePolicyConfig,
  ratePolicy,
  runOracle,
  type ScalingController,
  type SimulationReport,
  simulate,
  thresholdPolicy,
} from '@lagscale/core';

const env = (name: string, fallback: number): number => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const TRACE = new URL('../../data/traces/worldcup98-per-minute.csv.gz', import.meta.url).pathname;

/** The tournament's run-up and first days: quiet nights, daily peaks, match-day spikes. */
const START = process.env.START ?? '1998-06-01 00:00:00';
const DAYS = env('DAYS', 14);
/** Trace seconds per simulated second: 10 replays one trace minute in 6 s. */
const COMPRESSION = env('COMPRESSION', 10);
const SCALE = env('SCALE', 0.04);
const MODEL: ConsumerModel = {
  partitions: env('PARTITIONS', 48),
  serviceRatePerReplica: env('MU', 50),
  startupSeconds: env('STARTUP', 20),
  rebalanceSeconds: env('REBALANCE', 5),
};
const SLO = env('SLO', 60);
/**
 * Share of the run the time lag may spend above the SLO and still meet it. Default 0: the goal
 * compares at "no more SLO violation", and rate has none, so the threshold may have none either.
 */
const SLO_BUDGET = env('SLO_BUDGET', 0);
const INTERVAL = env('INTERVAL', 15);
const INITIAL_REPLICAS = 1;
/** File under bench/results/: policy.json for the main window, another name for a held-out one. */
const RESULT = process.env.RESULT ?? 'policy.json';
/** The topic `simulate` names its partitions with. */
const SIMULATED_TOPIC = 'simulated';
/** KEDA's default lagThreshold: what a ScaledObject without one runs. */
const KEDA_DEFAULT_LAG_THRESHOLD = 10;

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function summary(report: SimulationReport) {
  return {
    replicaSeconds: report.replicaSeconds,
    meanReplicas: report.meanReplicas,
    peakReplicas: report.peakReplicas,
    peakTimeLagSeconds: report.peakTimeLagSeconds,
    p99TimeLagSeconds: report.p99TimeLagSeconds,
    secondsOverSlo: report.secondsOverSlo,
    scaleEvents: report.scaleEvents,
    finalBacklog: report.finalBacklog,
  };
}

interface ThresholdChoice {
  readonly lagThreshold: number;
  readonly even: boolean;
  readonly report: SimulationReport;
}

interface Comparison {
  readonly slo: number;
  readonly sloBudgetSeconds: number;
  readonly rateConfig: RatePolicyConfig;
  readonly rate: SimulationReport;
  readonly threshold: ThresholdChoice;
  readonly thresholdMeetsSlo: boolean;
  readonly thresholdSearch: { setting: string; replicaSeconds: number; secondsOverSlo: number; meetsSlo: boolean }[];
  readonly oracle: ReturnType<typeof runOracle>;
  /** KEDA's default lagThreshold (10), untuned: what most users run. */
  readonly kedaDefault: SimulationReport;
}

function compare(arrivals: readonly number[], slo: number, elapsed: () => string): Comparison {
  const sloBudgetSeconds = SLO_BUDGET * arrivals.length;
  const behavior = defaultBehavior({ minReplicas: 1, maxReplicas: MODEL.partitions });
  const run = (controller: ScalingController): SimulationReport =>
    simulate({ model: MODEL, arrivals, controller, intervalSeconds: INTERVAL, timeLagSloSeconds: slo, initialReplicas: INITIAL_REPLICAS });
  const meets = (report: SimulationReport): boolean => report.secondsOverSlo <= sloBudgetSeconds;

  const rateConfig = ratePolicy.parseConfig({
    timeLagSloSeconds: slo,
    serviceRatePerReplica: MODEL.serviceRatePerReplica,
    startupSeconds: MODEL.startupSeconds,
    rebalanceSeconds: MODEL.rebalanceSeconds,
  });
  const rate = run(policyController({ policy: ratePolicy, config: rateConfig, behavior }));
  log(`SLO ${slo} s: rate ${rate.replicaSeconds} replica-s (${elapsed()})`);

  // Threshold: a doubling sweep, then a finer one around the cheapest setting that meets the SLO.
  const tried = new Map<string, ThresholdChoice>();
  const attempt = (lagThreshold: number, even: boolean): ThresholdChoice => {
    const key = `${lagThreshold}/${even}`;
    const known = tried.get(key);
    if (known !== undefined) return known;
    // The simulator's one topic: KEDA needs it named for ensureEvenDistributionOfPartitions.
    const config = thresholdPolicy.parseConfig({ lagThreshold, ensureEvenDistributionOfPartitions: even, topic: SIMULATED_TOPIC });
    const choice = { lagThreshold, even, report: run(policyController({ policy: thresholdPolicy, config, behavior })) };
    tried.set(key, choice);
    return choice;
  };
  let best: ThresholdChoice | null = null;
  const consider = (lagThreshold: number, even: boolean): void => {
    const choice = attempt(lagThreshold, even);
    if (meets(choice.report) && (best === null || choice.report.replicaSeconds < best.report.replicaSeconds)) best = choice;
  };
  for (const even of [false, true]) {
    for (let lagThreshold = 25; lagThreshold <= 51_200; lagThreshold *= 2) consider(lagThreshold, even);
  }
  const coarse = best as ThresholdChoice | null;
  if (coarse !== null) {
    for (const even of [false, true]) {
      for (let step = -4; step <= 4; step++) consider(Math.round(coarse.lagThreshold * 2 ** (step / 5)), even);
    }
  }
  // When no setting meets the SLO, the one closest to it (fewest seconds over, then fewest replica-seconds) stands in.
  let closest: ThresholdChoice | null = null;
  for (const choice of tried.values()) {
    const r = choice.report;
    if (
      closest === null ||
      r.secondsOverSlo < closest.report.secondsOverSlo ||
      (r.secondsOverSlo === closest.report.secondsOverSlo && r.replicaSeconds < closest.report.replicaSeconds)
    ) {
      closest = choice;
    }
  }
  const threshold = (best ?? closest) as ThresholdChoice;
  const kedaDefault = attempt(KEDA_DEFAULT_LAG_THRESHOLD, false).report;
  log(`SLO ${slo} s: threshold search, ${tried.size} runs (${elapsed()})`);

  const oracle = runOracle({ model: MODEL, arrivals, timeLagSloSeconds: slo, intervalSeconds: INTERVAL, initialReplicas: INITIAL_REPLICAS });
  log(`SLO ${slo} s: oracle ${oracle.report.replicaSeconds} replica-s (${elapsed()})`);
  return {
    slo,
    sloBudgetSeconds,
    rateConfig,
    rate,
    threshold,
    thresholdMeetsSlo: best !== null,
    thresholdSearch: [...tried.values()].map((c) => ({
      setting: `lagThreshold ${c.lagThreshold}${c.even ? ', even' : ''}`,
      replicaSeconds: c.report.replicaSeconds,
      secondsOverSlo: c.report.secondsOverSlo,
      meetsSlo: meets(c.report),
    })),
    oracle,
    kedaDefault,
  };
}

/** Issue 12's goals: rate at most the tuned threshold's replica-seconds with 0 s over the SLO, within 1.15x of the oracle, a third of the threshold's scale events. */
function ratios(c: Comparison) {
  const rateVsThreshold = c.rate.replicaSeconds / c.threshold.report.replicaSeconds;
  const rateVsOracle = c.rate.replicaSeconds / c.oracle.report.replicaSeconds;
  const eventsVsThreshold = c.rate.scaleEvents / Math.max(1, c.threshold.report.scaleEvents);
  return {
    rateVsThreshold,
    rateVsOracle,
    rateVsKedaDefault: c.rate.replicaSeconds / c.kedaDefault.replicaSeconds,
    eventsVsThreshold,
    oracleVsWorkBound: c.oracle.report.replicaSeconds / c.oracle.plan.workBoundReplicaSeconds,
    rateMeetsSlo: c.rate.secondsOverSlo <= c.sloBudgetSeconds,
    goalThreshold: rateVsThreshold <= 1 && c.rate.secondsOverSlo === 0,
    goalOracle: rateVsOracle <= 1.15,
    goalEvents: eventsVsThreshold <= 1 / 3,
  };
}

function table(c: Comparison): string[] {
  const out: string[] = [];
  out.push(
    `${'policy'.padEnd(10)} ${'replica-s'.padStart(10)} ${'mean'.padStart(6)} ${'peak TL'.padStart(8)} ${'p99 TL'.padStart(7)} ${'s > SLO'.padStart(8)} ${'events'.padStart(7)} ${'rate/x'.padStart(7)}  setting`,
  );
  const rows: [string, SimulationReport, string][] = [
    ['rate', c.rate, 'defaults (SLO, prior μ, start-up, rebalance)'],
    [
      'threshold',
      c.threshold.report,
      `lagThreshold ${c.threshold.lagThreshold}${c.threshold.even ? ', even distribution' : ''}: ${c.thresholdMeetsSlo ? 'cheapest that meets the SLO' : 'NONE meets the SLO; closest'} of ${c.thresholdSearch.length}`,
    ],
    ['oracle', c.oracle.report, `clairvoyant, lookahead ${c.oracle.plan.lookaheadSeconds} s`],
    ['keda-10', c.kedaDefault, `threshold at KEDA's default lagThreshold ${KEDA_DEFAULT_LAG_THRESHOLD}, untuned`],
  ];
  for (const [name, r, setting] of rows) {
    out.push(
      `${name.padEnd(10)} ${r.replicaSeconds.toFixed(0).padStart(10)} ${r.meanReplicas.toFixed(2).padStart(6)} ${`${r.peakTimeLagSeconds} s`.padStart(8)} ${`${r.p99TimeLagSeconds} s`.padStart(7)} ${String(r.secondsOverSlo).padStart(8)} ${String(r.scaleEvents).padStart(7)} ${(c.rate.replicaSeconds / r.replicaSeconds).toFixed(3).padStart(7)}  ${setting}`,
    );
  }
  out.push(`work bound (records / μ): ${c.oracle.plan.workBoundReplicaSeconds.toFixed(0)} replica-s`);
  return out;
}

function goalLine(c: Comparison, r: ReturnType<typeof ratios>): string {
  const verdict = (met: boolean): string => (met ? 'met' : 'NOT met');
  return (
    `goals: rate <= 1.0x threshold with 0 s over the SLO: ${verdict(r.goalThreshold)} (${r.rateVsThreshold.toFixed(3)}, ${c.rate.secondsOverSlo} s over); ` +
    `<= 1.15x oracle: ${verdict(r.goalOracle)} (${r.rateVsOracle.toFixed(3)}); ` +
    `<= 1/3 of the threshold's scale events: ${verdict(r.goalEvents)} (${c.rate.scaleEvents} vs ${c.threshold.report.scaleEvents}); ` +
    `oracle/work bound ${r.oracleVsWorkBound.toFixed(3)}; rate/KEDA default ${r.rateVsKedaDefault.toFixed(3)}`
  );
}

async function main(): Promise<void> {
  const started = performance.now();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  const trace = await loadTrace(TRACE, { start: START, durationSeconds: DAYS * 86_400, compression: COMPRESSION, scale: SCALE });
  const arrivals = trace.perTick;
  log(
    `trace: ${arrivals.length} s simulated, ${trace.totalRecords} records, peak ${trace.peakPerTick}/s (group capacity ${MODEL.partitions * MODEL.serviceRatePerReplica}/s)`,
  );

  const main = compare(arrivals, SLO, elapsed);
  const sweep = process.env.SWEEP ? [30, 120].filter((slo) => slo !== SLO).map((slo) => compare(arrivals, slo, elapsed)) : [];

  const r = ratios(main);
  const out: string[] = [];
  out.push(
    `policy bench: WorldCup98 from ${START}, ${DAYS} days at ${COMPRESSION}x (${arrivals.length} s), x${SCALE} (${trace.totalRecords} records, peak ${trace.peakPerTick}/s); ` +
      `P=${MODEL.partitions}, μ=${MODEL.serviceRatePerReplica}/s, start-up ${MODEL.startupSeconds} s, rebalance ${MODEL.rebalanceSeconds} s, interval ${INTERVAL} s; ` +
      `SLO ${SLO} s met = at most ${main.sloBudgetSeconds.toFixed(0)} s over (${SLO_BUDGET * 100}%); HPA default behavior for both policies`,
  );
  out.push(...table(main));
  out.push(goalLine(main, r));
  for (const c of sweep) {
    const s = ratios(c);
    out.push('', `SLO ${c.slo} s:`, ...table(c));
    out.push(goalLine(c, s));
  }
  process.stdout.write(`${out.join('\n')}\n`);

  const record = (c: Comparison) => ({
    timeLagSloSeconds: c.slo,
    sloBudgetSeconds: c.sloBudgetSeconds,
    rate: { config: c.rateConfig, ...summary(c.rate) },
    threshold: {
      meetsSlo: c.thresholdMeetsSlo,
      lagThreshold: c.threshold.lagThreshold,
      ensureEvenDistributionOfPartitions: c.threshold.even,
      ...summary(c.threshold.report),
      search: c.thresholdSearch,
    },
    oracle: {
      ...summary(c.oracle.report),
      lookaheadSeconds: c.oracle.plan.lookaheadSeconds,
      backtracks: c.oracle.plan.backtracks,
      infeasibleCycles: c.oracle.plan.infeasibleCycles,
    },
    kedaDefault: { lagThreshold: KEDA_DEFAULT_LAG_THRESHOLD, ...summary(c.kedaDefault) },
    workBoundReplicaSeconds: c.oracle.plan.workBoundReplicaSeconds,
    ratios: ratios(c),
  });
  const result = {
    benchmark: 'policy',
    date: new Date().toISOString(),
    setup: {
      trace: {
        file: 'worldcup98-per-minute.csv',
        start: START,
        days: DAYS,
        compression: COMPRESSION,
        scale: SCALE,
        ticks: arrivals.length,
        records: trace.totalRecords,
        peakPerSecond: trace.peakPerTick,
      },
      model: MODEL,
      intervalSeconds: INTERVAL,
      sloBudget: SLO_BUDGET,
      behavior: 'defaultBehavior({ minReplicas: 1, maxReplicas: partitions }): HPA defaults, scale-down stabilization 300 s',
      initialReplicas: INITIAL_REPLICAS,
    },
    ...record(main),
    sweep: sweep.map(record),
    runSeconds: (performance.now() - started) / 1000,
  };
  await mkdir(new URL('../results/', import.meta.url), { recursive: true });
  await writeFile(new URL(`../results/${RESULT}`, import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
}

await main();
