import type { ClusterConfig } from '../model/cluster.ts';
import { InvalidInputError } from '../model/errors.ts';
import type { CorePorts } from '../ports.ts';
import type { SwitchoverInput } from '../switchover/state.ts';
import { runSwitchoverSteps } from '../switchover/steps.ts';
import { planOf, timelineOf } from './context.ts';
import { drainTargetNow } from './drain.ts';
import type { MaintenanceState } from './state.ts';

/** Step 5 of a maintenance run: a planned switchover away from the master, and the switchback to it. */

/** 5a. A planned switchover away from the master (the switchover workflow's own steps, its own lease). */
export const switchoverForMaintenance = (cluster: ClusterConfig, state: MaintenanceState, deps: CorePorts) =>
  switchAway(cluster, state, deps, 'switchover');

/** 5b. The switchback: a planned switchover to the master the run started with. */
export const switchbackForMaintenance = (cluster: ClusterConfig, state: MaintenanceState, deps: CorePorts) =>
  switchAway(cluster, state, deps, 'switchback');

async function switchAway(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: CorePorts,
  kind: 'switchover' | 'switchback',
): Promise<MaintenanceState> {
  const plan = planOf(state);
  const { input } = state;
  const asked =
    kind === 'switchback'
      ? plan.master.id
      : input.drainHost
        ? await drainTargetNow(cluster, input.drainHost, deps)
        : undefined;
  const request: SwitchoverInput = {
    cluster: cluster.name,
    ...(asked ? { target: asked } : {}),
    reason: `${kind} of maintenance ${state.executionId} (${input.action}): ${input.reason}`,
    requestedBy: input.requestedBy,
    dryRun: false,
    maxLagBytes: input.maxLagBytes,
  };
  const executionId = `${state.executionId}-${kind}`;
  const timeline = timelineOf(state, deps);
  const done = await timeline.run(
    kind === 'switchover' ? 'switched-over' : 'switched-back',
    () => runSwitchoverSteps(cluster, request, deps, { executionId }),
    (s) =>
      `${s.plan?.master.id} -> ${s.plan?.target.id}, writes blocked ${s.writeGapMs ?? '?'} ms (${executionId})`,
  );
  if (!done.plan) throw new InvalidInputError(`switchover ${executionId} ended without a plan`);
  const target = done.plan.target;
  return {
    ...state,
    master: target,
    switchovers: [
      ...state.switchovers,
      {
        kind,
        executionId,
        from: done.plan.master.id,
        to: target.id,
        ...(done.writeGapMs !== undefined ? { writeGapMs: done.writeGapMs } : {}),
      },
    ],
    timeline: timeline.steps,
  };
}
