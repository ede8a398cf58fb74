import * as cdk from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
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
  for (const f of stack.functions()) acknowledge(f, functionFindings(stack, f, { region, account }));
  // Beyond EXACT_GRANT_LIMIT secrets, they are granted by the path they share (IAM's policy sizes): reviewed here,
  // on the functions and the hosts' policies that read them.
  const byPath = pathGrantsOf(stack).map(({ service, resource }) => ({
    resource,
    id: iam5(`Resource::arn:<AWS::Partition>:${service}:${region}:${account}:${resource}`),
    reason: `More clusters' secrets than one ARN each fits in IAM's policy size: granted by the path they all share (${resource}); keep only ha-redis secrets under it`,
  }));
  for (const c of [...stack.functions(), policies.bridgePolicy, policies.agentPolicy]) {
    const granted = grantsUnder(stack, c);
    const held = byPath.filter((p) => granted.includes(`:${p.resource}"`));
    acknowledge(c, Object.fromEntries(held.map((p) => [p.id, p.reason])));
  }
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
  // The scheduler's roles (created by the Lambda targets, in the stack's scope) each invoke one function.
  const schedulerRoles = stack.node
    .findAll()
    .filter(
      (c): c is iam.Role =>
        c instanceof iam.Role &&
        JSON.stringify(stack.resolve(c.assumeRolePolicy?.toJSON())).includes('scheduler.amazonaws.com'),
    );
  for (const role of schedulerRoles) {
    const granted = grantsUnder(stack, role);
    for (const [fn, what] of [
      [stack.reconcileFunction, 'reconcile'],
      [stack.maintenanceTriggerFunction, 'maintenance trigger'],
    ] as const) {
      if (!granted.includes(`"${logicalId(fn)}","Arn"`)) continue;
      acknowledge(role, {
        [iam5(`Resource::<${logicalId(fn)}.Arn>:*`)]:
          `EventBridge Scheduler invokes versions of the one ${what} function; the wildcard is the version qualifier only`,
      });
    }
  }
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
  acknowledge(policies.bridgePolicy, {
    [iam5('Resource::*')]:
      "cloudwatch:PutMetricData (the bridge heartbeat) supports no resource-level permissions; a cloudwatch:namespace condition keeps it to the bridges' namespace",
  });
  for (const publisher of [policies.bridgePolicy, policies.agentPolicy]) {
    acknowledge(publisher, {
      [iam5('Action::kms:GenerateDataKey*')]:
        'Publishing to the encrypted Sentinel event topic needs GenerateDataKey variants, on the one stack key only',
    });
  }
}

/**
 * A function's reviewed findings: each only where the function has the grant it is about (read off its role's
 * policy as synthesized), so that no function carries the acknowledgement of another one's grant.
 */
function functionFindings(
  stack: cdk.Stack,
  f: lambda.Function,
  where: { region: string; account: string },
): Record<string, string> {
  const documents = documentsUnder(stack, f);
  const granted = JSON.stringify(documents);
  const findings: [string, string, boolean][] = [
    [
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The AWS managed policy CDK attaches for writing the function logs; it grants no data access',
      true,
    ],
    [
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
      'The AWS managed policy a Lambda in a VPC needs to manage its network interfaces; it grants no data access',
      f.isBoundToVpc,
    ],
    [
      iam5('Resource::*'),
      'X-Ray PutTraceSegments and ssm:GetCommandInvocation/ListCommandInvocations/CancelCommand support no resource-level permissions',
      onlyUnscopedActions(documents),
    ],
    [
      iam5('Action::kms:GenerateDataKey*'),
      'Publishing to the encrypted notification topic needs GenerateDataKey variants, on the one stack key only',
      granted.includes('"kms:GenerateDataKey*"'),
    ],
    [
      iam5('Action::kms:ReEncrypt*'),
      'Sending failed invocations to the encrypted dead-letter queue (CDK grant), on the one stack key only',
      granted.includes('"kms:ReEncrypt*"'),
    ],
    [
      iam5(`Resource::arn:<AWS::Partition>:ec2:${where.region}:${where.account}:instance/*`),
      'SendCommand is limited to instances whose ha-redis:cluster tag names a configured cluster or host set (condition)',
      granted.includes(':instance/*'),
    ],
    [
      iam5('Resource::arn:<AWS::Partition>:route53:::change/*'),
      'Route53 change ids are only known after ChangeResourceRecordSets; GetChange only reads a change status',
      granted.includes(':route53:::change/*'),
    ],
  ];
  return Object.fromEntries(findings.filter(([, , has]) => has).map(([id, reason]) => [id, reason]));
}

/** Every IAM policy document under a construct (its role's policies, or itself), resolved. */
function documentsUnder(stack: cdk.Stack, scope: Construct): PolicyJson[] {
  return scope.node
    .findAll()
    .flatMap((c) => (c instanceof iam.Policy || c instanceof iam.ManagedPolicy ? [c.document] : []))
    .map((d) => stack.resolve(d.toJSON()) as PolicyJson);
}

/** Those documents as one JSON text, to look for a grant in. */
const grantsUnder = (stack: cdk.Stack, scope: Construct): string =>
  JSON.stringify(documentsUnder(stack, scope));

/** The actions that support no resource-level permissions, which may be granted on `*` (and nothing else may). */
const UNSCOPED_ACTIONS = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'ssm:GetCommandInvocation',
  'ssm:ListCommandInvocations',
  'ssm:CancelCommand',
]);

type PolicyJson = { Statement: { Action: string | string[]; Resource: unknown }[] };

/** Do the documents grant `*` at all, and only for actions that have no resource-level permissions? */
function onlyUnscopedActions(documents: PolicyJson[]): boolean {
  const onStar = documents.flatMap((doc) => doc.Statement).filter((st) => st.Resource === '*');
  const actions = onStar.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
  return actions.length > 0 && actions.every((a) => UNSCOPED_ACTIONS.has(a));
}
