import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DNS_WRITER_TIMEOUT_S,
  FIFO_BATCH_SIZE,
  MAX_RECEIVES,
  ROUTING_PERSIST_CONCURRENCY,
  ROUTING_PERSIST_TIMEOUT_S,
  VISIBILITY_TIMEOUTS,
} from '../../infra/constructs/queued-writes.ts';
import { actionsOf, SYNTH_TIMEOUT_MS, statementsOfFunction, synthesize } from './stack-fixture.ts';

/**
 * The writes a failover hands off: DNS to one writer per hosted zone, routing persists to one queue per proxy
 * host. The FIFO queues, their consumers, and who may do what.
 */

let template: Template;

beforeAll(() => {
  ({ template } = synthesize({ bundle: false }));
}, SYNTH_TIMEOUT_MS);

const statementsOf = (name: string) => statementsOfFunction(template, name).statements;
const actionsOfFunction = (name: string) => statementsOf(name).flatMap((s) => actionsOf(s));

describe.each([
  {
    queue: 'DnsWrites',
    dlq: 'DnsWriteDlq',
    consumer: 'DnsWriter',
    timeoutS: DNS_WRITER_TIMEOUT_S,
    concurrency: 2,
  },
  {
    queue: 'RoutingPersists',
    dlq: 'RoutingPersistDlq',
    consumer: 'RoutingPersist',
    timeoutS: ROUTING_PERSIST_TIMEOUT_S,
    concurrency: ROUTING_PERSIST_CONCURRENCY,
  },
])('the $queue queue', ({ queue, dlq, consumer, timeoutS, concurrency }) => {
  it('is FIFO, KMS-encrypted, with a FIFO dead-letter queue after 5 receives that alarms when not empty', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      KmsMasterKeyId: Match.anyValue(),
      // AWS: a source queue's visibility timeout at least 6 times the function's timeout.
      VisibilityTimeout: timeoutS * VISIBILITY_TIMEOUTS,
      // High throughput: SQS's 300 sends a second per message group (zone, host), not per queue.
      FifoThroughputLimit: 'perMessageGroupId',
      DeduplicationScope: 'messageGroup',
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${dlq}`), 'Arn'] },
        maxReceiveCount: MAX_RECEIVES,
      },
    });
    expect(VISIBILITY_TIMEOUTS).toBeGreaterThanOrEqual(6);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${dlq}`), 'QueueName'] } },
      ],
    });
  });

  it('is consumed 10 at a time, reporting only the failed messages, with a bounded concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${queue}`), 'Arn'] },
      FunctionName: { Ref: Match.stringLikeRegexp(`^${consumer}`) },
      BatchSize: FIFO_BATCH_SIZE,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: concurrency },
    });
  });
});

describe('who may do what', () => {
  it('lets only the dns-writer change the records; the reactions and workflows read them and queue writes', () => {
    expect(actionsOfFunction('DnsWriter')).toEqual(
      expect.arrayContaining(['route53:ChangeResourceRecordSets', 'dynamodb:GetItem']),
    );
    // It reads no record (the claims in the state table are its epoch guard), and writes no state.
    expect(actionsOfFunction('DnsWriter')).not.toContain('route53:ListResourceRecordSets');
    expect(actionsOfFunction('DnsWriter')).not.toContain('dynamodb:PutItem');
    expect(actionsOfFunction('DnsWriter').filter((a) => a.startsWith('dynamodb:'))).toEqual([
      'dynamodb:GetItem',
    ]);
    expect(actionsOfFunction('DnsWriter')).not.toContain('route53:GetChange');
    expect(actionsOfFunction('DnsWriter')).not.toContain('sqs:SendMessage');
    expect(actionsOfFunction('DnsWriter')).not.toContain('ssm:SendCommand');
    for (const name of ['SentinelEvent', 'Reconcile', 'SwitchoverStep', 'MaintenanceStep']) {
      const actions = actionsOfFunction(name);
      expect(actions, name).not.toContain('route53:ChangeResourceRecordSets');
      expect(actions, name).toContain('route53:ListResourceRecordSets');
      expect(actions, name).toContain('sqs:SendMessage');
    }
  });

  it('lets routing-persist send update-haproxy only, to the clusters instances, and nothing of Route53', () => {
    const send = statementsOf('RoutingPersist').filter((s) => actionsOf(s).includes('ssm:SendCommand'));
    const documents = send.find((s) => s.Sid === 'SendOurDocuments');
    expect(JSON.stringify(documents?.Resource)).toContain('-update-haproxy');
    expect(JSON.stringify(documents?.Resource)).not.toContain('-fence-node');
    expect(send.find((s) => s.Sid === 'SendToClusterInstances')?.Condition).toBeDefined();
    expect(actionsOfFunction('RoutingPersist').filter((a) => a.startsWith('route53:'))).toEqual([]);
  });
});
