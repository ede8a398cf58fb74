import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import { errorMessage } from '../../core/model/errors.ts';
import type { Logger } from '../../core/ports.ts';

/**
 * A batch of an SQS FIFO event source, by message group: the shared part of the queue consumers (dns-writer,
 * routing-persist). Lambda hands one batch of a group at a time, in order ("Using Lambda with Amazon SQS");
 * when a message fails, it and every later message of its group are reported, so SQS keeps the order.
 */

/** One message read: its record and its parsed body. */
export interface FifoItem<T> {
  record: SQSRecord;
  message: T;
}

/** What became of one message: done, dropped (can never succeed: not retried), or retried by SQS. */
export type FifoOutcome<R> =
  | { messageId: string; done: R }
  | { messageId: string; dropped: string }
  | { messageId: string; retry: string };

/**
 * The batch's messages by group, parsed against `schema`; a message that is not JSON or not the contract is
 * dropped and logged, not retried: it can never succeed, and in a FIFO group it would hold back every later one.
 */
export function groupBatch<S extends z.ZodType>(
  event: SQSEvent,
  schema: S,
  logger: Logger,
): { groups: FifoItem<z.infer<S>>[][]; dropped: FifoOutcome<never>[] } {
  const groups = new Map<string, FifoItem<z.infer<S>>[]>();
  const dropped: FifoOutcome<never>[] = [];
  for (const record of event.Records) {
    const reason = (text: string) => {
      logger.error('queue message dropped', { messageId: record.messageId, reason: text });
      dropped.push({ messageId: record.messageId, dropped: text });
    };
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      reason('the body is not JSON');
      continue;
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      reason(
        `not the queue's contract: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
      continue;
    }
    const group = record.attributes.MessageGroupId ?? '';
    groups.set(group, [...(groups.get(group) ?? []), { record, message: parsed.data }]);
  }
  return { groups: [...groups.values()], dropped };
}

/** Outcomes of a group's settled work, index for index: from the first failure on, everything is retried. */
export function groupOutcomes<T, R>(
  items: FifoItem<T>[],
  settled: PromiseSettledResult<R>[],
): FifoOutcome<R>[] {
  const firstFailure = settled.findIndex((s) => s.status === 'rejected');
  return items.map(({ record }, i): FifoOutcome<R> => {
    const outcome = settled[i];
    if (firstFailure >= 0 && i >= firstFailure) {
      const retry =
        outcome?.status === 'rejected'
          ? errorMessage(outcome.reason)
          : 'an earlier message of its group failed';
      return { messageId: record.messageId, retry };
    }
    return { messageId: record.messageId, done: (outcome as PromiseFulfilledResult<R>).value };
  });
}

/** The SQS answer: the messages to hand again. */
export const batchItemFailures = (outcomes: FifoOutcome<unknown>[]) => ({
  batchItemFailures: outcomes.filter((o) => 'retry' in o).map((o) => ({ itemIdentifier: o.messageId })),
});

/** Logs each outcome of a group: what it was about (`about`), done at info, retried at warn. */
export function logOutcomes<T, R extends { result: string; waitedMs: number }>(
  group: FifoItem<T>[],
  outcomes: FifoOutcome<R>[],
  about: (message: T) => Record<string, unknown>,
  logger: Logger,
  what: { done: string; retried: string },
): void {
  for (const [i, o] of outcomes.entries()) {
    const item = group[i];
    const fields = item ? about(item.message) : {};
    if ('done' in o) logger.info(what.done, { ...fields, result: o.done.result, waitedMs: o.done.waitedMs });
    if ('retry' in o) logger.warn(what.retried, { ...fields, reason: o.retry });
  }
}
