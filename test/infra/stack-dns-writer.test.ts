import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DNS_BATCH_SIZE,
  DNS_MAX_RECEIVES,
  DNS_QUEUE_VISIBILITY_S,
  DNS_WRITER_TIMEOUT_S,
} from '../../infra/constructs/dns-writer.ts';
import { actionsOf, SYNTH_TIMEOUT_MS, statementsOfFunction, synthesize } from './stack-fixture.ts';

/** One writer of the master records per hosted zone: the FIFO queue, its consumer, and who may change Route53. */

let template: Template;

beforeAll(() => {
  ({ template } = synthesize({ bundle: false }));
}, SYNTH_TIMEOUT_MS);

const actionsOfFunction = (name: string) =>
  statementsOfFunction(template, name).statements.flatMap((s) => actionsOf(s));

describe('the DNS writer', () => {
  it('queues the writes in a FIFO queue, KMS-encrypted, with a FIFO dead-letter queue after 5 receives', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      KmsMasterKeyId: Match.anyValue(),
      VisibilityTimeout: DNS_QUEUE_VISIBILITY_S,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DnsWriteDlq'), 'Arn'] },
        maxReceiveCount: DNS_MAX_RECEIVES,
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      MessageRetentionPeriod: 14 * 86_400,
    });
    // AWS: a source queue's visibility timeout at least 6 times the function's timeout.
    expect(DNS_QUEUE_VISIBILITY_S).toBeGreaterThanOrEqual(6 * DNS_WRITER_TIMEOUT_S);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DnsWriteDlq'), 'QueueName'] } },
      ],
    });
  });

  it('consumes the queue with the dns-writer, 10 at a time, reporting the failed messages only', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DnsWrites'), 'Arn'] },
      FunctionName: { Ref: Match.stringLikeRegexp('^DnsWriter') },
      BatchSize: DNS_BATCH_SIZE,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it('lets only the dns-writer change the records; the reactions and workflows read them and queue writes', () => {
    expect(actionsOfFunction('DnsWriter')).toEqual(
      expect.arrayContaining(['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets']),
    );
    expect(actionsOfFunction('DnsWriter')).not.toContain('sqs:SendMessage');
    for (const name of ['SentinelEvent', 'Reconcile', 'SwitchoverStep', 'MaintenanceStep']) {
      const actions = actionsOfFunction(name);
      expect(actions, name).not.toContain('route53:ChangeResourceRecordSets');
      expect(actions, name).toContain('route53:ListResourceRecordSets');
      expect(actions, name).toContain('sqs:SendMessage');
    }
  });
});
