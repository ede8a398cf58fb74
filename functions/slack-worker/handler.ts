import { errorMessage, InvalidInputError, issuesText } from '../../core/model/errors.ts';
import type { StateStore } from '../../core/ports.ts';
import {
  type DeferredTask,
  type WorkerAnswer,
  type WorkerCall,
  WorkerCallSchema,
} from '../slack/contract.ts';
import { makeDeferredHandler } from '../slack/deferred.ts';
import type { GetDeps, SlackTiming, SlackWorkerDeps } from '../slack/deps.ts';

/**
 * The Slack worker: the part of the Slack front door that reads the clusters (their secrets) and the state table.
 * It has no Function URL; only the front's role may invoke it, with
 * - `{ deferred }` (asynchronously): status, history, a slow plan, the watch of a started switchover, each posted
 *   to response_url;
 * - `{ call }` (synchronously): the dry-run plan within the reply's budget, or the maintenance mode to set,
 *   answered as a WorkerAnswer.
 * It trusts the front for who asked (the front verified the signature and authorized the user); it starts nothing.
 */

/** What the worker needs: the deferred work's deps, and where the maintenance mode is set. */
export interface SlackWorkerCallDeps extends SlackWorkerDeps {
  maintenance: Pick<StateStore, 'setMaintenanceMode'>;
}

/** The worker's Lambda handler: a deferred task answers nothing, a call answers a WorkerAnswer. */
export function makeSlackWorkerHandler(
  getDeps: GetDeps<SlackWorkerCallDeps>,
  timing: Partial<SlackTiming> = {},
): (event: unknown) => Promise<WorkerAnswer | undefined> {
  const deferred = makeDeferredHandler(getDeps, timing);
  return async (event) => {
    if (typeof event === 'object' && event !== null && 'deferred' in event) {
      await deferred(event as DeferredTask);
      return undefined;
    }
    const call = WorkerCallSchema.safeParse(event);
    if (!call.success) {
      if (typeof event === 'object' && event !== null && 'call' in event) {
        return { ok: false, error: `not a worker call: ${issuesText(call.error, 'call')}` };
      }
      throw new InvalidInputError(
        'the Slack worker takes a { deferred } task or a { call } from the Slack front function; got neither',
      );
    }
    return answer(await getDeps(), call.data.call);
  };
}

/** Run the call; a refused plan or a failed write is an answer with its message, never a thrown error. */
async function answer(deps: SlackWorkerCallDeps, call: WorkerCall['call']): Promise<WorkerAnswer> {
  try {
    switch (call.kind) {
      case 'plan':
        return { ok: true, plan: await deps.plan(call.input) };
      case 'set-maintenance-mode':
        await deps.maintenance.setMaintenanceMode(call.cluster, call.mode);
        return { ok: true };
    }
  } catch (error) {
    deps.logger.info('slack worker: call refused or failed', { kind: call.kind, error: errorMessage(error) });
    return { ok: false, error: errorMessage(error) };
  }
}
