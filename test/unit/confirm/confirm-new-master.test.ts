/**
 * confirmNewMaster: a new master is confirmed by a majority, a newer epoch than the applied one, and its own
 * ROLE.
 */

import { describe, expect, it } from 'vitest';
import { confirmNewMaster } from '../../../core/failover/confirm.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { FakeRedisNodes } from '../../fakes/redis.ts';
import { FakeSentinelView } from '../../fakes/sentinels.ts';
import { InMemoryStateStore } from '../../fakes/state-store.ts';
import { N1, N2, N3, START, testCluster } from '../../support/fixtures.ts';
import { applied } from './fixtures.ts';

describe('confirmNewMaster', () => {
  const setup = (sentinels: FakeSentinelView) => {
    const clock = new FakeClock();
    const redis = new FakeRedisNodes().set(N1, { role: 'master' }).set(N2, { role: 'master' });
    const state = new InMemoryStateStore();
    return { cluster: testCluster(), clock, redis, state, deps: { sentinels, redis, clock, state } };
  };

  it('confirms a master that a majority names at a newer epoch and that answers ROLE master', async () => {
    // Arrange
    const { cluster, deps, redis } = setup(
      new FakeSentinelView([[{ master: N2, epoch: 7 }, { master: N2, epoch: 7 }, 'down']]),
    );

    // Act
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, { deadlineMs: 1000 });

    // Assert
    expect(result).toEqual({
      kind: 'confirmed',
      master: N2,
      epoch: 7,
      votes: 2,
      polls: 1,
      basis: 'sentinel-majority',
    });
    expect(redis.roleCalls).toEqual([N2]);
  });

  it('confirms with no applied epoch at all', async () => {
    // Arrange
    const { cluster, deps } = setup(FakeSentinelView.agreeing(N2, 1));

    // Act
    const result = await confirmNewMaster(cluster, undefined, deps, { deadlineMs: 1000 });

    // Assert: the first two answers agree, which settles it; the third is not waited for
    expect(result).toMatchObject({ kind: 'confirmed', master: N2, epoch: 1, votes: 2 });
  });

  it('keeps polling while the named node answers ROLE slave and confirms once it is master', async () => {
    // Arrange
    const { cluster, deps, redis, clock } = setup(FakeSentinelView.agreeing(N2, 7));
    redis.set(N2, { roles: ['slave', 'slave', 'master'] });

    // Act
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, { deadlineMs: 1000 });

    // Assert
    expect(result).toMatchObject({ kind: 'confirmed', master: N2, epoch: 7, polls: 3 });
    expect(clock.sleeps).toEqual([10, 10]);
  });

  it('keeps polling while the named node does not answer', async () => {
    // Arrange
    const { cluster, deps, redis } = setup(FakeSentinelView.agreeing(N2, 7));
    redis.set(N2, { reachable: false });

    // Act
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, { deadlineMs: 50 });

    // Assert
    expect(result).toMatchObject({ kind: 'unconfirmed', polls: 6 });
    expect(result.kind === 'unconfirmed' && result.reason).toContain('answers ROLE unreachable');
  });

  it("returns 'current' at once when the majority names the applied master and epoch", async () => {
    // Arrange
    const { cluster, deps, clock, redis } = setup(FakeSentinelView.agreeing(N2, 7));

    // Act
    const result = await confirmNewMaster(cluster, applied(N2, 7), deps, { deadlineMs: 1000 });

    // Assert
    expect(result).toEqual({ kind: 'current', master: N2, epoch: 7 });
    expect(deps.sentinels.questions).toHaveLength(3);
    expect(clock.sleeps).toEqual([]);
    expect(redis.roleCalls).toEqual([]);
  });

  it("returns 'current' when the majority still names an older epoch than the applied one", async () => {
    // Arrange
    const { cluster, deps } = setup(FakeSentinelView.agreeing(N1, 6));

    // Act
    const result = await confirmNewMaster(cluster, applied(N2, 7), deps, { deadlineMs: 1000 });

    // Assert
    expect(result).toEqual({ kind: 'current', master: N2, epoch: 7 });
  });

  it("keeps polling, not 'current', while a Sentinel reports a failover-state other than none", async () => {
    // Arrange
    const busy = { master: N2, epoch: 7, failoverState: 'select_slave' };
    const { cluster, deps, redis } = setup(
      new FakeSentinelView([
        [busy, { master: N2, epoch: 7 }, { master: N2, epoch: 7 }],
        [
          { master: N3, epoch: 8 },
          { master: N3, epoch: 8 },
          { master: N2, epoch: 7 },
        ],
      ]),
    );
    redis.set(N3, { role: 'master' });

    // Act
    const result = await confirmNewMaster(cluster, applied(N2, 7), deps, { deadlineMs: 1000 });

    // Assert
    expect(result).toEqual({
      kind: 'confirmed',
      master: N3,
      epoch: 8,
      votes: 2,
      polls: 2,
      basis: 'sentinel-majority',
    });
  });

  it("keeps polling, not 'current', while one Sentinel reports a newer epoch", async () => {
    // Arrange
    const { cluster, deps, clock } = setup(
      new FakeSentinelView([
        [
          { master: N2, epoch: 7 },
          { master: N2, epoch: 7 },
          { master: N3, epoch: 8 },
        ],
      ]),
    );

    // Act
    const result = await confirmNewMaster(cluster, applied(N2, 7), deps, { deadlineMs: 100 });

    // Assert
    expect(result.kind).toBe('unconfirmed');
    expect(result.kind === 'unconfirmed' && result.reason).toBe(
      'a majority still names 10.0.1.22:6379 at epoch 7; newest epoch seen 8',
    );
    expect(clock.now() - START).toBe(100);
  });

  it("returns 'unconfirmed' at the deadline with a reason naming how many Sentinels answered", async () => {
    // Arrange
    const { cluster, deps, clock } = setup(
      new FakeSentinelView([[{ master: N2, epoch: 7 }, 'down', 'down']]),
    );

    // Act
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, { deadlineMs: 200 });

    // Assert
    expect(result).toMatchObject({ kind: 'unconfirmed', polls: 21 });
    if (result.kind !== 'unconfirmed') return;
    expect(result.reason).toContain('1 of 3 Sentinels answered, 2 must agree');
    expect(result.reason).toContain('10.0.1.12:26379: sentinel 10.0.1.12:26379 timed out');
    expect(clock.now() - START).toBe(200);
  });

  it('does not count a Sentinel in TILT: two agreeing Sentinels, one of them in TILT, confirm nothing', async () => {
    // Arrange
    const sentinels = new FakeSentinelView([[{ master: N2, epoch: 7 }, { master: N2, epoch: 7 }, 'down']]);
    sentinels.tilted.add('10.0.1.11:26379');
    const { cluster, deps } = setup(sentinels);

    // Act
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, { deadlineMs: 100 });

    // Assert
    expect(result.kind).toBe('unconfirmed');
    if (result.kind !== 'unconfirmed') return;
    expect(result.reason).toContain('1 of 3 Sentinels answered, 2 must agree');
    expect(result.reason).toContain('10.0.1.11:26379: in TILT: its view is not trusted until it leaves');
  });

  it('confirms through the other two when one Sentinel is in TILT', async () => {
    const sentinels = FakeSentinelView.agreeing(N2, 7);
    sentinels.tilted.add('10.0.1.11:26379');
    const { cluster, deps } = setup(sentinels);

    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, { deadlineMs: 100 });

    expect(result).toMatchObject({ kind: 'confirmed', master: N2, epoch: 7, votes: 2 });
  });

  it('polls once and gives up at once with a deadline of 0', async () => {
    // Arrange
    const { cluster, deps } = setup(new FakeSentinelView([['down', 'down', 'down']]));

    // Act
    const result = await confirmNewMaster(cluster, undefined, deps, { deadlineMs: 0 });

    // Assert
    expect(result).toEqual({
      kind: 'unconfirmed',
      polls: 1,
      reason: expect.stringContaining('0 of 3 Sentinels answered'),
    });
  });

  it('never confirms a master that a single Sentinel names', async () => {
    // Arrange
    const { cluster, deps, redis } = setup(
      new FakeSentinelView([[{ master: N3, epoch: 8 }, 'down', 'down']]),
    );
    redis.set(N3, { role: 'master' });

    // Act
    const result = await confirmNewMaster(cluster, applied(N2, 7), deps, { deadlineMs: 500 });

    // Assert
    expect(result.kind).toBe('unconfirmed');
    expect(redis.roleCalls).toEqual([]);
  });

  it('confirms once a second Sentinel comes to agree', async () => {
    // Arrange
    const { cluster, deps } = setup(
      new FakeSentinelView([
        [{ master: N2, epoch: 7 }, 'down', { master: N1, epoch: 6 }],
        [{ master: N2, epoch: 7 }, 'down', { master: N1, epoch: 6 }],
        [{ master: N2, epoch: 7 }, 'down', { master: N2, epoch: 7 }],
      ]),
    );

    // Act
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, { deadlineMs: 1000 });

    // Assert
    expect(result).toEqual({
      kind: 'confirmed',
      master: N2,
      epoch: 7,
      votes: 2,
      polls: 3,
      basis: 'sentinel-majority',
    });
  });
});
