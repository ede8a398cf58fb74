import { describe, expect, it } from 'vitest';
import { makeSlackHandler } from '../../../functions/slack/handler.ts';
import { MAX_CLOCK_SKEW_S, verifySlackSignature } from '../../../functions/slack/verify.ts';
import { START } from '../../support/fixtures.ts';
import { commandBody, replyOf, SECRET, signatureOf, signed, slackWorld } from './fixtures.ts';

const NOW_S = Math.floor(START / 1000);

describe('Slack signature on the handler', () => {
  it('serves a correctly signed command', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const response = await handle(signed(commandBody('help')));

    // Assert
    expect(response.statusCode).toBe(200);
    expect(replyOf(response).text).toContain('/redis switchover &lt;cluster&gt; [to &lt;node&gt;]');
  });

  it('reads the signature headers whatever their case', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);
    const body = commandBody('help');

    // Act
    const response = await handle({
      headers: { 'X-Slack-Request-Timestamp': String(NOW_S), 'X-SLACK-SIGNATURE': signatureOf(body, NOW_S) },
      body,
    });

    // Assert
    expect(response.statusCode).toBe(200);
  });

  it('verifies the decoded bytes of a base64 body', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const response = await handle(signed(commandBody('switchover orders'), { base64: true }));

    // Assert
    expect(response.statusCode).toBe(200);
    expect(w.planned).toHaveLength(1);
  });

  it.each([
    ['missing both headers', (body: string) => ({ headers: {}, body })],
    [
      'missing the signature',
      (body: string) => signed(body, { headers: { 'x-slack-signature': undefined } }),
    ],
    [
      'missing the timestamp',
      (body: string) => signed(body, { headers: { 'x-slack-request-timestamp': undefined } }),
    ],
    ['signed with another secret', (body: string) => signed(body, { secret: 'not-the-secret' })],
    ['replayed 6 minutes later', (body: string) => signed(body, { at: NOW_S - 6 * 60 })],
    ['dated 6 minutes ahead', (body: string) => signed(body, { at: NOW_S + 6 * 60 })],
    ['tampered after signing', (body: string) => ({ ...signed(body), body: body.replace('to+n2', 'to+n3') })],
    [
      'a signature of the wrong length',
      (body: string) => signed(body, { headers: { 'x-slack-signature': 'v0=abc' } }),
    ],
    [
      'a v1 signature',
      (body: string) =>
        signed(body, { headers: { 'x-slack-signature': signatureOf(body, NOW_S).replace('v0=', 'v1=') } }),
    ],
    [
      'a timestamp that is not a number',
      (body: string) => signed(body, { headers: { 'x-slack-request-timestamp': `${NOW_S}x` } }),
    ],
  ])('refuses a request %s with 401, touching no port but the secret', async (_case, make) => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);

    // Act
    const response = await handle(make(commandBody('switchover orders to n2')));

    // Assert
    expect(response.statusCode).toBe(401);
    expect(response.body).toBe('invalid or missing Slack signature');
    expect(w.calls).toEqual(['signingSecret']);
    expect(w.posts).toEqual([]);
    expect(w.deferred).toEqual([]);
    expect(w.workflows.starts).toEqual([]);
    expect(w.logger.lines).toEqual([
      {
        level: 'warn',
        message: 'slack request rejected: bad signature; nothing done',
        attributes: expect.any(Object),
      },
    ]);
    expect(JSON.stringify(w.logger.lines)).not.toContain(SECRET);
  });

  it('refuses a tampered interaction callback too, starting nothing', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeSlackHandler(() => w.deps);
    const body = new URLSearchParams({ payload: '{"type":"block_actions"}' }).toString();

    // Act
    const response = await handle({ ...signed(body), body: `${body}%20` });

    // Assert
    expect(response.statusCode).toBe(401);
    expect(w.calls).toEqual(['signingSecret']);
  });
});

describe('verifySlackSignature', () => {
  const body = Buffer.from('command=%2Fredis&text=help');

  it('accepts a timestamp exactly at the skew limit', () => {
    // Arrange
    const at = NOW_S - MAX_CLOCK_SKEW_S;

    // Act
    const check = verifySlackSignature({
      headers: { 'x-slack-request-timestamp': String(at), 'x-slack-signature': signatureOf(body, at) },
      rawBody: body,
      signingSecret: SECRET,
      nowMs: START,
    });

    // Assert
    expect(check).toEqual({ ok: true });
  });

  it('says why it refuses, without the secret or the expected signature', () => {
    // Act
    const check = verifySlackSignature({
      headers: {
        'x-slack-request-timestamp': String(NOW_S - 361),
        'x-slack-signature': signatureOf(body, NOW_S - 361),
      },
      rawBody: body,
      signingSecret: SECRET,
      nowMs: START,
    });

    // Assert
    expect(check).toEqual({
      ok: false,
      reason: 'timestamp is 361 s off (limit 300 s): a replay or a bad clock',
    });
  });
});
