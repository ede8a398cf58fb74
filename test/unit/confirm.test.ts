import { describe, expect, it } from 'vitest';
import {
  confirmNewMaster,
  decideMajority,
  electedEpoch,
  majorityOf,
  observeSentinels,
  type SentinelAnswer,
} from '../../core/failover/confirm.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import type { AppliedEpoch } from '../../core/ports.ts';
import {
  FakeClock,
  FakeRedisNodes,
  FakeSentinelView,
  InMemoryStateStore,
  N1,
  N2,
  N3,
  SENTINELS,
  START,
  testCluster,
} from './helpers.ts';

const [S1, S2, S3] = SENTINELS as [Endpoint, Endpoint, Endpoint];

const answer = (
  sentinel: Endpoint,
  master: Endpoint,
  epoch: number,
  more: { failoverState?: string; flags?: string[] } = {},
): SentinelAnswer => ({
  ok: true,
  view: {
    sentinel,
    master,
    configEpoch: epoch,
    flags: more.flags ?? ['master'],
    failoverState: more.failoverState ?? 'none',
    numOtherSentinels: 2,
    quorum: 2,
  },
});
const silent = (sentinel: Endpoint): SentinelAnswer => ({ ok: false, sentinel, error: 'timed out' });

const applied = (master: Endpoint, epoch: number): AppliedEpoch => ({
  epoch,
  master,
  status: 'done',
  token: 't',
  leaseUntil: START,
});

describe('decideMajority', () => {
  it('needs a majority of the configured Sentinels', () => {
    // Act
    const needed = [1, 2, 3, 4, 5].map(majorityOf);

    // Assert
    expect(needed).toEqual([1, 2, 2, 3, 3]);
  });

  it('agrees when 2 of 3 Sentinels name the same master at the same epoch', () => {
    // Arrange
    const answers = [answer(S1, N2, 7), answer(S2, N2, 7), answer(S3, N1, 6)];

    // Act
    const decision = decideMajority(answers, 3);

    // Assert
    expect(decision).toEqual({
      agreed: { master: N2, epoch: 7, votes: 2 },
      needed: 2,
      answered: 3,
      newestEpoch: 7,
      failoverInProgress: false,
    });
  });

  it('agrees on nothing when 3 Sentinels give 3 different views', () => {
    // Arrange
    const answers = [answer(S1, N1, 6), answer(S2, N2, 7), answer(S3, N3, 8)];

    // Act
    const decision = decideMajority(answers, 3);

    // Assert
    expect(decision.agreed).toBeUndefined();
    expect(decision.answered).toBe(3);
    expect(decision.newestEpoch).toBe(8);
  });

  it('has no majority from a single answer, since the majority is of configured Sentinels', () => {
    // Arrange
    const answers = [answer(S1, N2, 7), silent(S2), silent(S3)];

    // Act
    const decision = decideMajority(answers, 3);

    // Assert
    expect(decision.agreed).toBeUndefined();
    expect(decision.answered).toBe(1);
    expect(decision.needed).toBe(2);
  });

  it('does not count the same address at different epochs as agreement', () => {
    // Arrange
    const answers = [answer(S1, N2, 7), answer(S2, N2, 8), silent(S3)];

    // Act
    const decision = decideMajority(answers, 3);

    // Assert
    expect(decision.agreed).toBeUndefined();
    expect(decision.newestEpoch).toBe(8);
  });

  it('reports a failover in progress from a failover-state other than none', () => {
    // Arrange
    const answers = [
      answer(S1, N2, 7),
      answer(S2, N2, 7),
      answer(S3, N2, 7, { failoverState: 'wait_promotion' }),
    ];

    // Act
    const decision = decideMajority(answers, 3);

    // Assert
    expect(decision.failoverInProgress).toBe(true);
    expect(decision.agreed).toEqual({ master: N2, epoch: 7, votes: 3 });
  });

  it('reports a failover in progress from the failover_in_progress flag', () => {
    // Arrange
    const answers = [answer(S1, N1, 6, { flags: ['master', 'failover_in_progress'] })];

    // Act
    const decision = decideMajority(answers, 3);

    // Assert
    expect(decision.failoverInProgress).toBe(true);
  });

  it('reports newest epoch -1 and no failover when no Sentinel answered', () => {
    // Act
    const decision = decideMajority([silent(S1), silent(S2), silent(S3)], 3);

    // Assert
    expect(decision).toEqual({ needed: 2, answered: 0, newestEpoch: -1, failoverInProgress: false });
  });
});

describe('observeSentinels', () => {
  it('asks every configured Sentinel for the cluster master name and keeps the errors', async () => {
    // Arrange
    const cluster = testCluster();
    const sentinels = new FakeSentinelView([[{ master: N2, epoch: 7 }, 'down', { master: N2, epoch: 7 }]]);

    // Act
    const answers = await observeSentinels(cluster, sentinels);

    // Assert
    expect(sentinels.questions.map((q) => q.masterName)).toEqual(['mymaster', 'mymaster', 'mymaster']);
    expect(answers.map((a) => a.ok)).toEqual([true, false, true]);
    expect(answers[1]).toEqual({ ok: false, sentinel: S2, error: 'sentinel 10.0.1.12:26379 timed out' });
  });
});

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

    // Assert
    expect(result).toMatchObject({ kind: 'confirmed', master: N2, epoch: 1, votes: 3 });
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

describe('electedEpoch', () => {
  it('picks the newest epoch with a majority of distinct configured voters', () => {
    const cluster = testCluster();
    const [s1, s2, s3] = cluster.sentinels as [Endpoint, Endpoint, Endpoint];
    const votes = [
      { epoch: 5, voter: s1, leaderRunId: 'a' },
      { epoch: 5, voter: s2, leaderRunId: 'a' },
      { epoch: 8, voter: s1, leaderRunId: 'a' },
      { epoch: 8, voter: s1, leaderRunId: 'a' },
      { epoch: 8, voter: { host: '10.9.9.9', port: 1 }, leaderRunId: 'a' },
      { epoch: 9, voter: s3, leaderRunId: 'b' },
    ];
    expect(electedEpoch(votes, 'a', cluster.sentinels)).toEqual({ epoch: 5, votes: 2 });
    expect(electedEpoch(votes, 'b', cluster.sentinels)).toBeUndefined();
  });
});
