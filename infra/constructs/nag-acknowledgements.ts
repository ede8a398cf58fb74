import * as cdk from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { pathGrantsOf } from './arns.ts';

/** cdk-nag findings that are reviewed and accepted, on the narrowest construct, each with its reason. */

/** The stack's constructs that carry reviewed findings (HaRedisStack has each under this name). */
export interface ReviewedStack extends cdk.Stack {
  /** Every Lambda of the stack. */
  functions(): lambda.Function[];
  /** Each state machine invokes its one step function. */
  switchoverStateMachine: sfn.StateMachine;
  switchoverStepFunction: lambda.Function;
  maintenanceStateMachine: sfn.StateMachine;
  maintenanceStepFunction: lambda.Function;
  /** The functions EventBridge Scheduler invokes (through a role it creates in the stack scope). */
  reconcileFunction: lambda.Function;
  maintenanceTriggerFunction: lambda.Function;
  /** The Slack worker follows switchover executions. */
  slackWorkerFunction?: lambda.Function;
}

const acknowledge = (scope: Construct, findings: Record<string, string>) => {
  for (const [id, reason] of Object.entries(findings)) cdk.Validations.of(scope).acknowledge({ id, reason });
};
const iam5 = (resource: string) => `AwsSolutions-IAM5[${resource}]`;

/** Acknowledges each reviewed finding on the construct it concerns. */
export function acknowledgeReviewedFindings(
  stack: ReviewedStack,
  policies: {
    bridgePolicy: iam.ManagedPolicy;
    agentPolicy: iam.ManagedPolicy;
    operatorPolicy: iam.ManagedPolicy;
    /** The per-cluster operators' policy (config operators[]), when there are any. */
    clusterOperatorPolicy?: iam.ManagedPolicy;
  },
): void {
  const region = cdk.Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const account = cdk.Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  const logicalId = (c: Construct) => stack.getLogicalId(c.node.defaultChild as cdk.CfnElement);
  const executionsOf = (machine: sfn.StateMachine) =>
    iam5(
      `Resource::arn:<AWS::Partition>:states:${region}:${account}:execution:<${logicalId(machine)}.Name>:*`,
    );
  for (const f of stack.functions()) {
    acknowledge(f, {
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
        'The AWS managed policy CDK attaches for writing the function logs; it grants no data access',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]':
        'The AWS managed policy a Lambda in a VPC needs to manage its network interfaces; it grants no data access',
      [iam5('Resource::*')]:
        'X-Ray PutTraceSegments and ssm:GetCommandInvocation/ListCommandInvocations/CancelCommand support no resource-level permissions',
      [iam5('Action::kms:GenerateDataKey*')]:
        'Publishing to the encrypted notification topic needs GenerateDataKey variants, on the one stack key only',
      [iam5('Action::kms:ReEncrypt*')]:
        'Sending failed invocations to the encrypted dead-letter queue (CDK grant), on the one stack key only',
      [iam5(`Resource::arn:<AWS::Partition>:ec2:${region}:${account}:instance/*`)]:
        'SendCommand is limited to instances whose ha-redis:cluster tag names a configured cluster or host set (condition)',
      [iam5('Resource::arn:<AWS::Partition>:route53:::change/*')]:
        'Route53 change ids are only known after ChangeResourceRecordSets; GetChange only reads a change status',
    });
  }
  // Beyond EXACT_GRANT_LIMIT secrets, they are granted by the path they share (IAM's policy sizes): reviewed here,
  // on the functions and the hosts' policies that read them.
  const byPath = Object.fromEntries(
    pathGrantsOf(stack).map(({ service, resource }) => [
      iam5(`Resource::arn:<AWS::Partition>:${service}:${region}:${account}:${resource}`),
      `More clusters' secrets than one ARN each fits in IAM's policy size: granted by the path they all share (${resource}); keep only ha-redis secrets under it`,
    ]),
  );
  for (const c of [...stack.functions(), policies.bridgePolicy, policies.agentPolicy]) acknowledge(c, byPath);
  for (const [machine, step] of [
    [stack.switchoverStateMachine, stack.switchoverStepFunction],
    [stack.maintenanceStateMachine, stack.maintenanceStepFunction],
  ] as const) {
    acknowledge(machine, {
      [iam5('Resource::*')]:
        'X-Ray tracing and CloudWatch Logs delivery of the state machine support no resource-level permissions',
      [iam5(`Resource::<${logicalId(step)}.Arn>:*`)]:
        'The state machine invokes versions of its one step function; the wildcard is the version qualifier only',
    });
  }
  // The scheduler's role (created by the Lambda target, outside any construct of ours) invokes one function.
  acknowledge(stack, {
    [iam5(`Resource::<${logicalId(stack.reconcileFunction)}.Arn>:*`)]:
      'EventBridge Scheduler invokes versions of the one reconcile function; the wildcard is the version qualifier only',
    [iam5(`Resource::<${logicalId(stack.maintenanceTriggerFunction)}.Arn>:*`)]:
      'EventBridge Scheduler invokes versions of the one maintenance trigger function; the wildcard is the version qualifier only',
  });
  if (stack.slackWorkerFunction) {
    acknowledge(stack.slackWorkerFunction, {
      [executionsOf(stack.switchoverStateMachine)]:
        'The Slack worker follows the executions Slack started; the wildcard covers executions of the one switchover state machine',
    });
  }
  for (const policy of [
    policies.operatorPolicy,
    ...(policies.clusterOperatorPolicy ? [policies.clusterOperatorPolicy] : []),
  ])
    acknowledge(policy, {
      [executionsOf(stack.switchoverStateMachine)]:
        'Execution names are chosen per request; the wildcard covers executions of the one switchover state machine',
      [executionsOf(stack.maintenanceStateMachine)]:
        'Execution names are chosen per run; the wildcard covers executions of the one maintenance state machine',
    });
  for (const publisher of [policies.bridgePolicy, policies.agentPolicy]) {
    acknowledge(publisher, {
      [iam5('Action::kms:GenerateDataKey*')]:
        'Publishing to the encrypted Sentinel event topic needs GenerateDataKey variants, on the one stack key only',
    });
  }
}
