import { InvalidInputError } from '../../core/model/errors.ts';
import { type GetDeps, SLACK_TIMING, type SlackFrontDeps, type SlackTiming } from './deps.ts';
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
 * This file holds the factories; the AWS entry is lambda.ts. The deferred tasks run elsewhere: in the worker
 * Lambda on AWS (functions/slack-worker), whose role reads the clusters; in-process locally.
 */

/** The Slack request handler; the same function serves the AWS Function URL and the local loopback port. */
export function makeSlackHandler(
  getDeps: GetDeps<SlackFrontDeps>,
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
 * The front's Lambda: a Function URL request (Slack), answered over HTTP. Nothing else: deferred work is the
 * worker's, and the front refuses to run it.
 */
export function makeLambdaHandler(
  getDeps: GetDeps<SlackFrontDeps>,
  timing: Partial<SlackTiming> = {},
): (event: unknown) => Promise<HttpResponse> {
  const slack = makeSlackHandler(getDeps, timing);
  return async (event) => {
    const parsed = FunctionUrlEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new InvalidInputError(
        'the Slack function takes a Function URL request (payload format 2.0) only; deferred work goes to the slack-worker function',
      );
    }
    if (parsed.data.requestContext.http.method !== 'POST') return plain(405, 'Slack sends POST');
    return slack(fromFunctionUrlEvent(parsed.data));
  };
}
