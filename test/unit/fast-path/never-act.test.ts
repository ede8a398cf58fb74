/**
 * The fast path's checks: when any does not hold it does nothing at all (no hold, no SENTINEL FAILOVER, no
 * reroute), and Sentinel's own failover follows as without it.
 */

import { describe, expect, it } from 'vitest';
import { reactToNodeExit } from '../../../core/failover/fast-path.ts';
import { FakeSentinelView } from '../../fakes/sentinels.ts';
import { N1, N2, N3, START } from '../../support/fixtures.ts';
import { untouchableDeps } from '../../support/world.ts';
import {
  expectNoAction,
  LAST_OFFSET,
  masterExitWorld,
  nodeExit,
  promoteOnFailover,
  view,
} from './fixtures.ts';

describe('reactToNodeExit: never acts when a check does not hold', () => {
  it.each([
    ['the process is alive (SIGSTOP)', { processGone: false, connect: 'refused' as const }],
    ['the port did not refuse (timeout)', { processGone: true, connect: 'timeout' as const }],
    ['the port accepted', { processGone: true, connect: 'accepted' as const }],
    ['the connect failed otherwise', { processGone: true, connect: 'error' as const }],
    ['nothing points to an exit', { processGone: false, connect: 'accepted' as const }],
  ])('declines when the evidence is no exit: %s', async (_case, evidence) => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit({ evidence }), w.deps);

    // Assert
    expect(outcome).toEqual({
      action: 'declined',
      reason: `the agent saw no exit (process gone: ${evidence.processGone}, connect: ${evidence.connect})`,
    });
    expectNoAction(w);
    expect(w.sentinels.questions).toEqual([]);
    expect(w.logger.lines.some((l) => l.level === 'warn' && l.message.includes('fast path declined'))).toBe(
      true,
    );
  });

  it('declines without a majority of Sentinels (2 of 3 down)', async () => {
    // Arrange
    const w = masterExitWorld({ sentinels: new FakeSentinelView([[view(N1, 6), 'down', 'down']]) });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({
      action: 'declined',
      reason: 'no majority of Sentinels agrees on a master (1 of 3 answered)',
    });
    expectNoAction(w);
    expect(w.redis.connectProbes).toEqual([]);
  });

  it('declines when the Sentinels that answer disagree (n1 at 6, n2 at 7, one down)', async () => {
    // Arrange
    const w = masterExitWorld({ sentinels: new FakeSentinelView([[view(N1, 6), view(N2, 7), 'down']]) });

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('declined');
    expectNoAction(w);
  });

  it.each([
    ['a failover state', view(N1, 6, { failoverState: 'wait-promotion' })],
    ['the failover_in_progress flag', view(N1, 6, { flags: ['master', 'failover_in_progress'] })],
  ])('declines when a failover is under way (%s)', async (_case, busy) => {
    // Arrange
    const w = masterExitWorld({ sentinels: new FakeSentinelView([[view(N1, 6), busy, view(N1, 6)]]) });

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({ action: 'declined', reason: 'a failover is already under way' });
    expectNoAction(w);
    expect(w.redis.connectProbes).toEqual([]);
  });

  it('declines while a switchover holds the cluster lease, and leaves that lease alone', async () => {
    // Arrange
    const w = masterExitWorld();
    const lease = { owner: 'exec-42', purpose: 'switchover' as const, until: START + 60_000 };
    w.state.leaseHeld = lease;
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({ action: 'declined', reason: 'the switchover exec-42 holds the cluster' });
    expectNoAction(w);
    expect(w.state.leaseHeld).toEqual(lease);
  });

  it('declines while the cluster is paused (maintenance mode)', async () => {
    // Arrange
    const w = masterExitWorld();
    w.state.modes.set('orders', {
      paused: true,
      by: 'cli:alice',
      at: START - 60_000,
      reason: 'kernel patching',
    });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({ action: 'declined', reason: 'the cluster is paused by cli:alice' });
    expectNoAction(w);
  });

  it('acts when a maintenance mode is recorded but not paused', async () => {
    // Arrange
    const w = masterExitWorld();
    w.state.modes.set('orders', { paused: false, by: 'cli:alice', at: START - 60_000, reason: 'done' });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover');
  });

  it("declines when the applied epoch is newer than the Sentinels' (a stale view)", async () => {
    // Arrange
    const w = masterExitWorld();
    w.state.epochs.set('orders', { epoch: 8, master: N1, status: 'done', token: 't', leaseUntil: START - 1 });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({
      action: 'declined',
      reason: "the Sentinels' epoch 6 is older than the applied 8",
    });
    expectNoAction(w);
  });

  it.each([
    ['timeout', 'a connect to n1 from here got timeout, not a refusal'],
    ['accepted', 'n1 accepts connections again'],
  ] as const)('declines when its own probe of n1 gets %s', async (probe, reason) => {
    // Arrange
    const w = masterExitWorld();
    w.redis.set(N1, { connect: probe });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({ action: 'declined', reason });
    expectNoAction(w);
    expect(w.redis.connectProbes).toEqual([N1]);
  });

  it('declines with no promotable replica: both links down since before the exit', async () => {
    // Arrange: the exit was 200 ms ago; the links have been down 30 s.
    const w = masterExitWorld();
    w.redis.set(N2, { linkDownSinceSeconds: 30 }).set(N3, { linkDownSinceSeconds: 30 });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('declined');
    expect(outcome.action === 'declined' && outcome.reason).toBe(
      "no replica can be promoted (n2's link was down 30 s, before the exit; n3's link was down 30 s, before the exit); a restart of n1 is the better outcome",
    );
    expectNoAction(w);
  });

  it('declines with no promotable replica: both further behind than maxLagBytes', async () => {
    // Arrange
    const w = masterExitWorld({ onMasterExit: { maxLagBytes: 100 } });
    w.redis.set(N2, { offset: LAST_OFFSET - 101 }).set(N3, { offset: LAST_OFFSET - 5000 });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action === 'declined' && outcome.reason).toMatch(
      /^no replica can be promoted \(n2 is 101 bytes behind; n3 is 5000 bytes behind\)/,
    );
    expectNoAction(w);
  });

  it('declines when the only replica never synced (master_link_down_since_seconds -1), naming it', async () => {
    // Arrange: n2 has not completed a sync with n1 since it started; n3 does not answer.
    const w = masterExitWorld();
    w.redis.set(N2, { linkDownSinceSeconds: -1 }).set(N3, { reachable: false });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('declined');
    expect(outcome.action === 'declined' && outcome.reason).toMatch(
      /^no replica can be promoted \(n2 never synced with n1; n3 does not answer: .*\); a restart of n1 is the better outcome$/,
    );
    expectNoAction(w);
  });

  it('declines with no promotable replica: neither answers', async () => {
    // Arrange
    const w = masterExitWorld();
    w.redis.set(N2, { reachable: false }).set(N3, { reachable: false });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action === 'declined' && outcome.reason).toMatch(
      /^no replica can be promoted \(n2 does not answer: .*timed out; n3 does not answer: .*timed out\)/,
    );
    expectNoAction(w);
  });

  it('declines with no promotable replica: the others follow another master', async () => {
    // Arrange
    const w = masterExitWorld();
    w.redis.set(N2, { master: N3 }).set(N3, { role: 'master', master: undefined });

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action === 'declined' && outcome.reason).toContain(
      'n2 is no replica of n1; n3 is no replica of n1',
    );
    expectNoAction(w);
  });

  it("ignores the master's exit under policy 'wait', before any probe", async () => {
    // Arrange
    const w = masterExitWorld({ onMasterExit: { policy: 'wait' } });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({ action: 'ignored', reason: "policy 'wait': n1's exit is left to Sentinel" });
    expectNoAction(w);
    expect(w.redis.connectProbes).toEqual([]);
  });

  it('ignores an address that is no node of the cluster, touching no port at all', async () => {
    // Arrange
    const w = masterExitWorld();
    const touched: string[] = [];

    // Act
    const outcome = await reactToNodeExit(
      w.cluster,
      nodeExit({ node: { host: N3.host, port: 6380 } }),
      untouchableDeps(touched),
    );

    // Assert
    expect(outcome).toEqual({ action: 'ignored', reason: '10.0.1.23:6380 is no node of orders' });
    expect(touched).toEqual([]);
  });

  it('declines with a grace period when n1 accepts connections again after it, having slept graceMs', async () => {
    // Arrange: a supervisor restarts n1 during the grace (its port refuses until then).
    const w = masterExitWorld({ onMasterExit: { graceMs: 3000 } });
    promoteOnFailover(w, N2);
    const sleep = w.clock.sleep.bind(w.clock);
    w.clock.sleep = async (ms) => {
      await sleep(ms);
      w.redis.set(N1, { connect: 'accepted' });
    };

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toEqual({ action: 'declined', reason: 'n1 accepts connections again' });
    expect(w.clock.sleeps).toEqual([3000]);
    expect(w.clock.now()).toBe(START + 3000);
    expectNoAction(w);
  });
});
