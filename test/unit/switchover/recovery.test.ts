/**
 * Recover: writes unblocked forward or back, priorities restored, the lease released, the failure recorded.
 */

import { describe, expect, it } from 'vitest';
import { formatEndpoint } from '../../../core/model/cluster.ts';
import type { SwitchoverState } from '../../../core/switchover/state.ts';
import { failedStepOf, recoverSwitchover } from '../../../core/switchover/steps.ts';
import { FakeSentinelView, type ViewSpec } from '../../fakes/sentinels.ts';
import { N1, N2, N3, SENTINELS, START } from '../../support/fixtures.ts';
import type { FakeWorld } from '../../support/world.ts';
import {
  CATCH_UP_FAILED,
  EXECUTION,
  failedState,
  failedSwitchWorld,
  leaseOf,
  PLAN,
  preparedState,
  routesOf,
  stepNames,
  switchedState,
  switchoverState,
  view,
} from './fixtures.ts';

/** A timeline step that went well. */
function mark(step: string) {
  return { step, at: START, durationMs: 1, status: 'ok' as const };
}

/** The history entry a Finish of `state` records. */
async function finishedRecord(w: FakeWorld, state: SwitchoverState): Promise<void> {
  await w.state.appendHistory({
    id: state.executionId,
    cluster: 'orders',
    kind: 'switchover',
    epoch: 7,
    oldMaster: N1,
    newMaster: N2,
    outcome: 'succeeded',
    trigger: 'alice: kernel patching',
    startedAt: state.startedAt,
    durationMs: 9000,
    timeline: state.timeline,
    bytesAtRisk: 0,
  });
}

describe('recoverSwitchover', () => {
  it('rolls back to the old master when it is still master and no failover is under way', async () => {
    // Arrange
    const w = failedSwitchWorld();

    // Act
    const result = await recoverSwitchover(w.cluster, failedState(), w.deps);

    // Assert
    expect(result.outcome).toBe('rolled-back');
    expect(w.redis.unpauses).toEqual([N1]);
    expect(routesOf(w)).toEqual({ p1: N1, p2: N1 });
    expect(w.router.blocked.size).toBe(0);
    expect(w.redis.replicaOfCalls).toEqual([]);
  });

  it('restores the priorities and releases the lease', async () => {
    // Arrange
    const w = failedSwitchWorld();

    // Act
    const result = await recoverSwitchover(w.cluster, failedState(), w.deps);

    // Assert
    expect(w.redis.priorities.get(formatEndpoint(N3))).toBe(100);
    expect(w.state.leaseHeld).toBeUndefined();
    expect(result.leaseHeld).toBe(false);
    expect(stepNames(result)).toEqual(['recovered', 'priorities-restored']);
  });

  it('records a failed switchover with the error text, and notifies', async () => {
    // Arrange
    const w = failedSwitchWorld();
    w.clock.advance(2500);

    // Act
    await recoverSwitchover(w.cluster, failedState(), w.deps);

    // Assert
    expect(w.state.history).toHaveLength(1);
    expect(w.state.history[0]).toMatchObject({
      id: EXECUTION,
      cluster: 'orders',
      kind: 'switchover',
      outcome: 'failed',
      epoch: null,
      oldMaster: N1,
      newMaster: null,
      trigger: 'alice: kernel patching',
      startedAt: START,
      durationMs: 2500,
      error: `CatchUpTimeoutError in switch: ${CATCH_UP_FAILED.Cause}`,
    });
    expect(w.notifier.published).toHaveLength(1);
    expect(w.notifier.published[0]).toMatchObject({ kind: 'switchover', outcome: 'failed' });
    expect(w.notifier.published[0]?.summary).toBe(
      'switchover of orders FAILED in switch (CatchUpTimeoutError); rolled-back; writes are unblocked',
    );
  });

  it("records the Lambda runtime's errorMessage from a Catch's JSON Cause, without its stack trace", async () => {
    // Arrange: what Step Functions hands a Catch when the Lambda threw.
    const w = failedSwitchWorld();
    const cause = JSON.stringify({
      errorType: 'CatchUpTimeoutError',
      errorMessage: CATCH_UP_FAILED.Cause,
      trace: [
        'CatchUpTimeoutError: target n2 is 10 bytes behind',
        '    at switchWrites (file:///var/task/index.mjs:1:2)',
      ],
    });

    // Act
    await recoverSwitchover(
      w.cluster,
      { ...preparedState(), error: { Error: 'CatchUpTimeoutError', Cause: cause } },
      w.deps,
    );

    // Assert
    expect(w.state.history[0]?.error).toBe(`CatchUpTimeoutError in switch: ${CATCH_UP_FAILED.Cause}`);
  });

  it('completes forward when a majority names the target: the old master becomes its replica', async () => {
    // Arrange
    const w = failedSwitchWorld(FakeSentinelView.agreeing(N2, 7));
    w.redis.set(N2, { role: 'master' });

    // Act
    const result = await recoverSwitchover(w.cluster, failedState(), w.deps);

    // Assert
    expect(result.outcome).toBe('completed-forward');
    expect(w.redis.replicaOfCalls).toEqual(
      expect.arrayContaining([
        { node: N1, master: N2 },
        { node: N3, master: N2 },
      ]),
    );
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
    expect(w.router.blocked.size).toBe(0);
    expect(w.redis.unpauses).toEqual([N1]);
  });

  it('waits for a failover under way to end before it chooses the direction', async () => {
    // Arrange: for two polls a Sentinel is promoting; then every Sentinel names n2 at epoch 7.
    const promoting: ViewSpec[] = [
      view(N1, 6, { failoverState: 'wait_promotion' }),
      view(N1, 6),
      view(N1, 6),
    ];
    const done = SENTINELS.map(() => view(N2, 7));
    const w = failedSwitchWorld(new FakeSentinelView([promoting, promoting, done]));

    // Act
    const result = await recoverSwitchover(w.cluster, failedState(), w.deps);

    // Assert
    expect(result.outcome).toBe('completed-forward');
    expect(w.clock.sleeps).toEqual([50, 50]);
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
  });

  it('leaves another owner’s lease alone when the failed execution never took it', async () => {
    // Arrange: Prepare failed to take the lease.
    const w = failedSwitchWorld();
    w.state.leaseHeld = leaseOf('switchover-0');
    const state: SwitchoverState = { ...switchoverState({ plan: PLAN }), error: { Error: 'LeaseHeldError' } };

    // Act
    const result = await recoverSwitchover(w.cluster, state, w.deps);

    // Assert
    expect(w.state.leaseHeld).toEqual(leaseOf('switchover-0'));
    expect(w.redis.prioritySets).toEqual([]);
    expect(result.outcome).toBe('rolled-back');
  });

  it('restores the priorities and releases the lease that Prepare took when Prepare’s answer was lost', async () => {
    // Arrange: Prepare took the lease and raised n3, then timed out; the Catch hands over the plan only.
    const w = failedSwitchWorld();
    for (const proxy of w.cluster.proxies) w.router.blocked.delete(proxy.id);
    const state: SwitchoverState = {
      ...switchoverState({ plan: PLAN }),
      error: { Error: 'States.Timeout' },
    };

    // Act
    const result = await recoverSwitchover(w.cluster, state, w.deps);

    // Assert
    expect(result.outcome).toBe('rolled-back');
    expect(w.redis.prioritySets).toEqual([{ node: N3, priority: 100 }]);
    expect(w.state.leaseHeld).toBeUndefined();
    expect(w.state.history[0]?.error).toBe('States.Timeout in prepare');
  });

  it('keeps the record of a Finish whose answer was lost, and still unblocks, restores and notifies', async () => {
    // Arrange: Finish recorded the switchover and released the lease, then its process died.
    const w = failedSwitchWorld(FakeSentinelView.agreeing(N2, 7));
    w.redis.set(N2, { role: 'master' });
    const done = { ...switchedState(), timeline: [mark('fenced'), mark('verified')] };
    await finishedRecord(w, done);
    w.state.leaseHeld = undefined;

    // Act
    const result = await recoverSwitchover(
      w.cluster,
      { ...done, error: { Error: 'Runtime.ExitError', Cause: 'Runtime exited' } },
      w.deps,
    );

    // Assert
    expect(result.outcome).toBe('completed-forward');
    expect(w.state.history.map((e) => e.outcome)).toEqual(['succeeded']);
    expect(w.redis.priorities.get(formatEndpoint(N3))).toBe(100);
    expect(w.notifier.published.at(-1)?.summary).toBe(
      'switchover of orders FAILED in finish (Runtime.ExitError); completed-forward; writes are unblocked',
    );
  });

  it.each([
    ['plan', {}],
    ['prepare', { plan: PLAN }],
    ['switch', { plan: PLAN, leaseHeld: true }],
    ['fence', { plan: PLAN, leaseHeld: true, writeGapMs: 320 }],
    ['verify', { plan: PLAN, leaseHeld: true, writeGapMs: 320, timeline: [mark('fenced')] }],
    [
      'finish',
      { plan: PLAN, leaseHeld: true, writeGapMs: 320, timeline: [mark('fenced'), mark('verified')] },
    ],
  ] as const)('names %s as the failed step from the state the Catch hands over', (step, fields) => {
    expect(failedStepOf(switchoverState(fields as Partial<SwitchoverState>))).toBe(step);
  });
});
