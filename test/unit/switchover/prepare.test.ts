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

  it('waits while a Sentinel still sees a replica report itself as master, then goes on', async () => {
    // Arrange: right after a failover, the first two polls of sentinel-1 still hold the demoted N3 as master.
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);
    const seePriorities = w.sentinels.replicasViewOf ?? (() => []);
    let polls = 0;
    w.sentinels.replicasViewOf = (sentinel, poll) => {
      polls += 1;
      const view = seePriorities(sentinel, poll);
      return polls <= 2 ? view.map((v) => (v.address === N3 ? { ...v, roleReported: 'master' } : v)) : view;
    };

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps);

    // Assert: not ready at the first poll; ready once no replica reports master.
    expect(result.timeline.find((s) => s.step === 'priorities-raised')?.status).toBe('ok');
    expect(w.sentinels.replicasViewCalls.length).toBeGreaterThan(3);
  });

  it('refuses, naming the Sentinel and the replica, when a replica keeps reporting itself as master', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);
    const seePriorities = w.sentinels.replicasViewOf ?? (() => []);
    w.sentinels.replicasViewOf = (sentinel, poll) =>
      seePriorities(sentinel, poll).map((v) => (v.address === N3 ? { ...v, roleReported: 'master' } : v));

    // Act
    const error = await rejectionOf(prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps));

    // Assert: refused (Recover rolls back), with who sees what; the priorities are back and the lease free.
    expect(error.name).toBe('SwitchoverRefusedError');
    expect(error.message).toMatch(/the Sentinels still see a replica report itself as master \(.* sees n3/);
    expect(await w.state.lease()).toBeUndefined();
  });

  it('does not wait for a replica that reports master but is down (s_down): Sentinel will not promote it', async () => {
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);
    const seePriorities = w.sentinels.replicasViewOf ?? (() => []);
    w.sentinels.replicasViewOf = (sentinel, poll) =>
      seePriorities(sentinel, poll).map((v) =>
        v.address === N3 ? { ...v, roleReported: 'master', flags: ['slave', 's_down'] } : v,
      );

    const result = await prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps);

    expect(result.timeline.find((s) => s.step === 'priorities-raised')?.status).toBe('ok');
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
