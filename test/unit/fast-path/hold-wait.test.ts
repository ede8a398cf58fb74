/**
 * The hold is waited for at most `holdWaitMs`: an SSM command takes about a second, and the fast path must not
 * spend it before it asks Sentinel. A hold still on its way goes on in the background; a hold that fails within
 * the wait stops the fast path.
 */

import { describe, expect, it } from 'vitest';
import { reactToNodeExit } from '../../../core/failover/fast-path.ts';
import type { NodeOperation } from '../../../core/ports.ts';
import { N2 } from '../../support/fixtures.ts';
import { masterExitWorld, nodeExit, promoteOnFailover } from './fixtures.ts';

describe('reactToNodeExit: the hold is waited for at most holdWaitMs', () => {
  it('asks Sentinel once the wait is over when the hold has not answered, and notes it in the timeline', async () => {
    // Arrange: fence-node never answers (an SSM command stuck in delivery).
    const w = masterExitWorld({ onMasterExit: { holdWaitMs: 20 } });
    promoteOnFailover(w, N2);
    const run = w.deps.nodeOps.run.bind(w.deps.nodeOps);
    w.deps.nodeOps.run = (op: NodeOperation) =>
      op.document === 'fence-node' && op.master.port === 0 ? new Promise(() => undefined) : run(op);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toMatchObject({ action: 'fast-failover', promoted: N2 });
    expect(w.sentinels.failoverCalls).toHaveLength(1);
    const held = w.state.history[0]?.timeline.find((s) => s.step === 'held');
    expect(held?.status).toBe('ok');
    expect(held?.detail).toBe('sent; not done within 20 ms, going on without waiting');
  });

  it('stops when the hold fails within the wait, before asking Sentinel', async () => {
    // Arrange
    const w = masterExitWorld({ onMasterExit: { holdWaitMs: 5000 } });
    const run = w.deps.nodeOps.run.bind(w.deps.nodeOps);
    w.deps.nodeOps.run = (op: NodeOperation) =>
      op.document === 'fence-node' ? Promise.reject(new Error('config not writable')) : run(op);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toMatchObject({ action: 'declined' });
    expect(outcome.action === 'declined' && outcome.reason).toMatch(
      /the hold on n1 failed \(config not writable\)/,
    );
    expect(w.sentinels.failoverCalls).toEqual([]);
  });
});
