/**
 * The master records' FIFO queue and its consumer as AWS runs them: the reactions' SendMessage (QueuedDns, the real
 * adapter) lands in an aws-sdk-client-mock of SQS; the queue hands each message group (hosted zone) to one
 * invocation at a time, up to 10 messages, to the REAL dns-writer handler on the real Route53Dns (so on the Route53
 * fake of aws-fakes.ts). A message the handler reports failed comes back, with the rest of its group, after the
 * queue's visibility timeout.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SendMessageCommand, type SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { ROUTE53_WRITER_RETRY, Route53Dns } from '../../adapters/aws/route53-dns.ts';
import type { ClusterRegistry } from '../../core/model/cluster.ts';
import type { Clock, Logger } from '../../core/ports.ts';
import { makeDnsWriterHandler } from '../../functions/dns-writer/handler.ts';
import { DNS_BATCH_SIZE, DNS_QUEUE_VISIBILITY_S } from '../../infra/constructs/dns-writer.ts';
import { LIMITS, TokenBucket, uniform } from './limits.ts';

export interface DnsQueueCounts {
  sent: number;
  /** SendMessage refused over the FIFO queue's rate. */
  throttled: number;
  batches: number;
  /** Messages the writer reported failed (each comes back after the visibility timeout). */
  retried: number;
  coldStarts: number;
}

interface Queued {
  id: string;
  body: string;
  group: string;
}

/** The queue, its event source and the writer's environments. */
export class DnsQueueSim {
  readonly counts: DnsQueueCounts = { sent: 0, throttled: 0, batches: 0, retried: 0, coldStarts: 0 };
  private readonly groups = new Map<string, Queued[]>();
  private readonly busy = new Set<string>();
  private readonly idle: ReturnType<typeof makeDnsWriterHandler>[] = [];
  private readonly sendRate = new TokenBucket(LIMITS.sqsFifo.sendPerSec, LIMITS.sqsFifo.sendPerSec);
  private readonly mock = mockClient(SQSClient);
  private outstanding = 0;
  private readonly settled: (() => void)[] = [];
  private readonly newWriter: () => ReturnType<typeof makeDnsWriterHandler>;

  constructor(clusters: ClusterRegistry, clock: Clock, logger: Logger) {
    // One writer environment: its own Route53 client and adapter, as dns-writer-aws.ts builds them.
    this.newWriter = () => {
      const dns = new Route53Dns({
        client: new Route53Client({ region: 'eu-west-1' }),
        clock,
        batchWindowMs: 0,
        retry: ROUTE53_WRITER_RETRY,
      });
      return makeDnsWriterHandler(async () => ({ clusters, dns, clock, logger }));
    };
    this.mock.on(SendMessageCommand).callsFake((input: SendMessageCommandInput) => {
      if (!this.sendRate.take()) {
        this.counts.throttled += 1;
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      }
      this.counts.sent += 1;
      this.outstanding += 1;
      const group = input.MessageGroupId ?? '';
      this.push(group, [{ id: `q${this.counts.sent}`, body: input.MessageBody ?? '', group }]);
      return { MessageId: `q${this.counts.sent}` };
    });
  }

  restore(): void {
    this.mock.restore();
  }

  /** Resolves when every message sent so far has been written or dropped. */
  async drained(): Promise<void> {
    if (this.outstanding === 0) return;
    await new Promise<void>((resolve) => this.settled.push(resolve));
  }

  private push(group: string, messages: Queued[], front = false): void {
    const queue = this.groups.get(group) ?? [];
    this.groups.set(group, front ? [...messages, ...queue] : [...queue, ...messages]);
    void this.deliver(group);
  }

  /** One batch of the group at a time: Lambda's poller picks it up, an environment runs the writer. */
  private async deliver(group: string): Promise<void> {
    if (this.busy.has(group)) return;
    this.busy.add(group);
    await sleep(uniform(LIMITS.sqsFifo.pickUpMs));
    const batch = (this.groups.get(group) ?? []).splice(0, DNS_BATCH_SIZE);
    let writer = this.idle.pop();
    if (!writer) {
      this.counts.coldStarts += 1;
      await sleep(uniform(LIMITS.lambda.coldStartMs));
      writer = this.newWriter();
    }
    this.counts.batches += 1;
    const { response } = await writer({ Records: batch.map(recordOf) } as SQSEvent);
    this.idle.push(writer);
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const done = batch.filter((m) => !failed.has(m.id)).length;
    this.outstanding -= done;
    this.busy.delete(group);
    if (failed.size) {
      // The failed messages (the rest of the group with them) are invisible until the visibility timeout.
      this.counts.retried += failed.size;
      this.busy.add(group);
      await sleep(DNS_QUEUE_VISIBILITY_S * 1000);
      this.busy.delete(group);
      this.push(
        group,
        batch.filter((m) => failed.has(m.id)),
        true,
      );
    } else if ((this.groups.get(group) ?? []).length) {
      void this.deliver(group);
    }
    if (this.outstanding === 0) for (const resolve of this.settled.splice(0)) resolve();
  }
}

const recordOf = (m: Queued): SQSRecord =>
  ({ messageId: m.id, body: m.body, attributes: { MessageGroupId: m.group } }) as unknown as SQSRecord;
