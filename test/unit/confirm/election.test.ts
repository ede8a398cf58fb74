/** Confirmation by election: the failover leader's promotion, confirmed by the votes of the Sentinels. */

import { describe, expect, it } from 'vitest';
import { confirmNewMaster, PROMOTION_FRESH_MS } from '../../../core/failover/confirm.ts';
import type { Endpoint } from '../../../core/model/cluster.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { FakeRedisNodes } from '../../fakes/redis.ts';
import { FakeSentinelView } from '../../fakes/sentinels.ts';
import { InMemoryStateStore } from '../../fakes/state-store.ts';
import { N1, N2, testCluster } from '../../support/fixtures.ts';
import { applied } from './fixtures.ts';

describe('confirmation by election', () => {
  const leaderId = (s: Endpoint) => `id-${s.host}`;
  const setup = () => {
    const cluster = testCluster();
    const clock = new FakeClock();
    const redis = new FakeRedisNodes().set(N1, { reachable: false }).set(N2, { role: 'master' });
    const state = new InMemoryStateStore();
    // The majority of views still names the old master: observers have not heard of the promotion yet,
    // and the leader reports its failover under way.
    const sentinels = new FakeSentinelView([
      [
        { master: N1, epoch: 6, flags: ['master', 'failover_in_progress'] },
        { master: N1, epoch: 6 },
        { master: N1, epoch: 6 },
      ],
    ]);
    for (const s of cluster.sentinels) sentinels.ids.set(`${s.host}:${s.port}`, leaderId(s));
    return { cluster, clock, redis, state, sentinels, deps: { sentinels, redis, clock, state } };
  };

  it('confirms the promoted replica at once when a majority of Sentinels voted for the promoting leader', async () => {
    // Arrange: the leader (sentinel 1) and sentinel 2 voted for the leader in epoch 7.
    const { cluster, deps, state } = setup();
    const [s1, s2] = cluster.sentinels as [Endpoint, Endpoint];
    await state.recordVote('orders', { epoch: 7, voter: s1, leaderRunId: leaderId(s1) });
    await state.recordVote('orders', { epoch: 7, voter: s2, leaderRunId: leaderId(s1) });

    // Act
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, {
      deadlineMs: 1000,
      promotion: { leader: s1, replica: N2 },
    });

    // Assert
    expect(result).toEqual({
      kind: 'confirmed',
      master: N2,
      epoch: 7,
      votes: 2,
      polls: 1,
      basis: 'elected-leader',
    });
  });

  it("asks the election beside the applied epoch's read, and decides with what it read", async () => {
    // Arrange: a majority voted for the leader in epoch 7; the applied epoch is still being read.
    const { cluster, deps, state } = setup();
    const [s1, s2] = cluster.sentinels as [Endpoint, Endpoint];
    await state.recordVote('orders', { epoch: 7, voter: s1, leaderRunId: leaderId(s1) });
    await state.recordVote('orders', { epoch: 7, voter: s2, leaderRunId: leaderId(s1) });
    let read: (a: ReturnType<typeof applied>) => void = () => undefined;
    const appliedRead = new Promise<ReturnType<typeof applied>>((resolve) => {
      read = resolve;
    });

    // Act
    const pending = confirmNewMaster(cluster, appliedRead, deps, {
      deadlineMs: 1000,
      promotion: { leader: s1, replica: N2 },
    });
    await new Promise((resolve) => setImmediate(resolve));
    const askedBeforeRead = deps.redis.roleCalls.length;
    read(applied(N2, 7));
    const result = await pending;

    // Assert: the election was asked before the read ended; epoch 7 applied already is not newer.
    expect(askedBeforeRead).toBeGreaterThan(0);
    expect(result.kind).toBe('unconfirmed');
  });

  it('does not act on the votes of a minority, nor on votes for another leader', async () => {
    // Arrange: only the leader voted for itself; sentinel 2 voted for sentinel 3.
    const { cluster, deps, state } = setup();
    const [s1, s2, s3] = cluster.sentinels as [Endpoint, Endpoint, Endpoint];
    await state.recordVote('orders', { epoch: 7, voter: s1, leaderRunId: leaderId(s1) });
    await state.recordVote('orders', { epoch: 7, voter: s2, leaderRunId: leaderId(s3) });

    // Act
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, {
      deadlineMs: 100,
      promotion: { leader: s1, replica: N2 },
    });

    // Assert
    expect(result.kind).toBe('unconfirmed');
  });

  it('does not act on an election of an epoch that is already applied', async () => {
    const { cluster, deps, state } = setup();
    const [s1, s2] = cluster.sentinels as [Endpoint, Endpoint];
    await state.recordVote('orders', { epoch: 6, voter: s1, leaderRunId: leaderId(s1) });
    await state.recordVote('orders', { epoch: 6, voter: s2, leaderRunId: leaderId(s1) });
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, {
      deadlineMs: 100,
      promotion: { leader: s1, replica: N2 },
    });
    expect(result.kind).toBe('unconfirmed');
  });

  it('waits until the promoted replica answers ROLE master', async () => {
    const { cluster, deps, state, redis } = setup();
    redis.set(N2, { role: 'slave' });
    const [s1, s2] = cluster.sentinels as [Endpoint, Endpoint];
    await state.recordVote('orders', { epoch: 7, voter: s1, leaderRunId: leaderId(s1) });
    await state.recordVote('orders', { epoch: 7, voter: s2, leaderRunId: leaderId(s1) });
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, {
      deadlineMs: 100,
      promotion: { leader: s1, replica: N2 },
    });
    expect(result.kind).toBe('unconfirmed');
  });

  it('leaves a promotion event seen over 10 s ago to the views: a late retry must not borrow a newer election', async () => {
    // Arrange: a majority voted for the leader in epoch 7, and the replica answers ROLE master.
    const { cluster, clock, deps, state } = setup();
    const [s1, s2] = cluster.sentinels as [Endpoint, Endpoint];
    await state.recordVote('orders', { epoch: 7, voter: s1, leaderRunId: leaderId(s1) });
    await state.recordVote('orders', { epoch: 7, voter: s2, leaderRunId: leaderId(s1) });
    const seenAgo = (ms: number) => ({ leader: s1, replica: N2, seenAt: clock.now() - ms });

    // Act
    const late = await confirmNewMaster(cluster, applied(N1, 6), deps, {
      deadlineMs: 50,
      promotion: seenAgo(PROMOTION_FRESH_MS + 1),
    });
    const fresh = await confirmNewMaster(cluster, applied(N1, 6), deps, {
      deadlineMs: 50,
      promotion: seenAgo(PROMOTION_FRESH_MS),
    });

    // Assert
    expect(late.kind).toBe('unconfirmed');
    expect(fresh).toMatchObject({ kind: 'confirmed', epoch: 7, basis: 'elected-leader' });
  });

  it('ignores a promotion reported by a Sentinel that is not configured', async () => {
    const { cluster, deps, state } = setup();
    const stranger = { host: '10.9.9.9', port: 26379 };
    const [s1, s2] = cluster.sentinels as [Endpoint, Endpoint];
    await state.recordVote('orders', { epoch: 7, voter: s1, leaderRunId: leaderId(stranger) });
    await state.recordVote('orders', { epoch: 7, voter: s2, leaderRunId: leaderId(stranger) });
    const result = await confirmNewMaster(cluster, applied(N1, 6), deps, {
      deadlineMs: 100,
      promotion: { leader: stranger, replica: N2 },
    });
    expect(result.kind).toBe('unconfirmed');
  });

  describe("by the votes the Sentinels hold (asked by the old master's address)", () => {
    const holds = (
      sentinels: FakeSentinelView,
      voter: Endpoint,
      vote: { leaderRunId: string; epoch: number } | 'down' | 'silent',
    ) => sentinels.votes.set(`${voter.host}:${voter.port}>${N1.host}:${N1.port}`, vote);
    /** The confirmation of `leader`'s promotion of N2 away from N1, over an applied epoch of N1. */
    const promotedBy = (
      { cluster, deps }: ReturnType<typeof setup>,
      leader: Endpoint,
      appliedEpoch: number,
      deadlineMs = 50,
    ) =>
      confirmNewMaster(cluster, applied(N1, appliedEpoch), deps, {
        deadlineMs,
        promotion: { leader, replica: N2, master: N1 },
      });

    it('confirms when no vote event was recorded but a majority holds its vote for the leader (shared Sentinels)', async () => {
      // Arrange: a Sentinel that monitors many masters names none in its +vote-for-leader: nothing recorded.
      const world = setup();
      const { cluster, sentinels, state } = world;
      const [s1, s2, s3] = cluster.sentinels as [Endpoint, Endpoint, Endpoint];
      holds(sentinels, s1, { leaderRunId: leaderId(s1), epoch: 7 });
      holds(sentinels, s2, { leaderRunId: leaderId(s1), epoch: 7 });
      holds(sentinels, s3, 'down');

      // Act
      const result = await promotedBy(world, s1, 6, 1000);

      // Assert
      expect(await state.votes('orders')).toEqual([]);
      expect(result).toEqual({
        kind: 'confirmed',
        master: N2,
        epoch: 7,
        votes: 2,
        polls: 1,
        basis: 'elected-leader',
      });
      expect(sentinels.voteQuestions.map((q) => q.master)).toEqual([N1, N1, N1]);
    });

    it('does not wait for a Sentinel that never answers once the others elected the leader', async () => {
      const world = setup();
      const { cluster, sentinels } = world;
      const [s1, s2, s3] = cluster.sentinels as [Endpoint, Endpoint, Endpoint];
      holds(sentinels, s1, { leaderRunId: leaderId(s1), epoch: 7 });
      holds(sentinels, s3, { leaderRunId: leaderId(s1), epoch: 7 });
      holds(sentinels, s2, 'silent');

      const result = await promotedBy(world, s1, 6, 1000);

      expect(result).toMatchObject({ kind: 'confirmed', master: N2, epoch: 7, basis: 'elected-leader' });
    });

    it('counts a recorded vote and a held one together, each voter once', async () => {
      const world = setup();
      const { cluster, sentinels, state } = world;
      const [s1, s2] = cluster.sentinels as [Endpoint, Endpoint];
      await state.recordVote('orders', { epoch: 7, voter: s1, leaderRunId: leaderId(s1) });
      holds(sentinels, s1, { leaderRunId: leaderId(s1), epoch: 7 });

      const alone = await promotedBy(world, s1, 6);
      holds(sentinels, s2, { leaderRunId: leaderId(s1), epoch: 7 });
      const together = await promotedBy(world, s1, 6);

      expect(alone.kind).toBe('unconfirmed');
      expect(together).toMatchObject({ kind: 'confirmed', votes: 2, basis: 'elected-leader' });
    });

    it('does not act on held votes of a minority, for another leader, or of an epoch already applied', async () => {
      const world = setup();
      const { cluster, sentinels } = world;
      const [s1, s2, s3] = cluster.sentinels as [Endpoint, Endpoint, Endpoint];
      holds(sentinels, s1, { leaderRunId: leaderId(s1), epoch: 7 });
      holds(sentinels, s2, { leaderRunId: leaderId(s3), epoch: 7 });
      holds(sentinels, s3, { leaderRunId: leaderId(s3), epoch: 7 });
      const forAnother = await promotedBy(world, s1, 6);
      const applied7 = await promotedBy(world, s3, 7);

      expect(forAnother.kind).toBe('unconfirmed');
      expect(applied7.kind).not.toBe('confirmed');
    });

    it("confirms a shared Sentinel's election in the epoch of the leader's own vote, the others' being later", async () => {
      // Arrange: as measured with one Sentinel per host monitoring 4 masters: the leader voted for itself when it
      // started this master's failover (epoch 2), then the others' elections moved its epoch to 4, and the other
      // Sentinel's vote for it, asked again at 4, counts there (sentinel.c sentinelGetLeader). Config-epoch: 2.
      const world = setup();
      const { cluster, sentinels } = world;
      const [s1, s2, s3] = cluster.sentinels as [Endpoint, Endpoint, Endpoint];
      holds(sentinels, s1, { leaderRunId: leaderId(s1), epoch: 2 });
      holds(sentinels, s2, { leaderRunId: leaderId(s1), epoch: 4 });
      holds(sentinels, s3, 'down');

      // Act
      const result = await promotedBy(world, s1, 1, 1000);

      // Assert
      expect(result).toMatchObject({
        kind: 'confirmed',
        master: N2,
        epoch: 2,
        votes: 2,
        basis: 'elected-leader',
      });
    });

    it("does not count votes across epochs when the leader's own vote is for another, or the others' are older", async () => {
      const world = setup();
      const { cluster, sentinels } = world;
      const [s1, s2, s3] = cluster.sentinels as [Endpoint, Endpoint, Endpoint];
      holds(sentinels, s1, { leaderRunId: leaderId(s3), epoch: 5 });
      holds(sentinels, s2, { leaderRunId: leaderId(s1), epoch: 6 });
      holds(sentinels, s3, 'down');
      const leaderVotedElsewhere = await promotedBy(world, s1, 1);
      holds(sentinels, s1, { leaderRunId: leaderId(s1), epoch: 5 });
      holds(sentinels, s2, { leaderRunId: leaderId(s1), epoch: 3 });
      const othersOlder = await promotedBy(world, s1, 1);

      expect(leaderVotedElsewhere.kind).toBe('unconfirmed');
      expect(othersOlder.kind).toBe('unconfirmed');
    });
  });
});
