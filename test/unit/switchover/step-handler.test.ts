/**
 * The switchover step handler: input rejected before any port is touched, and each action dispatched to its
 * step.
 */

import { describe, expect, it } from 'vitest';
import { ClusterRegistry } from '../../../core/model/cluster.ts';
import {
  SWITCHOVER_ACTIONS,
  type SwitchoverAction,
  type SwitchoverState,
} from '../../../core/switchover/state.ts';
import { makeSwitchoverStepHandler } from '../../../functions/switchover-step/handler.ts';
import { testCluster } from '../../support/fixtures.ts';
import { type FakeWorld, untouchableDeps } from '../../support/world.ts';
import {
  afterSwitchWorld,
  beforeSwitchWorld,
  EXECUTION,
  failedState,
  failedSwitchWorld,
  PLAN,
  preparedState,
  promoteOnFailover,
  rejectionOf,
  sentinelsSeePriorities,
  switchedState,
  switchoverState,
} from './fixtures.ts';

/** A handler whose ports record any call: for input that must be rejected before any port is used. */
function rejectingHandler() {
  const touched: string[] = [];
  const handler = makeSwitchoverStepHandler(() => ({
    clusters: new ClusterRegistry([testCluster()]),
    failover: untouchableDeps(touched),
  }));
  return { handler, touched };
}

describe('makeSwitchoverStepHandler', () => {
  it('rejects an unknown action with InvalidInputError naming the field, before it touches any port', async () => {
    // Arrange
    const { handler, touched } = rejectingHandler();

    // Act
    const error = await rejectionOf(handler({ action: 'jump', state: switchoverState() }));

    // Assert
    expect(error.name).toBe('InvalidInputError');
    expect(error.message).toContain('invalid switchover step event');
    expect(error.message).toContain('action');
    expect(error.message).not.toContain('\n');
    expect(touched).toEqual([]);
  });

  it('rejects a state without an executionId with InvalidInputError naming the field', async () => {
    // Arrange
    const { handler, touched } = rejectingHandler();
    const { executionId: _dropped, ...state } = switchoverState();

    // Act
    const error = await rejectionOf(handler({ action: 'plan', state }));

    // Assert
    expect(error.name).toBe('InvalidInputError');
    expect(error.message).toContain('state.executionId');
    expect(touched).toEqual([]);
  });

  it('rejects an unknown cluster with UnknownClusterError, before it touches any port', async () => {
    // Arrange
    const { handler, touched } = rejectingHandler();

    // Act
    const error = await rejectionOf(
      handler({ action: 'plan', state: switchoverState({}, { cluster: 'payments' }) }),
    );

    // Assert
    expect(error.name).toBe('UnknownClusterError');
    expect(error.message).toContain("unknown cluster 'payments'; known clusters: orders");
    expect(touched).toEqual([]);
  });

  const dispatches: Record<
    SwitchoverAction,
    { arrange: () => { w: FakeWorld; state: SwitchoverState }; step: string }
  > = {
    plan: { arrange: () => ({ w: beforeSwitchWorld(), state: switchoverState() }), step: 'planned' },
    prepare: {
      arrange: () => {
        const w = beforeSwitchWorld();
        sentinelsSeePriorities(w);
        return { w, state: switchoverState({ plan: PLAN }) };
      },
      step: 'priorities-raised',
    },
    switch: {
      arrange: () => {
        const w = beforeSwitchWorld();
        promoteOnFailover(w);
        return { w, state: preparedState() };
      },
      step: 'rerouted',
    },
    fence: { arrange: () => ({ w: afterSwitchWorld(), state: switchedState() }), step: 'fenced' },
    verify: { arrange: () => ({ w: afterSwitchWorld(), state: switchedState() }), step: 'verified' },
    finish: { arrange: () => ({ w: afterSwitchWorld(), state: switchedState() }), step: 'dns-updated' },
    recover: {
      arrange: () => ({ w: failedSwitchWorld(), state: failedState() }),
      step: 'priorities-restored',
    },
  };

  it.each(SWITCHOVER_ACTIONS.map((action) => ({ action, ...dispatches[action] })))(
    'dispatches $action to its step, which ends with $step',
    async ({ action, arrange, step }) => {
      // Arrange
      const { w, state } = arrange();
      const handler = makeSwitchoverStepHandler(async () => ({
        clusters: new ClusterRegistry([w.cluster]),
        failover: w.deps,
      }));

      // Act
      const result = await handler({ action, state });

      // Assert
      expect(result.timeline.at(-1)).toMatchObject({ step, status: 'ok' });
      expect(result.executionId).toBe(EXECUTION);
    },
  );
});
