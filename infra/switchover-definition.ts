import * as cdk from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { ERROR_NAMES } from '../core/model/errors.ts';
import { SWITCHOVER_FAILURES, type SwitchoverAction } from '../core/switchover/state.ts';
import { stepTask, TO_RECOVER } from './step-task.ts';

/**
 * The planned-switchover workflow: the one source of truth for AWS (a Standard state machine) and for the
 * local runtime (the same ASL, run by aws-local-stepfunctions).
 *
 * 1. Plan (precheck; read-only) -> DryRun? -> Planned
 * 2. Prepare (lease, replica priorities) -> Switch (the write-blocked section) -> Fence -> Verify -> Finish -> Done
 * 3. Any failure of step 2 -> Recover -> Recovered? -> SwitchoverRolledBack | SwitchoverCompletedForward;
 *    Recover itself failing -> SwitchoverFailed. A Plan failure -> SwitchoverRefused (nothing changed yet).
 *
 * Every Task sends `{ action, state }` to the one step function and its answer replaces the whole state.
 * A Catch keeps the state and adds Step Functions' `{ Error, Cause }` at `$.error`.
 * Fail states carry fixed causes, not `CausePath`: `Cause` is optional (e.g. on `States.Timeout`) and a missing
 * path would turn the failure into `States.Runtime`. The original error stays in the state (`state.error`): the
 * recover step records it, and the execution history holds it.
 */

/** Task state name -> the action it sends to the step handler. */
export const SWITCHOVER_STATE_NAMES = {
  Plan: 'plan',
  Prepare: 'prepare',
  Switch: 'switch',
  Fence: 'fence',
  Verify: 'verify',
  Finish: 'finish',
  Recover: 'recover',
} as const satisfies Record<string, SwitchoverAction>;
type TaskStateName = keyof typeof SWITCHOVER_STATE_NAMES;

/** The Error of the execution when it ends in a Fail state (defined with the contract, so Lambdas need no CDK). */
export { SWITCHOVER_FAILURES };

/** The step function's ARN in the locally rendered ASL (no AWS account behind it). */
export const LOCAL_STEP_FUNCTION_ARN = 'arn:aws:lambda:local:000000000000:function:ha-redis-switchover-step';

/** Per-step task timeouts. Prepare waits until every Sentinel sees the changed replica priorities (~15 s). */
const TASK_TIMEOUTS: Record<TaskStateName, cdk.Duration> = {
  Plan: cdk.Duration.seconds(30),
  Prepare: cdk.Duration.seconds(60),
  Switch: cdk.Duration.seconds(30),
  Fence: cdk.Duration.seconds(30),
  Verify: cdk.Duration.seconds(30),
  Finish: cdk.Duration.seconds(30),
  Recover: cdk.Duration.seconds(60),
};

/** Plan only reads: a node or Sentinel that missed one probe (restart, network blip) should not refuse the switchover. */
const PLAN_UNREACHABLE_RETRY: sfn.RetryProps = {
  errors: [ERROR_NAMES.unreachable],
  maxAttempts: 2,
  interval: cdk.Duration.seconds(1),
  backoffRate: 2,
};

/**
 * Recover undoes what the steps changed (write pause, replica priorities, lease). It is idempotent, and giving up
 * leaves the cluster half switched, so it retries any error, timeouts included.
 */
const RECOVER_RETRY: sfn.RetryProps = {
  errors: [sfn.Errors.ALL],
  maxAttempts: 3,
  interval: cdk.Duration.seconds(1),
  backoffRate: 2,
};

/**
 * Transient Lambda service faults (AWS only; never raised locally). Safe for the idempotent steps; Switch does not
 * get it because the write-blocked section must never run twice blind: its failures go to Recover, which looks first.
 */
export const LAMBDA_SERVICE_RETRY: sfn.RetryProps = {
  errors: [
    'Lambda.ClientExecutionTimeoutException',
    'Lambda.ServiceException',
    'Lambda.AWSLambdaException',
    'Lambda.SdkClientException',
    'Lambda.TooManyRequestsException',
  ],
  maxAttempts: 3,
  interval: cdk.Duration.seconds(1),
  backoffRate: 2,
};

/** Builds the switchover workflow in `scope`, every Task invoking `stepFunction`; returns its start. */
export function switchoverDefinition(scope: Construct, stepFunction: lambda.IFunction): sfn.IChainable {
  const task = (name: TaskStateName, comment: string): tasks.LambdaInvoke =>
    stepTask(scope, name, {
      action: SWITCHOVER_STATE_NAMES[name],
      stepFunction,
      timeout: TASK_TIMEOUTS[name],
      comment,
      first: name === 'Plan',
    });

  const refused = new sfn.Fail(scope, SWITCHOVER_FAILURES.refused, {
    error: SWITCHOVER_FAILURES.refused,
    cause: 'the plan refused the switchover; nothing was changed. The reason is in state.error',
  });
  const rolledBack = new sfn.Fail(scope, SWITCHOVER_FAILURES.rolledBack, {
    error: SWITCHOVER_FAILURES.rolledBack,
    cause:
      'a step failed and the switchover was rolled back; the old master is master. The reason is in state.error',
  });
  const completedForward = new sfn.Fail(scope, SWITCHOVER_FAILURES.completedForward, {
    error: SWITCHOVER_FAILURES.completedForward,
    cause:
      'a step failed after the promotion; recovery completed the switchover forward. Check `ha-redis status`',
  });
  const recoveryFailed = new sfn.Fail(scope, SWITCHOVER_FAILURES.recoveryFailed, {
    error: SWITCHOVER_FAILURES.recoveryFailed,
    cause:
      'a step failed and recovery failed too: the cluster may be half switched. Run `ha-redis status` now',
  });

  const recover = task('Recover', 'Undo or complete what the failed step left; the error is in $.error')
    .addRetry(RECOVER_RETRY)
    .addCatch(recoveryFailed, { errors: [sfn.Errors.ALL], resultPath: '$.recoveryError' });
  const recovered = new sfn.Choice(scope, 'Recovered?')
    .when(
      sfn.Condition.and(
        sfn.Condition.isPresent('$.outcome'),
        sfn.Condition.stringEquals('$.outcome', 'completed-forward'),
      ),
      completedForward,
    )
    .otherwise(rolledBack);
  recover.next(recovered);

  const plan = task('Plan', 'Precheck and choose the target; changes nothing')
    .addRetry(PLAN_UNREACHABLE_RETRY)
    .addRetry(LAMBDA_SERVICE_RETRY)
    .addCatch(refused, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  const step = (name: Exclude<TaskStateName, 'Plan' | 'Recover'>, comment: string): sfn.TaskStateBase => {
    const stepTask = task(name, comment).addCatch(recover, TO_RECOVER);
    return name === 'Switch' ? stepTask : stepTask.addRetry(LAMBDA_SERVICE_RETRY);
  };

  const isDryRun = sfn.Condition.and(
    sfn.Condition.isPresent('$.input.dryRun'),
    sfn.Condition.booleanEquals('$.input.dryRun', true),
  );
  const switchover = step(
    'Prepare',
    'Take the lease; raise the other replicas priority; wait for every Sentinel',
  )
    .next(
      step('Switch', 'Write-blocked section: cut, pause, wait for offsets, fail over, poll ROLE, reroute'),
    )
    .next(step('Fence', 'Make the old master a replica that refuses writes'))
    .next(step('Verify', 'Canary write through every proxy'))
    .next(step('Finish', 'Restore priorities, release the lease, record, notify'))
    .next(new sfn.Succeed(scope, 'Done'));

  return plan.next(
    new sfn.Choice(scope, 'DryRun?').when(isDryRun, new sfn.Succeed(scope, 'Planned')).otherwise(switchover),
  );
}

/** The switchover workflow as plain ASL JSON (no CloudFormation intrinsics), its Tasks on LOCAL_STEP_FUNCTION_ARN. */
export function renderSwitchoverAsl(): object {
  const app = new cdk.App();
  const stack = new cdk.Stack(app, 'SwitchoverAsl', { env: { account: '000000000000', region: 'local' } });
  const stepFunction = lambda.Function.fromFunctionArn(stack, 'Step', LOCAL_STEP_FUNCTION_ARN);
  const graph = new sfn.StateGraph(switchoverDefinition(stack, stepFunction).startState, 'switchover');
  return stack.resolve(graph.toGraphJson()) as object;
}
