import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Slack request signing (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `x-slack-signature` = `v0=` + hex HMAC-SHA256(signing secret, `v0:{x-slack-request-timestamp}:{raw body}`).
 *
 * Hand-written on purpose: the Node SDK's verifier lives in @slack/bolt, which brings express and an HTTP
 * receiver this Lambda does not use; @slack/web-api and @slack/types have none. The check is a few lines of
 * node:crypto, compared in constant time.
 */

/** Requests older (or newer) than this are refused: a captured request cannot be replayed later. */
export const MAX_CLOCK_SKEW_S = 5 * 60;

const SIGNATURE = /^v0=[0-9a-f]{64}$/;
const TIMESTAMP = /^\d{1,12}$/;

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** `v0=<hex>` for a body sent at `timestamp` (seconds, as Slack writes it). */
export function slackSignature(signingSecret: string, timestamp: string, rawBody: Buffer | string): string {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`v0:${timestamp}:`);
  hmac.update(rawBody);
  return `v0=${hmac.digest('hex')}`;
}

/** Header lookup that ignores case, as HTTP does. */
export function headerOf(headers: Record<string, string | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/**
 * Whether the request was signed by Slack with `signingSecret` within MAX_CLOCK_SKEW_S of `nowMs`.
 * The reason is for logs: it never holds the secret or the expected signature.
 */
export function verifySlackSignature(request: {
  headers: Record<string, string | undefined>;
  rawBody: Buffer;
  signingSecret: string;
  nowMs: number;
}): SignatureCheck {
  const timestamp = headerOf(request.headers, 'x-slack-request-timestamp')?.trim();
  const signature = headerOf(request.headers, 'x-slack-signature')?.trim();
  if (!timestamp || !signature) return { ok: false, reason: 'missing x-slack-signature or timestamp header' };
  if (!TIMESTAMP.test(timestamp)) return { ok: false, reason: 'x-slack-request-timestamp is not a number' };
  const skew = Math.abs(Math.floor(request.nowMs / 1000) - Number(timestamp));
  if (skew > MAX_CLOCK_SKEW_S) {
    return {
      ok: false,
      reason: `timestamp is ${skew} s off (limit ${MAX_CLOCK_SKEW_S} s): a replay or a bad clock`,
    };
  }
  if (!SIGNATURE.test(signature)) return { ok: false, reason: 'x-slack-signature is not v0=<64 hex digits>' };
  const expected = Buffer.from(slackSignature(request.signingSecret, timestamp, request.rawBody), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // timingSafeEqual throws on different lengths; the format check above makes them equal, this keeps it safe.
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: 'signature does not match the body' };
  }
  return { ok: true };
}
