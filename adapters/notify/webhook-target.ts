import { wallClock } from '../aws/retry.ts';
import {
  DELIVERY_TIMEOUT_MS,
  type DeliverySettings,
  deliverWithRetries,
  type NotificationTarget,
} from './delivery.ts';
import type { FormattedNotification } from './format.ts';

export interface WebhookTargetOptions extends DeliverySettings {
  /** Names the target in logs and errors; never the URL (a secret). */
  name: string;
  /** The URL, read at each delivery (a secret, cached by its source). */
  url: () => Promise<string> | string;
  /** For tests; the global fetch by default. */
  fetch?: typeof fetch;
}

/** What one attempt of a webhook post gets. */
export interface WebhookAttempt {
  url: string;
  fetch: typeof fetch;
  timeoutMs: number;
  /** Clock time, for an HTTP-date Retry-After. */
  now: () => number;
}

/** A target that POSTs to a secret URL: the URL read once per delivery, each attempt under bounded retries. */
export abstract class WebhookTarget implements NotificationTarget {
  readonly name: string;
  protected readonly options: WebhookTargetOptions;

  constructor(options: WebhookTargetOptions) {
    this.name = options.name;
    this.options = options;
  }

  async deliver(n: FormattedNotification): Promise<void> {
    const clock = this.options.clock ?? wallClock;
    const attempt: WebhookAttempt = {
      url: await this.options.url(),
      fetch: this.options.fetch ?? fetch,
      timeoutMs: this.options.timeoutMs ?? DELIVERY_TIMEOUT_MS,
      now: () => clock.now(),
    };
    await deliverWithRetries(this.name, () => this.post(n, attempt), this.options);
  }

  /** One attempt; throws a DeliveryAttemptError (httpFailure, networkFailure) that says whether to retry. */
  protected abstract post(n: FormattedNotification, attempt: WebhookAttempt): Promise<void>;
}
