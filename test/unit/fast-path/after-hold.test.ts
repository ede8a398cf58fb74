/**
 * After the hold, the fast path reads the Sentinels again (they were read before the grace, the probe and the
 * hold): when Sentinel failed over meanwhile, or is failing over, the hold stays for the reaction's fence; when
 * no majority answers any more, the hold is lifted. Either way nothing is asked of Sentinel. And when Sentinel
 * promotes a replica the fast path ruled out, the fast path reroutes nothing and leaves the hold.
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
  it('declines when a majority now names n2 (Sentinel failed over meanwhile), and leaves the hold for the fence', async () => {
    // Arrange
    const w = masterExitWorld({ sentinels: movedAfterHold([view(N2, 7), view(N2, 7), view(N2, 7)]) });
    promoteOnFailover(w, N2);
    const effects = recordEffects(w);
    const lease = leaseAtSecondRead(w);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({
      action: 'declined',
      reason: `a majority now names ${formatEndpoint(N2)}: Sentinel failed over; the hold stays for the fence`,
    });
    // Read twice: at the checks, and once more after the hold.
    expect(w.sentinels.questions).toHaveLength(6);
    expectOnlyTheHold(w, effects);
    expect(w.nodeOps.runs.map((r) => r.document)).not.toContain('release-node');
    // The second read happened under the fast path's lease, which is released after it.
    expect(lease).toEqual(Array(3).fill(expect.objectContaining({ purpose: 'fast-path' })));
    expect(routesOf(w)).toEqual({ p1: N1, p2: N1 });
  });

  it('declines when a majority names n2 after the hold even with one Sentinel still on n1', async () => {
    // Arrange
    const w = masterExitWorld({ sentinels: movedAfterHold([view(N2, 7), N1_AT_6, view(N2, 7)]) });
    promoteOnFailover(w, N2);
    const effects = recordEffects(w);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action === 'declined' && outcome.reason).toBe(
      `a majority now names ${formatEndpoint(N2)}: Sentinel failed over; the hold stays for the fence`,
    );
    expectOnlyTheHold(w, effects);
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

      // Assert
      expect(outcome).toEqual({
        action: 'declined',
        reason: 'a failover is already under way; the hold stays for the fence',
      });
      expectOnlyTheHold(w, effects);
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
  it('declines naming n3 (too far behind) when Sentinel promotes it: no reroute, no re-point, the hold stays', async () => {
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
        'Sentinel promoted n3, which the fast path did not count as a candidate; the reaction follows Sentinel',
    });
    expect(effects).toEqual([HOLD, `failover ${formatEndpoint(w.cluster.sentinels[0] ?? N1)}`]);
    expect(w.router.calls).toEqual([]);
    expect(routesOf(w)).toEqual({ p1: N1, p2: N1 });
    expect(w.redis.replicaOfCalls).toEqual([]);
    expect(w.nodeOps.runs.map((r) => r.document)).toEqual(['fence-node']);
    expect(w.dns.calls).toEqual([]);
    expect(w.state.history).toEqual([]);
    expect(w.state.epochs.get('orders')).toMatchObject({ epoch: 6, master: N1 });
    expect(w.state.leaseHeld).toBeUndefined();
  });
});
