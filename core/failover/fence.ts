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
  const infos = others.map((node) => deps.redis.replication(node, timeout).catch(() => undefined));
  // Each node that answers is fenced as soon as it answers.
  const reachable = Promise.all(
    others.map(async (node, i): Promise<{ line: string } | { error: unknown } | undefined> => {
      const info = await infos[i];
      if (!info) return undefined;
      return fenceReachable(node, info, master, deps, timeout, offsets).then(
        (line) => ({ line }),
        (error: unknown) => ({ error }),
      );
    }),
  );
  // A node that does not answer: with `afterReachable`, once every node that answers is fenced and the hook let
  // it; without, at once (the Lambda's reaction, as before the hook).
  const { afterReachable } = options;
  const turn = afterReachable ? reachable.then(() => afterReachable()) : Promise.resolve();
  const unreachable = Promise.all(
    others.map(async (node, i): Promise<string | undefined> => {
      if (await infos[i]) return undefined;
      await turn;
      return fenceUnreachable(cluster, node, master, epoch, deps);
    }),
  );
  const [fenced, persisted] = await Promise.all([reachable, unreachable]);
  // A node that still takes writes fails the fence, once the nodes that do not answer are fenced too.
  const failed = fenced.find((r) => r !== undefined && 'error' in r);
  if (failed && 'error' in failed) throw failed.error;
  const lines = others.map((_, i) => {
    const r = fenced[i];
    return r && 'line' in r ? r.line : (persisted[i] ?? '');
  });
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
