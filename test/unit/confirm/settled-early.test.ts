/**
 * A confirmation poll stops waiting for a silent Sentinel (a host that is gone holds a caller for its whole
 * timeout) once a majority of the configured Sentinels agree: at once on a newer epoch, after a short grace
 * (CURRENT_GRACE_MS) on the applied one, in which a live Sentinel's answer still counts.
 */

import { describe, expect, it } from 'vitest';
import { confirmNewMaster, NOT_WAITED_FOR, observeSentinels } from '../../../core/failover/confirm.ts';
import { type Endpoint, sameEndpoint } from '../../../core/model/cluster.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { FakeRedisNodes } from '../../fakes/redis.ts';
import { FakeSentinelView, type ViewSpec } from '../../fakes/sentinels.ts';
import { InMemoryStateStore } from '../../fakes/state-store.ts';
import { N1, N2, testCluster } from '../../support/fixtures.ts';
import { applied, S3 } from './fixtures.ts';

/** Sentinels that answer `views`, the third only when `release` is called (never, unless it is). */
function withSilentThird(views: [ViewSpec, ViewSpec, ViewSpec]) {
  const sentinels = new FakeSentinelView([views]);
  let release: () => void = () => undefined;
  const third = new Promise<void>((resolve) => {
    release = resolve;
  });
  sentinels.onQuestion = (sentinel: Endpoint) => (sameEndpoint(sentinel, S3) ? third : undefined);
  const clock = new FakeClock();
  const redis = new FakeRedisNodes().set(N1, { role: 'master' }).set(N2, { role: 'master' });
  const deps = { sentinels, redis, clock, state: new InMemoryStateStore() };
  return { deps, release: () => release() };
}

/** Whether a promise has settled after the pending microtasks and timers of this turn ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  return done;
}

describe('a confirmation that does not wait for a silent Sentinel', () => {
  it('confirms a newer epoch that two of three name while the third never answers', async () => {
    // Arrange
    const { deps } = withSilentThird([{ master: N2, epoch: 7 }, { master: N2, epoch: 7 }, 'down']);

    // Act
    const result = await confirmNewMaster(testCluster(), applied(N1, 6), deps, { deadlineMs: 1000 });

    // Assert
    expect(result).toMatchObject({ kind: 'confirmed', master: N2, epoch: 7, votes: 2, polls: 1 });
  });

  it('moves on from a poll that cannot end as current (a failover under way) without the third', async () => {
    // Arrange: the majority still names the applied master, but one shows its failover in progress
    const { deps } = withSilentThird([
      { master: N1, epoch: 6, failoverState: 'wait_promotion' },
      { master: N1, epoch: 6 },
      'down',
    ]);

    // Act
    const result = await confirmNewMaster(testCluster(), applied(N1, 6), deps, { deadlineMs: 0 });

    // Assert
    expect(result).toMatchObject({ kind: 'unconfirmed', polls: 1 });
    expect(result.kind === 'unconfirmed' && result.reason).toContain('a majority still names');
  });

  it('says current once a majority names the applied master, without the third', async () => {
    // Arrange: two name the applied master; the third would be leading a failover, but never answers
    const { deps } = withSilentThird([
      { master: N1, epoch: 6 },
      { master: N1, epoch: 6 },
      { master: N1, epoch: 6, failoverState: 'wait_promotion' },
    ]);

    // Act
    const result = await confirmNewMaster(testCluster(), applied(N1, 6), deps, { deadlineMs: 0 });

    // Assert: that failover's own events act on it, as when the third times out
    expect(result).toEqual({ kind: 'current', master: N1, epoch: 6 });
    expect(deps.sentinels.questions).toHaveLength(3);
  });

  it("polls on when the caller knows a failover happened (a switchover's Finish): two still naming the applied master have not heard of it yet", async () => {
    // Arrange: the first poll, two name the applied master and the promoting Sentinel is slow; the next, two name
    // the target at the newer epoch.
    const sentinels = new FakeSentinelView([
      [{ master: N1, epoch: 6 }, { master: N1, epoch: 6 }, 'down'],
      [{ master: N2, epoch: 7 }, { master: N2, epoch: 7 }, 'down'],
    ]);
    const deps = {
      sentinels,
      redis: new FakeRedisNodes().set(N1, { role: 'slave' }).set(N2, { role: 'master' }),
      clock: new FakeClock(),
      state: new InMemoryStateStore(),
    };

    // Act
    const expecting = await confirmNewMaster(testCluster(), applied(N1, 6), deps, {
      deadlineMs: 1000,
      expectNewer: true,
    });

    // Assert
    expect(expecting).toMatchObject({ kind: 'confirmed', master: N2, epoch: 7, polls: 2 });
  });

  it('waits for the third while the two that answered disagree', async () => {
    // Arrange: one has adopted a newer master, one has not; the third decides
    const { deps, release } = withSilentThird([
      { master: N2, epoch: 7 },
      { master: N1, epoch: 6 },
      { master: N2, epoch: 7 },
    ]);

    // Act
    const pending = confirmNewMaster(testCluster(), applied(N1, 6), deps, { deadlineMs: 0 });
    const before = await settled(pending);
    release();
    const result = await pending;

    // Assert
    expect(before).toBe(false);
    expect(result).toMatchObject({ kind: 'confirmed', master: N2, epoch: 7, votes: 2 });
  });

  it('reports the Sentinels it did not wait for as not answering, and waits for all without a rule', async () => {
    // Arrange
    const { deps, release } = withSilentThird([{ master: N2, epoch: 7 }, { master: N2, epoch: 7 }, 'down']);
    const cluster = testCluster();

    // Act
    const early = await observeSentinels(cluster, deps.sentinels, (came) =>
      came.length >= 2 ? 0 : undefined,
    );
    const all = observeSentinels(cluster, deps.sentinels);
    const allBefore = await settled(all);
    release();
    const answers = await all;

    // Assert
    expect(early[2]).toEqual({ ok: false, sentinel: S3, error: NOT_WAITED_FOR });
    expect(allBefore).toBe(false);
    expect(answers.filter((a) => a.ok)).toHaveLength(2);
  });
});
