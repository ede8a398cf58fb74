import * as cdk from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import {
  MAX_NODE_BACK_TIMEOUT_MS,
  type MaintenancePhase,
  type MaintenanceStepAction,
} from '../core/maintenance/state.ts';
import { MAINTENANCE_TIMING } from '../core/maintenance/steps.ts';
import { ERROR_NAMES } from '../core/model/errors.ts';
import { stepTask, TO_RECOVER } from './step-task.ts';

/**
 * The rolling-maintenance workflow: the one source of truth for AWS (a Standard state machine) and for the
 * local runtime (the same ASL, run by aws-local-stepfunctions).
 *
 * 1. Plan (refuse when paused, unhealthy or leased; read-only) -> ChooseNext
 * 2. ChooseNext -> Route: node -> Act -> Wait -> ChooseNext; switchover and switchback -> ChooseNext;
 *    done -> Finish -> Done
 * 3. Any failure after Plan -> Recover (cluster writable, failure recorded and told) -> MaintenanceFailed;
 *    Recover itself failing -> MaintenanceRecoveryFailed. A Plan failure -> MaintenanceRefused (nothing changed).
 *
 * Every Task sends `{ action, state }` to the one step function and its answer replaces the whole state.
 * A Catch keeps the state and adds Step Functions' `{ Error, Cause }` at `$.error`.
 */

/** Task state name -> the action it sends to the step handler. */
export const MAINTENANCE_STATE_NAMES = {
  Plan: 'plan',
  /** Not named `Next`: ASL validators read a state named like the field as a transition. */
  ChooseNext: 'next',
  Act: 'act',
  Wait: 'wait',
  Switchover: 'switchover',
  Switchback: 'switchback',
  Finish: 'finish',
  Recover: 'recover',
} as const satisfies Record<string, MaintenanceStepAction>;
type TaskStateName = keyof typeof MAINTENANCE_STATE_NAMES;

/** The Choice after Next, and the phase value -> the state it routes to. */
export const MAINTENANCE_ROUTE = {
  name: 'Route',
  phases: { node: 'Act', switchover: 'Switchover', switchback: 'Switchback', done: 'Finish' },
} as const satisfies { name: string; phases: Partial<Record<MaintenancePhase, TaskStateName>> };

/** The Error of the execution when it ends in a Fail state (the Fail state has the same name). */
export const MAINTENANCE_FAILURES = {
  /** Plan refused (paused, unhealthy, lease held); nothing was changed. */
  refused: 'MaintenanceRefused',
  /** A step failed; Recover left the cluster writable and recorded what was done and what was not. */
  failed: 'MaintenanceFailed',
  /** Recover itself failed: the run stopped midway and was not recorded; an operator must look. */
  recoveryFailed: 'MaintenanceRecoveryFailed',
} as const;

/** The step function's ARN in the locally rendered ASL (no AWS account behind it). */
export const LOCAL_MAINTENANCE_STEP_FUNCTION_ARN =
  'arn:aws:lambda:local:000000000000:function:ha-redis-maintenance-step';

/**
 * The maintenance step Lambda's timeout, in seconds: the longest step, Act, waits up to 280 s for its SSM
 * command (a package upgrade, a reboot seen going down); a whole switchover inside one step fits well inside.
 */
export const MAINTENANCE_STEP_TIMEOUT_SECONDS = 330;

/**
 * Every Task's timeout, in seconds: above the step Lambda's, so a step that overruns is stopped by Lambda (its
 * environment reset) before Step Functions hands the run to Recover. A Task timeout that fired first would leave
 * the step running, free to restart a node or switch over after Recover restored the cluster. Each step bounds
 * its own waits well inside it (Wait: one call budget of MAINTENANCE_TIMING.waitCallBudgetMs, then a retry).
 */
export const MAINTENANCE_TASK_TIMEOUT_SECONDS: Record<TaskStateName, number> = Object.fromEntries(
  Object.keys(MAINTENANCE_STATE_NAMES).map((name) => [name, MAINTENANCE_STEP_TIMEOUT_SECONDS + 30]),
) as Record<TaskStateName, number>;

/** Plan only reads: a node or Sentinel that missed one probe should not refuse the run. */
const PLAN_UNREACHABLE_RETRY: sfn.RetryProps = {
  errors: [ERROR_NAMES.unreachable],
  maxAttempts: 2,
  interval: cdk.Duration.seconds(1),
  backoffRate: 2,
};

/** Pause between two bounded wait calls. */
export const WAIT_RETRY_INTERVAL_SECONDS = 5;

/**
 * Wait polls for one call budget, then throws NodeNotBackYetError; retrying it keeps waiting. The core stops at
 * the node's own deadline (NodeNotBackError, not retried); the attempts cover the longest deadline allowed.
 */
export const WAIT_UNTIL_BACK_RETRY: sfn.RetryProps = {
  errors: [ERROR_NAMES.nodeNotBackYet],
  maxAttempts: Math.ceil(
    MAX_NODE_BACK_TIMEOUT_MS / (MAINTENANCE_TIMING.waitCallBudgetMs + WAIT_RETRY_INTERVAL_SECONDS * 1000),
  ),
  interval: cdk.Duration.seconds(WAIT_RETRY_INTERVAL_SECONDS),
  backoffRate: 1,
};

/** Recover only looks, repairs routing, records and notifies: idempotent, so it retries any error. */
const RECOVER_ANY_RETRY: sfn.RetryProps = {
  errors: [sfn.Errors.ALL],
  maxAttempts: 3,
  interval: cdk.Duration.seconds(2),
  backoffRate: 2,
};

/**
 * Transient Lambda service faults (AWS only). Not for Act (an action must never run twice blind) nor the
 * switchovers (their write-blocked section must not either): their failures go to Recover.
 */
const LAMBDA_FAULT_RETRY: sfn.RetryProps = {
  errors: [
    'Lambda.ServiceException',
    'Lambda.AWSLambdaException',
    'Lambda.SdkClientException',
    'Lambda.TooManyRequestsException',
  ],
  maxAttempts: 3,
  interval: cdk.Duration.seconds(2),
  backoffRate: 2,
};

/** Builds the maintenance workflow in `scope`, every Task invoking `stepFunction`; returns its start. */
export function maintenanceDefinition(scope: Construct, stepFunction: lambda.IFunction): sfn.IChainable {
  const task = (name: TaskStateName, comment: string): tasks.LambdaInvoke =>
    stepTask(scope, name, {
      action: MAINTENANCE_STATE_NAMES[name],
      stepFunction,
      timeout: cdk.Duration.seconds(MAINTENANCE_TASK_TIMEOUT_SECONDS[name]),
      comment,
      first: name === 'Plan',
    });

  const refused = new sfn.Fail(scope, MAINTENANCE_FAILURES.refused, {
    error: MAINTENANCE_FAILURES.refused,
    cause: 'the plan refused the maintenance run; nothing was changed. The reason is in state.error',
  });
  const failed = new sfn.Fail(scope, MAINTENANCE_FAILURES.failed, {
    error: MAINTENANCE_FAILURES.failed,
    cause:
      'a step failed and the run stopped; the cluster was left writable. History says what was done and what was not',
  });
  const recoveryFailed = new sfn.Fail(scope, MAINTENANCE_FAILURES.recoveryFailed, {
    error: MAINTENANCE_FAILURES.recoveryFailed,
    cause: 'a step failed and recovery failed too: run `ha-redis status` now',
  });

  const recover = task('Recover', 'Leave the cluster writable; record and tell what was and was not done')
    .addRetry(RECOVER_ANY_RETRY)
    .addCatch(recoveryFailed, { errors: [sfn.Errors.ALL], resultPath: '$.recoveryError' });
  recover.next(failed);

  const step = (name: Exclude<TaskStateName, 'Plan' | 'Recover'>, comment: string): sfn.TaskStateBase => {
    const stepTask = task(name, comment);
    if (name === 'Wait') stepTask.addRetry(WAIT_UNTIL_BACK_RETRY);
    if (name === 'ChooseNext' || name === 'Wait' || name === 'Finish') stepTask.addRetry(LAMBDA_FAULT_RETRY);
    return stepTask.addCatch(recover, TO_RECOVER);
  };

  const plan = task('Plan', 'Refuse when paused, unhealthy or leased; plan the order; changes nothing')
    .addRetry(PLAN_UNREACHABLE_RETRY)
    .addRetry(LAMBDA_FAULT_RETRY)
    .addCatch(refused, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  const next = step('ChooseNext', 'Choose the next node, the switchover, the switchback, or done');
  const act = step('Act', 'Run the allow-listed maintenance action on the node');
  const wait = step('Wait', 'Until the node is a replica of the master, in sync, healthy for every Sentinel');
  const switchover = step('Switchover', 'A planned switchover away from the master, with its own lease');
  const switchback = step('Switchback', 'A planned switchover back to the original master');
  const finish = step('Finish', 'Record and notify what was done');

  const phase = (value: MaintenancePhase) => sfn.Condition.stringEquals('$.phase', value);
  const route = new sfn.Choice(scope, MAINTENANCE_ROUTE.name)
    .when(phase('node'), act)
    .when(phase('switchover'), switchover)
    .when(phase('switchback'), switchback)
    .when(phase('done'), finish)
    .otherwise(recover);
  act.next(wait);
  wait.next(next);
  switchover.next(next);
  switchback.next(next);
  finish.next(new sfn.Succeed(scope, 'Done'));
  next.next(route);
  return plan.next(next);
}

/** The maintenance workflow as plain ASL JSON, its Tasks on LOCAL_MAINTENANCE_STEP_FUNCTION_ARN. */
export function renderMaintenanceAsl(): object {
  const app = new cdk.App();
  const stack = new cdk.Stack(app, 'MaintenanceAsl', { env: { account: '000000000000', region: 'local' } });
  const stepFunction = lambda.Function.fromFunctionArn(stack, 'Step', LOCAL_MAINTENANCE_STEP_FUNCTION_ARN);
  const graph = new sfn.StateGraph(maintenanceDefinition(stack, stepFunction).startState, 'maintenance');
  return stack.resolve(graph.toGraphJson()) as object;
}
