/**
 * Plan and next: the run's order, refused on a paused, busy or unhealthy cluster, and the item that comes
 * next.
 */

import { describe, expect, it } from 'vitest';
import type { MaintenanceState } from '../../../core/maintenance/state.ts';
import { nextMaintenanceStep, planMaintenance } from '../../../core/maintenance/steps.ts';
import { type Endpoint, formatEndpoint } from '../../../core/model/cluster.ts';
import { ERROR_NAMES } from '../../../core/model/errors.ts';
import { N1, N2, N3, SENTINELS, START } from '../../support/fixtures.ts';
import { healthyWorld, maintenanceState, PLAN, planned, R1, R2, rejectionOf } from './fixtures.ts';

describe('planMaintenance', () => {
  it('records the master and the replicas in order, and changes nothing', async () => {
    // Arrange
    const w = healthyWorld();

    // Act
    const state = await planMaintenance(w.cluster, maintenanceState(), w.deps);

    // Assert
    expect(state.plan).toEqual(PLAN);
    expect(state.master).toEqual(R1);
    expect(state.done).toEqual([]);
    expect(w.nodeOps.runs).toEqual([]);
    expect(w.router.calls).toEqual([]);
    expect(w.state.history).toEqual([]);
    expect(state.timeline).toEqual([
      expect.objectContaining({ step: 'planned', status: 'ok', detail: 'restart: n2, n3, then n1' }),
    ]);
  });

  it('refuses with MaintenanceRefusedError when maintenance mode is paused', async () => {
    // Arrange
    const w = healthyWorld();
    await w.state.setMaintenanceMode('orders', { paused: true, by: 'cli:bob', at: START, reason: 'freeze' });

    // Act
    const error = await rejectionOf(planMaintenance(w.cluster, maintenanceState(), w.deps));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.maintenanceRefused);
    expect(error.message).toContain('paused by cli:bob (freeze)');
  });

  it('refuses when a replica is down', async () => {
    // Arrange
    const w = healthyWorld();
    w.redis.set(N3, { reachable: false });

    // Act
    const error = await rejectionOf(planMaintenance(w.cluster, maintenanceState(), w.deps));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.maintenanceRefused);
    expect(error.message).toContain('replica n3 is down');
  });

  it('refuses when a replica lags beyond the bound', async () => {
    // Arrange
    const w = healthyWorld();
    w.redis.set(N3, { offset: 10 });

    // Act
    const error = await rejectionOf(
      planMaintenance(w.cluster, maintenanceState({}, { maxLagBytes: 100 }), w.deps),
    );

    // Assert
    expect(error.message).toContain('replica n3 is 990 bytes behind the master (limit 100)');
  });

  it('refuses when the Sentinels disagree on the master', async () => {
    // Arrange
    const w = healthyWorld();
    w.sentinels.answersNow = [
      { master: N1, epoch: 6 },
      { master: N1, epoch: 6 },
      { master: N2, epoch: 7 },
    ];

    // Act
    const error = await rejectionOf(planMaintenance(w.cluster, maintenanceState(), w.deps));

    // Assert
    expect(error.message).toContain('Sentinels disagree');
  });

  it('refuses when a Sentinel flags a replica s_down', async () => {
    // Arrange
    const w = healthyWorld();
    w.flags.set(formatEndpoint(N2), ['s_down']);

    // Act
    const error = await rejectionOf(planMaintenance(w.cluster, maintenanceState(), w.deps));

    // Assert
    expect(error.message).toContain(`Sentinel ${formatEndpoint(SENTINELS[0] as Endpoint)} flags n2 s_down`);
  });

  it('refuses when another operation holds the lease', async () => {
    // Arrange
    const w = healthyWorld();
    w.state.leaseHeld = { owner: 'switchover-9', purpose: 'switchover', until: START + 30_000 };

    // Act
    const error = await rejectionOf(planMaintenance(w.cluster, maintenanceState(), w.deps));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.maintenanceRefused);
    expect(error.message).toContain('switchover switchover-9 holds cluster orders');
  });
});

describe('nextMaintenanceStep', () => {
  const w = healthyWorld();
  const next = (overrides: Partial<MaintenanceState>, input: Record<string, unknown> = {}) =>
    nextMaintenanceStep(w.cluster, planned(overrides, input), w.deps);
  const switched = { kind: 'switchover' as const, executionId: 'x', from: 'n1', to: 'n2' };

  it('goes through each replica, the switchover, the old master, then done', async () => {
    // Act
    const steps = [
      await next({}),
      await next({ done: ['n2'] }),
      await next({ done: ['n2', 'n3'] }),
      await next({ done: ['n2', 'n3'], switchovers: [switched], master: R2 }),
      await next({ done: ['n2', 'n3', 'n1'], switchovers: [switched], master: R2 }),
    ];

    // Assert
    expect(steps.map((s) => [s.phase, s.current?.node.id])).toEqual([
      ['node', 'n2'],
      ['node', 'n3'],
      ['switchover', undefined],
      ['node', 'n1'],
      ['done', undefined],
    ]);
  });

  it('switches back after the old master when asked to', async () => {
    // Act
    const back = await next({ done: ['n2', 'n3', 'n1'], switchovers: [switched] }, { switchback: true });
    const end = await next(
      { done: ['n2', 'n3', 'n1'], switchovers: [switched, { ...switched, kind: 'switchback' }] },
      { switchback: true },
    );

    // Assert
    expect(back.phase).toBe('switchback');
    expect(end.phase).toBe('done');
  });
});
