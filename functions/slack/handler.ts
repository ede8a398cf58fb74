import { InvalidInputError } from '../../core/model/errors.ts';
import type { DeferredTask } from './contract.ts';
import { makeDeferredHandler } from './deferred.ts';
import { type GetSlackDeps, SLACK_TIMING, type SlackTiming } from './deps.ts';
import {
  ack,
  FunctionUrlEventSchema,
  fromFunctionUrlEvent,
  type HttpRequest,
  type HttpResponse,
  plain,
  rawBodyOf,
} from './http.ts';
import { interaction } from './interactions.ts';
import { slashCommand } from './slash-command.ts';
import { verifySlackSignature } from './verify.ts';

/**
 * The Slack front door: the `/redis` slash command and the interactivity callback of its buttons, on one URL.
 *
 * 1. verify Slack's signature (nothing else is touched before it passes)
 * 2. parse the command or the block_actions payload
 * 3. authorize the user for the cluster (the one who clicks, too)
 * 4. answer within Slack's 3 s: a reply, or "working…" and a deferred task that posts to response_url
 *
 * This file holds the factories; the AWS entry is lambda.ts.
 */

/** The Slack request handler; the same function serves the AWS Function URL and the local loopback port. */
export function makeSlackHandler(
  getDeps: GetSlackDeps,
  timing: Partial<SlackTiming> = {},
): (req: HttpRequest) => Promise<HttpResponse> {
  const limits = { ...SLACK_TIMING, ...timing };
  return async (req) => {
    const deps = await getDeps();
    const rawBody = rawBodyOf(req);
    const check = verifySlackSignature({
      headers: req.headers,
      rawBody,
      signingSecret: await deps.signingSecret(),
      nowMs: deps.clock.now(),
    });
    if (!check.ok) {
      deps.logger.warn('slack request rejected: bad signature; nothing done', { reason: check.reason });
      return plain(401, 'invalid or missing Slack signature');
    }
    const form = new URLSearchParams(rawBody.toString('utf8'));
    if (form.has('payload')) return interaction(deps, form.get('payload') ?? '');
    if (form.has('command')) return slashCommand(deps, Object.fromEntries(form), limits);
    if (form.get('ssl_check') === '1') return ack();
    return plain(400, 'neither a slash command nor an interaction payload');
  };
}

/**
 * One Lambda serves both: a Function URL request (Slack) is answered over HTTP; an event shaped
 * `{ deferred: ... }` is the function invoking itself for work that outlasts Slack's deadline.
 */
export function makeLambdaHandler(
  getDeps: GetSlackDeps,
  timing: Partial<SlackTiming> = {},
): (event: unknown) => Promise<HttpResponse | undefined> {
  const slack = makeSlackHandler(getDeps, timing);
  const deferred = makeDeferredHandler(getDeps, timing);
  return async (event) => {
    if (typeof event === 'object' && event !== null && 'deferred' in event) {
      await deferred(event as DeferredTask);
      return undefined;
    }
    const parsed = FunctionUrlEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new InvalidInputError(
        'the Slack function takes a Function URL request (payload format 2.0) or a { deferred } task; got neither',
      );
    }
    if (parsed.data.requestContext.http.method !== 'POST') return plain(405, 'Slack sends POST');
    return slack(fromFunctionUrlEvent(parsed.data));
  };
}
