import { planShards, type ShardView, shardOf } from '@lagscale/kubernetes';
import { describe, expect, it } from 'vitest';

/** Applies each replica's plan in turn until no plan changes anything: what the Leases converge to. */
function converge(count: number, members: readonly string[], start: (string | null)[] = Array(count).fill(null)): (string | null)[] {
  const holders = [...start];
  for (let round = 0; round < 50; round++) {
    let moved = false;
    for (const identity of members) {
      const view: ShardView = { holders: [...holders], members };
      const plan = planShards(view, identity);
      for (const shard of plan.release) {
        holders[shard] = null;
        moved = true;
      }
      for (const shard of plan.take) {
        if (holders[shard] !== null) continue; // another replica's write won the race
        holders[shard] = identity;
        moved = true;
      }
    }
    if (!moved) return holders;
  }
  throw new Error(`no convergence: ${JSON.stringify(holders)}`);
}

const perHolder = (holders: readonly (string | null)[]) => {
  const counts: Record<string, number> = {};
  for (const holder of holders) if (holder !== null) counts[holder] = (counts[holder] ?? 0) + 1;
  return counts;
};

describe('shards of ScaledConsumers', () => {
  it('puts a ScaledConsumer in the same shard every time, spread over the shards', () => {
    expect(shardOf('orders/validator', 3)).toBe(shardOf('orders/validator', 3));
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[shardOf(`team-${i % 37}/consumer-${i}`, 3)]++;
    for (const count of counts) expect(count).toBeGreaterThan(800);
  });

  it('gives every shard to one live replica, evenly', () => {
    const holders = converge(3, ['a', 'b', 'c']);
    expect(holders.every((h) => h !== null)).toBe(true);
    expect(Object.values(perHolder(holders)).sort()).toEqual([1, 1, 1]);
    const six = converge(6, ['a', 'b', 'c', 'd']);
    expect(Object.values(perHolder(six)).every((n) => n <= 2)).toBe(true);
    expect(six.every((h) => h !== null)).toBe(true);
  });

  it('lets one replica alone hold every shard', () => {
    expect(converge(3, ['a'])).toEqual(['a', 'a', 'a']);
  });

  it('hands surplus shards to a replica that joins, one per round, and takes over the shards of one that died', () => {
    const alone = converge(3, ['a']);
    const joined = converge(3, ['a', 'b', 'c'], alone);
    expect(Object.values(perHolder(joined)).sort()).toEqual([1, 1, 1]);
    // c dies: its shard is free (its Lease expired) and c is no longer a member.
    const afterDeath = joined.map((h) => (h === 'c' ? null : h));
    const takenOver = converge(3, ['a', 'b'], afterDeath);
    expect(takenOver.every((h) => h === 'a' || h === 'b')).toBe(true);
    const gives = planShards({ holders: ['a', 'a', 'a'], members: ['a', 'b'] }, 'a');
    expect(gives).toEqual({ take: [], release: [2] });
  });

  it('never takes a shard another live replica holds, nor gives one back when nobody is short', () => {
    expect(planShards({ holders: ['b', 'c', null], members: ['a', 'b', 'c'] }, 'a')).toEqual({ take: [2], release: [] });
    expect(planShards({ holders: ['a', 'a', 'b'], members: ['a', 'b'] }, 'a')).toEqual({ take: [], release: [] });
  });
});
