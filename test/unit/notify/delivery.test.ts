import { afterEach, describe, expect, it } from 'vitest';
import {
  DELIVERY_RETRY,
  type DeliverySettings,
  deliverAll,
  NotificationDeliveryError,
  type NotificationTarget,
  parseRetryAfter,
  TargetDeliveryError,
} from '../../../adapters/notify/delivery.ts';
import { type FormattedNotification, formatNotification } from '../../../adapters/notify/format.ts';
import { JsonWebhookTarget } from '../../../adapters/notify/json-webhook.ts';
import { SlackBotTarget } from '../../../adapters/notify/slack-bot.ts';
import { SlackWebhookTarget } from '../../../adapters/notify/slack-webhook.ts';
import type { WebhookTargetOptions } from '../../../adapters/notify/webhook-target.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { rejectionOf } from '../aws/sdk-errors.ts';
import { type Answer, failoverOk, LoopbackServer, slackOk } from './fixtures.ts';

const servers: LoopbackServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(...answers: Answer[]): Promise<LoopbackServer> {
  const s = await LoopbackServer.start(...answers);
  servers.push(s);
  return s;
}

/** A port nothing listens on: a server started and closed again. */
async function deadUrl(path: string): Promise<string> {
  const s = await LoopbackServer.start();
  const url = s.url(path);
  await s.close();
  return url;
}

/** The fake clock, and no jitter: every pause is exactly what the policy or Retry-After asks. */
function settings(clock = new FakeClock()): DeliverySettings & { clock: FakeClock } {
  return { clock, random: () => 0 };
}

let formatted: FormattedNotification | undefined;
async function notification(): Promise<FormattedNotification> {
  formatted ??= formatNotification(await failoverOk());
  return formatted;
}

const SERVER_ERROR: Answer = { status: 500, body: 'upstream broke' };

// ---------------------------------------------------------------------------------------------
// Generic JSON webhook
// ---------------------------------------------------------------------------------------------

describe('JsonWebhookTarget', () => {
  it('POSTs the JSON document with its id as Idempotency-Key', async () => {
    // Arrange
    const s = await server({ status: 204 });
    const n = await notification();
    const target = new JsonWebhookTarget({ ...settings(), name: 'webhook:test', url: () => s.url('/hook') });

    // Act
    await target.deliver(n);

    // Assert
    expect(s.requests).toHaveLength(1);
    const [request] = s.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/hook' });
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['idempotency-key']).toBe(n.id);
    expect(JSON.parse(request?.body ?? '')).toEqual(n.json);
  });

  it('retries a 500 with backoff on the injected clock, and succeeds', async () => {
    // Arrange
    const s = await server(SERVER_ERROR, SERVER_ERROR, { status: 200 });
    const options = settings();
    const target = new JsonWebhookTarget({ ...options, name: 'webhook:test', url: () => s.url() });

    // Act
    await target.deliver(await notification());

    // Assert
    expect(s.requests).toHaveLength(3);
    expect(options.clock.sleeps).toEqual([0, 0]); // full jitter with random() = 0
  });

  it('waits the Retry-After of a 429 before the next attempt', async () => {
    // Arrange
    const s = await server({ status: 429, headers: { 'retry-after': '3' } }, { status: 200 });
    const options = settings();
    const target = new JsonWebhookTarget({ ...options, name: 'webhook:test', url: () => s.url() });

    // Act
    await target.deliver(await notification());

    // Assert
    expect(s.requests).toHaveLength(2);
    expect(options.clock.sleeps).toEqual([0, 3000]);
  });

  it('gives up at once on a Retry-After longer than the Lambda should wait', async () => {
    // Arrange
    const s = await server({ status: 429, headers: { 'retry-after': '3600' } }, { status: 200 });
    const options = settings();
    const target = new JsonWebhookTarget({ ...options, name: 'webhook:test', url: () => s.url() });

    // Act
    const error = await rejectionOf(target.deliver(await notification()));

    // Assert
    expect(s.requests).toHaveLength(1);
    expect(error).toBeInstanceOf(TargetDeliveryError);
    expect(error.message).toBe('webhook:test: HTTP 429 (gave up after 1 attempt)');
    expect(options.clock.sleeps).toEqual([]);
  });

  it('gives up after the bounded attempts of a target that keeps failing', async () => {
    // Arrange
    const s = await server({ status: 503 });
    const options = settings();
    const target = new JsonWebhookTarget({ ...options, name: 'webhook:test', url: () => s.url() });

    // Act
    const error = await rejectionOf(target.deliver(await notification()));

    // Assert
    expect(s.requests).toHaveLength(DELIVERY_RETRY.maxAttempts);
    expect(error.message).toBe(
      `webhook:test: HTTP 503 (gave up after ${DELIVERY_RETRY.maxAttempts} attempts)`,
    );
    expect(options.clock.sleeps).toHaveLength(DELIVERY_RETRY.maxAttempts - 1);
  });

  it('retries a refused connection, and never shows the URL (a secret) in its error', async () => {
    // Arrange
    const url = await deadUrl('/hooks/T000/B000/SECRETPART');
    const target = new JsonWebhookTarget({ ...settings(), name: 'webhook:test', url: () => url });

    // Act
    const error = await rejectionOf(target.deliver(await notification()));

    // Assert
    expect(error.message).toMatch(
      /^webhook:test: no answer \(fetch failed: connect ECONNREFUSED .*\(gave up after 4 attempts\)$/,
    );
    expect(error.message).not.toContain('SECRETPART');
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('SECRETPART');
  });

  it('treats an endpoint slower than its timeout as down', async () => {
    // Arrange
    const s = await server({ status: 200, hang: true });
    const target = new JsonWebhookTarget({
      ...settings(),
      name: 'webhook:test',
      url: () => s.url(),
      timeoutMs: 50,
      policy: { ...DELIVERY_RETRY, maxAttempts: 2 },
    });

    // Act
    const error = await rejectionOf(target.deliver(await notification()));

    // Assert
    expect(s.requests).toHaveLength(2);
    expect(error.message).toMatch(/^webhook:test: no answer \(.*timeout.*\(gave up after 2 attempts\)$/i);
  });
});

// ---------------------------------------------------------------------------------------------
// Slack incoming webhook
// ---------------------------------------------------------------------------------------------

describe('SlackWebhookTarget', () => {
  it('posts the Slack text and blocks as JSON, without unfurling', async () => {
    // Arrange
    const s = await server({ status: 200, body: 'ok' });
    const n = await notification();
    const target = new SlackWebhookTarget({
      ...settings(),
      name: 'slack-webhook:test',
      url: () => s.url('/services/T1/B1/x'),
    });

    // Act
    await target.deliver(n);

    // Assert
    expect(s.requests).toHaveLength(1);
    expect(s.requests[0]).toMatchObject({ method: 'POST', path: '/services/T1/B1/x' });
    expect(s.requests[0]?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(s.requests[0]?.body ?? '')).toEqual({
      text: n.slack.text,
      blocks: n.slack.blocks,
      unfurl_links: false,
      unfurl_media: false,
    });
  });

  it('retries a 500, and waits the Retry-After of a 429', async () => {
    // Arrange
    const s = await server(
      SERVER_ERROR,
      { status: 429, headers: { 'retry-after': '2' } },
      { status: 200, body: 'ok' },
    );
    const options = settings();
    const target = new SlackWebhookTarget({ ...options, name: 'slack-webhook:test', url: () => s.url() });

    // Act
    await target.deliver(await notification());

    // Assert
    expect(s.requests).toHaveLength(3);
    expect(options.clock.sleeps).toEqual([0, 0, 2000]);
  });

  it('retries a refused connection without showing the webhook URL', async () => {
    // Arrange
    const url = await deadUrl('/services/T1/B1/SECRETPART');
    const target = new SlackWebhookTarget({ ...settings(), name: 'slack-webhook:test', url: () => url });

    // Act
    const error = await rejectionOf(target.deliver(await notification()));

    // Assert
    expect(error.message).toMatch(/^slack-webhook:test: no answer .*\(gave up after 4 attempts\)$/);
    expect(error.message).not.toContain('SECRETPART');
  });
});

describe('webhooks', () => {
  it.each([
    { make: (o: WebhookTargetOptions) => new JsonWebhookTarget(o), body: 'unknown field "blocks"' },
    { make: (o: WebhookTargetOptions) => new SlackWebhookTarget(o), body: 'invalid_payload' },
  ])('do not retry a 400, and quote its answer ($body)', async ({ make, body }) => {
    // Arrange
    const s = await server({ status: 400, body }, { status: 200, body: 'ok' });
    const target = make({ ...settings(), name: 'hook:test', url: () => s.url() });

    // Act
    const error = await rejectionOf(target.deliver(await notification()));

    // Assert
    expect(s.requests).toHaveLength(1);
    expect(error.message).toBe(
      `hook:test: HTTP 400 ${body} (not retried: fix the target or its configuration)`,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Slack bot (chat.postMessage through @slack/web-api)
// ---------------------------------------------------------------------------------------------

describe('SlackBotTarget', () => {
  const TOKEN = 'xoxb-0000-test-token';

  function bot(
    s: LoopbackServer,
    options: DeliverySettings = settings(),
    token = () => TOKEN,
  ): SlackBotTarget {
    return new SlackBotTarget({ ...options, channel: 'C0123ABCD', token, slackApiUrl: s.url('/api') });
  }

  it('calls chat.postMessage with the channel, text and blocks, and the bot token as Bearer', async () => {
    // Arrange
    const s = await server(slackOk());
    const n = await notification();

    // Act
    await bot(s).deliver(n);

    // Assert
    expect(s.requests).toHaveLength(1);
    const [request] = s.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/api/chat.postMessage' });
    expect(request?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = Object.fromEntries(new URLSearchParams(request?.body ?? ''));
    expect(form).toEqual({
      channel: 'C0123ABCD',
      text: n.slack.text,
      blocks: JSON.stringify(n.slack.blocks),
      unfurl_links: 'false',
      unfurl_media: 'false',
    });
    expect(JSON.parse(form.blocks ?? '')).toEqual(n.slack.blocks);
  });

  it('is named after its channel', async () => {
    // Arrange
    const s = await server(slackOk());

    // Act
    const target = bot(s);

    // Assert
    expect(target.name).toBe('slack:C0123ABCD');
  });

  it('waits the Retry-After of a 429 on the injected clock, then posts once', async () => {
    // Arrange
    const s = await server({ status: 429, headers: { 'retry-after': '1' } }, slackOk());
    const options = settings();

    // Act
    await bot(s, options).deliver(await notification());

    // Assert
    expect(s.requests).toHaveLength(2);
    expect(options.clock.sleeps).toEqual([0, 1000]);
  });

  it('retries a 500 and a 503', async () => {
    // Arrange
    const s = await server(SERVER_ERROR, { status: 503 }, slackOk());

    // Act
    await bot(s).deliver(await notification());

    // Assert
    expect(s.requests).toHaveLength(3);
  });

  it('does not retry a 400', async () => {
    // Arrange
    const s = await server({ status: 400, body: 'bad request' }, slackOk());

    // Act
    const error = await rejectionOf(bot(s).deliver(await notification()));

    // Assert
    expect(s.requests).toHaveLength(1);
    expect(error.message).toBe(
      'slack:C0123ABCD: HTTP 400 bad request (not retried: fix the target or its configuration)',
    );
  });

  it('does not retry a Slack API error such as channel_not_found, and names it', async () => {
    // Arrange
    const s = await server({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ok: false, error: 'channel_not_found' }),
    });

    // Act
    const error = await rejectionOf(bot(s).deliver(await notification()));

    // Assert
    expect(s.requests).toHaveLength(1);
    expect(error.message).toBe(
      'slack:C0123ABCD: Slack answered channel_not_found (not retried: fix the target or its configuration)',
    );
    expect(error.message).not.toContain(TOKEN);
  });

  it('retries a Slack API internal_error', async () => {
    // Arrange
    const s = await server(
      {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ok: false, error: 'internal_error' }),
      },
      slackOk(),
    );

    // Act
    await bot(s).deliver(await notification());

    // Assert
    expect(s.requests).toHaveLength(2);
  });

  it('reads the token at each delivery, so a rotated token is used at once', async () => {
    // Arrange
    const s = await server(slackOk());
    const tokens = ['xoxb-first', 'xoxb-second'];
    const target = bot(s, settings(), () => tokens.shift() ?? 'none');

    // Act
    await target.deliver(await notification());
    await target.deliver(await notification());

    // Assert
    expect(s.requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer xoxb-first',
      'Bearer xoxb-second',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Every target
// ---------------------------------------------------------------------------------------------

describe('deliverAll', () => {
  it('tries every target and throws one error naming those that failed after their retries', async () => {
    // Arrange
    const good = await server({ status: 200 });
    const broken = await server({ status: 503 });
    const refusing = await server({ status: 404, body: 'no such hook' });
    const targets = [
      new JsonWebhookTarget({ ...settings(), name: 'webhook:good', url: () => good.url() }),
      new JsonWebhookTarget({ ...settings(), name: 'webhook:broken', url: () => broken.url() }),
      new SlackWebhookTarget({ ...settings(), name: 'slack-webhook:gone', url: () => refusing.url() }),
    ];

    // Act
    const error = await rejectionOf(deliverAll(targets, await notification()));

    // Assert
    expect(error).toBeInstanceOf(NotificationDeliveryError);
    expect((error as NotificationDeliveryError).failed).toEqual(['webhook:broken', 'slack-webhook:gone']);
    expect((error as NotificationDeliveryError).delivered).toEqual(['webhook:good']);
    expect(error.message).toBe(
      'notification "FAILOVER OK: orders" not delivered to 2 of 3 targets: ' +
        'webhook:broken: HTTP 503 (gave up after 4 attempts); ' +
        'slack-webhook:gone: HTTP 404 no such hook (not retried: fix the target or its configuration) ' +
        '(delivered to webhook:good). The Lambda retries it, then its dead-letter queue keeps it',
    );
    expect(good.requests).toHaveLength(1);
    expect(broken.requests).toHaveLength(4);
    expect(refusing.requests).toHaveLength(1);
  });

  it('returns the targets delivered to, and leaves out those it is told to skip', async () => {
    // Arrange
    const calls: string[] = [];
    const target = (name: string): NotificationTarget => ({
      name,
      deliver: async () => {
        calls.push(name);
      },
    });

    // Act
    const result = await deliverAll(
      [target('a'), target('b'), target('c')],
      await notification(),
      (t) => t === 'b',
    );

    // Assert
    expect(result).toEqual({ delivered: ['a', 'c'], skipped: ['b'] });
    expect(calls).toEqual(['a', 'c']);
  });

  it('names a target whose secret could not be read', async () => {
    // Arrange
    const target = new JsonWebhookTarget({
      ...settings(),
      name: 'webhook:/ha-redis/orders/webhook',
      url: () => Promise.reject(new Error('SSM parameter /ha-redis/orders/webhook does not exist')),
    });

    // Act
    const error = await rejectionOf(deliverAll([target], await notification()));

    // Assert
    expect(error.message).toContain(
      'webhook:/ha-redis/orders/webhook: SSM parameter /ha-redis/orders/webhook does not exist',
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and ignores what it cannot read', () => {
    const now = Date.parse('2024-11-24T17:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Sun, 24 Nov 2024 17:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sun, 24 Nov 2024 16:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
