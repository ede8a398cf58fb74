import { describe, expect, it } from 'vitest';
import { FAILOVER_TRIGGERS, handleSentinelEvent, reconcile } from '../../core/failover/handle-event.ts';
import { parseSentinelMessage, type SentinelEvent } from '../../core/failover/sentinel-event.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import { FakeSentinelView } from '../fakes/sentinels.ts';
import { N1, N2, START } from '../support/fixtures.ts';
import { loadEnvelope, loadEvent } from '../support/samples.ts';
import { failedOverWorld } from '../support/world.ts';

/** A sample with the master name replaced, as another cluster's Sentinels would send it. */
function otherMaster(name: string): SentinelEvent {
  const { channel, payload } = loadEnvelope(name);
  const parsed = parseSentinelMessage(channel, payload.replace('mymaster', 'billing'));
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.event;
}

describe('handleSentinelEvent', () => {
  it.each(['switch-master', 'failover-end', 'sdown-cleared', 'odown'])(
    'ignores %s for another master name, and touches nothing',
    async (name) => {
      // Arrange
      const w = failedOverWorld();

      // Act
      const outcome = await handleSentinelEvent(w.cluster, otherMaster(name), START, w.deps);

      // Assert
      expect(outcome).toEqual({
        action: 'ignored',
        reason: "event for master 'billing', cluster monitors 'mymaster'",
      });
      expect(w.sentinels.questions).toEqual([]);
      expect(w.router.calls).toEqual([]);
    },
  );

  it.each([
    ['sdown-master', '+sdown'],
    ['sdown-slave', '+sdown'],
    ['sdown-sentinel', '+sdown'],
    ['odown', '+odown'],
    ['odown-cleared', '-odown'],
    ['new-epoch', '+new-epoch'],
    ['try-failover', '+try-failover'],
    ['elected-leader', '+elected-leader'],
    ['selected-slave', '+selected-slave'],
    ['failover-state-select-slave', '+failover-state-select-slave'],
    ['failover-state-send-slaveof-noone', '+failover-state-send-slaveof-noone'],
    ['tilt', '+tilt'],
    ['tilt-exited', '-tilt'],
  ])('ignores %s, saying it needs no action', async (name, type) => {
    // Arrange
    const w = failedOverWorld();

    // Act
    const outcome = await handleSentinelEvent(w.cluster, loadEvent(name), START, w.deps);

    // Assert
    expect(outcome).toEqual({ action: 'ignored', reason: `${type} needs no action` });
    expect(w.sentinels.questions).toEqual([]);
    expect(w.router.calls).toEqual([]);
    expect(w.state.history).toEqual([]);
  });

  it('records a vote of a configured Sentinel, and ignores a vote from an unknown one', async () => {
    // Arrange
    const w = failedOverWorld();
    const vote = loadEvent('vote-for-leader');
    const voter = w.cluster.sentinels[1] as Endpoint;

    // Act
    const recorded = await handleSentinelEvent(w.cluster, vote, START, w.deps, voter);
    const stranger = await handleSentinelEvent(w.cluster, vote, START, w.deps, {
      host: '10.9.9.9',
      port: 26379,
    });

    // Assert
    expect(recorded).toMatchObject({ action: 'vote-recorded' });
    expect(stranger.action).toBe('ignored');
    expect(await w.state.votes()).toHaveLength(1);
    expect((await w.state.votes())[0]?.voter).toEqual(voter);
  });

  it('warns that a Sentinel entered TILT mode', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    await handleSentinelEvent(w.cluster, loadEvent('tilt'), START, w.deps);

    // Assert
    expect(w.logger.lines).toContainEqual({
      level: 'warn',
      message: 'a Sentinel entered TILT mode; its view is not trusted until it leaves',
    });
  });

  it.each(['sdown-cleared', 'reboot', 'convert-to-slave'])(
    'ignores %s when no fence is pending for that instance',
    async (name) => {
      // Arrange
      const w = failedOverWorld();

      // Act
      const outcome = await handleSentinelEvent(w.cluster, loadEvent(name), START, w.deps);

      // Assert
      expect(outcome).toEqual({
        action: 'ignored',
        reason: expect.stringContaining('no fence pending for 10.0.1.21:6379'),
      });
      expect(w.redis.replicaOfCalls).toEqual([]);
    },
  );

  it.each([
    'failover-state-wait-promotion',
    'promoted-slave',
    'failover-state-reconf-slaves',
    'switch-master',
    'failover-end',
  ])('reacts to %s as a failover trigger', async (name) => {
    // Arrange
    const w = failedOverWorld();
    const event = loadEvent(name);

    // Act
    const outcome = await handleSentinelEvent(w.cluster, event, START - 500, w.deps);

    // Assert
    expect(FAILOVER_TRIGGERS.has(event.type)).toBe(true);
    expect(outcome.action).toBe('failed-over');
    expect(w.router.calls.map((c) => c.node)).toEqual([N2, N2]);
    expect(w.state.history[0]).toMatchObject({ trigger: event.type, startedAt: START - 500 });
  });

  it('passes the old master of +switch-master on to the reaction', async () => {
    // Arrange
    const w = failedOverWorld({ applied: null });

    // Act
    const outcome = await handleSentinelEvent(w.cluster, loadEvent('switch-master'), START, w.deps);

    // Assert
    expect(outcome.action === 'failed-over' && outcome.entry.oldMaster).toEqual(N1);
  });

  it('does not take an old master from a trigger other than +switch-master', async () => {
    // Arrange
    const w = failedOverWorld({ applied: null });

    // Act
    const outcome = await handleSentinelEvent(w.cluster, loadEvent('failover-end'), START, w.deps);

    // Assert
    expect(outcome.action === 'failed-over' && outcome.entry.oldMaster).toBeNull();
  });
});

describe('reconcile', () => {
  it('applies a confirmed newer epoch that no event delivered', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    const [failover, fences] = await reconcile(w.cluster, w.deps);

    // Assert
    expect(failover?.action).toBe('failed-over');
    expect(fences).toEqual({ action: 'fence-checked', fenced: [] });
    expect(w.router.routes.get('p2')).toEqual(N2);
  });

  it('polls once and records nothing when the Sentinels do not agree', async () => {
    // Arrange
    const w = failedOverWorld({ sentinels: new FakeSentinelView([['down', 'down', 'down']]) });

    // Act
    const [failover] = await reconcile(w.cluster, w.deps);

    // Assert
    expect(failover).toEqual({ action: 'unconfirmed' });
    expect(w.sentinels.questions).toHaveLength(3);
    expect(w.state.history).toEqual([]);
  });
});
