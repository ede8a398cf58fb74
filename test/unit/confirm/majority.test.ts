/**
 * The Sentinel majority: what a majority agrees on, how every Sentinel is asked, and the epoch an election
 * decided.
 */

import { describe, expect, it } from 'vitest';
import {
  decideMajority,
  electedEpoch,
  majorityOf,
  observeSentinels,
} from '../../../core/failover/confirm.ts';
import type { Endpoint } from '../../../core/model/cluster.ts';
import { FakeSentinelView } from '../../fakes/sentinels.ts';
import { N1, N2, N3, testCluster } from '../../support/fixtures.ts';
import { answer, S1, S2, S3, silent } from './fixtures.ts';

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
