/**
 * When the fast path held n1 but no failover followed (no promotion in time, or no Sentinel took SENTINEL
 * FAILOVER), it lifts the hold, records a failed node-exit entry, tells it, and releases the lease. A hold that
 * fails declines before anything is asked.
 */

import { describe, expect, it } from 'vitest';
import { reactToNodeExit } from '../../../core/failover/fast-path.ts';
import { formatEndpoint, NO_MASTER } from '../../../core/model/cluster.ts';
import { N1, N2, SENTINELS, START } from '../../support/fixtures.ts';
import { EXITED_AT, masterExitWorld, nodeExit, recordEffects, stepNames } from './fixtures.ts';

describe('reactToNodeExit: no promotion follows', () => {
  it('lifts the hold on n1 after promotionDeadlineMs, records a failed node-exit entry and tells it', async () => {
    // Arrange: Sentinel takes SENTINEL FAILOVER, but no replica ever answers ROLE master.
    const w = masterExitWorld({ onMasterExit: { promotionDeadlineMs: 500 } });
    const effects = recordEffects(w);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover-failed');
    expect(effects).toEqual([
      `fence-node n1 -> ${formatEndpoint(NO_MASTER)}`,
      `failover ${formatEndpoint(SENTINELS[0] ?? N1)}`,
      'release-node n1',
    ]);
    expect(w.nodeOps.runs[1]).toEqual({ document: 'release-node', node: w.cluster.nodes[0] });
    expect(w.clock.now() - START).toBeGreaterThanOrEqual(500);
    expect(w.state.history).toHaveLength(1);
    const [entry] = w.state.history;
    expect(entry).toMatchObject({
      kind: 'node-exit',
      trigger: 'node-exited',
      outcome: 'failed',
      oldMaster: N1,
      newMaster: null,
      epoch: null,
      startedAt: EXITED_AT,
      startedBy: 'the fast path',
    });
    expect(entry?.error).toBe(
      "after n1's redis-server exited, no replica was promoted within 500 ms of SENTINEL FAILOVER; the hold on it was lifted",
    );
    expect(stepNames(entry?.timeline ?? [])).toEqual([
      'exited',
      'probed',
      'candidates',
      'held',
      'failover-asked',
      'promoted',
      'hold-lifted',
    ]);
    expect(entry?.timeline.find((s) => s.step === 'promoted')).toMatchObject({
      status: 'failed',
      detail: 'no replica answered ROLE master within 500 ms',
    });
    expect(w.notifier.published).toHaveLength(1);
    expect(w.notifier.published[0]).toMatchObject({ kind: 'node-exit', outcome: 'failed' });
    expect(w.notifier.published[0]?.summary).toContain('fast failover after n1 exited did not happen');
    expect(w.router.calls).toEqual([]);
    expect(w.redis.replicaOfCalls).toEqual([]);
    expect(w.dns.calls).toEqual([]);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('polls the candidates every confirmPollMs until the deadline, and no longer', async () => {
    // Arrange
    const w = masterExitWorld({ onMasterExit: { promotionDeadlineMs: 100 } });

    // Act
    await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert: 100 ms at 10 ms a poll: 11 polls of both candidates, 10 sleeps.
    expect(w.clock.sleeps).toEqual(Array(10).fill(w.cluster.timing.confirmPollMs));
    expect(w.redis.roleCalls).toHaveLength(22);
  });

  it('says so in the entry when the hold cannot be lifted either', async () => {
    // Arrange
    const w = masterExitWorld({ onMasterExit: { promotionDeadlineMs: 100 } });
    w.nodeOps.failures.set('release-node', new Error('SSM: instance not connected'));

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover-failed');
    expect(w.state.history[0]?.error).toBe(
      "after n1's redis-server exited, no replica was promoted within 100 ms of SENTINEL FAILOVER; the hold on it could NOT be lifted (SSM: instance not connected): check its replicaof line",
    );
    expect(w.state.history[0]?.timeline.at(-1)).toMatchObject({ step: 'hold-lifted', status: 'failed' });
    expect(w.notifier.published).toHaveLength(1);
    expect(w.state.leaseHeld).toBeUndefined();
  });
});

describe('reactToNodeExit: no Sentinel takes SENTINEL FAILOVER', () => {
  it('asks the next Sentinel after a refusal, none after one that does not answer, then lifts the hold, records a failed entry naming why, and releases the lease', async () => {
    // Arrange
    const w = masterExitWorld();
    const [s1, s2] = SENTINELS.map(formatEndpoint);
    w.sentinels.failoverAnswers
      .set(s1 ?? '', 'NOGOODSLAVE No suitable replica to promote')
      .set(s2 ?? '', new Error('timed out'));
    const effects = recordEffects(w);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert: s3 is not asked: s2 may have taken it, and a second forced failover would promote again.
    expect(outcome.action).toBe('fast-failover-failed');
    expect(w.sentinels.failoverCalls).toEqual(SENTINELS.slice(0, 2));
    expect(effects).toEqual([
      `fence-node n1 -> ${formatEndpoint(NO_MASTER)}`,
      `failover ${s1}`,
      `failover ${s2}`,
      'release-node n1',
    ]);
    const [entry] = w.state.history;
    expect(w.state.history).toHaveLength(1);
    expect(entry).toMatchObject({ kind: 'node-exit', outcome: 'failed', oldMaster: N1 });
    expect(entry?.error).toBe(
      "after n1's redis-server exited, no Sentinel took SENTINEL FAILOVER: 10.0.1.11:26379: NOGOODSLAVE No suitable replica to promote; 10.0.1.12:26379 did not answer (timed out); not asked of another Sentinel, since 10.0.1.12:26379 may have taken it; the hold on it was lifted",
    );
    const asked = entry?.timeline.find((s) => s.step === 'failover-asked');
    expect(asked?.status).toBe('failed');
    expect(asked?.detail).toContain(`${s1}: NOGOODSLAVE`);
    expect(asked?.detail).toContain(`${s2} did not answer (timed out)`);
    expect(stepNames(entry?.timeline ?? []).slice(-2)).toEqual(['failover-asked', 'hold-lifted']);
    // No promotion was waited for: nothing slept, no ROLE asked.
    expect(w.clock.sleeps).toEqual([]);
    expect(w.redis.roleCalls).toEqual([]);
    expect(w.notifier.published).toHaveLength(1);
    expect(w.router.calls).toEqual([]);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('asks no other Sentinel when one answers INPROG: a failover is under way already', async () => {
    // Arrange
    const w = masterExitWorld();
    const [s1] = SENTINELS.map(formatEndpoint);
    w.sentinels.failoverAnswers.set(s1 ?? '', 'INPROG Failover already in progress');

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover-failed');
    expect(w.sentinels.failoverCalls).toEqual(SENTINELS.slice(0, 1));
    expect(w.state.history[0]?.error).toContain('a failover is under way already (10.0.1.11:26379: INPROG');
  });
});

describe('reactToNodeExit: the hold fails', () => {
  it('declines without asking Sentinel when fence-node fails, takes out what it may have written, and releases the lease', async () => {
    // Arrange
    const w = masterExitWorld();
    w.nodeOps.failures.set('fence-node', new Error('SSM: command timed out'));

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({
      action: 'declined',
      reason: 'the hold on n1 failed (SSM: command timed out); the hold was lifted',
    });
    // A fence-node that failed late (an SSM timeout) may have written the hold: it is taken out again.
    expect(w.nodeOps.runs.map((r) => r.document)).toEqual(['fence-node', 'release-node']);
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.router.calls).toEqual([]);
    expect(w.state.history).toEqual([]);
    expect(w.state.leaseHeld).toBeUndefined();
  });
});

describe('reactToNodeExit: the lease', () => {
  it('declines when the lease is taken between its checks and its act, and leaves that lease alone', async () => {
    // Arrange: a switchover takes the lease right after the fast path read it (during the candidates check).
    const w = masterExitWorld();
    const lease = { owner: 'exec-7', purpose: 'switchover' as const, until: START + 60_000 };
    const replication = w.redis.replication.bind(w.redis);
    w.redis.replication = async (node) => {
      w.state.leaseHeld = lease;
      return replication(node);
    };

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({ action: 'declined', reason: 'the switchover exec-7 holds the cluster' });
    expect(w.nodeOps.runs).toEqual([]);
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.state.leaseHeld).toEqual(lease);
  });

  it('releases the lease when the reaction throws, and lets the error through', async () => {
    // Arrange: the store fails when the reaction claims the epoch.
    const w = masterExitWorld();
    w.sentinels.onFailover = () => {
      w.redis.set(N2, { role: 'master' });
      w.sentinels.answersNow = SENTINELS.map(() => ({ master: N2, epoch: 7 }));
    };
    w.state.claimEpoch = async () => {
      throw new Error('DynamoDB throttled');
    };

    // Act
    const result = reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    await expect(result).rejects.toThrow('DynamoDB throttled');
    expect(w.state.leaseHeld).toBeUndefined();
    expect(w.sentinels.failoverCalls).toHaveLength(1);
  });
});
