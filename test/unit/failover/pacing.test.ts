/**
 * Critical steps first: reactions that run at once in one process reroute and re-point before any of them runs
 * its follow-ups (DNS, persists, fences of nodes that do not answer, canaries); the pacer that orders them.
 */

import { describe, expect, it } from 'vitest';
import { CriticalFirst } from '../../../adapters/host/critical-first.ts';
import { reactToFailover } from '../../../core/failover/react.ts';
import { N1, N2, N3 } from '../../support/fixtures.ts';
import { failedOverWorld } from '../../support/world.ts';
import { switchMaster } from './fixtures.ts';

const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('CriticalFirst', () => {
  it('lets follow-ups go at once when no reaction is critical, and when the last critical one leaves', async () => {
    // Arrange
    const pacer = new CriticalFirst(60_000);
    let settled = false;

    // Act / Assert
    await pacer.settled();
    const leaveA = pacer.enterCritical();
    const leaveB = pacer.enterCritical();
    void pacer.settled().then(() => {
      settled = true;
    });
    leaveA();
    leaveA(); // a second call changes nothing
    await tick();
    expect(settled).toBe(false);
    expect(pacer.critical).toBe(1);
    leaveB();
    await tick();
    expect(settled).toBe(true);
    expect(pacer.critical).toBe(0);
  });

  it('lets follow-ups go after its bound when a reaction stays critical', async () => {
    // Arrange
    const pacer = new CriticalFirst(30);
    pacer.enterCritical();

    // Act
    const started = Date.now();
    await pacer.settled();

    // Assert
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(pacer.waiting).toBe(0);
  });
});

describe('reactToFailover with a pacer', () => {
  it('reroutes and re-points while another reaction is critical, and holds DNS, persists and canaries until it leaves', async () => {
    // Arrange: n1 does not answer (its fence is a follow-up); n3 still follows n1 (its re-point is critical).
    const w = failedOverWorld();
    w.redis.set(N1, { reachable: false }).set(N3, { role: 'slave', offset: 1200, master: N1 });
    const pacer = new CriticalFirst(60_000);
    const leaveOther = pacer.enterCritical();

    // Act
    const reacting = reactToFailover(w.cluster, switchMaster, { ...w.deps, pacer });
    await tick();

    // Assert: critical steps done, follow-ups held.
    expect(w.router.calls).toEqual([
      { proxy: 'p1', node: N2 },
      { proxy: 'p2', node: N2 },
    ]);
    expect(w.redis.replicaOfCalls).toEqual([{ node: N3, master: N2 }]);
    expect(pacer.critical).toBe(1);
    expect(w.dns.calls).toEqual([]);
    expect(w.nodeOps.runs).toEqual([]);
    expect(w.redis.canaryCalls).toEqual([]);
    expect(await w.state.pendingFences(w.cluster.name)).toEqual([]);

    // Act: the other reaction leaves its critical steps.
    leaveOther();
    const result = await reacting;

    // Assert: the follow-ups ran, and the reaction left no critical count behind.
    expect(result.action).toBe('failed-over');
    expect(w.dns.calls).toEqual([{ master: N2, epoch: 7 }]);
    expect(w.nodeOps.runs.map((r) => r.document).sort()).toEqual([
      'fence-node',
      'update-haproxy',
      'update-haproxy',
    ]);
    expect(w.state.history[0]?.outcome).toBe('succeeded');
    expect(pacer.critical).toBe(0);
  });

  it('leaves its critical steps when it has nothing to do (the epoch is applied already)', async () => {
    // Arrange
    const w = failedOverWorld({
      applied: { epoch: 7, master: N2, status: 'done', token: 't', leaseUntil: 0 },
    });
    const pacer = new CriticalFirst(60_000);

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, { ...w.deps, pacer });

    // Assert
    expect(result.action).toBe('current');
    expect(pacer.critical).toBe(0);
  });
});
