import type { ClusterRegistry } from '../../core/model/cluster.ts';
import { InvalidInputError, issuesText } from '../../core/model/errors.ts';
import { TIMING_METRICS, type Timing } from '../../core/model/metrics.ts';
import type { CorePorts } from '../../core/ports.ts';
import type { SwitchoverAction, SwitchoverState } from '../../core/switchover/state.ts';
import {
  fenceOldMaster,
  finishSwitchover,
  planSwitchover,
  prepareSwitchover,
  recoverSwitchover,
  switchMaster,
  verifySwitchover,
} from '../../core/switchover/steps.ts';
import { SwitchoverStepEventSchema } from './contract.ts';

/** The switchover step Task's factory; the AWS entry is lambda.ts. */

/** What the step needs: the clusters, and the core's ports. */
export interface SwitchoverStepDeps {
  clusters: ClusterRegistry;
  failover: CorePorts;
}

const STEPS: Record<SwitchoverAction, typeof planSwitchover> = {
  plan: planSwitchover,
  prepare: prepareSwitchover,
  switch: switchMaster,
  fence: fenceOldMaster,
  verify: verifySwitchover,
  finish: finishSwitchover,
  recover: recoverSwitchover,
};

/** One Task of the switchover state machine: validate `{ action, state }`, run that step, return the new state. */
export function makeSwitchoverStepHandler(getDeps: () => Promise<SwitchoverStepDeps> | SwitchoverStepDeps) {
  return async (event: unknown): Promise<SwitchoverState> => {
    const parsed = SwitchoverStepEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new InvalidInputError(`invalid switchover step event: ${issuesText(parsed.error, 'event')}`);
    }
    const { action, state } = parsed.data;
    const deps = await getDeps();
    const cluster = deps.clusters.get(state.input.cluster);
    return STEPS[action](cluster, state, deps.failover);
  };
}

/**
 * The write gap of a switchover, once the step that finishes it (`finish`) returns with the gap recorded: for the
 * dashboard. Any other step, or a switchover that never blocked writes, emits nothing.
 */
export function writeGapTiming(event: unknown, state: SwitchoverState): Timing | undefined {
  const action = (event as { action?: unknown } | null)?.action;
  if (action !== 'finish' || state.writeGapMs === undefined) return undefined;
  return { name: TIMING_METRICS.switchoverWriteGap, ms: state.writeGapMs };
}
