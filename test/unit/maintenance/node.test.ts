/** Act and wait: the maintenance action on one replica, and the wait until it is back. */

import { describe, expect, it } from 'vitest';
import { actOnNode, MAINTENANCE_TIMING, waitUntilNodeBack } from '../../../core/maintenance/steps.ts';
import { formatEndpoint } from '../../../core/model/cluster.ts';
import { ERROR_NAMES } from '../../../core/model/errors.ts';
import { N2, START } from '../../support/fixtures.ts';
import { healthyWorld, planned, R1, R2, rejectionOf } from './fixtures.ts';

describe('actOnNode', () => {
  it('runs the maintenance action on the current node through NodeOps and records when it acted', async () => {
    // Arrange
    const w = healthyWorld();
    w.clock.advance(500);
    const state = planned({ phase: 'node', current: { node: R2, startedAt: START } }, { action: 'upgrade' });

    // Act
    const result = await actOnNode(w.cluster, state, w.deps);

    // Assert
    expect(w.nodeOps.runs).toEqual([
      { document: 'maintenance-action', node: w.cluster.nodes[1], action: 'upgrade' },
    ]);
    expect(result.current?.actedAt).toBe(START + 500);
    expect(result.timeline.at(-1)).toMatchObject({ step: 'upgrade n2', status: 'ok' });
  });

  it('refuses to act on a node that answers ROLE master', async () => {
    // Arrange
    const w = healthyWorld();
    const state = planned({ phase: 'node', current: { node: R1, startedAt: START } });

    // Act
    const error = await rejectionOf(actOnNode(w.cluster, state, w.deps));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.maintenanceRefused);
    expect(w.nodeOps.runs).toEqual([]);
  });
});

describe('waitUntilNodeBack', () => {
  const acted = (input: Record<string, unknown> = {}) =>
    planned({ phase: 'node', current: { node: R2, startedAt: START, actedAt: START } }, input);

  it('marks the node done once it is a replica of the master, in sync and healthy for every Sentinel', async () => {
    // Arrange
    const w = healthyWorld();
    w.redis.set(N2, { reachable: false });
    let polls = 0;
    const sleep = w.clock.sleep.bind(w.clock);
    w.clock.sleep = async (ms) => {
      polls += 1;
      if (polls === 3) w.redis.set(N2, { reachable: true });
      await sleep(ms);
    };

    // Act
    const result = await waitUntilNodeBack(w.cluster, acted(), w.deps);

    // Assert
    expect(result.done).toEqual(['n2']);
    expect(result.current).toBeUndefined();
    expect(result.timeline.at(-1)).toMatchObject({ step: 'n2 back', status: 'ok', durationMs: 3000 });
  });

  it('keeps waiting while a Sentinel still flags the node, or it lags beyond the bound', async () => {
    // Arrange
    const w = healthyWorld();
    w.flags.set(formatEndpoint(N2), ['s_down']);
    const lagging = healthyWorld();
    lagging.redis.set(N2, { offset: 0 });

    // Act
    const flagged = await rejectionOf(waitUntilNodeBack(w.cluster, acted(), w.deps));
    const behind = await rejectionOf(
      waitUntilNodeBack(lagging.cluster, acted({ maxLagBytes: 10 }), lagging.deps),
    );

    // Assert
    expect(flagged.name).toBe(ERROR_NAMES.nodeNotBackYet);
    expect(flagged.message).toContain('flags n2 s_down');
    expect(behind.message).toContain('n2 is 1000 bytes behind n1 (limit 10)');
  });

  it('gives up one call after its budget with NodeNotBackYetError, for the state machine to retry', async () => {
    // Arrange
    const w = healthyWorld();
    w.redis.set(N2, { reachable: false });

    // Act
    const error = await rejectionOf(waitUntilNodeBack(w.cluster, acted(), w.deps));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.nodeNotBackYet);
    expect(w.clock.now() - START).toBe(MAINTENANCE_TIMING.waitCallBudgetMs);
  });

  it('fails with NodeNotBackError once the node deadline from its action has passed', async () => {
    // Arrange
    const w = healthyWorld();
    w.redis.set(N2, { role: 'master' });

    // Act: the calls the Wait state's retries make, until one is past the deadline.
    let error: Error | undefined;
    for (let call = 0; call < 20 && error?.name !== ERROR_NAMES.nodeNotBack; call += 1) {
      error = await rejectionOf(waitUntilNodeBack(w.cluster, acted({ nodeBackTimeoutMs: 60_000 }), w.deps));
      w.clock.advance(5000);
    }

    // Assert
    expect(error?.name).toBe(ERROR_NAMES.nodeNotBack);
    expect(error?.message).toContain('n2 is not back 60000 ms after its restart (limit 60000)');
    expect(error?.message).toContain('n2 answers ROLE master, not slave');
  });
});
