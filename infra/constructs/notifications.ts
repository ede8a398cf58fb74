import * as cdk from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../../config/schema.ts';
import type { ClusterAccess } from './cluster-access.ts';
import { NOTIFY_RESERVED_CONCURRENCY } from './concurrency.ts';
import { encryptedTopic } from './encryption.ts';
import { ASYNC_RETRY, deadLetterQueue, type LambdaFactory } from './lambda-function.ts';

/**
 * Notifications: every outcome and alarm goes to one topic; the notify Lambda formats each and delivers it to
 * Slack and webhooks. Created in the scope it is given (the stack), so every logical id stays as deployed.
 */

/** The notification topic: the Lambdas publish outcomes to it, the alarms their state changes. */
export function notificationsTopic(scope: Construct, systemName: string, key: kms.IKey): sns.Topic {
  return encryptedTopic(scope, 'Notifications', `${systemName} notifications`, key);
}

/** What the delivery uses. */
export interface NotificationDeliveryProps {
  config: DeploymentConfig;
  key: kms.IKey;
  topic: sns.ITopic;
  lambdas: LambdaFactory;
  access: ClusterAccess;
}

/** The notify Lambda, subscribed to the notification topic, with a dead-letter queue behind its retries. */
export class NotificationDelivery {
  /** Notifications that could not be delivered after retries. */
  readonly deadLetterQueue: sqs.Queue;
  readonly notifyFunction: nodejs.NodejsFunction;

  constructor(scope: Construct, props: NotificationDeliveryProps) {
    const { config, key, topic, lambdas, access } = props;
    this.deadLetterQueue = deadLetterQueue(scope, 'NotifyDlq', key);
    this.notifyFunction = lambdas.create('notify', {
      // Retries with backoff to each target fit well inside; a delivery that still fails goes to the DLQ.
      timeout: cdk.Duration.seconds(60),
      description:
        'Formats outcomes and alarms from the notification topic and delivers them to Slack and webhooks',
      inVpc: false,
      // A few deliveries at once: a burst waits in the asynchronous queue rather than take the reaction's share.
      reservedConcurrentExecutions: NOTIFY_RESERVED_CONCURRENCY,
    });
    this.notifyFunction.configureAsyncInvoke({
      ...ASYNC_RETRY,
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
    });
    topic.addSubscription(
      new subscriptions.LambdaSubscription(this.notifyFunction, { deadLetterQueue: this.deadLetterQueue }),
    );
    access.grantSecrets(this.notifyFunction, [
      ...(config.slack ? [config.slack.botToken] : []),
      ...config.clusters.flatMap((c) => Object.values(c.notifications).filter((r) => r !== undefined)),
    ]);
  }
}
