import { type ClusterObservation, type GroupObservation, LagEvaluator, type TopicObservation } from '@lagscale/core';
import { describe, expect, it } from 'vitest';

const stats = { durationMs: 1, requests: 1, brokers: 1 };

function topic(name: string, logEnds: number[], extra: Partial<{ logStart: number; lso: number[] }> = {}): TopicObservation {
  return {
    topic: name,
    partitions: logEnds.map((logEnd, partition) => ({
      partition,
      leader: 1,
      logEndOffset: logEnd,
      logStartOffset: extra.logStart ?? 0,
      lastStableOffset: extra.lso?.[partition] ?? null,
    })),
  };
}

function group(name: string, offsets: Record<string, Record<number, number>>, members: GroupObservation['members'] = []): GroupObservation {
  return {
    group: name,
    state: members.length > 0 ? 'Stable' : 'Empty',
    protocolType: 'consumer',
    members,
    offsets: Object.entries(offsets).flatMap(([t, byPartition]) =>
      Object.entries(byPartition).map(([p, offset]) => ({ topic: t, partition: Number(p), offset })),
    ),
  };
}

const observe = (time: number, topics: TopicObservation[], groups: GroupObservation[]): ClusterObservation => ({ time, topics, groups, errors: [], stats });

describe('LagEvaluator', () => {
  it('computes per-partition lag, the group sum and owners', () => {
    const evaluator = new LagEvaluator();
    const member = { memberId: 'm-1', clientId: 'worker-1', host: '10.0.0.1', instanceId: null, assignment: [{ topic: 'orders', partitions: [0, 1] }] };
    const snapshot = evaluator.evaluate(observe(1000, [topic('orders', [100, 50])], [group('billing', { orders: { 0: 40, 1: 50 } }, [member])]));
    const g = snapshot.groups[0];
    expect(g?.lag).toBe(60);
    expect(g?.lagComplete).toBe(true);
    expect(g?.members).toBe(1);
    expect(g?.partitions.map((p) => [p.partition, p.committedOffset, p.logEndOffset, p.lag])).toEqual([
      [0, 40, 100, 60],
      [1, 50, 50, 0],
    ]);
    expect(g?.partitions[0]?.owner).toEqual({ memberId: 'm-1', clientId: 'worker-1', host: '10.0.0.1' });
  });

  it('never reports negative lag (committed ahead of a stale log end)', () => {
    const snapshot = new LagEvaluator().evaluate(observe(0, [topic('t', [10])], [group('g', { t: { 0: 12 } })]));
    expect(snapshot.groups[0]?.partitions[0]?.lag).toBe(0);
  });

  it('follows the reset policy where nothing is committed', () => {
    const t = topic('t', [500, 500], { logStart: 100 });
    const g = group('g', { t: { 0: 500 } });
    const latest = new LagEvaluator({ offsetResetPolicy: 'latest' }).evaluate(observe(0, [t], [g]));
    const earliest = new LagEvaluator({ offsetResetPolicy: 'earliest' }).evaluate(observe(0, [t], [g]));
    expect(latest.groups[0]?.partitions[1]).toMatchObject({ committedOffset: null, lag: 0 });
    expect(earliest.groups[0]?.partitions[1]).toMatchObject({ committedOffset: null, lag: 400 });
  });

  it('measures read_committed groups to the last stable offset', () => {
    const t = topic('tx', [110], { lso: [100] });
    const evaluator = new LagEvaluator({ readCommittedGroups: ['rc'] });
    const snapshot = evaluator.evaluate(observe(0, [t], [group('rc', { tx: { 0: 90 } }), group('ru', { tx: { 0: 90 } })]));
    expect(snapshot.groups.find((g) => g.group === 'rc')?.partitions[0]).toMatchObject({ logEndOffset: 100, lag: 10 });
    expect(snapshot.groups.find((g) => g.group === 'ru')?.partitions[0]).toMatchObject({ logEndOffset: 110, lag: 20 });
    expect(snapshot.groups.find((g) => g.group === 'rc')?.isolation).toBe('read_committed');
  });

  it('estimates time lag from the history of log ends', () => {
    const evaluator = new LagEvaluator();
    // 10 records/s; the consumer stopped at offset 50.
    for (let s = 0; s <= 20; s++) {
      const snapshot = evaluator.evaluate(observe(s * 1000, [topic('t', [s * 10])], [group('g', { t: { 0: 50 } })]));
      if (s === 20) {
        const p = snapshot.groups[0]?.partitions[0];
        expect(p?.lag).toBe(150);
        expect(p?.timeLagMode).toBe('estimate');
        expect(p?.timeLagSeconds).toBeCloseTo(15, 6);
        expect(snapshot.groups[0]?.produceRate).toBeCloseTo(10, 6);
        expect(snapshot.groups[0]?.consumeRate).toBe(0);
        expect(p?.status).toBe('STOP');
      }
    }
  });

  it('uses the record timestamp when the collector read it (exact mode)', () => {
    const g: GroupObservation = { ...group('g', {}), offsets: [{ topic: 't', partition: 0, offset: 5, recordTimestamp: 4_000 }] };
    const p = new LagEvaluator().evaluate(observe(10_000, [topic('t', [10])], [g])).groups[0]?.partitions[0];
    expect(p?.timeLagSeconds).toBe(6);
    expect(p?.timeLagMode).toBe('exact');
  });

  it('reports partitions of a deleted topic as unknown, and the group as incomplete', () => {
    const snapshot = new LagEvaluator().evaluate(observe(0, [topic('kept', [10])], [group('g', { kept: { 0: 5 }, gone: { 0: 3 } })]));
    const g = snapshot.groups[0];
    const gone = g?.partitions.find((p) => p.topic === 'gone');
    expect(gone?.lag).toBeNull();
    expect(gone?.status).toBe('ERR');
    expect(gone?.error).toContain('not found');
    expect(g?.lag).toBe(5);
    expect(g?.lagComplete).toBe(false);
    expect(g?.status).toBe('ERR');
  });

  it('includes partitions added to a topic, without a committed offset', () => {
    const evaluator = new LagEvaluator({ offsetResetPolicy: 'earliest' });
    evaluator.evaluate(observe(0, [topic('t', [10])], [group('g', { t: { 0: 10 } })]));
    const snapshot = evaluator.evaluate(observe(1000, [topic('t', [10, 7, 3])], [group('g', { t: { 0: 10 } })]));
    expect(snapshot.groups[0]?.partitions.map((p) => [p.partition, p.committedOffset, p.lag])).toEqual([
      [0, 10, 0],
      [1, null, 7],
      [2, null, 3],
    ]);
  });

  it('reports a broker failure per partition while the others are still measured', () => {
    const t: TopicObservation = {
      topic: 't',
      partitions: [
        { partition: 0, leader: 1, logEndOffset: 100, logStartOffset: 0, lastStableOffset: null },
        { partition: 1, leader: 2, logEndOffset: null, logStartOffset: null, lastStableOffset: null, error: 'broker 2 (127.0.0.1:9095) unreachable' },
      ],
    };
    const g = new LagEvaluator().evaluate(observe(0, [t], [group('g', { t: { 0: 90, 1: 40 } })])).groups[0];
    expect(g?.partitions[0]?.lag).toBe(10);
    expect(g?.partitions[1]).toMatchObject({ lag: null, status: 'ERR', error: 'broker 2 (127.0.0.1:9095) unreachable' });
    expect(g?.lag).toBe(10);
    expect(g?.lagComplete).toBe(false);
  });

  it('forgets groups and partitions that disappear', () => {
    const evaluator = new LagEvaluator();
    evaluator.evaluate(observe(0, [topic('t', [10])], [group('a', { t: { 0: 1 } })]));
    const snapshot = evaluator.evaluate(observe(1000, [topic('t', [20])], [group('b', { t: { 0: 1 } })]));
    expect(snapshot.groups.map((g) => g.group)).toEqual(['b']);
    // b's window starts fresh: one point, so no rates yet.
    expect(snapshot.groups[0]?.consumeRate).toBeNull();
  });

  it('reports REWIND after an offset reset backwards', () => {
    const evaluator = new LagEvaluator({ windowSize: 3 });
    evaluator.evaluate(observe(0, [topic('t', [100])], [group('g', { t: { 0: 90 } })]));
    const s = evaluator.evaluate(observe(1000, [topic('t', [100])], [group('g', { t: { 0: 10 } })]));
    expect(s.groups[0]?.status).toBe('REWIND');
  });
});
