import type { ClusterRegistry } from '../../core/model/cluster.ts';
import { InvalidInputError, issuesText } from '../../core/model/errors.ts';
import type { MovePorts } from '../../core/move/ports.ts';
import type { MoveAction, MoveState } from '../../core/move/state.ts';
import {
  addNewProxies,
  handOver,
  planMove,
  recoverMove,
  retireOldHome,
  startNewNodes,
  switchToNewHosts,
} from '../../core/move/steps.ts';
import type { CorePorts } from '../../core/ports.ts';
import { MoveStepEventSchema } from './contract.ts';

/**
 * What one Task needs: the clusters as they are now (a move changes the service's members between Tasks, so each
 * Task reads them again), the core's ports and the move's.
 */
export interface MoveStepDeps {
  clusters: ClusterRegistry;
  failover: CorePorts;
  move: MovePorts;
}

const STEPS: Record<MoveAction, typeof planMove> = {
  plan: planMove,
  nodes: startNewNodes,
  sentinels: handOver,
  switchover: switchToNewHosts,
  proxies: addNewProxies,
  retire: retireOldHome,
  recover: recoverMove,
};

/** One Task of the move state machine: validate `{ action, state }`, run that step, return the new state. */
export function makeMoveStepHandler(getDeps: () => Promise<MoveStepDeps> | MoveStepDeps) {
  return async (event: unknown): Promise<MoveState> => {
    const parsed = MoveStepEventSchema.safeParse(event);
    if (!parsed.success) {
      throw new InvalidInputError(`invalid move step event: ${issuesText(parsed.error, 'event')}`);
    }
    const { action, state } = parsed.data;
    const deps = await getDeps();
    const cluster = deps.clusters.get(state.input.cluster);
    return STEPS[action](cluster, state, deps.failover, deps.move);
  };
}
