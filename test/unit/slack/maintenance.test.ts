import { describe, expect, it } from 'vitest';
import { buildStatusReport, type StatusObservations } from '../../../core/status/report.ts';
import { makeDeferredHandler } from '../../../functions/slack/deferred.ts';
import { makeSlackHandler } from '../../../functions/slack/handler.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { N1, START } from '../../support/fixtures.ts';
import {
  commandBody,
  missingPhrases,
  OPERATOR,
  RESPONSE_URL,
  replyOf,
  STRANGER,
  signed,
  slackWorld,
  wordsOf,
} from './fixtures.ts';

describe('/redis maintenance pause|resume', () => {
  it('pauses an authorized cluster, recording who, when and why, and tells the channel', async () => {
    // Arrange
    const w = slackWorld({ clock: new FakeClock() });
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(await handle(signed(commandBody('maintenance pause orders incident 42'))));

    // Assert
    expect(w.modes.get('orders')).toEqual({
      paused: true,
      by: `slack:${OPERATOR}`,
      at: START,
      reason: 'incident 42',
    });
    expect(message.response_type).toBe('in_channel');
    expect(message.text).toBe(
      `Maintenance of orders paused by <@${OPERATOR}>: incident 42. Scheduled maintenance runs are skipped; the automatic failover reaction keeps running.`,
    );
  });

  it('resumes, with a default reason left empty', async () => {
    const w = slackWorld({ clock: new FakeClock() });
    const handle = makeSlackHandler(() => w.deps);
    const message = replyOf(await handle(signed(commandBody('maintenance resume orders'))));
    expect(w.modes.get('orders')).toEqual({ paused: false, by: `slack:${OPERATOR}`, at: START, reason: '' });
    expect(message.text).toBe(
      `Maintenance of orders resumed by <@${OPERATOR}>. Scheduled maintenance runs go ahead again.`,
    );
  });

  it('refuses a user who may not act on the cluster, and changes nothing', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const message = replyOf(
      await handle(signed(commandBody('maintenance pause orders', { user: STRANGER }))),
    );

    // Assert
    expect(message.response_type).toBe('ephemeral');
    expect(message.text).toContain(`Refused: <@${STRANGER}> is not allowed to act on orders`);
    expect(w.modes.size).toBe(0);
    expect(w.calls).not.toContain('maintenance.set');
  });

  it('refuses a cluster without a slack block', async () => {
    const w = slackWorld({ slack: { orders: undefined } });
    const handle = makeSlackHandler(() => w.deps);
    const message = replyOf(await handle(signed(commandBody('maintenance pause orders'))));
    expect(message.text).toContain('cluster orders is not enabled for Slack');
    expect(w.modes.size).toBe(0);
  });

  it.each([
    ['maintenance', '`maintenance` takes `pause` or `resume`'],
    ['maintenance stop orders', "`maintenance` takes `pause` or `resume`, not 'stop'"],
    ['maintenance pause', '`maintenance pause` needs a cluster name'],
    ['maintenance resume nowhere', "unknown cluster 'nowhere'; known clusters: orders, billing"],
  ])("answers '%s' with what was wrong and the usage, touching nothing", async (text, problem) => {
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);
    const message = replyOf(await handle(signed(commandBody(text))));
    expect(message.text.startsWith(problem)).toBe(true);
    expect(message.text).toContain('`/redis maintenance pause|resume &lt;cluster&gt; [reason]`');
    expect(w.calls).toEqual(['signingSecret']);
  });

  it('says so when the mode cannot be stored', async () => {
    const w = slackWorld({ maintenanceError: new Error('table unreachable') });
    const handle = makeSlackHandler(() => w.deps);
    const message = replyOf(await handle(signed(commandBody('maintenance pause orders'))));
    expect(message.text).toBe('Could not pause maintenance of orders: table unreachable');
  });
});

describe('status shows the maintenance mode', () => {
  const observations = (maintenance?: StatusObservations['maintenance']): StatusObservations => ({
    cluster: 'orders',
    observedAt: START,
    sentinelsConfigured: 3,
    nodes: [{ id: 'n1', address: N1, reachable: true, role: 'master', offset: 5000 }],
    sentinels: [],
    proxies: [],
    ...(maintenance ? { maintenance } : {}),
  });
  const post = async (maintenance?: StatusObservations['maintenance']) => {
    const w = slackWorld({ report: buildStatusReport(observations(maintenance), { maxLagBytes: 1 }) });
    await makeDeferredHandler(() => w.deps)({
      deferred: { kind: 'status', cluster: 'orders', responseUrl: RESPONSE_URL },
    });
    const message = w.posts[0]?.message;
    if (!message) throw new Error('nothing posted');
    return message;
  };

  it('says paused, by whom and why', async () => {
    const message = await post({ paused: true, by: 'cli:alice', at: START, reason: 'incident 42' });
    expect(message.text).toContain('maintenance PAUSED');
    expect(
      missingPhrases(message, [
        '*maintenance* PAUSED by cli:alice',
        '(incident 42): scheduled runs are skipped',
      ]),
    ).toEqual([]);
  });

  it('says running when never paused', async () => {
    const message = await post();
    expect(wordsOf(message)).toContain('*maintenance* running (never paused)');
    expect(message.text).not.toContain('PAUSED');
  });
});
