import type { ClusterConfig, NodeConfig } from '../model/cluster.ts';
import {
  InvalidInputError,
  MaintenanceRefusedError,
  NodeNotBackError,
  NodeNotBackYetError,
  UnreachableError,
} from '../model/errors.ts';
import type { Timeline } from '../model/timeline.ts';
import type { CorePorts } from '../ports.ts';
import { currentOf, MAINTENANCE_TIMING, planOf, timelineOf } from './context.ts';
import { nodeBackProblems } from './health.ts';
import type { MaintenanceState } from './state.ts';

/** Steps 3 and 4 of a maintenance run, on one node: the action, then the wait until the node is back. */

/** 3. Run the maintenance action on the current node (never on the master). */
export async function actOnNode(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: CorePorts,
): Promise<MaintenanceState> {
  const current = currentOf(state);
  const node = cluster.nodes.find((n) => n.id === current.node.id);
  if (!node) throw new InvalidInputError(`node ${current.node.id} is not in cluster ${cluster.name}`);
  const { action } = state.input;
  const { nodeTimeoutMs } = cluster.timing;
  const timeline = timelineOf(state, deps);
  await timeline.run(
    `${action} ${node.id}`,
    async () => {
      const role = await deps.redis.role(node, nodeTimeoutMs);
      if (role === 'master') {
        throw new MaintenanceRefusedError(
          `${node.id} answers ROLE master; maintenance acts on replicas only. Check the cluster`,
        );
      }
      const { output } = await deps.nodeOps.run({ document: 'maintenance-action', node, action });
      return output.trim().split('\n').at(-1) ?? '';
    },
    (d) => d,
  );
  // The reboot comes after the action answered: the node is back only once it has been away.
  if (action === 'reboot') await waitUntilGone(cluster, node, deps, timeline);
  return { ...state, current: { ...current, actedAt: deps.clock.now() }, timeline: timeline.steps };
}

/** Until the rebooting node stops answering, for at most rebootDownDeadlineMs. */
function waitUntilGone(
  cluster: ClusterConfig,
  node: NodeConfig,
  deps: CorePorts,
  timeline: Timeline,
): Promise<void> {
  return timeline.run(`${node.id} went down`, async () => {
    const deadline = deps.clock.now() + MAINTENANCE_TIMING.rebootDownDeadlineMs;
    for (;;) {
      const gone = await deps.redis.role(node, cluster.timing.nodeTimeoutMs).then(
        () => false,
        () => true,
      );
      if (gone) return;
      if (deps.clock.now() > deadline) {
        throw new UnreachableError(
          `${node.id} still answers ${MAINTENANCE_TIMING.rebootDownDeadlineMs} ms after its reboot was scheduled; check the host`,
        );
      }
      await deps.clock.sleep(MAINTENANCE_TIMING.waitPollMs);
    }
  });
}

/**
 * 4. Wait until the current node is back, for at most one call budget: NodeNotBackYetError asks the state
 * machine to call again; past the node's deadline (from its action), NodeNotBackError fails the run.
 */
export async function waitUntilNodeBack(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: CorePorts,
): Promise<MaintenanceState> {
  const { current: master } = planOf(state);
  const current = currentOf(state);
  const { node } = current;
  const actedAt = current.actedAt ?? current.startedAt;
  const deadline = actedAt + state.input.nodeBackTimeoutMs;
  const callEnd = Math.min(deps.clock.now() + MAINTENANCE_TIMING.waitCallBudgetMs, deadline);
  for (;;) {
    const problems = await nodeBackProblems(cluster, node, master, state.input.maxLagBytes, deps);
    const now = deps.clock.now();
    if (problems.length === 0) {
      const timeline = timelineOf(state, deps);
      timeline.steps.push({
        step: `${node.id} back`,
        at: actedAt,
        durationMs: now - actedAt,
        status: 'ok',
        detail: `replica of ${master.id}, in sync, healthy for every Sentinel`,
      });
      deps.logger.info(`${node.id} is back`, { cluster: cluster.name, maintenance: state.executionId });
      const { current: _, ...rest } = state;
      return { ...rest, done: [...state.done, node.id], timeline: timeline.steps };
    }
    if (now >= deadline) {
      throw new NodeNotBackError(
        `${node.id} is not back ${now - actedAt} ms after its ${state.input.action} (limit ${state.input.nodeBackTimeoutMs}): ${problems.join('; ')}. The run stops; check the node`,
      );
    }
    if (now >= callEnd) throw new NodeNotBackYetError(`${node.id} is not back yet: ${problems.join('; ')}`);
    await deps.clock.sleep(MAINTENANCE_TIMING.waitPollMs);
  }
}
