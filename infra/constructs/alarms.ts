import * as cdk from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../../config/schema.ts';
import { BRIDGE_METRICS, METRICS } from '../../core/model/metrics.ts';

/**
 * The alarms. Each goes to the alarm topic of its own (for email or a pager: it does not depend on ha-redis'
 * notify Lambda), and, unless it is about the notify path itself, to the notification topic too (Slack).
 * Created in the scope it is given (the stack), so every logical id stays as deployed (`<what>Alarm`).
 */
export interface AlarmsProps {
  alarmTopic: sns.ITopic;
  notificationsTopic: sns.ITopic;
  sentinelEventDlq: sqs.IQueue;
  notifyDlq: sqs.IQueue;
  /** Master-record writes that failed their receives (the dns-writer). */
  dnsDlq: sqs.IQueue;
  /** Routing persists that failed their receives (routing-persist). */
  routingDlq: sqs.IQueue;
  switchoverStateMachine: sfn.StateMachine;
  maintenanceStateMachine: sfn.StateMachine;
  /** Every Lambda of the stack: each alarms on its errors and throttles, named by its construct id. */
  functions: lambda.Function[];
  /** The notify Lambda: its alarms go to the alarm topic only (through itself they could not arrive). */
  notifyFunction: lambda.IFunction;
  /** The reconcile Lambda, scheduled every minute per shard: an alarm when a shard's runs stop. */
  reconcileFunction: lambda.IFunction;
  /** How many reconcile schedules there are (one per shard, each every minute). */
  reconcileShards: number;
  /** The Sentinel event bridges: the topic they publish to (their metrics' EventsTopic), and how many there are. */
  bridges: { topicName: string; expected: number };
}

/** How long the reconcile may not run before its alarm (its schedule is every minute). */
export const RECONCILE_SILENT_MINUTES = 5;
/** How many minutes in a row the bridges' heartbeats must miss (or exceed) the expected count before the alarm. */
export const BRIDGES_SILENT_MINUTES = 5;

/**
 * The bridges the config expects: one per Sentinel process, host:port (a shared Sentinel, which several clusters of
 * a host set name, once), sorted.
 */
export function expectedBridges(config: Pick<DeploymentConfig, 'clusters'>): string[] {
  const endpoints = config.clusters.flatMap((c) => c.sentinels.map((s) => `${s.host}:${s.port}`));
  return [...new Set(endpoints)].sort();
}

const MINUTE = cdk.Duration.minutes(1);

/**
 * Dead letters (new ones, and a queue not empty), unconfirmed and partial failovers, failed workflows, Lambda
 * errors and throttles, and a reconcile that did not run: any one occurrence alarms.
 */
export function addAlarms(scope: Construct, props: AlarmsProps): void {
  const alarm = alarmFactory(scope, props);
  const count = (metricName: string) =>
    new cloudwatch.Metric({
      namespace: METRICS.namespace,
      metricName,
      dimensionsMap: { service: 'ha-redis-sentinel-event' },
      statistic: 'Sum',
      period: MINUTE,
    });
  alarm(
    'SentinelEventDlqNotEmpty',
    props.sentinelEventDlq.metricApproximateNumberOfMessagesVisible({ period: MINUTE }),
    'Sentinel events could not be processed after retries; see the runbook: replay them or run ha-redis status',
  );
  // A queue not empty stays in alarm until it is purged (up to 14 days): a new dead letter meanwhile would
  // tell nobody. Lambda's failure destination and SNS's redrive send with SendMessage, which this counts.
  alarm(
    'SentinelEventDlqNewMessages',
    props.sentinelEventDlq.metricNumberOfMessagesSent({ period: MINUTE, statistic: 'Sum' }),
    'A Sentinel event just failed its retries (a new dead letter); run ha-redis status, then read the message',
  );
  alarm(
    'NotifyDlqNotEmpty',
    props.notifyDlq.metricApproximateNumberOfMessagesVisible({ period: MINUTE }),
    'Notifications could not be delivered after retries (Slack or a webhook refused); the history still has every outcome',
    { notifyPath: true },
  );
  alarm(
    'NotifyDlqNewMessages',
    props.notifyDlq.metricNumberOfMessagesSent({ period: MINUTE, statistic: 'Sum' }),
    'A notification just failed its retries (a new dead letter); Slack or a webhook refused it',
    { notifyPath: true },
  );
  // Only "not empty": SQS's own redrive to a dead-letter queue is not counted in its NumberOfMessagesSent.
  alarm(
    'DnsWriteDlqNotEmpty',
    props.dnsDlq.metricApproximateNumberOfMessagesVisible({ period: MINUTE }),
    'A master record could not be written to Route53 after 5 attempts; DNS may name an old master. Run ha-redis status, then replay the message (the writer refuses an older epoch)',
  );
  alarm(
    'RoutingPersistDlqNotEmpty',
    props.routingDlq.metricApproximateNumberOfMessagesVisible({ period: MINUTE }),
    "A proxy's routing could not be persisted on its host after 5 attempts; it routes right until HAProxy restarts. Run ha-redis status, then replay the message (the host refuses an older epoch)",
  );
  alarm(
    'FailoverUnconfirmed',
    count(METRICS.failoverUnconfirmed),
    'Sentinel reported a failover that a majority did not confirm; routing was not changed. See the runbook',
  );
  alarm(
    'FailoverPartial',
    count(METRICS.failoverPartial),
    'A failover was acted on but a step failed (a proxy refused, DNS, a canary); the epoch stays open and the reconcile retries it. Its history entry names the step',
  );
  alarm(
    'SwitchoverFailed',
    executionsNotSucceeded(props.switchoverStateMachine),
    'A planned switchover did not complete; writes were unblocked. Its history entry says what was done',
  );
  alarm(
    'MaintenanceFailed',
    executionsNotSucceeded(props.maintenanceStateMachine),
    'A maintenance run stopped; the cluster was left writable. Its history entry says which nodes were done',
  );
  // Each shard's schedule runs once a minute: RECONCILE_SILENT_MINUTES × shards runs per period. One shard's
  // schedule stopped makes RECONCILE_SILENT_MINUTES fewer, so the threshold leaves room for 4 late or missed runs
  // and no more (with one shard: any run at all).
  const expectedRuns = RECONCILE_SILENT_MINUTES * props.reconcileShards;
  alarm(
    'ReconcileNotRunning',
    props.reconcileFunction.metricInvocations({
      period: cdk.Duration.minutes(RECONCILE_SILENT_MINUTES),
      statistic: 'Sum',
    }),
    `The reconcile ran fewer than ${expectedRuns - 4} times in ${RECONCILE_SILENT_MINUTES} minutes (${props.reconcileShards} shard(s), each every minute): a shard's clusters wait for failovers no event reported and pending fences; check the schedules and the Lambda`,
    { below: true, missing: cloudwatch.TreatMissingData.BREACHING, threshold: expectedRuns - 4 },
  );
  bridgeAlarms(alarm, props.bridges);
  lambdaAlarms(alarm, props);
}

interface AlarmOptions {
  /** About the notify path itself: to the alarm topic only. */
  notifyPath?: boolean;
  missing?: cloudwatch.TreatMissingData;
  /** Alarm below 1 (a count that should not be 0), not at 1 or more. */
  below?: boolean;
  /** Periods in a row that must breach (1 by default). */
  periods?: number;
  /** The threshold (1 by default). */
  threshold?: number;
}
type AlarmOf = (id: string, metric: cloudwatch.IMetric, description: string, options?: AlarmOptions) => void;

/** `<id>Alarm` at a threshold of 1 (unless given), to the alarm topic and (unless about the notify path) the notifications. */
function alarmFactory(scope: Construct, props: AlarmsProps): AlarmOf {
  const toPager = new cwActions.SnsAction(props.alarmTopic);
  const toSlack = new cwActions.SnsAction(props.notificationsTopic);
  return (id, metric, description, options = {}) => {
    const a = new cloudwatch.Alarm(scope, `${id}Alarm`, {
      metric,
      threshold: options.threshold ?? 1,
      evaluationPeriods: options.periods ?? 1,
      datapointsToAlarm: options.periods ?? 1,
      comparisonOperator: options.below
        ? cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
        : cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: options.missing ?? cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    a.addAlarmAction(toPager);
    if (!options.notifyPath) a.addAlarmAction(toSlack);
  };
}

/**
 * The bridges' heartbeats, summed per minute, against the count the config expects: one alarm for the whole
 * deployment, however many bridges (a per-host alarm would be 1500 CloudFormation resources at fleet scale, and a
 * metric math alarm reads at most 10 metrics). A silent bridge (host, process, Sentinel or CloudWatch out of
 * reach) makes the sum short; one the config does not know makes it long, and would hide a silent one. Each bridge
 * stamps its heartbeat with the minute it is for, so a live fleet sums to exactly the expected count.
 */
function bridgeAlarms(alarm: AlarmOf, bridges: AlarmsProps['bridges']): void {
  const ofTopic = (metricName: string, statistic: string) =>
    new cloudwatch.Metric({
      namespace: BRIDGE_METRICS.namespace,
      metricName,
      dimensionsMap: { [BRIDGE_METRICS.topicDimension]: bridges.topicName },
      statistic,
      period: MINUTE,
    });
  alarm(
    'BridgesSilent',
    new cloudwatch.MathExpression({
      expression: `ABS(FILL(beats, 0) - ${bridges.expected})`,
      usingMetrics: { beats: ofTopic(BRIDGE_METRICS.heartbeat, 'Sum') },
      period: MINUTE,
      label: `bridges heartbeating minus the ${bridges.expected} expected`,
    }),
    `Heartbeats of the Sentinel event bridges differed from the ${bridges.expected} expected (one per Sentinel of the config) for ${BRIDGES_SILENT_MINUTES} minutes: a bridge is silent (its host, its process, its Sentinel or CloudWatch out of reach: its failovers reach ha-redis only through the reconcile) or one runs that the config does not know. See the runbook`,
    { missing: cloudwatch.TreatMissingData.BREACHING, periods: BRIDGES_SILENT_MINUTES },
  );
  alarm(
    'BridgeEventsDropped',
    ofTopic(BRIDGE_METRICS.dropped, 'Sum'),
    'A Sentinel event bridge gave up events (its retry buffer was full, or SNS refused them for a minute): the reconcile acts on the present state; check the bridge host reaches SNS',
  );
}

/** Errors and throttles of every Lambda. */
function lambdaAlarms(alarm: AlarmOf, props: AlarmsProps): void {
  for (const f of props.functions) {
    const notifyPath = f === props.notifyFunction;
    alarm(`${f.node.id}Errors`, f.metricErrors({ period: MINUTE }), `${f.node.id} Lambda errors`, {
      notifyPath,
    });
    alarm(
      `${f.node.id}Throttles`,
      f.metricThrottles({ period: MINUTE }),
      `${f.node.id} Lambda throttled (account or reserved concurrency reached): its events wait or fail`,
      { notifyPath },
    );
  }
}

/** Executions of a state machine that failed, timed out or were aborted, per minute. */
function executionsNotSucceeded(machine: sfn.StateMachine): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: 'failed + timedOut + aborted',
    usingMetrics: {
      failed: machine.metricFailed({ period: MINUTE }),
      timedOut: machine.metricTimedOut({ period: MINUTE }),
      aborted: machine.metricAborted({ period: MINUTE }),
    },
    period: MINUTE,
  });
}
