import { OffsetTimeTable } from '@lagscale/core';
import { describe, expect, it } from 'vitest';

describe('OffsetTimeTable', () => {
  it('interpolates the time at which an offset was the log end', () => {
    const table = new OffsetTimeTable();
    table.add(100, 10_000);
    table.add(200, 20_000);
    table.add(400, 30_000);
    expect(table.timeAt(150)).toBe(15_000);
    expect(table.timeAt(300)).toBe(25_000);
    expect(table.timeAt(100)).toBe(10_000);
    expect(table.timeAt(400)).toBe(30_000);
    expect(table.timeAt(500)).toBe(30_000);
  });

  it('extrapolates below its first point at the average rate of the table', () => {
    const table = new OffsetTimeTable();
    table.add(1000, 10_000);
    table.add(2000, 20_000); // 100 offsets per second
    expect(table.timeAt(500)).toBe(5_000);
  });

  it('cannot answer below a single point, nor for a log that did not move', () => {
    const table = new OffsetTimeTable();
    expect(table.timeAt(5)).toBeNull();
    table.add(100, 1000);
    expect(table.timeAt(50)).toBeNull();
    table.add(100, 2000);
    expect(table.size).toBe(1);
    expect(table.timeAt(50)).toBeNull();
  });

  it('keeps the first time an offset was seen as the log end', () => {
    const table = new OffsetTimeTable();
    table.add(0, 0);
    table.add(100, 1000);
    table.add(100, 5000);
    table.add(200, 6000);
    expect(table.timeAt(150)).toBe(3500);
  });

  it('resets when the log end goes backwards (topic re-created)', () => {
    const table = new OffsetTimeTable();
    table.add(500, 1000);
    table.add(600, 2000);
    table.add(10, 3000);
    expect(table.size).toBe(1);
    expect(table.timeAt(10)).toBe(3000);
  });

  it('stays within capacity and keeps covering old history', () => {
    const table = new OffsetTimeTable(16);
    for (let i = 0; i <= 1000; i++) table.add(i * 10, i * 1000);
    expect(table.size).toBeLessThanOrEqual(16);
    // Steady production: interpolation over the thinned table stays exact.
    expect(table.timeAt(5000)).toBeCloseTo(500_000, 6);
    expect(table.timeAt(9995)).toBeCloseTo(999_500, 6);
    // The oldest point is kept, so the very first offsets are still covered.
    expect(table.timeAt(0)).toBe(0);
  });

  it('refuses a capacity too small to interpolate', () => {
    expect(() => new OffsetTimeTable(2)).toThrow(/capacity/);
  });
});
