import type { z } from 'zod';
import { errorMessage, issuesText } from '../../core/model/errors.ts';
import { MoveInputSchema, type MovePlan } from '../../core/move/state.ts';
import { SwitchoverInputSchema, type SwitchoverPlan } from '../../core/switchover/state.ts';
import { refusalOf } from './access.ts';
import { executionNameOf } from './commands.ts';
import {
  ACTIONS,
  BlockActionsSchema,
  type DeferredTask,
  MOVE_ACTIONS,
  type MoveButton,
  MoveButtonSchema,
  type SlackMessage,
  type SwitchoverButton,
  SwitchoverButtonSchema,
} from './contract.ts';
import type { SlackFrontDeps } from './deps.ts';
import { ack, type HttpResponse, plain } from './http.ts';
import { failureMessage, refusalMessage } from './messages.ts';
import { moveAlreadyRunningMessage, moveCancelledMessage, moveStartedMessage } from './move-messages.ts';
import { alreadyRunningMessage, cancelledMessage, startedMessage } from './switchover-messages.ts';

/**
 * The interactivity callback of the plans' buttons (a switchover's, a move's): Confirm starts the workflow (once)
 * and defers a watch of it; Cancel says so. The one who clicks is authorized, as the one who asked was.
 */

/** What Confirm and Cancel carry: the cluster, the target the plan chose, the request id and its requester. */
export const buttonOf = (
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

/** What the move plan's Confirm and Cancel carry: the service, the sets it moves from and to, the request. */
export const moveButtonOf = (
  cluster: string,
  plan: MovePlan,
  requestId: string,
  requestedBy: string,
): MoveButton => ({ v: 1, cluster, fromSet: plan.fromSet, toSet: plan.toSet, requestId, requestedBy });

/** A click on a plan's button: which workflow's, and what the button carries. */
type Clicked =
  | { workflow: 'switchover'; button: SwitchoverButton }
  | { workflow: 'move'; button: MoveButton };

/** The value of the first Confirm or Cancel action, parsed; undefined when the payload has neither. */
function buttonAction(
  actions: { action_id: string; value?: string | undefined }[],
):
  | { action: 'confirm' | 'cancel'; clicked: Clicked }
  | { action: 'confirm' | 'cancel'; problem: string }
  | undefined {
  const ours: readonly string[] = [...Object.values(ACTIONS), ...Object.values(MOVE_ACTIONS)];
  const found = actions.find((a) => ours.includes(a.action_id));
  if (!found) return undefined;
  const action: 'confirm' | 'cancel' =
    found.action_id === ACTIONS.confirm || found.action_id === MOVE_ACTIONS.confirm ? 'confirm' : 'cancel';
  const workflow =
    found.action_id === MOVE_ACTIONS.confirm || found.action_id === MOVE_ACTIONS.cancel
      ? 'move'
      : 'switchover';
  let json: unknown;
  try {
    json = JSON.parse(found.value ?? '');
  } catch {
    return { action, problem: 'the button carries no JSON value' };
  }
  const problem = (error: z.ZodError) => ({
    action,
    problem: `the button value is not a ${workflow} request: ${issuesText(error, 'value')}`,
  });
  if (workflow === 'move') {
    const button = MoveButtonSchema.safeParse(json);
    return button.success ? { action, clicked: { workflow, button: button.data } } : problem(button.error);
  }
  const button = SwitchoverButtonSchema.safeParse(json);
  return button.success ? { action, clicked: { workflow, button: button.data } } : problem(button.error);
}

/** Posts to the clicked message's response_url; a failed post is logged, never thrown. */
type Say = (message: SlackMessage) => Promise<void>;

/** A Confirm click: who clicked, and where to answer. */
interface Click {
  userId: string;
  responseUrl: string;
  say: Say;
}

/** The Confirm / Cancel callback: authorize the one who clicked, then start (once) or cancel. */
export async function interaction(deps: SlackFrontDeps, payloadText: string): Promise<HttpResponse> {
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
  const found = buttonAction(payload.actions);
  if (!found) return ack();
  if ('problem' in found) return plain(400, found.problem);
  const { action, clicked } = found;
  const { cluster } = clicked.button;
  const userId = payload.user.id;
  const responseUrl = payload.response_url;
  const say: Say = (message) =>
    deps
      .respond(responseUrl, message)
      .catch((error: unknown) =>
        deps.logger.error('slack: posting to response_url failed', { cluster, error: errorMessage(error) }),
      );
  if (!deps.clusters.names().includes(cluster)) {
    await say({ ...refusalMessage(`cluster ${cluster} is no longer configured`), replace_original: false });
    return ack();
  }
  const refused = await refusalOf(deps, cluster, { userId, channelId: payload.channel?.id });
  if (refused) {
    await say({ ...refusalMessage(refused), replace_original: false });
    return ack();
  }
  const click: Click = { userId, responseUrl, say };
  if (action === 'cancel') {
    deps.logger.info(`slack: ${clicked.workflow} cancelled`, {
      cluster,
      userId,
      requestId: clicked.button.requestId,
    });
    await say(
      clicked.workflow === 'move'
        ? moveCancelledMessage(clicked.button, userId)
        : cancelledMessage(clicked.button, userId),
    );
    return ack();
  }
  await startAndWatch(
    deps,
    click,
    clicked.workflow === 'move' ? moveStart(clicked.button, click) : switchoverStart(clicked.button, click),
  );
  return ack();
}

/** What Confirm starts, and how it is told and watched. */
interface Start {
  workflow: 'switchover' | 'move';
  cluster: string;
  requestId: string;
  input: unknown;
  started(executionId: string): SlackMessage;
  alreadyRunning(executionId: string): SlackMessage;
  watch(executionId: string): DeferredTask;
}

/** Confirm of a switchover: exactly the target the plan showed. */
function switchoverStart(button: SwitchoverButton, click: Click): Start {
  const { userId, responseUrl } = click;
  return {
    workflow: 'switchover',
    cluster: button.cluster,
    requestId: button.requestId,
    input: SwitchoverInputSchema.parse({
      cluster: button.cluster,
      target: button.target,
      requestedBy: `slack:${userId}`,
      reason: `switchover confirmed in Slack by ${userId} (requested by ${button.requestedBy})`,
    }),
    started: (executionId) => startedMessage(button, userId, executionId),
    alreadyRunning: (executionId) => alreadyRunningMessage(button, executionId),
    watch: (executionId) => ({
      deferred: {
        kind: 'watch',
        cluster: button.cluster,
        executionId,
        target: button.target,
        startedBy: userId,
        responseUrl,
      },
    }),
  };
}

/** Confirm of a move: to the set the plan showed (its Plan step checks the target hosts again). */
function moveStart(button: MoveButton, click: Click): Start {
  const { userId, responseUrl } = click;
  return {
    workflow: 'move',
    cluster: button.cluster,
    requestId: button.requestId,
    input: MoveInputSchema.parse({
      cluster: button.cluster,
      toSet: button.toSet,
      requestedBy: `slack:${userId}`,
      reason: `move confirmed in Slack by ${userId} (requested by ${button.requestedBy})`,
    }),
    started: (executionId) => moveStartedMessage(button, userId, executionId),
    alreadyRunning: (executionId) => moveAlreadyRunningMessage(button, executionId),
    watch: (executionId) => ({
      deferred: {
        kind: 'move-watch',
        cluster: button.cluster,
        executionId,
        fromSet: button.fromSet,
        toSet: button.toSet,
        startedBy: userId,
        responseUrl,
      },
    }),
  };
}

/** Confirm: start under the request's execution name (a second click starts nothing), then watch it. */
async function startAndWatch(deps: SlackFrontDeps, click: Click, start: Start): Promise<void> {
  const { userId, say } = click;
  const { workflow, cluster } = start;
  const name = executionNameOf(cluster, start.requestId);
  let started: { executionId: string; started: boolean };
  try {
    started = await deps.workflows.start({ workflow, name, input: start.input });
  } catch (error) {
    deps.logger.error(`slack: starting the ${workflow} failed`, {
      cluster,
      name,
      error: errorMessage(error),
    });
    await say({
      ...failureMessage(`start the ${workflow} (clicking Confirm again is safe)`, errorMessage(error)),
      replace_original: false,
    });
    return;
  }
  if (!started.started) {
    await say(start.alreadyRunning(started.executionId));
    return;
  }
  deps.logger.info(`slack: ${workflow} started`, { cluster, userId, executionId: started.executionId });
  const { executionId } = started;
  // The message first shows "started", the watch posts after its first poll.
  await Promise.all([
    say(start.started(executionId)),
    deps.defer(start.watch(executionId)).catch(async (error: unknown) => {
      deps.logger.error(`slack: deferring the watch failed; the ${workflow} runs unwatched`, {
        executionId,
        error: errorMessage(error),
      });
      await say({
        ...failureMessage(
          `follow the ${workflow} here; it runs anyway, check \`/redis status ${cluster}\``,
          errorMessage(error),
        ),
        replace_original: false,
      });
    }),
  ]);
}
