import { createHash } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Clock } from '../../core/ports.ts';
import { Backoff, describeAwsError, type RetryPolicy } from './retry.ts';

/**
 * A throttled send is sent again (full jitter, ≤ ~5 s in all): an AZ's failovers queue their records to one
 * zone's message group at once, and SQS takes 300 sends a second per group in high-throughput mode (the fleet
 * simulation at 2000 clusters left 143 reactions partial, each retried by a later event, before this).
 */
export const FIFO_SEND_RETRY: RetryPolicy = { maxAttempts: 6, baseMs: 200, capMs: 2000 };

/**
 * One message to a FIFO queue: `group` orders it (one consumer batch of a group at a time), and `identity` (what
 * makes the write one: cluster or proxy, epoch, master) deduplicates it: SQS accepts and drops a message whose
 * deduplication id it saw in the last 5 minutes, so a retried reaction adds none. The id is a hash of `identity`
 * (SQS takes at most 128 characters there). A refusal is thrown as `failure.error`, saying it could not queue
 * `failure.what`, and why; a throttled send is tried again first (FIFO_SEND_RETRY).
 */
export async function sendFifo(
  client: SQSClient,
  queueUrl: string,
  message: { body: unknown; group: string; identity: string },
  failure: { what: string; error: new (message: string, options: { cause?: unknown }) => Error },
  clock: Clock,
): Promise<void> {
  const command = new SendMessageCommand({
    QueueUrl: queueUrl,
    MessageBody: JSON.stringify(message.body),
    MessageGroupId: message.group,
    MessageDeduplicationId: createHash('sha256').update(message.identity).digest('hex'),
  });
  try {
    await new Backoff(clock).retry(() => client.send(command), FIFO_SEND_RETRY);
  } catch (error) {
    throw new failure.error(`could not queue ${failure.what}: ${describeAwsError(error)}`, { cause: error });
  }
}
