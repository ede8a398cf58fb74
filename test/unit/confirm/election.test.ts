/** Confirmation by election: the failover leader's promotion, confirmed by the votes of the Sentinels. */

import { describe, expect, it } from 'vitest';
import { confirmNewMaster } from '../../../core/failover/confirm.ts';
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
});
