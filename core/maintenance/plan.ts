import type { ClusterConfig } from '../model/cluster.ts';
import { MaintenanceRefusedError } from '../model/errors.ts';
import type { CorePorts } from '../ports.ts';
import { observeCluster } from '../status/observe.ts';
import { buildStatusReport } from '../status/report.ts';
import { planOf, refOf, timelineOf } from './context.ts';
import { drainTarget, onHost } from './drain.ts';
import { sentinelProblems } from './health.ts';
import type { MaintenancePlan, MaintenanceState, NodeRef } from './state.ts';

/** Steps 1 and 2 of a maintenance run: plan the order (refusing an unhealthy or busy cluster), and choose the next item. */

/** 1. Refuse when maintenance is paused, a lease is held or the cluster is not healthy; else plan the order. Changes nothing. */
export async function planMaintenance(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: CorePorts,
): Promise<MaintenanceState> {
  const timeline = timelineOf(state, deps);
  const plan = await timeline.run(
    'planned',
    async (): Promise<MaintenancePlan> => {
      await refuseWhenPausedOrLeased(cluster, deps);
      return planOrder(cluster, state, deps);
    },
    (p) =>
      state.input.drainHost
        ? `drain ${state.input.drainHost}: the master ${p.master.id} ${onHost(p.master, state.input.drainHost) ? 'moves' : 'is not on it'}`
        : `${state.input.action}: ${p.replicas.map((r) => r.id).join(', ')}, then ${p.master.id}${state.input.switchback ? ' and back' : ''}`,
  );
  return {
    ...state,
    plan,
    master: plan.master,
    done: [],
    switchovers: [],
    phase: 'planned',
    timeline: timeline.steps,
  };
}

/** Maintenance must not be paused, and no other operation may hold the cluster's lease. */
async function refuseWhenPausedOrLeased(cluster: ClusterConfig, deps: CorePorts): Promise<void> {
  const mode = await deps.state.maintenanceMode(cluster.name);
  if (mode?.paused) {
    throw new MaintenanceRefusedError(
      `maintenance of ${cluster.name} is paused by ${mode.by} (${mode.reason}); resume it first`,
    );
  }
  const lease = await deps.state.lease(cluster.name);
  if (lease && lease.until > deps.clock.now()) {
    throw new MaintenanceRefusedError(
      `${lease.purpose} ${lease.owner} holds cluster ${cluster.name}; retry when it ends`,
    );
  }
}

/** The master and the replicas in order, from a healthy cluster; a drain plans no node, only the move. */
async function planOrder(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: CorePorts,
): Promise<MaintenancePlan> {
  const report = buildStatusReport(await observeCluster(cluster, deps), {
    maxLagBytes: state.input.maxLagBytes,
  });
  const reasons = [...report.reasons];
  if (report.majority.failoverInProgress) reasons.push('a failover is in progress');
  const replicas = report.nodes
    .filter((n) => !n.isMaster)
    .map((n) => ({ id: n.id, host: n.address.host, port: n.address.port }));
  if (report.healthy) reasons.push(...(await sentinelProblems(cluster, replicas, deps)));
  if (reasons.length) {
    throw new MaintenanceRefusedError(
      `cluster ${cluster.name} is not healthy: ${reasons.join('; ')}; retry when it is`,
    );
  }
  if (!report.master) throw new MaintenanceRefusedError(`cluster ${cluster.name} has no master`);
  const drain = state.input.drainHost;
  if (drain) {
    // A drain acts on no node: it only moves the master off the host, when it is there.
    if (onHost(report.master.address, drain) && !drainTarget(report.nodes, drain)) {
      throw new MaintenanceRefusedError(
        `cluster ${cluster.name}: no reachable replica off ${drain} to move the master to`,
      );
    }
    return { master: refOf(cluster, report.master.address), replicas: [] };
  }
  if (!replicas.length) {
    throw new MaintenanceRefusedError(
      `cluster ${cluster.name} has no replica to switch over to; maintenance needs one`,
    );
  }
  return { master: refOf(cluster, report.master.address), replicas };
}

/** 2. Choose what comes next: each replica, the switchover, the old master, the switchback, done. */
export async function nextMaintenanceStep(
  _cluster: ClusterConfig,
  state: MaintenanceState,
  deps: CorePorts,
): Promise<MaintenanceState> {
  const plan = planOf(state);
  const { current: _, ...rest } = state;
  const replica = plan.replicas.find((r) => !state.done.includes(r.id));
  const onNode = (node: NodeRef): MaintenanceState => ({
    ...rest,
    phase: 'node',
    current: { node, startedAt: deps.clock.now() },
  });
  if (replica) return onNode(replica);
  const drain = state.input.drainHost;
  if (drain) {
    const moved = state.switchovers.some((s) => s.kind === 'switchover');
    return { ...rest, phase: !moved && onHost(plan.master, drain) ? 'switchover' : 'done' };
  }
  if (!state.switchovers.some((s) => s.kind === 'switchover')) return { ...rest, phase: 'switchover' };
  if (!state.done.includes(plan.master.id)) return onNode(plan.master);
  if (state.input.switchback && !state.switchovers.some((s) => s.kind === 'switchback')) {
    return { ...rest, phase: 'switchback' };
  }
  return { ...rest, phase: 'done' };
}
