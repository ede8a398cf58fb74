/**
 * Sentinel gave up its election (`-failover-abort-not-elected`): forced at once when a majority names the master,
 * sees it down and none is failing it over; refused and told once otherwise; left alone when it failed over.
 */

import { describe, expect, it } from 'vitest';
import { handleSentinelEvent } from '../../../core/failover/handle-event.ts';
import { OTHERS_GIVE_UP_WITHIN_MS, TOLD_AGAIN_AFTER_MS } from '../../../core/failover/stalled-election.ts';
import { formatEndpoint } from '../../../core/model/cluster.ts';
import { FakeSentinelView, type ViewSpec } from '../../fakes/sentinels.ts';
import { N1, N2, SENTINELS, START } from '../../support/fixtures.ts';
import { loadEnvelope, loadEvent } from '../../support/samples.ts';
import { failedOverWorld } from '../../support/world.ts';

/** The Sentinel that published the sample event (it gave up its election). */
const SOURCE = loadEnvelope('failover-abort-not-elected').sentinel;
const DOWN: ViewSpec = { master: N1, epoch: 6, flags: ['master', 's_down', 'o_down'] };
const UP: ViewSpec = { master: N1, epoch: 6, flags: ['master'] };

/** n1, the master at epoch 6, is down; the Sentinels answer `views` (by index). */
function stalledWorld(views: ViewSpec[] = [DOWN, DOWN, DOWN], sentinels?: FakeSentinelView) {
  const w = failedOverWorld(sentinels ? { sentinels } : {});
  w.redis.set(N1, { reachable: false });
  w.redis.set(N2, { role: 'slave', offset: 1200, master: N1 });
  if (!sentinels) w.sentinels.answersNow = views;
  return w;
}

const abort = (w: ReturnType<typeof stalledWorld>) =>
  handleSentinelEvent(w.cluster, loadEvent('failover-abort-not-elected'), START, w.deps, SOURCE);

/** Nothing but Sentinel was asked to change anything. */
function expectNoOtherAct(w: ReturnType<typeof stalledWorld>) {
  expect(w.router.calls).toEqual([]);
  expect(w.dns.calls).toEqual([]);
  expect(w.redis.replicaOfCalls).toEqual([]);
  expect(w.nodeOps.runs).toEqual([]);
}

describe('-failover-abort-not-elected: the election stalled', () => {
  it('asks the Sentinel that gave up to fail over at once, records it, tells why, and touches nothing else', async () => {
    // Arrange
    const w = stalledWorld();

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome).toMatchObject({ action: 'failover-forced', sentinel: SOURCE });
    expect(w.sentinels.failoverCalls).toEqual([SOURCE]);
    expect(w.state.history).toEqual([
      expect.objectContaining({
        kind: 'failover',
        trigger: '-failover-abort-not-elected',
        outcome: 'succeeded',
        oldMaster: N1,
        newMaster: null,
        startedBy: "ha-redis: Sentinel's election stalled",
      }),
    ]);
    expect(w.state.history[0]?.timeline.map((s) => s.step)).toEqual([
      'election-given-up',
      'checked',
      'failover-forced',
    ]);
    expect(w.notifier.published[0]?.summary).toBe(
      "orders: Sentinel's election to fail n1 over stalled (split votes) and was given up; Sentinel would try again " +
        'only after 2 × failover-timeout. A majority of the Sentinels see it down, so ha-redis asked ' +
        `${formatEndpoint(SOURCE)} to fail it over now (SENTINEL FAILOVER); the reaction follows its promotion.`,
    );
    expectNoOtherAct(w);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('asks the next Sentinel when the first refuses', async () => {
    // Arrange
    const w = stalledWorld();
    w.sentinels.failoverAnswers.set(formatEndpoint(SOURCE), 'NOGOODSLAVE No suitable replica to promote');

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome).toMatchObject({ action: 'failover-forced', sentinel: SENTINELS[0] });
    expect(w.sentinels.failoverCalls).toEqual([SOURCE, SENTINELS[0]]);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('asks no other Sentinel when one does not answer: it may have taken it, and a second would fail over again', async () => {
    // Arrange
    const w = stalledWorld();
    w.sentinels.failoverAnswers.set(formatEndpoint(SOURCE), new Error('timed out after 500 ms'));

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome.action).toBe('rescue-refused');
    expect(w.sentinels.failoverCalls).toEqual([SOURCE]);
    expect(w.state.history[0]?.error).toContain(
      `${formatEndpoint(SOURCE)} did not answer (timed out after 500 ms); not asked of another Sentinel`,
    );
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('tells a refusal again once it is older than TOLD_AGAIN_AFTER_MS', async () => {
    // Arrange
    const w = stalledWorld([DOWN, UP, UP]);
    await abort(w);

    // Act
    const later = await handleSentinelEvent(
      w.cluster,
      loadEvent('failover-abort-not-elected'),
      START + TOLD_AGAIN_AFTER_MS + 1,
      w.deps,
      SOURCE,
    );

    // Assert
    expect(later.action).toBe('rescue-refused');
    expect(w.state.history).toHaveLength(2);
  });

  it('waits for another Sentinel to give up its own attempt, then forces', async () => {
    // Arrange: the third Sentinel is still in its election for the first two looks.
    const busy: ViewSpec = {
      ...DOWN,
      flags: [...(DOWN.flags ?? []), 'failover_in_progress'],
      failoverState: 'wait_start',
    };
    const rounds = [
      [DOWN, DOWN, busy],
      [DOWN, DOWN, busy],
      [DOWN, DOWN, DOWN],
    ];
    const w = stalledWorld(undefined, new FakeSentinelView(rounds));

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome.action).toBe('failover-forced');
    expect(w.clock.sleeps.length).toBe(2);
  });

  it('forces nothing while a Sentinel stays in a failover of the master (its outcome comes as an event)', async () => {
    // Arrange
    const busy: ViewSpec = { ...DOWN, failoverState: 'wait_promotion' };
    const w = stalledWorld([DOWN, DOWN, busy]);

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome).toMatchObject({
      action: 'ignored',
      reason: expect.stringContaining('a failover is under way at'),
    });
    expect(w.clock.sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(OTHERS_GIVE_UP_WITHIN_MS);
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.state.history).toEqual([]);
  });

  it('leaves it when a majority names another master already (it failed over)', async () => {
    // Arrange
    const moved: ViewSpec = { master: N2, epoch: 7 };
    const w = stalledWorld([moved, moved, DOWN]);

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome).toMatchObject({
      action: 'ignored',
      reason: expect.stringContaining('a majority names 10.0.1.22:6379'),
    });
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.state.history).toEqual([]);
  });

  it('refuses on a minority view: only one Sentinel sees the master down; told once for both events', async () => {
    // Arrange
    const w = stalledWorld([DOWN, UP, UP]);

    // Act
    const first = await abort(w);
    const second = await abort(w);

    // Assert
    expect(first.action).toBe('rescue-refused');
    expect(second).toMatchObject({ action: 'ignored', reason: expect.stringContaining('told already') });
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.state.history).toEqual([
      expect.objectContaining({
        outcome: 'failed',
        error:
          'Sentinel gave up its election to fail n1 over, and ha-redis did not force it: only 1 of the 3 Sentinels see n1 down, and a failover needs a majority',
      }),
    ]);
    expect(w.notifier.published).toHaveLength(1);
    expectNoOtherAct(w);
  });

  it('refuses when no majority of the configured Sentinels answers', async () => {
    // Arrange
    const w = stalledWorld([DOWN, 'down', 'down']);

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome.action).toBe('rescue-refused');
    expect(w.state.history[0]?.error).toContain(
      'no majority of the 3 Sentinels agrees on a master (1 answered)',
    );
    expect(w.sentinels.failoverCalls).toEqual([]);
  });

  it('does not count a Sentinel in TILT as seeing the master down', async () => {
    // Arrange
    const w = stalledWorld([DOWN, DOWN, UP]);
    w.sentinels.tilted.add(formatEndpoint(SENTINELS[0] ?? SOURCE));

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome.action).toBe('rescue-refused');
    expect(w.state.history[0]?.error).toContain('only 1 of the 3 Sentinels see n1 down');
    expect(w.sentinels.failoverCalls).toEqual([]);
  });

  it('leaves it to the planned operation that holds the cluster', async () => {
    // Arrange
    const w = stalledWorld();
    w.state.leaseHeld = { owner: 'switchover-1', purpose: 'switchover', until: START + 60_000 };

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome).toMatchObject({
      action: 'ignored',
      reason: expect.stringContaining('the switchover switchover-1 holds'),
    });
    expect(w.sentinels.failoverCalls).toEqual([]);
  });

  it('leaves a stale epoch alone: the applied epoch is newer than the Sentinels’', async () => {
    // Arrange
    const w = stalledWorld();
    w.state.epochs.set(w.cluster.name, {
      epoch: 9,
      master: N2,
      status: 'done',
      token: 't',
      leaseUntil: START - 1,
    });

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome).toMatchObject({
      action: 'ignored',
      reason: expect.stringContaining('older than the applied 9'),
    });
    expect(w.sentinels.failoverCalls).toEqual([]);
  });

  it('forces nothing when a Sentinel answers that a failover is under way (INPROG)', async () => {
    // Arrange
    const w = stalledWorld();
    w.sentinels.failoverAnswers.set(formatEndpoint(SOURCE), 'INPROG Failover already in progress');

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome).toMatchObject({
      action: 'ignored',
      reason: expect.stringContaining('a failover is under way'),
    });
    expect(w.sentinels.failoverCalls).toEqual([SOURCE]);
    expect(w.state.history).toEqual([]);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('says why when no Sentinel takes SENTINEL FAILOVER', async () => {
    // Arrange
    const w = stalledWorld();
    for (const s of SENTINELS)
      w.sentinels.failoverAnswers.set(formatEndpoint(s), 'NOGOODSLAVE No suitable replica to promote');

    // Act
    const outcome = await abort(w);

    // Assert
    expect(outcome.action).toBe('rescue-refused');
    expect(w.sentinels.failoverCalls).toHaveLength(3);
    expect(w.state.history[0]?.error).toContain(
      'no Sentinel took SENTINEL FAILOVER: 10.0.1.12:26379: NOGOODSLAVE',
    );
  });
});
