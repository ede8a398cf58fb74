import * as cdk from 'aws-cdk-lib';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';

/** ARNs the stack's policies name that no construct of the stack exposes. */

/** The ARN of an SSM parameter, by name (with or without its leading slash). */
export function parameterArn(stack: cdk.Stack, name: string): string {
  return `arn:${stack.partition}:ssm:${stack.region}:${stack.account}:parameter/${name.replace(/^\//, '')}`;
}

/** A Secrets Manager secret's ARNs: its name plus the 6-character suffix Secrets Manager appends. */
export function secretArn(stack: cdk.Stack, name: string): string {
  return `arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:${name}-??????`;
}

/** `arn:...:execution:<state machine name>:*`, the executions of one state machine. */
export function executionArnsOf(stack: cdk.Stack, machine: sfn.StateMachine): string {
  return stack.formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${machine.stateMachineName}:*`,
    arnFormat: cdk.ArnFormat.COLON_RESOURCE_NAME,
  });
}
