import { observeSentinels } from '../failover/confirm.ts';
import type { ClusterConfig, Endpoint } from '../model/cluster.ts';
import { errorMessage } from '../model/errors.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../model/limits.ts';
import type { CorePorts } from '../ports.ts';
import {
  buildStatusReport,
  type NodeObservation,
  type StatusObservations,
  type StatusReport,
} from './report.ts';

/** How many history entries to scan for the newest failover or switchover. */
const LAST_OPERATION_SCAN = 20;

/**
 * Ask every node, Sentinel and proxy, the DNS record and the state store, in parallel, through the ports;
 * a component that does not answer becomes a fact of the observation, never an exception. Read-only.
 */
export async function observeCluster(
  cluster: ClusterConfig,
  deps: Pick<CorePorts, 'redis' | 'sentinels' | 'router' | 'dns' | 'state' | 'clock'>,
): Promise<StatusObservations> {
  const nodeMs = cluster.timing.nodeTimeoutMs;
  const [nodes, answers, proxies, dns, history, lease, maintenance] = await Promise.all([
    Promise.all(
      cluster.nodes.map(async (n): Promise<NodeObservation> => {
        const address: Endpoint = { host: n.host, port: n.port };
        try {
          // One after another: a connection pool makes a client per first call, so parallel first calls would each open one.
          const replication = await deps.redis.replication(address, nodeMs);
          const replicaPriority = await deps.redis.replicaPriority(address, nodeMs);
          const aofEnabled = await deps.redis.aofEnabled(address, nodeMs);
          return {
            id: n.id,
            address,
            reachable: true,
            role: replication.role,
            offset: replication.offset,
            ...(replication.master ? { master: replication.master } : {}),
            ...(replication.linkUp === undefined ? {} : { linkUp: replication.linkUp }),
            replicaPriority,
            aofEnabled,
          };
        } catch (error) {
          return { id: n.id, address, reachable: false, error: errorMessage(error) };
        }
      }),
    ),
    // Each answer says whether its Sentinel is in TILT (INFO, asked beside SENTINEL MASTER).
    observeSentinels(cluster, deps.sentinels),
    Promise.all(
      cluster.proxies.map(async (p) => {
        try {
          return { id: p.id, route: await deps.router.masterRoute(p) };
        } catch (error) {
          return { id: p.id, error: errorMessage(error) };
        }
      }),
    ),
    deps.dns.currentMaster(cluster).then(
      (record) => record ?? { error: `no master record for ${cluster.dns.recordName} yet` },
      (error: unknown) => ({ error: errorMessage(error) }),
    ),
    deps.state.listHistory(cluster.name, LAST_OPERATION_SCAN).catch(() => []),
    deps.state.lease(cluster.name).catch(() => undefined),
    deps.state.maintenanceMode(cluster.name).catch((error: unknown) => ({ error: errorMessage(error) })),
  ]);
  const lastOperation = history.find((e) => e.kind === 'failover' || e.kind === 'switchover');
  return {
    cluster: cluster.name,
    observedAt: deps.clock.now(),
    sentinelsConfigured: cluster.sentinels.length,
    nodes,
    sentinels: answers.map((answer) =>
      answer.tilt === undefined ? { answer } : { answer, tilt: answer.tilt },
    ),
    proxies,
    dns,
    ...(lastOperation ? { lastOperation } : {}),
    ...(lease ? { lease } : {}),
    ...(maintenance ? { maintenance } : {}),
  };
}

/** Observe a cluster once and judge it: the report `ha-redis status` prints and the live page shows. */
export async function clusterStatusReport(
  cluster: ClusterConfig,
  deps: Parameters<typeof observeCluster>[1],
  maxLagBytes = DEFAULT_MAX_LAG_BYTES,
): Promise<StatusReport> {
  return buildStatusReport(await observeCluster(cluster, deps), { maxLagBytes });
}
