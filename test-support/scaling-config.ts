import { ScalingConfigError } from '@lagscale/core';

/** The problems of the ScalingConfigError `fn` throws (any other error is rethrown; none fails the test). */
export function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ScalingConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ScalingConfigError');
}
