import type { SNSEvent, SNSEventRecord } from 'aws-lambda';
import {
  deliverAll,
  NotificationDeliveryError,
  type NotificationTarget,
} from '../../adapters/notify/delivery.ts';
import { formatMessage } from '../../adapters/notify/format.ts';
import { errorMessage } from '../../core/model/errors.ts';
import type { Logger } from '../../core/ports.ts';
import { parseNotifyMessage } from '../../events/notifications.ts';
import type { DeliveryLedger } from './ledger.ts';

/** The notify Lambda's factory; the AWS entry is lambda.ts. */

/** What notify needs: a logger, each cluster's delivery targets, and the ledger of deliveries done. */
export interface NotifyDeps {
  logger: Logger;
  /**
   * The delivery targets of a cluster, or, for `undefined` (an alarm names no cluster), of every cluster,
   * deduplicated by name. An unknown cluster throws UnknownClusterError.
   */
  targets(cluster: string | undefined): Promise<NotificationTarget[]> | NotificationTarget[];
  /** Targets this container already delivered an SNS message to; skipped when the Lambda retries it. */
  ledger?: DeliveryLedger;
}

export type NotifyOutcome =
  | { action: 'delivered'; title: string; delivered: string[]; skipped: string[] }
  | { action: 'no-targets'; title: string }
  | { action: 'rejected'; reason: string };

/**
 * Each SNS record of the notification topic: parse (a Notification or a CloudWatch alarm), find the targets,
 * format, deliver to all. A malformed message, or one for an unknown cluster, is logged and dropped: a retry
 * cannot fix it. A failed delivery throws (after every record was tried), so that the Lambda retries the
 * invocation and then hands it to its dead-letter queue.
 */
export function makeNotifyHandler(getDeps: () => Promise<NotifyDeps> | NotifyDeps) {
  return async (event: SNSEvent): Promise<NotifyOutcome[]> => {
    const deps = await getDeps();
    const results = await Promise.allSettled((event.Records ?? []).map((record) => notifyOne(record, deps)));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, failures.map(errorMessage).join(' | '));
    return results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  };
}

async function notifyOne(record: SNSEventRecord | undefined, deps: NotifyDeps): Promise<NotifyOutcome> {
  const log = deps.logger;
  const messageId = record?.Sns?.MessageId ?? '';
  const parsed = parseNotifyMessage(record?.Sns?.Message);
  if (!parsed.ok) {
    log.error('notification message rejected; not delivered, not retried', {
      messageId,
      reason: parsed.reason,
    });
    return { action: 'rejected', reason: parsed.reason };
  }
  const cluster = parsed.message.type === 'notification' ? parsed.message.notification.cluster : undefined;
  let targets: NotificationTarget[];
  try {
    targets = await deps.targets(cluster);
  } catch (error) {
    if (error instanceof Error && error.name === 'UnknownClusterError') {
      log.error('notification for an unknown cluster rejected; not delivered', { messageId, cluster });
      return { action: 'rejected', reason: errorMessage(error) };
    }
    throw error;
  }
  const formatted = formatMessage(parsed.message);
  if (!targets.length) {
    log.warn('no notification targets configured; nothing delivered', {
      messageId,
      cluster,
      title: formatted.title,
    });
    return { action: 'no-targets', title: formatted.title };
  }
  const ledger = deps.ledger;
  try {
    const result = await deliverAll(targets, formatted, (target) => ledger?.has(messageId, target) ?? false);
    for (const target of result.delivered) ledger?.add(messageId, target);
    log.info('notification delivered', { messageId, cluster, title: formatted.title, ...result });
    return { action: 'delivered', title: formatted.title, ...result };
  } catch (error) {
    if (error instanceof NotificationDeliveryError) {
      for (const target of error.delivered) ledger?.add(messageId, target);
    }
    log.error('notification not delivered to every target', {
      messageId,
      cluster,
      title: formatted.title,
      error: errorMessage(error),
    });
    throw error;
  }
}
