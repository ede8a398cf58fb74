import { describe, expect, it } from 'vitest';
import {
  clustersOfShard,
  MAX_RECONCILE_SHARDS,
  mapBounded,
  RECONCILE_CLUSTERS_PER_SHARD,
  reconcileShardCount,
  shardOf,
} from '../../../core/failover/reconcile-shards.ts';

const fleet = (n: number, prefix = 'svc') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('reconcileShardCount', () => {
  it('gives one shard per 50 clusters, at least one, at most the bound', () => {
    expect(reconcileShardCount(0)).toBe(1);
    expect(reconcileShardCount(2)).toBe(1);
    expect(reconcileShardCount(RECONCILE_CLUSTERS_PER_SHARD)).toBe(1);
    expect(reconcileShardCount(RECONCILE_CLUSTERS_PER_SHARD + 1)).toBe(2);
    expect(reconcileShardCount(500)).toBe(10);
    expect(reconcileShardCount(10_000_000)).toBe(MAX_RECONCILE_SHARDS);
  });
});

describe('shardOf', () => {
  it('puts every cluster in exactly one shard in range: the shards are complete and disjoint', () => {
    // Arrange
    const names = fleet(500);

    // Act
    const shards = Array.from({ length: 10 }, (_, i) => clustersOfShard(names, i, 10));

    // Assert
    expect(shards.flat().sort()).toEqual([...names].sort());
    expect(new Set(shards.flat()).size).toBe(names.length);
    for (const name of names) expect(shardOf(name, 10)).toBeGreaterThanOrEqual(0);
    for (const name of names) expect(shardOf(name, 10)).toBeLessThan(10);
  });

  it('is a function of the name alone: the same in any order and in any fleet', () => {
    // Arrange
    const names = fleet(200);
    const reversed = [...names].reverse();

    // Act
    const forward = names.map((n) => shardOf(n, 4));
    const backward = reversed.map((n) => shardOf(n, 4)).reverse();

    // Assert
    expect(backward).toEqual(forward);
    expect(clustersOfShard(['svc7'], shardOf('svc7', 4), 4)).toEqual(['svc7']);
  });

  it('keeps known assignments across releases (a changed hash would silently reshuffle the fleet)', () => {
    // FNV-1a 64 of the name, then jump consistent hash: these values are fixed by the two algorithms.
    expect(['orders', 'payments', 'sessions', 'svc000', 'svc499'].map((n) => shardOf(n, 10))).toEqual([
      7, 0, 9, 5, 0,
    ]);
    expect(shardOf('orders', 1)).toBe(0);
  });

  it('moves no other cluster when one is added, and about 1/n of them when a shard is added', () => {
    // Arrange
    const names = fleet(1000);
    const before = new Map(names.map((n) => [n, shardOf(n, 10)]));

    // Act: a cluster added; then an eleventh shard.
    const withNew = [...names, 'brand-new'];
    const afterAdd = withNew.filter((n) => n !== 'brand-new').map((n) => shardOf(n, 10));
    const moved = names.filter((n) => shardOf(n, 11) !== before.get(n));

    // Assert
    expect(afterAdd).toEqual(names.map((n) => before.get(n)));
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.length).toBeLessThan(1000 / 11 + 40);
    // Those that moved went to the new shard only.
    expect(new Set(moved.map((n) => shardOf(n, 11)))).toEqual(new Set([10]));
  });

  it('spreads 500 clusters over 10 shards with none far above 50', () => {
    // Act
    const sizes = Array.from({ length: 10 }, (_, i) => clustersOfShard(fleet(500, 'cluster-'), i, 10).length);

    // Assert
    expect(Math.max(...sizes)).toBeLessThanOrEqual(75);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(25);
  });

  it('refuses a shard count that is not a whole number of at least 1', () => {
    expect(() => shardOf('orders', 0)).toThrow('shards must be a whole number ≥ 1, not 0');
    expect(() => shardOf('orders', 1.5)).toThrow(RangeError);
  });
});

describe('mapBounded', () => {
  it('runs at most `limit` at once, every item once, results in order', async () => {
    // Arrange
    let running = 0;
    let most = 0;
    const seen: number[] = [];

    // Act
    const results = await mapBounded(
      Array.from({ length: 25 }, (_, i) => i),
      10,
      async (i) => {
        running++;
        most = Math.max(most, running);
        seen.push(i);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
        return i * 2;
      },
    );

    // Assert
    expect(most).toBe(10);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(results).toEqual(Array.from({ length: 25 }, (_, i) => i * 2));
  });

  it('returns nothing for no items', async () => {
    expect(await mapBounded([], 10, async () => 1)).toEqual([]);
  });
});
