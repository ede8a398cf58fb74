import type { SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { type ClusterConfig, type Endpoint, EndpointSchema } from '../../core/model/cluster.ts';
import { AwsServiceError } from '../../core/model/errors.ts';
import type { Clock, Dns, DnsUpsertResult } from '../../core/ports.ts';
import { sendFifo } from './fifo-send.ts';
import { hostedZoneFor } from './route53-dns.ts';

/**
 * One master record to write, as the reactions hand it to the zone's writer (the dns-writer Lambda) through the
 * FIFO queue. `queuedAt` (epoch ms) lets the writer say how long the record waited.
 */
export const DnsUpsertMessageSchema = z.strictObject({
  contract: z.literal('dns-upsert'),
  version: z.literal(1),
  cluster: z.string().min(1),
  master: EndpointSchema,
  epoch: z.number().int().nonnegative(),
  queuedAt: z.number().int().nonnegative(),
});
export type DnsUpsertMessage = z.infer<typeof DnsUpsertMessageSchema>;

export interface QueuedDnsOptions {
  client: SQSClient;
  /** The FIFO queue the dns-writer Lambda consumes. */
  queueUrl: string;
  /** Reads the record as it stands (Route53Dns): `status` compares it with the master. */
  reader: Pick<Dns, 'currentMaster'>;
  clock: Clock;
}

/**
 * The master record's writes, sent to one writer per hosted zone: a FIFO queue whose message group is the zone.
 * Lambda hands a group's messages to one invocation at a time, in order ("Using Lambda with Amazon SQS", FIFO
 * queues), so a zone gets one change at a time, each holding up to 10 clusters' records, instead of one change
 * per reacting Lambda, which at fleet scale throttles (the fleet simulation: README, "Running many clusters").
 * The writer refuses a record older than the cluster's last claimed epoch (the state store).
 */
export class QueuedDns implements Dns {
  private readonly options: QueuedDnsOptions;

  constructor(options: QueuedDnsOptions) {
    this.options = options;
  }

  async upsertMaster(cluster: ClusterConfig, master: Endpoint, epoch: number): Promise<DnsUpsertResult> {
    // Refuse here what the writer could never write, so that the reaction says so, not a dead-letter queue.
    const zone = hostedZoneFor(cluster, master);
    const message: DnsUpsertMessage = {
      contract: 'dns-upsert',
      version: 1,
      cluster: cluster.name,
      master: { host: master.host, port: master.port },
      epoch,
      queuedAt: this.options.clock.now(),
    };
    await sendFifo(
      this.options.client,
      this.options.queueUrl,
      { body: message, group: zone, identity: `${cluster.name}\n${epoch}\n${master.host}:${master.port}` },
      {
        what: `${cluster.dns.recordName} -> ${master.host} (cluster ${cluster.name}, epoch ${epoch}) for hosted zone ${zone}`,
        error: AwsServiceError,
      },
      this.options.clock,
    );
    return 'queued';
  }

  currentMaster(cluster: ClusterConfig): Promise<{ master: Endpoint; epoch: number } | undefined> {
    return this.options.reader.currentMaster(cluster);
  }
}
