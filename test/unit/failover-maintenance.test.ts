import { describe, expect, it } from 'vitest';
import { type FailoverTrigger, reactToFailover } from '../../core/failover/react.ts';
import { N1, START } from '../support/fixtures.ts';
import { failedOverWorld } from '../support/world.ts';

const switchMaster: FailoverTrigger = { type: '+switch-master', seenAt: START - 800, oldMaster: N1 };

describe('the failover notification and maintenance mode', () => {
  it('says that the cluster was in maintenance, by whom and why, and fails over all the same', async () => {
    // Arrange
    const w = failedOverWorld();
    await w.state.setMaintenanceMode(w.cluster.name, {
      paused: true,
      by: 'cli:alice',
      at: START - 60_000,
      reason: 'kernel upgrades',
    });

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action).toBe('failed-over');
    expect(w.router.calls).toHaveLength(2);
    expect(w.notifier.published.map((n) => n.summary)).toEqual([
      'failover of orders: n1 -> n2 at epoch 7, succeeded; the cluster was in maintenance (paused by cli:alice: kernel upgrades)',
    ]);
  });

  it('says nothing of maintenance when the cluster runs normally (resumed)', async () => {
    const w = failedOverWorld();
    await w.state.setMaintenanceMode(w.cluster.name, {
      paused: false,
      by: 'cli:alice',
      at: START,
      reason: '',
    });
    await reactToFailover(w.cluster, switchMaster, w.deps);
    expect(w.notifier.published[0]?.summary).toBe('failover of orders: n1 -> n2 at epoch 7, succeeded');
  });

  it('fails over and says the mode is unknown when it cannot be read', async () => {
    // Arrange
    const w = failedOverWorld();
    w.state.maintenanceMode = async () => {
      throw new Error('state table throttled');
    };

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action).toBe('failed-over');
    expect(w.notifier.published[0]?.summary).toBe(
      'failover of orders: n1 -> n2 at epoch 7, succeeded; maintenance mode unknown (state table throttled)',
    );
  });
});
