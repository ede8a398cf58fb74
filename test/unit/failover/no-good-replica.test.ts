/** Sentinel gave up a failover for want of a replica it can promote: told once, why replica by replica; nothing changes. */

import { describe, expect, it } from 'vitest';
import { handleSentinelEvent } from '../../../core/failover/handle-event.ts';
import { N1, N2, N3, START } from '../../support/fixtures.ts';
import { loadEvent } from '../../support/samples.ts';
import { failedOverWorld } from '../../support/world.ts';

/** n1, the master, is down; Sentinel aborted its failover. */
function abortedWorld() {
  const w = failedOverWorld();
  w.redis.set(N1, { reachable: false });
  w.redis.set(N2, { reachable: false });
  w.redis.set(N3, { role: 'slave', offset: 900, master: N1, linkDownSinceSeconds: 42 });
  w.sentinels.answersNow = [0, 1, 2].map(() => ({ master: N1, epoch: 6 }));
  return w;
}

describe('-failover-abort-no-good-slave', () => {
  it('records a failed failover and tells why for each replica, and changes no routing, DNS or node', async () => {
    // Arrange
    const w = abortedWorld();

    // Act
    const outcome = await handleSentinelEvent(
      w.cluster,
      loadEvent('failover-abort-no-good-slave'),
      START,
      w.deps,
    );

    // Assert
    expect(outcome.action).toBe('no-good-replica');
    const why =
      'n2 does not answer (10.0.1.22:6379 timed out); n3 lost its link to the master 42 s ago (too long ago for Sentinel, or never synced)';
    expect(w.state.history).toEqual([
      expect.objectContaining({
        kind: 'failover',
        outcome: 'failed',
        trigger: '-failover-abort-no-good-slave',
        oldMaster: N1,
        newMaster: null,
        error: `Sentinel found no replica it can promote: ${why}`,
      }),
    ]);
    expect(w.notifier.published).toEqual([
      expect.objectContaining({
        kind: 'failover',
        outcome: 'failed',
        summary:
          `orders: Sentinel could not fail n1 over. Sentinel found no replica it can promote: ${why}. Nothing changed: the proxies still route to n1, ` +
          'and writes fail until n1 or a replica is back (a replica needs its link to the master, and a replica-priority above 0). ' +
          'Sentinel tries again by itself; ha-redis acts on the promotion that follows.',
      }),
    ]);
    expect(w.router.calls).toEqual([]);
    expect(w.dns.calls).toEqual([]);
    expect(w.redis.replicaOfCalls).toEqual([]);
    expect(w.nodeOps.runs).toEqual([]);
  });

  it('names a replica at replica-priority 0, which Sentinel never promotes', async () => {
    const w = abortedWorld();
    w.redis.set(N2, { reachable: true, role: 'slave', offset: 900, master: N1 });
    w.redis.priorities.set('10.0.1.22:6379', 0);

    await handleSentinelEvent(w.cluster, loadEvent('failover-abort-no-good-slave'), START, w.deps);

    expect(w.state.history[0]?.error).toContain('n2 has replica-priority 0 (never promoted)');
  });

  it("tells Sentinel's next attempts for the same master once only", async () => {
    // Arrange
    const w = abortedWorld();
    await handleSentinelEvent(w.cluster, loadEvent('failover-abort-no-good-slave'), START, w.deps);

    // Act: Sentinel tries again after 2 × failover-timeout, and aborts again.
    const again = await handleSentinelEvent(
      w.cluster,
      loadEvent('failover-abort-no-good-slave'),
      START + 360_000,
      w.deps,
    );

    // Assert
    expect(again).toEqual({
      action: 'ignored',
      reason: expect.stringMatching(/^-failover-abort-no-good-slave: told already/),
    });
    expect(w.notifier.published).toHaveLength(1);
    expect(w.state.history).toHaveLength(1);
  });
});
