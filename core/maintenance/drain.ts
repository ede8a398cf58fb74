import { type ClusterConfig, type Endpoint, formatEndpoint } from '../model/cluster.ts';
import { errorMessage, HaRedisError, MaintenanceRefusedError } from '../model/errors.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../model/limits.ts';
import type { CorePorts } from '../ports.ts';
import { observeCluster } from '../status/observe.ts';
import { buildStatusReport } from '../status/report.ts';
import { dryRunPlan } from '../switchover/plan.ts';
import { preferTarget, restorePriorities } from '../switchover/prepare.ts';

/** A drain: which nodes are on the drained host, and the replica the master moves to. */

/** Is the address on the drained host (an IP or name), or is it the drained node (`host:port`)? */
export const onHost = (address: Endpoint, host: string): boolean =>
  host.includes(':') ? formatEndpoint(address) === host : address.host === host;

/** The replica a drain moves the master to: the first one that is a reachable replica off the host. */
export function drainTarget<
  N extends { id: string; address: Endpoint; isMaster?: boolean; reachable?: boolean; role?: string },
>(nodes: readonly N[], host: string): N | undefined {
  return nodes.find(
    (n) => !n.isMaster && n.reachable !== false && n.role === 'slave' && !onHost(n.address, host),
  );
}

/** A drain's target, asked of the cluster as it is now (the plan may be minutes old). */
export async function drainTargetNow(cluster: ClusterConfig, host: string, deps: CorePorts): Promise<string> {
  const report = buildStatusReport(await observeCluster(cluster, deps), {
    maxLagBytes: Number.MAX_SAFE_INTEGER,
  });
  const target = drainTarget(report.nodes, host);
  if (!target) {
    throw new MaintenanceRefusedError(
      `cluster ${cluster.name}: no reachable replica off ${host} to move the master to`,
    );
  }
  return target.id;
}

/** What a drain prepared for one cluster: the target its Sentinels now prefer, and the priorities to put back. */
export interface PreparedDrain {
  target: string;
  /** Node id -> the replica priority it had before (restorePriorities takes it). */
  priorities: Record<string, number>;
}

/**
 * Before a drain's switchovers, for one cluster whose master is on the host (else undefined): plan its switchover (a dry run,
 * to the drain target) and make its Sentinels prefer that target already (core/switchover/prepare.ts). A drain
 * does this for every service at once, so the Sentinels' INFO period (10 s) is waited for once, not once per
 * switchover; each switchover's own Prepare then finds nothing to change. Undoes what it changed if it fails.
 */
export async function prepareDrain(
  cluster: ClusterConfig,
  host: string,
  deps: CorePorts,
): Promise<PreparedDrain | undefined> {
  const report = buildStatusReport(await observeCluster(cluster, deps), {
    maxLagBytes: Number.MAX_SAFE_INTEGER,
  });
  // Nothing to move, or nowhere to move it: the drain's own switchover step says which.
  if (!report.master || !onHost(report.master.address, host)) return undefined;
  const target = drainTarget(report.nodes, host)?.id;
  if (!target) return undefined;
  const plan = await dryRunPlan(
    cluster,
    {
      cluster: cluster.name,
      target,
      reason: `drain ${host}`,
      requestedBy: 'drain',
      dryRun: true,
      maxLagBytes: DEFAULT_MAX_LAG_BYTES,
    },
    deps,
  );
  const priorities: Record<string, number> = {};
  try {
    await preferTarget(cluster, plan, deps, priorities);
  } catch (error) {
    const undone = await restorePriorities(cluster, priorities, deps).then(
      () => true,
      () => false,
    );
    if (undone) throw error;
    const wanted = Object.entries(priorities).map(([id, p]) => `${id} ${p}`);
    throw new HaRedisError(
      `${errorMessage(error)}; and the replica priorities it changed could not be put back: set them by hand (CONFIG SET replica-priority): ${wanted.join(', ')}`,
      { cause: error },
    );
  }
  return { target, priorities };
}
