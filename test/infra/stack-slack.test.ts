import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_ENV } from '../../config/env.ts';
import {
  SLACK_RESERVED_CONCURRENCY,
  SLACK_WORKER_RESERVED_CONCURRENCY,
} from '../../infra/constructs/slack-front-door.ts';
import {
  actionsOf,
  config,
  functionId,
  type Statement,
  SYNTH_TIMEOUT_MS,
  statementsOfFunction,
  synthesize,
} from './stack-fixture.ts';

/**
 * The Slack front door's two roles: the function behind the public URL can read the Slack secrets, start a
 * switchover and invoke the worker, nothing else; the worker, which no URL reaches, reads the clusters.
 */

let template: Template;
let front: { statements: Statement[]; managedPolicyArns: unknown[] };
let worker: { statements: Statement[]; managedPolicyArns: unknown[] };

beforeAll(() => {
  ({ template } = synthesize({ bundle: false }));
  front = statementsOfFunction(template, 'Slack');
  worker = statementsOfFunction(template, 'SlackWorker');
}, SYNTH_TIMEOUT_MS);

const actions = (statements: Statement[]) => statements.flatMap(actionsOf).sort();
const resourcesOf = (statements: Statement[], action: string) =>
  JSON.stringify(statements.filter((s) => actionsOf(s).includes(action)).map((s) => s.Resource));
/** The properties of a Lambda function the tests read. */
interface FunctionProps {
  VpcConfig?: { SubnetIds: string[] };
  FunctionName?: string;
  ReservedConcurrentExecutions?: number;
  Environment: { Variables: Record<string, unknown> };
}
const props = (name: string) =>
  (template.toJSON().Resources[functionId(template, name)] as { Properties: FunctionProps }).Properties;

describe('the Slack function behind the public URL', () => {
  it('may read the Slack secret and the config, start switchovers, invoke the worker and trace, nothing more', () => {
    expect([...new Set(actions(front.statements))].sort()).toEqual([
      'kms:Decrypt',
      'lambda:InvokeFunction',
      's3:GetObject',
      'secretsmanager:GetSecretValue',
      'states:StartExecution',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
  });

  it('reads only the Slack secret: no cluster secret, no SSM parameter, no state', () => {
    const secrets = resourcesOf(front.statements, 'secretsmanager:GetSecretValue');
    expect(secrets).toContain(':secret:ha-redis/slack-??????');
    expect(secrets).not.toMatch(/ha-redis\/(orders|sessions)/);
    expect(actions(front.statements).filter((a) => /^(ssm|dynamodb):/.test(a))).toEqual([]);
    // The stack key only to read the deployment config, through S3.
    const decrypt = front.statements.filter((s) => actionsOf(s).includes('kms:Decrypt'));
    expect(decrypt.map((s) => s.Sid)).toEqual(['DecryptDeploymentConfig']);
    expect(JSON.stringify(decrypt[0]?.Condition)).toContain('"kms:ViaService":"s3.eu-west-1.amazonaws.com"');
  });

  it('starts only the switchover state machine, and invokes only the worker', () => {
    expect(front.statements.find((s) => s.Sid === 'StartSwitchovers')?.Resource).toEqual({
      Ref: expect.stringMatching(/^Switchover[0-9A-F]{8}$/),
    });
    expect(resourcesOf(front.statements, 'lambda:InvokeFunction')).toBe(
      JSON.stringify([{ 'Fn::GetAtt': [functionId(template, 'SlackWorker'), 'Arn'] }]),
    );
  });

  it('runs outside the VPC, with its own reserved concurrency and the worker named in its environment', () => {
    const fn = props('Slack');
    expect(fn.VpcConfig).toBeUndefined();
    expect(JSON.stringify(front.managedPolicyArns)).not.toContain('AWSLambdaVPCAccessExecutionRole');
    expect(JSON.stringify(worker.managedPolicyArns)).toContain('AWSLambdaVPCAccessExecutionRole');
    expect(fn.FunctionName).toBe(`${config.name}-slack`);
    expect(fn.ReservedConcurrentExecutions).toBe(SLACK_RESERVED_CONCURRENCY);
    expect(fn.Environment.Variables[LAMBDA_ENV.slackWorkerFunction]).toEqual({
      Ref: functionId(template, 'SlackWorker'),
    });
  });
});

describe('the Slack worker', () => {
  it('has no Function URL and no permission for anyone but the front to invoke it', () => {
    const workerArn = { 'Fn::GetAtt': [functionId(template, 'SlackWorker'), 'Arn'] };
    template.resourcePropertiesCountIs('AWS::Lambda::Url', { TargetFunctionArn: workerArn }, 0);
    template.resourcePropertiesCountIs('AWS::Lambda::Permission', { FunctionName: workerArn }, 0);
    template.resourceCountIs('AWS::Lambda::Url', 1);
  });

  it('reads the clusters secrets and the state table, sets the maintenance mode, follows switchovers', () => {
    const names = new Set(actions(worker.statements));
    for (const a of [
      'ssm:GetParameter',
      'secretsmanager:GetSecretValue',
      'dynamodb:Query',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'states:DescribeExecution',
      'states:GetExecutionHistory',
    ]) {
      expect(names, a).toContain(a);
    }
    expect(resourcesOf(worker.statements, 'ssm:GetParameter')).toContain(
      ':parameter/ha-redis/orders/redis-password',
    );
    expect(resourcesOf(worker.statements, 'secretsmanager:GetSecretValue')).toContain(
      ':secret:ha-redis/sessions/redis-??????',
    );
    expect(resourcesOf(worker.statements, 'states:DescribeExecution')).toMatch(/:execution:/);
  });

  it('may not start, write beyond a put, act on hosts or DNS, read the Slack secret, or invoke a function', () => {
    const names = actions(worker.statements);
    for (const a of [
      'states:StartExecution',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'ssm:SendCommand',
      'route53:ChangeResourceRecordSets',
      'sns:Publish',
      'lambda:InvokeFunction',
    ]) {
      expect(names, a).not.toContain(a);
    }
    expect(resourcesOf(worker.statements, 'secretsmanager:GetSecretValue')).not.toContain('ha-redis/slack-');
  });

  it('runs in the VPC (it reaches the hosts), with reserved concurrency and no retry of its async tasks', () => {
    const fn = props('SlackWorker');
    expect(fn.VpcConfig?.SubnetIds).toEqual(config.network.subnetIds);
    expect(fn.ReservedConcurrentExecutions).toBe(SLACK_WORKER_RESERVED_CONCURRENCY);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId(template, 'SlackWorker') },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 300,
    });
    template.resourcePropertiesCountIs(
      'AWS::Lambda::EventInvokeConfig',
      { FunctionName: { Ref: functionId(template, 'Slack') } },
      0,
    );
  });
});
