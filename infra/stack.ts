import * as cdk from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { LAMBDA_ENV } from '../config/env.ts';
import type { DeploymentConfig } from '../config/schema.ts';
import { METRICS } from '../core/model/metrics.ts';
import { addAlarms, expectedBridges } from './constructs/alarms.ts';
import {
  eventBridgePublisher,
  nodeAgentPublisher,
  operatorPolicy,
} from './constructs/attachable-policies.ts';
import { ClusterAccess } from './constructs/cluster-access.ts';
import { type ReservedConcurrency, reservedConcurrency } from './constructs/concurrency.ts';
import { type DeploymentConfigObject, deploymentConfigObject } from './constructs/config-object.ts';
import { addDashboard } from './constructs/dashboard.ts';
import { encryptedTopic, stackKey } from './constructs/encryption.ts';
import { EventIngest } from './constructs/event-ingest.ts';
import { LambdaFactory } from './constructs/lambda-function.ts';
import { acknowledgeReviewedFindings } from './constructs/nag-acknowledgements.ts';
import { lambdaNetwork } from './constructs/network.ts';
import { NotificationDelivery, notificationsTopic } from './constructs/notifications.ts';
import { OperatorStart } from './constructs/operator-start.ts';
import { type FifoQueue, QueuedWriters, queuedWriteQueues } from './constructs/queued-writes.ts';
import { SlackFrontDoor } from './constructs/slack-front-door.ts';
import { stateTable } from './constructs/state-table.ts';
import { Workflows } from './constructs/workflows.ts';
import { SsmCommandDocuments } from './ssm/documents.ts';

export {
  agentPasswordParameter,
  bridgePasswordParameter,
  hostTlsParameters,
} from './constructs/attachable-policies.ts';
export { CLUSTER_TAG_KEY } from './constructs/cluster-access.ts';
export { CONFIG_OBJECT_KEY } from './constructs/config-object.ts';
export { allowedTargets } from './constructs/network.ts';
export { SWITCHOVER_STEP_TIMEOUT } from './constructs/workflows.ts';

/** What the stack is built from: the validated config and the file it came from. */
export interface HaRedisStackProps extends cdk.StackProps {
  config: DeploymentConfig;
  /** The config file as the user wrote it: deployed as the S3 object the Lambdas read at run time. */
  configFile: string;
}

/**
 * ha-redis in one AWS account: the Sentinel event topic and its Lambda, the switchover and maintenance state
 * machines, the state table, the SSM documents, notifications, alarms and least-privilege IAM. Everything comes
 * from the validated config: no lookups.
 *
 * Each concern is built by a module of infra/constructs, in the stack's own scope: the logical ids stay those
 * of the deployed stack (a construct scope of their own would rename, and so replace, e.g. the state table).
 */
export class HaRedisStack extends cdk.Stack {
  readonly sentinelEventsTopic: sns.Topic;
  readonly notificationsTopic: sns.Topic;
  /** Alarms only, for email or a pager: it does not depend on the notify Lambda. */
  readonly alarmTopic: sns.Topic;
  readonly table: dynamodb.Table;
  readonly sentinelEventFunction: nodejs.NodejsFunction;
  readonly switchoverStepFunction: nodejs.NodejsFunction;
  readonly reconcileFunction: nodejs.NodejsFunction;
  readonly notifyFunction: nodejs.NodejsFunction;
  /** The one writer of the master records per hosted zone, on the dnsQueue. */
  readonly dnsWriterFunction: nodejs.NodejsFunction;
  /** The master-record writes (FIFO, one message group per hosted zone). */
  readonly dnsQueue: sqs.Queue;
  /** Persists the proxies' routing on their hosts, from the routingQueue. */
  readonly routingPersistFunction: nodejs.NodejsFunction;
  /** The routing persists (FIFO, one message group per proxy host). */
  readonly routingQueue: sqs.Queue;
  readonly slackFunction?: nodejs.NodejsFunction;
  readonly slackWorkerFunction?: nodejs.NodejsFunction;
  readonly operatorStartFunction?: nodejs.NodejsFunction;
  readonly switchoverStateMachine: sfn.StateMachine;
  readonly maintenanceStepFunction: nodejs.NodejsFunction;
  readonly maintenanceTriggerFunction: nodejs.NodejsFunction;
  readonly maintenanceStateMachine: sfn.StateMachine;
  readonly securityGroup: ec2.SecurityGroup;
  readonly documents: SsmCommandDocuments;
  /** The deployment config the Lambdas read at run time. */
  readonly configObject: DeploymentConfigObject;
  /** The Lambdas' reserved concurrency, and what the account keeps unreserved. */
  readonly concurrency: ReservedConcurrency;

  constructor(scope: Construct, id: string, props: HaRedisStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.concurrency = reservedConcurrency(config); // a fleet too large for the account is refused here

    // Shared: the key, the notification topic, the state table, the network, the SSM documents run by NodeOps.
    const key = stackKey(this, config.name);
    this.notificationsTopic = notificationsTopic(this, config.name, key);
    this.alarmTopic = encryptedTopic(this, 'Alarms', `${config.name} alarms`, key);
    this.table = stateTable(this);
    const { vpc, securityGroup } = lambdaNetwork(this, config);
    this.securityGroup = securityGroup;
    this.documents = new SsmCommandDocuments(this, 'Documents', { prefix: config.name });
    this.configObject = deploymentConfigObject(this, { key, configFile: props.configFile });
    const queues = queuedWriteQueues(this, key);
    this.dnsQueue = queues.dns.queue;
    this.routingQueue = queues.routing.queue;
    const lambdas = new LambdaFactory(this, {
      key,
      vpc,
      securityGroup,
      config: this.configObject,
      environment: this.lambdaEnvironment(config),
    });
    const access = new ClusterAccess(this, {
      config,
      table: this.table,
      notificationsTopic: this.notificationsTopic,
      documents: this.documents,
      dnsQueue: this.dnsQueue,
      routingQueue: this.routingQueue,
    });

    // The concerns, each with its Lambdas and their grants.
    const ingest = new EventIngest(this, { config, key, lambdas, access, concurrency: this.concurrency });
    this.sentinelEventsTopic = ingest.topic;
    this.sentinelEventFunction = ingest.sentinelEventFunction;
    this.reconcileFunction = ingest.reconcileFunction;
    const writers = new QueuedWriters(this, { config, lambdas, access, queues });
    this.dnsWriterFunction = writers.dnsWriterFunction;
    this.routingPersistFunction = writers.routingPersistFunction;
    const workflows = new Workflows(this, {
      config,
      key,
      lambdas,
      access,
      table: this.table,
      notificationsTopic: this.notificationsTopic,
    });
    this.switchoverStepFunction = workflows.switchoverStepFunction;
    this.switchoverStateMachine = workflows.switchoverStateMachine;
    this.maintenanceStepFunction = workflows.maintenanceStepFunction;
    this.maintenanceStateMachine = workflows.maintenanceStateMachine;
    this.maintenanceTriggerFunction = workflows.maintenanceTriggerFunction;
    const delivery = new NotificationDelivery(this, {
      config,
      key,
      topic: this.notificationsTopic,
      lambdas,
      access,
    });
    this.notifyFunction = delivery.notifyFunction;
    const slack = config.slack
      ? new SlackFrontDoor(this, {
          config,
          slack: config.slack,
          lambdas,
          access,
          table: this.table,
          switchoverStateMachine: this.switchoverStateMachine,
        })
      : undefined;
    this.slackFunction = slack?.slackFunction;
    this.slackWorkerFunction = slack?.slackWorkerFunction;

    // Policies for others to attach, alarms, outputs, and the reviewed cdk-nag findings.
    const bridge = eventBridgePublisher(this, { config, topic: this.sentinelEventsTopic, key });
    const agent = nodeAgentPublisher(this, { config, topic: this.sentinelEventsTopic, key });
    const operators = operatorPolicy(this, {
      config,
      switchover: this.switchoverStateMachine,
      maintenance: this.maintenanceStateMachine,
    });
    const clusterOperators = OperatorStart.ifConfigured(this, { config, lambdas, workflows });
    this.operatorStartFunction = clusterOperators?.operatorStartFunction;
    this.addObservability(config, ingest, delivery.deadLetterQueue, queues);
    this.addOutputs(bridge, agent, operators);
    acknowledgeReviewedFindings(this, {
      bridgePolicy: bridge.policy,
      agentPolicy: agent.policy,
      operatorPolicy: operators,
      ...(clusterOperators ? { clusterOperatorPolicy: clusterOperators.policy } : {}),
    });
  }

  /** The alarms, and the deployment's dashboard (infra/constructs/dashboard.ts) with its name as an output. */
  private addObservability(
    config: DeploymentConfig,
    ingest: EventIngest,
    notifyDlq: sqs.IQueue,
    queues: { dns: FifoQueue; routing: FifoQueue },
  ): void {
    const eventsDlq = ingest.deadLetterQueue;
    addAlarms(this, {
      reconcileShards: ingest.reconcileShards,
      alarmTopic: this.alarmTopic,
      notificationsTopic: this.notificationsTopic,
      notifyFunction: this.notifyFunction,
      reconcileFunction: this.reconcileFunction,
      sentinelEventDlq: eventsDlq,
      notifyDlq,
      dnsDlq: queues.dns.deadLetterQueue,
      routingDlq: queues.routing.deadLetterQueue,
      switchoverStateMachine: this.switchoverStateMachine,
      maintenanceStateMachine: this.maintenanceStateMachine,
      functions: this.functions(),
      bridges: { topicName: this.sentinelEventsTopic.topicName, expected: expectedBridges(config).length },
    });
    const dashboard = addDashboard(this, {
      name: config.name,
      functions: this.functions(),
      reactionFunctions: [this.sentinelEventFunction, this.reconcileFunction],
      deadLetterQueues: [
        { label: 'sentinel events', queue: eventsDlq },
        { label: 'notifications', queue: notifyDlq },
        { label: 'DNS writes', queue: queues.dns.deadLetterQueue },
        { label: 'routing persists', queue: queues.routing.deadLetterQueue },
      ],
      stateMachines: [
        { label: 'Switchover', machine: this.switchoverStateMachine },
        { label: 'Maintenance', machine: this.maintenanceStateMachine },
      ],
    });
    new cdk.CfnOutput(this, 'DashboardName', {
      value: dashboard.dashboardName,
      description:
        'The CloudWatch dashboard of this deployment: failovers, timings, queues, Lambdas, workflows',
    });
  }

  /** The environment every Lambda gets: where its config, state, notifications and SSM documents are. */
  private lambdaEnvironment(config: DeploymentConfig): Record<string, string> {
    return {
      [LAMBDA_ENV.configBucket]: this.configObject.bucket.bucketName,
      [LAMBDA_ENV.configKey]: this.configObject.key,
      [LAMBDA_ENV.stateTable]: this.table.tableName,
      [LAMBDA_ENV.notifyTopicArn]: this.notificationsTopic.topicArn,
      [LAMBDA_ENV.documentPrefix]: config.name,
      [LAMBDA_ENV.dnsQueueUrl]: this.dnsQueue.queueUrl,
      [LAMBDA_ENV.routingQueueUrl]: this.routingQueue.queueUrl,
      POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
    };
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
      this.dnsWriterFunction,
      this.routingPersistFunction,
      ...(this.slackFunction ? [this.slackFunction] : []),
      ...(this.slackWorkerFunction ? [this.slackWorkerFunction] : []),
      ...(this.operatorStartFunction ? [this.operatorStartFunction] : []),
    ];
  }

  /** What operators and the install documents need: ARNs, names, the bridge's and the agent's bundle URLs. */
  private addOutputs(
    bridge: ReturnType<typeof eventBridgePublisher>,
    agent: ReturnType<typeof nodeAgentPublisher>,
    operators: ReturnType<typeof operatorPolicy>,
  ): void {
    new cdk.CfnOutput(this, 'SentinelEventsTopicArn', { value: this.sentinelEventsTopic.topicArn });
    new cdk.CfnOutput(this, 'NotificationsTopicArn', { value: this.notificationsTopic.topicArn });
    new cdk.CfnOutput(this, 'LambdaSecurityGroupId', {
      value: this.securityGroup.securityGroupId,
      description:
        "The Lambdas' security group: the Redis, Sentinel and HAProxy hosts must allow ingress from it on their ports",
    });
    new cdk.CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description:
        'Every alarm, for email or a pager (subscribe to it); it does not go through the notify Lambda',
    });
    new cdk.CfnOutput(this, 'StateTableName', { value: this.table.tableName });
    new cdk.CfnOutput(this, 'ConfigObject', {
      value: `s3://${this.configObject.bucket.bucketName}/${this.configObject.key}`,
      description:
        'The deployment config the Lambdas read (refreshed every minute); cdk deploy writes it, no function is redeployed',
    });
    new cdk.CfnOutput(this, 'SwitchoverStateMachineArn', {
      value: this.switchoverStateMachine.stateMachineArn,
    });
    new cdk.CfnOutput(this, 'MaintenanceStateMachineArn', {
      value: this.maintenanceStateMachine.stateMachineArn,
    });
    new cdk.CfnOutput(this, 'BridgePublisherPolicyArn', { value: bridge.policy.managedPolicyArn });
    new cdk.CfnOutput(this, 'BridgeBundleUrl', {
      value: bridge.bundle.s3ObjectUrl,
      description: 'The bundle parameter of the install-bridge document',
    });
    new cdk.CfnOutput(this, 'InstallBridgeDocument', {
      value: this.documents.documentName('install-bridge'),
    });
    new cdk.CfnOutput(this, 'AgentPublisherPolicyArn', { value: agent.policy.managedPolicyArn });
    new cdk.CfnOutput(this, 'AgentBundleUrl', {
      value: agent.bundle.s3ObjectUrl,
      description: 'The bundle parameter of the install-agent document',
    });
    new cdk.CfnOutput(this, 'InstallAgentDocument', {
      value: this.documents.documentName('install-agent'),
    });
    new cdk.CfnOutput(this, 'OperatorPolicyArn', { value: operators.managedPolicyArn });
  }
}
