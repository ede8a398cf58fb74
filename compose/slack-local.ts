import { readFile } from 'node:fs/promises';
import type { Descriptor } from '../config/local-descriptor.ts';
import { ClusterRegistry } from '../core/model/cluster.ts';
import { ConfigurationError, errorMessage } from '../core/model/errors.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../core/model/limits.ts';
import type { Logger, WorkflowStarter } from '../core/ports.ts';
import { observeCluster } from '../core/status/observe.ts';
import { buildStatusReport } from '../core/status/report.ts';
import { dryRunPlan } from '../core/switchover/steps.ts';
import type { DeferredTask } from '../functions/slack/contract.ts';
import { makeDeferredHandler } from '../functions/slack/deferred.ts';
import type { MovePlanner, SlackDeps } from '../functions/slack/deps.ts';
import type { LocalRuntime } from './local.ts';
import { responseUrlPoster, SLACK_RESPONSE_ORIGIN } from './slack-aws.ts';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * The Slack front door of a local cluster: the signing secret from the descriptor's file, the cluster's
 * allowed users from the descriptor, switchovers and moves run in this process, deferred work run in this
 * process, and response_url posts to Slack or to a loopback address (where a test or curl user listens).
 * `workflows` (local/workflows.ts LocalWorkflowStarter) also plans a move: its dry run is the move workflow's, run
 * here, whose Plan reads the target set's hosts.
 */
export function composeLocalSlack(
  d: Descriptor,
  runtime: LocalRuntime,
  workflows: WorkflowStarter & MovePlanner,
  logger: Logger,
): SlackDeps {
  const secretPath = d.slack.signingSecretPath;
  if (!secretPath) throw new ConfigurationError(`local cluster ${d.cluster} has no Slack signing secret`);
  const { cluster, deps } = runtime;
  const slack = {
    channel: d.slack.channel,
    allowedUsers: d.slack.allowedUsers,
    allowedGroups: [],
    allowedChannels: [],
  };
  const post = (origin: string) => responseUrlPoster({ allowedOrigins: [origin] });
  const slackDeps: SlackDeps = {
    // The cluster's definition as it is at each request: a move replaces runtime.cluster.
    get clusters() {
      return new ClusterRegistry([runtime.cluster]);
    },
    slackOf: (name) => (name === cluster.name ? slack : undefined),
    signingSecret: async () => (await readFile(secretPath, 'utf8')).trim(),
    clock: deps.clock,
    logger,
    workflows,
    plan: (input) => dryRunPlan(runtime.cluster, input, deps),
    planMove: (input) => workflows.planMove(input),
    status: async (c) =>
      buildStatusReport(await observeCluster(c, deps), { maxLagBytes: DEFAULT_MAX_LAG_BYTES }),
    history: (name, limit) => deps.state.listHistory(name, limit),
    maintenance: deps.state,
    respond: (responseUrl, message) => {
      const origin = URL.canParse(responseUrl) ? new URL(responseUrl) : undefined;
      const allowed = origin && LOOPBACK_HOSTS.has(origin.hostname) ? origin.origin : SLACK_RESPONSE_ORIGIN;
      return post(allowed)(responseUrl, message);
    },
    defer: async (task: DeferredTask) => {
      // In this process, after the reply: the deferred handler never throws, but a bug must not go unseen.
      setImmediate(() => {
        deferred(task).catch((error: unknown) =>
          logger.error('slack: deferred task failed', { error: errorMessage(error) }),
        );
      });
    },
  };
  const deferred = makeDeferredHandler(() => slackDeps);
  return slackDeps;
}
