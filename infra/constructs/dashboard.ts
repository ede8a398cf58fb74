import * as cdk from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { METRICS, TIMING_METRICS } from '../../core/model/metrics.ts';

/**
 * The deployment's CloudWatch dashboard: what on-call looks at first. Failovers and their outcomes (per cluster
 * from the logs, so it costs nothing per cluster), promotion -> rerouted and each step's duration, the
 * switchovers' write gap, unconfirmed failovers, the dead-letter queues, every Lambda's errors, duration,
 * concurrency and throttles, and each state machine's executions. Created in the scope it is given (the stack).
 */
export interface DashboardProps {
  name: string;
  /** Every Lambda of the stack, labelled by its construct id. */
  functions: lambda.Function[];
  /** The functions whose logs carry the reactions' records (sentinel-event, reconcile). */
  reactionFunctions: lambda.Function[];
  deadLetterQueues: { label: string; queue: sqs.IQueue }[];
  stateMachines: { label: string; machine: sfn.StateMachine }[];
}

const FIVE_MINUTES = cdk.Duration.minutes(5);
const WIDE = 12;
const HIGH = 6;

const sentinelEventMetric = (metricName: string, statistic: string, label?: string) =>
  new cloudwatch.Metric({
    namespace: METRICS.namespace,
    metricName,
    dimensionsMap: { service: 'ha-redis-sentinel-event' },
    statistic,
    period: FIVE_MINUTES,
    ...(label ? { label } : {}),
  });

export function addDashboard(scope: Construct, props: DashboardProps): cloudwatch.Dashboard {
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', {
    dashboardName: `${props.name}-ha-redis`,
    defaultInterval: cdk.Duration.hours(3),
  });
  dashboard.addWidgets(...failoverWidgets(props));
  dashboard.addWidgets(...timingWidgets());
  dashboard.addWidgets(...queueAndWorkflowWidgets(props));
  dashboard.addWidgets(...lambdaWidgets(props.functions));
  return dashboard;
}

/** Failovers and their outcomes: counts, unconfirmed ones, and a table per cluster from the reactions' logs. */
function failoverWidgets(props: DashboardProps): cloudwatch.IWidget[] {
  return [
    new cloudwatch.GraphWidget({
      title: 'Failovers (count per 5 minutes)',
      width: WIDE,
      height: HIGH,
      left: [
        sentinelEventMetric(METRICS.failoverActedOn, 'Sum', 'acted on'),
        sentinelEventMetric(METRICS.failoverPartial, 'Sum', 'partial (a step failed; retried)'),
        sentinelEventMetric(METRICS.fastFailoverFailed, 'Sum', 'fast path: no promotion followed'),
      ],
      leftYAxis: { label: 'count', showUnits: false, min: 0 },
    }),
    new cloudwatch.SingleValueWidget({
      title: 'Unconfirmed failovers (routing left alone)',
      width: 6,
      height: HIGH,
      metrics: [sentinelEventMetric(METRICS.failoverUnconfirmed, 'Sum', 'unconfirmed, last 5 min')],
    }),
    new cloudwatch.LogQueryWidget({
      title: 'Reactions per cluster and outcome',
      width: WIDE + 6,
      height: HIGH,
      logGroupNames: props.reactionFunctions.map((f) => f.logGroup.logGroupName),
      view: cloudwatch.LogQueryVisualizationType.TABLE,
      queryLines: [
        'fields cluster, kind, outcome',
        'filter ispresent(kind) and ispresent(outcome)',
        'stats count(*) as reactions, max(epoch) as last_epoch by cluster, kind, outcome',
        'sort reactions desc',
      ],
    }),
  ];
}

/** Promotion -> rerouted, each step's duration (one series per step, by SEARCH), and the switchovers' write gap. */
function timingWidgets(): cloudwatch.IWidget[] {
  const rerouted = (statistic: string) =>
    sentinelEventMetric(TIMING_METRICS.reroutedAfterPromotion, statistic, statistic);
  return [
    new cloudwatch.GraphWidget({
      title: 'Failover: promotion seen -> every proxy rerouted (ms)',
      width: 8,
      height: HIGH,
      left: [rerouted('p50'), rerouted('p99'), rerouted('Maximum')],
      leftYAxis: { label: 'ms', showUnits: false, min: 0 },
    }),
    new cloudwatch.GraphWidget({
      title: "Failover: each step's duration, p50 (ms)",
      width: 8,
      height: HIGH,
      left: [
        new cloudwatch.MathExpression({
          expression: `SEARCH('{${METRICS.namespace},${TIMING_METRICS.stepDimension},service} MetricName="${TIMING_METRICS.stepDuration}"', 'p50', 300)`,
          label: '',
          period: FIVE_MINUTES,
        }),
      ],
      leftYAxis: { label: 'ms', showUnits: false, min: 0 },
    }),
    new cloudwatch.GraphWidget({
      title: 'Switchover: writes blocked (ms)',
      width: 8,
      height: HIGH,
      left: ['p50', 'Maximum'].map(
        (statistic) =>
          new cloudwatch.Metric({
            namespace: METRICS.namespace,
            metricName: TIMING_METRICS.switchoverWriteGap,
            dimensionsMap: { service: 'ha-redis-switchover-step' },
            statistic,
            period: FIVE_MINUTES,
            label: statistic,
          }),
      ),
      leftYAxis: { label: 'ms', showUnits: false, min: 0 },
    }),
  ];
}

/** The dead-letter queues' depth, and each state machine's executions by outcome. */
function queueAndWorkflowWidgets(props: DashboardProps): cloudwatch.IWidget[] {
  return [
    new cloudwatch.GraphWidget({
      title: 'Dead-letter queues: messages waiting',
      width: 8,
      height: HIGH,
      left: props.deadLetterQueues.map(({ label, queue }) =>
        queue.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES, statistic: 'Maximum', label }),
      ),
      leftYAxis: { label: 'messages', showUnits: false, min: 0 },
    }),
    ...props.stateMachines.map(
      ({ label, machine }) =>
        new cloudwatch.GraphWidget({
          title: `${label} executions (count per 5 minutes)`,
          width: 8,
          height: HIGH,
          left: [
            machine.metricStarted({ period: FIVE_MINUTES, label: 'started' }),
            machine.metricSucceeded({ period: FIVE_MINUTES, label: 'succeeded' }),
            machine.metricFailed({ period: FIVE_MINUTES, label: 'failed' }),
            machine.metricTimedOut({ period: FIVE_MINUTES, label: 'timed out' }),
            machine.metricAborted({ period: FIVE_MINUTES, label: 'aborted' }),
          ],
          leftYAxis: { label: 'count', showUnits: false, min: 0 },
        }),
    ),
  ];
}

/** For each Lambda: errors, duration (p99), concurrency and throttles, one graph per measure. */
function lambdaWidgets(functions: lambda.Function[]): cloudwatch.IWidget[] {
  const label = (f: lambda.Function) => f.node.id;
  const graph = (title: string, unit: string, metricOf: (f: lambda.Function) => cloudwatch.IMetric) =>
    new cloudwatch.GraphWidget({
      title,
      width: 6,
      height: HIGH,
      left: functions.map(metricOf),
      leftYAxis: { label: unit, showUnits: false, min: 0 },
    });
  return [
    graph('Lambda errors (count per 5 minutes)', 'count', (f) =>
      f.metricErrors({ period: FIVE_MINUTES, label: label(f) }),
    ),
    graph('Lambda duration, p99 (ms)', 'ms', (f) =>
      f.metricDuration({ period: FIVE_MINUTES, statistic: 'p99', label: label(f) }),
    ),
    graph('Lambda concurrent executions (max)', 'executions', (f) =>
      f.metric('ConcurrentExecutions', { period: FIVE_MINUTES, statistic: 'Maximum', label: label(f) }),
    ),
    graph('Lambda throttles (count per 5 minutes)', 'count', (f) =>
      f.metricThrottles({ period: FIVE_MINUTES, label: label(f) }),
    ),
  ];
}
