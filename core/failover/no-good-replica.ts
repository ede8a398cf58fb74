import { recordAndNotify } from '../history.ts';
import {
  type ClusterConfig,
  type Endpoint,
  type NodeConfig,
  nodeLabel,
  sameEndpoint,
} from '../model/cluster.ts';
import { errorMessage } from '../model/errors.ts';
import type { HistoryEntry } from '../model/records.ts';
import type { CorePorts } from '../ports.ts';

/**
 * Sentinel gave up a failover because no replica could be promoted (`-failover-abort-no-good-slave`): all down,
 * disconnected from the master too long, or at replica-priority 0. ha-redis changes nothing (there is no master
 * to route to), records it once per master and tells people why, replica by replica. Sentinel tries again every
 * `2 × failover-timeout`; those attempts are not told again until another entry (a failover, a switchover)
 * comes between.
 */

/** The trigger of the entry, so that a repeat is known. */
export const NO_GOOD_REPLICA = '-failover-abort-no-good-slave' as const;

export async function tellNoGoodReplica(
  cluster: ClusterConfig,
  master: Endpoint,
  seenAt: number,
  deps: CorePorts,
): Promise<{ action: 'ignored'; reason: string } | { action: 'no-good-replica'; entry: HistoryEntry }> {
  const [last] = await deps.state.listHistory(cluster.name, 1);
  if (last && last.trigger === NO_GOOD_REPLICA && last.oldMaster && sameEndpoint(last.oldMaster, master)) {
    return { action: 'ignored', reason: `${NO_GOOD_REPLICA}: told already (${last.id})` };
  }
  const replicas = cluster.nodes.filter((n) => !sameEndpoint(n, master));
  const why = await Promise.all(replicas.map((r) => whyNotPromotable(cluster, r, master, deps)));
  const error = `Sentinel found no replica it can promote: ${why.join('; ')}`;
  const entry: HistoryEntry = {
    id: deps.newId(),
    cluster: cluster.name,
    kind: 'failover',
    trigger: NO_GOOD_REPLICA,
    startedAt: seenAt,
    durationMs: Math.max(0, deps.clock.now() - seenAt),
    timeline: [
      { step: 'aborted-by-sentinel', at: seenAt, durationMs: 0, status: 'failed', detail: why.join('; ') },
    ],
    epoch: null,
    oldMaster: { host: master.host, port: master.port },
    newMaster: null,
    outcome: 'failed',
    bytesAtRisk: null,
    error,
  };
  const name = nodeLabel(cluster, master);
  await recordAndNotify(
    deps,
    entry,
    `${cluster.name}: Sentinel could not fail ${name} over. ${error}. Nothing changed: the proxies still route to ${name}, ` +
      `and writes fail until ${name} or a replica is back (a replica needs its link to the master, and a replica-priority above 0). ` +
      'Sentinel tries again by itself; ha-redis acts on the promotion that follows.',
  );
  return { action: 'no-good-replica', entry };
}

/** Why Sentinel could not promote a replica, as seen from here now. */
async function whyNotPromotable(
  cluster: ClusterConfig,
  replica: NodeConfig,
  master: Endpoint,
  deps: CorePorts,
): Promise<string> {
  const timeout = cluster.timing.nodeTimeoutMs;
  try {
    const [info, priority] = await Promise.all([
      deps.redis.replication(replica, timeout),
      deps.redis.replicaPriority(replica, timeout).catch(() => undefined),
    ]);
    if (priority === 0) return `${replica.id} has replica-priority 0 (never promoted)`;
    if (info.role === 'master') return `${replica.id} answers as a master`;
    if (info.master && !sameEndpoint(info.master, master)) {
      return `${replica.id} follows ${nodeLabel(cluster, info.master)}, not ${nodeLabel(cluster, master)}`;
    }
    if (info.linkUp === false) {
      const since = info.linkDownSinceSeconds;
      return `${replica.id} lost its link to the master${since === undefined ? '' : ` ${since} s ago`} (too long ago for Sentinel, or never synced)`;
    }
    return `${replica.id} looks promotable from here (Sentinel may have judged it before it was back)`;
  } catch (error) {
    return `${replica.id} does not answer (${errorMessage(error)})`;
  }
}
