import { recordAndNotify } from '../history.ts';
import type { ClusterConfig } from '../model/cluster.ts';
import { causeMessage } from '../model/errors.ts';
import type { HistoryEntry } from '../model/records.ts';
import type { CorePorts } from '../ports.ts';
import type { SwitchoverAction, SwitchoverState } from './state.ts';

/** A switchover's history entry and notification, whether it succeeded (Finish) or failed (Recover). */

/**
 * The step that failed. A Catch hands Recover the state the last step that answered returned: Plan leaves the
 * plan, Prepare the lease, Switch the write gap, Fence and Verify their timeline marks.
 */
export function failedStepOf(state: SwitchoverState): SwitchoverAction {
  const marks = new Set(state.timeline.map((s) => s.step));
  if (!state.plan) return 'plan';
  if (!state.leaseHeld) return 'prepare';
  if (state.writeGapMs === undefined) return 'switch';
  if (!marks.has('fenced')) return 'fence';
  if (!marks.has('verified')) return 'verify';
  return 'finish';
}

/** Record the switchover (its execution id is the entry's id) and tell people how it ended. */
export async function recordSwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: CorePorts,
  outcome: 'succeeded' | 'failed',
  epoch: number | null,
): Promise<void> {
  const plan = state.plan;
  const entry: HistoryEntry = {
    id: state.executionId,
    cluster: cluster.name,
    kind: 'switchover',
    epoch,
    oldMaster: plan ? { host: plan.master.host, port: plan.master.port } : null,
    newMaster: plan && outcome === 'succeeded' ? { host: plan.target.host, port: plan.target.port } : null,
    outcome,
    trigger: `${state.input.requestedBy}: ${state.input.reason}`,
    startedAt: state.startedAt,
    durationMs: deps.clock.now() - state.startedAt,
    timeline: state.timeline,
    bytesAtRisk: 0,
    ...(state.writeGapMs !== undefined ? { writeGapMs: state.writeGapMs } : {}),
    ...(state.error
      ? {
          error: [`${state.error.Error} in ${failedStepOf(state)}`, causeMessage(state.error.Cause)]
            .filter(Boolean)
            .join(': ')
            .slice(0, 1000),
        }
      : {}),
  };
  const summary =
    outcome === 'succeeded'
      ? `switchover of ${cluster.name}: ${plan?.master.id} -> ${plan?.target.id} at epoch ${epoch}, writes blocked ${state.writeGapMs} ms`
      : `switchover of ${cluster.name} FAILED in ${failedStepOf(state)} (${state.error?.Error ?? 'error'}); ${state.outcome}; writes are unblocked`;
  await recordAndNotify(deps, entry, summary, {
    // Finish recorded this execution, then its answer was lost: the record of what it did stands.
    ifRecordedAlready: {
      warning: 'the switchover was recorded already; that record stands',
      attributes: { cluster: cluster.name, switchover: state.executionId },
    },
  });
}
