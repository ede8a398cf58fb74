import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { LogLevel, WebClient, type WebClientOptions } from '@slack/web-api';
import { Backoff, describeAwsError, type RetryPolicy, wallClock } from '../adapters/aws/retry.ts';
import { AwsSecrets } from '../adapters/aws/secrets.ts';
import { StepFunctionsStarter } from '../adapters/aws/step-functions-starter.ts';
import { LAMBDA_ENV, requireEnv } from '../config/env.ts';
import {
  AwsServiceError,
  ConfigurationError,
  errorMessage,
  HaRedisError,
  InvalidInputError,
} from '../core/model/errors.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../core/model/limits.ts';
import type { Clock, Logger } from '../core/ports.ts';
import { observeCluster } from '../core/status/observe.ts';
import { buildStatusReport } from '../core/status/report.ts';
import { dryRunPlan } from '../core/switchover/steps.ts';
import type { DeferredTask, SlackMessage } from '../functions/slack/contract.ts';
import type { SlackDeps } from '../functions/slack/deps.ts';
import { type AwsDeps, awsDeps } from './aws.ts';
import { systemClock } from './clock.ts';

/** The only origin a response_url may have on AWS: posting anywhere else would make the Lambda an open relay. */
export const SLACK_RESPONSE_ORIGIN = 'https://hooks.slack.com';

/** A response_url POST is a user waiting; Slack answers in well under a second. */
const RESPOND_TIMEOUT_MS = 5000;

/**
 * Posts a message to a Slack response_url as JSON. Refuses a URL whose origin is not allowed and does not
 * follow redirects; errors name the origin only (the URL itself grants posting to the channel).
 */
export function responseUrlPoster(options: {
  allowedOrigins: readonly string[];
  fetch?: typeof fetch;
  timeoutMs?: number;
}): (responseUrl: string, message: SlackMessage) => Promise<void> {
  const send = options.fetch ?? fetch;
  return async (responseUrl, message) => {
    let url: URL;
    try {
      url = new URL(responseUrl);
    } catch {
      throw new InvalidInputError('response_url is not a URL; nothing was posted');
    }
    if (!options.allowedOrigins.includes(url.origin)) {
      throw new InvalidInputError(
        `response_url on ${url.origin} refused: only ${options.allowedOrigins.join(', ')} is accepted; nothing was posted`,
      );
    }
    const response = await send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(message),
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs ?? RESPOND_TIMEOUT_MS),
    });
    if (!response.ok) {
      // Slack answers a short reason: expired_url, used_url, invalid_blocks, ...
      const reason = (await response.text().catch(() => '')).slice(0, 200);
      throw new HaRedisError(
        `Slack refused the response_url post (HTTP ${response.status}${reason ? `: ${reason}` : ''}); a response_url takes 5 posts within 30 minutes`,
      );
    }
  };
}

/** Throttled self-invocations are retried briefly: the user is waiting for the reply. */
const DEFER_RETRY: RetryPolicy = { maxAttempts: 3, baseMs: 100, capMs: 400 };

/** Defers a task by invoking the function itself asynchronously (InvocationType Event: Lambda queues it). */
export function lambdaDeferrer(
  client: LambdaClient,
  functionName: string,
  clock: Clock = wallClock,
): (task: DeferredTask) => Promise<void> {
  const backoff = new Backoff(clock);
  return async (task) => {
    try {
      const { StatusCode } = await backoff.retry(
        () =>
          client.send(
            new InvokeCommand({
              FunctionName: functionName,
              InvocationType: 'Event',
              Payload: new TextEncoder().encode(JSON.stringify(task)),
            }),
          ),
        DEFER_RETRY,
      );
      if (StatusCode !== 202) {
        throw new AwsServiceError(`Lambda answered status ${StatusCode} to an asynchronous invoke, not 202`);
      }
    } catch (error) {
      if (error instanceof HaRedisError) throw error;
      throw new AwsServiceError(
        `could not hand the ${task.deferred.kind} work to ${functionName}: ${describeAwsError(error)}; retry the command`,
        { cause: error },
      );
    }
  };
}

/** A group's members change rarely; one look per minute keeps Slack's rate limits far away. */
const GROUP_CACHE_MS = 60_000;

/**
 * The user groups (of `groups`: every allowedGroups entry of the config) that a user is in. Slack has no
 * "groups of a user" method, so each group's members are listed and cached for a minute.
 */
export function userGroupsLookup(options: {
  groups: readonly string[];
  listMembers: (group: string) => Promise<string[]>;
  clock: Clock;
  cacheMs?: number;
}): (userId: string) => Promise<string[]> {
  const cache = new Map<string, { members: ReadonlySet<string>; until: number }>();
  const members = async (group: string): Promise<ReadonlySet<string>> => {
    const now = options.clock.now();
    const cached = cache.get(group);
    if (cached && cached.until > now) return cached.members;
    const fresh = new Set(await options.listMembers(group));
    cache.set(group, { members: fresh, until: now + (options.cacheMs ?? GROUP_CACHE_MS) });
    return fresh;
  };
  return async (userId) => {
    const checked = await Promise.all(
      [...new Set(options.groups)].map(async (g) => ({ g, in: (await members(g)).has(userId) })),
    );
    return checked.filter((c) => c.in).map((c) => c.g);
  };
}

/**
 * `usergroups.users.list` through Slack's WebClient with the bot token (scope usergroups:read). No SDK
 * retries (the default retries for minutes): the caller answers Slack within 3 s.
 */
export function slackGroupMembers(
  token: () => Promise<string>,
  clientOptions: WebClientOptions = {},
): (group: string) => Promise<string[]> {
  let client: { token: string; web: WebClient } | undefined;
  return async (group) => {
    const current = await token();
    if (client?.token !== current) {
      client = {
        token: current,
        web: new WebClient(current, {
          retryConfig: { retries: 0 },
          timeout: 1500,
          rejectRateLimitedCalls: true,
          logLevel: LogLevel.ERROR,
          ...clientOptions,
        }),
      };
    }
    try {
      const answer = await client.web.usergroups.users.list({ usergroup: group });
      return answer.users ?? [];
    } catch (error) {
      throw new HaRedisError(
        `Slack usergroups.users.list for ${group} failed (${errorMessage(error)}); the bot token needs usergroups:read`,
        { cause: error },
      );
    }
  };
}

/** Built once per AwsDeps: again only when the deployment config changed. */
let cached: { base: AwsDeps; deps: SlackDeps } | undefined;

/**
 * The AWS composition of the Slack front door, on the shared AWS root (clusters, failover ports, config):
 * the signing secret and bot token by reference (cached), Step Functions for the switchover, the Lambda
 * invoking itself for deferred work, and response_url posts to Slack only.
 */
export async function slackAwsDeps(logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<SlackDeps> {
  const base = await awsDeps(logger, env);
  if (cached?.base === base) return cached.deps;
  const { config } = base;
  const slack = config.slack;
  if (!slack) {
    throw new ConfigurationError(
      'the deployment config has no slack block (signingSecret, botToken); add it to serve /redis commands',
    );
  }
  const stateMachineArn = requireEnv(LAMBDA_ENV.switchoverStateMachineArn, env);
  const functionName = requireEnv('AWS_LAMBDA_FUNCTION_NAME', env);
  const secrets = new AwsSecrets({ ssm: new SSMClient({}), secretsManager: new SecretsManagerClient({}) });
  const slackBlocks = new Map(config.clusters.map((c) => [c.name, c.slack]));
  const groups = config.clusters.flatMap((c) => c.slack?.allowedGroups ?? []);
  const clock = systemClock;
  const deps: SlackDeps = {
    clusters: base.clusters,
    slackOf: (cluster) => slackBlocks.get(cluster),
    signingSecret: () => secrets.get(slack.signingSecret),
    clock,
    logger,
    workflows: new StepFunctionsStarter({
      client: new SFNClient({}),
      stateMachineArns: { switchover: stateMachineArn },
      clock,
    }),
    // The Plan step's own precheck, run outside the workflow: it reads, takes nothing.
    plan: (input) => dryRunPlan(base.clusters.get(input.cluster), input, base.failover),
    status: async (cluster) =>
      buildStatusReport(await observeCluster(cluster, base.failover), { maxLagBytes: DEFAULT_MAX_LAG_BYTES }),
    history: (cluster, limit) => base.failover.state.listHistory(cluster, limit),
    maintenance: base.failover.state,
    respond: responseUrlPoster({ allowedOrigins: [SLACK_RESPONSE_ORIGIN] }),
    defer: lambdaDeferrer(new LambdaClient({}), functionName, clock),
    ...(groups.length
      ? {
          userGroups: userGroupsLookup({
            groups,
            listMembers: slackGroupMembers(() => secrets.get(slack.botToken)),
            clock,
          }),
        }
      : {}),
  };
  cached = { base, deps };
  return deps;
}
