import { errorMessage, issuesText } from '../../core/model/errors.ts';
import type { WorkflowExecution } from '../../core/ports.ts';
import {
  type SwitchoverPlan,
  type SwitchoverState,
  SwitchoverStateSchema,
} from '../../core/switchover/state.ts';
import { type DeferredTask, DeferredTaskSchema, type SlackMessage } from './contract.ts';
import { type GetDeps, SLACK_TIMING, type SlackTiming, type SlackWorkerDeps } from './deps.ts';
import { buttonOf } from './interactions.ts';
import { failureMessage, historyMessage, statusMessage } from './messages.ts';
import {
  AFTER_SWITCH_STATES,
  lostTrackMessage,
  outcomeMessage,
  planMessage,
  planRefusedMessage,
  switchedMessage,
} from './switchover-messages.ts';

/**
 * Work that outlasts Slack's 3 s (status, history, a slow plan, the watch of a started switchover), run after
 * the reply and posted to response_url.
 */

const stateOf = (output: unknown): SwitchoverState | undefined => {
  const state = SwitchoverStateSchema.safeParse(output);
  return state.success ? state.data : undefined;
};

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
async function watchSwitchover(deps: SlackWorkerDeps, task: WatchTask, limits: SlackTiming): Promise<void> {
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
