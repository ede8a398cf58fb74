// biome-ignore-all lint/suspicious/noExplicitAny: CloudFormation properties are untyped JSON
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { BRIDGE_METRICS, METRICS } from '../../core/model/metrics.ts';
import { SYNTH_TIMEOUT_MS, synthesize } from './stack-fixture.ts';

/** The stack's alarms: what they watch, and where they go (an alarm topic of its own, and Slack). */

let template: Template;

beforeAll(() => {
  ({ template } = synthesize({ bundle: false }));
}, SYNTH_TIMEOUT_MS);

describe('HaRedisStack alarms', () => {
  it('alarms to an alarm topic of its own (and to the notifications, unless about the notify path): dead letters, unconfirmed and partial failovers, failed workflows, Lambda errors and throttles, a silent reconcile', () => {
    const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm')) as [
      string,
      { Properties: Record<string, any> },
    ][];
    for (const [id, alarm] of alarms) {
      const notifyPath = /^(NotifyDlq|NotifyErrors|NotifyThrottles)/.test(id);
      expect(alarm.Properties.AlarmActions).toEqual([
        { Ref: expect.stringMatching(/^Alarms/) },
        ...(notifyPath ? [] : [{ Ref: expect.stringMatching(/^Notifications/) }]),
      ]);
    }
    expect(alarms.some(([id]) => id.startsWith('NotifyErrors'))).toBe(true);
    template.hasOutput('AlarmTopicArn', { Value: { Ref: Match.stringLikeRegexp('^Alarms') } });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
    });
    // A new dead letter alarms even while the queue is already not empty (that alarm stays in ALARM).
    template.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      { MetricName: 'NumberOfMessagesSent', Namespace: 'AWS/SQS', Statistic: 'Sum' },
      2,
    );
    for (const metric of [METRICS.failoverUnconfirmed, METRICS.failoverPartial]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        Namespace: METRICS.namespace,
      });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'failed + timedOut + aborted' })]),
    });
    for (const metric of ['Errors', 'Throttles']) {
      template.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        { MetricName: metric, Namespace: 'AWS/Lambda' },
        10,
      );
    }
    // No invocation of the reconcile for 5 minutes, missing data included, alarms (one shard: any run at all).
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Invocations',
      Namespace: 'AWS/Lambda',
      Period: 300,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^Reconcile') } }],
    });
  });

  it('alarms when the bridges’ heartbeats differ from the 6 expected (one per Sentinel of the config) for 5 minutes in a row, missing data included, and when a bridge drops events', () => {
    // Arrange: what every bridge of this deployment stamps its metrics with.
    const ofTopic = [
      {
        Name: BRIDGE_METRICS.topicDimension,
        Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SentinelEvents'), 'TopicName'] },
      },
    ];

    // Assert: one alarm for the deployment, over the per-minute sum of heartbeats.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('^Heartbeats of the Sentinel event bridges'),
      Metrics: [
        {
          Id: 'expr_1',
          Expression: 'ABS(FILL(beats, 0) - 6)',
          Label: 'bridges heartbeating minus the 6 expected',
          ReturnData: true,
        },
        {
          Id: 'beats',
          MetricStat: {
            Metric: { Namespace: 'HaRedis/Bridge', MetricName: 'BridgeHeartbeat', Dimensions: ofTopic },
            Period: 60,
            Stat: 'Sum',
          },
          ReturnData: false,
        },
      ],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      TreatMissingData: 'breaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'HaRedis/Bridge',
      MetricName: 'BridgeEventsDropped',
      Dimensions: ofTopic,
      Statistic: 'Sum',
      Period: 60,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
    // Neither a per-host alarm nor one per bridge: at fleet scale those would be 1500 resources.
    template.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      { Metrics: Match.arrayWith([Match.objectLike({ Id: 'beats' })]) },
      1,
    );
  });
});
