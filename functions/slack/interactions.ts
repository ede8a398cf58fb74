import { errorMessage, issuesText } from '../../core/model/errors.ts';
import { SwitchoverInputSchema, type SwitchoverPlan } from '../../core/switchover/state.ts';
import { refusalOf } from './access.ts';
import { executionNameOf } from './commands.ts';
import {
  ACTIONS,
  BlockActionsSchema,
  type DeferredTask,
  type SlackMessage,
  type SwitchoverButton,
  SwitchoverButtonSchema,
} from './contract.ts';
import type { SlackFrontDeps } from './deps.ts';
import { ack, type HttpResponse, plain } from './http.ts';
import { failureMessage, refusalMessage } from './messages.ts';
import { alreadyRunningMessage, cancelledMessage, startedMessage } from './switchover-messages.ts';

/**
 * The interactivity callback of the plan's buttons: Confirm starts the switchover (once) and defers a watch
 * of it; Cancel says so. The one who clicks is authorized, as the one who asked was.
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
        problem: `the button value is not a switchover request: ${issuesText(button.error, 'value')}`,
      };
}

/** Posts to the clicked message's response_url; a failed post is logged, never thrown. */
type Say = (message: SlackMessage) => Promise<void>;

/** A Confirm click: its button, who clicked, and where to answer. */
interface Click {
  button: SwitchoverButton;
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
  const clicked = buttonAction(payload.actions);
  if (!clicked) return ack();
  if ('problem' in clicked) return plain(400, clicked.problem);
  const { action, button } = clicked;
  const userId = payload.user.id;
  const responseUrl = payload.response_url;
  const say: Say = (message) =>
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
  const refused = await refusalOf(deps, button.cluster, { userId, channelId: payload.channel?.id });
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
  await confirmSwitchover(deps, { button, userId, responseUrl, say });
  return ack();
}

/** Confirm: start the switchover under the request's execution name (a second click starts nothing), then watch it. */
async function confirmSwitchover(deps: SlackFrontDeps, click: Click): Promise<void> {
  const { button, userId, say } = click;
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
    return;
  }
  if (!started.started) {
    await say(alreadyRunningMessage(button, started.executionId));
    return;
  }
  deps.logger.info('slack: switchover started', {
    cluster: button.cluster,
    userId,
    executionId: started.executionId,
  });
  await announceAndWatch(deps, click, started.executionId);
}

/** Say "started" and defer the watch, both inside Slack's 3 s; a failed hand-over of the watch is said too. */
async function announceAndWatch(deps: SlackFrontDeps, click: Click, executionId: string): Promise<void> {
  const { button, userId, responseUrl, say } = click;
  const watch: DeferredTask = {
    deferred: {
      kind: 'watch',
      cluster: button.cluster,
      executionId,
      target: button.target,
      startedBy: userId,
      responseUrl,
    },
  };
  // The message first shows "started", the watch posts after its first poll.
  await Promise.all([
    say(startedMessage(button, userId, executionId)),
    deps.defer(watch).catch(async (error: unknown) => {
      deps.logger.error('slack: deferring the watch failed; the switchover runs unwatched', {
        executionId,
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
}
