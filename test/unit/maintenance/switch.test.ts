/** The switchover away from the master and the switchback to it, with the switchover's own steps. */

import { describe, expect, it } from 'vitest';
import { switchbackForMaintenance, switchoverForMaintenance } from '../../../core/maintenance/steps.ts';
import { formatEndpoint } from '../../../core/model/cluster.ts';
import { ERROR_NAMES } from '../../../core/model/errors.ts';
import { N1, SENTINELS } from '../../support/fixtures.ts';
import { EXECUTION, healthyWorld, planned, R1, rejectionOf } from './fixtures.ts';

describe('switchoverForMaintenance and switchbackForMaintenance', () => {
  it('switches over away from the master with the switchover steps and its own lease', async () => {
    // Arrange
    const w = healthyWorld();

    // Act
    const result = await switchoverForMaintenance(
      w.cluster,
      planned({ done: ['n2', 'n3'], phase: 'switchover' }),
      w.deps,
    );

    // Assert
    expect(result.master?.id).not.toBe('n1');
    expect(result.switchovers).toEqual([
      expect.objectContaining({ kind: 'switchover', executionId: `${EXECUTION}-switchover`, from: 'n1' }),
    ]);
    expect(w.state.leaseHeld).toBeUndefined();
    expect(w.state.history).toEqual([
      expect.objectContaining({ id: `${EXECUTION}-switchover`, kind: 'switchover', outcome: 'succeeded' }),
    ]);
    expect(result.timeline.at(-1)).toMatchObject({ step: 'switched-over', status: 'ok' });
  });

  it('switches back to the master the run started with', async () => {
    // Arrange
    const w = healthyWorld();
    const over = await switchoverForMaintenance(w.cluster, planned({ phase: 'switchover' }), w.deps);

    // Act
    const back = await switchbackForMaintenance(w.cluster, { ...over, phase: 'switchback' }, w.deps);

    // Assert
    expect(back.master).toEqual(R1);
    expect(back.switchovers.map((s) => [s.kind, s.to])).toEqual([
      ['switchover', over.master?.id],
      ['switchback', 'n1'],
    ]);
    expect(w.router.routes.get('p1')).toMatchObject(N1);
  });

  it('recovers a failed switchover itself, then fails with its error', async () => {
    // Arrange
    const w = healthyWorld();
    for (const s of SENTINELS) w.sentinels.failoverAnswers.set(formatEndpoint(s), 'INPROG');

    // Act
    const error = await rejectionOf(
      switchoverForMaintenance(w.cluster, planned({ phase: 'switchover' }), w.deps),
    );

    // Assert
    expect(error.name).toBe(ERROR_NAMES.promotion);
    expect(w.state.leaseHeld).toBeUndefined();
    expect(w.redis.unpauses).toContainEqual(N1);
    expect(w.state.history).toEqual([
      expect.objectContaining({ id: `${EXECUTION}-switchover`, kind: 'switchover', outcome: 'failed' }),
    ]);
    expect(w.router.routes.get('p2')).toMatchObject(N1);
  });
});
