/**
 * The reaction to a failover: every step once, recorded and notified; duplicates, stale and unconfirmed
 * events; epoch claims.
 */

import { describe, expect, it } from 'vitest';
import { FENCE_AFTER_REROUTE_MS, reactToFailover } from '../../../core/failover/react.ts';
import { FakeSentinelView } from '../../fakes/sentinels.ts';
import { N1, N2, N3, START } from '../../support/fixtures.ts';
import { failedOverWorld } from '../../support/world.ts';
import { SEEN, switchMaster } from './fixtures.ts';

describe('reactToFailover', () => {
  it('reroutes every proxy, persists routing, moves DNS, fences, verifies, records and notifies once', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action).toBe('failed-over');
    expect(w.router.calls).toEqual([
      { proxy: 'p1', node: N2 },
      { proxy: 'p2', node: N2 },
    ]);
    expect(w.nodeOps.runs).toEqual([
      { document: 'update-haproxy', proxy: w.cluster.proxies[0], master: N2, epoch: 7 },
      { document: 'update-haproxy', proxy: w.cluster.proxies[1], master: N2, epoch: 7 },
    ]);
    expect(w.dns.calls).toEqual([{ master: N2, epoch: 7 }]);
    expect(w.redis.replicaOfCalls).toEqual([{ node: N1, master: N2 }]);
    expect(w.redis.probeCalls).toHaveLength(2);
    expect(w.redis.probeCalls).toEqual(expect.arrayContaining([N1, N3]));
    expect(w.redis.canaryCalls).toEqual([
      { proxy: 'p1', listener: 'plain', expected: N2 },
      { proxy: 'p1', listener: 'tls', expected: N2 },
      { proxy: 'p2', listener: 'plain', expected: N2 },
    ]);
    expect(w.state.history).toHaveLength(1);
    expect(w.notifier.published).toHaveLength(1);
  });

  it('starts the fence when a proxy holds the reroute past FENCE_AFTER_REROUTE_MS: the new master gets its replica before the slow proxy answers', async () => {
    // Arrange: n3 still follows n1; p2 takes 600 ms (real time) to answer, as a cut-off host's would time out.
    const w = failedOverWorld();
    w.redis.set(N3, { role: 'slave', offset: 1200, master: N1 });
    const events: string[] = [];
    const router = w.deps.router;
    const slowRouter = Object.create(router) as typeof router;
    slowRouter.pointMasterAt = async (proxy, node) => {
      if (proxy.id === 'p2') await new Promise((resolve) => setTimeout(resolve, 600));
      await router.pointMasterAt(proxy, node);
      events.push(`rerouted ${proxy.id}`);
    };
    const redis = w.deps.redis;
    const recordingRedis = Object.create(redis) as typeof redis;
    recordingRedis.replicaOf = async (node, master, timeoutMs) => {
      await redis.replicaOf(node, master, timeoutMs);
      events.push(`replicaof ${node.port === N3.port && node.host === N3.host ? 'n3' : node.host}`);
    };

    // Act
    await reactToFailover(w.cluster, switchMaster, { ...w.deps, router: slowRouter, redis: recordingRedis });

    // Assert
    expect(events.indexOf('replicaof n3')).toBeGreaterThan(events.indexOf('rerouted p1'));
    expect(events.indexOf('replicaof n3')).toBeLessThan(events.indexOf('rerouted p2'));
    expect(FENCE_AFTER_REROUTE_MS).toBeLessThan(600);
    expect(w.state.history[0]?.outcome).toBe('succeeded');
  });

  it('re-points a replica that still follows the old master to the new one', async () => {
    // Arrange: n3 still replicates from n1 (Sentinel has not reconfigured it yet).
    const w = failedOverWorld();
    w.redis.set(N1, { reachable: false }).set(N3, { role: 'slave', offset: 1200, master: N1 });

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(w.redis.replicaOfCalls).toEqual([{ node: N3, master: N2 }]);
    expect(w.state.history[0]?.timeline.find((s) => s.step === 'fenced')?.detail).toContain('n3 re-pointed');
  });

  it('records one history entry with every step of the timeline, in order, all ok', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    const [entry] = w.state.history;
    expect(entry).toMatchObject({
      cluster: 'orders',
      kind: 'failover',
      epoch: 7,
      oldMaster: N1,
      newMaster: N2,
      outcome: 'succeeded',
      trigger: '+switch-master',
      startedAt: SEEN,
      bytesAtRisk: 300,
    });
    expect(entry?.error).toBeUndefined();
    // DNS follows the reroute at once; the fence and the persist run beside it, the canaries once fenced.
    const steps = entry?.timeline.map((s) => s.step) ?? [];
    expect(steps.slice(0, 5)).toEqual(['detected', 'confirmed', 'epoch-claimed', 'rerouted', 'dns-updated']);
    expect([...steps.slice(5)].sort()).toEqual(['fenced', 'routing-persisted', 'verified']);
    expect(steps.indexOf('verified')).toBeGreaterThan(steps.indexOf('fenced'));
    expect(entry?.timeline.every((s) => s.status === 'ok')).toBe(true);
    expect(entry?.timeline.find((s) => s.step === 'fenced')?.detail).toBe(
      'n1 demoted, writes readonly; n3 replica, writes readonly',
    );
  });

  it("succeeds when the proxy hosts refuse its routing as stale (a newer epoch's is there), and says so", async () => {
    // Arrange
    const w = failedOverWorld();
    w.nodeOps.stale.add('update-haproxy');

    // Act
    await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    const [entry] = w.state.history;
    expect(entry?.outcome).toBe('succeeded');
    expect(entry?.timeline.find((s) => s.step === 'routing-persisted')).toMatchObject({
      status: 'ok',
      detail: "0 proxies; p1, p2 kept a newer epoch's routing (epoch 7 is stale there)",
    });
  });

  it('notifies the outcome with a summary naming old and new master and the epoch', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(w.notifier.published).toEqual([
      {
        cluster: 'orders',
        kind: 'failover',
        outcome: 'succeeded',
        summary: 'failover of orders: n1 -> n2 at epoch 7, succeeded',
        entry: w.state.history[0],
      },
    ]);
  });

  it('says it adopted the master found at start-up, not that it failed over to it', async () => {
    // Arrange: an orchestrator starting on a cluster with no applied epoch yet.
    const w = failedOverWorld();

    // Act
    await reactToFailover(w.cluster, { type: 'adopt', seenAt: w.clock.now() }, w.deps);

    // Assert
    expect(w.notifier.published.map((p) => p.summary)).toEqual([
      'orders: adopted n2 as master at epoch 7, succeeded',
    ]);
  });

  it('finishes the claimed epoch as done', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, master: N2, status: 'done' });
  });

  it('reroutes exactly once when the same trigger is handled 3 times in a row', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    const results = [];
    for (let i = 0; i < 3; i += 1) results.push(await reactToFailover(w.cluster, switchMaster, w.deps));

    // Assert
    expect(results.map((r) => r.action)).toEqual(['failed-over', 'current', 'current']);
    expect(w.router.calls).toHaveLength(2);
    expect(w.dns.calls).toHaveLength(1);
    expect(w.state.history).toHaveLength(1);
    expect(w.notifier.published).toHaveLength(1);
  });

  it('reroutes exactly once when the same trigger is handled 3 times at once', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    const results = await Promise.all([1, 2, 3].map(() => reactToFailover(w.cluster, switchMaster, w.deps)));

    // Assert
    expect(results.map((r) => r.action).sort()).toEqual(['duplicate', 'duplicate', 'failed-over']);
    expect(w.router.calls).toHaveLength(2);
    expect(w.state.history).toHaveLength(1);
  });

  it('changes nothing when Sentinels name an older epoch than the applied one', async () => {
    // Arrange
    const w = failedOverWorld({
      sentinels: FakeSentinelView.agreeing(N1, 6),
      applied: { epoch: 7, master: N2, status: 'done', token: 't', leaseUntil: START },
    });

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result).toEqual({ action: 'current', epoch: 7 });
    expect(w.router.calls).toEqual([]);
    expect(w.dns.calls).toEqual([]);
    expect(w.state.history).toEqual([]);
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, master: N2 });
  });

  it('changes nothing when a newer epoch is claimed elsewhere while it confirms an older one', async () => {
    // Arrange
    const w = failedOverWorld();
    w.sentinels.onQuestion = async (_sentinel, round) => {
      if (round === 0) {
        await w.state.claimEpoch('orders', {
          epoch: 8,
          master: N3,
          token: 'other',
          now: START,
          leaseMs: 60_000,
        });
      }
    };

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result).toEqual({ action: 'stale', epoch: 7 });
    expect(w.router.calls).toEqual([]);
    expect(w.dns.calls).toEqual([]);
    expect(w.redis.replicaOfCalls).toEqual([]);
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 8, master: N3, token: 'other' });
  });

  it('records and notifies an unconfirmed failover and touches no proxy, DNS or node', async () => {
    // Arrange
    const w = failedOverWorld({
      sentinels: new FakeSentinelView([[{ master: N2, epoch: 7 }, { master: N3, epoch: 7 }, 'down']]),
    });

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action).toBe('unconfirmed');
    expect(w.router.calls).toEqual([]);
    expect(w.dns.calls).toEqual([]);
    expect(w.nodeOps.runs).toEqual([]);
    expect(w.redis.replicaOfCalls).toEqual([]);
    expect(w.state.history).toHaveLength(1);
    expect(w.state.history[0]).toMatchObject({
      outcome: 'unconfirmed',
      epoch: null,
      oldMaster: N1,
      newMaster: null,
      error: expect.stringContaining('2 of 3 Sentinels answered'),
    });
    expect(w.notifier.published).toEqual([
      expect.objectContaining({
        outcome: 'unconfirmed',
        summary: expect.stringContaining('failover of orders NOT confirmed, nothing changed'),
      }),
    ]);
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 6, master: N1, status: 'done' });
  });

  it('stays quiet when a quiet (reconcile) trigger confirms nothing', async () => {
    // Arrange
    const w = failedOverWorld({ sentinels: new FakeSentinelView([['down', 'down', 'down']]) });

    // Act
    const result = await reactToFailover(
      w.cluster,
      { type: 'reconcile', seenAt: START, quiet: true },
      w.deps,
    );

    // Assert
    expect(result).toEqual({ action: 'unconfirmed' });
    expect(w.state.history).toEqual([]);
    expect(w.notifier.published).toEqual([]);
    expect(w.clock.sleeps).toEqual([]);
  });

  it('takes over an epoch whose claimer stopped and let its lease run out', async () => {
    // Arrange: epoch 7 claimed by a reaction that died; its lease ended before now.
    const w = failedOverWorld({
      applied: { epoch: 7, master: N2, status: 'claimed', token: 'dead', leaseUntil: START - 1 },
    });

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action).toBe('failed-over');
    expect(w.router.routes.get('p1')).toEqual(N2);
  });

  it('leaves an epoch alone while its claimer still holds the lease', async () => {
    const w = failedOverWorld({
      applied: { epoch: 7, master: N2, status: 'claimed', token: 'alive', leaseUntil: START + 60_000 },
    });
    const result = await reactToFailover(w.cluster, { ...switchMaster, quiet: true }, w.deps);
    expect(result.action).toBe('current');
    expect(w.router.calls).toEqual([]);
  });

  it('takes the old master from the trigger when no epoch was applied before', async () => {
    // Arrange
    const w = failedOverWorld({ applied: null });

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry).toMatchObject({
      oldMaster: N1,
      newMaster: N2,
      epoch: 7,
    });
  });
});
