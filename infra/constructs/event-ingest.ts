import * as cdk from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../../config/schema.ts';
import { reconcileShardCount } from '../../core/failover/reconcile-shards.ts';
import { SUBSCRIBED_EVENT_TYPES } from '../../events/subscription.ts';
import type { ClusterAccess } from './cluster-access.ts';
import { provisionedEnvironments, type ReservedConcurrency } from './concurrency.ts';
import { encryptedTopic } from './encryption.ts';
import { ASYNC_RETRY, deadLetterQueue, type LambdaFactory } from './lambda-function.ts';

/**
 * Event ingest: the topic the Sentinel hosts' bridge publishes to, the Lambda that acts on each event (with a
 * dead-letter queue behind its retries), and the reconcile that runs every minute as the safety net. Created in
 * the scope it is given (the stack), so every logical id stays as deployed.
 */
export interface EventIngestProps {
  config: DeploymentConfig;
  key: kms.IKey;
  lambdas: LambdaFactory;
  access: ClusterAccess;
  /** The functions' reserved concurrency (reservedConcurrency of the config). */
  concurrency: ReservedConcurrency;
}

/** The `eventType` attributes (SnsPublisher) the event Lambda is subscribed to: each once, from the code's lists. */
export { SUBSCRIBED_EVENT_TYPES };

/** The Sentinel events topic, the sentinel-event Lambda and the scheduled reconcile. */
export class EventIngest {
  readonly topic: sns.Topic;
  /** Sentinel events that could not be processed: failed SNS deliveries and failed invocations alike. */
  readonly deadLetterQueue: sqs.Queue;
  readonly sentinelEventFunction: nodejs.NodejsFunction;
  readonly reconcileFunction: nodejs.NodejsFunction;
  /** Reconcile schedules, one per shard: sized from the config's cluster count at synth (reconcileShardCount). */
  readonly reconcileShards: number;

  constructor(scope: Construct, props: EventIngestProps) {
    const { config, key, lambdas, access, concurrency } = props;
    this.topic = encryptedTopic(scope, 'SentinelEvents', `${config.name} Sentinel events`, key);
    this.deadLetterQueue = deadLetterQueue(scope, 'SentinelEventDlq', key);

    this.sentinelEventFunction = lambdas.create('sentinel-event', {
      // Confirmation waits up to 20 s for a majority; reroute, fence, DNS and verify take a few more.
      timeout: cdk.Duration.seconds(60),
      description:
        'Confirms a Sentinel failover and reroutes, fences, updates DNS, verifies, records and notifies',
      // The loss of a zone fails over a third of the clusters at once: no other function may take that.
      reservedConcurrentExecutions: concurrency.sentinelEvent,
    });
    // After its retries, a failed invocation lands in the same dead-letter queue as an SNS delivery failure.
    const asyncInvoke = { ...ASYNC_RETRY, onFailure: new destinations.SqsDestination(this.deadLetterQueue) };
    this.sentinelEventFunction.configureAsyncInvoke(asyncInvoke);
    this.topic.addSubscription(
      new subscriptions.LambdaSubscription(this.subscribedTarget(scope, config, asyncInvoke), {
        deadLetterQueue: this.deadLetterQueue,
        // Only what the core acts on: ~45 events per failover would each be an invocation (and a cold start
        // for the one that matters); the reconcile still sees the present state every minute.
        filterPolicy: {
          eventType: sns.SubscriptionFilter.stringFilter({ allowlist: [...SUBSCRIBED_EVENT_TYPES] }),
        },
      }),
    );
    access.grantClusterOperations(this.sentinelEventFunction);

    this.reconcileFunction = lambdas.create('reconcile', {
      // Under the 1-minute schedule, so two runs do not overlap in the normal case (overlap is still safe).
      timeout: cdk.Duration.seconds(50),
      description:
        'Every minute, per shard: act on a failover no event reported, fence pending nodes, repair blocked proxies',
      // One run per schedule, and room for a run by hand or one overrunning into the next minute.
      reservedConcurrentExecutions: concurrency.reconcile,
    });
    this.reconcileFunction.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: cdk.Duration.minutes(1) });
    this.reconcileShards = reconcileShardCount(config.clusters.length);
    for (let shard = 0; shard < this.reconcileShards; shard++) this.scheduleReconcile(scope, config, shard);
    access.grantClusterOperations(this.reconcileFunction);
  }

  /**
   * The schedule of one shard, every minute: its input names the shard and the count, and the reconcile picks
   * the clusters of that shard from the config it reads at run time. Shard 0 keeps the id of the single schedule
   * of earlier deployments.
   */
  private scheduleReconcile(scope: Construct, config: DeploymentConfig, shard: number): void {
    const shards = this.reconcileShards;
    new scheduler.Schedule(scope, shard === 0 ? 'ReconcileSchedule' : `ReconcileSchedule${shard}`, {
      description: `${config.name}: the safety net behind the Sentinel events, every minute (shard ${shard} of ${shards})`,
      schedule: scheduler.ScheduleExpression.rate(cdk.Duration.minutes(1)),
      // The next run is a minute away: a retried run would only overlap it.
      target: new schedulerTargets.LambdaInvoke(this.reconcileFunction, {
        input: scheduler.ScheduleTargetInput.fromObject({ shard, shards }),
        retryAttempts: 0,
      }),
    });
  }

  /**
   * What the topic invokes: with provisioned concurrency, a `live` alias of the current version that keeps that
   * many environments initialized (asynchronous invocation settings are per qualifier, so the alias gets the
   * same retries and dead-letter destination); without, the function itself.
   */
  private subscribedTarget(
    scope: Construct,
    config: DeploymentConfig,
    asyncInvoke: lambda.EventInvokeConfigOptions,
  ): lambda.IFunction {
    const provisionedConcurrency = provisionedEnvironments(config);
    if (provisionedConcurrency === 0) return this.sentinelEventFunction;
    const alias = new lambda.Alias(scope, 'SentinelEventLive', {
      aliasName: 'live',
      version: this.sentinelEventFunction.currentVersion,
      provisionedConcurrentExecutions: provisionedConcurrency,
      description: 'What the Sentinel events topic invokes: kept warm, so a failover meets no cold start',
      ...asyncInvoke,
    });
    // The subscription is created in the alias's scope.
    cdk.Validations.of(alias).acknowledge({
      id: 'CloudFormation-Validate::W3694',
      reason:
        "An SNS subscription's lambda endpoint may be an alias ARN (a qualified function ARN), which is what Ref of an alias returns",
    });
    return alias;
  }
}
