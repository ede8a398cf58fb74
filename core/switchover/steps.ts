import type { ClusterConfig } from '../model/cluster.ts';
import { errorMessage } from '../model/errors.ts';
import type { CorePorts } from '../ports.ts';
import { switchMaster } from './critical-section.ts';
import { fenceOldMaster, finishSwitchover, verifySwitchover } from './finish.ts';
import { planSwitchover } from './plan.ts';
import { prepareSwitchover } from './prepare.ts';
import { recoverSwitchover } from './recovery.ts';
import type { SwitchoverInput, SwitchoverState } from './state.ts';

/**
 * A planned switchover, as steps of a state machine (the module its callers import; each step lives in its
 * own module beside this one):
 * 1. plan (plan.ts) 2. prepare: lease + priorities (prepare.ts) 3. switch: the write-blocked critical section
 * (critical-section.ts) 4. fence 5. verify 6. finish (finish.ts); recover, the Catch of every step (recovery.ts).
 */

export { asNode, SWITCHOVER_TIMING } from './context.ts';
export { switchMaster } from './critical-section.ts';
export { fenceOldMaster, finishSwitchover, verifySwitchover } from './finish.ts';
export { dryRunPlan, planSwitchover } from './plan.ts';
export { prepareSwitchover } from './prepare.ts';
export { failedStepOf } from './record.ts';
export { recoverSwitchover } from './recovery.ts';

/** A step of the switchover: the state the last step returned in, the next state out. */
export type SwitchoverStep = (
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: CorePorts,
) => Promise<SwitchoverState>;

/** The steps before Finish, in order, as the state machine runs them. */
const STEPS_BEFORE_FINISH: readonly SwitchoverStep[] = [
  planSwitchover,
  prepareSwitchover,
  switchMaster,
  fenceOldMaster,
  verifySwitchover,
];

/**
 * A whole planned switchover in this one call (maintenance runs it between nodes), with the same steps as the
 * switchover workflow: plan, prepare, switch, fence, verify, finish. When a step throws: recover (writes
 * unblocked, priorities restored, lease released, recorded), then rethrow the step's error.
 */
export async function runSwitchoverSteps(
  cluster: ClusterConfig,
  input: SwitchoverInput,
  deps: CorePorts,
  execution: { executionId: string } = { executionId: `switchover-${deps.newId()}` },
): Promise<SwitchoverState> {
  let state: SwitchoverState = {
    input,
    executionId: execution.executionId,
    startedAt: deps.clock.now(),
    timeline: [],
  };
  try {
    for (const step of STEPS_BEFORE_FINISH) state = await step(cluster, state, deps);
    return await finishSwitchover(cluster, state, deps);
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    // As a Catch would: the state before the failed step, with the error next to it.
    const failed: SwitchoverState = { ...state, error: { Error: name, Cause: errorMessage(error) } };
    if (state.plan) {
      await recoverSwitchover(cluster, failed, deps).catch((e: unknown) =>
        deps.logger.error('recovering the failed switchover failed; check the cluster', {
          cluster: cluster.name,
          switchover: execution.executionId,
          error: errorMessage(e),
        }),
      );
    }
    throw error;
  }
}
