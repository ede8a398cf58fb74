/**
 * Switch: the write-blocked critical section (block writes, catch up, promote, reroute) and its unblocking
 * on failure.
 */

import { describe, expect, it } from 'vitest';
import { type Endpoint, formatEndpoint, sameEndpoint } from '../../../core/model/cluster.ts';
import { UnreachableError } from '../../../core/model/errors.ts';
import { SWITCHOVER_TIMING, switchMaster } from '../../../core/switchover/steps.ts';
import { N1, N2, N3, SENTINELS, START } from '../../support/fixtures.ts';
import type { FakeWorld } from '../../support/world.ts';
import {
  beforeSwitchWorld,
  preparedState,
  promoteOnFailover,
  rejectionOf,
  routesOf,
  S1,
  S2,
  S3,
  stepNames,
  view,
} from './fixtures.ts';

/**
 * The happy critical section: n2 catches up at its third poll, the first Sentinel refuses with INPROG and
 * the second accepts, and n2 answers ROLE master at the third poll after the failover.
 */
function switchingWorld(): FakeWorld {
  const w = beforeSwitchWorld();
  w.redis.set(N2, { offsets: [990, 996, 1000] });
  w.sentinels.failoverAnswers.set(S1 ?? '', 'INPROG Failover already in progress');
  promoteOnFailover(w, N2, 2);
  return w;
}

describe('switchMaster', () => {
  it('blocks every proxy and pauses the master before it asks Sentinel to fail over', async () => {
    // Arrange
    const w = switchingWorld();
    const promote = w.sentinels.onFailover;
    let atFailover: { blocked: string[]; pauses: unknown[]; unpauses: unknown[] } | undefined;
    w.sentinels.onFailover = (sentinel) => {
      atFailover = {
        blocked: [...w.router.blocked].sort(),
        pauses: [...w.redis.pauses],
        unpauses: [...w.redis.unpauses],
      };
      promote?.(sentinel);
    };

    // Act
    await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(atFailover).toEqual({
      blocked: ['p1', 'p2'],
      pauses: [{ node: N1, ms: SWITCHOVER_TIMING.pauseMs }],
      unpauses: [],
    });
  });

  it('waits until the target’s offset reaches the master’s before it calls SENTINEL FAILOVER', async () => {
    // Arrange
    const w = switchingWorld();
    const promote = w.sentinels.onFailover;
    let targetOffsetAtFailover: number | undefined;
    w.sentinels.onFailover = (sentinel) => {
      targetOffsetAtFailover = w.redis.nodes.get(formatEndpoint(N2))?.offset;
      promote?.(sentinel);
    };

    // Act
    const result = await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(targetOffsetAtFailover).toBe(1000);
    expect(result.timeline.find((s) => s.step === 'caught-up')).toMatchObject({
      detail: 'offset 1000',
      durationMs: 2 * SWITCHOVER_TIMING.pollMs,
    });
  });

  it('asks the next Sentinel when one refuses with INPROG', async () => {
    // Arrange
    const w = switchingWorld();

    // Act
    const result = await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(w.sentinels.failoverCalls).toEqual([SENTINELS[0], SENTINELS[1]]);
    expect(result.timeline.find((s) => s.step === 'failover-started')?.detail).toBe(`via ${S2}`);
  });

  it('reroutes every proxy to the target and re-points the other replica and the old master at it', async () => {
    // Arrange
    const w = switchingWorld();

    // Act
    await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
    expect(w.router.blocked.size).toBe(0);
    // Both attach before writes flow again, so both resync from the new master's backlog.
    expect(w.redis.replicaOfCalls).toEqual([
      { node: N3, master: N2 },
      { node: N1, master: N2 },
    ]);
    // Not persisted yet (Fence does): CONFIG REWRITE's fsync would hold their replication handshakes.
    expect(w.redis.unpersistedReplicaOfs).toEqual([N3, N1]);
    // The old master stays paused until Fence.
    expect(w.redis.unpauses).toEqual([]);
  });

  it('returns promoted and the write gap from the block to the reroute', async () => {
    // Arrange: 2 catch-up polls and 2 ROLE polls of 2 ms each.
    const w = switchingWorld();

    // Act
    const result = await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(result.promoted).toBe(true);
    expect(result.blocked).toBe(false);
    expect(result.writeGapMs).toBe(4 * SWITCHOVER_TIMING.pollMs);
    expect(result.writeGapMs).toBe(w.clock.now() - START);
  });

  it('records writes-blocked, caught-up, failover-started, promoted and rerouted in order, all ok', async () => {
    // Arrange
    const w = switchingWorld();

    // Act
    const result = await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(stepNames(result)).toEqual([
      'writes-blocked',
      'caught-up',
      'failover-started',
      'promoted',
      'rerouted',
    ]);
    expect(result.timeline.every((s) => s.status === 'ok')).toBe(true);
    expect(result.timeline.map((s) => s.at)).toEqual([START, START, START + 4, START + 4, START + 8]);
  });

  it('throws CatchUpTimeoutError when the target never catches up, after it unblocks writes on the old master', async () => {
    // Arrange: n2 stays 10 bytes behind.
    const w = beforeSwitchWorld();
    w.redis.set(N2, { offset: 990 });

    // Act
    const error = await rejectionOf(switchMaster(w.cluster, preparedState(), w.deps));

    // Assert
    expect(error.name).toBe('CatchUpTimeoutError');
    expect(error.message).toContain(
      `target n2 is 10 bytes behind after ${SWITCHOVER_TIMING.catchUpDeadlineMs} ms`,
    );
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.redis.unpauses).toEqual([N1]);
    expect(routesOf(w)).toEqual({ p1: N1, p2: N1 });
    expect(w.router.blocked.size).toBe(0);
    expect(w.redis.replicaOfCalls).toEqual([]);
  });

  it('throws PromotionError when every Sentinel refuses, after it unblocks writes on the old master', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    w.sentinels.failoverAnswers
      .set(S1 ?? '', 'NOGOODSLAVE No suitable replica to promote')
      .set(S2 ?? '', 'INPROG Failover already in progress')
      .set(S3 ?? '', new Error(`sentinel ${S3} timed out`));

    // Act
    const error = await rejectionOf(switchMaster(w.cluster, preparedState(), w.deps));

    // Assert
    expect(error.name).toBe('PromotionError');
    expect(error.message).toBe(
      `every Sentinel refused SENTINEL FAILOVER: ${S1}: NOGOODSLAVE No suitable replica to promote; ${S2}: INPROG Failover already in progress; ${S3}: sentinel ${S3} timed out`,
    );
    expect(w.redis.unpauses).toEqual([N1]);
    expect(routesOf(w)).toEqual({ p1: N1, p2: N1 });
    expect(w.router.blocked.size).toBe(0);
  });

  it('points the proxies forward to the node the Sentinel majority names when the target never answers ROLE master', async () => {
    // Arrange: the Sentinels adopt n2 at epoch 7, but n2 keeps answering ROLE slave.
    const w = beforeSwitchWorld();
    w.sentinels.onFailover = () => {
      w.sentinels.answersNow = SENTINELS.map(() => view(N2, 7));
    };

    // Act
    const error = await rejectionOf(switchMaster(w.cluster, preparedState(), w.deps));

    // Assert
    expect(error.name).toBe('PromotionError');
    expect(error.message).toBe('n2 did not answer ROLE master within 5000 ms');
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
    expect(w.router.blocked.size).toBe(0);
    expect(w.redis.replicaOfCalls).toEqual(
      expect.arrayContaining([
        { node: N1, master: N2 },
        { node: N3, master: N2 },
      ]),
    );
    expect(w.redis.unpauses).toEqual([N1]);
  });

  it('throws PromotionError when Sentinel promotes another node, and routes writes to that node', async () => {
    // Arrange: Sentinel picks n3; n1 becomes its replica.
    const w = beforeSwitchWorld();
    promoteOnFailover(w, N3);
    const promote = w.sentinels.onFailover;
    w.sentinels.onFailover = (sentinel) => {
      promote?.(sentinel);
      w.redis.set(N1, { role: 'slave', master: N3 });
    };

    // Act
    const error = await rejectionOf(switchMaster(w.cluster, preparedState(), w.deps));

    // Assert
    expect(error.name).toBe('PromotionError');
    expect(error.message).toBe('Sentinel promoted n3, not n2');
    expect(routesOf(w)).toEqual({ p1: N3, p2: N3 });
    expect(w.router.blocked.size).toBe(0);
  });

  describe('once the Sentinel that leads the failover has selected the target', () => {
    /** The leader's SENTINEL REPLICAS: `selected` flagged `promoted` from its second answer on. */
    const selectingAtSecondPoll = (w: FakeWorld, selected: Endpoint) => {
      w.sentinels.replicasViewOf = (_sentinel, poll) =>
        [N2, N3].map((address) => ({
          address,
          priority: 100,
          flags: poll >= 1 && sameEndpoint(address, selected) ? ['slave', 'promoted'] : ['slave'],
        }));
    };

    it('promotes the target itself, without waiting for Sentinel’s own command a tick later', async () => {
      // Arrange: the second Sentinel leads; Sentinel itself never promotes n2 here.
      const w = beforeSwitchWorld();
      w.sentinels.failoverAnswers.set(S1 ?? '', 'INPROG Failover already in progress');
      selectingAtSecondPoll(w, N2);

      // Act
      const result = await switchMaster(w.cluster, preparedState(), w.deps);

      // Assert
      expect(w.redis.promoteCalls).toEqual([N2]);
      expect(new Set(w.sentinels.replicasViewCalls.map(formatEndpoint))).toEqual(new Set([S2]));
      expect(result.timeline.find((s) => s.step === 'promoted')).toMatchObject({
        status: 'ok',
        detail: `by ha-redis, once ${S2} selected it`,
        durationMs: SWITCHOVER_TIMING.pollMs,
      });
      expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
      expect(w.redis.replicaOfCalls).toEqual([
        { node: N3, master: N2 },
        { node: N1, master: N2 },
      ]);
    });

    it('leaves the promotion to Sentinel when the selection may be older than selectionFreshMs', async () => {
      // Arrange: the poll that sees the selection takes 30 ms (n2's ROLE answer is slow), so the selection may
      // be 30 ms old, and Sentinel's own REPLICAOF NO ONE (a tick after it) too close; Sentinel promotes n2.
      const w = beforeSwitchWorld();
      selectingAtSecondPoll(w, N2);
      promoteOnFailover(w, N2, 2);
      const role = w.redis.role.bind(w.redis);
      let polls = 0;
      w.redis.role = async (node) => {
        polls += sameEndpoint(node, N2) ? 1 : 0;
        if (polls === 2 && sameEndpoint(node, N2)) w.clock.advance(30);
        return role(node);
      };

      // Act
      const result = await switchMaster(w.cluster, preparedState(), w.deps);

      // Assert
      expect(w.redis.promoteCalls).toEqual([]);
      expect(result.timeline.find((s) => s.step === 'promoted')?.detail).toBe(
        `by Sentinel (${S1}); its selection of n2 was seen up to ${30 + SWITCHOVER_TIMING.pollMs} ms late`,
      );
    });

    it('asks a leader that did not answer no more, and leaves the promotion to Sentinel', async () => {
      // Arrange: the leader answers its first poll (no selection), not its second; it would name n2 from then on.
      const w = beforeSwitchWorld();
      w.sentinels.replicasViewOf = (_sentinel, poll) => {
        if (poll === 1) throw new UnreachableError('sentinel timed out');
        return [{ address: N2, priority: 100, flags: poll >= 2 ? ['slave', 'promoted'] : ['slave'] }];
      };
      promoteOnFailover(w, N2, 3);

      // Act
      const result = await switchMaster(w.cluster, preparedState(), w.deps);

      // Assert
      expect(w.sentinels.replicasViewCalls).toHaveLength(2);
      expect(w.redis.promoteCalls).toEqual([]);
      expect(result.timeline.find((s) => s.step === 'promoted')?.detail).toBe(
        `by Sentinel (${S1}); its selection of n2 was not seen within ${3 * SWITCHOVER_TIMING.pollMs} ms`,
      );
    });

    it('counts the selection’s age from the SENTINEL FAILOVER that was accepted, when the first poll sees it', async () => {
      // Arrange: SENTINEL FAILOVER's answer takes 25 ms; the first poll already sees the selection.
      const w = beforeSwitchWorld();
      w.sentinels.replicasViewOf = () => [{ address: N2, priority: 100, flags: ['slave', 'promoted'] }];
      promoteOnFailover(w, N2, 1);
      const promote = w.sentinels.onFailover;
      w.sentinels.onFailover = (sentinel) => {
        w.clock.advance(25);
        promote?.(sentinel);
      };

      // Act
      const result = await switchMaster(w.cluster, preparedState(), w.deps);

      // Assert
      expect(w.redis.promoteCalls).toEqual([]);
      expect(result.timeline.find((s) => s.step === 'promoted')?.detail).toBe(
        `by Sentinel (${S1}); its selection of n2 was seen up to 25 ms late`,
      );
    });

    it('never promotes a node that Sentinel did not select: the one it selected is left to Sentinel', async () => {
      // Arrange: the leader selects n3, and Sentinel promotes it one poll later.
      const w = beforeSwitchWorld();
      selectingAtSecondPoll(w, N3);
      w.sentinels.onFailover = () => {
        w.redis.set(N3, { roles: ['slave', 'slave', 'master'] });
        w.redis.set(N1, { roles: ['master', 'slave'], master: N3 });
        w.sentinels.answersNow = SENTINELS.map(() => view(N3, 7));
      };

      // Act
      const error = await rejectionOf(switchMaster(w.cluster, preparedState(), w.deps));

      // Assert
      expect(w.redis.promoteCalls).toEqual([]);
      expect(error.message).toBe('Sentinel promoted n3, not n2');
    });

    it('leaves the promotion to Sentinel when its own REPLICAOF NO ONE fails', async () => {
      // Arrange
      const w = beforeSwitchWorld();
      selectingAtSecondPoll(w, N2);
      promoteOnFailover(w, N2, 3);
      const asked: Endpoint[] = [];
      w.redis.promoteSelected = async (node) => {
        asked.push({ host: node.host, port: node.port });
        throw new UnreachableError(`${formatEndpoint(node)} timed out`);
      };

      // Act
      const result = await switchMaster(w.cluster, preparedState(), w.deps);

      // Assert
      expect(asked).toEqual([N2]);
      expect(result.timeline.find((s) => s.step === 'promoted')?.detail).toBe(
        `by Sentinel (${S1}); its REPLICAOF NO ONE, once ${S1} selected it, failed: ${formatEndpoint(N2)} timed out`,
      );
      expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
    });
  });
});
