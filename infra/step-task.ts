import type * as cdk from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

/**
 * The execution input is what was asked for (a switchover or maintenance request, as StartExecution got it);
 * the first Task builds the execution state around it from the context object: the execution name is the
 * id (and the lease owner), its start time the start.
 */
export const INITIAL_STATE = {
  input: sfn.JsonPath.entirePayload,
  executionId: sfn.JsonPath.executionName,
  startedAt: sfn.JsonPath.executionStartTime,
  timeline: [],
};

/** Catch of every step after the first: keep the state, add Step Functions' `{ Error, Cause }`, go to Recover. */
export const TO_RECOVER: sfn.CatchProps = { errors: [sfn.Errors.ALL], resultPath: '$.error' };

/**
 * One Task of a workflow: it sends `{ action, state }` to the step function and its answer replaces the whole
 * state. The first Task sends the initial state instead of `$`.
 */
export function stepTask(
  scope: Construct,
  name: string,
  options: {
    action: string;
    stepFunction: lambda.IFunction;
    timeout: cdk.Duration;
    comment: string;
    first: boolean;
  },
): tasks.LambdaInvoke {
  return new tasks.LambdaInvoke(scope, name, {
    comment: options.comment,
    lambdaFunction: options.stepFunction,
    // The Resource is the function ARN and the result is the handler's answer, not the Invoke API envelope.
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({
      action: options.action,
      state: options.first ? INITIAL_STATE : sfn.JsonPath.entirePayload,
    }),
    // The result replaces the whole state: ResultPath is left out, which means `$`. An explicit "$" would be
    // misread by aws-local-stepfunctions 3.0.0 (it nests the result under a key named "$").
    taskTimeout: sfn.Timeout.duration(options.timeout),
    // Retries are each workflow's named policies, not CDK's default (6 attempts on every Task).
    retryOnServiceExceptions: false,
  });
}
