/**
 * Finish: priorities restored, the epoch claimed, routing and DNS moved, the switchover recorded, the lease
 * released.
 */

import { describe, expect, it } from 'vitest';
import { reactToFailover } from '../../../core/failover/react.ts';
import { formatEndpoint } from '../../../core/model/cluster.ts';
import { fenceOldMaster, finishSwitchover } from '../../../core/switchover/steps.ts';
import { endpointOf, N1, N2, N3, SENTINELS } from '../../support/fixtures.ts';
import {
  afterSwitchWorld,
  EXECUTION,
  rejectionOf,
  stepNames,
  switchedState,
  TARGET,
  view,
} from './fixtures.ts';

describe('finishSwitchover', () => {
  it('restores the original replica priorities', async () => {
    // Arrange
    const w = afterSwitchWorld();

    // Act
    await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Assert
    expect(w.redis.prioritySets).toEqual([{ node: N3, priority: 100 }]);
    expect(w.redis.priorities.get(formatEndpoint(N3))).toBe(100);
  });

  it('claims the new epoch as done for the new master', async () => {
    // Arrange
    const w = afterSwitchWorld();

    // Act
    await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Assert
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, master: N2, status: 'done' });
  });

  it('succeeds again when retried after it claimed the epoch', async () => {
    // Arrange
    const w = afterSwitchWorld();
    await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Act
    const again = await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Assert
    expect(again.outcome).toBe('succeeded');
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, master: N2, status: 'done' });
  });

  it('leaves nothing for the automatic reaction to do afterwards', async () => {
    // Arrange
    const w = afterSwitchWorld();
    await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Act
    const reaction = await reactToFailover(w.cluster, { type: 'reconcile', seenAt: w.clock.now() }, w.deps);

    // Assert
    expect(reaction).toEqual({ action: 'current', epoch: 7 });
  });

  it('persists routing on every proxy and moves DNS to the new master at the new epoch', async () => {
    // Arrange
    const w = afterSwitchWorld();

    // Act
    await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Assert
    expect(w.nodeOps.runs).toEqual(
      w.cluster.proxies.map((proxy) => ({ document: 'update-haproxy', proxy, master: TARGET, epoch: 7 })),
    );
    expect(w.dns.calls.map((c) => ({ master: endpointOf(c.master), epoch: c.epoch }))).toEqual([
      { master: N2, epoch: 7 },
    ]);
  });

  it('records a succeeded switchover with its write gap, releases the lease and notifies', async () => {
    // Arrange
    const w = afterSwitchWorld();

    // Act
    const result = await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Assert
    expect(result).toMatchObject({ outcome: 'succeeded', leaseHeld: false });
    expect(w.state.history).toHaveLength(1);
    expect(w.state.history[0]).toMatchObject({
      id: EXECUTION,
      kind: 'switchover',
      outcome: 'succeeded',
      epoch: 7,
      oldMaster: N1,
      newMaster: N2,
      writeGapMs: 320,
      bytesAtRisk: 0,
    });
    expect(w.state.history[0]?.error).toBeUndefined();
    expect(w.state.leaseHeld).toBeUndefined();
    expect(w.notifier.published.map((n) => n.summary)).toEqual([
      'switchover of orders: n1 -> n2 at epoch 7, writes blocked 320 ms',
    ]);
    expect(stepNames(result)).toEqual([
      'priorities-restored',
      'epoch-claimed',
      'routing-persisted',
      'dns-updated',
    ]);
  });

  it('throws VerificationError and keeps the lease when the Sentinels name another master', async () => {
    // Arrange: the Sentinels name n3 at epoch 7.
    const w = afterSwitchWorld();
    w.sentinels.answersNow = SENTINELS.map(() => view(N3, 7));
    w.redis.set(N3, { role: 'master' });

    // Act
    const error = await rejectionOf(finishSwitchover(w.cluster, switchedState(), w.deps));

    // Assert
    expect(error.name).toBe('VerificationError');
    expect(error.message).toContain('the Sentinels do not name n2 as master');
    expect(w.state.leaseHeld?.owner).toBe(EXECUTION);
    expect(w.dns.calls).toEqual([]);
    expect(w.state.history).toEqual([]);
  });
});

describe('fenceOldMaster', () => {
  it('persists the re-point Switch made of the old master and of the other replica, then unpauses the old master', async () => {
    // Arrange
    const w = afterSwitchWorld();
    w.redis.set(N1, { role: 'master' }).set(N3, { role: 'slave', master: N2 });

    // Act
    const result = await fenceOldMaster(w.cluster, switchedState(), w.deps);

    // Assert
    expect(w.redis.replicaOfCalls).toEqual(
      expect.arrayContaining([
        { node: N1, master: N2 },
        { node: N3, master: N2 },
      ]),
    );
    expect(w.redis.replicaOfCalls).toHaveLength(2);
    expect(w.redis.unpersistedReplicaOfs).toEqual([]);
    expect(w.redis.unpauses).toEqual([N1]);
    expect(result.timeline.at(-1)).toMatchObject({
      step: 'fenced',
      status: 'ok',
      detail: 'n1 replica of n2, writes readonly',
    });
  });
});
