import { IncomingWebhook, IncomingWebhookHTTPError } from '@slack/webhook';
import { httpFailure, networkFailure } from './delivery.ts';
import type { FormattedNotification } from './format.ts';
import { type WebhookAttempt, WebhookTarget } from './webhook-target.ts';

/**
 * A Slack incoming webhook (`@slack/webhook`): posts the Slack text and blocks to the webhook's channel.
 * The SDK's own retries are off (its default); ours apply. Its HTTP error keeps no headers, so a thin fetch
 * wrapper notes Retry-After for a 429.
 */
export class SlackWebhookTarget extends WebhookTarget {
  protected async post(
    n: FormattedNotification,
    { url, fetch, timeoutMs, now }: WebhookAttempt,
  ): Promise<void> {
    let retryAfter: string | null = null;
    const webhook = new IncomingWebhook(url, {
      timeout: timeoutMs,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        retryAfter = response.headers.get('retry-after');
        return response;
      },
    });
    try {
      await webhook.send({
        text: n.slack.text,
        blocks: n.slack.blocks,
        unfurl_links: false,
        unfurl_media: false,
      });
    } catch (error) {
      if (error instanceof IncomingWebhookHTTPError) {
        throw httpFailure(error.statusCode, String(error.body ?? ''), retryAfter, now());
      }
      throw networkFailure(error, url);
    }
  }
}
