import { ratePolicy, ScalingConfigError, type ScalingPolicy, thresholdPolicy } from '@lagscale/core';

/** The policies a config may name. `rate` is the default. */
// biome-ignore lint/suspicious/noExplicitAny: each policy has its own config and state types; callers keep them paired.
export const SCALING_POLICIES: Readonly<Record<string, ScalingPolicy<any, any>>> = {
  rate: ratePolicy,
  threshold: thresholdPolicy,
};

export const DEFAULT_POLICY = 'rate';

/** A policy with its parsed config and state, ready to recommend. */
export interface ResolvedPolicy {
  readonly name: string;
  // biome-ignore lint/suspicious/noExplicitAny: see SCALING_POLICIES.
  readonly policy: ScalingPolicy<any, any>;
  readonly config: unknown;
}

/**
 * `{ name: 'threshold', lagThreshold: 100 }` → the threshold policy with its validated config.
 * Mistakes name their path under `pathPrefix` (e.g. `autoscaler.policy.lagThreshold`).
 */
export function resolvePolicy(raw: unknown, pathPrefix = 'policy'): ResolvedPolicy {
  const spec = raw === undefined || raw === null ? {} : raw;
  if (typeof spec !== 'object' || Array.isArray(spec)) throw new ScalingConfigError([`${pathPrefix}: must be an object like { name: rate, ... }`]);
  const { name = DEFAULT_POLICY, ...rest } = spec as Record<string, unknown>;
  // Own keys only: `in` would take `constructor`, `toString` or `__proto__` (Object.prototype's) for policies.
  if (typeof name !== 'string' || !Object.hasOwn(SCALING_POLICIES, name)) {
    throw new ScalingConfigError([`${pathPrefix}.name: unknown policy "${String(name)}"; use one of ${Object.keys(SCALING_POLICIES).join(', ')}`]);
  }
  const policy = SCALING_POLICIES[name] as ScalingPolicy<unknown, unknown>;
  try {
    return { name, policy, config: policy.parseConfig(rest) };
  } catch (error) {
    if (error instanceof ScalingConfigError) throw new ScalingConfigError(error.problems.map((p) => `${pathPrefix}.${p}`));
    throw error;
  }
}
