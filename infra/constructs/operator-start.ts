import * as cdk from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { LAMBDA_ENV } from '../../config/env.ts';
import type { DeploymentConfig } from '../../config/schema.ts';
import { executionArnsOf } from './arns.ts';
import type { LambdaFactory } from './lambda-function.ts';

/**
 * Per-cluster operators (config `operators`): Step Functions cannot condition StartExecution on the input (the
 * resource is the state machine), so a grant per cluster cannot be an IAM policy on the state machines. The
 * operator-start function, behind a Function URL with AWS_IAM auth, is the step in between: IAM authenticates the
 * caller, the function checks the config's operator groups for the input's cluster, and only its role may start
 * executions. ClusterOperatorPolicy lets its holder call that URL and follow executions, nothing else; it does not
 * grow with the clusters (the groups live in the config). Created in the scope it is given (the stack).
 */
export interface OperatorStartProps {
  config: DeploymentConfig;
  lambdas: LambdaFactory;
  switchover: sfn.StateMachine;
  maintenance: sfn.StateMachine;
}

export class OperatorStart {
  readonly operatorStartFunction: nodejs.NodejsFunction;
  readonly policy: iam.ManagedPolicy;

  /** The operator-start function and its policy when the config has operator groups; else nothing. */
  static ifConfigured(
    scope: Construct,
    props: {
      config: DeploymentConfig;
      lambdas: LambdaFactory;
      workflows: { switchoverStateMachine: sfn.StateMachine; maintenanceStateMachine: sfn.StateMachine };
    },
  ): OperatorStart | undefined {
    const { config, lambdas, workflows } = props;
    if (config.operators.length === 0) return undefined;
    return new OperatorStart(scope, {
      config,
      lambdas,
      switchover: workflows.switchoverStateMachine,
      maintenance: workflows.maintenanceStateMachine,
    });
  }

  constructor(scope: Construct, props: OperatorStartProps) {
    const { config, lambdas, switchover, maintenance } = props;
    const stack = cdk.Stack.of(scope);
    this.operatorStartFunction = lambdas.create('operator-start', {
      timeout: cdk.Duration.seconds(15),
      description:
        'Starts switchovers and maintenance runs for the operators the config allows on the cluster',
      // It calls Step Functions only: no host of the clusters, so no VPC.
      inVpc: false,
      environment: {
        [LAMBDA_ENV.switchoverStateMachineArn]: switchover.stateMachineArn,
        [LAMBDA_ENV.maintenanceStateMachineArn]: maintenance.stateMachineArn,
      },
    });
    this.operatorStartFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StartForOperators',
        actions: ['states:StartExecution'],
        resources: [switchover.stateMachineArn, maintenance.stateMachineArn],
      }),
    );
    const url = this.operatorStartFunction.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    const functionArn = this.operatorStartFunction.functionArn;
    this.policy = new iam.ManagedPolicy(scope, 'ClusterOperatorPolicy', {
      description: `${config.name}: start switchovers and maintenance runs of the clusters the config's operators[] allow, and follow executions`,
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        // Function URLs created since October 2025 need InvokeFunction too; only through the URL, where Lambda
        // sets the caller's identity (a direct invoke could claim any).
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [functionArn],
          conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
        }),
        new iam.PolicyStatement({
          actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
          resources: [executionArnsOf(stack, switchover), executionArnsOf(stack, maintenance)],
        }),
      ],
    });
    new cdk.CfnOutput(scope, 'OperatorStartUrl', {
      value: url.url,
      description:
        'POST { workflow, input, requestId } here, signed with SigV4 (service lambda), to start for a cluster',
    });
    new cdk.CfnOutput(scope, 'ClusterOperatorPolicyArn', { value: this.policy.managedPolicyArn });
  }
}
