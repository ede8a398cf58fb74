/**
 * Each exit is acted on at most once: a replica's exit is recorded and told once however often it is delivered,
 * and the master's exit fails over once, whether its duplicates come together or after the failover.
 */

import { describe, expect, it } from 'vitest';
import { reactToNodeExit } from '../../../core/failover/fast-path.ts';
import { formatEndpoint, NO_MASTER } from '../../../core/model/cluster.ts';
import { FakeSentinelView } from '../../fakes/sentinels.ts';
import { N1, N2, N3 } from '../../support/fixtures.ts';
import type { FakeWorld } from '../../support/world.ts';
import { EXITED_AT, expectNoAction, masterExitWorld, nodeExit, promoteOnFailover } from './fixtures.ts';

/** How much of each kind of effect the world has seen, to compare before and after a repeat. */
const counts = (w: FakeWorld) => ({
  failovers: w.sentinels.failoverCalls.length,
  nodeOps: w.nodeOps.runs.length,
  reroutes: w.router.calls.length,
  replicaOf: w.redis.replicaOfCalls.length,
  dns: w.dns.calls.length,
  history: w.state.history.length,
  notifications: w.notifier.published.length,
});

describe('reactToNodeExit: a replica exited', () => {
  it('records one node-exit entry and tells it once; no failover, no hold, no reroute', async () => {
    // Arrange
    const w = masterExitWorld();
    w.redis
      .set(N1, { reachable: true, connect: 'accepted' })
      .set(N3, { reachable: false, connect: 'refused' });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(
      w.cluster,
      nodeExit({ node: N3, evidence: { lastRole: 'slave' } }),
      w.deps,
    );

    // Assert
    expect(outcome.action).toBe('replica-exited');
    expect(w.state.history).toHaveLength(1);
    expect(w.state.history[0]).toMatchObject({
      id: `exit-n3-${EXITED_AT}`,
      kind: 'node-exit',
      trigger: 'node-exited',
      startedAt: EXITED_AT,
      outcome: 'partial',
      oldMaster: null,
      newMaster: null,
    });
    expect(w.state.history[0]?.error).toBe(
      'replica n3 exited; no failover (the master is 10.0.1.21:6379); one replica fewer until it is back',
    );
    expect(w.notifier.published).toHaveLength(1);
    expect(w.notifier.published[0]).toMatchObject({ kind: 'node-exit', outcome: 'partial' });
    expect(w.notifier.published[0]?.summary).toContain("replica n3's redis-server exited");
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.nodeOps.runs).toEqual([]);
    expect(w.router.calls).toEqual([]);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('records and tells it once when the same event is delivered 3 times in a row', async () => {
    // Arrange
    const w = masterExitWorld();
    w.redis.set(N1, { reachable: true, connect: 'accepted' });
    const exit = nodeExit({ node: N3, evidence: { lastRole: 'slave' } });

    // Act
    const outcomes = [];
    for (let i = 0; i < 3; i += 1) outcomes.push(await reactToNodeExit(w.cluster, exit, w.deps));

    // Assert
    expect(outcomes.map((o) => o.action)).toEqual(['replica-exited', 'ignored', 'ignored']);
    expect(outcomes[1]).toEqual({
      action: 'ignored',
      reason: `n3's exit at ${EXITED_AT} was recorded already`,
    });
    expect(w.state.history).toHaveLength(1);
    expect(w.notifier.published).toHaveLength(1);
  });

  it('records and tells it once when the same event is delivered 3 times at once', async () => {
    // Arrange
    const w = masterExitWorld();
    const exit = nodeExit({ node: N2, evidence: { lastRole: 'slave' } });

    // Act
    const outcomes = await Promise.all([1, 2, 3].map(() => reactToNodeExit(w.cluster, exit, w.deps)));

    // Assert
    expect(outcomes.map((o) => o.action).sort()).toEqual(['ignored', 'ignored', 'replica-exited']);
    expect(w.state.history).toHaveLength(1);
    expect(w.notifier.published).toHaveLength(1);
  });

  it('records a later exit of the same replica as a new entry', async () => {
    // Arrange
    const w = masterExitWorld();
    await reactToNodeExit(w.cluster, nodeExit({ node: N3, evidence: { lastRole: 'slave' } }), w.deps);

    // Act
    const outcome = await reactToNodeExit(
      w.cluster,
      nodeExit({ node: N3, exitedAt: EXITED_AT + 60_000, evidence: { lastRole: 'slave' } }),
      w.deps,
    );

    // Assert
    expect(outcome.action).toBe('replica-exited');
    expect(w.state.history.map((e) => e.id)).toEqual([
      `exit-n3-${EXITED_AT}`,
      `exit-n3-${EXITED_AT + 60_000}`,
    ]);
    expect(w.notifier.published).toHaveLength(2);
  });

  it("records a replica's exit under policy 'wait' too (the policy is about the master)", async () => {
    // Arrange
    const w = masterExitWorld({ onMasterExit: { policy: 'wait' } });

    // Act
    const outcome = await reactToNodeExit(
      w.cluster,
      nodeExit({ node: N3, evidence: { lastRole: 'slave' } }),
      w.deps,
    );

    // Assert
    expect(outcome.action).toBe('replica-exited');
    expect(w.sentinels.failoverCalls).toEqual([]);
  });
});

describe("reactToNodeExit: duplicates of the master's exit", () => {
  it('fails over once for two concurrent deliveries: one SENTINEL FAILOVER, one hold, one failover entry', async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);
    const exit = nodeExit();

    // Act
    const outcomes = await Promise.all([
      reactToNodeExit(w.cluster, exit, w.deps),
      reactToNodeExit(w.cluster, structuredClone(exit), w.deps),
    ]);

    // Assert
    const actions = outcomes.map((o) => o.action);
    expect(actions.filter((a) => a === 'fast-failover')).toHaveLength(1);
    expect(actions.filter((a) => a !== 'fast-failover')).toEqual([
      expect.stringMatching(/^(declined|ignored)$/),
    ]);
    expect(w.sentinels.failoverCalls).toHaveLength(1);
    expect(w.nodeOps.runs.filter((r) => r.document === 'fence-node' && r.master === NO_MASTER)).toHaveLength(
      1,
    );
    expect(w.state.history.filter((e) => e.kind === 'failover')).toHaveLength(1);
    expect(w.state.history).toHaveLength(1);
    expect(w.notifier.published).toHaveLength(1);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('fails over once for three concurrent deliveries', async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);

    // Act
    const outcomes = await Promise.all([1, 2, 3].map(() => reactToNodeExit(w.cluster, nodeExit(), w.deps)));

    // Assert
    expect(outcomes.filter((o) => o.action === 'fast-failover')).toHaveLength(1);
    expect(w.sentinels.failoverCalls).toHaveLength(1);
    expect(w.state.history.filter((e) => e.kind === 'failover')).toHaveLength(1);
  });

  it('ignores the same event delivered again after the failover finished, and does nothing new', async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);
    const first = await reactToNodeExit(w.cluster, nodeExit(), w.deps);
    const before = counts(w);

    // Act
    const again = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(first.action).toBe('fast-failover');
    // A majority names n2 now and n1 was the master when it died: the reaction recorded it, nothing is new.
    expect(again).toEqual({
      action: 'ignored',
      reason: `n1 was the master when it exited; a majority now names ${N2.host}:${N2.port}`,
    });
    expect(counts(w)).toEqual(before);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('acts on a new exit of n1 although n1 was failed over an hour before (a different exit)', async () => {
    // Arrange: the history holds a failover away from n1 of an hour ago; n1 is master again and exits again.
    const w = masterExitWorld();
    promoteOnFailover(w, N2);
    await w.state.appendHistory({
      id: 'old',
      cluster: 'orders',
      kind: 'failover',
      trigger: 'node-exited',
      startedAt: EXITED_AT - 3_600_000,
      durationMs: 900,
      timeline: [],
      epoch: 5,
      oldMaster: N1,
      newMaster: N2,
      outcome: 'succeeded',
      bytesAtRisk: null,
    });

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover');
    expect(w.sentinels.failoverCalls).toHaveLength(1);
    expect(w.state.history.filter((e) => e.kind === 'failover')).toHaveLength(2);
  });

  it('ignores the exit when a failover away from n1 was recorded since it (Sentinel failed over first)', async () => {
    // Arrange: the +switch-master reaction recorded n1 -> n2 after the exit; a majority still names n1 (stale).
    const w = masterExitWorld();
    promoteOnFailover(w, N2);
    await w.state.appendHistory({
      id: 'sentinel-own',
      cluster: 'orders',
      kind: 'failover',
      trigger: '+switch-master',
      startedAt: EXITED_AT + 4000,
      durationMs: 900,
      timeline: [],
      epoch: 7,
      oldMaster: N1,
      newMaster: N2,
      outcome: 'succeeded',
      bytesAtRisk: null,
    });

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({ action: 'ignored', reason: `n1's exit at ${EXITED_AT} was acted on already` });
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.nodeOps.runs).toEqual([]);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it.each([['-failover-abort-not-elected'], ['-failover-abort-no-good-slave']])(
    'acts on the exit when the only entry since is Sentinel giving a failover up (%s)',
    async (trigger) => {
      // Arrange: Sentinel gave a failover of n1 up after the exit; that changed nothing on n1.
      const w = masterExitWorld();
      promoteOnFailover(w, N2);
      await w.state.appendHistory({
        id: 'given-up',
        cluster: 'orders',
        kind: 'failover',
        trigger,
        startedAt: EXITED_AT + 100,
        durationMs: 0,
        timeline: [],
        epoch: null,
        oldMaster: N1,
        newMaster: null,
        outcome: 'failed',
        bytesAtRisk: null,
      });

      // Act
      const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

      // Assert
      expect(outcome.action).toBe('fast-failover');
      expect(w.sentinels.failoverCalls).toHaveLength(1);
    },
  );

  it("ignores the master's exit arriving when a majority already names n2: no replica exit is recorded or told", async () => {
    // Arrange: Sentinel failed n1 over to n2 before the agent's event arrived; nothing is in the history yet.
    const w = masterExitWorld({ sentinels: FakeSentinelView.agreeing(N2, 7) });
    w.redis.set(N2, { role: 'master', master: undefined });

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit({ evidence: { lastRole: 'master' } }), w.deps);

    // Assert
    expect(outcome).toEqual({
      action: 'ignored',
      reason: `n1 was the master when it exited; a majority now names ${formatEndpoint(N2)}`,
    });
    expectNoAction(w);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('does nothing at all for an exit the checks decline, however often it comes', async () => {
    // Arrange
    const w = masterExitWorld();
    const exit = nodeExit({ evidence: { processGone: false } });

    // Act
    const outcomes = await Promise.all([1, 2, 3].map(() => reactToNodeExit(w.cluster, exit, w.deps)));

    // Assert
    expect(outcomes.map((o) => o.action)).toEqual(['declined', 'declined', 'declined']);
    expectNoAction(w);
  });
});
