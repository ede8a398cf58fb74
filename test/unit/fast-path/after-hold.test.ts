/**
 * After the hold, the fast path reads the Sentinels again (they were read before the grace, the probe and the
 * hold): when Sentinel failed over meanwhile, or is failing over, the hold stays for the reaction's fence and the
 * reaction runs at once under the fast path's lease (Sentinel's own events are deferred while it is held); when
 * no majority answers any more, the hold is lifted. Either way nothing is asked of Sentinel. And when Sentinel
 * promotes a replica the fast path ruled out, the fast path reroutes nothing itself and leaves it to the reaction.
 */

import { describe, expect, it } from 'vitest';
import { reactToNodeExit } from '../../../core/failover/fast-path.ts';
import { formatEndpoint, NO_MASTER } from '../../../core/model/cluster.ts';
import type { ClusterLease } from '../../../core/model/records.ts';
import { FakeSentinelView, type ViewSpec } from '../../fakes/sentinels.ts';
import { N1, N2, N3 } from '../../support/fixtures.ts';
import type { FakeWorld } from '../../support/world.ts';
import {
  LAST_OFFSET,
  masterExitWorld,
  nodeExit,
  promoteOnFailover,
  recordEffects,
  routesOf,
  view,
} from './fixtures.ts';

const HOLD = `fence-node n1 -> ${formatEndpoint(NO_MASTER)}`;
const N1_AT_6 = view(N1, 6);

/** Sentinels that name n1 at epoch 6 at the checks, then answer `second` when read again after the hold. */
const movedAfterHold = (second: ViewSpec[]) => new FakeSentinelView([[N1_AT_6, N1_AT_6, N1_AT_6], second]);

/** The lease as it was when each Sentinel was read the second time (after the hold). */
function leaseAtSecondRead(w: FakeWorld): (ClusterLease | undefined)[] {
  const seen: (ClusterLease | undefined)[] = [];
  w.sentinels.onQuestion = (_sentinel, round) => {
    if (round === 1) seen.push(w.state.leaseHeld);
  };
  return seen;
}

/** Nothing but the hold (and `more`) reached the world: no failover asked, no reroute, nothing recorded. */
function expectOnlyTheHold(w: FakeWorld, effects: string[], more: string[] = []): void {
  expect(effects).toEqual([HOLD, ...more]);
  expect(w.sentinels.failoverCalls).toEqual([]);
  expect(w.router.calls).toEqual([]);
  expect(w.redis.replicaOfCalls).toEqual([]);
  expect(w.dns.calls).toEqual([]);
  expect(w.state.history).toEqual([]);
  expect(w.notifier.published).toEqual([]);
  expect(w.state.leaseHeld).toBeUndefined();
}

describe('reactToNodeExit: the Sentinels are read again after the hold', () => {
  it('declines when a majority now names n2 (Sentinel failed over meanwhile): the hold stays, the reaction applies n2 at once', async () => {
    // Arrange: Sentinel promoted n2 on its own between the checks and the hold.
    const w = masterExitWorld({ sentinels: movedAfterHold([view(N2, 7), view(N2, 7), view(N2, 7)]) });
    w.redis.set(N2, { role: 'master' });
    const effects = recordEffects(w);
    const lease = leaseAtSecondRead(w);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({
      action: 'declined',
      reason: `a majority now names ${formatEndpoint(N2)}: Sentinel failed over; the hold stays for the fence; the reaction: failed-over`,
    });
    expect(effects[0]).toBe(HOLD);
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.nodeOps.runs.map((r) => r.document)).not.toContain('release-node');
    // The reaction ran under the fast path's lease: n2 applied at epoch 7, the proxies on n2, one entry.
    expect(lease).toEqual(Array(3).fill(expect.objectContaining({ purpose: 'fast-path' })));
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
    expect(w.state.history).toHaveLength(1);
    expect(w.state.history[0]).toMatchObject({ kind: 'failover', epoch: 7, oldMaster: N1, newMaster: N2 });
    expect(w.state.history[0]?.timeline.map((t) => t.step).slice(0, 2)).toEqual(['exited', 'probed']);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('declines when a majority names n2 after the hold even with one Sentinel still on n1', async () => {
    // Arrange
    const w = masterExitWorld({ sentinels: movedAfterHold([view(N2, 7), N1_AT_6, view(N2, 7)]) });
    w.redis.set(N2, { role: 'master' });

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action === 'declined' && outcome.reason).toBe(
      `a majority now names ${formatEndpoint(N2)}: Sentinel failed over; the hold stays for the fence; the reaction: failed-over`,
    );
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
  });

  it.each([
    ['a failover state', view(N1, 6, { failoverState: 'wait-promotion' })],
    ['the failover_in_progress flag', view(N1, 6, { flags: ['master', 'failover_in_progress'] })],
  ])(
    'declines when a failover is under way after the hold (%s), and leaves the hold',
    async (_case, busy) => {
      // Arrange: a majority still names n1 at 6, but one Sentinel has started failing it over.
      const w = masterExitWorld({ sentinels: movedAfterHold([N1_AT_6, busy, N1_AT_6]) });
      promoteOnFailover(w, N2);
      const effects = recordEffects(w);

      // Act
      const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

      // Assert: the reaction waited for the failover under way, found none confirmed, and changed nothing.
      expect(outcome).toEqual({
        action: 'declined',
        reason: 'a failover is already under way; the hold stays for the fence; the reaction: unconfirmed',
      });
      expect(effects).toEqual([HOLD]);
      expect(w.sentinels.failoverCalls).toEqual([]);
      expect(w.router.calls).toEqual([]);
      expect(w.state.history.map((e) => e.outcome)).toEqual(['unconfirmed']);
      expect(w.state.leaseHeld).toBeUndefined();
    },
  );

  it('declines when no majority answers any more, and lifts the hold (release-node) before it returns', async () => {
    // Arrange: two of the three Sentinels stop answering after the checks.
    const w = masterExitWorld({ sentinels: movedAfterHold([N1_AT_6, 'down', 'down']) });
    promoteOnFailover(w, N2);
    const effects = recordEffects(w);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({
      action: 'declined',
      reason: 'no majority of Sentinels agrees on a master any more; the hold was lifted',
    });
    expectOnlyTheHold(w, effects, ['release-node n1']);
    expect(w.nodeOps.runs[1]).toEqual({ document: 'release-node', node: w.cluster.nodes[0] });
  });

  it('says so when the hold cannot be lifted after no majority answers', async () => {
    // Arrange
    const w = masterExitWorld({ sentinels: movedAfterHold(['down', 'down', 'down']) });
    w.nodeOps.failures.set('release-node', new Error('SSM: instance not connected'));

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({
      action: 'declined',
      reason:
        'no majority of Sentinels agrees on a master any more; the hold could NOT be lifted (SSM: instance not connected): check its replicaof line',
    });
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('goes on and asks SENTINEL FAILOVER when a majority still names n1 after the hold (one Sentinel down)', async () => {
    // Arrange
    const w = masterExitWorld({ sentinels: movedAfterHold([N1_AT_6, 'down', N1_AT_6]) });
    promoteOnFailover(w, N2);
    const effects = recordEffects(w);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toMatchObject({ action: 'fast-failover', promoted: N2 });
    expect(effects.slice(0, 2)).toEqual([HOLD, `failover ${formatEndpoint(w.cluster.sentinels[0] ?? N1)}`]);
    expect(w.nodeOps.runs.map((r) => r.document)).not.toContain('release-node');
  });
});

describe('reactToNodeExit: Sentinel promotes a replica the fast path ruled out', () => {
  it('declines naming n3 (too far behind) when Sentinel promotes it, and leaves the reroute and the fence to the reaction', async () => {
    // Arrange: n3 is 5000 bytes behind (limit 100), so n2 alone is a candidate; Sentinel promotes n3 anyway.
    const w = masterExitWorld({ onMasterExit: { maxLagBytes: 100 } });
    w.redis.set(N3, { offset: LAST_OFFSET - 5000 });
    promoteOnFailover(w, N3);
    const effects = recordEffects(w);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({
      action: 'declined',
      reason:
        'Sentinel promoted n3, which the fast path did not count as a candidate; the reaction follows Sentinel; the reaction: failed-over',
    });
    // The fast path itself rerouted nothing; the reaction followed Sentinel to n3 (the proxies once each,
    // after the promotion), and fenced n1 towards n3, replacing the hold.
    expect(effects.slice(0, 2)).toEqual([HOLD, `failover ${formatEndpoint(w.cluster.sentinels[0] ?? N1)}`]);
    expect(effects.filter((e) => e.startsWith('reroute')).sort()).toEqual([
      'reroute p1 -> n3',
      'reroute p2 -> n3',
    ]);
    expect(effects).toContain('fence-node n1 -> n3');
    expect(routesOf(w)).toEqual({ p1: N3, p2: N3 });
    expect(w.nodeOps.runs.map((r) => r.document)).not.toContain('release-node');
    expect(w.state.history.map((e) => [e.kind, e.newMaster])).toEqual([['failover', N3]]);
    expect(w.state.history[0]?.timeline.map((t) => t.step)).not.toContain('fast-rerouted');
    expect(w.state.leaseHeld).toBeUndefined();
  });
});
