/**
 * What happens between a policy's recommendation and the replica count written to the target:
 * the Kubernetes HPA's `behavior` (autoscaling/v2; pkg/controller/podautoscaler/horizontal.go:
 * stabilizeRecommendationWithBehaviors, convertDesiredReplicasWithBehaviorRate, storeScaleEvent)
 * and KEDA's scale executor around it (pkg/scaling/executor/scale_scaledobjects.go: activation
 * from zero/idle, idle after cooldown; pkg/fallback: fallback replicas; paused annotations).
 *
 * Pure: state in, state out. The state assumes the returned decision is carried out (as the HPA
 * records a scale event only after a successful update); a caller whose write fails should keep
 * the previous state.
 */
import { type ConfigObject, checkInteger, joinPath, readChoice, readInteger, readObject, rejectUnknownKeys } from './config-reader.js';
import {
  type BehaviorConfig,
  type BehaviorState,
  type PolicyRecommendation,
  type ScalingAction,
  ScalingConfigError,
  type ScalingDecision,
  type ScalingInput,
  type ScalingRules,
} from './types.js';

type ScalingPolicyRule = ScalingRules['policies'][number];
type Direction = 'scaleUp' | 'scaleDown';

/** HPA limits (pkg/apis/autoscaling/validation). */
export const MAX_PERIOD_SECONDS = 1800;
export const MAX_STABILIZATION_WINDOW_SECONDS = 3600;

/** HPA's defaults (pkg/apis/autoscaling/v2/defaults.go): up to 4 pods or +100% per 15 s, whichever is more. */
export const HPA_SCALE_UP_DEFAULT: ScalingRules = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
};

/** Down: −100% per 15 s; the 300 s window is the controller's --horizontal-pod-autoscaler-downscale-stabilization default. */
export const HPA_SCALE_DOWN_DEFAULT: ScalingRules = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

export interface ScalingRulesInput {
  readonly stabilizationWindowSeconds?: number;
  readonly selectPolicy?: ScalingRules['selectPolicy'];
  readonly policies?: ScalingRules['policies'];
}

export interface BehaviorConfigInput {
  readonly minReplicas?: number;
  readonly maxReplicas?: number;
  readonly idleReplicas?: number | null;
  readonly cooldownSeconds?: number;
  readonly scaleUp?: ScalingRulesInput;
  readonly scaleDown?: ScalingRulesInput;
  readonly fallback?: BehaviorConfig['fallback'];
  readonly paused?: boolean | number;
}

/**
 * Fills defaults: minReplicas 1 (the HPA's; KEDA's minReplicaCount defaults to 0, here scale to
 * zero is asked for explicitly with minReplicas 0 or idleReplicas 0), maxReplicas 100 (KEDA),
 * cooldown 300 s (KEDA), no idle, no fallback, not paused. Scaling rules are filled field by field
 * as the API server does: a given `policies` list replaces the default list entirely.
 */
export function defaultBehavior(partial: BehaviorConfigInput = {}): BehaviorConfig {
  return {
    minReplicas: partial.minReplicas ?? 1,
    maxReplicas: partial.maxReplicas ?? 100,
    idleReplicas: partial.idleReplicas ?? null,
    cooldownSeconds: partial.cooldownSeconds ?? 300,
    scaleUp: fillRules(partial.scaleUp, HPA_SCALE_UP_DEFAULT),
    scaleDown: fillRules(partial.scaleDown, HPA_SCALE_DOWN_DEFAULT),
    fallback: partial.fallback ?? null,
    paused: partial.paused ?? false,
  };
}

function fillRules(partial: ScalingRulesInput | undefined, defaults: ScalingRules): ScalingRules {
  return {
    stabilizationWindowSeconds: partial?.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds,
    selectPolicy: partial?.selectPolicy ?? defaults.selectPolicy,
    policies: partial?.policies ?? defaults.policies,
  };
}

const BEHAVIOR_KEYS = ['minReplicas', 'maxReplicas', 'idleReplicas', 'cooldownSeconds', 'scaleUp', 'scaleDown', 'fallback', 'paused'] as const;

/**
 * Validates raw behavior config (YAML/JSON) with the HPA's and KEDA's rules and fills defaults.
 * Throws ScalingConfigError listing every problem with its path, e.g.
 * `scaleUp.policies.0.periodSeconds: must be between 1 and 1800`. `path` prefixes every path.
 */
export function parseBehaviorConfig(raw: unknown, path = ''): BehaviorConfig {
  const problems: string[] = [];
  const obj = readObject(raw, path, problems);
  if (obj === null) throw new ScalingConfigError(problems);
  rejectUnknownKeys(obj, BEHAVIOR_KEYS, path, problems);
  const minReplicas = readInteger(obj, 'minReplicas', path, problems, 1, { min: 0 });
  const maxReplicas = readInteger(obj, 'maxReplicas', path, problems, 100, { min: 1 });
  const idleReplicas =
    obj.idleReplicas === undefined || obj.idleReplicas === null ? null : checkInteger(obj.idleReplicas, joinPath(path, 'idleReplicas'), problems, { min: 0 });
  const cooldownSeconds = readInteger(obj, 'cooldownSeconds', path, problems, 300, { min: 0 });
  const scaleUp = readRules(obj.scaleUp, joinPath(path, 'scaleUp'), problems, HPA_SCALE_UP_DEFAULT);
  const scaleDown = readRules(obj.scaleDown, joinPath(path, 'scaleDown'), problems, HPA_SCALE_DOWN_DEFAULT);
  const fallback = readFallback(obj.fallback, joinPath(path, 'fallback'), problems);
  const paused = readPaused(obj.paused, joinPath(path, 'paused'), problems);

  if (minReplicas > maxReplicas) problems.push(`${joinPath(path, 'maxReplicas')}: must be >= minReplicas (${minReplicas}), got ${maxReplicas}`);
  // KEDA (CheckReplicaCountBoundsAreValid) compares with the HPA's minimum, which is at least 1.
  if (idleReplicas !== null && idleReplicas >= Math.max(minReplicas, 1)) {
    problems.push(`${joinPath(path, 'idleReplicas')}: must be less than minReplicas (${Math.max(minReplicas, 1)}, at least 1), got ${idleReplicas}`);
  }
  if (problems.length > 0) throw new ScalingConfigError(problems);
  return { minReplicas, maxReplicas, idleReplicas, cooldownSeconds, scaleUp, scaleDown, fallback, paused };
}

function readRules(raw: unknown, path: string, problems: string[], defaults: ScalingRules): ScalingRules {
  const obj = readObject(raw, path, problems);
  if (obj === null) return defaults;
  rejectUnknownKeys(obj, ['stabilizationWindowSeconds', 'selectPolicy', 'policies'], path, problems);
  const stabilizationWindowSeconds = readInteger(obj, 'stabilizationWindowSeconds', path, problems, defaults.stabilizationWindowSeconds, {
    min: 0,
    max: MAX_STABILIZATION_WINDOW_SECONDS,
    message: `must be between 0 and ${MAX_STABILIZATION_WINDOW_SECONDS}`,
  });
  const selectPolicy = readChoice(obj, 'selectPolicy', path, problems, ['Max', 'Min', 'Disabled'] as const, defaults.selectPolicy);
  let policies = defaults.policies;
  const rawPolicies = obj.policies;
  const at = joinPath(path, 'policies');
  if (rawPolicies !== undefined) {
    if (!Array.isArray(rawPolicies) || rawPolicies.length === 0) {
      problems.push(`${at}: must be a non-empty list of { type: Pods|Percent, value, periodSeconds }`);
    } else {
      policies = rawPolicies.map((item, index) => readPolicy(item, joinPath(at, index), problems));
    }
  }
  return { stabilizationWindowSeconds, selectPolicy, policies };
}

function readPolicy(raw: unknown, path: string, problems: string[]): ScalingPolicyRule {
  const fallback: ScalingPolicyRule = { type: 'Pods', value: 1, periodSeconds: 15 };
  const obj = readObject(raw ?? null, path, problems);
  if (obj === null) return fallback;
  rejectUnknownKeys(obj, ['type', 'value', 'periodSeconds'], path, problems);
  for (const key of ['type', 'value', 'periodSeconds']) {
    if (obj[key] === undefined) problems.push(`${joinPath(path, key)}: required`);
  }
  const type = readChoice(obj, 'type', path, problems, ['Pods', 'Percent'] as const, 'Pods');
  const value = readInteger(obj, 'value', path, problems, 1, { min: 1, message: 'must be greater than zero' });
  const periodSeconds = readInteger(obj, 'periodSeconds', path, problems, 15, {
    min: 1,
    max: MAX_PERIOD_SECONDS,
    message: `must be between 1 and ${MAX_PERIOD_SECONDS}`,
  });
  return { type, value, periodSeconds };
}

function readFallback(raw: unknown, path: string, problems: string[]): BehaviorConfig['fallback'] {
  if (raw === undefined || raw === null) return null;
  const obj: ConfigObject | null = readObject(raw, path, problems);
  if (obj === null) return null;
  rejectUnknownKeys(obj, ['failureThreshold', 'replicas'], path, problems);
  for (const key of ['failureThreshold', 'replicas']) {
    if (obj[key] === undefined) problems.push(`${joinPath(path, key)}: required`);
  }
  return {
    failureThreshold: readInteger(obj, 'failureThreshold', path, problems, 3, { min: 0 }),
    replicas: readInteger(obj, 'replicas', path, problems, 1, { min: 0 }),
  };
}

/** true/false, or a replica count to hold (KEDA's autoscaling.keda.sh/paused-replicas; strings accepted as annotations are). */
function readPaused(raw: unknown, path: string, problems: string[]): boolean | number {
  if (raw === undefined) return false;
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string' && /^(true|false)$/i.test(raw.trim())) return raw.trim().toLowerCase() === 'true';
  const count = checkInteger(raw, path, problems, { min: 0, message: 'must be true, false or a replica count >= 0' });
  return count ?? false;
}

export function initialBehaviorState(): BehaviorState {
  return { recommendations: [], scaleEvents: [], lastActiveTime: null, consecutiveFailures: 0 };
}

export interface BehaviorInput {
  /** Milliseconds since the epoch (simulated time in the simulator). */
  readonly time: number;
  readonly currentReplicas: number;
  /** Null: the metric could not be read this cycle. */
  readonly recommendation: Pick<PolicyRecommendation, 'replicas' | 'active'> | null;
}

export type BehaviorDecision = Pick<ScalingDecision, 'desiredReplicas' | 'action' | 'adjustments' | 'reason'>;

export interface BehaviorResult {
  readonly decision: BehaviorDecision;
  readonly state: BehaviorState;
}

function policyLabel(direction: Direction, policy: ScalingPolicyRule): string {
  return `${direction} policy ${policy.type} ${policy.value} per ${policy.periodSeconds}s`;
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? String(s) : s.toFixed(1);
}

/** Replicas added (sign +1) or removed (sign −1) by events strictly inside the last periodSeconds. */
function changeInPeriod(events: BehaviorState['scaleEvents'], now: number, periodSeconds: number, sign: 1 | -1): number {
  const cutoff = now - periodSeconds * 1000;
  let sum = 0;
  for (const event of events) {
    if (event.time > cutoff && Math.sign(event.change) === sign) sum += Math.abs(event.change);
  }
  return sum;
}

/**
 * The rate limit of one direction. Each policy measures from the replica count at the start of its
 * period: current − replicas added + replicas removed inside the period, so a scale-up earlier in
 * the period uses up the budget and a scale-down in between gives it back.
 * Up: Pods → start + value, Percent → ceil(start × (1 + value/100)) (rounded up so 1 replica can grow).
 * Down: Pods → start − value, Percent → trunc(start × (1 − value/100)) (so the removal rounds up).
 * selectPolicy Max picks the policy allowing the biggest change, Min the smallest; Disabled: none.
 */
function rateLimit(
  direction: Direction,
  current: number,
  rules: ScalingRules,
  events: BehaviorState['scaleEvents'],
  now: number,
): { limit: number; label: string } {
  if (rules.selectPolicy === 'Disabled') return { limit: current, label: `${direction} disabled` };
  const up = direction === 'scaleUp';
  // For scale-up the biggest change is the highest limit; for scale-down it is the lowest.
  const wantHigh = up === (rules.selectPolicy === 'Max');
  let best: { limit: number; label: string } | null = null;
  for (const policy of rules.policies) {
    const added = changeInPeriod(events, now, policy.periodSeconds, 1);
    const removed = changeInPeriod(events, now, policy.periodSeconds, -1);
    const periodStart = current - added + removed;
    let proposed: number;
    if (up) {
      proposed = policy.type === 'Pods' ? periodStart + policy.value : Math.ceil(periodStart * (1 + policy.value / 100));
    } else {
      proposed = policy.type === 'Pods' ? periodStart - policy.value : Math.trunc(periodStart * (1 - policy.value / 100));
    }
    if (best === null || (wantHigh ? proposed > best.limit : proposed < best.limit)) best = { limit: proposed, label: policyLabel(direction, policy) };
  }
  return best ?? { limit: current, label: `${direction} has no policy` };
}

/**
 * Records a replica change as the HPA does: an event older than the longest policy period of its
 * direction is outdated and the last such one is overwritten in place; otherwise the event is
 * appended. (Outdated events of one direction still count for the other direction's longer
 * periods until overwritten, exactly as in the HPA.)
 */
function storeScaleEvent(events: BehaviorState['scaleEvents'], now: number, change: number, rules: ScalingRules): BehaviorState['scaleEvents'] {
  const longest = rules.policies.reduce((m, p) => Math.max(m, p.periodSeconds), 0);
  const cutoff = now - longest * 1000;
  const sign = Math.sign(change);
  let outdated = -1;
  events.forEach((event, index) => {
    if (Math.sign(event.change) === sign && event.time < cutoff) outdated = index;
  });
  const next = events.slice();
  if (outdated >= 0) next[outdated] = { time: now, change };
  else next.push({ time: now, change });
  return next;
}

interface HpaStep {
  readonly desired: number;
  readonly adjustments: string[];
  readonly recommendations: BehaviorState['recommendations'];
  readonly scaleEvents: BehaviorState['scaleEvents'];
}

/** One HPA reconcile for a target with currentReplicas > 0. */
function hpaStep(now: number, current: number, asked: number, config: BehaviorConfig, state: BehaviorState): HpaStep {
  // KEDA gives the HPA minReplicas = max(minReplicaCount, 1); going below that is KEDA's job (idle).
  const hpaMin = Math.max(config.minReplicas, 1);
  const max = config.maxReplicas;
  const adjustments: string[] = [];
  // The HPA seeds its recommendation history with the current count the first time it sees the
  // target, so a freshly started controller waits a whole scale-down window before scaling in.
  let recommendations = state.recommendations.length === 0 ? [{ time: now, replicas: current }] : state.recommendations;
  let desired: number;
  if (current > max) {
    // Out of range: the HPA sets the bound directly, without looking at metrics or behavior.
    desired = max;
    if (asked !== desired) adjustments.push(`max ${max} (current ${current} above it): ${asked} -> ${desired}`);
  } else if (current < hpaMin) {
    desired = hpaMin;
    if (asked !== desired) adjustments.push(`min ${hpaMin} (current ${current} below it): ${asked} -> ${desired}`);
  } else {
    const stabilized = stabilize(now, current, asked, config, recommendations);
    recommendations = stabilized.recommendations;
    desired = stabilized.replicas;
    if (desired !== asked) {
      const upward = asked > current;
      const window = upward ? config.scaleUp.stabilizationWindowSeconds : config.scaleDown.stabilizationWindowSeconds;
      const label = `${upward ? 'scaleUp' : 'scaleDown'} stabilization ${window}s`;
      adjustments.push(desired === current ? `${label} keeps ${current}` : `${label}: ${asked} -> ${desired}`);
    }
    // Bounds and rate limits apply only in the direction of the change.
    if (desired > current) {
      const rate = rateLimit('scaleUp', current, config.scaleUp, state.scaleEvents, now);
      // A limit below the current count means the period's budget is spent: hold, never shrink.
      const limit = Math.max(rate.limit, current);
      const rateLabel = rate.limit < current ? `${rate.label} (period budget used)` : rate.label;
      const [allowed, label] = max > limit ? [limit, rateLabel] : [max, `max ${max}`];
      if (desired > allowed) {
        adjustments.push(`${label}: ${desired} -> ${allowed}`);
        desired = allowed;
      }
    } else if (desired < current) {
      const rate = rateLimit('scaleDown', current, config.scaleDown, state.scaleEvents, now);
      const limit = Math.min(rate.limit, current);
      const rateLabel = rate.limit > current ? `${rate.label} (period budget used)` : rate.label;
      const [allowed, label] = hpaMin < limit ? [limit, rateLabel] : [hpaMin, `min ${hpaMin}`];
      if (desired < allowed) {
        adjustments.push(`${label}: ${desired} -> ${allowed}`);
        desired = allowed;
      }
    }
  }
  const scaleEvents =
    desired === current ? state.scaleEvents : storeScaleEvent(state.scaleEvents, now, desired - current, desired > current ? config.scaleUp : config.scaleDown);
  return { desired, adjustments, recommendations, scaleEvents };
}

/**
 * The HPA's stabilization: the lowest recommendation inside the scale-up window bounds how far up
 * it goes, the highest inside the scale-down window bounds how far down, starting from the current
 * count ("inside" = strictly newer than now − window). The unstabilized recommendation is then
 * recorded, overwriting the last entry older than both windows, else appended.
 */
function stabilize(
  now: number,
  current: number,
  asked: number,
  config: BehaviorConfig,
  recommendations: BehaviorState['recommendations'],
): { replicas: number; recommendations: BehaviorState['recommendations'] } {
  const upCutoff = now - config.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = now - config.scaleDown.stabilizationWindowSeconds * 1000;
  let upBound = asked;
  let downBound = asked;
  let oldIndex = -1;
  recommendations.forEach((rec, index) => {
    if (rec.time > upCutoff) upBound = Math.min(upBound, rec.replicas);
    if (rec.time > downCutoff) downBound = Math.max(downBound, rec.replicas);
    if (rec.time < upCutoff && rec.time < downCutoff) oldIndex = index;
  });
  let replicas = current;
  if (replicas < upBound) replicas = upBound;
  if (replicas > downBound) replicas = downBound;
  const next = recommendations.slice();
  const entry = { time: now, replicas: asked };
  if (oldIndex >= 0) next[oldIndex] = entry;
  else next.push(entry);
  return { replicas, recommendations: next };
}

function actionFor(current: number, desired: number): ScalingAction {
  if (desired > current) return 'scale_up';
  if (desired < current) return 'scale_down';
  return 'none';
}

function movement(current: number, desired: number): string {
  if (desired > current) return `scale up ${current} -> ${desired}`;
  if (desired < current) return `scale down ${current} -> ${desired}`;
  return `stay at ${current}`;
}

/**
 * One cycle of KEDA + HPA around a recommendation. Order: pause; failed reads and fallback;
 * KEDA's activation (from 0 or idle) and idle-after-cooldown; otherwise the HPA: out-of-range
 * correction, stabilization windows, rate-limit policies, min/max.
 */
export function applyBehavior(input: BehaviorInput, config: BehaviorConfig, state: BehaviorState): BehaviorResult {
  const now = input.time;
  const current = input.currentReplicas;
  const adjustments: string[] = [];

  if (config.paused !== false) {
    // KEDA's paused annotation: no scaling at all; paused-replicas: hold exactly that count, min/max not applied.
    const held = config.paused === true ? current : config.paused;
    const asked = input.recommendation?.replicas ?? current;
    if (asked !== held) adjustments.push(`${config.paused === true ? 'paused' : `paused at ${held}`}: ${asked} -> ${held}`);
    const reason = config.paused === true ? `paused: holding ${current} replicas` : `paused at ${held} replicas (${movement(current, held)})`;
    return { decision: { desiredReplicas: held, action: 'paused', adjustments, reason }, state };
  }

  const failures = input.recommendation === null ? state.consecutiveFailures + 1 : 0;
  let recommendation = input.recommendation;
  let fallback = false;
  if (recommendation === null) {
    const rule = config.fallback;
    if (rule === null || failures <= rule.failureThreshold) {
      // No metric: the HPA cannot compute and leaves the target alone; KEDA does not deactivate on an error.
      const reason =
        rule === null
          ? `metric read failed (${failures} in a row), no fallback: holding ${current}`
          : `metric read failed (${failures} in a row, fallback after more than ${rule.failureThreshold}): holding ${current}`;
      return { decision: { desiredReplicas: current, action: 'none', adjustments, reason }, state: { ...state, consecutiveFailures: failures } };
    }
    // KEDA counts failures per metric and, once they exceed failureThreshold, serves
    // lagThreshold × fallback replicas as the metric and treats the scaler as active; the HPA then
    // moves to the fallback count through its usual behavior.
    recommendation = { replicas: rule.replicas, active: true };
    fallback = true;
    adjustments.push(`fallback ${rule.replicas} after ${failures} failed reads (failureThreshold ${rule.failureThreshold})`);
  }

  const asked = recommendation.replicas;
  const idle = config.idleReplicas;
  let lastActiveTime = state.lastActiveTime;
  let note = '';
  const keda = (desired: number, reason: string): BehaviorResult => {
    if (asked !== desired) adjustments.push(`${reason}: ${asked} -> ${desired}`);
    return {
      decision: {
        desiredReplicas: desired,
        action: fallback ? 'fallback' : actionFor(current, desired),
        adjustments,
        reason: `${movement(current, desired)}: ${reason}`,
      },
      state: { ...state, lastActiveTime, consecutiveFailures: failures },
    };
  };

  if (recommendation.active) {
    lastActiveTime = now;
    if ((idle !== null && current < config.minReplicas) || current === 0) {
      // The HPA is disabled at 0 replicas; KEDA itself activates to minReplicas, or 1 when that is 0.
      return keda(Math.max(config.minReplicas, 1), `activation from ${current} (max(minReplicas, 1))`);
    }
  } else if ((idle !== null && current > idle) || (current > 0 && config.minReplicas === 0)) {
    const idleTo = idle ?? config.minReplicas;
    // KEDA goes idle once the last active time is more than cooldownSeconds ago (strictly), or at
    // once when it never saw the scaler active (its initialCooldownPeriod defaults to 0).
    if (lastActiveTime === null || lastActiveTime + config.cooldownSeconds * 1000 < now) {
      const since = lastActiveTime === null ? 'never active' : `inactive for ${seconds(now - lastActiveTime)}s`;
      return keda(idleTo, `${idle !== null ? 'idleReplicas' : 'minReplicas'} ${idleTo} after cooldown ${config.cooldownSeconds}s (${since})`);
    }
    // Cooling down: KEDA waits, the HPA keeps scaling on the (low) metric meanwhile.
    note = `; inactive, cooling down ${seconds(now - lastActiveTime)}s of ${config.cooldownSeconds}s`;
  } else if (idle === null && current < config.minReplicas) {
    return keda(config.minReplicas, `inactive below minReplicas ${config.minReplicas}`);
  } else if (current === 0 || (idle !== null && current <= idle)) {
    // At 0 the HPA is disabled. At a non-zero idle count the HPA would pull back up to its minimum;
    // KEDA documents idle > 0 as unsupported for that reason, here the idle count is simply kept.
    return keda(current, current === 0 ? 'inactive at 0 replicas' : `inactive at idle ${current} replicas`);
  }

  const step = hpaStep(now, current, asked, config, state);
  adjustments.push(...step.adjustments);
  const limited = step.desired !== asked ? ` (policy asked ${asked}; ${step.adjustments.join('; ')})` : '';
  return {
    decision: {
      desiredReplicas: step.desired,
      action: fallback ? 'fallback' : actionFor(current, step.desired),
      adjustments,
      reason: `${movement(current, step.desired)}${limited}${note}`,
    },
    state: { recommendations: step.recommendations, scaleEvents: step.scaleEvents, lastActiveTime, consecutiveFailures: failures },
  };
}

/** Lag as the lag engine reports it: max(0, logEnd − committed) summed over partitions where both are known. */
export function knownLag(input: ScalingInput): number | null {
  let lag: number | null = null;
  for (const p of input.partitions) {
    if (p.committedOffset === null || p.logEndOffset === null) continue;
    lag = (lag ?? 0) + Math.max(0, p.logEndOffset - p.committedOffset);
  }
  return lag;
}

export interface DecideArgs {
  readonly input: ScalingInput;
  /** The policy's name, recorded even when its metric could not be read. */
  readonly policy: string;
  /** Null when the metric could not be read this cycle (e.g. recommend threw ScalingMetricUnavailableError). */
  readonly recommendation: PolicyRecommendation | null;
  readonly behavior: BehaviorConfig;
  readonly state: BehaviorState;
  /**
   * Why more replicas would not help now, when something downstream of the consumers is the
   * bottleneck (their result store does not answer): a scale-up is held at the current count.
   * Scale-down, pause and fallback are unaffected. Null or absent: no hold.
   */
  readonly scaleOutHold?: string | null;
}

/** A policy's recommendation through behavior, recorded as a full ScalingDecision. */
export function decide(args: DecideArgs): { decision: ScalingDecision; state: BehaviorState } {
  const { input, recommendation } = args;
  let result = applyBehavior({ time: input.time, currentReplicas: input.currentReplicas, recommendation }, args.behavior, args.state);
  const hold = args.scaleOutHold ?? null;
  if (hold !== null && result.decision.action === 'scale_up') {
    // Adding consumers in front of a dead store adds nothing but rebalances; the recommendation is
    // kept for the stabilization window, but no replica change is recorded for the rate limits.
    const current = input.currentReplicas;
    result = {
      decision: {
        desiredReplicas: current,
        action: 'none',
        adjustments: [...result.decision.adjustments, `scale-out held (${hold}): ${result.decision.desiredReplicas} -> ${current}`],
        reason: `holding ${current}: scale-out held because ${hold}`,
      },
      state: { ...result.state, scaleEvents: args.state.scaleEvents },
    };
  }
  const decision: ScalingDecision = {
    time: input.time,
    group: input.group,
    policy: recommendation?.policy ?? args.policy,
    currentReplicas: input.currentReplicas,
    desiredReplicas: result.decision.desiredReplicas,
    action: result.decision.action,
    inputs: {
      lag: knownLag(input),
      timeLagSeconds: input.timeLagSeconds,
      produceRate: input.produceRate,
      consumeRate: input.consumeRate,
      activeConsumers: input.activeConsumers,
      readyReplicas: input.readyReplicas ?? null,
      partitions: input.partitions.length,
    },
    recommendation,
    adjustments: result.decision.adjustments,
    reason: recommendation === null ? result.decision.reason : `${result.decision.reason}; ${recommendation.reason}`,
  };
  return { decision, state: result.state };
}
