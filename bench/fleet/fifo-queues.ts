/**
 * The FIFO queues a failover hands its writes to, and their consumers, as AWS runs them (infra/constructs/
 * queued-writes.ts): the reactions' SendMessage (the real QueuedDns and QueuedRoutingNodeOps) lands in an
 * aws-sdk-client-mock of SQS; each queue drops a message whose deduplication id it saw in the last 5 minutes, and
 * hands each message group to one invocation at a time, up to 10 messages, with at most `maxConcurrency` groups
 * at once, to the REAL consumer handler (dns-writer on Route53Dns, routing-persist on SsmNodeOps, so on the fakes
 * of aws-fakes.ts). What the handler reports failed comes back, with the rest of its group, after the visibility
 * timeout.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SendMessageCommand, type SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { FIFO_BATCH_SIZE } from '../../infra/constructs/queued-writes.ts';
import { BucketMap, LIMITS, uniform } from './limits.ts';

export interface QueueCounts {
  sent: number;
  /** Accepted and not delivered: the same deduplication id within 5 minutes (a retried reaction's). */
  deduplicated: number;
  /** SendMessage refused over the FIFO queue's rate. */
  throttled: number;
  batches: number;
  /** Messages the consumer reported failed (each comes back after the visibility timeout). */
  retried: number;
  coldStarts: number;
}

/** One consumer environment's handler. */
type Consumer = (
  event: SQSEvent,
  context: { getRemainingTimeInMillis(): number },
) => Promise<{ response: SQSBatchResponse }>;

interface Queued {
  id: string;
  body: string;
  group: string;
}

/** SQS FIFO: "messages sent with the same deduplication ID are accepted but not delivered" for 5 minutes. */
const DEDUP_WINDOW_MS = 5 * 60_000;

/** One queue, its event source and its consumer's environments. */
export class FifoQueueSim {
  readonly counts: QueueCounts = {
    sent: 0,
    deduplicated: 0,
    throttled: 0,
    batches: 0,
    retried: 0,
    coldStarts: 0,
  };
  private readonly groups = new Map<string, Queued[]>();
  private readonly busy = new Set<string>();
  /** Groups whose failed messages are invisible until the visibility timeout: nothing of them is handed out. */
  private readonly blocked = new Set<string>();
  private readonly waiting: string[] = [];
  private readonly idle: Consumer[] = [];
  private readonly seen = new Map<string, number>();
  /** High throughput mode (infra/constructs/queued-writes.ts): the send rate is per message group. */
  private readonly sendRate = new BucketMap(LIMITS.sqsFifo.sendPerSec, LIMITS.sqsFifo.sendPerSec);
  private outstanding = 0;
  private readonly settled: (() => void)[] = [];
  private readonly options: {
    newConsumer: () => Consumer;
    maxConcurrency: number;
    timeoutMs: number;
    visibilityMs: number;
  };

  constructor(options: FifoQueueSim['options']) {
    this.options = options;
  }

  /** SendMessage, as the mock receives it. */
  send(input: SendMessageCommandInput): { MessageId: string } {
    if (!this.sendRate.take(input.MessageGroupId ?? '')) {
      this.counts.throttled += 1;
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    }
    this.counts.sent += 1;
    const id = `q${this.counts.sent}`;
    const dedup = input.MessageDeduplicationId ?? id;
    const at = this.seen.get(dedup);
    if (at !== undefined && Date.now() - at < DEDUP_WINDOW_MS) {
      this.counts.deduplicated += 1;
      return { MessageId: id };
    }
    this.seen.set(dedup, Date.now());
    this.outstanding += 1;
    const group = input.MessageGroupId ?? '';
    this.groups.set(group, [...(this.groups.get(group) ?? []), { id, body: input.MessageBody ?? '', group }]);
    this.schedule(group);
    return { MessageId: id };
  }

  /** Resolves when every message sent so far has been done or dropped. */
  async drained(): Promise<void> {
    if (this.outstanding === 0) return;
    await new Promise<void>((resolve) => this.settled.push(resolve));
  }

  /** A group with messages runs when it is not running and a concurrency slot is free; else it waits its turn. */
  private schedule(group: string): void {
    if (this.busy.has(group) || this.blocked.has(group) || this.waiting.includes(group)) return;
    if (this.busy.size >= this.options.maxConcurrency) {
      this.waiting.push(group);
      return;
    }
    this.busy.add(group);
    void this.deliver(group);
  }

  private release(group: string): void {
    this.busy.delete(group);
    const next = this.waiting.shift();
    if (next !== undefined) this.schedule(next);
    if ((this.groups.get(group) ?? []).length) this.schedule(group);
    if (this.outstanding === 0) for (const resolve of this.settled.splice(0)) resolve();
  }

  /** One batch of the group: Lambda's poller picks it up, an environment runs the consumer. */
  private async deliver(group: string): Promise<void> {
    await sleep(uniform(LIMITS.sqsFifo.pickUpMs));
    const batch = (this.groups.get(group) ?? []).splice(0, FIFO_BATCH_SIZE);
    let consumer = this.idle.pop();
    if (!consumer) {
      this.counts.coldStarts += 1;
      await sleep(uniform(LIMITS.lambda.coldStartMs));
      consumer = this.options.newConsumer();
    }
    this.counts.batches += 1;
    const endsAt = Date.now() + this.options.timeoutMs;
    const { response } = await consumer({ Records: batch.map(recordOf) } as SQSEvent, {
      getRemainingTimeInMillis: () => endsAt - Date.now(),
    });
    this.idle.push(consumer);
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    this.outstanding -= batch.length - failed.size;
    if (failed.size) {
      // The failed messages (the rest of the group with them) come back after the visibility timeout; the group
      // holds its place meanwhile (FIFO: nothing later in it is handed out).
      this.counts.retried += failed.size;
      this.blocked.add(group);
      this.release(group);
      await sleep(this.options.visibilityMs);
      this.groups.set(group, [...batch.filter((m) => failed.has(m.id)), ...(this.groups.get(group) ?? [])]);
      this.blocked.delete(group);
      this.schedule(group);
      return;
    }
    this.release(group);
  }
}

const recordOf = (m: Queued): SQSRecord =>
  ({ messageId: m.id, body: m.body, attributes: { MessageGroupId: m.group } }) as unknown as SQSRecord;

/** SQS for a run: SendMessage goes to the queue its QueueUrl names. */
export function installSqs(queues: Record<string, FifoQueueSim>): { restore(): void } {
  const mock = mockClient(SQSClient);
  mock.on(SendMessageCommand).callsFake((input: SendMessageCommandInput) => {
    const queue = queues[input.QueueUrl ?? ''];
    if (!queue) throw Object.assign(new Error(`no queue ${input.QueueUrl}`), { name: 'QueueDoesNotExist' });
    return queue.send(input);
  });
  return { restore: () => mock.restore() };
}
