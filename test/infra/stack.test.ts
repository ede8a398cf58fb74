// biome-ignore-all lint/suspicious/noExplicitAny: CloudFormation properties are untyped JSON
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as cdk from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_ENV } from '../../config/env.ts';
import { loadDeploymentConfig } from '../../config/load.ts';
import { METRICS } from '../../core/model/metrics.ts';
import {
  allowedTargets,
  BUNDLED_CONFIG_FILE,
  bridgePasswordParameter,
  CLUSTER_TAG_KEY,
  HaRedisStack,
  SWITCHOVER_STEP_TIMEOUT,
} from '../../infra/stack.ts';
import { SWITCHOVER_STATE_NAMES } from '../../infra/switchover-definition.ts';
import { loadEnvelope } from '../unit/helpers.ts';

const EXAMPLE = resolve('config/example.json');
const config = loadDeploymentConfig(EXAMPLE);

let stack: HaRedisStack;
let template: Template;

beforeAll(() => {
  // The Lambdas are really bundled (local esbuild, no Docker): this is what `make synth` does.
  const app = new cdk.App({ outdir: join(tmpdir(), `ha-redis-cdk-test-${process.pid}`) });
  stack = new HaRedisStack(app, 'HaRedisTest', {
    config,
    configFile: EXAMPLE,
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  template = Template.fromStack(stack);
}, 120_000);

/** Every IAM policy statement of the template, flattened (inline policies and managed policies). */
function statements(): { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  const policies = {
    ...template.findResources('AWS::IAM::Policy'),
    ...template.findResources('AWS::IAM::ManagedPolicy'),
  };
  return Object.values(policies).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: never[] } } }).Properties.PolicyDocument.Statement,
  );
}
const actionsOf = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('HaRedisStack resources', () => {
  it('has two encrypted topics that refuse plain HTTP, and a dead-letter queue on the Lambda subscription', () => {
    template.resourceCountIs('AWS::SNS::Topic', 2);
    template.allResourcesProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.resourcePropertiesCountIs(
      'AWS::SNS::TopicPolicy',
      {
        PolicyDocument: Match.objectLike({
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        }),
      },
      2,
    );
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      TopicArn: { Ref: Match.stringLikeRegexp('^SentinelEvents') },
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SentinelEventDlq'), 'Arn'] },
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: Match.anyValue(),
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
  });

  it('runs the Lambdas on Node 24, arm64, traced, in the configured subnets, with the environment wired', () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Runtime: 'nodejs24.x' },
    });
    expect(
      Object.keys(functions)
        .sort()
        .map((id) => id.replace(/[0-9A-F]{8}$/, '')),
    ).toEqual([
      'MaintenanceStep',
      'MaintenanceTrigger',
      'Notify',
      'Reconcile',
      'SentinelEvent',
      'Slack',
      'SwitchoverStep',
    ]);
    for (const [id, fn] of Object.entries(functions) as [string, { Properties: Record<string, any> }][]) {
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      if (id.startsWith('Notify')) {
        // It talks to Slack and webhooks only: no host of the clusters, so no VPC.
        expect(fn.Properties.VpcConfig).toBeUndefined();
      } else {
        expect(fn.Properties.VpcConfig.SubnetIds).toEqual(config.network.subnetIds);
        expect(fn.Properties.VpcConfig.SecurityGroupIds).toEqual([
          { 'Fn::GetAtt': [expect.stringMatching(/^LambdaSecurityGroup/), 'GroupId'] },
        ]);
      }
      expect(fn.Properties.Environment.Variables).toMatchObject({
        [LAMBDA_ENV.configFile]: BUNDLED_CONFIG_FILE,
        [LAMBDA_ENV.stateTable]: { Ref: expect.stringMatching(/^State/) },
        [LAMBDA_ENV.notifyTopicArn]: { Ref: expect.stringMatching(/^Notifications/) },
        [LAMBDA_ENV.documentPrefix]: config.name,
        POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
        POWERTOOLS_SERVICE_NAME: expect.stringMatching(/^ha-redis-/),
      });
    }
  });

  it('delivers notifications from the topic through the notify Lambda, with a dead-letter queue', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      TopicArn: { Ref: Match.stringLikeRegexp('^Notifications') },
      Endpoint: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Notify'), 'Arn'] },
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifyDlq'), 'Arn'] } },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifyDlq'), 'QueueName'] } },
      ],
    });
  });

  it('serves Slack from a Function URL (Slack signs every request; the handler verifies it)', () => {
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Slack'), 'Arn'] },
    });
    // Anyone may call the URL (Slack does), but nobody may invoke the function directly with a forged task.
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: '*',
      InvokedViaFunctionUrl: true,
      FunctionName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Slack'), 'Arn'] },
    });
    template.resourcePropertiesCountIs(
      'AWS::Lambda::Permission',
      { Principal: '*', InvokedViaFunctionUrl: Match.absent(), Action: 'lambda:InvokeFunction' },
      0,
    );
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: `${config.name}-slack`,
      Environment: {
        Variables: Match.objectLike({
          [LAMBDA_ENV.switchoverStateMachineArn]: { Ref: Match.stringLikeRegexp('^Switchover') },
        }),
      },
    });
  });

  it('retries asynchronous Sentinel events twice within 10 minutes (every step is idempotent)', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: Match.stringLikeRegexp('^SentinelEvent') },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 600,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SentinelEventDlq'), 'Arn'] } },
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: Match.stringLikeRegexp('^Notify') },
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifyDlq'), 'Arn'] } },
      },
    });
  });

  it('reconciles every minute through EventBridge Scheduler, without retries that would overlap the next run', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Reconcile'), 'Arn'] },
        RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }),
      }),
    });
  });

  it('schedules each configured maintenance in its time zone, naming the cluster, the schedule and the scheduled time', () => {
    const schedules = template.findResources('AWS::Scheduler::Schedule', {
      Properties: { ScheduleExpression: Match.stringLikeRegexp('^cron') },
    });
    const configured = config.clusters.flatMap((c) =>
      c.maintenance.schedules.map((s) => ({ cluster: c.name, ...s })),
    );
    expect(configured.length).toBeGreaterThan(0);
    expect(Object.keys(schedules)).toHaveLength(configured.length);
    for (const s of configured) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: `cron(${s.cron})`,
        ScheduleExpressionTimezone: s.timezone,
        State: 'ENABLED',
        Target: Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MaintenanceTrigger'), 'Arn'] },
          Input: JSON.stringify({
            cluster: s.cluster,
            schedule: s.name,
            scheduledTime: '<aws.scheduler.scheduled-time>',
          }),
        }),
      });
    }
  });

  it('lets the maintenance trigger start executions of the maintenance state machine only', () => {
    const start = statements().find((s) => s.Sid === 'StartMaintenance');
    expect(actionsOf(start ?? { Action: [] })).toEqual(['states:StartExecution']);
    expect(start?.Resource).toEqual({ Ref: expect.stringMatching(/^Maintenance[0-9A-F]{8}$/) });
  });

  it('bundles the validated config file into each Lambda', async () => {
    const assets = stack.node
      .findAll()
      .filter(
        (c): c is cdk.aws_lambda_nodejs.NodejsFunction => c instanceof cdk.aws_lambda_nodejs.NodejsFunction,
      );
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const fn of assets) {
      const code = (fn.node.defaultChild as cdk.aws_lambda.CfnFunction).code as { s3Key?: string };
      expect(code.s3Key).toMatch(/\.zip$/);
    }
    const assembly = stack.node.root as cdk.App;
    const outdir = assembly.outdir;
    const { readdir } = await import('node:fs/promises');
    const entries = (await readdir(outdir)).filter((e) => e.startsWith('asset.'));
    const copies = await Promise.all(
      entries.map((e) => readFile(join(outdir, e, BUNDLED_CONFIG_FILE), 'utf8').catch(() => undefined)),
    );
    const present = copies.filter((c): c is string => c !== undefined);
    expect(present.length).toBeGreaterThanOrEqual(2);
    for (const copy of present) expect(JSON.parse(copy)).toEqual(JSON.parse(await readFile(EXAMPLE, 'utf8')));
  });

  it('bundles a handler that starts on its own: it loads the bundled config and rejects an unknown cluster', async () => {
    // Arrange: the bundle of the Sentinel event Lambda, as Lambda would load it (no node_modules next to it).
    const fn = stack.sentinelEventFunction.node.defaultChild as cdk.aws_lambda.CfnFunction;
    const assetHash = ((fn.code as { s3Key?: string }).s3Key ?? '').replace(/\.zip$/, '');
    const taskRoot = join((stack.node.root as cdk.App).outdir, `asset.${assetHash}`);
    const env = {
      HA_REDIS_CONFIG_FILE: BUNDLED_CONFIG_FILE,
      LAMBDA_TASK_ROOT: taskRoot,
      HA_REDIS_STATE_TABLE: 'state',
      HA_REDIS_NOTIFY_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:notifications',
      HA_REDIS_SSM_DOCUMENT_PREFIX: 'ha-redis',
      AWS_REGION: 'eu-west-1',
      POWERTOOLS_DEV: 'true',
    };
    const envelope = { ...loadEnvelope('switch-master'), cluster: 'payments' };
    const event = { Records: [{ Sns: { Message: JSON.stringify(envelope) } }] };
    const script = `import(process.argv[1]).then(async (m) => {
      const out = await m.handler(JSON.parse(process.argv[2]), { functionName: 'f', awsRequestId: 'r' });
      process.stdout.write('RESULT ' + JSON.stringify(out));
    });`;

    // Act
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script, join(taskRoot, 'index.mjs'), JSON.stringify(event)],
      { cwd: tmpdir(), env: { PATH: process.env.PATH, ...env } },
    );

    // Assert
    const result = JSON.parse(stdout.slice(stdout.indexOf('RESULT ') + 7));
    expect(result).toEqual([
      { action: 'rejected', error: expect.stringContaining("unknown cluster 'payments'") },
    ]);
  });

  it('bundles every Lambda into a module that loads on its own and exports its handler', async () => {
    // Each bundle imported as Lambda would (no node_modules beside it): a missing require shim, a CommonJS
    // dependency that breaks under ESM, or a bad import fails here instead of at the first invocation.
    const script = `const results = {};
      for (const path of process.argv.slice(1)) {
        const m = await import(path);
        results[path] = typeof m.handler;
      }
      process.stdout.write('RESULT ' + JSON.stringify(results));`;
    const bundles = stack.functions().map((f) => {
      const code = (f.node.defaultChild as cdk.aws_lambda.CfnFunction).code as { s3Key?: string };
      const dir = join(
        (stack.node.root as cdk.App).outdir,
        `asset.${(code.s3Key ?? '').replace(/\.zip$/, '')}`,
      );
      return join(dir, 'index.mjs');
    });

    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script, ...bundles],
      { cwd: tmpdir(), env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', POWERTOOLS_DEV: 'true' } },
    );

    const results = JSON.parse(stdout.slice(stdout.indexOf('RESULT ') + 7)) as Record<string, string>;
    expect(Object.values(results)).toEqual(bundles.map(() => 'function'));
    expect(bundles).toHaveLength(7);
  });

  it('keeps state in an on-demand table with point-in-time recovery and encryption', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    });
  });

  it('logs every switchover and maintenance execution to CloudWatch and traces it with X-Ray', () => {
    template.resourcePropertiesCountIs(
      'AWS::StepFunctions::StateMachine',
      {
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
      },
      2,
    );
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
    });
  });

  /** The switchover state machine's definition, with every Lambda ARN token written "ARN". */
  const switchoverDefinition = () => {
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as {
      Properties: { DefinitionString: { 'Fn::Join': [string, unknown[]] } };
    }[];
    return JSON.parse(
      (machine?.Properties.DefinitionString['Fn::Join'][1] ?? [])
        .map((part) => (typeof part === 'string' ? part : '"ARN"'))
        .join('')
        .replaceAll('""ARN""', '"ARN"'),
    ) as { States: Record<string, { Type: string; TimeoutSeconds?: number; Catch?: unknown }> };
  };

  it('stops an overrunning switchover step (Lambda timeout) before its Task times out: no stale step acts after Recover', () => {
    const definition = switchoverDefinition();
    const taskTimeouts = Object.values(definition.States).flatMap((s) =>
      s.Type === 'Task' ? [s.TimeoutSeconds ?? Number.POSITIVE_INFINITY] : [],
    );
    const [stepFunction] = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Description: Match.stringLikeRegexp('planned switchover') },
      }),
    ) as { Properties: { Timeout: number; Environment: { Variables: Record<string, string> } } }[];

    expect(taskTimeouts).toHaveLength(Object.keys(SWITCHOVER_STATE_NAMES).length);
    expect(stepFunction?.Properties.Timeout).toBe(SWITCHOVER_STEP_TIMEOUT.toSeconds());
    expect(SWITCHOVER_STEP_TIMEOUT.toSeconds()).toBeLessThan(Math.min(...taskTimeouts));
    // An SSM command the step waits for gives up (with its own error) before the Lambda is stopped.
    const ssmDeadlineMs = Number(
      stepFunction?.Properties.Environment.Variables.HA_REDIS_NODE_OPS_DEADLINE_MS,
    );
    expect(ssmDeadlineMs).toBeLessThan(SWITCHOVER_STEP_TIMEOUT.toMilliseconds());
  });

  it('sends every failing step of the state machine to Recover, and a failed Plan to SwitchoverRefused', () => {
    const definition = switchoverDefinition();
    const catchOf = (state: string) =>
      definition.States[state]?.Catch as { ErrorEquals: string[]; Next: string }[];
    for (const state of Object.keys(SWITCHOVER_STATE_NAMES).filter((s) => !['Plan', 'Recover'].includes(s))) {
      expect(catchOf(state)).toEqual([
        expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'Recover' }),
      ]);
    }
    expect(catchOf('Plan')).toEqual([expect.objectContaining({ Next: 'SwitchoverRefused' })]);
    expect(catchOf('Recover')).toEqual([expect.objectContaining({ Next: 'SwitchoverFailed' })]);
  });

  it('creates the four SSM Command documents', () => {
    template.resourceCountIs('AWS::SSM::Document', 4);
    for (const name of ['update-haproxy', 'fence-node', 'install-bridge', 'maintenance-action']) {
      template.hasResourceProperties('AWS::SSM::Document', {
        DocumentType: 'Command',
        Name: `${config.name}-${name}`,
        Content: Match.objectLike({ schemaVersion: '2.2' }),
      });
    }
  });

  it('alarms to the notification topic: DLQ not empty, unconfirmed failover, switchover failed, Lambda errors', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as {
      Properties: Record<string, any>;
    }[];
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^Notifications/) }]);
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: METRICS.failoverUnconfirmed,
      Namespace: METRICS.namespace,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'failed + timedOut + aborted' })]),
    });
    template.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      { MetricName: 'Errors', Namespace: 'AWS/Lambda' },
      7,
    );
  });

  it('lets the Lambdas reach exactly the configured hosts and ports, plus HTTPS for AWS APIs', () => {
    const [group] = Object.values(template.findResources('AWS::EC2::SecurityGroup')) as {
      Properties: { SecurityGroupEgress: { CidrIp: string; FromPort: number; ToPort: number }[] };
    }[];
    const egress = (group?.Properties.SecurityGroupEgress ?? []).map(
      (r) => `${r.CidrIp}:${r.FromPort}-${r.ToPort}`,
    );
    const expected = allowedTargets(config).map((t) => `${t.host}/32:${t.port}-${t.port}`);
    expect(egress.sort()).toEqual([...expected, '0.0.0.0/0:443-443'].sort());
    expect(expected).toContain('10.0.1.21/32:9999-9999'); // a Runtime API over TLS
    template.resourcePropertiesCountIs('AWS::EC2::SecurityGroupIngress', {}, 0);
  });
});

describe('HaRedisStack IAM', () => {
  it('sends only our SSM documents, and only to instances tagged with a configured cluster', () => {
    const send = statements().filter((s) => actionsOf(s).includes('ssm:SendCommand'));
    const resources = send.flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
    expect(JSON.stringify(resources)).not.toContain('"*"');
    const documents = send.find((s) => s.Sid === 'SendOurDocuments');
    expect(JSON.stringify(documents?.Resource)).toContain(`:document/${config.name}-update-haproxy`);
    expect(JSON.stringify(documents?.Resource)).toContain(`:document/${config.name}-fence-node`);
    const instances = send.find((s) => s.Sid === 'SendToClusterInstances');
    expect(instances?.Condition).toEqual({
      StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG_KEY}`]: ['orders', 'sessions'] },
    });
    expect(JSON.stringify(instances?.Resource)).toMatch(/:instance\/\*/);
  });

  it('changes Route53 only in the configured zone, only the master records, only by UPSERT of A and TXT', () => {
    const change = statements().find((s) => actionsOf(s).includes('route53:ChangeResourceRecordSets'));
    expect(change?.Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':route53:::hostedzone/Z0123456789ABCDEFGHIJ']],
    });
    expect(change?.Condition).toEqual({
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': [
          'orders-master.redis.internal.example.com',
          'sessions-master.redis.internal.example.com',
        ],
        'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'TXT'],
        'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
      },
    });
  });

  it('starts executions only of the switchover and maintenance state machines', () => {
    const start = statements().filter((s) => actionsOf(s).includes('states:StartExecution'));
    expect(start.length).toBeGreaterThanOrEqual(3);
    for (const s of start) {
      const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      for (const r of resources) {
        expect(r).toEqual({ Ref: expect.stringMatching(/^(Switchover|Maintenance)[0-9A-F]{8}$/) });
      }
    }
  });

  it('touches DynamoDB only on the state table', () => {
    const dynamo = statements().filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo.length).toBeGreaterThanOrEqual(2);
    for (const s of dynamo) {
      const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      for (const r of resources) expect(JSON.stringify(r)).toMatch(/"State[0-9A-F]{8}"/);
    }
  });

  it('reads exactly the secrets the config names', () => {
    const ssm = statements().find((s) => s.Sid === 'ReadSecretParameters');
    const sm = statements().find((s) => s.Sid === 'ReadSecrets');
    expect(actionsOf(ssm ?? { Action: [] })).toEqual(['ssm:GetParameter']);
    expect(JSON.stringify(ssm?.Resource)).toContain(':parameter/ha-redis/orders/redis-password');
    expect(JSON.stringify(ssm?.Resource)).toContain(':parameter/ha-redis/orders/tls-ca');
    expect(JSON.stringify(sm?.Resource)).toContain(':secret:ha-redis/sessions/redis-??????');
    expect(JSON.stringify(sm?.Resource)).toContain(':secret:ha-redis/orders/haproxy-api-client-??????');
  });

  it('lets Sentinel hosts fetch the bridge bundle, read their Sentinel password and publish, nothing more', () => {
    const [policy] = Object.values(
      template.findResources('AWS::IAM::ManagedPolicy', {
        Properties: { Description: Match.stringLikeRegexp('instance role of Sentinel hosts') },
      }),
    ) as {
      Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } };
    }[];
    const byAction = Object.fromEntries(
      (policy?.Properties.PolicyDocument.Statement ?? []).map((s) => [
        actionsOf(s).join(','),
        JSON.stringify(s.Resource),
      ]),
    );
    expect(Object.keys(byAction).sort()).toEqual([
      'kms:GenerateDataKey*,kms:Decrypt',
      's3:GetObject',
      'secretsmanager:GetSecretValue',
      'sns:Publish',
      'ssm:GetParameter',
    ]);
    expect(byAction['sns:Publish']).toMatch(/"Ref":"SentinelEvents/);
    expect(byAction['s3:GetObject']).toMatch(/\.mjs"/);
    expect(byAction['ssm:GetParameter']).toContain(':parameter/ha-redis/orders/sentinel-password');
    expect(byAction['ssm:GetParameter']).toContain(
      ':parameter/aws/reference/secretsmanager/ha-redis/sessions/sentinel-password',
    );
    expect(byAction['secretsmanager:GetSecretValue']).toContain(
      ':secret:ha-redis/sessions/sentinel-password-??????',
    );
  });

  it('refuses a Sentinel password the bridge cannot read through SSM (a JSON key)', () => {
    expect(bridgePasswordParameter({ ssmParameter: '/a/b' })).toBe('/a/b');
    expect(bridgePasswordParameter({ secretsManager: 'a/b' })).toBe('/aws/reference/secretsmanager/a/b');
    expect(() => bridgePasswordParameter({ secretsManager: 'a/b', jsonKey: 'pw' })).toThrow(
      'the Sentinel password a/b is a JSON key (pw): the event bridge reads it through SSM',
    );
  });

  it('lets the Slack Lambda start and follow switchovers, invoke itself, and read the Slack secrets', () => {
    const bySid = Object.fromEntries(
      statements()
        .filter((s) => s.Sid)
        .map((s) => [s.Sid, s]),
    );
    expect(bySid.StartSwitchovers?.Resource).toEqual({
      Ref: expect.stringMatching(/^Switchover[0-9A-F]{8}$/),
    });
    expect(JSON.stringify(bySid.FollowSwitchovers?.Resource)).toMatch(/:execution:/);
    expect(actionsOf(bySid.DeferWorkToItself ?? { Action: [] })).toEqual(['lambda:InvokeFunction']);
    expect(JSON.stringify(bySid.DeferWorkToItself?.Resource)).toContain(`:function:${config.name}-slack`);
    const secrets = statements()
      .filter((s) => s.Sid === 'ReadSecrets')
      .map((s) => JSON.stringify(s.Resource));
    expect(secrets.some((r) => r.includes(':secret:ha-redis/slack-??????'))).toBe(true);
  });

  it('grants no action "*" anywhere', () => {
    for (const s of statements()) expect(actionsOf(s)).not.toContain('*');
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged finding, and every acknowledgement carries a reason', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
    const findings = report.violations.map(
      (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`,
    );
    expect(findings).toEqual([]);
    const acknowledgements = stack.node
      .findAll()
      .flatMap((c) =>
        c.node.metadata.filter((m) => m.type === cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY),
      )
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledgements) expect(reason.length, id).toBeGreaterThan(30);
  });
});

describe('the CDK app', () => {
  it('fails synth with the invalid field named, and builds nothing', async () => {
    // Arrange
    const dir = await mkdtemp(join(tmpdir(), 'ha-redis-synth-'));
    const bad = JSON.parse(await readFile(EXAMPLE, 'utf8'));
    bad.clusters[0].dns.hostedZoneId = 'my-zone';
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify(bad));

    // Act
    const run = promisify(execFile)(process.execPath, ['infra/app.ts'], {
      env: { ...process.env, HA_REDIS_CONFIG: file, CDK_OUTDIR: join(dir, 'out') },
    });

    // Assert
    await expect(run).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('clusters[0].dns.hostedZoneId: a Route53 hosted zone id'),
    });
    await expect(readFile(join(dir, 'out', 'manifest.json'))).rejects.toThrow(/ENOENT/);
    await rm(dir, { recursive: true, force: true });
  });
});
