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
 * The writes a failover hands off instead of waiting for them, each to a FIFO queue and one consumer per message
 * group ("Using Lambda with Amazon SQS", FIFO queues: one batch of a group at a time, in order):
 * - **DNS**: the group is the hosted zone; the dns-writer writes a batch of up to 10 records as one Route53 change,
 *   so changes to one zone never race, and 170 failovers at once make ~17 changes, not 170.
 * - **Routing persists** (update-haproxy over SSM): the group is the proxy's host; the routing-persist Lambda runs
 *   them one at a time per host, a few hosts at once, so that SSM's rate is not exceeded and no reaction waits.
 * A batch that fails is handed again after the visibility timeout, then dead-lettered (and alarmed).
 */

/**
 * The writer's timeout: a cold start's config read (≤ 2 × 2 s), the claims, and the change with its retries
 * (≤ ~10 s, ROUTE53_WRITER_RETRY), with room: a timeout would hand the whole batch back, written records too.
 */
export const DNS_WRITER_TIMEOUT_S = 30;
/** The persist's timeout: up to 10 commands of ~1 s on one host, and SSM's waits. */
export const ROUTING_PERSIST_TIMEOUT_S = 60;
/** AWS: a source queue's visibility timeout should be at least 6 times the function's timeout. */
export const VISIBILITY_TIMEOUTS = 6;
/** Attempts at a batch before its messages go to the dead-letter queue (and the alarm). */
export const MAX_RECEIVES = 5;
/** A FIFO event source hands at most 10 messages to one invocation. */
export const FIFO_BATCH_SIZE = 10;
/**
 * Hosts persisted at once: each runs ~1 SSM command a second, so 5 stay under SSM's send rate (unpublished; the
 * fleet simulation assumes 10/s) with room for the reactions' fences.
 */
export const ROUTING_PERSIST_CONCURRENCY = 5;

/** A FIFO queue and its FIFO dead-letter queue. */
export interface FifoQueue {
  queue: sqs.Queue;
  deadLetterQueue: sqs.Queue;
}

/** The queues, made first: every Lambda's environment names them (LAMBDA_ENV). */
export function queuedWriteQueues(scope: Construct, key: kms.IKey): { dns: FifoQueue; routing: FifoQueue } {
  const fifo = (id: string, timeoutS: number): FifoQueue => {
    const common = {
      fifo: true,
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
    };
    // High throughput: the 300-a-second cap is per message group (zone, host), not per queue, so that 330
    // routing persists queued at once by an AZ's failovers are not throttled; deduplication per group with it.
    const throughput = {
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
    };
    // A FIFO queue's dead-letter queue is FIFO too.
    const deadLetterQueue = new sqs.Queue(scope, `${id}Dlq`, {
      ...common,
      retentionPeriod: cdk.Duration.days(14),
    });
    const queue = new sqs.Queue(scope, `${id}s`, {
      ...common,
      ...throughput,
      visibilityTimeout: cdk.Duration.seconds(timeoutS * VISIBILITY_TIMEOUTS),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: MAX_RECEIVES },
    });
    return { queue, deadLetterQueue };
  };
  return {
    dns: fifo('DnsWrite', DNS_WRITER_TIMEOUT_S),
    routing: fifo('RoutingPersist', ROUTING_PERSIST_TIMEOUT_S),
  };
}

export interface QueuedWritersProps {
  config: DeploymentConfig;
  lambdas: LambdaFactory;
  access: ClusterAccess;
  queues: { dns: FifoQueue; routing: FifoQueue };
}

/** The two consumers: the only function that may change the master records, and the routing persist. */
export class QueuedWriters {
  readonly dnsWriterFunction: nodejs.NodejsFunction;
  readonly routingPersistFunction: nodejs.NodejsFunction;

  constructor(_scope: Construct, props: QueuedWritersProps) {
    const { config, lambdas, access } = props;
    this.dnsWriterFunction = lambdas.create('dns-writer', {
      timeout: cdk.Duration.seconds(DNS_WRITER_TIMEOUT_S),
      description:
        'Writes the master records of one hosted zone at a time, in order, refusing an older epoch',
      // Route53 and S3 only: no host of the clusters.
      inVpc: false,
    });
    const zones = new Set(config.clusters.map((c) => c.dns.hostedZoneId)).size;
    this.dnsWriterFunction.addEventSource(
      new sources.SqsEventSource(props.queues.dns.queue, {
        batchSize: FIFO_BATCH_SIZE,
        reportBatchItemFailures: true,
        // At most one batch per zone runs anyway (FIFO groups); 2 is the least SQS event sources take.
        maxConcurrency: Math.min(1000, Math.max(2, zones)),
      }),
    );
    access.grantDnsWrite(this.dnsWriterFunction);

    this.routingPersistFunction = lambdas.create('routing-persist', {
      timeout: cdk.Duration.seconds(ROUTING_PERSIST_TIMEOUT_S),
      description:
        "Persists the proxies' routing on their hosts (update-haproxy), one host's commands in order",
      // SSM only: the command runs on the host, no connection to it.
      inVpc: false,
    });
    this.routingPersistFunction.addEventSource(
      new sources.SqsEventSource(props.queues.routing.queue, {
        batchSize: FIFO_BATCH_SIZE,
        reportBatchItemFailures: true,
        maxConcurrency: ROUTING_PERSIST_CONCURRENCY,
      }),
    );
    access.grantRoutingPersist(this.routingPersistFunction);
  }
}
