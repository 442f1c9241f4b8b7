import { SmoothedRate } from '@lagscale/core';
import { describe, expect, it } from 'vitest';

describe('SmoothedRate', () => {
  it('is unknown until two samples, then the first rate is the instant one', () => {
    const rate = new SmoothedRate(10);
    expect(rate.update(0, 0)).toBeNull();
    expect(rate.update(500, 5000)).toBe(100);
  });

  it('moves half-way to a new rate after one half-life', () => {
    const rate = new SmoothedRate(10);
    rate.update(0, 0);
    rate.update(1000, 10_000); // 100/s
    const next = rate.update(1000 + 3000, 20_000); // instant 300/s over exactly one half-life
    expect(next).toBeCloseTo(200, 6);
  });

  it('restarts when the counter goes backwards', () => {
    const rate = new SmoothedRate(10);
    rate.update(100, 0);
    rate.update(200, 1000);
    expect(rate.update(5, 2000)).toBeNull();
    expect(rate.value).toBeNull();
  });

  it('ignores samples that do not advance time', () => {
    const rate = new SmoothedRate(10);
    rate.update(0, 1000);
    rate.update(100, 2000);
    expect(rate.update(500, 2000)).toBe(100);
  });

  it('refuses a non-positive half-life', () => {
    expect(() => new SmoothedRate(0)).toThrow(/half-life/);
  });
});
