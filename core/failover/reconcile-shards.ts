/**
 * How the periodic reconcile splits the fleet: n schedules, each invoking the reconcile with `{ shard, shards }`,
 * and each invocation reconciling the clusters whose name hashes to its shard. The hash is of the name, not of a
 * position in the config: adding or removing a cluster moves no other cluster, and a new shard count moves only
 * about 1/n of them (jump consistent hash). Every cluster hashes to exactly one shard of any count, so a fleet
 * grown past what the schedules were sized for is still covered, by fuller shards.
 */

/** Clusters one reconcile schedule is sized for: ~5 connections each (3 Sentinels, 2 proxies) a minute. */
export const RECONCILE_CLUSTERS_PER_SHARD = 50;

/** Clusters one reconcile invocation works on at once: ~50 connections open at most, whatever its shard holds. */
export const RECONCILE_CONCURRENCY = 10;

/** A shard above this many clusters (twice its size) is worth a warning: redeploy so the schedules follow the fleet. */
export const RECONCILE_SHARD_WARN_CLUSTERS = 2 * RECONCILE_CLUSTERS_PER_SHARD;

/** The most shards a schedule may name (a sanity bound: 1000 shards are 50 000 clusters). */
export const MAX_RECONCILE_SHARDS = 1000;

/** Shards (and so schedules) for a fleet of `clusters`: one per 50, at least one. */
export function reconcileShardCount(clusters: number): number {
  return Math.min(MAX_RECONCILE_SHARDS, Math.max(1, Math.ceil(clusters / RECONCILE_CLUSTERS_PER_SHARD)));
}

const MASK_64 = (1n << 64n) - 1n;

/** FNV-1a, 64 bits, of the name's UTF-8 bytes: stable across processes, runtimes and deploys. */
function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & MASK_64;
  }
  return hash;
}

/** Jump consistent hash (Lamping and Veach, 2014): a key's bucket of `buckets`, moving for ~1/n keys when n grows. */
function jumpHash(key: bigint, buckets: number): number {
  let b = -1;
  let j = 0;
  let k = key;
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & MASK_64;
    j = Math.floor((b + 1) * (2 ** 31 / Number((k >> 33n) + 1n)));
  }
  return b;
}

/** The shard (0 to shards - 1) of a cluster, by its name. */
export function shardOf(cluster: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1)
    throw new RangeError(`shards must be a whole number ≥ 1, not ${shards}`);
  return jumpHash(fnv1a64(cluster), shards);
}

/** The clusters of `names` that fall in `shard` of `shards`, in their order. */
export function clustersOfShard(names: readonly string[], shard: number, shards: number): string[] {
  return names.filter((name) => shardOf(name, shards) === shard);
}

/** fn over every item, at most `limit` at a time, results in the items' order (fn should not reject). */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}
