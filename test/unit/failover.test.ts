import { describe, expect, it } from 'vitest';
import { handleSentinelEvent } from '../../core/failover/handle-event.ts';
import {
  type FailoverTrigger,
  fenceOtherNodes,
  reactToFailover,
  rerouteProxies,
  verifyThroughProxies,
} from '../../core/failover/react.ts';
import { FakeSentinelView, failedOverWorld, loadEvent, N1, N2, N3, START } from './helpers.ts';

const SEEN = START - 800;
const switchMaster: FailoverTrigger = { type: '+switch-master', seenAt: SEEN, oldMaster: N1 };

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
      { document: 'update-haproxy', proxy: w.cluster.proxies[0], master: N2 },
      { document: 'update-haproxy', proxy: w.cluster.proxies[1], master: N2 },
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
    expect(entry?.timeline.map((s) => s.step)).toEqual([
      'detected',
      'confirmed',
      'epoch-claimed',
      'rerouted',
      'fenced',
      'routing-persisted',
      'dns-updated',
      'verified',
    ]);
    expect(entry?.timeline.every((s) => s.status === 'ok')).toBe(true);
    expect(entry?.timeline.find((s) => s.step === 'fenced')?.detail).toBe(
      'n1 demoted, writes readonly; n3 replica, writes readonly',
    );
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

  it('persists replicaof on an unreachable old master and leaves a pending fence', async () => {
    // Arrange
    const w = failedOverWorld();
    w.redis.set(N1, { reachable: false });

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(w.nodeOps.runs.filter((r) => r.document === 'fence-node')).toEqual([
      { document: 'fence-node', node: w.cluster.nodes[0], master: N2 },
    ]);
    expect(await w.state.pendingFences('orders')).toEqual([{ node: N1, master: N2, epoch: 7, since: START }]);
    expect(w.redis.replicaOfCalls).toEqual([]);
    expect(w.state.history[0]?.bytesAtRisk).toBeNull();
  });

  it('fences a node that was unreachable at failover once a -sdown says it answers again', async () => {
    // Arrange
    const w = failedOverWorld();
    w.redis.set(N1, { reachable: false });
    await reactToFailover(w.cluster, switchMaster, w.deps);
    w.redis.set(N1, { reachable: true, role: 'master', offset: 1600 });
    const returned = loadEvent('sdown-cleared'); // slave 10.0.1.21:6379 ... @ mymaster 10.0.1.22 6379

    // Act
    const outcome = await handleSentinelEvent(w.cluster, returned, START, w.deps);

    // Assert
    expect(outcome.action).toBe('fence-checked');
    expect(w.redis.replicaOfCalls).toEqual([{ node: N1, master: N2 }]);
    expect(await w.state.pendingFences('orders')).toEqual([]);
    expect(w.state.history.map((e) => [e.kind, e.outcome])).toEqual([
      ['failover', 'succeeded'],
      ['deferred-fence', 'succeeded'],
    ]);
    expect(w.notifier.published.at(-1)?.summary).toBe('orders: returning node n1 fenced as a replica');
  });

  it('keeps the pending fence while the returning node still accepts writes', async () => {
    // Arrange
    const w = failedOverWorld();
    w.redis.set(N1, { reachable: false });
    await reactToFailover(w.cluster, switchMaster, w.deps);
    w.redis.set(N1, { reachable: true, role: 'master', acceptsWritesAnyway: true });

    // Act
    const outcome = await handleSentinelEvent(w.cluster, loadEvent('reboot'), START, w.deps);

    // Assert
    expect(outcome.action === 'fence-checked' && outcome.fenced.map((e) => e.outcome)).toEqual(['failed']);
    expect(await w.state.pendingFences('orders')).toHaveLength(1);
    expect(w.state.history.at(-1)?.error).toBe('n1 still accepts writes');
  });

  it("gives outcome 'partial' and finishes the epoch as failed when a proxy refuses every attempt", async () => {
    // Arrange
    const w = failedOverWorld();
    w.router.failures.set('p2', Number.POSITIVE_INFINITY);

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('partial');
    expect(w.router.routes.get('p1')).toEqual(N2);
    expect(w.router.routes.get('p2')).toEqual(N1);
    expect(w.router.calls.filter((c) => c.proxy === 'p2')).toHaveLength(3);
    expect(w.state.history[0]?.error).toContain('rerouted: 1 of 2 proxies not rerouted: p2');
    expect(w.state.history[0]?.timeline.find((s) => s.step === 'rerouted')?.status).toBe('failed');
    // No canary through the proxy the reroute missed: it could only fail, after every verify attempt.
    expect(w.redis.canaryCalls.map((c) => c.proxy)).not.toContain('p2');
    expect(w.redis.canaryCalls.filter((c) => c.proxy === 'p1')).toHaveLength(2);
    const verified = w.state.history[0]?.timeline.find((s) => s.step === 'verified');
    expect(verified).toMatchObject({ status: 'ok', detail: expect.stringContaining('not through p2') });
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, status: 'failed' });
    expect(w.dns.calls).toEqual([{ master: N2, epoch: 7 }]);
    expect(w.notifier.published[0]?.outcome).toBe('partial');
  });

  it('retries a partial failover on the next trigger and reroutes the proxy it missed', async () => {
    // Arrange: p2 refuses every attempt during the first reaction.
    const w = failedOverWorld();
    w.router.failures.set('p2', Number.POSITIVE_INFINITY);
    await reactToFailover(w.cluster, switchMaster, w.deps);
    w.router.failures.set('p2', 0);

    const callsBefore = w.router.calls.length;

    // Act: a redelivery of the same event.
    const retry = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(retry.action === 'failed-over' && retry.entry.outcome).toBe('succeeded');
    expect(w.router.routes.get('p2')).toEqual(N2);
    // p1 already routed to n2 is left alone (a reroute would cut its clients' sessions again).
    expect(w.router.calls.slice(callsBefore)).toEqual([{ proxy: 'p2', node: N2 }]);
    expect(
      retry.action === 'failed-over' && retry.entry.timeline.find((s) => s.step === 'rerouted')?.detail,
    ).toBe('1 proxies -> n2 (1 already there)');
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, status: 'done' });
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

  it('keeps a pending fence for an unreachable old master even when persisting replicaof fails', async () => {
    // Arrange
    const w = failedOverWorld();
    w.redis.set(N1, { reachable: false });
    w.nodeOps.run = async () => {
      throw new Error('SSM: instance not connected');
    };

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('partial');
    expect(await w.state.pendingFences('orders')).toEqual([{ node: N1, master: N2, epoch: 7, since: START }]);
  });

  it('succeeds when a proxy refuses only its first attempts', async () => {
    // Arrange
    const w = failedOverWorld();
    w.router.failures.set('p1', 2);

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(w.router.calls.filter((c) => c.proxy === 'p1')).toHaveLength(3);
    expect(w.clock.sleeps.filter((ms) => ms === 20)).toHaveLength(2);
  });

  it.each([
    ['reading the applied epoch', 'appliedEpoch'],
    ['claiming the epoch', 'claimEpoch'],
  ] as const)(
    'acts on nothing when the state store fails %s, and reports the error',
    async (_what, method) => {
      // Arrange: without a claim there is no "exactly once"; the failure goes up for the retry and the alarm.
      const w = failedOverWorld();
      w.state[method] = async () => {
        throw new Error('ProvisionedThroughputExceededException: state table unavailable');
      };

      // Act
      const run = reactToFailover(w.cluster, switchMaster, w.deps);

      // Assert
      await expect(run).rejects.toThrow('state table unavailable');
      expect(w.router.calls).toEqual([]);
      expect(w.dns.calls).toEqual([]);
      expect(w.nodeOps.runs).toEqual([]);
      expect(w.redis.replicaOfCalls).toEqual([]);
      expect(w.notifier.published).toEqual([]);
    },
  );

  it('still fails over and records history when the notifier throws', async () => {
    // Arrange
    const w = failedOverWorld();
    w.notifier.failWith = new Error('SNS is down');

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(w.state.history).toHaveLength(1);
    expect(w.logger.lines).toContainEqual({ level: 'error', message: 'notification failed' });
  });

  it('gives outcome partial with a fencing message when a node still accepts writes after REPLICAOF', async () => {
    // Arrange
    const w = failedOverWorld();
    w.redis.set(N1, { acceptsWritesAnyway: true });

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('partial');
    expect(w.redis.replicaOfCalls).toEqual([{ node: N1, master: N2 }]);
    expect(w.state.history[0]?.error).toBe(
      'fenced: n1 still accepts writes after REPLICAOF; check it by hand now',
    );
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, status: 'failed' });
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

describe('failover steps', () => {
  it('rerouteProxies names every proxy that could not be rerouted', async () => {
    // Arrange
    const w = failedOverWorld();
    w.router.failures.set('p1', Number.POSITIVE_INFINITY);
    w.router.failures.set('p2', Number.POSITIVE_INFINITY);

    // Act
    const reroute = await rerouteProxies(w.cluster, N2, w.deps);

    // Assert
    expect(reroute).toEqual({
      summary: '0 proxies -> n2',
      failed: [
        { id: 'p1', error: 'proxy p1: connection refused' },
        { id: 'p2', error: 'proxy p2: connection refused' },
      ],
    });
  });

  it('fenceOtherNodes leaves the new master alone and reports the old master offset', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    const fence = await fenceOtherNodes(w.cluster, N2, 7, w.deps);

    // Assert
    expect(fence.oldMasterOffsets).toEqual(new Map([['10.0.1.21:6379', 1500]]));
    expect(w.redis.probeCalls).not.toContainEqual(N2);
  });

  it('verifyThroughProxies fails with a VerificationError after the configured attempts', async () => {
    // Arrange
    const w = failedOverWorld(); // proxies still point at n1

    // Act
    const verify = verifyThroughProxies(w.cluster, N2, w.deps);

    // Assert
    await expect(verify).rejects.toMatchObject({
      name: 'VerificationError',
      message: expect.stringContaining('canary failed through p1/plain'),
    });
    expect(w.redis.canaryCalls).toHaveLength(3 * 3);
  });
});
