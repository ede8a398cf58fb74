import type { ClusterConfig, Endpoint } from '../model/cluster.ts';
import { InvalidInputError } from '../model/errors.ts';
import { Timeline } from '../model/timeline.ts';
import type { CorePorts } from '../ports.ts';
import { asNode } from '../switchover/context.ts';
import type { MaintenancePlan, MaintenanceState, NodeRef } from './state.ts';

/** What every step of a maintenance run shares: its time limits, its timeline, its plan and current node. */

/** Time limits of a maintenance run, in milliseconds. */
export const MAINTENANCE_TIMING = {
  /** One wait call polls for at most this long, then the state machine retries it (Lambda and Task bounds). */
  waitCallBudgetMs: 25_000,
  waitPollMs: 1000,
  /** A rebooting host goes down a minute after the action answers (`shutdown -r +1`): wait that long to see it go. */
  rebootDownDeadlineMs: 150_000,
} as const;

/** The timeline of a run, going on from the steps its earlier Tasks recorded. */
export const timelineOf = (state: MaintenanceState, deps: CorePorts): Timeline =>
  Timeline.resume(state.timeline, deps, { cluster: state.input.cluster, maintenance: state.executionId });

/** The plan, with the master as it is now (`current`); every step after plan needs it. */
export function planOf(state: MaintenanceState): MaintenancePlan & { current: NodeRef } {
  if (!state.plan || !state.master) {
    throw new InvalidInputError('maintenance state has no plan; the plan step must run first');
  }
  return { ...state.plan, current: state.master };
}

/** The node the run is at; act and wait need it. */
export function currentOf(state: MaintenanceState): NonNullable<MaintenanceState['current']> {
  if (!state.current)
    throw new InvalidInputError('maintenance state has no current node; next must run first');
  return state.current;
}

/** A node as the state names it: its id and its address. */
export const refOf: (cluster: ClusterConfig, e: Endpoint) => NodeRef = asNode;

/** The address of a node the state names. */
export const endpoint = (n: NodeRef): Endpoint => ({ host: n.host, port: n.port });
