/**
 * A reaction that a part of the world fails: partial outcomes and their retry, proxies that refuse, a
 * failing state store or notifier.
 */

import { describe, expect, it } from 'vitest';
import { reactToFailover, rerouteProxies, verifyThroughProxies } from '../../../core/failover/react.ts';
import { N1, N2 } from '../../support/fixtures.ts';
import { failedOverWorld } from '../../support/world.ts';
import { switchMaster } from './fixtures.ts';

describe('reactToFailover', () => {
  it("gives outcome 'partial' and finishes the epoch as failed when a proxy refuses every attempt", async () => {
    // Arrange
    const w = failedOverWorld();
    w.router.failures.set('p2', Number.POSITIVE_INFINITY);

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('partial');
    expect(w.router.routes.get('p1')).toEqual(N2);
    expect(w.router.routes.get('p2')).toEqual(N1);
    expect(w.router.calls.filter((c) => c.proxy === 'p2')).toHaveLength(3);
    expect(w.state.history[0]?.error).toContain('rerouted: 1 of 2 proxies not rerouted: p2');
    expect(w.state.history[0]?.timeline.find((s) => s.step === 'rerouted')?.status).toBe('failed');
    // No canary through the proxy the reroute missed: it could only fail, after every verify attempt.
    expect(w.redis.canaryCalls.map((c) => c.proxy)).not.toContain('p2');
    expect(w.redis.canaryCalls.filter((c) => c.proxy === 'p1')).toHaveLength(2);
    const verified = w.state.history[0]?.timeline.find((s) => s.step === 'verified');
    expect(verified).toMatchObject({ status: 'ok', detail: expect.stringContaining('not through p2') });
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, status: 'failed' });
    expect(w.dns.calls).toEqual([{ master: N2, epoch: 7 }]);
    expect(w.notifier.published[0]?.outcome).toBe('partial');
  });

  it('names in the reroute step when each proxy was rerouted, before the step waits out a failing one', async () => {
    // Arrange: p2 refuses every attempt (a dead host's HAProxy); its retries take the fake clock forward.
    const w = failedOverWorld();
    w.router.failures.set('p2', Number.POSITIVE_INFINITY);

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert: p1's time from the step's start, shorter than the step (which ends with p2's last attempt).
    const rerouted = (result.action === 'failed-over' ? result.entry.timeline : []).find(
      (s) => s.step === 'rerouted',
    );
    const p1 = Number(rerouted?.detail?.match(/1 proxies -> n2 \(p1 \+(\d+)ms\)$/)?.[1]);
    expect(p1).toBeGreaterThanOrEqual(0);
    expect(p1).toBeLessThan(rerouted?.durationMs ?? 0);
  });

  it('retries a partial failover on the next trigger and reroutes the proxy it missed', async () => {
    // Arrange: p2 refuses every attempt during the first reaction.
    const w = failedOverWorld();
    w.router.failures.set('p2', Number.POSITIVE_INFINITY);
    await reactToFailover(w.cluster, switchMaster, w.deps);
    w.router.failures.set('p2', 0);

    const callsBefore = w.router.calls.length;

    // Act: a redelivery of the same event.
    const retry = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(retry.action === 'failed-over' && retry.entry.outcome).toBe('succeeded');
    expect(w.router.routes.get('p2')).toEqual(N2);
    // p1 already routed to n2 is left alone (a reroute would cut its clients' sessions again).
    expect(w.router.calls.slice(callsBefore)).toEqual([{ proxy: 'p2', node: N2 }]);
    expect(
      retry.action === 'failed-over' && retry.entry.timeline.find((s) => s.step === 'rerouted')?.detail,
    ).toBe('1 proxies -> n2 (1 already there; p2 +0ms)');
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, status: 'done' });
  });

  it('succeeds when a proxy refuses only its first attempts', async () => {
    // Arrange
    const w = failedOverWorld();
    w.router.failures.set('p1', 2);

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(w.router.calls.filter((c) => c.proxy === 'p1')).toHaveLength(3);
    expect(w.clock.sleeps.filter((ms) => ms === 20)).toHaveLength(2);
  });

  it.each([
    ['reading the applied epoch', 'appliedEpoch'],
    ['claiming the epoch', 'claimEpoch'],
  ] as const)(
    'acts on nothing when the state store fails %s, and reports the error',
    async (_what, method) => {
      // Arrange: without a claim there is no "exactly once"; the failure goes up for the retry and the alarm.
      const w = failedOverWorld();
      w.state[method] = async () => {
        throw new Error('ProvisionedThroughputExceededException: state table unavailable');
      };

      // Act
      const run = reactToFailover(w.cluster, switchMaster, w.deps);

      // Assert
      await expect(run).rejects.toThrow('state table unavailable');
      expect(w.router.calls).toEqual([]);
      expect(w.dns.calls).toEqual([]);
      expect(w.nodeOps.runs).toEqual([]);
      expect(w.redis.replicaOfCalls).toEqual([]);
      expect(w.notifier.published).toEqual([]);
    },
  );

  it('still fails over and records history when the notifier throws', async () => {
    // Arrange
    const w = failedOverWorld();
    w.notifier.failWith = new Error('SNS is down');

    // Act
    const result = await reactToFailover(w.cluster, switchMaster, w.deps);

    // Assert
    expect(result.action === 'failed-over' && result.entry.outcome).toBe('succeeded');
    expect(w.state.history).toHaveLength(1);
    expect(w.logger.lines).toContainEqual({ level: 'error', message: 'notification failed' });
  });
});

describe('failover steps', () => {
  it('rerouteProxies names every proxy that could not be rerouted', async () => {
    // Arrange
    const w = failedOverWorld();
    w.router.failures.set('p1', Number.POSITIVE_INFINITY);
    w.router.failures.set('p2', Number.POSITIVE_INFINITY);

    // Act
    const reroute = await rerouteProxies(w.cluster, N2, w.deps);

    // Assert
    expect(reroute).toEqual({
      summary: '0 proxies -> n2',
      failed: [
        { id: 'p1', error: 'proxy p1: connection refused', unreachable: false },
        { id: 'p2', error: 'proxy p2: connection refused', unreachable: false },
      ],
    });
  });

  it('verifyThroughProxies fails with a VerificationError after the configured attempts', async () => {
    // Arrange
    const w = failedOverWorld(); // proxies still point at n1

    // Act
    const verify = verifyThroughProxies(w.cluster, N2, w.deps);

    // Assert
    await expect(verify).rejects.toMatchObject({
      name: 'VerificationError',
      message: expect.stringContaining('canary failed through p1/plain'),
    });
    expect(w.redis.canaryCalls).toHaveLength(3 * 3);
  });
});
