import * as cdk from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../../config/schema.ts';
import type { ClusterAccess } from './cluster-access.ts';
import type { LambdaFactory } from './lambda-function.ts';

/**
 * One writer of master records per hosted zone: the reactions and switchovers send each write to a FIFO queue
 * whose message group is the zone (QueuedDns), and the dns-writer Lambda writes a batch of up to 10 as one
 * Route53 change. Lambda hands each message group to one invocation at a time ("Using Lambda with Amazon SQS",
 * FIFO queues), so changes to one zone never race (no PriorRequestNotComplete between ha-redis's own writers),
 * and 170 failovers at once make ~17 changes, not 170.
 */

/** The writer's timeout: Route53's read, change and retries (≤ ~3 s a call, ROUTE53_RETRY) with room. */
export const DNS_WRITER_TIMEOUT_S = 15;
/** AWS: a source queue's visibility timeout should be at least 6 times the function's timeout. */
export const DNS_QUEUE_VISIBILITY_S = DNS_WRITER_TIMEOUT_S * 6;
/** Attempts at a batch before its messages go to the dead-letter queue (and the alarm). */
export const DNS_MAX_RECEIVES = 5;
/** A FIFO event source hands at most 10 messages to one invocation. */
export const DNS_BATCH_SIZE = 10;

/** The queue, made first: every Lambda's environment names it (LAMBDA_ENV.dnsQueueUrl). */
export function dnsQueues(scope: Construct, key: kms.IKey): { queue: sqs.Queue; deadLetterQueue: sqs.Queue } {
  const common = {
    fifo: true,
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
  };
  // A FIFO queue's dead-letter queue is FIFO too.
  const deadLetterQueue = new sqs.Queue(scope, 'DnsWriteDlq', {
    ...common,
    retentionPeriod: cdk.Duration.days(14),
  });
  const queue = new sqs.Queue(scope, 'DnsWrites', {
    ...common,
    visibilityTimeout: cdk.Duration.seconds(DNS_QUEUE_VISIBILITY_S),
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: DNS_MAX_RECEIVES },
  });
  return { queue, deadLetterQueue };
}

export interface DnsWriterProps {
  config: DeploymentConfig;
  lambdas: LambdaFactory;
  access: ClusterAccess;
  queue: sqs.IQueue;
}

/** The dns-writer Lambda on the queue; the only function that may change the master records. */
export class DnsWriter {
  readonly writerFunction: nodejs.NodejsFunction;

  constructor(_scope: Construct, props: DnsWriterProps) {
    const { config, lambdas, access, queue } = props;
    this.writerFunction = lambdas.create('dns-writer', {
      timeout: cdk.Duration.seconds(DNS_WRITER_TIMEOUT_S),
      description:
        'Writes the master records of one hosted zone at a time, in order, refusing an older epoch',
      // Route53 and S3 only: no host of the clusters.
      inVpc: false,
    });
    const zones = new Set(config.clusters.map((c) => c.dns.hostedZoneId)).size;
    this.writerFunction.addEventSource(
      new sources.SqsEventSource(queue, {
        batchSize: DNS_BATCH_SIZE,
        reportBatchItemFailures: true,
        // At most one batch per zone runs anyway (FIFO groups); 2 is the least SQS event sources take.
        maxConcurrency: Math.min(1000, Math.max(2, zones)),
      }),
    );
    access.grantDnsWrite(this.writerFunction);
  }
}
