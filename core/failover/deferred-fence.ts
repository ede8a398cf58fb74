import { type ClusterConfig, nodeLabel, sameEndpoint } from '../model/cluster.ts';
import { errorMessage, FencingError } from '../model/errors.ts';
import type { HistoryEntry, PendingFence } from '../model/records.ts';
import { Timeline } from '../model/timeline.ts';
import type { CorePorts } from '../ports.ts';
import { historyEntry, recordReaction } from './record.ts';

/** The deferred fence: nodes that were unreachable at failover time are fenced when they answer again. */

/** Fence nodes that were unreachable at failover time and answer again. */
export async function fencePendingNodes(
  cluster: ClusterConfig,
  deps: CorePorts,
  reason: string,
): Promise<HistoryEntry[]> {
  const pending = await deps.state.pendingFences(cluster.name);
  const entries: HistoryEntry[] = [];
  for (const fence of pending) {
    const entry = await fenceOne(cluster, fence, deps, reason);
    if (entry) entries.push(entry);
  }
  return entries;
}

async function fenceOne(
  cluster: ClusterConfig,
  fence: PendingFence,
  deps: CorePorts,
  reason: string,
): Promise<HistoryEntry | undefined> {
  const timeout = cluster.timing.nodeTimeoutMs;
  const info = await deps.redis.replication(fence.node, timeout).catch(() => undefined);
  if (!info) return undefined; // still down; the next -sdown, +reboot or reconcile tries again
  const timeline = new Timeline(deps.clock, deps.logger, { cluster: cluster.name, trigger: reason });
  timeline.mark('detected', deps.clock.now(), reason);
  const applied = await deps.state.appliedEpoch(cluster.name);
  const master = applied?.master ?? fence.master;
  let error: string | undefined;
  try {
    if (sameEndpoint(master, fence.node)) {
      timeline.skip('fenced', 'the node is the applied master again');
    } else {
      await timeline.run(
        'fenced',
        async () => {
          if (info.role === 'master' || !sameEndpoint(info.master, master)) {
            await deps.redis.replicaOf(fence.node, master, timeout);
          }
          const probe = await deps.redis.probeWrite(fence.node, timeout);
          if (probe === 'accepted')
            throw new FencingError(`${nodeLabel(cluster, fence.node)} still accepts writes`);
          return `${nodeLabel(cluster, fence.node)} replica of ${nodeLabel(cluster, master)}, writes ${probe}`;
        },
        (d) => d,
      );
    }
    await deps.state.removePendingFence(cluster.name, fence.node);
  } catch (e) {
    error = errorMessage(e);
  }
  const entry = historyEntry(
    cluster,
    deps,
    timeline,
    { type: reason, seenAt: deps.clock.now() },
    {
      kind: 'deferred-fence',
      epoch: fence.epoch,
      oldMaster: fence.node,
      newMaster: master,
      outcome: error ? 'failed' : 'succeeded',
      bytesAtRisk: null,
      ...(error ? { error } : {}),
    },
  );
  await recordReaction(
    deps,
    entry,
    `${cluster.name}: returning node ${nodeLabel(cluster, fence.node)} ${error ? `NOT fenced: ${error}` : 'fenced as a replica'}`,
  );
  return entry;
}
