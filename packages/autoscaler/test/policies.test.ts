import { resolvePolicy, resolveSourceAndPolicy } from '@lagscale/autoscaler';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../../test-support/scaling-config.js';

describe('resolvePolicy', () => {
  it('resolves the policies it lists, rate by default', () => {
    expect(resolvePolicy(undefined).name).toBe('rate');
    expect(resolvePolicy({ name: 'threshold', lagThreshold: 50 }).config).toMatchObject({ lagThreshold: 50 });
  });

  it('refuses names that only Object.prototype holds (constructor, toString, __proto__) as unknown policies, naming the path', () => {
    // Before: `name in SCALING_POLICIES` took them for policies and the lookup threw a TypeError (no parseConfig).
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(problemsOf(() => resolvePolicy({ name }, 'autoscaler.policy'))).toEqual([
        `autoscaler.policy.name: unknown policy "${name}"; use one of rate, threshold`,
      ]);
      // The same through the autoscaler's config (source and policy together), as parsed from YAML or JSON.
      expect(
        problemsOf(() =>
          resolveSourceAndPolicy(undefined, JSON.parse(`{"name": ${JSON.stringify(name)}}`), { source: 'autoscaler.source', policy: 'autoscaler.policy' }),
        ),
      ).toEqual([`autoscaler.policy.name: unknown policy "${name}"; use one of rate, threshold`]);
    }
  });
});
