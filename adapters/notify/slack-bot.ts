import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
} from '@slack/web-api';
import { errorMessage } from '../../core/model/errors.ts';
import { wallClock } from '../aws/retry.ts';
import {
  DELIVERY_TIMEOUT_MS,
  DeliveryAttemptError,
  type DeliverySettings,
  deliverWithRetries,
  httpFailure,
  type NotificationTarget,
  networkFailure,
} from './delivery.ts';
import type { FormattedNotification } from './format.ts';

/** Slack API error codes that mean "try again" (docs.slack.dev, chat.postMessage errors); the rest are final. */
const TRANSIENT_SLACK_ERRORS: ReadonlySet<string> = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'ratelimited',
]);

export interface SlackBotTargetOptions extends DeliverySettings {
  /** The channel id (C... or G...) the bot posts to; the bot must be a member. */
  channel: string;
  /** The bot token (xoxb-...), read at each delivery (a secret, cached by its source). */
  token: () => Promise<string> | string;
  /** `slack:<channel>` by default. */
  name?: string;
  /** The Web API base URL; Slack's own by default. Tests point it at a loopback server. */
  slackApiUrl?: string;
}

/**
 * chat.postMessage with the deployment's bot token (`@slack/web-api`). The client's own retries and its
 * waiting on rate limits are off (`retries: 0`, `rejectRateLimitedCalls`), so that one bounded policy on
 * the injected clock applies to every target.
 */
export class SlackBotTarget implements NotificationTarget {
  readonly name: string;
  private readonly options: SlackBotTargetOptions;
  private client: { token: string; web: WebClient } | undefined;

  constructor(options: SlackBotTargetOptions) {
    this.name = options.name ?? `slack:${options.channel}`;
    this.options = options;
  }

  async deliver(n: FormattedNotification): Promise<void> {
    const web = this.clientFor(await this.options.token());
    const clock = this.options.clock ?? wallClock;
    await deliverWithRetries(
      this.name,
      async () => {
        try {
          await web.chat.postMessage({
            channel: this.options.channel,
            text: n.slack.text,
            blocks: n.slack.blocks,
            unfurl_links: false,
            unfurl_media: false,
          });
        } catch (error) {
          throw slackFailure(error, clock.now());
        }
      },
      this.options,
    );
  }

  /** One client per token: a rotated token gets a new client. */
  private clientFor(token: string): WebClient {
    if (this.client?.token !== token) {
      const base = this.options.slackApiUrl;
      const web = new WebClient(token, {
        ...(base ? { slackApiUrl: base.endsWith('/') ? base : `${base}/` } : {}),
        retryConfig: { retries: 0 },
        rejectRateLimitedCalls: true,
        timeout: this.options.timeoutMs ?? DELIVERY_TIMEOUT_MS,
        logLevel: LogLevel.ERROR,
      });
      this.client = { token, web };
    }
    return this.client.web;
  }
}

/** The Web API client's errors as one attempt's verdict. Its messages never quote the token. */
function slackFailure(error: unknown, now: number): DeliveryAttemptError {
  if (error instanceof WebAPIRateLimitedError) {
    return new DeliveryAttemptError(`HTTP 429 rate limited (Retry-After ${error.retryAfter} s)`, {
      status: 429,
      retryable: true,
      retryAfterMs: error.retryAfter * 1000,
    });
  }
  if (error instanceof WebAPIHTTPError) {
    const body = typeof error.body === 'string' ? error.body : JSON.stringify(error.body ?? '');
    return httpFailure(error.statusCode, body, error.headers['retry-after'], now);
  }
  if (error instanceof WebAPIPlatformError) {
    const code = error.data.error;
    return new DeliveryAttemptError(`Slack answered ${code}`, {
      status: 200,
      retryable: TRANSIENT_SLACK_ERRORS.has(code),
    });
  }
  if (error instanceof WebAPIRequestError) return networkFailure(error.original);
  // The client throws a plain Error for a 429 without a readable Retry-After: transient.
  return new DeliveryAttemptError(errorMessage(error), { retryable: true }, { cause: error });
}
