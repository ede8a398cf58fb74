import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../core/model/errors.ts';
import type { DeferredTask } from '../../../functions/slack/contract.ts';
import { makeLambdaHandler } from '../../../functions/slack/handler.ts';
import { fromFunctionUrlEvent } from '../../../functions/slack/http.ts';
import { AFTER_SWITCH_STATES, ENDINGS } from '../../../functions/slack/switchover-messages.ts';
import { SWITCHOVER_FAILURES, SWITCHOVER_STATE_NAMES } from '../../../infra/switchover-definition.ts';
import { START } from '../../support/fixtures.ts';
import { rejectionOf } from '../aws/sdk-errors.ts';
import { commandBody, RESPONSE_URL, replyOf, signatureOf, slackWorld } from './fixtures.ts';

/** A Function URL event (payload format 2.0) as Lambda builds it for a POST from Slack. */
function functionUrlEvent(
  body: string,
  options: { base64?: boolean; method?: string } = {},
): LambdaFunctionURLEvent {
  const at = Math.floor(START / 1000);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: '',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      host: 'abcdefghij.lambda-url.eu-west-1.on.aws',
      'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
      'x-slack-request-timestamp': String(at),
      'x-slack-signature': signatureOf(body, at),
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abcdefghij',
      domainName: 'abcdefghij.lambda-url.eu-west-1.on.aws',
      domainPrefix: 'abcdefghij',
      http: {
        method: options.method ?? 'POST',
        path: '/',
        protocol: 'HTTP/1.1',
        sourceIp: '3.3.3.3',
        userAgent: 'Slackbot 1.0',
      },
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      routeKey: '$default',
      stage: '$default',
      time: '24/Nov/2024:17:00:00 +0000',
      timeEpoch: START,
    },
    body: options.base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: options.base64 ?? false,
  };
}

describe('Lambda entry', () => {
  it('turns a Function URL event into the request: headers and the body as it came', () => {
    // Arrange
    const event = functionUrlEvent('a=1', { base64: true });

    // Act
    const request = fromFunctionUrlEvent(event);

    // Assert
    expect(request).toEqual({ headers: event.headers, body: 'YT0x', isBase64Encoded: true });
  });

  it('answers a signed Function URL request whose body is base64', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeLambdaHandler(() => w.deps);

    // Act
    const response = await handle(functionUrlEvent(commandBody('status orders'), { base64: true }));

    // Assert
    expect(response).toMatchObject({ statusCode: 200, headers: { 'content-type': 'application/json' } });
    expect(replyOf(response ?? { statusCode: 0, headers: {}, body: '' }).text).toBe('Checking orders…');
  });

  it('refuses a Function URL request whose signature does not cover its body', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeLambdaHandler(() => w.deps);
    const event = { ...functionUrlEvent(commandBody('status orders')), body: commandBody('status billing') };

    // Act
    const response = await handle(event);

    // Assert
    expect(response?.statusCode).toBe(401);
    expect(w.calls).toEqual(['signingSecret']);
  });

  it('answers 405 to a method other than POST, without reading the secret', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeLambdaHandler(() => w.deps);

    // Act
    const response = await handle(functionUrlEvent('', { method: 'GET' }));

    // Assert
    expect(response?.statusCode).toBe(405);
    expect(w.calls).toEqual([]);
  });

  it("refuses a { deferred } event: deferred work is the worker's, and the front runs none", async () => {
    // Arrange
    const w = slackWorld({ history: [] });
    const handle = makeLambdaHandler(() => w.deps);
    const task: DeferredTask = {
      deferred: { kind: 'history', cluster: 'orders', limit: 3, responseUrl: RESPONSE_URL },
    };

    // Act
    const error = await rejectionOf(handle(JSON.parse(JSON.stringify(task))));

    // Assert
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain('deferred work goes to the slack-worker function');
    expect(w.calls).toEqual([]);
    expect(w.posts).toEqual([]);
  });

  it('throws on an event that is neither', async () => {
    // Arrange
    const w = slackWorld();
    const handle = makeLambdaHandler(() => w.deps);

    // Act
    const error = await rejectionOf(handle({ Records: [] }));

    // Assert
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(w.calls).toEqual([]);
  });
});

describe('workflow names the messages rely on', () => {
  it('names the same Fail states as the switchover definition', () => {
    // Assert
    expect(ENDINGS).toEqual(SWITCHOVER_FAILURES);
  });

  it('counts as "switched" only states after Switch on the success path', () => {
    // Assert
    const tasks = Object.keys(SWITCHOVER_STATE_NAMES);
    const afterSwitch = tasks.slice(tasks.indexOf('Switch') + 1).filter((s) => s !== 'Recover');
    expect([...AFTER_SWITCH_STATES]).toEqual([...afterSwitch, 'Done']);
  });
});
