import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { LogLevel, WebClient, type WebClientOptions } from '@slack/web-api';
import { AwsSecrets } from '../adapters/aws/secrets.ts';
import { MOVE_LOCAL_ONLY, StepFunctionsStarter } from '../adapters/aws/step-functions-starter.ts';
import { LAMBDA_ENV, requireEnv } from '../config/env.ts';
import type { DeploymentConfig } from '../config/schema.ts';
import { ClusterRegistry } from '../core/model/cluster.ts';
import { ConfigurationError, errorMessage, HaRedisError, InvalidInputError } from '../core/model/errors.ts';
import type { Clock, Logger } from '../core/ports.ts';
import type { SlackMessage } from '../functions/slack/contract.ts';
import type { SlackFrontDeps } from '../functions/slack/deps.ts';
import { deploymentConfig } from './aws.ts';
import { systemClock } from './clock.ts';
import { lambdaDeferrer, workerCalls } from './slack-worker-client.ts';

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

/** Step Functions for the switchover state machine only (the Slack front starts it, the worker follows it). */
export const switchoverStarter = (stateMachineArn: string, clock: Clock): StepFunctionsStarter =>
  new StepFunctionsStarter({
    client: new SFNClient({}),
    stateMachineArns: { switchover: stateMachineArn },
    clock,
  });

/** The move plan on AWS: refused, saying why (no move state machine is deployed; the local runtime runs moves). */
export const awsMovePlan = async (): Promise<never> => {
  throw new ConfigurationError(MOVE_LOCAL_ONLY);
};

/** Built once per deployment config: again only when it changed. */
let cached: { config: DeploymentConfig; deps: SlackFrontDeps } | undefined;

/**
 * The AWS composition of the Slack front function (behind the public Function URL): the clusters from the
 * config, the signing secret and bot token by reference (cached), Step Functions for the confirmed switchover,
 * the worker function for the plan, the maintenance mode and the deferred work, and response_url posts to Slack
 * only. It reads no cluster secret and no state: its role does not allow it.
 */
export async function slackAwsDeps(
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SlackFrontDeps> {
  const config = await deploymentConfig(logger, env);
  if (cached?.config === config) return cached.deps;
  const slack = config.slack;
  if (!slack) {
    throw new ConfigurationError(
      'the deployment config has no slack block (signingSecret, botToken); add it to serve /redis commands',
    );
  }
  const stateMachineArn = requireEnv(LAMBDA_ENV.switchoverStateMachineArn, env);
  const workerName = requireEnv(LAMBDA_ENV.slackWorkerFunction, env);
  const secrets = new AwsSecrets({ ssm: new SSMClient({}), secretsManager: new SecretsManagerClient({}) });
  const slackBlocks = new Map(config.clusters.map((c) => [c.name, c.slack]));
  const groups = config.clusters.flatMap((c) => c.slack?.allowedGroups ?? []);
  const clock = systemClock;
  const lambda = new LambdaClient({});
  const worker = workerCalls(lambda, workerName, clock);
  const deps: SlackFrontDeps = {
    clusters: new ClusterRegistry(config.clusters),
    slackOf: (cluster) => slackBlocks.get(cluster),
    signingSecret: () => secrets.get(slack.signingSecret),
    clock,
    logger,
    workflows: switchoverStarter(stateMachineArn, clock),
    // The Plan step's own precheck, run by the worker (it reads the cluster with its secrets): it takes nothing.
    plan: (input) => worker.plan(input),
    planMove: awsMovePlan,
    maintenance: { setMaintenanceMode: (cluster, mode) => worker.setMaintenanceMode(cluster, mode) },
    respond: responseUrlPoster({ allowedOrigins: [SLACK_RESPONSE_ORIGIN] }),
    defer: lambdaDeferrer(lambda, workerName, clock),
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
  cached = { config, deps };
  return deps;
}
