import { evaluatePartitionStatus, StatusWindow, worstStatus } from '@lagscale/core';
import { describe, expect, it } from 'vitest';

const points = (...rows: [committed: number | null, lag: number | null][]): StatusWindow =>
  StatusWindow.from(rows.map(([committed, lag], i) => ({ time: i * 5000, committed, lag })));

describe('evaluatePartitionStatus (Burrow rules)', () => {
  it('ERR when the offsets are unknown, with the reason given', () => {
    const r = evaluatePartitionStatus({ window: points([10, null]), windowSize: 3, hasOwner: true, error: 'broker 2 unreachable' });
    expect(r).toEqual({ status: 'ERR', reason: 'broker 2 unreachable' });
  });

  it('OK when there is no committed offset', () => {
    expect(evaluatePartitionStatus({ window: points([null, 0]), windowSize: 3, hasOwner: false }).status).toBe('OK');
  });

  it('REWIND when the committed offset moves backwards anywhere in the window', () => {
    const r = evaluatePartitionStatus({ window: points([100, 5], [50, 60], [60, 50]), windowSize: 3, hasOwner: true });
    expect(r.status).toBe('REWIND');
    expect(r.reason).toContain('100 to 50');
  });

  it('OK when lag was zero at any point of the window', () => {
    expect(evaluatePartitionStatus({ window: points([100, 0], [100, 10], [100, 20]), windowSize: 3, hasOwner: true }).status).toBe('OK');
  });

  it('STALL: offset stuck with lag while a member owns the partition', () => {
    const r = evaluatePartitionStatus({ window: points([100, 10], [100, 20], [100, 30]), windowSize: 3, hasOwner: true });
    expect(r.status).toBe('STALL');
  });

  it('STOP: offset stuck with lag and nobody owns the partition', () => {
    const r = evaluatePartitionStatus({ window: points([100, 10], [100, 10], [100, 10]), windowSize: 3, hasOwner: false });
    expect(r.status).toBe('STOP');
    expect(r.reason).toContain('no member owns');
  });

  it('WARN: commits move but lag rises across the whole window', () => {
    const r = evaluatePartitionStatus({ window: points([100, 10], [110, 20], [120, 20], [130, 35]), windowSize: 4, hasOwner: true });
    expect(r.status).toBe('WARN');
  });

  it('OK when commits move and lag does not rise throughout', () => {
    expect(evaluatePartitionStatus({ window: points([100, 10], [110, 20], [120, 15], [130, 35]), windowSize: 4, hasOwner: true }).status).toBe('OK');
  });

  it("treats lag at or below allowedLag as caught up (Burrow's allowed-lag)", () => {
    // A consumer that always trails by one batch of about 50: STALL with allowedLag 0, OK with 50.
    const trailing = points([100, 40], [100, 50], [100, 45]);
    expect(evaluatePartitionStatus({ window: trailing, windowSize: 3, hasOwner: true }).status).toBe('STALL');
    expect(evaluatePartitionStatus({ window: trailing, windowSize: 3, hasOwner: true, allowedLag: 50 })).toEqual({
      status: 'OK',
      reason: 'lag 45 is within the allowed lag 50',
    });
    // Rising lag that once was within the allowance is OK over that window; above it throughout, WARN as before.
    const rising = points([100, 30], [110, 60], [120, 80], [130, 95]);
    expect(evaluatePartitionStatus({ window: rising, windowSize: 4, hasOwner: true, allowedLag: 30 }).reason).toBe(
      'lag was within the allowed lag 30 in the window',
    );
    expect(evaluatePartitionStatus({ window: rising, windowSize: 4, hasOwner: true, allowedLag: 29 }).status).toBe('WARN');
  });

  it('does not judge STOP/STALL/WARN before the window is full', () => {
    const r = evaluatePartitionStatus({ window: points([100, 10], [100, 20]), windowSize: 3, hasOwner: true });
    expect(r.status).toBe('OK');
    expect(r.reason).toContain('warming up');
  });
});

describe('worstStatus', () => {
  it('takes the most severe, breaking ties towards REWIND', () => {
    expect(worstStatus(['OK', 'WARN', 'OK'])).toBe('WARN');
    expect(worstStatus(['WARN', 'STOP', 'ERR'])).toBe('STOP');
    expect(worstStatus(['STALL', 'REWIND', 'STOP'])).toBe('REWIND');
    expect(worstStatus([])).toBe('OK');
  });
});

describe('StatusWindow', () => {
  it('keeps the last N points, oldest first', () => {
    const w = new StatusWindow(3);
    for (let i = 0; i < 5; i++) w.push(i, i === 3 ? null : i * 10, i);
    expect(w.length).toBe(3);
    expect([w.time(0), w.time(1), w.time(2)]).toEqual([2, 3, 4]);
    expect([w.committed(0), w.committed(1), w.committed(2)]).toEqual([20, null, 40]);
  });
});
