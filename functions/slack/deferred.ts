import { errorMessage, issuesText } from '../../core/model/errors.ts';
import { type MoveState, MoveStateSchema } from '../../core/move/state.ts';
import type { WorkflowExecution } from '../../core/ports.ts';
import { type SwitchoverState, SwitchoverStateSchema } from '../../core/switchover/state.ts';
import { type DeferredTask, DeferredTaskSchema, type SlackMessage } from './contract.ts';
import { type GetDeps, SLACK_TIMING, type SlackTiming, type SlackWorkerDeps } from './deps.ts';
import { buttonOf, moveButtonOf } from './interactions.ts';
import { failureMessage, historyMessage, statusMessage } from './messages.ts';
import {
  MOVE_AFTER_SWITCH_STATES,
  moveOutcomeMessage,
  movePlanMessage,
  moveRefusedMessage,
  moveSwitchedMessage,
} from './move-messages.ts';
import {
  AFTER_SWITCH_STATES,
  lostTrackMessage,
  outcomeMessage,
  planMessage,
  planRefusedMessage,
  switchedMessage,
} from './switchover-messages.ts';

/**
 * Work that outlasts Slack's 3 s (status, history, a slow plan, the watch of a started switchover or move), run
 * after the reply and posted to response_url.
 */

/**
 * Runs a deferred task and posts its result to response_url. It never throws: an async Lambda invocation that
 * failed would be retried, and a retry would post twice (response_url takes 5 posts in 30 minutes).
 */
export function makeDeferredHandler(
  getDeps: GetDeps<SlackWorkerDeps>,
  timing: Partial<SlackTiming> = {},
): (task: DeferredTask) => Promise<void> {
  const limits = { ...SLACK_TIMING, ...timing };
  return async (task) => {
    const deps = await getDeps();
    const parsed = DeferredTaskSchema.safeParse(task);
    if (!parsed.success) {
      deps.logger.error('slack: invalid deferred task; nothing done', {
        error: issuesText(parsed.error, 'task'),
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
        case 'plan':
          await post(
            await planOrRefusal(
              () => deps.plan(work.input),
              (plan) =>
                planMessage(plan, buttonOf(work.input.cluster, plan, work.requestId, work.requestedBy)),
              (reason) => planRefusedMessage(work.input.cluster, reason),
            ),
          );
          return;
        case 'watch':
          await watchExecution(deps, work, switchoverWatch(work), limits.watchTimeoutMs, limits);
          return;
        case 'move-plan':
          await post(
            await planOrRefusal(
              () => deps.planMove(work.input),
              (plan) =>
                movePlanMessage(
                  plan,
                  moveButtonOf(work.input.cluster, plan, work.requestId, work.requestedBy),
                ),
              (reason) => moveRefusedMessage(work.input.cluster, work.input.toSet, reason),
            ),
          );
          return;
        case 'move-watch':
          await watchExecution(deps, work, moveWatch(work), limits.moveWatchTimeoutMs, limits);
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

/** The plan shown with its buttons, or the refusal with its reason. */
async function planOrRefusal<P>(
  planning: () => Promise<P>,
  shown: (plan: P) => SlackMessage,
  refused: (reason: string) => SlackMessage,
): Promise<SlackMessage> {
  let plan: P;
  try {
    plan = await planning();
  } catch (error) {
    return refused(errorMessage(error));
  }
  return shown(plan);
}

type WatchTask = Extract<DeferredTask['deferred'], { kind: 'watch' }>;
type MoveWatchTask = Extract<DeferredTask['deferred'], { kind: 'move-watch' }>;

/** What a watch posts of one workflow: the middle post once writes flow to the new master, the outcome. */
interface WatchView {
  /** States after the write-blocked section: once there, writes flow to the new master. */
  afterSwitch: ReadonlySet<string>;
  switched(output: unknown): SlackMessage;
  outcome(execution: WorkflowExecution): SlackMessage;
  lostTrack(reason: string): SlackMessage;
}

const switchoverWatch = (task: WatchTask): WatchView => {
  const stateOf = (output: unknown): SwitchoverState | undefined =>
    SwitchoverStateSchema.safeParse(output).data;
  return {
    afterSwitch: AFTER_SWITCH_STATES,
    switched: (output) => switchedMessage(task, stateOf(output)),
    outcome: (execution) => outcomeMessage(task, execution, stateOf(execution.output)),
    lostTrack: (reason) => lostTrackMessage(task, reason),
  };
};

const moveWatch = (task: MoveWatchTask): WatchView => {
  const stateOf = (output: unknown): MoveState | undefined => MoveStateSchema.safeParse(output).data;
  return {
    afterSwitch: MOVE_AFTER_SWITCH_STATES,
    switched: (output) => moveSwitchedMessage(task, stateOf(output)),
    outcome: (execution) => moveOutcomeMessage(task, execution, stateOf(execution.output)),
    lostTrack: (reason) => lostTrackMessage(task, reason, 'move'),
  };
};

/**
 * Follow a started switchover or move until it ends or `timeoutMs` passes, posting at most twice more to the
 * response_url (after "started"): once writes flow to the new master, and the outcome.
 */
async function watchExecution(
  deps: SlackWorkerDeps,
  task: { executionId: string; responseUrl: string },
  view: WatchView,
  timeoutMs: number,
  limits: SlackTiming,
): Promise<void> {
  const deadline = deps.clock.now() + timeoutMs;
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
      deps.logger.warn('slack: describing the execution failed', {
        executionId: task.executionId,
        failures,
        error: errorMessage(error),
      });
      if (failures >= limits.watchMaxFailures) {
        await deps.respond(
          task.responseUrl,
          view.lostTrack(`describing the execution failed ${failures} times (${errorMessage(error)})`),
        );
        return;
      }
    }
    if (execution) {
      if (execution.status !== 'RUNNING') {
        await deps.respond(task.responseUrl, view.outcome(execution));
        return;
      }
      if (!switchedPosted && execution.currentState && view.afterSwitch.has(execution.currentState)) {
        switchedPosted = true;
        await deps.respond(task.responseUrl, view.switched(execution.output)).catch((error: unknown) =>
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
        view.lostTrack(`still running after ${Math.round(timeoutMs / 60_000)} minutes`),
      );
      return;
    }
  }
}
