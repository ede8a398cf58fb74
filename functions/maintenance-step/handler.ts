import middy from '@middy/core';
import { z } from 'zod';
import { observability } from '../../adapters/logging/observability.ts';
import {
  type MaintenanceState,
  type MaintenanceStepAction,
  MaintenanceStepEventSchema,
} from '../../core/maintenance/state.ts';
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
import { InvalidInputError } from '../../core/model/errors.ts';
import type { FailoverDeps } from '../../core/ports.ts';

export interface MaintenanceStepDeps {
  clusters: ClusterRegistry;
  failover: FailoverDeps;
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
      throw new InvalidInputError(
        `invalid maintenance step event: ${z.prettifyError(parsed.error).replaceAll('\n', ' ')}`,
      );
    }
    const { action, state } = parsed.data;
    const deps = await getDeps();
    const cluster = deps.clusters.get(state.input.cluster);
    return STEPS[action](cluster, state, deps.failover);
  };
}

const { logger, middlewares } = observability('ha-redis-maintenance-step');

/** AWS entry point (the state machine's Task resource). */
export const handler = middy(
  makeMaintenanceStepHandler(async () => {
    const { awsDeps } = await import('../../compose/aws.ts');
    return awsDeps(logger);
  }),
).use(middlewares);
