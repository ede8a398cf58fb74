import { httpFailure, networkFailure } from './delivery.ts';
import type { FormattedNotification } from './format.ts';
import { type WebhookAttempt, WebhookTarget } from './webhook-target.ts';

/**
 * A generic webhook: POSTs the notification's JSON document (`FormattedNotification.json`), with the
 * document id as Idempotency-Key so that a receiver can drop the repeats a retry may cause. Any 2xx is a
 * success; redirects are refused (a secret URL is not followed elsewhere).
 */
export class JsonWebhookTarget extends WebhookTarget {
  protected async post(
    n: FormattedNotification,
    { url, fetch, timeoutMs, now }: WebhookAttempt,
  ): Promise<void> {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'ha-redis', 'idempotency-key': n.id },
        body: JSON.stringify(n.json),
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw networkFailure(error, url);
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) throw httpFailure(response.status, text, response.headers.get('retry-after'), now());
  }
}
