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

  it('keeps both ends of a flat log end: a record after it is dated between the last time it was seen and the next point', () => {
    const table = new OffsetTimeTable();
    table.add(0, 0);
    table.add(100, 1000);
    table.add(100, 5000);
    table.add(200, 6000);
    // Offsets 100..199 were written between 5,000 (log end still 100) and 6,000 (log end 200).
    expect(table.timeAt(150)).toBe(5500);
    expect(table.timeAt(100)).toBe(5000);
    // Offsets below 100 were written before 1,000, when the log end first reached 100.
    expect(table.timeAt(50)).toBe(500);
    expect(table.size).toBe(3);
  });

  it('a steady producer: one point per poll, exact interpolation', () => {
    const table = new OffsetTimeTable();
    // 200 records/s, polled every 5 s.
    for (let t = 0; t <= 60_000; t += 5000) table.add(t / 5, t);
    expect(table.timeAt(3000)).toBe(15_000);
    expect(table.timeAt(3001)).toBe(15_005);
  });

  it('a producer idle for an hour, then a burst: the first record of the burst is seconds old, not an hour', () => {
    const table = new OffsetTimeTable();
    const hour = 3_600_000;
    table.add(1000, 0);
    // Idle: the log end stays 1,000 through an hour of 5 s polls.
    for (let t = 5000; t <= hour; t += 5000) table.add(1000, t);
    // The burst: 500 records between the poll at 1 h and the next at 1 h + 5 s.
    table.add(1500, hour + 5000);
    const now = hour + 8000;
    // The consumer sits at the old log end: the record at 1,000 is the burst's first.
    const age = (now - (table.timeAt(1000) as number)) / 1000;
    expect(age).toBe(8);
    // The true write time is in (1 h, 1 h + 5 s]: the age reported is at most one poll (5 s) too old.
    expect(age).toBeGreaterThanOrEqual(3);
    expect(age).toBeLessThanOrEqual(8);
    // Half way through the burst.
    expect(table.timeAt(1250)).toBe(hour + 2500);
    expect(table.size).toBe(2);
  });

  it('a producer that stops for good: records before the stop keep their times as the flat run grows', () => {
    const table = new OffsetTimeTable();
    table.add(0, 0);
    table.add(1000, 10_000);
    for (let t = 15_000; t <= 600_000; t += 5000) table.add(1000, t);
    expect(table.timeAt(500)).toBe(5000);
    expect(table.timeAt(999)).toBeCloseTo(9990, 6);
    // A consumer at the log end (or ahead of the table's newest point): the newest observation.
    expect(table.timeAt(1000)).toBe(600_000);
    expect(table.timeAt(1200)).toBe(600_000);
  });

  it('a table thinned after a long flat run keeps the bounds of the points it keeps', () => {
    const table = new OffsetTimeTable(8);
    table.add(0, 0);
    for (let t = 1000; t <= 100_000; t += 1000) table.add(0, t);
    for (let i = 1; i <= 20; i++) table.add(i * 100, 100_000 + i * 1000);
    expect(table.size).toBeLessThanOrEqual(8);
    // The oldest point keeps its flat run: the first records were written after 100 s, not at 0.
    expect(table.timeAt(0)).toBe(100_000);
    // The newer half is dense: exact where production was steady.
    expect(table.timeAt(1950)).toBe(119_500);
  });

  it('extrapolates below the table no further back than the span of the table', () => {
    const table = new OffsetTimeTable();
    table.add(1_000_000, 100_000);
    table.add(1_001_000, 110_000); // 100 offsets per second over 10 s
    expect(table.timeAt(999_500)).toBe(95_000);
    // A million offsets back would be 10,000 s at that rate: capped at one span (10 s) before the table.
    expect(table.timeAt(0)).toBe(90_000);
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
