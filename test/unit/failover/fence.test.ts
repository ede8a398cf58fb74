/**
 * Fencing in the reaction: nodes made replicas of the new master, an unreachable node's pending fence and
 * its deferred fence.
 */

import { describe, expect, it } from 'vitest';
import { handleSentinelEvent } from '../../../core/failover/handle-event.ts';
import { fenceOtherNodes, reactToFailover } from '../../../core/failover/react.ts';
import { N1, N2, START } from '../../support/fixtures.ts';
import { loadEvent } from '../../support/samples.ts';
import { failedOverWorld } from '../../support/world.ts';
import { switchMaster } from './fixtures.ts';

describe('reactToFailover', () => {
  it('persists replicaof on an unreachable old master and leaves a pending fence', async () => {
    // Arrange
    const w = failedOverWorld();
    w.redis.set(N1, { reachable: false });

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(w.nodeOps.runs.filter((r) => r.document === 'fence-node')).toEqual([
      { document: 'fence-node', node: w.cluster.nodes[0], master: N2, epoch: 7 },
    ]);
    expect(await w.state.pendingFences('orders')).toEqual([{ node: N1, master: N2, epoch: 7, since: START }]);
    expect(w.redis.replicaOfCalls).toEqual([]);
    expect(w.state.history[0]?.bytesAtRisk).toBeNull();
  });

  it("says so when the unreachable node's host refuses the fence as stale, and still leaves the fence pending", async () => {
    // Arrange
    const w = failedOverWorld();
    w.redis.set(N1, { reachable: false });
    w.nodeOps.stale.add('fence-node');

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(w.state.history[0]?.timeline.find((s) => s.step === 'fenced')?.detail).toContain(
      "n1 unreachable: a newer epoch's replicaof is persisted there (epoch 7 is stale), fence pending",
    );
    expect(await w.state.pendingFences('orders')).toEqual([{ node: N1, master: N2, epoch: 7, since: START }]);
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

  it('does not wait on an unreachable host past 3 node timeouts: the fence stays pending, the reaction succeeds and goes on', async () => {
    // Arrange: n1 and its host do not answer; the fence-node command never ends (SSM waits for the host).
    const w = failedOverWorld();
    w.cluster.timing.nodeTimeoutMs = 50;
    w.redis.set(N1, { reachable: false });
    const run = w.nodeOps.run.bind(w.nodeOps);
    w.nodeOps.run = (op) => (op.document === 'fence-node' ? new Promise(() => undefined) : run(op));

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(w.state.history[0]?.timeline.find((s) => s.step === 'fenced')?.detail).toContain(
      'n1 unreachable: replicaof sent to its host, not done within 150 ms; fence pending',
    );
    expect(await w.state.pendingFences('orders')).toEqual([{ node: N1, master: N2, epoch: 7, since: START }]);
    expect(w.dns.calls).toEqual([{ master: N2, epoch: 7 }]);
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
});

describe('failover steps', () => {
  it('fenceOtherNodes leaves the new master alone and reports the old master offset', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    const fence = await fenceOtherNodes(w.cluster, N2, 7, w.deps);

    // Assert
    expect(fence.oldMasterOffsets).toEqual(new Map([['10.0.1.21:6379', 1500]]));
    expect(w.redis.probeCalls).not.toContainEqual(N2);
  });
});
