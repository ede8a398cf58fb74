/**
 * A host that is gone (an AZ lost with the old master and one HAProxy): nothing the failover needs waits on it,
 * what could not be done there is pending (not partial), and no reconcile repeats the reaction.
 */

import { describe, expect, it } from 'vitest';
import { reconcile } from '../../../core/failover/handle-event.ts';
import { RECORD_RESERVE_MS, reactToFailover } from '../../../core/failover/react.ts';
import { N1, N2, START } from '../../support/fixtures.ts';
import { type FakeWorld, failedOverWorld } from '../../support/world.ts';
import { switchMaster } from './fixtures.ts';

/** n1 (the old master) and p2 are on the lost host: neither answers, and no command reaches it. */
function azLost(): FakeWorld {
  const w = failedOverWorld();
  w.redis.set(N1, { reachable: false });
  w.router.unreachable.add('p2');
  w.nodeOps.unreachable.add('p2');
  w.nodeOps.unreachable.add('n1');
  return w;
}

const stepOf = (w: FakeWorld, step: string) => w.state.history[0]?.timeline.find((s) => s.step === step);

describe('a failover while the old master and a proxy are on a host that is gone', () => {
  it('succeeds with the proxy and the fence pending, moves DNS, finishes the epoch and tells once', async () => {
    // Arrange
    const w = azLost();

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(w.state.history[0]?.error).toBeUndefined();
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(w.router.routes.get('p1')).toEqual(N2);
    expect(stepOf(w, 'rerouted')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('pending, did not answer: p2'),
    });
    expect(stepOf(w, 'fenced')?.detail).toContain('n1 unreachable');
    expect(stepOf(w, 'routing-persisted')).toMatchObject({
      status: 'ok',
      detail: '1 proxies; p2 pending (did not answer the reroute; persisted when repaired)',
    });
    // No command to the lost host's proxy: it would only wait out SSM's delivery timeout.
    expect(w.nodeOps.runs.filter((r) => r.document === 'update-haproxy').map((r) => r.proxy.id)).toEqual([
      'p1',
    ]);
    expect(w.dns.calls).toEqual([{ master: N2, epoch: 7 }]);
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, status: 'done' });
    expect(w.state.fences.get('orders')).toEqual([
      expect.objectContaining({ node: N1, master: N2, epoch: 7 }),
    ]);
    expect(w.notifier.published).toHaveLength(1);
    expect(w.notifier.published[0]).toMatchObject({ outcome: 'succeeded' });
  });

  it('does not repeat the reaction on the next reconcile: no reroute, no command, no entry, no message', async () => {
    // Arrange
    const w = azLost();
    await reactToFailover(w.cluster, switchMaster, w.deps);
    const before = { reroutes: w.router.calls.length, runs: w.nodeOps.runs.length };

    // Act
    await reconcile(w.cluster, w.deps);

    // Assert
    expect(w.router.calls).toHaveLength(before.reroutes);
    expect(w.nodeOps.runs.filter((r) => r.document === 'update-haproxy')).toHaveLength(1);
    expect(w.state.history).toHaveLength(1);
    expect(w.notifier.published).toHaveLength(1);
  });

  it('points the proxy at the new master and persists it there once its host answers again', async () => {
    // Arrange: the host comes back; its HAProxy starts with the routing it had persisted (n1).
    const w = azLost();
    await reactToFailover(w.cluster, switchMaster, w.deps);
    w.router.unreachable.delete('p2');
    w.nodeOps.unreachable.delete('p2');

    // Act
    await reconcile(w.cluster, w.deps);

    // Assert
    expect(w.router.routes.get('p2')).toEqual(N2);
    expect(w.nodeOps.runs.at(-1)).toMatchObject({
      document: 'update-haproxy',
      proxy: { id: 'p2' },
      master: N2,
      epoch: 7,
    });
    expect(w.state.history).toHaveLength(1);
  });

  it("waits for the host's commands no longer than the invocation's end less the time to record and tell", async () => {
    // Arrange: the Lambda ends 60 s after the start.
    const w = azLost();
    const endsAt = START + 60_000;

    // Act
    await reactToFailover(w.cluster, switchMaster, { ...w.deps, endsAt });

    // Assert: every fence and persist on a host was given the same deadline.
    expect(w.nodeOps.deadlines.length).toBeGreaterThan(0);
    expect(new Set(w.nodeOps.deadlines)).toEqual(new Set([endsAt - RECORD_RESERVE_MS]));
  });
});
