import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { SecretSource } from '../../../adapters/aws/secrets.ts';
import { NotificationDeliveryError, type NotificationTarget } from '../../../adapters/notify/delivery.ts';
import type { FormattedNotification } from '../../../adapters/notify/format.ts';
import { notifyTargets } from '../../../compose/notify-aws.ts';
import { parseDeploymentConfig } from '../../../config/load.ts';
import type { DeploymentConfig, SecretRef } from '../../../config/schema.ts';
import { UnknownClusterError } from '../../../core/model/errors.ts';
import { makeNotifyHandler, type NotifyDeps } from '../../../functions/notify/handler.ts';
import { DeliveryLedger } from '../../../functions/notify/ledger.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { RecordingLogger } from '../../fakes/reporting.ts';
import { rejectionOf } from '../aws/sdk-errors.ts';
import {
  cloudWatchAlarm,
  failoverOk,
  LoopbackServer,
  notifyEvent,
  slackOk,
  switchoverRolledBack,
} from './fixtures.ts';

/** A target that records what it was given, and fails while `failures` is above zero. */
class RecordingTarget implements NotificationTarget {
  readonly name: string;
  readonly delivered: FormattedNotification[] = [];
  failures = 0;
  constructor(name: string) {
    this.name = name;
  }
  async deliver(n: FormattedNotification): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error(`${this.name}: HTTP 503 (gave up after 4 attempts)`);
    }
    this.delivered.push(n);
  }
}

function depsWith(byCluster: Record<string, NotificationTarget[]>, ledger?: DeliveryLedger) {
  const logger = new RecordingLogger();
  const deps: NotifyDeps = {
    logger,
    targets: (cluster) => {
      if (cluster === undefined) return [...new Set(Object.values(byCluster).flat())];
      const targets = byCluster[cluster];
      if (!targets) throw new UnknownClusterError(cluster, Object.keys(byCluster));
      return targets;
    },
    ...(ledger ? { ledger } : {}),
  };
  return { deps, logger };
}

describe('makeNotifyHandler', () => {
  it('formats a notification and delivers it to its cluster’s targets', async () => {
    // Arrange
    const slack = new RecordingTarget('slack:C0123ABCD');
    const webhook = new RecordingTarget('webhook:orders');
    const other = new RecordingTarget('webhook:sessions');
    const { deps } = depsWith({ orders: [slack, webhook], sessions: [other] });
    const handle = makeNotifyHandler(() => deps);

    // Act
    const outcomes = await handle(notifyEvent(await failoverOk()));

    // Assert
    expect(outcomes).toEqual([
      {
        action: 'delivered',
        title: 'FAILOVER OK: orders',
        delivered: ['slack:C0123ABCD', 'webhook:orders'],
        skipped: [],
      },
    ]);
    expect(slack.delivered.map((n) => n.title)).toEqual(['FAILOVER OK: orders']);
    expect(webhook.delivered).toHaveLength(1);
    expect(other.delivered).toEqual([]);
  });

  it('logs and skips a malformed record, and still delivers the others', async () => {
    // Arrange
    const target = new RecordingTarget('webhook:orders');
    const { deps, logger } = depsWith({ orders: [target] });
    const handle = makeNotifyHandler(() => deps);

    // Act
    const outcomes = await handle(
      notifyEvent('not json at all', { cluster: 'orders', kind: 'failover' }, await failoverOk()),
    );

    // Assert
    expect(outcomes.map((o) => o.action)).toEqual(['rejected', 'rejected', 'delivered']);
    expect(outcomes[0]).toMatchObject({ reason: expect.stringMatching(/^the SNS Message is not JSON/) });
    expect(outcomes[1]).toMatchObject({ reason: expect.stringContaining('outcome') });
    expect(target.delivered).toHaveLength(1);
    expect(logger.lines.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
      'notification message rejected; not delivered, not retried',
      'notification message rejected; not delivered, not retried',
    ]);
  });

  it('skips a notification for a cluster the configuration does not know, without throwing', async () => {
    // Arrange
    const { deps, logger } = depsWith({ sessions: [new RecordingTarget('webhook:sessions')] });
    const handle = makeNotifyHandler(() => deps);

    // Act
    const outcomes = await handle(notifyEvent(await failoverOk()));

    // Assert
    expect(outcomes).toEqual([
      { action: 'rejected', reason: expect.stringContaining("unknown cluster 'orders'") },
    ]);
    expect(logger.lines.at(-1)).toEqual({
      level: 'error',
      message: 'notification for an unknown cluster rejected; not delivered',
    });
  });

  it('says so when a cluster has no targets', async () => {
    // Arrange
    const { deps } = depsWith({ orders: [] });
    const handle = makeNotifyHandler(() => deps);

    // Act
    const outcomes = await handle(notifyEvent(await failoverOk()));

    // Assert
    expect(outcomes).toEqual([{ action: 'no-targets', title: 'FAILOVER OK: orders' }]);
  });

  it('throws when a delivery fails, after every record and every target was tried', async () => {
    // Arrange
    const slack = new RecordingTarget('slack:C0123ABCD');
    const webhook = new RecordingTarget('webhook:orders');
    webhook.failures = 1;
    const { deps, logger } = depsWith({ orders: [slack, webhook] });
    const handle = makeNotifyHandler(() => deps);

    // Act
    const error = await rejectionOf(handle(notifyEvent(await failoverOk(), await switchoverRolledBack())));

    // Assert
    expect(error).toBeInstanceOf(NotificationDeliveryError);
    expect(error.message).toMatch(
      /^notification "FAILOVER OK: orders" not delivered to 1 of 2 targets: webhook:orders/,
    );
    expect(slack.delivered.map((n) => n.title)).toEqual([
      'FAILOVER OK: orders',
      'SWITCHOVER ROLLED BACK: orders',
    ]);
    expect(webhook.delivered.map((n) => n.title)).toEqual(['SWITCHOVER ROLLED BACK: orders']);
    expect(logger.lines.some((l) => l.message === 'notification not delivered to every target')).toBe(true);
  });

  it('on a retry of the same event, skips the targets this container already delivered it to', async () => {
    // Arrange
    const slack = new RecordingTarget('slack:C0123ABCD');
    const webhook = new RecordingTarget('webhook:orders');
    webhook.failures = 1;
    const { deps } = depsWith({ orders: [slack, webhook] }, new DeliveryLedger());
    const handle = makeNotifyHandler(() => deps);
    const event = notifyEvent(await failoverOk());
    await rejectionOf(handle(event));

    // Act: the Lambda's async retry hands the same event (same MessageId) again.
    const outcomes = await handle(structuredClone(event));

    // Assert
    expect(outcomes).toEqual([
      {
        action: 'delivered',
        title: 'FAILOVER OK: orders',
        delivered: ['webhook:orders'],
        skipped: ['slack:C0123ABCD'],
      },
    ]);
    expect(slack.delivered).toHaveLength(1);
    expect(webhook.delivered).toHaveLength(1);
  });

  it('delivers a CloudWatch alarm, which names no cluster, to every cluster’s targets', async () => {
    // Arrange
    const shared = new RecordingTarget('slack:C0123ABCD');
    const sessions = new RecordingTarget('webhook:sessions');
    const { deps } = depsWith({ orders: [shared], sessions: [shared, sessions] });
    const handle = makeNotifyHandler(() => deps);

    // Act
    const outcomes = await handle(notifyEvent(cloudWatchAlarm()));

    // Assert
    expect(outcomes).toEqual([
      {
        action: 'delivered',
        title: 'ALARM: ha-redis-FailoverUnconfirmedAlarm',
        delivered: ['slack:C0123ABCD', 'webhook:sessions'],
        skipped: [],
      },
    ]);
    expect(shared.delivered).toHaveLength(1);
  });
});

describe('DeliveryLedger', () => {
  it('forgets the oldest deliveries beyond its capacity', () => {
    // Arrange
    const ledger = new DeliveryLedger(2);

    // Act
    ledger.add('m1', 'a');
    ledger.add('m2', 'a');
    ledger.add('m3', 'a');

    // Assert
    expect([ledger.has('m1', 'a'), ledger.has('m2', 'a'), ledger.has('m3', 'a')]).toEqual([
      false,
      true,
      true,
    ]);
    expect(ledger.has('m3', 'b')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Targets from the deployment config, delivering to real loopback servers
// ---------------------------------------------------------------------------------------------

const servers: LoopbackServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const refName = (ref: SecretRef): string => ('ssmParameter' in ref ? ref.ssmParameter : ref.secretsManager);

/** Secrets by reference name; reads are counted. */
class FakeSecrets implements SecretSource {
  readonly reads: string[] = [];
  private readonly values: Record<string, string>;
  constructor(values: Record<string, string>) {
    this.values = values;
  }
  async get(ref: SecretRef): Promise<string> {
    const name = refName(ref);
    this.reads.push(name);
    const value = this.values[name];
    if (value === undefined) throw new Error(`no secret ${name}`);
    return value;
  }
}

/**
 * The example config with notification targets: orders has its Slack channel, a Slack webhook and the
 * shared JSON webhook; sessions posts to the same Slack channel and the same JSON webhook, plus its own.
 */
function configWithTargets(): DeploymentConfig {
  const json = JSON.parse(readFileSync(new URL('../../../config/example.json', import.meta.url), 'utf8'));
  const [orders, sessions] = json.clusters;
  orders.notifications = {
    slackWebhookUrl: { ssmParameter: '/ha-redis/orders/slack-webhook' },
    webhookUrl: { ssmParameter: '/ha-redis/shared/webhook' },
  };
  sessions.slack = { channel: orders.slack.channel, allowedUsers: ['U0123ABCD'] };
  sessions.notifications = {
    webhookUrl: { ssmParameter: '/ha-redis/shared/webhook' },
    slackWebhookUrl: { secretsManager: 'ha-redis/sessions/slack-webhook' },
  };
  return parseDeploymentConfig(json, 'example.json');
}

describe('notifyTargets', () => {
  it('gives a cluster its Slack channel (with the deployment’s bot token), its Slack webhook and its JSON webhook', () => {
    // Arrange
    const targets = notifyTargets(configWithTargets(), new FakeSecrets({}));

    // Act
    const names = targets('orders').map((t) => t.name);

    // Assert
    expect(names).toEqual([
      'slack:C0123ABCD',
      'slack-webhook:/ha-redis/orders/slack-webhook',
      'webhook:/ha-redis/shared/webhook',
    ]);
  });

  it('gives a cluster without Slack or notification settings no targets', () => {
    // Arrange
    const config = configWithTargets();
    const sessions = config.clusters[1];
    if (!sessions) throw new Error('the example has two clusters');
    sessions.slack = undefined;
    sessions.notifications = {};

    // Act
    const targets = notifyTargets(config, new FakeSecrets({}))('sessions');

    // Assert
    expect(targets).toEqual([]);
  });

  it('refuses a cluster the config does not name', () => {
    // Arrange
    const targets = notifyTargets(configWithTargets(), new FakeSecrets({}));

    // Act / Assert
    expect(() => targets('payments')).toThrow(UnknownClusterError);
  });

  it('delivers an alarm once to each distinct target of every cluster, over HTTP', async () => {
    // Arrange
    const slackApi = await LoopbackServer.start(slackOk());
    const ordersHook = await LoopbackServer.start({ status: 200, body: 'ok' });
    const sessionsHook = await LoopbackServer.start({ status: 200, body: 'ok' });
    const sharedWebhook = await LoopbackServer.start({ status: 204 });
    servers.push(slackApi, ordersHook, sessionsHook, sharedWebhook);
    const secrets = new FakeSecrets({
      'ha-redis/slack': 'xoxb-deployment-bot',
      '/ha-redis/orders/slack-webhook': ordersHook.url('/services/orders'),
      'ha-redis/sessions/slack-webhook': sessionsHook.url('/services/sessions'),
      '/ha-redis/shared/webhook': sharedWebhook.url('/events'),
    });
    const targets = notifyTargets(configWithTargets(), secrets, {
      clock: new FakeClock(),
      random: () => 0,
      slackApiUrl: slackApi.url('/api/'),
    });
    const handle = makeNotifyHandler(() => ({ logger: new RecordingLogger(), targets }));

    // Act
    const outcomes = await handle(notifyEvent(cloudWatchAlarm()));

    // Assert
    expect(outcomes).toEqual([
      {
        action: 'delivered',
        title: 'ALARM: ha-redis-FailoverUnconfirmedAlarm',
        delivered: [
          'slack:C0123ABCD',
          'slack-webhook:/ha-redis/orders/slack-webhook',
          'webhook:/ha-redis/shared/webhook',
          'slack-webhook:ha-redis/sessions/slack-webhook',
        ],
        skipped: [],
      },
    ]);
    expect(slackApi.requests).toHaveLength(1);
    expect(slackApi.requests[0]?.headers.authorization).toBe('Bearer xoxb-deployment-bot');
    expect(new URLSearchParams(slackApi.requests[0]?.body).get('text')).toMatch(
      /^ALARM: ha-redis-FailoverUnconfirmedAlarm\n/,
    );
    expect(ordersHook.requests).toHaveLength(1);
    expect(sessionsHook.requests).toHaveLength(1);
    expect(sharedWebhook.requests).toHaveLength(1);
    expect(JSON.parse(sharedWebhook.requests[0]?.body ?? '')).toMatchObject({ type: 'alarm', cluster: null });
  });
});
