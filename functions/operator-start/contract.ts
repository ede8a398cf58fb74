import { createHash } from 'node:crypto';
import { z } from 'zod';
import { MaintenanceInputSchema } from '../../core/maintenance/state.ts';
import { SwitchoverInputSchema } from '../../core/switchover/state.ts';

/**
 * The operator-start function's contract: a Function URL request with AWS_IAM auth (Lambda has checked the SigV4
 * signature and puts the caller's ARN in requestContext.authorizer.iam), whose JSON body names the workflow and
 * its input.
 */

/** The parts of an IAM-authenticated Function URL event (payload format 2.0) the handler reads. */
export const IamFunctionUrlEventSchema = z.object({
  version: z.literal('2.0'),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().default(false),
  requestContext: z.object({
    http: z.object({ method: z.string() }),
    authorizer: z.object({ iam: z.object({ userArn: z.string().min(1) }) }),
  }),
});

/** A client's idempotency key: a retry with the same key starts nothing new. */
const RequestIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, '1 to 32 letters, digits, - and _');

/** What the caller asks for. `requestedBy` is set from the caller's identity, whatever the body says. */
export const OperatorStartRequestSchema = z.discriminatedUnion('workflow', [
  z.strictObject({
    workflow: z.literal('switchover'),
    input: SwitchoverInputSchema.omit({ requestedBy: true }).strict(),
    requestId: RequestIdSchema.optional(),
  }),
  z.strictObject({
    workflow: z.literal('maintenance'),
    input: MaintenanceInputSchema.omit({ requestedBy: true, scheduledAt: true }).strict(),
    requestId: RequestIdSchema.optional(),
  }),
]);
export type OperatorStartRequest = z.infer<typeof OperatorStartRequestSchema>;

/**
 * `op-<cluster>-<hash of cluster and request id>`: the cluster in the name, so its executions can be found by
 * name; the hash, so that no two (cluster, request id) pairs share a name (`a` + `b-c` and `a-b` + `c` would), and
 * the same pair always gets the same one (a repeated request starts nothing new).
 */
export const operatorExecutionName = (cluster: string, requestId: string): string =>
  `op-${cluster.slice(0, 40)}-${createHash('sha256').update(`${cluster}\0${requestId}`).digest('hex').slice(0, 24)}`;
