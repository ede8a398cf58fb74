import type { MaintenanceState, MaintenanceStepAction } from '../../core/maintenance/state.ts';
import {
  actOnNode,
  finishMaintenance,
  nextMaintenanceStep,
  planMaintenance,
  recoverMaintenance,
  switchbackForMaintenance,
  switchoverForMaintenance,
  waitUntilNodeBack,
} from '../../core/maintenance/steps.ts';
import type { ClusterRegistry } from '../../core/model/cluster.ts';
import { InvalidInputError, issuesText } from '../../core/model/errors.ts';
import type { CorePorts } from '../../core/ports.ts';
import { MaintenanceStepEventSchema } from './contract.ts';

/** The maintenance step Task's factory; the AWS entry is lambda.ts. */

/** What the step needs: the clusters, and the core's ports. */
export interface MaintenanceStepDeps {
  clusters: ClusterRegistry;
  failover: CorePorts;
}

const STEPS: Record<MaintenanceStepAction, typeof planMaintenance> = {
  plan: planMaintenance,
  next: nextMaintenanceStep,
  act: actOnNode,
  wait: waitUntilNodeBack,
  switchover: switchoverForMaintenance,
  switchback: switchbackForMaintenance,
  finish: finishMaintenance,
  recover: recoverMaintenance,
};

/** One Task of the maintenance state machine: validate `{ action, state }`, run that step, return the new state. */
export function makeMaintenanceStepHandler(
  getDeps: () => Promise<MaintenanceStepDeps> | MaintenanceStepDeps,
) {
  return async (event: unknown): Promise<MaintenanceState> => {
    const parsed = MaintenanceStepEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new InvalidInputError(`invalid maintenance step event: ${issuesText(parsed.error, 'event')}`);
    }
    const { action, state } = parsed.data;
    const deps = await getDeps();
    const cluster = deps.clusters.get(state.input.cluster);
    return STEPS[action](cluster, state, deps.failover);
  };
}
