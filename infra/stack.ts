import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as cdk from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { LAMBDA_ENV } from '../config/env.ts';
import type { DeploymentConfig, SecretRef } from '../config/schema.ts';
import { ConfigurationError } from '../core/model/errors.ts';
import { METRICS } from '../core/model/metrics.ts';
import { bundleBridgeSync } from '../events/bridge/bundle.ts';
import { maintenanceDefinition } from './maintenance-definition.ts';
import { SsmCommandDocuments } from './ssm/documents.ts';
import { switchoverDefinition } from './switchover-definition.ts';

/** The tag every Redis, Sentinel and HAProxy instance carries, with its cluster's name: SSM commands are scoped to it. */
export const CLUSTER_TAG_KEY = 'ha-redis:cluster';

/** The config file's name inside each Lambda bundle (the Lambdas read and validate it at cold start). */
export const BUNDLED_CONFIG_FILE = 'ha-redis.config.json';

/** The switchover step Lambda's timeout: below every Task timeout of the switchover state machine (see below). */
export const SWITCHOVER_STEP_TIMEOUT = cdk.Duration.seconds(25);

export interface HaRedisStackProps extends cdk.StackProps {
  config: DeploymentConfig;
  /** The config file as the user wrote it: copied into each Lambda bundle. */
  configFile: string;
}

const ROOT = resolve(import.meta.dirname, '..');

/** Lambda retry policy for asynchronous invocations: every step is idempotent (epoch claims), so retries are safe. */
const ASYNC_RETRY = {
  /** Two retries cover a throttled or crashed container; the 5-s reconcile covers the rest. */
  retryAttempts: 2,
  /** An event older than this describes a world that has moved on; the reconcile acts on the present one. */
  maxEventAge: cdk.Duration.minutes(10),
};

/**
 * ha-redis in one AWS account: the Sentinel event topic and its Lambda, the switchover state machine, the state
 * table, the SSM documents, alarms and least-privilege IAM. Everything comes from the validated config: no lookups.
 */
export class HaRedisStack extends cdk.Stack {
  readonly sentinelEventsTopic: sns.Topic;
  readonly notificationsTopic: sns.Topic;
  readonly table: dynamodb.Table;
  readonly sentinelEventFunction: nodejs.NodejsFunction;
  readonly switchoverStepFunction: nodejs.NodejsFunction;
  readonly reconcileFunction: nodejs.NodejsFunction;
  readonly notifyFunction: nodejs.NodejsFunction;
  readonly slackFunction?: nodejs.NodejsFunction;
  readonly switchoverStateMachine: sfn.StateMachine;
  readonly maintenanceStepFunction: nodejs.NodejsFunction;
  readonly maintenanceTriggerFunction: nodejs.NodejsFunction;
  readonly maintenanceStateMachine: sfn.StateMachine;
  readonly securityGroup: ec2.SecurityGroup;
  readonly documents: SsmCommandDocuments;

  constructor(scope: Construct, id: string, props: HaRedisStackProps) {
    super(scope, id, props);
    const { config } = props;
    const clusterNames = config.clusters.map((c) => c.name);
    /** The secrets of the clusters' components (passwords, CA, Runtime API client certificates). */
    const clusterSecrets: SecretRef[] = config.clusters.flatMap((c) =>
      Object.values(c.secrets).filter((r) => r !== undefined),
    );

    // --- Encryption: one key for topics, queues and logs; services that publish to the topics may use it.
    const key = new kms.Key(this, 'Key', {
      description: `${config.name}: SNS topics, dead-letter queues and logs`,
      enableKeyRotation: true,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });
    for (const service of ['cloudwatch.amazonaws.com', 'sns.amazonaws.com']) {
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [new iam.ServicePrincipal(service)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
        }),
      );
    }
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${this.partition}:logs:${this.region}:${this.account}:*`,
          },
        },
      }),
    );

    // --- Topics and dead letters
    this.sentinelEventsTopic = new sns.Topic(this, 'SentinelEvents', {
      displayName: `${config.name} Sentinel events`,
      masterKey: key,
      enforceSSL: true,
    });
    this.notificationsTopic = new sns.Topic(this, 'Notifications', {
      displayName: `${config.name} notifications`,
      masterKey: key,
      enforceSSL: true,
    });
    const sentinelEventDlq = this.deadLetterQueue('SentinelEventDlq', key);

    // --- State and history
    this.table = new dynamodb.Table(this, 'State', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // Leader votes expire after a day (the state store sets it); nothing else carries the attribute.
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });

    // --- Network: the Lambdas sit in the Redis hosts' VPC and may reach exactly the configured hosts and ports.
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: config.network.vpcId,
      availabilityZones: config.network.availabilityZones,
      privateSubnetIds: config.network.subnetIds,
    });
    cdk.Validations.of(vpc).acknowledge({
      id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
      reason:
        'The subnets come by id from the config; the stack places Lambdas in them and never reads their route tables',
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'LambdaSecurityGroup', {
      vpc,
      description: `${config.name} Lambdas: Redis, Sentinel and HAProxy ports of the configured hosts, and HTTPS to AWS APIs`,
      allowAllOutbound: false,
    });
    for (const { host, port, what } of allowedTargets(config)) {
      this.securityGroup.addEgressRule(ec2.Peer.ipv4(`${host}/32`), ec2.Port.tcp(port), what);
    }
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'AWS APIs (DynamoDB, SNS, SSM, Route53, Secrets Manager) through VPC endpoints or NAT',
    );

    // --- SSM documents, run on the hosts by NodeOps
    this.documents = new SsmCommandDocuments(this, 'Documents', { prefix: config.name });

    // --- Lambdas
    const environment = {
      [LAMBDA_ENV.configFile]: BUNDLED_CONFIG_FILE,
      [LAMBDA_ENV.stateTable]: this.table.tableName,
      [LAMBDA_ENV.notifyTopicArn]: this.notificationsTopic.topicArn,
      [LAMBDA_ENV.documentPrefix]: config.name,
      POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
    };
    const fn = (
      name: string,
      entry: string,
      timeout: cdk.Duration,
      description: string,
      extra: { environment?: Record<string, string>; inVpc?: boolean; functionName?: string } = {},
    ) =>
      this.lambdaFunction(name, {
        entry,
        timeout,
        description,
        environment: { ...environment, ...extra.environment },
        ...(extra.inVpc === false ? {} : { vpc }),
        ...(extra.functionName ? { functionName: extra.functionName } : {}),
        key,
        configFile: props.configFile,
      });

    this.sentinelEventFunction = fn(
      'sentinel-event',
      'functions/sentinel-event/handler.ts',
      // Confirmation waits up to 20 s for a majority; reroute, fence, DNS and verify take a few more.
      cdk.Duration.seconds(60),
      'Confirms a Sentinel failover and reroutes, fences, updates DNS, verifies, records and notifies',
    );
    // After its retries, a failed invocation lands in the same dead-letter queue as an SNS delivery failure.
    this.sentinelEventFunction.configureAsyncInvoke({
      ...ASYNC_RETRY,
      onFailure: new destinations.SqsDestination(sentinelEventDlq),
    });
    this.sentinelEventsTopic.addSubscription(
      new subscriptions.LambdaSubscription(this.sentinelEventFunction, { deadLetterQueue: sentinelEventDlq }),
    );

    this.switchoverStepFunction = fn(
      'switchover-step',
      'functions/switchover-step/handler.ts',
      // Below every Task timeout of the state machine (30 s and more): a step that overruns is stopped by
      // Lambda, its environment reset, before Step Functions hands the execution to Recover. A Task timeout
      // that fired first would leave the step running, free to promote or reroute after Recover unblocked
      // writes. The longest step, Prepare, waits up to 15 s for the Sentinels.
      SWITCHOVER_STEP_TIMEOUT,
      'One step of the planned switchover state machine',
      // An SSM command (persisting the fence and the routing) gives up with a clear error inside the timeout.
      { environment: { [LAMBDA_ENV.nodeOpsDeadlineMs]: '20000' } },
    );

    this.reconcileFunction = fn(
      'reconcile',
      'functions/reconcile/handler.ts',
      // Under the 1-minute schedule, so two runs do not overlap in the normal case (overlap is still safe).
      cdk.Duration.seconds(50),
      'Every minute: act on a failover no event reported, fence pending nodes, repair blocked proxies',
    );
    this.reconcileFunction.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: cdk.Duration.minutes(1) });
    new scheduler.Schedule(this, 'ReconcileSchedule', {
      description: `${config.name}: the safety net behind the Sentinel events, every minute`,
      schedule: scheduler.ScheduleExpression.rate(cdk.Duration.minutes(1)),
      // The next run is a minute away: a retried run would only overlap it.
      target: new schedulerTargets.LambdaInvoke(this.reconcileFunction, {
        input: scheduler.ScheduleTargetInput.fromObject({}),
        retryAttempts: 0,
      }),
    });

    // --- The switchover state machine (definition shared with the local runtime)
    /** A Standard state machine, logged (ALL) to its own encrypted log group and traced with X-Ray. */
    const stateMachine = (
      id: string,
      define: (scope: Construct, step: lambda.IFunction) => sfn.IChainable,
      step: lambda.IFunction,
      timeout: cdk.Duration,
    ) =>
      new sfn.StateMachine(this, id, {
        stateMachineType: sfn.StateMachineType.STANDARD,
        // The states live in their own scope: their names (Plan, Recover, ...) are the construct ids.
        definitionBody: sfn.DefinitionBody.fromChainable(define(new Construct(this, `${id}States`), step)),
        timeout,
        tracingEnabled: true,
        logs: {
          destination: new logs.LogGroup(this, `${id}Logs`, {
            retention: logs.RetentionDays.THREE_MONTHS,
            encryptionKey: key,
          }),
          level: sfn.LogLevel.ALL,
          includeExecutionData: true,
        },
      });
    this.switchoverStateMachine = stateMachine(
      'Switchover',
      switchoverDefinition,
      this.switchoverStepFunction,
      cdk.Duration.minutes(10),
    );

    // --- Rolling maintenance: its state machine, its step function, and the schedules that start it
    this.maintenanceStepFunction = fn(
      'maintenance-step',
      'functions/maintenance-step/handler.ts',
      // Above the longest Task (Act: 300 s, a reboot waits until the node stops answering); a whole
      // switchover inside one step (prepare waits ~15 s for the Sentinels) fits well inside.
      cdk.Duration.seconds(330),
      'One step of the rolling maintenance state machine',
      // A restart or a package upgrade through SSM may take minutes: wait for it within the Act task.
      { environment: { [LAMBDA_ENV.nodeOpsDeadlineMs]: '280000' } },
    );
    this.maintenanceStateMachine = stateMachine(
      'Maintenance',
      maintenanceDefinition,
      this.maintenanceStepFunction,
      // A reboot of each of 3 hosts, with catch-up, and two switchovers.
      cdk.Duration.hours(2),
    );
    this.maintenanceTriggerFunction = fn(
      'maintenance-trigger',
      'functions/maintenance-trigger/handler.ts',
      cdk.Duration.seconds(30),
      'Starts a scheduled maintenance run, or skips it in a freeze window or in maintenance mode',
      {
        environment: {
          [LAMBDA_ENV.maintenanceStateMachineArn]: this.maintenanceStateMachine.stateMachineArn,
        },
      },
    );
    this.maintenanceTriggerFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StartMaintenance',
        actions: ['states:StartExecution'],
        resources: [this.maintenanceStateMachine.stateMachineArn],
      }),
    );
    for (const cluster of config.clusters) {
      for (const schedule of cluster.maintenance.schedules) {
        new scheduler.Schedule(this, `Maintenance-${cluster.name}-${schedule.name}`, {
          description: `${config.name}: ${schedule.action} of ${cluster.name} (${schedule.name})`,
          schedule: scheduler.ScheduleExpression.expression(
            `cron(${schedule.cron})`,
            cdk.TimeZone.of(schedule.timezone),
          ),
          target: new schedulerTargets.LambdaInvoke(this.maintenanceTriggerFunction, {
            // The scheduled time names the execution: a retried invocation starts nothing new.
            input: scheduler.ScheduleTargetInput.fromObject({
              cluster: cluster.name,
              schedule: schedule.name,
              scheduledTime: scheduler.ContextAttribute.scheduledTime,
            }),
            retryAttempts: 3,
          }),
        });
      }
    }

    // --- Notifications: every outcome and alarm on the topic, formatted and delivered to Slack / webhooks
    const notifyDlq = this.deadLetterQueue('NotifyDlq', key);
    this.notifyFunction = fn(
      'notify',
      'functions/notify/handler.ts',
      // Retries with backoff to each target fit well inside; a delivery that still fails goes to the DLQ.
      cdk.Duration.seconds(60),
      'Formats outcomes and alarms from the notification topic and delivers them to Slack and webhooks',
      { inVpc: false },
    );
    this.notifyFunction.configureAsyncInvoke({
      ...ASYNC_RETRY,
      onFailure: new destinations.SqsDestination(notifyDlq),
    });
    this.notificationsTopic.addSubscription(
      new subscriptions.LambdaSubscription(this.notifyFunction, { deadLetterQueue: notifyDlq }),
    );
    this.grantSecrets(this.notifyFunction, [
      ...(config.slack ? [config.slack.botToken] : []),
      ...config.clusters.flatMap((c) => Object.values(c.notifications).filter((r) => r !== undefined)),
    ]);

    // --- Slack: the /redis front door (only when the config names a Slack app)
    if (config.slack) {
      const slackName = `${config.name}-slack`;
      this.slackFunction = fn(
        'slack',
        'functions/slack/handler.ts',
        // Answers Slack within 3 s; deferred work (plans, status, following a switchover) runs in a self-invocation.
        cdk.Duration.seconds(600),
        'Slack /redis commands and interactivity: verified, authorized, confirmed switchovers',
        {
          functionName: slackName,
          environment: {
            [LAMBDA_ENV.switchoverStateMachineArn]: this.switchoverStateMachine.stateMachineArn,
          },
        },
      );
      this.slackFunction.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: cdk.Duration.minutes(5) });
      const url = this.slackFunction.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
      new cdk.CfnOutput(this, 'SlackEndpointUrl', {
        value: url.url,
        description: 'Request URL of the /redis slash command and of interactivity, in the Slack app',
      });
      this.slackFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'StartSwitchovers',
          actions: ['states:StartExecution'],
          resources: [this.switchoverStateMachine.stateMachineArn],
        }),
      );
      this.slackFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'FollowSwitchovers',
          actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
          resources: [executionArnsOf(this, this.switchoverStateMachine)],
        }),
      );
      this.slackFunction.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DeferWorkToItself',
          actions: ['lambda:InvokeFunction'],
          resources: [`arn:${this.partition}:lambda:${this.region}:${this.account}:function:${slackName}`],
        }),
      );
      this.grantSecrets(this.slackFunction, [
        ...clusterSecrets,
        config.slack.signingSecret,
        config.slack.botToken,
      ]);
      this.table.grantReadData(this.slackFunction);
    }

    // --- IAM: what the Lambdas may do, and nothing else
    for (const f of [
      this.sentinelEventFunction,
      this.switchoverStepFunction,
      this.reconcileFunction,
      this.maintenanceStepFunction,
    ]) {
      this.table.grantReadWriteData(f);
      this.notificationsTopic.grantPublish(f);
      this.grantNodeOps(f, clusterNames);
      this.grantDns(f, config);
      this.grantSecrets(f, clusterSecrets);
    }

    // --- The event bridge for the Sentinel hosts: one bundled file, installed by the install-bridge document.
    const bridgeBundle = new s3assets.Asset(this, 'BridgeBundle', {
      path: bundleBridgeSync(join(mkdtempSync(join(tmpdir(), 'ha-redis-bridge-')), 'bridge.mjs')).outfile,
    });

    // --- Policies for others to attach: Sentinel hosts publish events; operators start switchovers.
    const sentinelPasswords = config.clusters.flatMap((c) =>
      c.secrets.sentinelPassword ? [c.secrets.sentinelPassword] : [],
    );
    const bridgeSecretArns = sentinelPasswords.flatMap((r) =>
      'secretsManager' in r ? [this.secretArn(r.secretsManager)] : [],
    );
    const bridgePolicy = new iam.ManagedPolicy(this, 'BridgePublisherPolicy', {
      description: `${config.name}: attach to the instance role of Sentinel hosts: fetch the bridge, read the Sentinel password, publish events`,
      statements: [
        new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.sentinelEventsTopic.topicArn] }),
        new iam.PolicyStatement({
          actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
          resources: [key.keyArn],
        }),
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [bridgeBundle.bucket.arnForObjects(bridgeBundle.s3ObjectKey)],
        }),
        ...(sentinelPasswords.length > 0
          ? [
              new iam.PolicyStatement({
                actions: ['ssm:GetParameter'],
                resources: [
                  ...new Set(sentinelPasswords.map((r) => this.parameterArn(bridgePasswordParameter(r)))),
                ],
              }),
            ]
          : []),
        ...(bridgeSecretArns.length > 0
          ? [
              new iam.PolicyStatement({
                actions: ['secretsmanager:GetSecretValue'],
                resources: bridgeSecretArns,
              }),
            ]
          : []),
      ],
    });
    this.table.grantReadData(this.maintenanceTriggerFunction);
    this.notificationsTopic.grantPublish(this.maintenanceTriggerFunction);
    const operatorPolicy = new iam.ManagedPolicy(this, 'OperatorPolicy', {
      description: `${config.name}: start and watch planned switchovers and maintenance runs`,
      statements: [
        new iam.PolicyStatement({
          actions: ['states:StartExecution'],
          resources: [
            this.switchoverStateMachine.stateMachineArn,
            this.maintenanceStateMachine.stateMachineArn,
          ],
        }),
        new iam.PolicyStatement({
          actions: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:StopExecution'],
          resources: [
            executionArnsOf(this, this.switchoverStateMachine),
            executionArnsOf(this, this.maintenanceStateMachine),
          ],
        }),
      ],
    });

    // --- Alarms, to the notification topic
    const alarmAction = new cwActions.SnsAction(this.notificationsTopic);
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) =>
      new cloudwatch.Alarm(this, `${id}Alarm`, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }).addAlarmAction(alarmAction);
    alarm(
      'SentinelEventDlqNotEmpty',
      sentinelEventDlq.metricApproximateNumberOfMessagesVisible({ period: cdk.Duration.minutes(1) }),
      'Sentinel events could not be processed after retries; see the runbook: replay them or run ha-redis status',
    );
    alarm(
      'NotifyDlqNotEmpty',
      notifyDlq.metricApproximateNumberOfMessagesVisible({ period: cdk.Duration.minutes(1) }),
      'Notifications could not be delivered after retries (Slack or a webhook refused); the history still has every outcome',
    );
    alarm(
      'FailoverUnconfirmed',
      new cloudwatch.Metric({
        namespace: METRICS.namespace,
        metricName: METRICS.failoverUnconfirmed,
        dimensionsMap: { service: 'ha-redis-sentinel-event' },
        statistic: 'Sum',
        period: cdk.Duration.minutes(1),
      }),
      'Sentinel reported a failover that a majority did not confirm; routing was not changed. See the runbook',
    );
    alarm(
      'SwitchoverFailed',
      new cloudwatch.MathExpression({
        expression: 'failed + timedOut + aborted',
        usingMetrics: {
          failed: this.switchoverStateMachine.metricFailed({ period: cdk.Duration.minutes(1) }),
          timedOut: this.switchoverStateMachine.metricTimedOut({ period: cdk.Duration.minutes(1) }),
          aborted: this.switchoverStateMachine.metricAborted({ period: cdk.Duration.minutes(1) }),
        },
        period: cdk.Duration.minutes(1),
      }),
      'A planned switchover did not complete; writes were unblocked. Its history entry says what was done',
    );
    alarm(
      'MaintenanceFailed',
      new cloudwatch.MathExpression({
        expression: 'failed + timedOut + aborted',
        usingMetrics: {
          failed: this.maintenanceStateMachine.metricFailed({ period: cdk.Duration.minutes(1) }),
          timedOut: this.maintenanceStateMachine.metricTimedOut({ period: cdk.Duration.minutes(1) }),
          aborted: this.maintenanceStateMachine.metricAborted({ period: cdk.Duration.minutes(1) }),
        },
        period: cdk.Duration.minutes(1),
      }),
      'A maintenance run stopped; the cluster was left writable. Its history entry says which nodes were done',
    );
    for (const f of this.functions()) {
      alarm(
        `${f.node.id}Errors`,
        f.metricErrors({ period: cdk.Duration.minutes(1) }),
        `${f.node.id} Lambda errors`,
      );
    }

    // --- Outputs
    new cdk.CfnOutput(this, 'SentinelEventsTopicArn', { value: this.sentinelEventsTopic.topicArn });
    new cdk.CfnOutput(this, 'NotificationsTopicArn', { value: this.notificationsTopic.topicArn });
    new cdk.CfnOutput(this, 'StateTableName', { value: this.table.tableName });
    new cdk.CfnOutput(this, 'SwitchoverStateMachineArn', {
      value: this.switchoverStateMachine.stateMachineArn,
    });
    new cdk.CfnOutput(this, 'MaintenanceStateMachineArn', {
      value: this.maintenanceStateMachine.stateMachineArn,
    });
    new cdk.CfnOutput(this, 'BridgePublisherPolicyArn', { value: bridgePolicy.managedPolicyArn });
    new cdk.CfnOutput(this, 'BridgeBundleUrl', {
      value: bridgeBundle.s3ObjectUrl,
      description: 'The bundle parameter of the install-bridge document',
    });
    new cdk.CfnOutput(this, 'InstallBridgeDocument', {
      value: this.documents.documentName('install-bridge'),
    });
    new cdk.CfnOutput(this, 'OperatorPolicyArn', { value: operatorPolicy.managedPolicyArn });

    this.acknowledgeReviewedFindings(bridgePolicy, operatorPolicy);
  }

  /** An encrypted dead-letter queue that keeps messages 14 days, for the runbook to inspect and replay. */
  private deadLetterQueue(id: string, key: kms.IKey): sqs.Queue {
    const queue = new sqs.Queue(this, id, {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      retentionPeriod: cdk.Duration.days(14),
    });
    cdk.Validations.of(queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself a dead-letter queue; its messages are replayed by hand',
    });
    return queue;
  }

  private lambdaFunction(
    name: string,
    opts: {
      entry: string;
      timeout: cdk.Duration;
      description: string;
      environment: Record<string, string>;
      /** Absent: the function needs no host of the clusters (it only calls AWS and Slack APIs). */
      vpc?: ec2.IVpc;
      key: kms.IKey;
      configFile: string;
      /** A fixed name, for a function that invokes itself (its own ARN would be a circular reference). */
      functionName?: string;
    },
  ): nodejs.NodejsFunction {
    const id = name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: opts.key,
    });
    return new nodejs.NodejsFunction(this, id, {
      entry: resolve(ROOT, opts.entry),
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: resolve(ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      timeout: opts.timeout,
      description: opts.description,
      environment: { ...opts.environment, POWERTOOLS_SERVICE_NAME: `ha-redis-${name}` },
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      ...(opts.functionName ? { functionName: opts.functionName } : {}),
      ...(opts.vpc
        ? {
            vpc: opts.vpc,
            vpcSubnets: { subnets: opts.vpc.privateSubnets },
            securityGroups: [this.securityGroup],
          }
        : {}),
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        mainFields: ['module', 'main'],
        // Bundle the AWS SDK too: the versions are the lock file's, not whatever the runtime ships.
        externalModules: [],
        // Powertools Tracer's X-Ray SDK and ioredis are CommonJS: give the ESM bundle a `require`.
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        forceDockerBundling: false,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => [
            `cp "${opts.configFile}" "${outputDir}/${BUNDLED_CONFIG_FILE}"`,
          ],
        },
      },
    });
  }

  /** ssm:SendCommand on the stack's documents, and on instances tagged with one of the clusters' names only. */
  private grantNodeOps(f: lambda.IFunction, clusterNames: string[]): void {
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'SendOurDocuments',
        actions: ['ssm:SendCommand'],
        resources: this.documents.documentArns(),
      }),
    );
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'SendToClusterInstances',
        actions: ['ssm:SendCommand'],
        resources: [`arn:${this.partition}:ec2:${this.region}:${this.account}:instance/*`],
        conditions: { StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG_KEY}`]: clusterNames } },
      }),
    );
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadCommandResults',
        actions: ['ssm:GetCommandInvocation', 'ssm:ListCommandInvocations'],
        resources: ['*'],
      }),
    );
  }

  /** Route53: read and change only the configured records, in the configured zones. */
  private grantDns(f: lambda.IFunction, config: DeploymentConfig): void {
    const zones = [...new Set(config.clusters.map((c) => c.dns.hostedZoneId))];
    const names = [...new Set(config.clusters.map((c) => c.dns.recordName.toLowerCase().replace(/\.$/, '')))];
    const zoneArns = zones.map((z) => `arn:${this.partition}:route53:::hostedzone/${z}`);
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ChangeMasterRecords',
        actions: ['route53:ChangeResourceRecordSets'],
        resources: zoneArns,
        conditions: {
          'ForAllValues:StringEquals': {
            'route53:ChangeResourceRecordSetsNormalizedRecordNames': names,
            'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'TXT'],
            'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
          },
        },
      }),
    );
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadMasterRecords',
        actions: ['route53:ListResourceRecordSets'],
        resources: zoneArns,
      }),
    );
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'WaitForChanges',
        actions: ['route53:GetChange'],
        resources: [`arn:${this.partition}:route53:::change/*`],
      }),
    );
  }

  /** Read exactly the secrets the config names (SSM SecureString parameters, Secrets Manager secrets). */
  private grantSecrets(f: lambda.IFunction, refs: readonly SecretRef[]): void {
    const parameterArns = refs.flatMap((r) =>
      'ssmParameter' in r ? [this.parameterArn(r.ssmParameter)] : [],
    );
    const secretArns = refs.flatMap((r) => ('secretsManager' in r ? [this.secretArn(r.secretsManager)] : []));
    if (parameterArns.length > 0) {
      f.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadSecretParameters',
          actions: ['ssm:GetParameter'],
          resources: [...new Set(parameterArns)],
        }),
      );
    }
    if (secretArns.length > 0) {
      f.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [...new Set(secretArns)],
        }),
      );
    }
  }

  /** Every Lambda of the stack. */
  functions(): nodejs.NodejsFunction[] {
    return [
      this.sentinelEventFunction,
      this.switchoverStepFunction,
      this.reconcileFunction,
      this.maintenanceStepFunction,
      this.maintenanceTriggerFunction,
      this.notifyFunction,
      ...(this.slackFunction ? [this.slackFunction] : []),
    ];
  }

  /** The ARN of an SSM parameter, by name (with or without its leading slash). */
  private parameterArn(name: string): string {
    return `arn:${this.partition}:ssm:${this.region}:${this.account}:parameter/${name.replace(/^\//, '')}`;
  }

  /** A Secrets Manager secret's ARNs: its name plus the 6-character suffix Secrets Manager appends. */
  private secretArn(name: string): string {
    return `arn:${this.partition}:secretsmanager:${this.region}:${this.account}:secret:${name}-??????`;
  }

  /** cdk-nag findings that are reviewed and accepted, on the narrowest construct, each with its reason. */
  private acknowledgeReviewedFindings(
    bridgePolicy: iam.ManagedPolicy,
    operatorPolicy: iam.ManagedPolicy,
  ): void {
    const acknowledge = (scope: Construct, findings: Record<string, string>) => {
      for (const [id, reason] of Object.entries(findings))
        cdk.Validations.of(scope).acknowledge({ id, reason });
    };
    const iam5 = (resource: string) => `AwsSolutions-IAM5[${resource}]`;
    const region = cdk.Token.isUnresolved(this.region) ? '<AWS::Region>' : this.region;
    const account = cdk.Token.isUnresolved(this.account) ? '<AWS::AccountId>' : this.account;
    const logicalId = (c: Construct) => this.getLogicalId(c.node.defaultChild as cdk.CfnElement);
    for (const f of this.functions()) {
      acknowledge(f, {
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
          'The AWS managed policy CDK attaches for writing the function logs; it grants no data access',
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]':
          'The AWS managed policy a Lambda in a VPC needs to manage its network interfaces; it grants no data access',
        [iam5('Resource::*')]:
          'X-Ray PutTraceSegments and ssm:GetCommandInvocation/ListCommandInvocations support no resource-level permissions',
        [iam5('Action::kms:GenerateDataKey*')]:
          'Publishing to the encrypted notification topic needs GenerateDataKey variants, on the one stack key only',
        [iam5('Action::kms:ReEncrypt*')]:
          'Sending failed invocations to the encrypted dead-letter queue (CDK grant), on the one stack key only',
        [iam5(`Resource::arn:<AWS::Partition>:ec2:${region}:${account}:instance/*`)]:
          'SendCommand is limited to instances whose ha-redis:cluster tag names a configured cluster (condition)',
        [iam5('Resource::arn:<AWS::Partition>:route53:::change/*')]:
          'Route53 change ids are only known after ChangeResourceRecordSets; GetChange only reads a change status',
      });
    }
    for (const [machine, step] of [
      [this.switchoverStateMachine, this.switchoverStepFunction],
      [this.maintenanceStateMachine, this.maintenanceStepFunction],
    ] as const) {
      acknowledge(machine, {
        [iam5('Resource::*')]:
          'X-Ray tracing and CloudWatch Logs delivery of the state machine support no resource-level permissions',
        [iam5(`Resource::<${logicalId(step)}.Arn>:*`)]:
          'The state machine invokes versions of its one step function; the wildcard is the version qualifier only',
      });
    }
    // The scheduler's role (created by the Lambda target, outside any construct of ours) invokes one function.
    acknowledge(this, {
      [iam5(`Resource::<${logicalId(this.reconcileFunction)}.Arn>:*`)]:
        'EventBridge Scheduler invokes versions of the one reconcile function; the wildcard is the version qualifier only',
      [iam5(`Resource::<${logicalId(this.maintenanceTriggerFunction)}.Arn>:*`)]:
        'EventBridge Scheduler invokes versions of the one maintenance trigger function; the wildcard is the version qualifier only',
    });
    if (this.slackFunction) {
      acknowledge(this.slackFunction, {
        [iam5(
          `Resource::arn:<AWS::Partition>:states:${region}:${account}:execution:<${logicalId(this.switchoverStateMachine)}.Name>:*`,
        )]:
          'Slack follows the executions it started; the wildcard covers executions of the one switchover state machine',
      });
    }
    acknowledge(operatorPolicy, {
      [iam5(
        `Resource::arn:<AWS::Partition>:states:${region}:${account}:execution:<${logicalId(this.switchoverStateMachine)}.Name>:*`,
      )]:
        'Execution names are chosen per request; the wildcard covers executions of the one switchover state machine',
      [iam5(
        `Resource::arn:<AWS::Partition>:states:${region}:${account}:execution:<${logicalId(this.maintenanceStateMachine)}.Name>:*`,
      )]:
        'Execution names are chosen per run; the wildcard covers executions of the one maintenance state machine',
    });
    acknowledge(bridgePolicy, {
      [iam5('Action::kms:GenerateDataKey*')]:
        'Publishing to the encrypted Sentinel event topic needs GenerateDataKey variants, on the one stack key only',
    });
  }
}

/**
 * The SSM parameter name the bridge reads the Sentinel password from: a SecureString parameter, or a Secrets
 * Manager secret through SSM's `/aws/reference/secretsmanager/` path. A JSON key cannot be read that way.
 */
export function bridgePasswordParameter(ref: SecretRef): string {
  if ('ssmParameter' in ref) return ref.ssmParameter;
  if (ref.jsonKey) {
    throw new ConfigurationError(
      `the Sentinel password ${ref.secretsManager} is a JSON key (${ref.jsonKey}): the event bridge reads it through SSM, so give it a plain secret or an SSM parameter`,
    );
  }
  return `/aws/reference/secretsmanager/${ref.secretsManager}`;
}

/** Every host and port a Lambda must reach: nodes, Sentinels, proxy listeners (canaries) and Runtime APIs. */
export function allowedTargets(config: DeploymentConfig): { host: string; port: number; what: string }[] {
  const targets = config.clusters.flatMap((c) => [
    ...c.nodes.map((n) => ({ host: n.host, port: n.port, what: `${c.name} redis ${n.id}` })),
    ...c.sentinels.map((s) => ({ host: s.host, port: s.port, what: `${c.name} sentinel` })),
    ...c.proxies.flatMap((p) => [
      { host: p.host, port: p.plainPort, what: `${c.name} ${p.id} client port (canary writes)` },
      ...(p.tlsPort
        ? [{ host: p.host, port: p.tlsPort, what: `${c.name} ${p.id} TLS client port (canary writes)` }]
        : []),
      ...(p.runtimeApi.kind === 'tcp'
        ? [{ host: p.runtimeApi.host, port: p.runtimeApi.port, what: `${c.name} ${p.id} Runtime API` }]
        : []),
    ]),
  ]);
  const seen = new Set<string>();
  return targets.filter((t) => {
    const key = `${t.host}:${t.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `arn:...:execution:<state machine name>:*`, the executions of one state machine. */
function executionArnsOf(stack: cdk.Stack, machine: sfn.StateMachine): string {
  return stack.formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${machine.stateMachineName}:*`,
    arnFormat: cdk.ArnFormat.COLON_RESOURCE_NAME,
  });
}
