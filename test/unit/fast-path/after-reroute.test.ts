/**
 * After the fast reroute the reaction runs; when it finds nothing to apply (no majority agrees on the promoted
 * replica within the confirm deadline, or the Sentinels still name the applied master) the proxies already
 * point at the promoted replica: the fast path records that as a partial node-exit entry and tells it.
 */

import { describe, expect, it } from 'vitest';
import { reactToNodeExit } from '../../../core/failover/fast-path.ts';
import { N1, N2, START, testCluster } from '../../support/fixtures.ts';
import type { FakeWorld } from '../../support/world.ts';
import { EXITED_AT, masterExitWorld, nodeExit, routesOf, stepNames, view } from './fixtures.ts';

const CONFIRM_DEADLINE_MS = 50;

/** The fast-path world with a short confirm deadline (the reaction's wait for a majority). */
function shortConfirmWorld(): FakeWorld {
  const w = masterExitWorld();
  const { timing } = w.cluster;
  return { ...w, cluster: testCluster({ timing: { ...timing, confirmDeadlineMs: CONFIRM_DEADLINE_MS } }) };
}

describe('reactToNodeExit: the reaction finds nothing to apply after the fast reroute', () => {
  it('records a partial node-exit entry naming n2 when the Sentinels never agree on n2 within the deadline', async () => {
    // Arrange: SENTINEL FAILOVER promotes n2 (ROLE master), but the Sentinels stay split: n2 at 7, n1 at 6, one down.
    const w = shortConfirmWorld();
    w.sentinels.onFailover = () => {
      w.redis.set(N2, { role: 'master' });
      w.sentinels.answersNow = [view(N2, 7), view(N1, 6), 'down'];
    };

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toMatchObject({
      action: 'fast-failover',
      promoted: N2,
      reaction: { action: 'unconfirmed' },
    });
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
    // The reaction polled the Sentinels until its deadline on the fake clock, and no longer.
    const polled = w.clock.sleeps.reduce((sum, ms) => sum + ms, 0);
    expect(polled).toBe(CONFIRM_DEADLINE_MS);
    expect(w.clock.now()).toBe(START + CONFIRM_DEADLINE_MS);
    const exitEntries = w.state.history.filter((e) => e.kind === 'node-exit');
    expect(exitEntries).toHaveLength(1);
    const [entry] = exitEntries;
    expect(entry).toMatchObject({
      kind: 'node-exit',
      trigger: 'node-exited',
      outcome: 'partial',
      oldMaster: N1,
      newMaster: N2,
      epoch: null,
      startedAt: EXITED_AT,
      startedBy: 'the fast path',
    });
    expect(entry?.error).toBe(
      'the proxies were rerouted to n2 after n1 exited, but the reaction found the failover unconfirmed (no majority: 2 of 3 Sentinels answered, 2 must agree; 10.0.1.13:26379: sentinel 10.0.1.13:26379 timed out); the reconcile goes on from here',
    );
    expect(stepNames(entry?.timeline ?? [])).toEqual([
      'exited',
      'probed',
      'candidates',
      'held',
      'failover-asked',
      'promoted',
      'fast-rerouted',
    ]);
    const told = w.notifier.published.filter((n) => n.kind === 'node-exit');
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ outcome: 'partial' });
    expect(told[0]?.summary).toContain('fast failover after n1 exited: the proxies were rerouted to n2');
    // Nothing was claimed: the applied epoch is still n1's, and the lease is released.
    expect(w.state.epochs.get('orders')).toMatchObject({ epoch: 6, master: N1 });
    expect(w.dns.calls).toEqual([]);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('records a partial node-exit entry when the reaction finds the applied master current (the Sentinels still name n1)', async () => {
    // Arrange: n2 answers ROLE master after SENTINEL FAILOVER, but every Sentinel still names n1 at the applied 6.
    const w = masterExitWorld();
    w.sentinels.onFailover = () => {
      w.redis.set(N2, { role: 'master' });
    };

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toMatchObject({
      action: 'fast-failover',
      promoted: N2,
      reaction: { action: 'current', epoch: 6 },
    });
    expect(w.state.history).toHaveLength(1);
    expect(w.state.history[0]).toMatchObject({ kind: 'node-exit', outcome: 'partial', newMaster: N2 });
    expect(w.state.history[0]?.error).toBe(
      'the proxies were rerouted to n2 after n1 exited, but the reaction found the failover current; the reconcile goes on from here',
    );
    expect(w.notifier.published).toHaveLength(1);
    expect(w.state.leaseHeld).toBeUndefined();
  });
});
