import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import type { Clock } from '../../core/ports.ts';
import { Backoff, type RetryPolicy, wallClock } from '../aws/retry.ts';
import type { FormattedNotification } from './format.ts';

/** Where a formatted notification goes: a Slack channel, a Slack incoming webhook, a JSON webhook. */
export interface NotificationTarget {
  /** Identifies the target in logs and errors, and for deduplication; never a secret (no URL, no token). */
  name: string;
  /** Delivers once, with the target's own bounded retries; throws when it gave up. */
  deliver(n: FormattedNotification): Promise<void>;
}

/**
 * Four attempts, 0.5 s doubling to 4 s with full jitter: rides out a blip or a short Slack rate limit in a few
 * seconds. Anything longer is left to the Lambda's own async retries (minutes apart), then its DLQ.
 */
export const DELIVERY_RETRY: RetryPolicy = { maxAttempts: 4, baseMs: 500, capMs: 4000 };
/** Per HTTP request: an endpoint slower than this is treated as down (and retried). */
export const DELIVERY_TIMEOUT_MS = 5000;
/** A Retry-After longer than this is not waited for in the Lambda: the target fails now, the Lambda retries later. */
export const MAX_RETRY_AFTER_MS = 10_000;

/** How a target paces and bounds its attempts; every field has a default. */
export interface DeliverySettings {
  clock?: Clock;
  /** Jitter source of the backoff; tests pass `() => 0`. */
  random?: () => number;
  policy?: RetryPolicy;
  timeoutMs?: number;
  maxRetryAfterMs?: number;
}

/** One failed attempt, and whether another may help: network errors, 429 and 5xx may; other 4xx never. */
export class DeliveryAttemptError extends HaRedisError {
  /** HTTP status; undefined when no response arrived (network error, timeout). */
  readonly status: number | undefined;
  readonly retryable: boolean;
  /** From Retry-After, when the answer had one. */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    details: { status?: number; retryable: boolean; retryAfterMs?: number | undefined },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DeliveryAttemptError';
    this.status = details.status;
    this.retryable = details.retryable;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** A target that gave up: after its retries, or at once for an answer no retry can change. */
export class TargetDeliveryError extends HaRedisError {
  readonly target: string;
  readonly attempts: number;
  constructor(target: string, attempts: number, cause: unknown) {
    const why = errorMessage(cause);
    const retryable = !(cause instanceof DeliveryAttemptError) || cause.retryable;
    super(
      retryable
        ? `${target}: ${why} (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'})`
        : `${target}: ${why} (not retried: fix the target or its configuration)`,
      { cause },
    );
    this.name = 'TargetDeliveryError';
    this.target = target;
    this.attempts = attempts;
  }
}

/** Some targets did not get the notification; the others did. */
export class NotificationDeliveryError extends HaRedisError {
  readonly failed: string[];
  readonly delivered: string[];
  constructor(title: string, failures: { target: string; error: unknown }[], delivered: string[]) {
    const why = failures.map((f) =>
      f.error instanceof TargetDeliveryError ? f.error.message : `${f.target}: ${errorMessage(f.error)}`,
    );
    super(
      `notification "${title}" not delivered to ${failures.length} of ${failures.length + delivered.length} targets: ` +
        `${why.join('; ')}${delivered.length ? ` (delivered to ${delivered.join(', ')})` : ''}. ` +
        'The Lambda retries it, then its dead-letter queue keeps it',
    );
    this.name = 'NotificationDeliveryError';
    this.failed = failures.map((f) => f.target);
    this.delivered = delivered;
  }
}

/** An HTTP answer that is not a success: 429 and 5xx are worth another attempt, other statuses are not. */
export function httpFailure(
  status: number,
  body: string,
  retryAfter: string | null | undefined,
  now: number,
): DeliveryAttemptError {
  const retryable = status === 429 || status >= 500;
  const text = body.trim().slice(0, 200);
  return new DeliveryAttemptError(`HTTP ${status}${text ? ` ${text}` : ''}`, {
    status,
    retryable,
    retryAfterMs: status === 429 ? parseRetryAfter(retryAfter, now) : undefined,
  });
}

/**
 * No answer: connection refused or reset, DNS, timeout. Worth another attempt. With `secretUrl`, the URL is
 * cut from the message and the original error is not kept (its text may quote the URL).
 */
export function networkFailure(error: unknown, secretUrl?: string): DeliveryAttemptError {
  const inner = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  const message = `no answer (${errorMessage(error)}${inner})`;
  return secretUrl === undefined
    ? new DeliveryAttemptError(message, { retryable: true }, { cause: error })
    : new DeliveryAttemptError(withoutUrl(message, secretUrl), { retryable: true });
}

/** Retry-After as seconds or an HTTP date (RFC 9110), in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Runs `attempt` with bounded retries (the shared Backoff, on the injected clock): a retryable failure waits
 * the jittered backoff, and at least its Retry-After; a Retry-After beyond `maxRetryAfterMs`, or a failure
 * that is not retryable, ends it at once. Throws a TargetDeliveryError naming the target.
 */
export async function deliverWithRetries(
  target: string,
  attempt: () => Promise<void>,
  settings: DeliverySettings = {},
): Promise<void> {
  const clock = settings.clock ?? wallClock;
  const backoff = new Backoff(clock, settings.random);
  const maxRetryAfterMs = settings.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS;
  let attempts = 0;
  let waitMs = 0;
  try {
    await backoff.retry(
      async () => {
        if (waitMs > 0) await clock.sleep(waitMs);
        waitMs = 0;
        attempts += 1;
        await attempt();
      },
      settings.policy ?? DELIVERY_RETRY,
      (error) => {
        if (!(error instanceof DeliveryAttemptError)) return true; // unclassified: treat as transient
        if (!error.retryable) return false;
        if (error.retryAfterMs !== undefined) {
          if (error.retryAfterMs > maxRetryAfterMs) return false;
          waitMs = error.retryAfterMs;
        }
        return true;
      },
    );
  } catch (error) {
    throw new TargetDeliveryError(target, attempts, error);
  }
}

/**
 * Delivers to every target at once; returns the names delivered to (and those skipped). When any target
 * failed (after its own retries), throws one NotificationDeliveryError naming them, so that the Lambda's async
 * retry, and then its DLQ, take over.
 *
 * A retry of the whole invocation runs every target again, so a target that succeeded may get the message
 * twice. `skip` narrows that: the handler passes the targets this container already delivered this SNS message
 * to. Another container does not know them, so duplicates stay possible; that is accepted, since a repeated
 * notification is harmless and a lost one is not (Slack's chat.postMessage has no idempotency key; the JSON
 * webhook sends the document id as Idempotency-Key so that a receiver can drop repeats).
 */
export async function deliverAll(
  targets: readonly NotificationTarget[],
  n: FormattedNotification,
  skip: (target: string) => boolean = () => false,
): Promise<{ delivered: string[]; skipped: string[] }> {
  const skipped = targets.filter((t) => skip(t.name)).map((t) => t.name);
  const due = targets.filter((t) => !skip(t.name));
  const results = await Promise.allSettled(due.map((t) => t.deliver(n)));
  const delivered: string[] = [];
  const failures: { target: string; error: unknown }[] = [];
  results.forEach((r, i) => {
    const name = due[i]?.name ?? '?';
    if (r.status === 'fulfilled') delivered.push(name);
    else failures.push({ target: name, error: r.reason });
  });
  if (failures.length) throw new NotificationDeliveryError(n.title, failures, delivered);
  return { delivered, skipped };
}

/** The URL removed from a message: webhook URLs are secrets, and some errors quote the URL they failed on. */
export function withoutUrl(message: string, url: string): string {
  return url ? message.split(url).join('<webhook url>') : message;
}
