/** The automatic reaction and the routing repair while a switchover holds the cluster's lease. */

import { describe, expect, it } from 'vitest';
import { repairRouting } from '../../../core/failover/handle-event.ts';
import { reactToFailover } from '../../../core/failover/react.ts';
import { N1, N2, START } from '../../support/fixtures.ts';
import { failedOverWorld } from '../../support/world.ts';
import { beforeSwitchWorld, EXECUTION, leaseOf, routesOf } from './fixtures.ts';

describe('reactToFailover under a switchover lease', () => {
  it('defers to the lease holder and touches no proxy while the lease is unexpired', async () => {
    // Arrange
    const w = failedOverWorld();
    w.state.leaseHeld = leaseOf(EXECUTION);

    // Act
    const result = await reactToFailover(
      w.cluster,
      { type: '+switch-master', seenAt: START, oldMaster: N1 },
      w.deps,
    );

    // Assert
    expect(result).toEqual({ action: 'deferred', epoch: 7, owner: EXECUTION });
    expect(w.router.calls).toEqual([]);
    expect(w.router.blockCalls).toEqual([]);
    expect((await w.state.appliedEpoch('orders'))?.epoch).toBe(6);
    expect(w.state.history).toEqual([]);
  });

  it("does not wait for the election rescue's lease: it only asked Sentinel for the failover this follows", async () => {
    // Arrange
    const w = failedOverWorld();
    w.state.leaseHeld = leaseOf('election-rescue:10.0.1.21:6379:1', 'election-rescue');

    // Act
    const result = await reactToFailover(
      w.cluster,
      { type: '+switch-master', seenAt: START, oldMaster: N1 },
      w.deps,
    );

    // Assert
    expect(result.action).toBe('failed-over');
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
  });

  it('fails over as usual once the lease has expired', async () => {
    // Arrange
    const w = failedOverWorld();
    w.state.leaseHeld = { owner: EXECUTION, purpose: 'switchover', until: START - 1 };

    // Act
    const result = await reactToFailover(
      w.cluster,
      { type: '+switch-master', seenAt: START, oldMaster: N1 },
      w.deps,
    );

    // Assert
    expect(result.action).toBe('failed-over');
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
  });
});

describe('repairRouting', () => {
  it('points a blocked proxy back at the applied master when no lease is held and the epoch is done', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    w.router.blocked.add('p1');

    // Act
    const repaired = await repairRouting(w.cluster, w.deps);

    // Assert
    expect(repaired).toEqual(['p1']);
    expect(w.router.calls).toEqual([{ proxy: 'p1', node: N1 }]);
    expect(w.router.blocked.size).toBe(0);
  });

  it('leaves a blocked proxy alone while an unexpired lease is held', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    w.router.blocked.add('p1');
    w.state.leaseHeld = leaseOf(EXECUTION);

    // Act
    const repaired = await repairRouting(w.cluster, w.deps);

    // Assert
    expect(repaired).toEqual([]);
    expect(w.router.calls).toEqual([]);
    expect([...w.router.blocked]).toEqual(['p1']);
  });

  it('leaves a blocked proxy alone while the applied epoch is not done', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    w.router.blocked.add('p1');
    w.state.epochs.set('orders', {
      epoch: 6,
      master: N1,
      status: 'claimed',
      token: 't',
      leaseUntil: START + 1000,
    });

    // Act
    const repaired = await repairRouting(w.cluster, w.deps);

    // Assert
    expect(repaired).toEqual([]);
    expect(w.router.calls).toEqual([]);
    expect([...w.router.blocked]).toEqual(['p1']);
  });

  it('never points proxies back at an applied master that answers no ROLE master (it died after the fast path moved them)', async () => {
    // Arrange: the applied master n1 is dead; the proxies already point at n2, whose epoch is not applied yet.
    const w = beforeSwitchWorld();
    w.redis.set(N1, { reachable: false });
    w.router.routes.set('p1', N2);
    w.router.routes.set('p2', N2);

    // Act
    const repaired = await repairRouting(w.cluster, w.deps);

    // Assert
    expect(repaired).toEqual([]);
    expect(w.router.calls).toEqual([]);
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
  });
});
