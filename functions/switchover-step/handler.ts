import middy from '@middy/core';
import { z } from 'zod';
import { observability } from '../../adapters/logging/observability.ts';
import type { ClusterRegistry } from '../../core/model/cluster.ts';
import { InvalidInputError } from '../../core/model/errors.ts';
import type { FailoverDeps } from '../../core/ports.ts';
import {
  type SwitchoverAction,
  type SwitchoverState,
  SwitchoverStepEventSchema,
} from '../../core/switchover/state.ts';
import {
  fenceOldMaster,
  finishSwitchover,
  planSwitchover,
  prepareSwitchover,
  recoverSwitchover,
  switchMaster,
  verifySwitchover,
} from '../../core/switchover/steps.ts';

export interface SwitchoverStepDeps {
  clusters: ClusterRegistry;
  failover: FailoverDeps;
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
      throw new InvalidInputError(
        `invalid switchover step event: ${z.prettifyError(parsed.error).replaceAll('\n', ' ')}`,
      );
    }
    const { action, state } = parsed.data;
    const deps = await getDeps();
    const cluster = deps.clusters.get(state.input.cluster);
    return STEPS[action](cluster, state, deps.failover);
  };
}

const { logger, middlewares } = observability('ha-redis-switchover-step');

/** AWS entry point (the state machine's Task resource). */
export const handler = middy(
  makeSwitchoverStepHandler(async () => {
    const { awsDeps } = await import('../../compose/aws.ts');
    return awsDeps(logger);
  }),
).use(middlewares);
