import { LAMBDA_ENV, requireEnv } from '../config/env.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../core/model/limits.ts';
import type { Logger } from '../core/ports.ts';
import { observeCluster } from '../core/status/observe.ts';
import { buildStatusReport } from '../core/status/report.ts';
import { dryRunPlan } from '../core/switchover/steps.ts';
import type { SlackWorkerCallDeps } from '../functions/slack-worker/handler.ts';
import { type AwsDeps, awsDeps } from './aws.ts';
import { systemClock } from './clock.ts';
import { awsMovePlan, responseUrlPoster, SLACK_RESPONSE_ORIGIN, switchoverStarter } from './slack-aws.ts';

/** Built once per AwsDeps: again only when the deployment config changed. */
let cached: { base: AwsDeps; deps: SlackWorkerCallDeps } | undefined;

/**
 * The AWS composition of the Slack worker, on the shared AWS root (clusters, failover ports, config): status and
 * plans read the live clusters, history and the maintenance mode the state table, the watch describes switchover
 * executions (it starts none), and results are posted to Slack's response_url only.
 */
export async function slackWorkerAwsDeps(
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SlackWorkerCallDeps> {
  const base = await awsDeps(logger, env);
  if (cached?.base === base) return cached.deps;
  const stateMachineArn = requireEnv(LAMBDA_ENV.switchoverStateMachineArn, env);
  const clock = systemClock;
  const deps: SlackWorkerCallDeps = {
    clusters: base.clusters,
    clock,
    logger,
    workflows: switchoverStarter(stateMachineArn, clock),
    // The Plan step's own precheck, run outside the workflow: it reads, takes nothing.
    plan: (input) => dryRunPlan(base.clusters.get(input.cluster), input, base.failover),
    planMove: awsMovePlan,
    status: async (cluster) =>
      buildStatusReport(await observeCluster(cluster, base.failover), { maxLagBytes: DEFAULT_MAX_LAG_BYTES }),
    history: (cluster, limit) => base.failover.state.listHistory(cluster, limit),
    maintenance: base.failover.state,
    respond: responseUrlPoster({ allowedOrigins: [SLACK_RESPONSE_ORIGIN] }),
  };
  cached = { base, deps };
  return deps;
}
