import * as cdk from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { LAMBDA_ENV } from '../../config/env.ts';
import type { DeploymentConfig } from '../../config/schema.ts';
import { MAINTENANCE_STEP_TIMEOUT_SECONDS, maintenanceDefinition } from '../maintenance-definition.ts';
import { switchoverDefinition } from '../switchover-definition.ts';
import type { ClusterAccess } from './cluster-access.ts';
import type { LambdaFactory } from './lambda-function.ts';

/**
 * The workflows: the planned switchover and the rolling maintenance state machines (definitions shared with the
 * local runtime), their step Lambdas, and the schedules that start maintenance runs. Created in the scope it is
 * given (the stack), so every logical id stays as deployed.
 */

/** The switchover step Lambda's timeout: below every Task timeout of the switchover state machine (see below). */
export const SWITCHOVER_STEP_TIMEOUT = cdk.Duration.seconds(25);

/** What the workflows use. */
export interface WorkflowsProps {
  config: DeploymentConfig;
  key: kms.IKey;
  lambdas: LambdaFactory;
  access: ClusterAccess;
  table: dynamodb.ITable;
  notificationsTopic: sns.ITopic;
}

/** The switchover and maintenance state machines, their step Lambdas, and the maintenance trigger. */
export class Workflows {
  readonly switchoverStepFunction: nodejs.NodejsFunction;
  readonly switchoverStateMachine: sfn.StateMachine;
  readonly maintenanceStepFunction: nodejs.NodejsFunction;
  readonly maintenanceStateMachine: sfn.StateMachine;
  readonly maintenanceTriggerFunction: nodejs.NodejsFunction;

  constructor(scope: Construct, props: WorkflowsProps) {
    const { lambdas, access, key } = props;
    this.switchoverStepFunction = lambdas.create('switchover-step', {
      // Below every Task timeout of the state machine (30 s and more): a step that overruns is stopped by
      // Lambda, its environment reset, before Step Functions hands the execution to Recover. A Task timeout
      // that fired first would leave the step running, free to promote or reroute after Recover unblocked
      // writes. The longest step, Prepare, waits up to 15 s for the Sentinels.
      timeout: SWITCHOVER_STEP_TIMEOUT,
      description: 'One step of the planned switchover state machine',
      // An SSM command (persisting the fence and the routing) gives up with a clear error inside the timeout.
      environment: { [LAMBDA_ENV.nodeOpsDeadlineMs]: '20000' },
    });
    access.grantClusterOperations(this.switchoverStepFunction);
    this.switchoverStateMachine = loggedStateMachine(scope, key, {
      id: 'Switchover',
      define: switchoverDefinition,
      step: this.switchoverStepFunction,
      timeout: cdk.Duration.minutes(10),
    });

    this.maintenanceStepFunction = lambdas.create('maintenance-step', {
      // Below every Task timeout of the state machine, as for the switchover: a step that overruns is stopped
      // by Lambda before Recover runs (see MAINTENANCE_TASK_TIMEOUT_SECONDS).
      timeout: cdk.Duration.seconds(MAINTENANCE_STEP_TIMEOUT_SECONDS),
      description: 'One step of the rolling maintenance state machine',
      // A restart or a package upgrade through SSM may take minutes: wait for it within the Act task.
      environment: { [LAMBDA_ENV.nodeOpsDeadlineMs]: '280000' },
    });
    access.grantClusterOperations(this.maintenanceStepFunction);
    this.maintenanceStateMachine = loggedStateMachine(scope, key, {
      id: 'Maintenance',
      define: maintenanceDefinition,
      step: this.maintenanceStepFunction,
      // A reboot of each of 3 hosts, with catch-up, and two switchovers.
      timeout: cdk.Duration.hours(2),
    });
    this.maintenanceTriggerFunction = this.maintenanceTrigger(scope, props);
  }

  /** The Lambda the maintenance schedules invoke: it starts a run unless a freeze or maintenance mode says no. */
  private maintenanceTrigger(scope: Construct, props: WorkflowsProps): nodejs.NodejsFunction {
    const { config, lambdas } = props;
    const trigger = lambdas.create('maintenance-trigger', {
      timeout: cdk.Duration.seconds(30),
      description:
        'Starts a scheduled maintenance run, or skips it in a freeze window or in maintenance mode',
      environment: { [LAMBDA_ENV.maintenanceStateMachineArn]: this.maintenanceStateMachine.stateMachineArn },
    });
    trigger.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StartMaintenance',
        actions: ['states:StartExecution'],
        resources: [this.maintenanceStateMachine.stateMachineArn],
      }),
    );
    props.table.grantReadData(trigger);
    props.notificationsTopic.grantPublish(trigger);
    for (const cluster of config.clusters) {
      for (const schedule of cluster.maintenance.schedules) {
        new scheduler.Schedule(scope, `Maintenance-${cluster.name}-${schedule.name}`, {
          description: `${config.name}: ${schedule.action} of ${cluster.name} (${schedule.name})`,
          schedule: scheduler.ScheduleExpression.expression(
            `cron(${schedule.cron})`,
            cdk.TimeZone.of(schedule.timezone),
          ),
          target: new schedulerTargets.LambdaInvoke(trigger, {
            // The scheduled time names the execution: a retried invocation starts nothing new.
            input: scheduler.ScheduleTargetInput.fromObject({
              cluster: cluster.name,
              schedule: schedule.name,
              scheduledTime: scheduler.ContextAttribute.scheduledTime,
            }),
            retryAttempts: 3,
          }),
        });
      }
    }
    return trigger;
  }
}

/** A Standard state machine, logged (ALL) to its own encrypted log group and traced with X-Ray. */
function loggedStateMachine(
  scope: Construct,
  key: kms.IKey,
  machine: {
    id: string;
    define: (scope: Construct, step: lambda.IFunction) => sfn.IChainable;
    step: lambda.IFunction;
    timeout: cdk.Duration;
  },
): sfn.StateMachine {
  const { id, define, step, timeout } = machine;
  return new sfn.StateMachine(scope, id, {
    stateMachineType: sfn.StateMachineType.STANDARD,
    // The states live in their own scope: their names (Plan, Recover, ...) are the construct ids.
    definitionBody: sfn.DefinitionBody.fromChainable(define(new Construct(scope, `${id}States`), step)),
    timeout,
    tracingEnabled: true,
    logs: {
      destination: new logs.LogGroup(scope, `${id}Logs`, {
        // Under /aws/vendedlogs/: CloudWatch Logs then needs no resource policy per log group for Step Functions,
        // whose policy size limit a stack with many log groups reaches (Step Functions developer guide, logging).
        logGroupName: `/aws/vendedlogs/states/${cdk.Stack.of(scope).stackName}-${id}`,
        retention: logs.RetentionDays.THREE_MONTHS,
        encryptionKey: key,
      }),
      level: sfn.LogLevel.ALL,
      includeExecutionData: true,
    },
  });
}
