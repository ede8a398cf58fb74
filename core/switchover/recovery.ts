import { decideMajority, observeSentinels } from '../failover/confirm.ts';
import { proxiesAwayFrom } from '../failover/routing.ts';
import { type ClusterConfig, type Endpoint, sameEndpoint } from '../model/cluster.ts';
import type { CorePorts } from '../ports.ts';
import { findMaster, timelineOf } from './context.ts';
import { replicasToDeprioritize, restorePriorities } from './prepare.ts';
import { recordSwitchover } from './record.ts';
import type { SwitchoverPlan, SwitchoverState } from './state.ts';

/**
 * A failed switchover's recovery: writes unblocked (forward to the node Sentinel promoted, or back to the old
 * master), priorities restored, the lease released, the failure recorded.
 */

/** How long recovery waits for a failover that Sentinel has under way to end: Sentinel will finish it anyway. */
const RECOVERY_WAIT_MS = 15_000;

/**
 * Recover (the Catch of every step): writes unblocked, forward or back; priorities restored; lease released;
 * the failure recorded and told. Idempotent: the critical section already unblocked what it could.
 */
export async function recoverSwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: CorePorts,
): Promise<SwitchoverState> {
  const timeline = timelineOf(state, deps);
  const direction = await timeline.run(
    'recovered',
    () => unblockWrites(cluster, state, deps),
    (d) => d,
  );
  // The state is the one before the failed step. If Prepare took the lease and raised priorities but its
  // answer was lost (crash, timeout), the state says neither: the lease's owner says that Prepare ran.
  const lease = await deps.state.lease(cluster.name).catch(() => undefined);
  const holdsLease = state.leaseHeld === true || lease?.owner === state.executionId;
  const priorities =
    state.priorities ??
    (holdsLease && state.plan
      ? Object.fromEntries(replicasToDeprioritize(state.plan).others.map((r) => [r.id, r.priority]))
      : undefined);
  if (priorities) {
    await timeline
      .run(
        'priorities-restored',
        () => restorePriorities(cluster, priorities, deps),
        (d) => d,
      )
      .catch(() => undefined);
  }
  const outcome =
    direction === 'completed-forward'
      ? 'completed-forward'
      : direction === 'rolled-back'
        ? 'rolled-back'
        : 'failed';
  const recovered: SwitchoverState = { ...state, timeline: timeline.steps, outcome };
  await recordSwitchover(cluster, recovered, deps, 'failed', null);
  if (holdsLease) await deps.state.releaseLease(cluster.name, state.executionId);
  return { ...recovered, leaseHeld: false };
}

/**
 * Leave the cluster writable whatever happened: if Sentinel promoted a node, complete the switch forward;
 * if the old master is still the master, unpause it and route back to it.
 */
export async function unblockWrites(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: CorePorts,
): Promise<'completed-forward' | 'rolled-back'> {
  const plan = state.plan;
  if (!plan) return 'rolled-back';
  const { nodeTimeoutMs } = cluster.timing;
  const { direction, master } = await chooseDirection(cluster, plan, deps);
  if (direction === 'completed-forward') {
    await deps.redis.replicaOf(plan.master, master, nodeTimeoutMs).catch(() => undefined);
    const others = cluster.nodes.filter((n) => !sameEndpoint(n, master) && !sameEndpoint(n, plan.master));
    await Promise.all(
      others.map((n) => deps.redis.replicaOf(n, master, nodeTimeoutMs).catch(() => undefined)),
    );
  }
  await deps.redis.unpause(plan.master, nodeTimeoutMs).catch(() => undefined);
  // The state a Catch hands over is the one before the failed step: ask each proxy where it stands.
  const away = await proxiesAwayFrom(cluster, master, deps);
  await Promise.all(away.map(({ proxy }) => deps.router.pointMasterAt(proxy, master)));
  return direction;
}

/**
 * Where writes must go after a failure: forward to the node Sentinel promoted, or back to the old master.
 * Once Sentinel runs a failover, it finishes it whatever we do, so going back is only safe when no failover
 * is under way and a majority still names the old master.
 */
async function chooseDirection(
  cluster: ClusterConfig,
  plan: SwitchoverPlan,
  deps: CorePorts,
): Promise<{ direction: 'completed-forward' | 'rolled-back'; master: Endpoint }> {
  const deadline = deps.clock.now() + RECOVERY_WAIT_MS;
  for (;;) {
    const decision = decideMajority(
      await observeSentinels(cluster, deps.sentinels),
      cluster.sentinels.length,
    );
    const named = decision.agreed?.master;
    if (named && !sameEndpoint(named, plan.master)) return { direction: 'completed-forward', master: named };
    if (named && !decision.failoverInProgress) {
      const promoted = await findMaster(cluster, deps);
      if (!promoted || sameEndpoint(promoted, plan.master))
        return { direction: 'rolled-back', master: plan.master };
    }
    if (deps.clock.now() > deadline) {
      const current = await findMaster(cluster, deps);
      return current && !sameEndpoint(current, plan.master)
        ? { direction: 'completed-forward', master: current }
        : { direction: 'rolled-back', master: plan.master };
    }
    await deps.clock.sleep(50);
  }
}
