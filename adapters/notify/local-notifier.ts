import { errorMessage } from '../../core/model/errors.ts';
import type { Notification } from '../../core/model/records.ts';
import type { Logger, Notifier } from '../../core/ports.ts';
import type { DeliverySettings } from './delivery.ts';
import { type FormattedNotification, formatNotification } from './format.ts';
import { JsonWebhookTarget } from './json-webhook.ts';

export interface LocalNotifierOptions extends DeliverySettings {
  /** Also POST each outcome's JSON document here (bounded retries); failures are logged, never thrown. */
  webhookUrl?: string;
  /** Where the plain text block goes; stderr by default. */
  write?: (block: string) => void;
  /** Where a failed webhook delivery is told. */
  logger?: Logger;
  /** For tests; the global fetch by default. */
  fetch?: typeof fetch;
}

/**
 * The local runtime's notifier: each outcome's plain text as one block on stderr and, when a webhook URL is
 * given, its JSON document POSTed there. Publishing never throws and never waits for the webhook: a
 * notification must neither fail nor slow a failover (a switchover releases its lease after notifying).
 * `idle()` waits for the deliveries under way (tests, shutdown).
 */
export class LocalNotifier implements Notifier {
  private readonly write: (block: string) => void;
  private readonly logger: Logger | undefined;
  private readonly webhook: JsonWebhookTarget | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(options: LocalNotifierOptions = {}) {
    this.write = options.write ?? ((block) => process.stderr.write(block));
    this.logger = options.logger;
    const url = options.webhookUrl;
    this.webhook = url
      ? new JsonWebhookTarget({ ...options, name: 'local-webhook', url: () => url })
      : undefined;
  }

  async publish(notification: Notification): Promise<void> {
    let formatted: FormattedNotification;
    try {
      formatted = formatNotification(notification);
    } catch (error) {
      this.logger?.warn('notification not formatted', {
        cluster: notification.cluster,
        error: errorMessage(error),
      });
      return;
    }
    try {
      this.write(`${formatted.text}\n`);
    } catch (error) {
      this.logger?.warn('notification not printed', {
        cluster: notification.cluster,
        error: errorMessage(error),
      });
    }
    if (this.webhook) this.deliverInBackground(this.webhook, formatted);
  }

  private deliverInBackground(webhook: JsonWebhookTarget, formatted: FormattedNotification): void {
    const delivery = webhook
      .deliver(formatted)
      .catch((error: unknown) =>
        this.logger?.warn('notification not delivered to the local webhook', {
          title: formatted.title,
          error: errorMessage(error),
        }),
      )
      .finally(() => this.pending.delete(delivery));
    this.pending.add(delivery);
  }

  /** Resolves when every webhook delivery started so far has ended. */
  async idle(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
