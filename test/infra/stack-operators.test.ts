import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HaRedisStack } from '../../infra/stack.ts';
import {
  actionsOf,
  EXAMPLE,
  functionId,
  type Statement,
  SYNTH_TIMEOUT_MS,
  statementsOfFunction,
  synthesize,
} from './stack-fixture.ts';

/**
 * Per-cluster operators (config operators[]): the operator-start function behind an IAM-authenticated URL is the
 * only new way to start an execution, and ClusterOperatorPolicy grants calling it, not starting executions.
 */

let stack: HaRedisStack;
let template: Template;
let role: Statement[];
let policy: Statement[];

beforeAll(() => {
  const json = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
  json.operators = [
    { name: 'orders', principals: ['arn:aws:iam::123456789012:role/orders-oncall'], clusters: ['orders'] },
  ];
  const file = join(mkdtempSync(join(tmpdir(), 'ha-redis-operators-')), 'config.json');
  writeFileSync(file, JSON.stringify(json));
  ({ stack, template } = synthesize({ bundle: false, configFile: file }));
  role = statementsOfFunction(template, 'OperatorStart').statements;
  const [managed] = Object.values(
    template.findResources('AWS::IAM::ManagedPolicy', {
      Properties: { Description: Match.stringLikeRegexp('operators\\[\\] allow') },
    }),
  ) as { Properties: { PolicyDocument: { Statement: Statement[] } } }[];
  policy = managed?.Properties.PolicyDocument.Statement ?? [];
}, SYNTH_TIMEOUT_MS);

const fnArn = () => ({ 'Fn::GetAtt': [functionId(template, 'OperatorStart'), 'Arn'] });

describe('per-cluster operators', () => {
  it('serves operator-start from a Function URL with IAM auth, and lets nobody else invoke it', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM', TargetFunctionArn: fnArn() });
    template.resourcePropertiesCountIs('AWS::Lambda::Permission', { FunctionName: fnArn() }, 0);
    const fn = template.toJSON().Resources[functionId(template, 'OperatorStart')];
    expect(fn.Properties.VpcConfig).toBeUndefined();
  });

  it('lets only the operator-start role start executions of the two state machines, and read nothing', () => {
    // (and read the deployment config: its object, decrypted through S3)
    expect([...new Set(role.flatMap(actionsOf))].sort()).toEqual([
      'kms:Decrypt',
      's3:GetObject',
      'states:StartExecution',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    const start = role.find((s) => s.Sid === 'StartForOperators');
    expect(start?.Resource).toEqual([
      { Ref: expect.stringMatching(/^Switchover[0-9A-F]{8}$/) },
      { Ref: expect.stringMatching(/^Maintenance[0-9A-F]{8}$/) },
    ]);
  });

  it('grants the holder of ClusterOperatorPolicy the URL and following executions, never StartExecution', () => {
    const byAction = Object.fromEntries(policy.map((s) => [actionsOf(s).join(','), s]));
    expect(Object.keys(byAction).sort()).toEqual([
      'lambda:InvokeFunction',
      'lambda:InvokeFunctionUrl',
      'states:DescribeExecution,states:GetExecutionHistory',
    ]);
    expect(byAction['lambda:InvokeFunctionUrl']?.Resource).toEqual(fnArn());
    expect(byAction['lambda:InvokeFunctionUrl']?.Condition).toEqual({
      StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' },
    });
    expect(byAction['lambda:InvokeFunction']?.Resource).toEqual(fnArn());
    expect(byAction['lambda:InvokeFunction']?.Condition).toEqual({
      Bool: { 'lambda:InvokedViaFunctionUrl': 'true' },
    });
    expect(JSON.stringify(byAction['states:DescribeExecution,states:GetExecutionHistory']?.Resource)).toMatch(
      /:execution:.*:execution:/,
    );
  });

  it('outputs the URL and the policy, and passes cdk-nag', () => {
    template.hasOutput('OperatorStartUrl', {});
    template.hasOutput('ClusterOperatorPolicyArn', {});
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});
