import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  nodeLabel,
  sameEndpoint,
} from '../model/cluster.ts';
import { LeaseHeldError, SwitchoverRefusedError } from '../model/errors.ts';
import type { Timeline } from '../model/timeline.ts';
import type { CorePorts } from '../ports.ts';
import { planOf, SWITCHOVER_TIMING, timelineOf } from './context.ts';
import type { SwitchoverPlan, SwitchoverState } from './state.ts';

/** Step 2 of a switchover, Prepare: the cluster lease, and replica priorities that make Sentinel pick the target. */

/** Added to the target's priority for every other replica, so that Sentinel picks the target. */
const DEPRIORITIZE_BY = 100;

/** The replicas Prepare makes Sentinel prefer less than the target; priority 0 (never promote) stays as it is. */
export function replicasToDeprioritize(plan: SwitchoverPlan) {
  const targetPriority = plan.replicas.find((r) => r.id === plan.target.id)?.priority ?? 100;
  const others = plan.replicas.filter(
    (r) => r.id !== plan.target.id && r.priority > 0 && r.priority <= targetPriority,
  );
  return { targetPriority, others };
}

/** 2. Take the cluster lease, and make Sentinel prefer the target: raise the other replicas' priority. */
export async function prepareSwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: CorePorts,
): Promise<SwitchoverState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  const { nodeTimeoutMs } = cluster.timing;
  await timeline.run('lease-taken', async () => {
    const now = deps.clock.now();
    const result = await deps.state.takeLease(
      cluster.name,
      { owner: state.executionId, purpose: 'switchover', until: now + SWITCHOVER_TIMING.leaseMs },
      now,
    );
    if (!result.taken) {
      throw new LeaseHeldError(
        `${result.holder.purpose} ${result.holder.owner} holds cluster ${cluster.name}; retry when it ends`,
      );
    }
  });
  const next: SwitchoverState = { ...state, leaseHeld: true };
  const priorities: Record<string, number> = {};
  try {
    await raisePriorities(cluster, plan, deps, timeline, priorities);
  } catch (error) {
    // A Catch hands Recover the state from before this step: undo here what only this step knows about.
    for (const [id, priority] of Object.entries(priorities)) {
      const node = cluster.nodes.find((n) => n.id === id);
      if (node) await deps.redis.setReplicaPriority(node, priority, nodeTimeoutMs).catch(() => undefined);
    }
    await deps.state.releaseLease(cluster.name, state.executionId).catch(() => undefined);
    throw error;
  }
  next.priorities = priorities;
  next.timeline = timeline.steps;
  return next;
}

/** Raise the other replicas' priority above the target's and wait until every Sentinel has seen it (a step). */
async function raisePriorities(
  cluster: ClusterConfig,
  plan: SwitchoverPlan,
  deps: CorePorts,
  timeline: Timeline,
  priorities: Record<string, number>,
): Promise<void> {
  const { others, raised } = deprioritized(plan);
  await timeline.run(
    'priorities-raised',
    () => preferTarget(cluster, plan, deps, priorities),
    () =>
      others.length
        ? `${others.map((r) => r.id).join(', ')} -> ${raised}; seen by every Sentinel`
        : 'none needed',
  );
}

const deprioritized = (plan: SwitchoverPlan) => {
  const { targetPriority, others } = replicasToDeprioritize(plan);
  return { others, raised: targetPriority + DEPRIORITIZE_BY };
};

/**
 * Make Sentinel prefer the plan's target: raise the other replicas' priority above the target's, noting each
 * original in `priorities` as it goes (to restore), then wait until every Sentinel has seen the change. A drain
 * does this for all its services at once before their switchovers, whose Prepare then finds nothing to change.
 */
export async function preferTarget(
  cluster: ClusterConfig,
  plan: SwitchoverPlan,
  deps: CorePorts,
  priorities: Record<string, number>,
): Promise<void> {
  const { nodeTimeoutMs, sentinelTimeoutMs } = cluster.timing;
  const { others, raised } = deprioritized(plan);
  for (const r of others) {
    priorities[r.id] = r.priority;
    await deps.redis.setReplicaPriority(r, raised, nodeTimeoutMs);
  }
  // Sentinel chooses from what its last INFO said: wait until every Sentinel has seen the change.
  const deadline = deps.clock.now() + SWITCHOVER_TIMING.priorityPropagationMs;
  for (;;) {
    const views = await Promise.all(
      cluster.sentinels.map((s) => deps.sentinels.replicasView(s, cluster.masterName, sentinelTimeoutMs)),
    );
    const seen = views.every((view) =>
      others.every((r) => view.some((v) => sameEndpoint(v.address, r) && v.priority === raised)),
    );
    // Right after a failover a Sentinel that has not read the demoted old master's INFO since still holds it
    // as reporting master; if SENTINEL FAILOVER then promoted it, that Sentinel would take the promotion for
    // a stale master, turn it back (+convert-to-slave), and the failover would abort. Wait for that too.
    const stale = views.flatMap((view, i) =>
      view
        .filter((v) => v.roleReported === 'master' && !v.flags.includes('s_down'))
        .map(
          (v) => `${formatEndpoint(cluster.sentinels[i] as Endpoint)} sees ${nodeLabel(cluster, v.address)}`,
        ),
    );
    if (seen && stale.length === 0) return;
    if (deps.clock.now() > deadline) {
      throw new SwitchoverRefusedError(
        seen
          ? `the Sentinels still see a replica report itself as master (${stale.join('; ')}); a failover just ended? retry when they have settled`
          : 'the Sentinels did not see the changed replica priorities in time',
      );
    }
    await deps.clock.sleep(200);
  }
}

/** Put back the priorities Prepare changed (node id -> original priority); says which it restored. */
export async function restorePriorities(
  cluster: ClusterConfig,
  priorities: Record<string, number>,
  deps: CorePorts,
): Promise<string> {
  const restored: string[] = [];
  for (const [id, priority] of Object.entries(priorities)) {
    const node = cluster.nodes.find((n) => n.id === id);
    if (!node) continue;
    await deps.redis.setReplicaPriority(node, priority, cluster.timing.nodeTimeoutMs);
    restored.push(`${id} ${priority}`);
  }
  return restored.length ? restored.join(', ') : 'none changed';
}
