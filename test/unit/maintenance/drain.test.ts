/** A drain (drainHost): the master moved off a host, and no node acted on. */

import { describe, expect, it } from 'vitest';
import {
  drainTarget,
  nextMaintenanceStep,
  onHost,
  planMaintenance,
  switchoverForMaintenance,
} from '../../../core/maintenance/steps.ts';
import { formatEndpoint } from '../../../core/model/cluster.ts';
import { N1, N3 } from '../../support/fixtures.ts';
import { healthyWorld, maintenanceState, R1 } from './fixtures.ts';

describe('drain (drainHost)', () => {
  const n1 = formatEndpoint(N1);

  it('plans no node action, and moves the master off the drained node to a replica elsewhere', async () => {
    // Arrange
    const w = healthyWorld();

    // Act
    const state = await planMaintenance(w.cluster, maintenanceState({}, { drainHost: n1 }), w.deps);
    const next = await nextMaintenanceStep(w.cluster, state, w.deps);
    const switched = await switchoverForMaintenance(w.cluster, next, w.deps);
    const after = await nextMaintenanceStep(w.cluster, switched, w.deps);

    // Assert
    expect(state.plan).toEqual({ master: R1, replicas: [] });
    expect(state.timeline[0]?.detail).toBe(`drain ${n1}: the master n1 moves`);
    expect(next.phase).toBe('switchover');
    expect(switched.switchovers).toEqual([
      expect.objectContaining({ kind: 'switchover', from: 'n1', to: 'n2' }),
    ]);
    expect(after.phase).toBe('done');
    expect(w.nodeOps.runs.filter((r) => r.document === 'maintenance-action')).toEqual([]);
  });

  it('is done at once when the master is not on the drained host', async () => {
    // Arrange
    const w = healthyWorld();

    // Act
    const state = await planMaintenance(
      w.cluster,
      maintenanceState({}, { drainHost: formatEndpoint(N3) }),
      w.deps,
    );
    const next = await nextMaintenanceStep(w.cluster, state, w.deps);

    // Assert
    expect(next.phase).toBe('done');
    expect(w.router.calls).toEqual([]);
  });

  it('finds no target when every replica sits on the drained host, or is not a reachable replica', () => {
    // Arrange
    const node = (id: string, host: string, extra: Record<string, unknown> = {}) => ({
      id,
      address: { host, port: 6379 },
      isMaster: false,
      reachable: true,
      role: 'slave',
      ...extra,
    });
    const sameHost = [node('a', '10.0.0.1', { isMaster: true, role: 'master' }), node('b', '10.0.0.1')];
    const elsewhereDown = [...sameHost, node('c', '10.0.0.2', { reachable: false })];
    const elsewhere = [...elsewhereDown, node('d', '10.0.0.3')];

    // Act + Assert
    expect(drainTarget(sameHost, '10.0.0.1')).toBeUndefined();
    expect(drainTarget(elsewhereDown, '10.0.0.1')).toBeUndefined();
    expect(drainTarget(elsewhere, '10.0.0.1')?.id).toBe('d');
    expect(drainTarget(sameHost, '10.0.0.1:6379')).toBeUndefined(); // b is 10.0.0.1:6379 as well
    expect(onHost({ host: '10.0.0.1', port: 6380 }, '10.0.0.1:6379')).toBe(false);
  });
});
