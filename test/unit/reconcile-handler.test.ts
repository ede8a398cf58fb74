import { describe, expect, it } from 'vitest';
import { clustersOfShard, RECONCILE_CONCURRENCY, shardOf } from '../../core/failover/reconcile-shards.ts';
import { ClusterRegistry } from '../../core/model/cluster.ts';
import { makeReconcileHandler } from '../../functions/reconcile/handler.ts';
import { RecordingLogger } from '../fakes/reporting.ts';
import { N2, testCluster } from '../support/fixtures.ts';
import { failedOverWorld, untouchableDeps } from '../support/world.ts';

/**
 * The reconcile handler over a fleet: the state of every cluster but the world's answers slowly, then fails, so
 * the test sees which clusters were reconciled and how many at once.
 */
function fleetHandler(count: number) {
  const w = failedOverWorld();
  const others = Array.from({ length: count }, (_, i) =>
    testCluster({ name: `svc${String(i).padStart(3, '0')}` }),
  );
  const touched = new Set<string>();
  const logger = new RecordingLogger();
  let running = 0;
  let most = 0;
  const state = new Proxy(w.deps.state, {
    get: (target, method, receiver) => {
      const real = Reflect.get(target, method, receiver);
      if (typeof real !== 'function') return real;
      return async (first: string | { cluster: string }, ...rest: unknown[]) => {
        // Most methods take the cluster's name; appendHistory takes an entry that names it.
        const cluster = typeof first === 'string' ? first : first.cluster;
        if (cluster === w.cluster.name) return real.call(target, first, ...rest);
        touched.add(cluster);
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
        throw new Error('state table unavailable');
      };
    },
  });
  const handler = makeReconcileHandler(() => ({
    clusters: new ClusterRegistry([w.cluster, ...others]),
    failover: { ...w.deps, state, logger },
  }));
  const names = [w.cluster.name, ...others.map((c) => c.name)];
  return { w, handler, touched, names, logger, most: () => most };
}

describe('makeReconcileHandler with shards', () => {
  it('reconciles exactly the clusters whose name hashes to its shard', async () => {
    // Arrange
    const { w, handler, touched, names } = fleetHandler(120);
    const shard = shardOf(w.cluster.name, 3);
    const mine = clustersOfShard(names, shard, 3);

    // Act
    const run = handler({ shard, shards: 3 });

    // Assert
    await expect(run).rejects.toThrow('reconcile failed for svc');
    expect([...touched, w.cluster.name].sort()).toEqual([...mine].sort());
    expect(mine.length).toBeGreaterThan(20);
    expect(mine.length).toBeLessThan(names.length);
    expect([...touched].every((n) => shardOf(n, 3) === shard)).toBe(true);
    // The world's own cluster is in this shard, and its unreported failover was acted on.
    expect(w.router.calls.map((c) => c.node)).toEqual([N2, N2]);
  });

  it('covers every cluster once across the shards of one count', async () => {
    // Arrange
    const { handler, touched, names } = fleetHandler(120);
    const runs: Promise<unknown>[] = [];

    // Act
    for (let shard = 0; shard < 4; shard++) runs.push(handler({ shard, shards: 4 }).catch(() => undefined));
    await Promise.all(runs);

    // Assert
    expect(touched.size).toBe(names.length - 1);
  });

  it('reconciles at most RECONCILE_CONCURRENCY clusters at once', async () => {
    // Arrange
    const { handler, touched, most } = fleetHandler(60);

    // Act
    await handler({}).catch(() => undefined);

    // Assert
    expect(touched.size).toBe(60);
    expect(most()).toBe(RECONCILE_CONCURRENCY);
  });

  it('warns when its shard holds more than twice the clusters it was sized for', async () => {
    // Arrange: 240 clusters on one shard (a fleet grown without a deploy).
    const { handler, touched, logger } = fleetHandler(240);

    // Act
    await handler({ shard: 0, shards: 1 }).catch(() => undefined);

    // Assert
    expect(touched.size).toBe(240);
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: 'reconcile shard holds more clusters than its schedules were sized for',
    });
  });

  it.each([
    [{ shard: 3, shards: 3 }, 'shard: shard 3 is out of range: 3 shards are numbered 0 to 2'],
    [{ shard: 1 }, 'shards: give shard and shards together: { "shard": i, "shards": n }, 0 ≤ i < n'],
    [{ shards: 2 }, 'shard: give shard and shards together'],
    [{ shard: -1, shards: 2 }, 'shard: Too small'],
    [{ shard: 0, shards: 0 }, 'shards: Too small'],
    [{ shard: 0.5, shards: 2 }, 'shard: Invalid input: expected int'],
    [{ shard: 0, shards: 1, cluster: 'orders' }, 'cluster: give a cluster or a shard, not both'],
    [{ shard: '0', shards: 1 }, 'shard: Invalid input: expected number'],
  ])('refuses %j with a clear error, touching nothing', async (event, message) => {
    // Arrange
    const touched: string[] = [];
    const handler = makeReconcileHandler(() => ({
      clusters: new ClusterRegistry([testCluster()]),
      failover: untouchableDeps(touched),
    }));

    // Act
    const run = handler(event);

    // Assert
    await expect(run).rejects.toMatchObject({ name: 'InvalidInputError' });
    await expect(run).rejects.toThrow(`invalid reconcile event: ${message}`);
    expect(touched).toEqual([]);
  });

  it('still reconciles one named cluster', async () => {
    // Arrange
    const { w, handler, touched } = fleetHandler(30);

    // Act
    const results = await handler({ cluster: w.cluster.name });

    // Assert
    expect(results).toEqual([expect.objectContaining({ cluster: w.cluster.name, ok: true })]);
    expect(touched.size).toBe(0);
  });
});
