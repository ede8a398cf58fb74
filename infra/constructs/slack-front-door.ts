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
 * The Slack front door: the /redis slash command and interactivity, served by one Lambda behind a Function URL.
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

/** The Slack Lambda: verified, authorized, confirmed switchovers, and status from the state table. */
/** Environments the Slack function may use at once (reserved: never more, and never starved). */
export const SLACK_RESERVED_CONCURRENCY = 10;

export class SlackFrontDoor {
  readonly slackFunction: nodejs.NodejsFunction;

  constructor(scope: Construct, props: SlackFrontDoorProps) {
    const { config, slack, lambdas, access, switchoverStateMachine } = props;
    const stack = cdk.Stack.of(scope);
    const slackName = `${config.name}-slack`;
    this.slackFunction = lambdas.create('slack', {
      // Answers Slack within 3 s; deferred work (plans, status, following a switchover) runs in a self-invocation.
      timeout: cdk.Duration.seconds(600),
      description: 'Slack /redis commands and interactivity: verified, authorized, confirmed switchovers',
      functionName: slackName,
      // Its Function URL is public (Slack signs each request): a flood of forged requests must not take the
      // account's concurrency from the failover path. Enough for a team's commands and their deferred work.
      reservedConcurrentExecutions: SLACK_RESERVED_CONCURRENCY,
      environment: { [LAMBDA_ENV.switchoverStateMachineArn]: switchoverStateMachine.stateMachineArn },
    });
    this.slackFunction.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: cdk.Duration.minutes(5) });
    const url = this.slackFunction.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    new cdk.CfnOutput(scope, 'SlackEndpointUrl', {
      value: url.url,
      description: 'Request URL of the /redis slash command and of interactivity, in the Slack app',
    });
    this.slackFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StartSwitchovers',
        actions: ['states:StartExecution'],
        resources: [switchoverStateMachine.stateMachineArn],
      }),
    );
    this.slackFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'FollowSwitchovers',
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
        resources: [executionArnsOf(stack, switchoverStateMachine)],
      }),
    );
    this.slackFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'DeferWorkToItself',
        actions: ['lambda:InvokeFunction'],
        resources: [`arn:${stack.partition}:lambda:${stack.region}:${stack.account}:function:${slackName}`],
      }),
    );
    access.grantSecrets(this.slackFunction, [...access.clusterSecrets, slack.signingSecret, slack.botToken]);
    props.table.grantReadData(this.slackFunction);
  }
}
