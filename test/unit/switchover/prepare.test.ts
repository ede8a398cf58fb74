/** Prepare: the cluster lease, and the replica priorities that make Sentinel pick the target. */

import { describe, expect, it } from 'vitest';
import { formatEndpoint } from '../../../core/model/cluster.ts';
import type { SwitchoverPlan } from '../../../core/switchover/state.ts';
import { prepareSwitchover, SWITCHOVER_TIMING } from '../../../core/switchover/steps.ts';
import { N2, N3, START } from '../../support/fixtures.ts';
import {
  beforeSwitchWorld,
  EXECUTION,
  leaseOf,
  PLAN,
  rejectionOf,
  S3,
  sentinelsSeePriorities,
  switchoverState,
  TARGET,
} from './fixtures.ts';

describe('prepareSwitchover', () => {
  it('takes the cluster lease for this execution, for the lease time', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps);

    // Assert
    expect(w.state.leaseHeld).toEqual({
      owner: EXECUTION,
      purpose: 'switchover',
      until: START + SWITCHOVER_TIMING.leaseMs,
    });
    expect(result.leaseHeld).toBe(true);
    expect(result.timeline[0]).toMatchObject({ step: 'lease-taken', status: 'ok' });
  });

  it('raises the other replicas’ priority above the target’s and records their original priorities', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps);

    // Assert
    expect(w.redis.prioritySets).toEqual([{ node: N3, priority: 200 }]);
    expect(result.priorities).toEqual({ n3: 100 });
  });

  it('waits until every Sentinel shows the raised priority', async () => {
    // Arrange: the third Sentinel shows the change at its third poll only.
    const w = beforeSwitchWorld();
    w.sentinels.replicasViewOf = (sentinel, poll) => [
      { address: N2, priority: 100, flags: ['slave'] },
      {
        address: N3,
        priority: formatEndpoint(sentinel) === S3 && poll < 2 ? 100 : 200,
        flags: ['slave'],
      },
    ];

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps);

    // Assert
    expect(w.sentinels.replicasViewCalls).toHaveLength(9);
    expect(w.clock.sleeps).toEqual([200, 200]);
    expect(result.timeline.find((s) => s.step === 'priorities-raised')).toMatchObject({
      status: 'ok',
      detail: 'n3 -> 200; seen by every Sentinel',
      durationMs: 400,
    });
  });

  it('leaves alone a replica that already ranks below the target', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    const plan: SwitchoverPlan = {
      ...PLAN,
      replicas: [
        { ...TARGET, lagBytes: 0, priority: 100, online: true },
        { id: 'n3', ...N3, lagBytes: 10, priority: 150, online: true },
      ],
    };

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan }), w.deps);

    // Assert
    expect(w.redis.prioritySets).toEqual([]);
    expect(result.priorities).toEqual({});
    expect(result.timeline.find((s) => s.step === 'priorities-raised')?.detail).toBe('none needed');
  });

  it('refuses when the Sentinels do not show the raised priority in time', async () => {
    // Arrange: SENTINEL REPLICAS keeps showing the old priority.
    const w = beforeSwitchWorld();
    w.sentinels.replicasViewOf = () => [
      { address: N2, priority: 100, flags: ['slave'] },
      { address: N3, priority: 100, flags: ['slave'] },
    ];

    // Act
    const error = await rejectionOf(prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps));

    // Assert
    expect(error.name).toBe('SwitchoverRefusedError');
    expect(error.message).toContain('the Sentinels did not see the changed replica priorities in time');
    expect(w.clock.now() - START).toBeGreaterThan(SWITCHOVER_TIMING.priorityPropagationMs);
  });

  it('puts the priorities back and releases the lease itself when it fails, since Recover gets the state before it', async () => {
    // Arrange: SENTINEL REPLICAS keeps showing the old priority.
    const w = beforeSwitchWorld();
    w.sentinels.replicasViewOf = () => [
      { address: N2, priority: 100, flags: ['slave'] },
      { address: N3, priority: 100, flags: ['slave'] },
    ];

    // Act
    await rejectionOf(prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps));

    // Assert
    expect(w.redis.prioritySets).toEqual([
      { node: N3, priority: 200 },
      { node: N3, priority: 100 },
    ]);
    expect(await w.state.lease()).toBeUndefined();
  });

  it('never raises a replica with priority 0 (never promote)', async () => {
    const w = beforeSwitchWorld();
    const plan: SwitchoverPlan = {
      ...PLAN,
      replicas: [
        { ...TARGET, lagBytes: 0, priority: 100, online: true },
        { id: 'n3', ...N3, lagBytes: 10, priority: 0, online: true },
      ],
    };
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan }), w.deps);
    expect(w.redis.prioritySets).toEqual([]);
    expect(result.priorities).toEqual({});
  });

  it('throws LeaseHeldError and changes no priority when another owner holds the lease', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);
    w.state.leaseHeld = leaseOf('switchover-0');

    // Act
    const error = await rejectionOf(prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps));

    // Assert
    expect(error.name).toBe('LeaseHeldError');
    expect(error.message).toBe('switchover switchover-0 holds cluster orders; retry when it ends');
    expect(w.state.leaseHeld).toEqual(leaseOf('switchover-0'));
    expect(w.redis.prioritySets).toEqual([]);
  });

  it('takes over a lease that its holder let expire', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);
    w.state.leaseHeld = { owner: 'switchover-0', purpose: 'switchover', until: START - 1 };

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps);

    // Assert
    expect(result.leaseHeld).toBe(true);
    expect(w.state.leaseHeld?.owner).toBe(EXECUTION);
  });
});
