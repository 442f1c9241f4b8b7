import { describe, expect, it } from 'vitest';
import { OrderedCommits } from '../src/ordered-commits.js';

const silent = { info: () => {}, warn: () => {} };

describe('OrderedCommits', () => {
  it('commits batches in the order they were handled, each after it settled, and counts what a commit left out', async () => {
    const sent: number[][] = [];
    const refused: number[] = [];
    const committed: number[] = [];
    const commits = new OrderedCommits<number>({
      group: 'g',
      logger: silent,
      // The coordinator takes the even records only.
      commit: async (records) => {
        sent.push([...records]);
        return new Set(records.filter((r) => r % 2 === 0));
      },
      committed: (records) => committed.push(...records),
      refused: (count) => refused.push(count),
      failed: () => {},
    });
    let settleFirst: () => void = () => {};
    const first = new Promise<void>((resolve) => {
      settleFirst = resolve;
    });
    commits.handled([1, 2], first);
    commits.handled([3, 4], Promise.resolve());
    await new Promise((resolve) => setTimeout(resolve, 10));
    // The second batch settled first, but waits for the first.
    expect(sent).toEqual([]);
    settleFirst();
    await commits.drained();
    expect(sent.flat()).toEqual([1, 2, 3, 4]);
    expect(committed).toEqual([2, 4]);
    expect(refused.reduce((a, b) => a + b, 0)).toBe(2);
    expect(commits.committed).toBe(2);
    expect(commits.discarded).toBe(2);
  });

  it('stops at a batch whose work failed: it and the later ones are never committed', async () => {
    const sent: number[] = [];
    let failure: Error | null = null;
    const commits = new OrderedCommits<number>({
      group: 'g',
      logger: silent,
      commit: async (records) => {
        sent.push(...records);
        return new Set(records);
      },
      failed: (error) => {
        failure = error;
      },
    });
    commits.handled([1], Promise.resolve());
    commits.handled([2], Promise.reject(new Error('store down')));
    commits.handled([3], Promise.resolve());
    await commits.drained();
    expect(sent).toEqual([1]);
    expect((failure as Error | null)?.message).toBe('store down');
    await expect(commits.room()).rejects.toThrow('store down');
  });
});
