import * as cdk from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { METRICS } from '../../core/model/metrics.ts';

/**
 * The alarms, each to the notification topic. Created in the scope it is given (the stack), so every logical id
 * stays as deployed (`<what>Alarm`).
 */
export interface AlarmsProps {
  notificationsTopic: sns.ITopic;
  sentinelEventDlq: sqs.IQueue;
  notifyDlq: sqs.IQueue;
  switchoverStateMachine: sfn.StateMachine;
  maintenanceStateMachine: sfn.StateMachine;
  /** Every Lambda of the stack: each alarms on its errors, named by its construct id. */
  functions: lambda.Function[];
}

const MINUTE = cdk.Duration.minutes(1);

/** Dead letters, unconfirmed failovers, failed workflows and Lambda errors: any one occurrence alarms. */
export function addAlarms(scope: Construct, props: AlarmsProps): void {
  const alarmAction = new cwActions.SnsAction(props.notificationsTopic);
  const alarm = (id: string, metric: cloudwatch.IMetric, description: string) =>
    new cloudwatch.Alarm(scope, `${id}Alarm`, {
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    }).addAlarmAction(alarmAction);
  alarm(
    'SentinelEventDlqNotEmpty',
    props.sentinelEventDlq.metricApproximateNumberOfMessagesVisible({ period: MINUTE }),
    'Sentinel events could not be processed after retries; see the runbook: replay them or run ha-redis status',
  );
  alarm(
    'NotifyDlqNotEmpty',
    props.notifyDlq.metricApproximateNumberOfMessagesVisible({ period: MINUTE }),
    'Notifications could not be delivered after retries (Slack or a webhook refused); the history still has every outcome',
  );
  alarm(
    'FailoverUnconfirmed',
    new cloudwatch.Metric({
      namespace: METRICS.namespace,
      metricName: METRICS.failoverUnconfirmed,
      dimensionsMap: { service: 'ha-redis-sentinel-event' },
      statistic: 'Sum',
      period: MINUTE,
    }),
    'Sentinel reported a failover that a majority did not confirm; routing was not changed. See the runbook',
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
  for (const f of props.functions) {
    alarm(`${f.node.id}Errors`, f.metricErrors({ period: MINUTE }), `${f.node.id} Lambda errors`);
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
