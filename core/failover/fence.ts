import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  type NodeConfig,
  sameEndpoint,
} from '../model/cluster.ts';
import { errorMessage, FencingError } from '../model/errors.ts';
import { withinMs } from '../model/within.ts';
import type { CorePorts, ReplicationInfo } from '../ports.ts';
import { hostDeadline } from './host-deadline.ts';

/** The reaction's fence: every node but the new master made its replica and proven to refuse writes. */

/** How many node timeouts the fence waits for `fence-node` on the host of a node that does not answer. */
export const PERSIST_WAIT_NODE_TIMEOUTS = 3;

/**
 * Make every other node a replica of the new master (demote one that claims master, re-point one that
 * follows another master), and prove it refuses writes.
 * A node that does not answer gets `replicaof` persisted in its config and a pending fence: after every node that
 * answers is fenced, and after `afterReachable` (the reaction's turn for follow-up steps).
 */
export async function fenceOtherNodes(
  cluster: ClusterConfig,
  master: Endpoint,
  epoch: number,
  deps: CorePorts,
  options: { afterReachable?: () => Promise<void> } = {},
): Promise<{ summary: string; oldMasterOffsets: Map<string, number> }> {
  const timeout = cluster.timing.nodeTimeoutMs;
  const others = cluster.nodes.filter((n) => !sameEndpoint(n, master));
  const offsets = new Map<string, number>();
  // Each node that answers is fenced as soon as it answers; a node that does not waits for the second phase.
  const reachable = await Promise.all(
    others.map(async (node) => {
      const info = await deps.redis.replication(node, timeout).catch(() => undefined);
      if (!info) return { node, answered: false as const };
      try {
        return {
          node,
          answered: true as const,
          line: await fenceReachable(node, info, master, deps, timeout, offsets),
        };
      } catch (error) {
        return { node, answered: true as const, error };
      }
    }),
  );
  await options.afterReachable?.();
  const lines = await Promise.all(
    reachable.map((r) =>
      r.answered ? Promise.resolve(r.line ?? '') : fenceUnreachable(cluster, r.node, master, epoch, deps),
    ),
  );
  // A node that still takes writes fails the fence, once the nodes that do not answer are fenced too.
  const failed = reachable.find((r) => r.answered && r.error !== undefined);
  if (failed?.answered) throw failed.error;
  return { summary: lines.join('; '), oldMasterOffsets: offsets };
}

/** A node that answers: made a replica of the new master, and proven to refuse writes. */
async function fenceReachable(
  node: NodeConfig,
  info: ReplicationInfo,
  master: Endpoint,
  deps: CorePorts,
  timeout: number,
  offsets: Map<string, number>,
): Promise<string> {
  let action = 'replica';
  if (info.role === 'master') {
    offsets.set(formatEndpoint(node), info.offset);
    await deps.redis.replicaOf(node, master, timeout);
    action = 'demoted';
  } else if (!sameEndpoint(info.master, master)) {
    await deps.redis.replicaOf(node, master, timeout);
    action = 're-pointed';
  }
  const probe = await deps.redis.probeWrite(node, timeout);
  if (probe === 'accepted') {
    throw new FencingError(`${node.id} still accepts writes after REPLICAOF; check it by hand now`);
  }
  return `${node.id} ${action}, writes ${probe}`;
}

/** A node that does not answer: a pending fence, and `replicaof` persisted on its host (waited for a while). */
async function fenceUnreachable(
  cluster: ClusterConfig,
  node: NodeConfig,
  master: Endpoint,
  epoch: number,
  deps: CorePorts,
): Promise<string> {
  // The pending fence first: if persisting replicaof fails (host down too), the node is still fenced on return.
  const address = { host: node.host, port: node.port };
  await deps.state.addPendingFence(cluster.name, { node: address, master, epoch, since: deps.clock.now() });
  // Waited for at most 3 node timeouts (a script on a live host takes ~1 s through SSM): its host may be
  // unreachable too, and an SSM command to it waits out its delivery timeout (30 s or more). The pending
  // fence covers it either way; a late failure is logged.
  const waitMs = PERSIST_WAIT_NODE_TIMEOUTS * cluster.timing.nodeTimeoutMs;
  const failed = (error: unknown) =>
    deps.logger.error('fence-node failed on a node that does not answer; the fence stays pending', {
      cluster: cluster.name,
      node: node.id,
      error: errorMessage(error),
    });
  let fenced: Awaited<ReturnType<CorePorts['nodeOps']['run']>> | undefined;
  try {
    fenced = await withinMs(
      deps.nodeOps.run({ document: 'fence-node', node, master, epoch }, hostDeadline(deps)),
      waitMs,
      failed,
    );
  } catch (error) {
    // Its host does not take the command either: the pending fence is what fences it when it is back.
    failed(error);
    return `${node.id} unreachable: replicaof not persisted (${errorMessage(error)}); fence pending`;
  }
  if (fenced === undefined) {
    return `${node.id} unreachable: replicaof sent to its host, not done within ${waitMs} ms; fence pending`;
  }
  return fenced.stale
    ? `${node.id} unreachable: a newer epoch's replicaof is persisted there (epoch ${epoch} is stale), fence pending`
    : `${node.id} unreachable: replicaof persisted, fence pending`;
}
