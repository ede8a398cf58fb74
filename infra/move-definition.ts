import * as cdk from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { MOVE_FAILURES, type MoveAction } from '../core/move/state.ts';
import { stepTask, TO_RECOVER } from './step-task.ts';
import { LAMBDA_SERVICE_RETRY } from './switchover-definition.ts';

/**
 * The move workflow: a service moves to another set of hosts with no downtime and no lost write. One definition
 * for AWS and for the local runtime (the same ASL, run by aws-local-stepfunctions), as the other two workflows.
 *
 * 1. Plan (read-only) -> DryRun? -> Planned | Nodes -> Sentinels -> Switchover -> Proxies -> Retire -> Done
 * 2. Any failure after Plan -> Recover (says what was done; the service stays writable with a Sentinel majority)
 *    -> MoveStopped; Recover failing -> MoveFailed. A Plan failure -> MoveRefused (nothing changed).
 */

/** Task state name -> the action it sends to the step handler. */
export const MOVE_STATE_NAMES = {
  Plan: 'plan',
  Nodes: 'nodes',
  Sentinels: 'sentinels',
  Switchover: 'switchover',
  Proxies: 'proxies',
  Retire: 'retire',
  Recover: 'recover',
} as const satisfies Record<string, MoveAction>;
type TaskStateName = keyof typeof MOVE_STATE_NAMES;

export { MOVE_FAILURES };

/** The move step function's ARN in the locally rendered ASL. */
export const LOCAL_MOVE_STEP_FUNCTION_ARN = 'arn:aws:lambda:local:000000000000:function:ha-redis-move-step';

/**
 * Per-step task timeouts, each above the longest wait of its step: the full sync (300 s), a Sentinel handover of
 * 3 pairs (each: join 30 s, 3 resets of 30 s), a switchover (its own steps' timeouts together).
 */
const TASK_TIMEOUTS: Record<TaskStateName, cdk.Duration> = {
  Plan: cdk.Duration.seconds(60),
  Nodes: cdk.Duration.seconds(330),
  Sentinels: cdk.Duration.seconds(600),
  Switchover: cdk.Duration.seconds(300),
  Proxies: cdk.Duration.seconds(120),
  Retire: cdk.Duration.seconds(300),
  // It gives a master that died Sentinel's time to fail over (down-after + 30 s; a settle of up to 90 s).
  Recover: cdk.Duration.seconds(300),
};

/** Recover only reads and records: a Lambda fault is retried (as the switchover's steps); its own verdict is not. */
const RECOVER_RETRY = LAMBDA_SERVICE_RETRY;

/** Builds the move workflow in `scope`, every Task invoking `stepFunction`; returns its start. */
export function moveDefinition(scope: Construct, stepFunction: lambda.IFunction): sfn.IChainable {
  const task = (name: TaskStateName, comment: string): tasks.LambdaInvoke =>
    stepTask(scope, name, {
      action: MOVE_STATE_NAMES[name],
      stepFunction,
      timeout: TASK_TIMEOUTS[name],
      comment,
      first: name === 'Plan',
    });
  const refused = new sfn.Fail(scope, MOVE_FAILURES.refused, {
    error: MOVE_FAILURES.refused,
    cause: 'the plan refused the move; nothing was changed. The reason is in state.error',
  });
  const stopped = new sfn.Fail(scope, MOVE_FAILURES.stopped, {
    error: MOVE_FAILURES.stopped,
    cause:
      'a step failed; the service is writable and a Sentinel majority names its master. What was done is in state.recovery; run the move again to go on',
  });
  const recoveryFailed = new sfn.Fail(scope, MOVE_FAILURES.recoveryFailed, {
    error: MOVE_FAILURES.recoveryFailed,
    cause: 'a step failed and recovery failed too. Run `ha-redis status` now',
  });
  const recover = task('Recover', 'Check the service, say what was done; the error is in $.error')
    .addRetry(RECOVER_RETRY)
    .addCatch(recoveryFailed, { errors: [sfn.Errors.ALL], resultPath: '$.recoveryError' });
  recover.next(stopped);

  const plan = task('Plan', 'The service healthy, the target hosts ready; changes nothing').addCatch(
    refused,
    {
      errors: [sfn.Errors.ALL],
      resultPath: '$.error',
    },
  );
  const step = (name: Exclude<TaskStateName, 'Plan' | 'Recover'>, comment: string) =>
    task(name, comment).addCatch(recover, TO_RECOVER);
  const isDryRun = sfn.Condition.and(
    sfn.Condition.isPresent('$.input.dryRun'),
    sfn.Condition.booleanEquals('$.input.dryRun', true),
  );
  const moving = step('Nodes', 'Start the new nodes as replicas; wait for the full sync')
    .next(step('Sentinels', 'Hand over to the target Sentinels, a majority naming the master throughout'))
    .next(step('Switchover', 'The zero-loss switchover onto a new node'))
    .next(step('Proxies', 'The target HAProxy serves the service, routed to the new master'))
    .next(step('Retire', 'Stop the old nodes; the Sentinels forget them; record the move'))
    .next(new sfn.Succeed(scope, 'Done'));
  return plan.next(
    new sfn.Choice(scope, 'DryRun?').when(isDryRun, new sfn.Succeed(scope, 'Planned')).otherwise(moving),
  );
}

/** The move workflow as plain ASL JSON, its Tasks on LOCAL_MOVE_STEP_FUNCTION_ARN. */
export function renderMoveAsl(): object {
  const app = new cdk.App();
  const stack = new cdk.Stack(app, 'MoveAsl', { env: { account: '000000000000', region: 'local' } });
  const stepFunction = lambda.Function.fromFunctionArn(stack, 'Step', LOCAL_MOVE_STEP_FUNCTION_ARN);
  const graph = new sfn.StateGraph(moveDefinition(stack, stepFunction).startState, 'move');
  return stack.resolve(graph.toGraphJson()) as object;
}
