/** Finish and recover: what a run records and tells, when it succeeds and when it fails. */

import { describe, expect, it } from 'vitest';
import { finishMaintenance, recoverMaintenance } from '../../../core/maintenance/steps.ts';
import { ERROR_NAMES } from '../../../core/model/errors.ts';
import { N1, N2, START } from '../../support/fixtures.ts';
import { EXECUTION, healthyWorld, planned, R2, R3 } from './fixtures.ts';

describe('finishMaintenance', () => {
  it('records a maintenance entry with the nodes done and the masters, and notifies', async () => {
    // Arrange
    const w = healthyWorld();
    const state = planned({
      phase: 'done',
      done: ['n2', 'n3', 'n1'],
      master: R2,
      switchovers: [{ kind: 'switchover', executionId: 'x', from: 'n1', to: 'n2', writeGapMs: 300 }],
    });

    // Act
    const result = await finishMaintenance(w.cluster, state, w.deps);

    // Assert
    expect(result).toMatchObject({ phase: 'finished', outcome: 'succeeded' });
    expect(w.state.history).toEqual([
      expect.objectContaining({
        id: EXECUTION,
        kind: 'maintenance',
        outcome: 'succeeded',
        oldMaster: N1,
        newMaster: N2,
        writeGapMs: 300,
        trigger: 'alice: patching',
      }),
    ]);
    expect(w.notifier.published[0]).toMatchObject({ kind: 'maintenance', outcome: 'succeeded' });
    expect(w.notifier.published[0]?.summary).toContain('n2, n3, n1 done; switchover n1 -> n2');
  });
});

describe('recoverMaintenance', () => {
  it('records what was done, the node that failed and the ones not started, and checks writes', async () => {
    // Arrange
    const w = healthyWorld();
    const state = planned({
      phase: 'node',
      done: ['n2'],
      current: { node: R3, startedAt: START, actedAt: START },
      error: { Error: ERROR_NAMES.nodeNotBack, Cause: '{"errorMessage":"n3 is not back"}' },
    });

    // Act
    const result = await recoverMaintenance(w.cluster, state, w.deps);

    // Assert
    expect(result).toMatchObject({ phase: 'failed', outcome: 'failed' });
    const entry = w.state.history[0];
    expect(entry).toMatchObject({ id: EXECUTION, kind: 'maintenance', outcome: 'failed' });
    expect(entry?.error).toBe(
      'NodeNotBackError: n3 is not back; done: n2; failed at: n3; not started: switchover, n1',
    );
    expect(w.redis.canaryCalls.length).toBe(3);
    expect(result.timeline.at(-1)).toMatchObject({ step: 'writable', status: 'ok' });
    expect(w.notifier.published[0]?.summary).toContain('the cluster takes writes');
  });

  it('points a blocked proxy back at the master before it checks writes', async () => {
    // Arrange
    const w = healthyWorld();
    w.router.blocked.add('p1');
    const state = planned({
      phase: 'switchover',
      done: ['n2', 'n3'],
      error: { Error: ERROR_NAMES.promotion, Cause: 'every Sentinel refused' },
    });

    // Act
    await recoverMaintenance(w.cluster, state, w.deps);

    // Assert
    expect(w.router.calls).toEqual([{ proxy: 'p1', node: N1 }]);
    expect(w.state.history[0]?.error).toContain('done: n2, n3; failed at: switchover; not started: n1');
  });

  it('says the cluster may not take writes when no Sentinel majority names a master', async () => {
    // Arrange
    const w = healthyWorld();
    w.sentinels.answersNow = ['down', 'down', 'down'];

    // Act
    const result = await recoverMaintenance(w.cluster, planned({ error: { Error: 'X' } }), w.deps);

    // Assert
    expect(result.outcome).toBe('failed');
    expect(w.notifier.published[0]?.summary).toContain('may NOT take writes');
  });
});
