import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { Backoff, describeAwsError, type RetryPolicy, wallClock } from '../adapters/aws/retry.ts';
import { AwsServiceError, HaRedisError } from '../core/model/errors.ts';
import type { MaintenanceMode } from '../core/model/records.ts';
import type { Clock } from '../core/ports.ts';
import type { SwitchoverInput, SwitchoverPlan } from '../core/switchover/state.ts';
import {
  type DeferredTask,
  type WorkerAnswer,
  WorkerAnswerSchema,
  type WorkerCall,
} from '../functions/slack/contract.ts';

/**
 * How the Slack front function reaches the Slack worker (functions/slack-worker): the deferred tasks
 * asynchronously, the plan and the maintenance mode synchronously. The worker has the clusters' secrets and the
 * state table; the front only this invoke.
 */

/** Throttled invokes are retried briefly: the user is waiting for the reply. */
const INVOKE_RETRY: RetryPolicy = { maxAttempts: 3, baseMs: 100, capMs: 400 };

/** Defers a task to the worker by an asynchronous invoke (InvocationType Event: Lambda queues it). */
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
        INVOKE_RETRY,
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

/** What the front asks the worker and waits for. */
export interface WorkerCalls {
  plan(input: SwitchoverInput): Promise<SwitchoverPlan>;
  setMaintenanceMode(cluster: string, mode: MaintenanceMode): Promise<void>;
}

/** The worker's synchronous calls (InvocationType RequestResponse); a refusal it answers is thrown with its message. */
export function workerCalls(
  client: LambdaClient,
  functionName: string,
  clock: Clock = wallClock,
): WorkerCalls {
  const backoff = new Backoff(clock);
  const call = async (request: WorkerCall): Promise<WorkerAnswer & { ok: true }> => {
    const what = request.call.kind;
    let answer: unknown;
    try {
      const out = await backoff.retry(
        () =>
          client.send(
            new InvokeCommand({
              FunctionName: functionName,
              InvocationType: 'RequestResponse',
              Payload: new TextEncoder().encode(JSON.stringify(request)),
            }),
          ),
        INVOKE_RETRY,
      );
      if (out.FunctionError) {
        throw new AwsServiceError(
          `${functionName} failed the ${what} call (${out.FunctionError}); see its logs`,
        );
      }
      answer = JSON.parse(new TextDecoder().decode(out.Payload ?? new Uint8Array()));
    } catch (error) {
      if (error instanceof HaRedisError) throw error;
      throw new AwsServiceError(`could not ask ${functionName} for the ${what}: ${describeAwsError(error)}`, {
        cause: error,
      });
    }
    const parsed = WorkerAnswerSchema.safeParse(answer);
    if (!parsed.success)
      throw new AwsServiceError(`${functionName} answered the ${what} call with no answer`);
    if (!parsed.data.ok) throw new HaRedisError(parsed.data.error);
    return parsed.data;
  };
  return {
    plan: async (input) => {
      const { plan } = await call({ call: { kind: 'plan', input } });
      if (!plan) throw new AwsServiceError(`${functionName} answered the plan call without a plan`);
      return plan;
    },
    setMaintenanceMode: async (cluster, mode) => {
      await call({ call: { kind: 'set-maintenance-mode', cluster, mode } });
    },
  };
}
