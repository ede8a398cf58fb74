import { errorMessage, issuesText } from '../../core/model/errors.ts';
import type { MaintenanceMode } from '../../core/model/records.ts';
import { MoveInputSchema } from '../../core/move/state.ts';
import type { Clock } from '../../core/ports.ts';
import { SwitchoverInputSchema } from '../../core/switchover/state.ts';
import { refusalOf } from './access.ts';
import { parseCommandText, requestIdOf } from './commands.ts';
import { type DeferredTask, type SlackMessage, type SlashCommand, SlashCommandSchema } from './contract.ts';
import type { SlackFrontDeps, SlackTiming } from './deps.ts';
import { type HttpResponse, plain, reply } from './http.ts';
import { buttonOf, moveButtonOf } from './interactions.ts';
import {
  failureMessage,
  helpMessage,
  maintenanceModeMessage,
  problemMessage,
  refusalMessage,
  workingMessage,
} from './messages.ts';
import { movePlanMessage, moveRefusedMessage } from './move-messages.ts';
import { planMessage, planRefusedMessage } from './switchover-messages.ts';

/**
 * The `/redis` slash command: parse it, authorize the sender for the cluster, and answer within Slack's 3 s with
 * a reply, or with "working…" and a deferred task that posts to response_url.
 */

/** Answer a slash command (its form fields, signature already verified). */
export async function slashCommand(
  deps: SlackFrontDeps,
  fields: Record<string, string>,
  limits: SlackTiming,
): Promise<HttpResponse> {
  const parsed = SlashCommandSchema.safeParse(fields);
  if (!parsed.success) return plain(400, `not a slash command: ${issuesText(parsed.error)}`);
  const command = parsed.data;
  const what = parseCommandText(command.text, deps.clusters);
  if (!what.ok) return reply(problemMessage(command.command, what.problem));
  const sub = what.command;
  if (sub.kind === 'help') return reply(helpMessage(command.command, deps.clusters.names()));
  const refused = await refusalOf(deps, sub.cluster, {
    userId: command.user_id,
    channelId: command.channel_id,
  });
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
      return replyWithSwitchoverPlan(deps, command, sub, limits);
    case 'maintenance':
      return pauseOrResumeMaintenance(deps, command, sub);
    case 'move':
      return replyWithMovePlan(deps, command, sub, limits);
  }
}

/** Pause or resume scheduled maintenance of a cluster; the channel sees who did it. */
async function pauseOrResumeMaintenance(
  deps: SlackFrontDeps,
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
async function deferOrFail(deps: SlackFrontDeps, task: DeferredTask, working: string): Promise<HttpResponse> {
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

/** A dry-run plan to show: how to make it, show it, refuse it, or hand it over when it is slow. */
interface Planning<P> {
  what: string;
  cluster: string;
  plan(): Promise<P>;
  shown(plan: P, requestId: string): SlackMessage;
  refused(reason: string): SlackMessage;
  later(request: { requestId: string; requestedBy: string; responseUrl: string }): DeferredTask;
  working: string;
}

/** Who asks for a dry run, and why, as the plan's input records it. */
const dryRunOf = (command: SlashCommand) => ({
  requestedBy: `slack:${command.user_id}`,
  reason: `dry run from Slack ${command.command} by ${command.user_id}`,
  dryRun: true,
});

/** Reply with the dry-run plan and the buttons, the refusal, or "planning…" and a deferred plan. */
async function replyWithPlan<P>(
  deps: SlackFrontDeps,
  command: SlashCommand,
  planning: Planning<P>,
  limits: SlackTiming,
): Promise<HttpResponse> {
  const requestId = requestIdOf(command);
  // Through a promise, so that a plan that throws at once is a refusal like any other.
  const outcome = await withinBudget(Promise.resolve().then(planning.plan), limits.planBudgetMs, deps.clock);
  switch (outcome.kind) {
    case 'done':
      return reply(planning.shown(outcome.value, requestId));
    case 'failed':
      deps.logger.info(`slack: ${planning.what} plan refused`, {
        cluster: planning.cluster,
        error: errorMessage(outcome.error),
      });
      return reply(planning.refused(errorMessage(outcome.error)));
    case 'timeout': {
      const later = planning.later({
        requestId,
        requestedBy: command.user_id,
        responseUrl: command.response_url,
      });
      return deferOrFail(deps, later, planning.working);
    }
  }
}

/** `/redis switchover <cluster> [to <node>]`: its dry-run plan. */
function replyWithSwitchoverPlan(
  deps: SlackFrontDeps,
  command: SlashCommand,
  sub: { cluster: string; target?: string },
  limits: SlackTiming,
): Promise<HttpResponse> {
  const { cluster } = sub;
  const input = SwitchoverInputSchema.parse({
    cluster,
    ...(sub.target ? { target: sub.target } : {}),
    ...dryRunOf(command),
  });
  return replyWithPlan(
    deps,
    command,
    {
      what: 'switchover',
      cluster,
      plan: () => deps.plan(input),
      shown: (plan, requestId) => planMessage(plan, buttonOf(cluster, plan, requestId, command.user_id)),
      refused: (reason) => planRefusedMessage(cluster, reason),
      later: (request) => ({ deferred: { kind: 'plan', input, ...request } }),
      working: `Planning the switchover of ${cluster} (the cluster answers slowly); the plan follows here`,
    },
    limits,
  );
}

/** `/redis move <service> <set>`: its dry-run plan. */
function replyWithMovePlan(
  deps: SlackFrontDeps,
  command: SlashCommand,
  sub: { cluster: string; toSet: string },
  limits: SlackTiming,
): Promise<HttpResponse> {
  const { cluster, toSet } = sub;
  const input = MoveInputSchema.parse({ cluster, toSet, ...dryRunOf(command) });
  return replyWithPlan(
    deps,
    command,
    {
      what: 'move',
      cluster,
      plan: () => deps.planMove(input),
      shown: (plan, requestId) =>
        movePlanMessage(plan, moveButtonOf(cluster, plan, requestId, command.user_id)),
      refused: (reason) => moveRefusedMessage(cluster, toSet, reason),
      later: (request) => ({ deferred: { kind: 'move-plan', input, ...request } }),
      working: `Planning the move of ${cluster} to set ${toSet} (the hosts answer slowly); the plan follows here`,
    },
    limits,
  );
}
