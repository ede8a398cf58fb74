import { SSMClient } from '@aws-sdk/client-ssm';
import { PATIENT_SEND_RETRY, SsmNodeOps } from '../adapters/aws/ssm-node-ops.ts';
import { LAMBDA_ENV, requireEnv } from '../config/env.ts';
import type { Logger } from '../core/ports.ts';
import type { RoutingPersistDeps } from '../functions/routing-persist/handler.ts';
import { systemClock } from './clock.ts';

/** SSM for the container. */
let nodeOps: SsmNodeOps | undefined;

/** The routing-persist composition root: SSM Run Command, and nothing of the clusters (each message carries its proxy). */
export function routingPersistDeps(logger: Logger, env: NodeJS.ProcessEnv = process.env): RoutingPersistDeps {
  const prefix = requireEnv(LAMBDA_ENV.documentPrefix, env);
  nodeOps ??= new SsmNodeOps({
    client: new SSMClient({}),
    documentName: (document) => `${prefix}-${document}`,
    clock: systemClock,
    sendRetry: PATIENT_SEND_RETRY,
  });
  return { nodeOps, clock: systemClock, logger };
}
