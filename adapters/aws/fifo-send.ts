import { createHash } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { describeAwsError } from './retry.ts';

/**
 * One message to a FIFO queue: `group` orders it (one consumer batch of a group at a time), and `identity` (what
 * makes the write one: cluster or proxy, epoch, master) deduplicates it: SQS accepts and drops a message whose
 * deduplication id it saw in the last 5 minutes, so a retried reaction adds none. The id is a hash of `identity`
 * (SQS takes at most 128 characters there). A refusal is thrown as `failure.error`, saying it could not queue
 * `failure.what`, and why.
 */
export async function sendFifo(
  client: SQSClient,
  queueUrl: string,
  message: { body: unknown; group: string; identity: string },
  failure: { what: string; error: new (message: string, options: { cause?: unknown }) => Error },
): Promise<void> {
  try {
    await client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(message.body),
        MessageGroupId: message.group,
        MessageDeduplicationId: createHash('sha256').update(message.identity).digest('hex'),
      }),
    );
  } catch (error) {
    throw new failure.error(`could not queue ${failure.what}: ${describeAwsError(error)}`, { cause: error });
  }
}
