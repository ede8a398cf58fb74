import { type ClusterConfig, type Endpoint, formatEndpoint } from '../model/cluster.ts';
import { MaintenanceRefusedError } from '../model/errors.ts';
import type { CorePorts } from '../ports.ts';
import { observeCluster } from '../status/observe.ts';
import { buildStatusReport } from '../status/report.ts';

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
