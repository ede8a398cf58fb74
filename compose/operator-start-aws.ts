import { randomUUID } from 'node:crypto';
import { SFNClient } from '@aws-sdk/client-sfn';
import { StepFunctionsStarter } from '../adapters/aws/step-functions-starter.ts';
import { LAMBDA_ENV, requireEnv } from '../config/env.ts';
import { hostNeighbours } from '../config/operators.ts';
import type { DeploymentConfig } from '../config/schema.ts';
import type { Logger } from '../core/ports.ts';
import type { OperatorStartDeps } from '../functions/operator-start/handler.ts';
import { deploymentConfig } from './aws.ts';
import { systemClock } from './clock.ts';

/** Built once per deployment config: again only when it changed. */
let cached: { config: DeploymentConfig; deps: OperatorStartDeps } | undefined;

/**
 * The AWS composition of operator-start: the operator groups and clusters from the config, and Step Functions
 * for both workflows. It reads no secret and no state.
 */
export async function operatorStartAwsDeps(
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<OperatorStartDeps> {
  const config = await deploymentConfig(logger, env);
  if (cached?.config === config) return cached.deps;
  const neighbours = hostNeighbours(config.clusters);
  const deps: OperatorStartDeps = {
    operators: config.operators,
    clusterNames: config.clusters.map((c) => c.name),
    neighbours: (cluster) => neighbours.get(cluster) ?? [],
    workflows: new StepFunctionsStarter({
      client: new SFNClient({}),
      stateMachineArns: {
        switchover: requireEnv(LAMBDA_ENV.switchoverStateMachineArn, env),
        maintenance: requireEnv(LAMBDA_ENV.maintenanceStateMachineArn, env),
      },
      clock: systemClock,
    }),
    logger,
    newId: () => randomUUID().replaceAll('-', ''),
  };
  cached = { config, deps };
  return deps;
}
