import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { MOVE_LOCAL_ONLY } from '../../../adapters/aws/step-functions-starter.ts';
import {
  responseUrlPoster,
  SLACK_RESPONSE_ORIGIN,
  slackAwsDeps,
  slackGroupMembers,
  userGroupsLookup,
} from '../../../compose/slack-aws.ts';
import { lambdaDeferrer, workerCalls } from '../../../compose/slack-worker-client.ts';
import {
  AwsServiceError,
  ConfigurationError,
  HaRedisError,
  InvalidInputError,
} from '../../../core/model/errors.ts';
import type { SwitchoverInput } from '../../../core/switchover/state.ts';
import type { DeferredTask, WorkerCall } from '../../../functions/slack/contract.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { silentLogger } from '../../fakes/reporting.ts';
import { EXAMPLE_CONFIG_TEXT, LAMBDA_TEST_ENV, serveObject } from '../aws/s3-config-object.ts';
import { awsError, rejectionOf, throttling } from '../aws/sdk-errors.ts';
import { PLAN, RESPONSE_URL } from './fixtures.ts';

const lambdaMock = mockClient(LambdaClient);
const secretsMock = mockClient(SecretsManagerClient);
const s3Mock = mockClient(S3Client);
beforeEach(() => {
  lambdaMock.reset();
  secretsMock.reset();
  s3Mock.reset();
  serveObject(s3Mock, { text: EXAMPLE_CONFIG_TEXT, etag: '"v1"' });
});
afterAll(() => {
  lambdaMock.restore();
  secretsMock.restore();
  s3Mock.restore();
});

const MESSAGE = { text: 'Checking orders…', response_type: 'ephemeral' as const };

/** A fetch that records what it was asked and answers `status` with `body`. */
function recordingFetch(status = 200, body = 'ok') {
  const requests: { url: string; init: RequestInit | undefined }[] = [];
  const fetchFake = (async (input: string | URL | Request, init?: RequestInit) => {
    requests.push({ url: String(input), init });
    return new Response(body, { status });
  }) as typeof fetch;
  return { fetchFake, requests };
}

describe('responseUrlPoster', () => {
  it('posts the message as JSON to a Slack response_url, following no redirect', async () => {
    // Arrange
    const { fetchFake, requests } = recordingFetch();
    const respond = responseUrlPoster({ allowedOrigins: [SLACK_RESPONSE_ORIGIN], fetch: fetchFake });

    // Act
    await respond(RESPONSE_URL, MESSAGE);

    // Assert
    expect(requests).toHaveLength(1);
    expect(requests[0]?.url).toBe(RESPONSE_URL);
    expect(requests[0]?.init).toMatchObject({
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(MESSAGE),
      redirect: 'error',
    });
  });

  it.each([
    ['another host', 'https://example.com/hooks'],
    ['a look-alike host', 'https://hooks.slack.com.example.com/commands/x'],
    ['credentials before another host', 'https://hooks.slack.com@example.com/commands/x'],
    ['plain http', 'http://hooks.slack.com/commands/x'],
    ['another port', 'https://hooks.slack.com:8443/commands/x'],
    ['a loopback address', 'http://127.0.0.1:9000/'],
    ['no URL at all', 'hooks.slack.com/commands/x'],
  ])('refuses %s and posts nothing', async (_case, url) => {
    // Arrange
    const { fetchFake, requests } = recordingFetch();
    const respond = responseUrlPoster({ allowedOrigins: [SLACK_RESPONSE_ORIGIN], fetch: fetchFake });

    // Act
    const error = await rejectionOf(respond(url, MESSAGE));

    // Assert
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/nothing was posted$/);
    expect(requests).toEqual([]);
  });

  it('says what Slack answered to a refused post, without the URL', async () => {
    // Arrange
    const { fetchFake } = recordingFetch(404, 'used_url');
    const respond = responseUrlPoster({ allowedOrigins: [SLACK_RESPONSE_ORIGIN], fetch: fetchFake });

    // Act
    const error = await rejectionOf(respond(RESPONSE_URL, MESSAGE));

    // Assert
    expect(error).toBeInstanceOf(HaRedisError);
    expect(error.message).toBe(
      'Slack refused the response_url post (HTTP 404: used_url); a response_url takes 5 posts within 30 minutes',
    );
    expect(error.message).not.toContain('/commands/');
  });

  it('posts over real HTTP to an allowed loopback origin (the local runtime case)', async () => {
    // Arrange
    const received: { method?: string; type?: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      req.on('end', () => {
        received.push({ method: req.method, type: req.headers['content-type'], body });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const respond = responseUrlPoster({ allowedOrigins: [origin] });

    try {
      // Act
      await respond(`${origin}/response/1`, MESSAGE);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }

    // Assert
    expect(received).toEqual([
      { method: 'POST', type: 'application/json; charset=utf-8', body: JSON.stringify(MESSAGE) },
    ]);
  });
});

describe('lambdaDeferrer', () => {
  const TASK: DeferredTask = { deferred: { kind: 'status', cluster: 'orders', responseUrl: RESPONSE_URL } };
  const deferrer = () =>
    lambdaDeferrer(new LambdaClient({ region: 'eu-west-1' }), 'ha-redis-prod-slack-worker', new FakeClock());

  it('invokes the worker asynchronously with the task as the payload', async () => {
    // Arrange
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 });
    const defer = deferrer();

    // Act
    await defer(TASK);

    // Assert
    const inputs = lambdaMock.commandCalls(InvokeCommand).map((c) => c.args[0].input);
    expect(inputs).toHaveLength(1);
    expect(inputs[0]?.FunctionName).toBe('ha-redis-prod-slack-worker');
    expect(inputs[0]?.InvocationType).toBe('Event');
    expect(JSON.parse(new TextDecoder().decode(inputs[0]?.Payload as Uint8Array))).toEqual(TASK);
  });

  it('retries a throttled invoke, and names the function when it gives up', async () => {
    // Arrange
    lambdaMock.on(InvokeCommand).rejectsOnce(throttling()).resolvesOnce({ StatusCode: 202 });
    const defer = deferrer();

    // Act
    await defer(TASK);
    lambdaMock.on(InvokeCommand).rejects(awsError('AccessDeniedException', 'not authorized'));
    const error = await rejectionOf(defer(TASK));

    // Assert
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(3);
    expect(error).toBeInstanceOf(AwsServiceError);
    expect(error.message).toBe(
      'could not hand the status work to ha-redis-prod-slack-worker: AccessDeniedException: not authorized; retry the command',
    );
  });

  it('fails when Lambda does not accept the event for later', async () => {
    // Arrange
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200 });
    const defer = deferrer();

    // Act
    const error = await rejectionOf(defer(TASK));

    // Assert
    expect(error.message).toBe('Lambda answered status 200 to an asynchronous invoke, not 202');
  });
});

describe('user groups', () => {
  it('answers the allowed groups the user is in, listing each group once a minute at most', async () => {
    // Arrange
    const clock = new FakeClock();
    const listed: string[] = [];
    const members: Record<string, string[]> = { S0OPS: ['U0A', 'U0B'], S0DBA: ['U0B'], S0SRE: [] };
    const lookup = userGroupsLookup({
      groups: ['S0OPS', 'S0DBA', 'S0SRE', 'S0OPS'],
      listMembers: async (group) => {
        listed.push(group);
        return members[group] ?? [];
      },
      clock,
    });

    // Act
    const a = await lookup('U0A');
    const b = await lookup('U0B');
    clock.advance(60_000);
    const again = await lookup('U0C');

    // Assert
    expect(a).toEqual(['S0OPS']);
    expect(b).toEqual(['S0OPS', 'S0DBA']);
    expect(again).toEqual([]);
    expect(listed).toEqual(['S0OPS', 'S0DBA', 'S0SRE', 'S0OPS', 'S0DBA', 'S0SRE']);
  });

  it('lists a group through usergroups.users.list with the bot token', async () => {
    // Arrange
    const { fetchFake, requests } = recordingFetch(200, JSON.stringify({ ok: true, users: ['U0A', 'U0B'] }));
    const list = slackGroupMembers(async () => 'xoxb-test-token', { fetch: fetchFake });

    // Act
    const users = await list('S0OPS');

    // Assert
    expect(users).toEqual(['U0A', 'U0B']);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.url).toBe('https://slack.com/api/usergroups.users.list');
    expect(String(requests[0]?.init?.body)).toContain('usergroup=S0OPS');
    expect(JSON.stringify(requests[0]?.init?.headers)).toContain('Bearer xoxb-test-token');
  });

  it('says which scope the token needs when Slack refuses', async () => {
    // Arrange
    const { fetchFake } = recordingFetch(200, JSON.stringify({ ok: false, error: 'missing_scope' }));
    const list = slackGroupMembers(async () => 'xoxb-test-token', { fetch: fetchFake });

    // Act
    const error = await rejectionOf(list('S0OPS'));

    // Assert
    expect(error.message).toContain('Slack usergroups.users.list for S0OPS failed');
    expect(error.message).toContain('the bot token needs usergroups:read');
    expect(error.message).not.toContain('xoxb-test-token');
  });
});

describe('workerCalls', () => {
  const INPUT: SwitchoverInput = {
    cluster: 'orders',
    requestedBy: 'slack:U0OPERATOR',
    reason: 'dry run from Slack /redis by U0OPERATOR',
    dryRun: true,
    maxLagBytes: 1_048_576,
  };
  const calls = () =>
    workerCalls(new LambdaClient({ region: 'eu-west-1' }), 'ha-redis-slack-worker', new FakeClock());
  const answering = (answer: unknown) => ({
    StatusCode: 200,
    Payload: new TextEncoder().encode(JSON.stringify(answer)) as never,
  });
  const sent = () =>
    lambdaMock.commandCalls(InvokeCommand).map((c) => ({
      ...c.args[0].input,
      Payload: JSON.parse(new TextDecoder().decode(c.args[0].input.Payload as Uint8Array)),
    }));

  it('asks the worker for the plan synchronously and returns the plan it answers', async () => {
    // Arrange
    lambdaMock.on(InvokeCommand).resolves(answering({ ok: true, plan: PLAN }));

    // Act
    const plan = await calls().plan(INPUT);

    // Assert
    expect(plan).toEqual(PLAN);
    const call: WorkerCall = { call: { kind: 'plan', input: INPUT } };
    expect(sent()).toEqual([
      { FunctionName: 'ha-redis-slack-worker', InvocationType: 'RequestResponse', Payload: call },
    ]);
  });

  it("throws the worker's refusal with its own message", async () => {
    // Arrange
    lambdaMock
      .on(InvokeCommand)
      .resolves(answering({ ok: false, error: 'a lease is held by switchover 42' }));

    // Act
    const error = await rejectionOf(calls().plan(INPUT));

    // Assert
    expect(error).toBeInstanceOf(HaRedisError);
    expect(error.message).toBe('a lease is held by switchover 42');
  });

  it('sets the maintenance mode through the worker', async () => {
    // Arrange
    lambdaMock.on(InvokeCommand).resolves(answering({ ok: true }));
    const mode = { paused: false, by: 'slack:U0OPERATOR', at: 1_732_467_600_000, reason: '' };

    // Act
    await calls().setMaintenanceMode('orders', mode);

    // Assert
    const call: WorkerCall = { call: { kind: 'set-maintenance-mode', cluster: 'orders', mode } };
    expect(sent()).toEqual([
      { FunctionName: 'ha-redis-slack-worker', InvocationType: 'RequestResponse', Payload: call },
    ]);
  });

  it('fails with the function named when the worker crashed, answered nothing usable, or could not be invoked', async () => {
    // Arrange
    const c = calls();
    lambdaMock
      .on(InvokeCommand)
      .resolvesOnce({ StatusCode: 200, FunctionError: 'Unhandled' })
      .resolvesOnce(answering({ plan: 'none' }))
      .rejects(awsError('AccessDeniedException', 'not authorized'));

    // Act
    const crashed = await rejectionOf(c.plan(INPUT));
    const garbled = await rejectionOf(c.plan(INPUT));
    const denied = await rejectionOf(c.plan(INPUT));

    // Assert
    expect(crashed).toBeInstanceOf(AwsServiceError);
    expect(crashed.message).toBe('ha-redis-slack-worker failed the plan call (Unhandled); see its logs');
    expect(garbled.message).toBe('ha-redis-slack-worker answered the plan call with no answer');
    expect(denied.message).toBe(
      'could not ask ha-redis-slack-worker for the plan: AccessDeniedException: not authorized',
    );
  });
});

describe('slackAwsDeps', () => {
  const env = {
    ...LAMBDA_TEST_ENV,
    HA_REDIS_SWITCHOVER_STATE_MACHINE_ARN:
      'arn:aws:states:eu-west-1:123456789012:stateMachine:ha-redis-switchover',
    AWS_LAMBDA_FUNCTION_NAME: 'ha-redis-slack',
    HA_REDIS_SLACK_WORKER_FUNCTION: 'ha-redis-slack-worker',
  };

  it('fails fast naming a missing environment variable', async () => {
    // Arrange
    const { HA_REDIS_SLACK_WORKER_FUNCTION: _dropped, ...partial } = env;

    // Act
    const error = await rejectionOf(slackAwsDeps(silentLogger, partial));

    // Assert
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      'environment variable HA_REDIS_SLACK_WORKER_FUNCTION is not set; the stack must set it',
    );
  });

  it('builds on the config: slack blocks per cluster, groups lookup, signing secret by reference', async () => {
    // Arrange
    secretsMock
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ signingSecret: 's3cr3t', botToken: 'xoxb-x' }) });

    // Act
    const deps = await slackAwsDeps(silentLogger, env);
    const first = await deps.signingSecret();
    const second = await deps.signingSecret();

    // Assert
    expect(deps.clusters.names()).toEqual(['orders', 'sessions']);
    expect(deps.slackOf('orders')?.allowedUsers).toEqual(['U0123ABCD', 'U0456EFGH']);
    expect(deps.slackOf('sessions')).toBeUndefined();
    expect(deps.userGroups).toBeTypeOf('function');
    expect([first, second]).toEqual(['s3cr3t', 's3cr3t']);
    expect(secretsMock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([
      { SecretId: 'ha-redis/slack' },
    ]);
    await expect(deps.respond('https://example.com/x', MESSAGE)).rejects.toThrow(InvalidInputError);
  });

  it('plans through the worker: the front reads no cluster itself', async () => {
    // Arrange
    lambdaMock.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: new TextEncoder().encode(JSON.stringify({ ok: true, plan: PLAN })) as never,
    });
    const deps = await slackAwsDeps(silentLogger, env);

    // Act
    const plan = await deps.plan({
      cluster: 'orders',
      requestedBy: 'slack:U0123ABCD',
      reason: 'dry run',
      dryRun: true,
      maxLagBytes: 1_048_576,
    });

    // Assert
    expect(plan).toEqual(PLAN);
    expect(lambdaMock.commandCalls(InvokeCommand).map((c) => c.args[0].input.FunctionName)).toEqual([
      'ha-redis-slack-worker',
    ]);
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toEqual([]);
  });

  it('refuses a move plan, saying moves run in the local runtime only, and asks nobody', async () => {
    // Arrange
    const deps = await slackAwsDeps(silentLogger, env);

    // Act
    const error = await rejectionOf(
      deps.planMove({
        cluster: 'orders',
        toSet: 'green',
        requestedBy: 'slack:U0123ABCD',
        reason: 'dry run',
        dryRun: true,
      }),
    );

    // Assert
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(MOVE_LOCAL_ONLY);
    expect(lambdaMock.commandCalls(InvokeCommand)).toEqual([]);
  });
});
