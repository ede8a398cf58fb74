import { SFNClient } from '@aws-sdk/client-sfn';
import { StepFunctionsStarter } from '../adapters/aws/step-functions-starter.ts';
import { LAMBDA_ENV, requireEnv } from '../config/env.ts';
import { ConfigurationError } from '../core/model/errors.ts';
import type { Logger } from '../core/ports.ts';
import type { MaintenanceTriggerDeps } from '../functions/maintenance-trigger/handler.ts';
import { type AwsDeps, awsDeps } from './aws.ts';

/** Built once per AwsDeps: again only when the deployment config changed. */
let cached: { base: AwsDeps; deps: MaintenanceTriggerDeps } | undefined;

/**
 * The maintenance trigger's AWS composition: the bundled config, the state table and the notification topic of
 * `awsDeps`, and the maintenance state machine from HA_REDIS_MAINTENANCE_STATE_MACHINE_ARN.
 */
export async function maintenanceTriggerDeps(
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<MaintenanceTriggerDeps> {
  const base = await awsDeps(logger, env);
  if (cached?.base === base) return cached.deps;
  const maintenance = requireEnv(LAMBDA_ENV.maintenanceStateMachineArn, env);
  const starter = new StepFunctionsStarter({
    client: new SFNClient({}),
    // The options require a switchover ARN; this Lambda is not allowed to start one, so `start` refuses it below.
    stateMachineArns: { switchover: maintenance, maintenance },
    clock: base.failover.clock,
  });
  const deps: MaintenanceTriggerDeps = {
    config: base.config,
    state: base.failover.state,
    notifier: base.failover.notifier,
    clock: base.failover.clock,
    logger,
    workflows: {
      start: async (request) => {
        if (request.workflow !== 'maintenance') {
          throw new ConfigurationError(
            `the maintenance trigger starts maintenance only, not ${request.workflow}`,
          );
        }
        return starter.start(request);
      },
    },
  };
  cached = { base, deps };
  return deps;
}
