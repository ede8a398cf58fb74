import middy from '@middy/core';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { z } from 'zod';
import { observability } from '../../adapters/logging/observability.ts';
import type { ClusterConfig, ClusterRegistry } from '../../core/model/cluster.ts';
import { errorMessage, InvalidInputError } from '../../core/model/errors.ts';
import type {
  Clock,
  HistoryEntry,
  Logger,
  MaintenanceMode,
  StateStore,
  WorkflowExecution,
  WorkflowStarter,
} from '../../core/ports.ts';
import type { StatusReport } from '../../core/status/report.ts';
import {
  type SwitchoverInput,
  SwitchoverInputSchema,
  type SwitchoverPlan,
  type SwitchoverState,
  SwitchoverStateSchema,
} from '../../core/switchover/state.ts';
import { authorize, executionNameOf, parseCommandText, type Requester, requestIdOf } from './commands.ts';
import {
  ACTIONS,
  BlockActionsSchema,
  type ClusterSlack,
  type DeferredTask,
  DeferredTaskSchema,
  type SlackMessage,
  type SlashCommand,
  SlashCommandSchema,
  type SwitchoverButton,
  SwitchoverButtonSchema,
} from './contract.ts';
import {
  AFTER_SWITCH_STATES,
  alreadyRunningMessage,
  cancelledMessage,
  failureMessage,
  helpMessage,
  historyMessage,
  lostTrackMessage,
  maintenanceModeMessage,
  outcomeMessage,
  planMessage,
  planRefusedMessage,
  problemMessage,
  refusalMessage,
  startedMessage,
  statusMessage,
  switchedMessage,
  workingMessage,
} from './messages.ts';
import { verifySlackSignature } from './verify.ts';

/**
 * The Slack front door: the `/redis` slash command and the interactivity callback of its buttons, on one URL.
 *
 * 1. verify Slack's signature (nothing else is touched before it passes)
 * 2. parse the command or the block_actions payload
 * 3. authorize the user for the cluster (the one who clicks, too)
 * 4. answer within Slack's 3 s: a reply, or "working…" and a deferred task that posts to response_url
 */

export type { ClusterSlack, DeferredTask, SlackMessage } from './contract.ts';

/** An HTTP request, as a Function URL or the local loopback server hands it over. */
export interface HttpRequest {
  headers: Record<string, string | undefined>;
  body: string;
  isBase64Encoded?: boolean;
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** What the Slack front door needs from the world. */
export interface SlackDeps {
  clusters: ClusterRegistry;
  /** The cluster's `slack` block; absent = nobody may act on it from Slack. */
  slackOf(cluster: string): ClusterSlack | undefined;
  signingSecret(): Promise<string>;
  clock: Clock;
  logger: Logger;
  /** Starts and describes the switchover execution. */
  workflows: WorkflowStarter;
  /** The dry-run plan (read-only). */
  plan(input: SwitchoverInput): Promise<SwitchoverPlan>;
  status(cluster: ClusterConfig): Promise<StatusReport>;
  history(cluster: string, limit: number): Promise<HistoryEntry[]>;
  /** Where `/redis maintenance pause|resume` sets the cluster's maintenance mode (the state store). */
  maintenance: Pick<StateStore, 'setMaintenanceMode'>;
  /** POST to Slack's response_url. */
  respond(responseUrl: string, message: SlackMessage): Promise<void>;
  /** Run the task after the reply (AWS: an async self-invoke; local: in-process). */
  defer(task: DeferredTask): Promise<void>;
  /** Ids of the user groups the user is in, for allowedGroups. */
  userGroups?(userId: string): Promise<string[]>;
}

/** Time limits of the front door, in milliseconds. */
export interface SlackTiming {
  /** The dry-run plan gets this long inside Slack's 3 s; slower, it is deferred. */
  planBudgetMs: number;
  /** The watch asks where the execution is this often. */
  watchPollMs: number;
  /**
   * The watch stops following after this long (a switchover takes ~10-30 s, a recovery up to ~2 min). It must
   * end, and post, inside the Lambda's timeout (600 s in the stack).
   */
  watchTimeoutMs: number;
  /** Consecutive failed describes after which the watch gives up. */
  watchMaxFailures: number;
}

export const SLACK_TIMING: SlackTiming = {
  planBudgetMs: 2000,
  watchPollMs: 1000,
  watchTimeoutMs: 9 * 60_000,
  watchMaxFailures: 10,
};

type GetDeps = () => SlackDeps | Promise<SlackDeps>;

const JSON_HEADERS = { 'content-type': 'application/json' };
const TEXT_HEADERS = { 'content-type': 'text/plain; charset=utf-8' };

const reply = (message: SlackMessage): HttpResponse => ({
  statusCode: 200,
  headers: JSON_HEADERS,
  body: JSON.stringify(message),
});
const plain = (statusCode: number, body: string): HttpResponse => ({
  statusCode,
  headers: TEXT_HEADERS,
  body,
});
/** The acknowledgement of an interaction: Slack wants a 200 within 3 s; the answer goes to response_url. */
const ack = (): HttpResponse => plain(200, '');

/** The body bytes exactly as sent: the signature covers them. */
const rawBodyOf = (req: HttpRequest): Buffer =>
  req.isBase64Encoded ? Buffer.from(req.body, 'base64') : Buffer.from(req.body, 'utf8');

/** The Slack request handler; the same function serves the AWS Function URL and the local loopback port. */
export function makeSlackHandler(
  getDeps: GetDeps,
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

/** Authorize `who` for `cluster`; a refusal is logged (ids and reason only) and returned as its reason. */
async function check(deps: SlackDeps, cluster: string, who: Requester): Promise<string | undefined> {
  let reason: string | undefined;
  try {
    const decision = await authorize(cluster, deps.slackOf(cluster), who, deps.userGroups?.bind(deps));
    reason = decision.allowed ? undefined : decision.reason;
  } catch (error) {
    deps.logger.error('slack user group lookup failed', {
      userId: who.userId,
      cluster,
      error: errorMessage(error),
    });
    reason = `your user groups could not be checked (${errorMessage(error)}); try again, or ask to be added to slack.allowedUsers`;
  }
  if (reason)
    deps.logger.warn('slack request refused', {
      userId: who.userId,
      channelId: who.channelId,
      cluster,
      reason,
    });
  return reason;
}

async function slashCommand(
  deps: SlackDeps,
  fields: Record<string, string>,
  limits: SlackTiming,
): Promise<HttpResponse> {
  const parsed = SlashCommandSchema.safeParse(fields);
  if (!parsed.success)
    return plain(400, `not a slash command: ${z.prettifyError(parsed.error).replaceAll('\n', ' ')}`);
  const command = parsed.data;
  const what = parseCommandText(command.text, deps.clusters);
  if (!what.ok) return reply(problemMessage(command.command, what.problem));
  const sub = what.command;
  if (sub.kind === 'help') return reply(helpMessage(command.command, deps.clusters.names()));
  const refused = await check(deps, sub.cluster, { userId: command.user_id, channelId: command.channel_id });
  if (refused) return reply(refusalMessage(refused));
  const responseUrl = command.response_url;
  switch (sub.kind) {
    case 'status':
      return deferOrFail(
        deps,
        { deferred: { kind: 'status', cluster: sub.cluster, responseUrl } },
        `Checking ${sub.cluster}`,
      );
    case 'history':
      return deferOrFail(
        deps,
        { deferred: { kind: 'history', cluster: sub.cluster, limit: sub.limit, responseUrl } },
        `Reading the history of ${sub.cluster}`,
      );
    case 'switchover':
      return planSwitchover(deps, command, sub, limits);
    case 'maintenance':
      return setMaintenanceMode(deps, command, sub);
  }
}

/** Pause or resume scheduled maintenance of a cluster; the channel sees who did it. */
async function setMaintenanceMode(
  deps: SlackDeps,
  command: SlashCommand,
  sub: { cluster: string; pause: boolean; reason?: string },
): Promise<HttpResponse> {
  const mode: MaintenanceMode = {
    paused: sub.pause,
    by: `slack:${command.user_id}`,
    at: deps.clock.now(),
    reason: sub.reason ?? (sub.pause ? `paused from Slack by ${command.user_id}` : ''),
  };
  try {
    await deps.maintenance.setMaintenanceMode(sub.cluster, mode);
  } catch (error) {
    deps.logger.error('slack: setting the maintenance mode failed', {
      cluster: sub.cluster,
      paused: sub.pause,
      error: errorMessage(error),
    });
    return reply(
      failureMessage(`${sub.pause ? 'pause' : 'resume'} maintenance of ${sub.cluster}`, errorMessage(error)),
    );
  }
  deps.logger.info('slack: maintenance mode set', {
    cluster: sub.cluster,
    paused: sub.pause,
    userId: command.user_id,
  });
  return reply(maintenanceModeMessage(sub.cluster, mode));
}

/** Hand the work over and say so; a failed hand-over is said too. */
async function deferOrFail(deps: SlackDeps, task: DeferredTask, working: string): Promise<HttpResponse> {
  try {
    await deps.defer(task);
    return reply(workingMessage(working));
  } catch (error) {
    deps.logger.error('slack: deferring work failed', {
      kind: task.deferred.kind,
      error: errorMessage(error),
    });
    return reply(failureMessage('start the work in the background', errorMessage(error)));
  }
}

type Budgeted<T> = { kind: 'done'; value: T } | { kind: 'failed'; error: unknown } | { kind: 'timeout' };

/** `work`'s outcome, or timeout after `ms`; a late rejection of `work` is absorbed, never unhandled. */
function withinBudget<T>(work: Promise<T>, ms: number, clock: Clock): Promise<Budgeted<T>> {
  const settled = work.then(
    (value): Budgeted<T> => ({ kind: 'done', value }),
    (error: unknown): Budgeted<T> => ({ kind: 'failed', error }),
  );
  return Promise.race([settled, clock.sleep(ms).then((): Budgeted<T> => ({ kind: 'timeout' }))]);
}

/** Reply with the dry-run plan and the buttons, the refusal, or "planning…" and a deferred plan. */
async function planSwitchover(
  deps: SlackDeps,
  command: SlashCommand,
  sub: { cluster: string; target?: string },
  limits: SlackTiming,
): Promise<HttpResponse> {
  const input = SwitchoverInputSchema.parse({
    cluster: sub.cluster,
    ...(sub.target ? { target: sub.target } : {}),
    requestedBy: `slack:${command.user_id}`,
    reason: `dry run from Slack ${command.command} by ${command.user_id}`,
    dryRun: true,
  });
  const requestId = requestIdOf(command);
  // Through a promise, so that a plan that throws at once is a refusal like any other.
  const planning = Promise.resolve(input).then((i) => deps.plan(i));
  const outcome = await withinBudget(planning, limits.planBudgetMs, deps.clock);
  switch (outcome.kind) {
    case 'done':
      return reply(
        planMessage(outcome.value, buttonOf(sub.cluster, outcome.value, requestId, command.user_id)),
      );
    case 'failed':
      deps.logger.info('slack: switchover plan refused', {
        cluster: sub.cluster,
        error: errorMessage(outcome.error),
      });
      return reply(planRefusedMessage(sub.cluster, errorMessage(outcome.error)));
    case 'timeout':
      return deferOrFail(
        deps,
        {
          deferred: {
            kind: 'plan',
            input,
            requestId,
            requestedBy: command.user_id,
            responseUrl: command.response_url,
          },
        },
        `Planning the switchover of ${sub.cluster} (the cluster answers slowly); the plan follows here`,
      );
  }
}

/** What Confirm and Cancel carry: the cluster, the target the plan chose, the request id and its requester. */
const buttonOf = (
  cluster: string,
  plan: SwitchoverPlan,
  requestId: string,
  requestedBy: string,
): SwitchoverButton => ({
  v: 1,
  cluster,
  target: plan.target.id,
  requestId,
  requestedBy,
});

/** The value of the first Confirm or Cancel action, parsed; undefined when the payload has neither. */
function buttonAction(
  actions: { action_id: string; value?: string | undefined }[],
):
  | { action: 'confirm' | 'cancel'; button: SwitchoverButton }
  | { action: 'confirm' | 'cancel'; problem: string }
  | undefined {
  const found = actions.find((a) => a.action_id === ACTIONS.confirm || a.action_id === ACTIONS.cancel);
  if (!found) return undefined;
  const action = found.action_id === ACTIONS.confirm ? 'confirm' : 'cancel';
  let json: unknown;
  try {
    json = JSON.parse(found.value ?? '');
  } catch {
    return { action, problem: 'the button carries no JSON value' };
  }
  const button = SwitchoverButtonSchema.safeParse(json);
  return button.success
    ? { action, button: button.data }
    : {
        action,
        problem: `the button value is not a switchover request: ${z.prettifyError(button.error).replaceAll('\n', ' ')}`,
      };
}

/** The Confirm / Cancel callback: authorize the one who clicked, then start (once) or cancel. */
async function interaction(deps: SlackDeps, payloadText: string): Promise<HttpResponse> {
  let json: unknown;
  try {
    json = JSON.parse(payloadText);
  } catch {
    return plain(400, 'the payload field is not JSON');
  }
  const parsed = BlockActionsSchema.safeParse(json);
  if (!parsed.success) {
    // Other interaction types (shortcuts, view submissions) are not ours: acknowledge, do nothing.
    deps.logger.info('slack: interaction ignored', { type: (json as { type?: unknown })?.type });
    return ack();
  }
  const payload = parsed.data;
  const clicked = buttonAction(payload.actions);
  if (!clicked) return ack();
  if ('problem' in clicked) return plain(400, clicked.problem);
  const { action, button } = clicked;
  const userId = payload.user.id;
  const responseUrl = payload.response_url;
  const say = (message: SlackMessage) =>
    deps.respond(responseUrl, message).catch((error: unknown) =>
      deps.logger.error('slack: posting to response_url failed', {
        cluster: button.cluster,
        error: errorMessage(error),
      }),
    );
  if (!deps.clusters.names().includes(button.cluster)) {
    await say({
      ...refusalMessage(`cluster ${button.cluster} is no longer configured`),
      replace_original: false,
    });
    return ack();
  }
  const refused = await check(deps, button.cluster, { userId, channelId: payload.channel?.id });
  if (refused) {
    await say({ ...refusalMessage(refused), replace_original: false });
    return ack();
  }
  if (action === 'cancel') {
    deps.logger.info('slack: switchover cancelled', {
      cluster: button.cluster,
      userId,
      requestId: button.requestId,
    });
    await say(cancelledMessage(button, userId));
    return ack();
  }
  const name = executionNameOf(button.cluster, button.requestId);
  const input = SwitchoverInputSchema.parse({
    cluster: button.cluster,
    target: button.target,
    requestedBy: `slack:${userId}`,
    reason: `switchover confirmed in Slack by ${userId} (requested by ${button.requestedBy})`,
  });
  let started: { executionId: string; started: boolean };
  try {
    started = await deps.workflows.start({ workflow: 'switchover', name, input });
  } catch (error) {
    deps.logger.error('slack: starting the switchover failed', {
      cluster: button.cluster,
      name,
      error: errorMessage(error),
    });
    await say({
      ...failureMessage('start the switchover (clicking Confirm again is safe)', errorMessage(error)),
      replace_original: false,
    });
    return ack();
  }
  if (!started.started) {
    await say(alreadyRunningMessage(button, started.executionId));
    return ack();
  }
  deps.logger.info('slack: switchover started', {
    cluster: button.cluster,
    userId,
    executionId: started.executionId,
  });
  const watch: DeferredTask = {
    deferred: {
      kind: 'watch',
      cluster: button.cluster,
      executionId: started.executionId,
      target: button.target,
      startedBy: userId,
      responseUrl,
    },
  };
  // Both inside Slack's 3 s: the message first shows "started", the watch posts after its first poll.
  await Promise.all([
    say(startedMessage(button, userId, started.executionId)),
    deps.defer(watch).catch(async (error: unknown) => {
      deps.logger.error('slack: deferring the watch failed; the switchover runs unwatched', {
        executionId: started.executionId,
        error: errorMessage(error),
      });
      await say({
        ...failureMessage(
          `follow the switchover here; it runs anyway, check \`/redis status ${button.cluster}\``,
          errorMessage(error),
        ),
        replace_original: false,
      });
    }),
  ]);
  return ack();
}

// ---------------------------------------------------------------------------------------------
// Deferred work
// ---------------------------------------------------------------------------------------------

const stateOf = (output: unknown): SwitchoverState | undefined => {
  const state = SwitchoverStateSchema.safeParse(output);
  return state.success ? state.data : undefined;
};

/**
 * Runs a deferred task and posts its result to response_url. It never throws: an async Lambda invocation that
 * failed would be retried, and a retry would post twice (response_url takes 5 posts in 30 minutes).
 */
export function makeDeferredHandler(
  getDeps: GetDeps,
  timing: Partial<SlackTiming> = {},
): (task: DeferredTask) => Promise<void> {
  const limits = { ...SLACK_TIMING, ...timing };
  return async (task) => {
    const deps = await getDeps();
    const parsed = DeferredTaskSchema.safeParse(task);
    if (!parsed.success) {
      deps.logger.error('slack: invalid deferred task; nothing done', {
        error: z.prettifyError(parsed.error).replaceAll('\n', ' '),
      });
      return;
    }
    const work = parsed.data.deferred;
    const post = (message: SlackMessage) => deps.respond(work.responseUrl, message);
    try {
      switch (work.kind) {
        case 'status':
          await post(statusMessage(await deps.status(deps.clusters.get(work.cluster))));
          return;
        case 'history':
          await post(
            historyMessage(deps.clusters.get(work.cluster), await deps.history(work.cluster, work.limit)),
          );
          return;
        case 'plan': {
          let plan: SwitchoverPlan;
          try {
            plan = await deps.plan(work.input);
          } catch (error) {
            await post(planRefusedMessage(work.input.cluster, errorMessage(error)));
            return;
          }
          await post(planMessage(plan, buttonOf(work.input.cluster, plan, work.requestId, work.requestedBy)));
          return;
        }
        case 'watch':
          await watchSwitchover(deps, work, limits);
          return;
      }
    } catch (error) {
      deps.logger.error('slack: deferred task failed', { kind: work.kind, error: errorMessage(error) });
      await post(failureMessage(`finish the ${work.kind} request`, errorMessage(error))).catch((e: unknown) =>
        deps.logger.error('slack: posting the failure to response_url failed', { error: errorMessage(e) }),
      );
    }
  };
}

type WatchTask = Extract<DeferredTask['deferred'], { kind: 'watch' }>;

/**
 * Follow a started switchover until it ends or the bound passes, posting at most twice more to the
 * response_url (after "started"): once writes flow to the new master, and the outcome.
 */
async function watchSwitchover(deps: SlackDeps, task: WatchTask, limits: SlackTiming): Promise<void> {
  const deadline = deps.clock.now() + limits.watchTimeoutMs;
  let switchedPosted = false;
  let failures = 0;
  for (;;) {
    await deps.clock.sleep(limits.watchPollMs);
    let execution: WorkflowExecution | undefined;
    try {
      execution = await deps.workflows.describe(task.executionId);
      failures = 0;
    } catch (error) {
      failures += 1;
      deps.logger.warn('slack: describing the switchover failed', {
        executionId: task.executionId,
        failures,
        error: errorMessage(error),
      });
      if (failures >= limits.watchMaxFailures) {
        await deps.respond(
          task.responseUrl,
          lostTrackMessage(
            task,
            `describing the execution failed ${failures} times (${errorMessage(error)})`,
          ),
        );
        return;
      }
    }
    if (execution) {
      const state = stateOf(execution.output);
      if (execution.status !== 'RUNNING') {
        await deps.respond(task.responseUrl, outcomeMessage(task, execution, state));
        return;
      }
      if (!switchedPosted && execution.currentState && AFTER_SWITCH_STATES.has(execution.currentState)) {
        switchedPosted = true;
        await deps.respond(task.responseUrl, switchedMessage(task, state)).catch((error: unknown) =>
          deps.logger.error('slack: posting progress failed', {
            executionId: task.executionId,
            error: errorMessage(error),
          }),
        );
      }
    }
    if (deps.clock.now() >= deadline) {
      await deps.respond(
        task.responseUrl,
        lostTrackMessage(task, `still running after ${Math.round(limits.watchTimeoutMs / 60_000)} minutes`),
      );
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Lambda entry
// ---------------------------------------------------------------------------------------------

/** The parts of a Lambda Function URL event (payload format 2.0) the handler reads. */
const FunctionUrlEventSchema = z.object({
  version: z.literal('2.0'),
  headers: z.record(z.string(), z.string()).default({}),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().default(false),
  requestContext: z.object({ http: z.object({ method: z.string() }) }),
});

/** A Function URL event as an HttpRequest: its headers (lower case), and the body as it came. */
export function fromFunctionUrlEvent(
  event: Pick<LambdaFunctionURLEvent, 'headers' | 'body' | 'isBase64Encoded'>,
): HttpRequest {
  return { headers: { ...event.headers }, body: event.body ?? '', isBase64Encoded: event.isBase64Encoded };
}

/**
 * One Lambda serves both: a Function URL request (Slack) is answered over HTTP; an event shaped
 * `{ deferred: ... }` is the function invoking itself for work that outlasts Slack's deadline.
 */
export function makeLambdaHandler(
  getDeps: GetDeps,
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

const { logger, middlewares } = observability('ha-redis-slack');

/** AWS entry point: the Function URL that Slack calls, and the asynchronous self-invocations. */
export const handler = middy(
  makeLambdaHandler(async () => {
    try {
      return (await import('../../compose/slack-aws.ts')).slackAwsDeps(logger);
    } catch (error) {
      logger.error('configuration is missing or invalid; no action taken', { error: errorMessage(error) });
      throw error;
    }
  }),
).use(middlewares);
