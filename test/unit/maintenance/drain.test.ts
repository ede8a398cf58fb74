/** A drain (drainHost): the master moved off a host, and no node acted on. */

import { describe, expect, it } from 'vitest';
import { prepareDrain } from '../../../core/maintenance/drain.ts';
import {
  drainTarget,
  nextMaintenanceStep,
  onHost,
  planMaintenance,
  switchoverForMaintenance,
} from '../../../core/maintenance/steps.ts';
import { formatEndpoint } from '../../../core/model/cluster.ts';
import { SwitchoverRefusedError } from '../../../core/model/errors.ts';
import { planSwitchover } from '../../../core/switchover/plan.ts';
import { prepareSwitchover, restorePriorities } from '../../../core/switchover/prepare.ts';
import { N1, N3 } from '../../support/fixtures.ts';
import { switchoverState } from '../switchover/fixtures.ts';
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

  it('prepares a drain ahead of its switchover: the Sentinels prefer the target, and Prepare then has nothing to wait for', async () => {
    // Arrange
    const w = healthyWorld();

    // Act
    const prepared = await prepareDrain(w.cluster, n1, w.deps);
    const planned = await planSwitchover(
      w.cluster,
      switchoverState({}, { target: prepared?.target }),
      w.deps,
    );
    const afterPrepare = await prepareSwitchover(w.cluster, planned, w.deps);
    const restored = await restorePriorities(w.cluster, prepared?.priorities ?? {}, w.deps);

    // Assert: n2 is the target, n3 was made less preferred (100 -> 200) and seen by the Sentinels before
    // the switchover; the switchover's own Prepare changed nothing; the drain put n3 back.
    expect(prepared).toEqual({ target: 'n2', priorities: { n3: 100 } });
    expect(afterPrepare.timeline.find((st) => st.step === 'priorities-raised')?.detail).toBe('none needed');
    expect(afterPrepare.priorities).toEqual({});
    expect(restored).toBe('n3 100');
    expect(w.redis.prioritySets.map((p) => `${formatEndpoint(p.node)} ${p.priority}`)).toEqual([
      `${formatEndpoint(N3)} 200`,
      `${formatEndpoint(N3)} 100`,
    ]);
  });

  it('prepares nothing for a cluster whose master is not on the drained host', async () => {
    // Arrange
    const w = healthyWorld();

    // Act
    const prepared = await prepareDrain(w.cluster, formatEndpoint(N3), w.deps);

    // Assert
    expect(prepared).toBeUndefined();
    expect(w.redis.prioritySets).toEqual([]);
  });

  it('puts the priority back when the Sentinels never see it, and says why', async () => {
    // Arrange: Sentinels that keep reporting the old priority.
    const w = healthyWorld();
    const views = w.sentinels.replicasViewOf;
    if (!views) throw new Error('healthyWorld gives the Sentinels a replicas view');
    w.sentinels.replicasViewOf = (...args) => views(...args).map((v) => ({ ...v, priority: 100 }));

    // Act
    const error = await prepareDrain(w.cluster, n1, w.deps).then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assert
    expect(error).toBeInstanceOf(SwitchoverRefusedError);
    expect((error as Error).message).toBe('the Sentinels did not see the changed replica priorities in time');
    expect(w.redis.prioritySets.map((p) => p.priority)).toEqual([200, 100]);
  });

  it('names the priorities to set by hand when it cannot put them back either', async () => {
    // Arrange: Sentinels that never see the change, and a node that refuses the restore.
    const w = healthyWorld();
    const views = w.sentinels.replicasViewOf;
    if (!views) throw new Error('healthyWorld gives the Sentinels a replicas view');
    w.sentinels.replicasViewOf = (...args) => views(...args).map((v) => ({ ...v, priority: 100 }));
    const set = w.redis.setReplicaPriority.bind(w.redis);
    w.redis.setReplicaPriority = async (node, priority) => {
      if (priority === 100) throw new Error('connection refused');
      return set(node, priority);
    };

    // Act
    const error = await prepareDrain(w.cluster, n1, w.deps).then(
      () => undefined,
      (e: unknown) => e as Error,
    );

    // Assert
    expect(error?.message).toBe(
      'the Sentinels did not see the changed replica priorities in time; and the replica priorities it changed could not be put back: set them by hand (CONFIG SET replica-priority): n3 100',
    );
  });
});
