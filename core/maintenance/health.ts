import { type ClusterConfig, formatEndpoint, nodeLabel, sameEndpoint } from '../model/cluster.ts';
import { errorMessage } from '../model/errors.ts';
import type { CorePorts, ReplicationInfo } from '../ports.ts';
import { endpoint } from './context.ts';
import type { NodeRef } from './state.ts';

/** Whether nodes are healthy replicas: for the plan's precheck, and for a node coming back after its action. */

/** Sentinel flags that mean a replica is not healthy. */
const UNHEALTHY_FLAGS = ['s_down', 'o_down', 'disconnected'];

/** What keeps `nodes` from counting as healthy replicas for every Sentinel (one line per problem). */
export async function sentinelProblems(
  cluster: ClusterConfig,
  nodes: readonly NodeRef[],
  deps: CorePorts,
): Promise<string[]> {
  const views = await Promise.all(
    cluster.sentinels.map(async (s) => ({
      s,
      view: await deps.sentinels
        .replicasView(s, cluster.masterName, cluster.timing.sentinelTimeoutMs)
        .catch((e: unknown) => errorMessage(e)),
    })),
  );
  return views.flatMap(({ s, view }) => {
    if (typeof view === 'string') return [`Sentinel ${formatEndpoint(s)} did not answer: ${view}`];
    return nodes.flatMap((n) => {
      const seen = view.find((v) => sameEndpoint(v.address, n));
      if (!seen) return [`Sentinel ${formatEndpoint(s)} does not list ${n.id} as a replica`];
      const bad = seen.flags.filter((f) => UNHEALTHY_FLAGS.includes(f));
      return bad.length ? [`Sentinel ${formatEndpoint(s)} flags ${n.id} ${bad.join(',')}`] : [];
    });
  });
}

/** What keeps `node` from being back: reachable, a replica of `master` with its link up, in sync, healthy for every Sentinel. */
export async function nodeBackProblems(
  cluster: ClusterConfig,
  node: NodeRef,
  master: NodeRef,
  maxLagBytes: number,
  deps: CorePorts,
): Promise<string[]> {
  const { nodeTimeoutMs } = cluster.timing;
  let info: ReplicationInfo;
  try {
    info = await deps.redis.replication(endpoint(node), nodeTimeoutMs);
  } catch (error) {
    return [`${node.id} does not answer: ${errorMessage(error)}`];
  }
  if (info.role !== 'slave') return [`${node.id} answers ROLE ${info.role}, not slave`];
  if (!sameEndpoint(info.master, master)) {
    return [
      `${node.id} replicates from ${info.master ? nodeLabel(cluster, info.master) : 'nothing'}, not from the master ${master.id}`,
    ];
  }
  const problems: string[] = [];
  if (info.linkUp === false) problems.push(`${node.id} has its link to ${master.id} down`);
  const masterInfo = await deps.redis.replication(endpoint(master), nodeTimeoutMs).catch(() => undefined);
  if (!masterInfo) problems.push(`the master ${master.id} does not answer`);
  else if (masterInfo.offset - info.offset > maxLagBytes) {
    problems.push(
      `${node.id} is ${masterInfo.offset - info.offset} bytes behind ${master.id} (limit ${maxLagBytes})`,
    );
  }
  problems.push(...(await sentinelProblems(cluster, [node], deps)));
  return problems;
}
