import type { Operator } from '../../config/operators.ts';
import { errorMessage, InvalidInputError, issuesText } from '../../core/model/errors.ts';
import type { Logger, WorkflowStarter } from '../../core/ports.ts';
import { clustersOf } from './access.ts';
import { IamFunctionUrlEventSchema, OperatorStartRequestSchema, operatorExecutionName } from './contract.ts';

/**
 * Starts a switchover or a maintenance run for an operator allowed on its cluster. Step Functions cannot
 * condition StartExecution on the input, so a per-cluster grant needs this step in between:
 * 1. the caller is who Lambda says (the Function URL's AWS_IAM auth checked the SigV4 signature)
 * 2. parse the body: the workflow and its input
 * 3. authorize: an operator group of the config names the caller and the input's cluster
 * 4. start the execution `op-<cluster>-<request id>` (the same request id starts nothing new), with the caller's
 *    ARN as requestedBy, and answer its ARN
 * This file holds the factory; the AWS entry is lambda.ts.
 */

/** What the handler needs from the world. */
export interface OperatorStartDeps {
  operators: readonly Operator[];
  /** The configured clusters' names. */
  clusterNames: readonly string[];
  /** The other clusters on a cluster's hosts (config/operators.ts hostNeighbours). */
  neighbours(cluster: string): readonly string[];
  workflows: Pick<WorkflowStarter, 'start'>;
  logger: Logger;
  /** A fresh request id, when the caller gives none. */
  newId(): string;
}

/** The HTTP answer of the Function URL. */
export interface JsonResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const json = (statusCode: number, body: unknown): JsonResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** The operator-start Lambda handler. */
export function makeOperatorStartHandler(
  getDeps: () => OperatorStartDeps | Promise<OperatorStartDeps>,
): (event: unknown) => Promise<JsonResponse> {
  return async (event) => {
    const parsed = IamFunctionUrlEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new InvalidInputError(
        'operator-start takes an IAM-authenticated Function URL request (payload format 2.0); got something else',
      );
    }
    const deps = await getDeps();
    const { body = '', isBase64Encoded, requestContext } = parsed.data;
    const caller = requestContext.authorizer.iam.userArn;
    if (requestContext.http.method !== 'POST') return json(405, { error: 'use POST' });
    let request: unknown;
    try {
      request = JSON.parse(isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body);
    } catch {
      return json(400, { error: 'the body is not JSON' });
    }
    const asked = OperatorStartRequestSchema.safeParse(request);
    if (!asked.success) return json(400, { error: `not a start request: ${issuesText(asked.error)}` });
    const { workflow, input, requestId = deps.newId() } = asked.data;
    const cluster = input.cluster;
    if (!deps.clusterNames.includes(cluster))
      return json(404, { error: `cluster ${cluster} is not configured` });
    const allowed = clustersOf(deps.operators, caller);
    if (!allowed.clusters.has(cluster)) {
      deps.logger.warn('operator start refused', { caller, cluster, workflow, groups: allowed.groups });
      return json(403, {
        error: `${caller} is in no operator group of cluster ${cluster} (config operators[]); nothing was started`,
      });
    }
    // A node action (restart, upgrade, reboot) acts on hosts that may serve other clusters too: all of them.
    const onHosts = workflow === 'maintenance' && !input.drainHost ? deps.neighbours(cluster) : [];
    const missing = onHosts.filter((c) => !allowed.clusters.has(c));
    if (missing.length > 0) {
      deps.logger.warn('operator start refused', { caller, cluster, workflow, missing });
      return json(403, {
        error: `maintenance of ${cluster} acts on hosts that also serve ${missing.join(', ')}, and ${caller} is in no operator group of those; nothing was started`,
      });
    }
    const name = operatorExecutionName(cluster, requestId);
    try {
      const started = await deps.workflows.start({
        workflow,
        name,
        input: { ...input, requestedBy: `iam:${caller}` },
      });
      deps.logger.info('operator start', { caller, cluster, workflow, name, started: started.started });
      return json(started.started ? 201 : 200, {
        executionArn: started.executionId,
        started: started.started,
      });
    } catch (error) {
      deps.logger.error('operator start failed', {
        caller,
        cluster,
        workflow,
        name,
        error: errorMessage(error),
      });
      return json(502, { error: `starting the ${workflow} failed: ${errorMessage(error)}` });
    }
  };
}
