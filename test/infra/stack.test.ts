// biome-ignore-all lint/suspicious/noExplicitAny: CloudFormation properties are untyped JSON
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DOCUMENT_PARAMETERS } from '../../adapters/node-ops/operations.ts';
import { LAMBDA_ENV } from '../../config/env.ts';
import { METRICS } from '../../core/model/metrics.ts';
import { SUBSCRIBED_EVENT_TYPES } from '../../infra/constructs/event-ingest.ts';
import {
  MAINTENANCE_STATE_NAMES,
  MAINTENANCE_STEP_TIMEOUT_SECONDS,
} from '../../infra/maintenance-definition.ts';
import { allowedTargets, CONFIG_OBJECT_KEY, SWITCHOVER_STEP_TIMEOUT } from '../../infra/stack.ts';
import { SWITCHOVER_STATE_NAMES } from '../../infra/switchover-definition.ts';
import { actionsOf, config, EXAMPLE, SYNTH_TIMEOUT_MS, statementsOf, synthesize } from './stack-fixture.ts';

/** The stack's resources: topics, Lambdas, schedules, the table, the state machines, documents, alarms, network. */

let template: Template;

beforeAll(() => {
  // The resources do not depend on the Lambda bundles (stack-bundles.test.ts builds and loads those).
  ({ template } = synthesize({ bundle: false }));
}, SYNTH_TIMEOUT_MS);

const statements = () => statementsOf(template);

describe('HaRedisStack resources', () => {
  it('has three encrypted topics (Sentinel events, notifications, alarms) that refuse plain HTTP, and a dead-letter queue on the Lambda subscription', () => {
    template.resourceCountIs('AWS::SNS::Topic', 3);
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
      3,
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
      'DnsWriter',
      'MaintenanceStep',
      'MaintenanceTrigger',
      'Notify',
      'Reconcile',
      'RoutingPersist',
      'SentinelEvent',
      'Slack',
      'SlackWorker',
      'SwitchoverStep',
    ]);
    for (const [id, fn] of Object.entries(functions) as [string, { Properties: Record<string, any> }][]) {
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      if (
        id.startsWith('Notify') ||
        id.startsWith('DnsWriter') ||
        id.startsWith('RoutingPersist') ||
        /^Slack[0-9A-F]{8}$/.test(id)
      ) {
        // They talk to AWS, Slack and webhooks only: no host of the clusters, so no VPC.
        expect(fn.Properties.VpcConfig).toBeUndefined();
      } else {
        expect(fn.Properties.VpcConfig.SubnetIds).toEqual(config.network.subnetIds);
        expect(fn.Properties.VpcConfig.SecurityGroupIds).toEqual([
          { 'Fn::GetAtt': [expect.stringMatching(/^LambdaSecurityGroup/), 'GroupId'] },
        ]);
      }
      expect(fn.Properties.Environment.Variables).toMatchObject({
        [LAMBDA_ENV.configBucket]: { Ref: expect.stringMatching(/^ConfigBucket/) },
        [LAMBDA_ENV.configKey]: CONFIG_OBJECT_KEY,
        [LAMBDA_ENV.stateTable]: { Ref: expect.stringMatching(/^State/) },
        [LAMBDA_ENV.notifyTopicArn]: { Ref: expect.stringMatching(/^Notifications/) },
        [LAMBDA_ENV.documentPrefix]: config.name,
        [LAMBDA_ENV.dnsQueueUrl]: { Ref: expect.stringMatching(/^DnsWrites/) },
        [LAMBDA_ENV.routingQueueUrl]: { Ref: expect.stringMatching(/^RoutingPersists/) },
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

  it("lets only the events the core acts on, and the node agents' events, reach the event Lambda", () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      TopicArn: { Ref: Match.stringLikeRegexp('^SentinelEvents') },
      FilterPolicy: { eventType: SUBSCRIBED_EVENT_TYPES },
    });
    expect(SUBSCRIBED_EVENT_TYPES).toEqual(
      expect.arrayContaining([
        '+failover-state-wait-promotion',
        '+switch-master',
        '+vote-for-leader',
        'node-exited',
      ]),
    );
    expect(SUBSCRIBED_EVENT_TYPES).not.toContain('+sdown');
    expect(new Set(SUBSCRIBED_EVENT_TYPES).size).toBe(SUBSCRIBED_EVENT_TYPES.length);
  });

  it('keeps one environment of the event Lambda warm on a live alias, which the topic invokes with the same retries', () => {
    const aliases = template.findResources('AWS::Lambda::Alias');
    expect(Object.values(aliases).map((a: any) => a.Properties)).toEqual([
      expect.objectContaining({
        Name: 'live',
        FunctionName: { Ref: expect.stringMatching(/^SentinelEvent/) },
        FunctionVersion: { 'Fn::GetAtt': [expect.stringMatching(/^SentinelEventCurrentVersion/), 'Version'] },
        ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 1 },
      }),
    ]);
    const [aliasId] = Object.keys(aliases);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      TopicArn: { Ref: Match.stringLikeRegexp('^SentinelEvents') },
      Endpoint: { Ref: aliasId },
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'sns.amazonaws.com',
      FunctionName: { Ref: aliasId },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: Match.stringLikeRegexp('^SentinelEvent') },
      Qualifier: { 'Fn::Select': [7, { 'Fn::Split': [':', { Ref: aliasId }] }] },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 600,
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SentinelEventDlq'), 'Arn'] } },
      },
    });
  });

  it(
    'subscribes the function itself when no provisioned concurrency is configured',
    () => {
      // Arrange
      const file = join(mkdtempSync(join(tmpdir(), 'ha-redis-config-')), 'config.json');
      const raw = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
      writeFileSync(file, JSON.stringify({ ...raw, sentinelEvent: { provisionedConcurrency: 0 } }));

      // Act
      const { template: cold } = synthesize({ bundle: false, configFile: file });

      // Assert
      cold.resourceCountIs('AWS::Lambda::Alias', 0);
      cold.hasResourceProperties('AWS::SNS::Subscription', {
        TopicArn: { Ref: Match.stringLikeRegexp('^SentinelEvents') },
        Endpoint: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SentinelEvent'), 'Arn'] },
      });
    },
    SYNTH_TIMEOUT_MS,
  );

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
    // Their log groups are under /aws/vendedlogs/, named per stack.
    for (const workflow of ['Switchover', 'Maintenance']) {
      template.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: Match.stringLikeRegexp(`^/aws/vendedlogs/states/.+-${workflow}$`),
      });
    }
  });

  /** A state machine's definition (by logical id prefix), with every Lambda ARN token written "ARN". */
  const definitionOf = (id: 'Switchover' | 'Maintenance') => {
    const [machine] = Object.entries(template.findResources('AWS::StepFunctions::StateMachine')).flatMap(
      ([logicalId, resource]) => (logicalId.startsWith(id) ? [resource] : []),
    ) as {
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
    const definition = definitionOf('Switchover');
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
      stepFunction?.Properties.Environment.Variables[LAMBDA_ENV.nodeOpsDeadlineMs],
    );
    expect(ssmDeadlineMs).toBeLessThan(SWITCHOVER_STEP_TIMEOUT.toMilliseconds());
  });

  it('stops an overrunning maintenance step (Lambda timeout) before its Task times out: no step acts after Recover', () => {
    const definition = definitionOf('Maintenance');
    const taskTimeouts = Object.values(definition.States).flatMap((s) =>
      s.Type === 'Task' ? [s.TimeoutSeconds ?? Number.POSITIVE_INFINITY] : [],
    );
    const [stepFunction] = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Description: Match.stringLikeRegexp('rolling maintenance') },
      }),
    ) as { Properties: { Timeout: number; Environment: { Variables: Record<string, string> } } }[];

    expect(taskTimeouts).toHaveLength(Object.keys(MAINTENANCE_STATE_NAMES).length);
    expect(stepFunction?.Properties.Timeout).toBe(MAINTENANCE_STEP_TIMEOUT_SECONDS);
    expect(MAINTENANCE_STEP_TIMEOUT_SECONDS).toBeLessThan(Math.min(...taskTimeouts));
    // Act's SSM command (a restart, a package upgrade) gives up with its own error before the Lambda is stopped.
    const ssmDeadlineMs = Number(
      stepFunction?.Properties.Environment.Variables[LAMBDA_ENV.nodeOpsDeadlineMs],
    );
    expect(ssmDeadlineMs).toBeLessThan(MAINTENANCE_STEP_TIMEOUT_SECONDS * 1000);
  });

  it('sends every failing step of the state machine to Recover, and a failed Plan to SwitchoverRefused', () => {
    const definition = definitionOf('Switchover');
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

  it('creates the SSM Command documents, one per DOCUMENT_PARAMETERS entry', () => {
    const names = Object.keys(DOCUMENT_PARAMETERS);
    expect(names).toEqual(
      expect.arrayContaining([
        'update-haproxy',
        'fence-node',
        'release-node',
        'install-bridge',
        'install-agent',
      ]),
    );
    template.resourceCountIs('AWS::SSM::Document', names.length);
    for (const name of names) {
      template.hasResourceProperties('AWS::SSM::Document', {
        DocumentType: 'Command',
        Name: `${config.name}-${name}`,
        Content: Match.objectLike({ schemaVersion: '2.2' }),
      });
    }
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
