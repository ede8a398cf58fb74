import * as cdk from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { LAMBDA_ENV } from '../../config/env.ts';
import type { DeploymentConfig } from '../../config/schema.ts';
import { executionArnsOf } from './arns.ts';
import type { ClusterAccess } from './cluster-access.ts';
import type { LambdaFactory } from './lambda-function.ts';

/**
 * The Slack front door: the /redis slash command and interactivity, served by two Lambdas with roles of their own.
 * - `slack`, behind the public Function URL: verifies the signature, authorizes, replies, starts a confirmed
 *   switchover. Its role reads the Slack signing secret and bot token only (no cluster secret, no state), starts
 *   executions of the switchover state machine, and invokes the worker. Outside the VPC: it reaches no host.
 * - `slack-worker`, with no URL (only the front's role may invoke it): status, history, dry-run plans, the
 *   maintenance mode and the watch of a started switchover. Its role reads the clusters' secrets and the state
 *   table, sets the maintenance mode, and follows switchover executions; it starts none.
 * Created in the scope it is given (the stack), so every logical id stays as deployed.
 */
export interface SlackFrontDoorProps {
  config: DeploymentConfig;
  /** The deployment's Slack app (config.slack): without one there is no front door. */
  slack: NonNullable<DeploymentConfig['slack']>;
  lambdas: LambdaFactory;
  access: ClusterAccess;
  table: dynamodb.ITable;
  switchoverStateMachine: sfn.StateMachine;
}

/** Environments the Slack function may use at once (reserved: never more, and never starved). */
export const SLACK_RESERVED_CONCURRENCY = 10;
/** The same for the worker: each request of the front hands it one or two tasks at most. */
export const SLACK_WORKER_RESERVED_CONCURRENCY = 10;

export class SlackFrontDoor {
  readonly slackFunction: nodejs.NodejsFunction;
  readonly slackWorkerFunction: nodejs.NodejsFunction;

  constructor(scope: Construct, props: SlackFrontDoorProps) {
    const { config, slack, lambdas, access, switchoverStateMachine } = props;
    const stateMachineEnv = {
      [LAMBDA_ENV.switchoverStateMachineArn]: switchoverStateMachine.stateMachineArn,
    };
    this.slackWorkerFunction = lambdas.create('slack-worker', {
      // The watch of a switchover follows it for up to 9 minutes.
      timeout: cdk.Duration.seconds(600),
      description:
        'Slack /redis work that reads the clusters: status, history, plans, maintenance mode, watch',
      reservedConcurrentExecutions: SLACK_WORKER_RESERVED_CONCURRENCY,
      environment: stateMachineEnv,
    });
    // A retried task would post twice to response_url (5 posts in 30 minutes); a stale one answers nobody.
    this.slackWorkerFunction.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: cdk.Duration.minutes(5) });
    this.slackFunction = lambdas.create('slack', {
      // Answers Slack within 3 s; what takes longer runs in the worker.
      timeout: cdk.Duration.seconds(30),
      description: 'Slack /redis commands and interactivity: verified, authorized, confirmed switchovers',
      // Its name is kept (the Function URL stays the one configured in the Slack app).
      functionName: `${config.name}-slack`,
      // Its Function URL is public (Slack signs each request): a flood of forged requests must not take the
      // account's concurrency from the failover path. Enough for a team's commands.
      reservedConcurrentExecutions: SLACK_RESERVED_CONCURRENCY,
      // It calls AWS and Slack APIs only: no host of the clusters, so no VPC.
      inVpc: false,
      environment: {
        ...stateMachineEnv,
        [LAMBDA_ENV.slackWorkerFunction]: this.slackWorkerFunction.functionName,
      },
    });
    const url = this.slackFunction.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    new cdk.CfnOutput(scope, 'SlackEndpointUrl', {
      value: url.url,
      description: 'Request URL of the /redis slash command and of interactivity, in the Slack app',
    });
    this.grantFront(props);
    this.grantWorker(props);
    access.grantSecrets(this.slackFunction, [slack.signingSecret, slack.botToken]);
    access.grantSecrets(this.slackWorkerFunction, access.clusterSecrets);
  }

  /** The front: start switchovers, hand work to the worker. */
  private grantFront({ switchoverStateMachine }: SlackFrontDoorProps): void {
    this.slackFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StartSwitchovers',
        actions: ['states:StartExecution'],
        resources: [switchoverStateMachine.stateMachineArn],
      }),
    );
    this.slackFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'HandWorkToSlackWorker',
        actions: ['lambda:InvokeFunction'],
        resources: [this.slackWorkerFunction.functionArn],
      }),
    );
  }

  /** The worker: read the state table, set the maintenance mode, follow switchovers. */
  private grantWorker({ table, switchoverStateMachine }: SlackFrontDoorProps): void {
    const stack = cdk.Stack.of(this.slackWorkerFunction);
    table.grantReadData(this.slackWorkerFunction);
    this.slackWorkerFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'SetMaintenanceMode',
        actions: ['dynamodb:PutItem'],
        resources: [table.tableArn],
      }),
    );
    this.slackWorkerFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'FollowSwitchovers',
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
        resources: [executionArnsOf(stack, switchoverStateMachine)],
      }),
    );
  }
}
