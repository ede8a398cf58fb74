/**
 * What the sentinel-event Lambda counts for the fast path's outcomes (`outcomeMetric`, which alarms watch): a
 * fast failover counts as the failover its reaction applied (or did not confirm), a fast failover that found
 * no promotion has a metric of its own, and a check that declined counts nothing.
 */

import { describe, expect, it } from 'vitest';
import { reactToNodeExit } from '../../../core/failover/fast-path.ts';
import type { NodeExitOutcome } from '../../../core/failover/node-exit.ts';
import { METRICS } from '../../../core/model/metrics.ts';
import { outcomeMetric, outcomeMetrics } from '../../../functions/sentinel-event/handler.ts';
import { N2 } from '../../support/fixtures.ts';
import { masterExitWorld, nodeExit, promoteOnFailover } from './fixtures.ts';

describe('outcomeMetric: the fast path', () => {
  it('counts a fast failover whose reaction failed over as FailoverActedOn', async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Act
    const metric = outcomeMetric(outcome);

    // Assert
    expect(outcome.action === 'fast-failover' && outcome.reaction.action).toBe('failed-over');
    expect(metric).toBe(METRICS.failoverActedOn);
  });

  it('counts a partial reaction as FailoverActedOn and FailoverPartial, which an alarm watches', async () => {
    // Arrange: a proxy refuses every reroute, so the reaction is partial.
    const w = masterExitWorld();
    promoteOnFailover(w, N2);
    w.router.failures.set('p2', Number.POSITIVE_INFINITY);
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Act
    const metrics = outcomeMetrics(outcome);

    // Assert
    expect(metrics).toEqual([METRICS.failoverActedOn, METRICS.failoverPartial]);
    expect(outcomeMetrics({ action: 'unconfirmed' })).toEqual([METRICS.failoverUnconfirmed]);
  });

  it('counts a fast failover that no promotion followed as FastFailoverFailed', async () => {
    // Arrange
    const w = masterExitWorld({ onMasterExit: { promotionDeadlineMs: 50 } });
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Act
    const metric = outcomeMetric(outcome);

    // Assert
    expect(outcome.action).toBe('fast-failover-failed');
    expect(metric).toBe(METRICS.fastFailoverFailed);
  });

  it('counts a fast failover whose reaction did not confirm as FailoverUnconfirmed', () => {
    // Arrange
    const outcome: NodeExitOutcome = {
      action: 'fast-failover',
      promoted: N2,
      reaction: { action: 'unconfirmed' },
    };

    // Act
    const metric = outcomeMetric(outcome);

    // Assert
    expect(metric).toBe(METRICS.failoverUnconfirmed);
  });

  it('counts nothing for a declined exit (the agent saw no exit)', async () => {
    // Arrange
    const w = masterExitWorld();
    const outcome = await reactToNodeExit(w.cluster, nodeExit({ evidence: { processGone: false } }), w.deps);

    // Act
    const metric = outcomeMetric(outcome);

    // Assert
    expect(outcome.action).toBe('declined');
    expect(metric).toBeUndefined();
  });

  it.each([
    ['declined', { action: 'declined', reason: 'a failover is already under way' }],
    ['ignored', { action: 'ignored', reason: "policy 'wait': n1's exit is left to Sentinel" }],
  ] as const)('counts nothing for a %s outcome', (_case, outcome) => {
    // Act
    const metric = outcomeMetric(outcome);

    // Assert
    expect(metric).toBeUndefined();
  });
});
