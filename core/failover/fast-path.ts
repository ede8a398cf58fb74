import { recordAndNotify } from '../history.ts';
import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  type NodeConfig,
  sameEndpoint,
} from '../model/cluster.ts';
import { errorMessage } from '../model/errors.ts';
import type { HistoryEntry } from '../model/records.ts';
import { Timeline } from '../model/timeline.ts';
import type { CorePorts, ReplicationInfo } from '../ports.ts';
import { decideMajority, type MajorityDecision, observeSentinels } from './confirm.ts';
import { actedOnAlready, declined, failOverNow } from './fast-path-act.ts';
import type { NodeExit, NodeExitOutcome } from './node-exit.ts';

export type { NodeExit, NodeExitOutcome } from './node-exit.ts';

/**
 * The fast path: a node agent on the master's host saw its redis-server exit (the process is gone and its port
 * refuses connections). Waiting out `down-after-milliseconds` gains nothing then, so ask Sentinel to fail over
 * at once, and reroute as soon as the replica Sentinel picked answers ROLE master. Acts only when every check
 * below holds; otherwise it does nothing and Sentinel's own failover follows as without it.
 */

/** React to a node agent's `node-exited`. Each exit is acted on at most once, under the cluster lease. */
export async function reactToNodeExit(
  cluster: ClusterConfig,
  exit: NodeExit,
  deps: CorePorts,
): Promise<NodeExitOutcome> {
  const node = cluster.nodes.find((n) => sameEndpoint(n, exit.node));
  if (!node)
    return { action: 'ignored', reason: `${formatEndpoint(exit.node)} is no node of ${cluster.name}` };
  const timeline = new Timeline(deps.clock, deps.logger, { cluster: cluster.name, trigger: 'node-exited' });
  timeline.mark('exited', exit.exitedAt, `${node.id} pid ${exit.evidence.pid}, seen by ${exit.agentHost}`);
  const { evidence } = exit;
  if (!evidence.processGone || evidence.connect !== 'refused') {
    return declined(
      cluster,
      node,
      `the agent saw no exit (process gone: ${evidence.processGone}, connect: ${evidence.connect})`,
      deps,
    );
  }
  const decision = decideMajority(await observeSentinels(cluster, deps.sentinels), cluster.sentinels.length);
  const { agreed } = decision;
  if (!agreed) {
    return declined(
      cluster,
      node,
      `no majority of Sentinels agrees on a master (${decision.answered} of ${cluster.sentinels.length} answered)`,
      deps,
    );
  }
  if (!sameEndpoint(agreed.master, node)) {
    // It was the master when it died, and a majority names another now: Sentinel's failover (or this exit's,
    // delivered late), which the reaction records; this is no replica's exit.
    if (exit.evidence.lastRole === 'master') {
      return {
        action: 'ignored',
        reason: `${node.id} was the master when it exited; a majority now names ${formatEndpoint(agreed.master)}`,
      };
    }
    return notTheMaster(cluster, node, exit, agreed.master, deps);
  }
  if (cluster.onMasterExit.policy === 'wait') {
    return { action: 'ignored', reason: `policy 'wait': ${node.id}'s exit is left to Sentinel` };
  }
  const refusal = await whyNot(cluster, node, exit, decision, deps, timeline);
  if (typeof refusal === 'string') return declined(cluster, node, refusal, deps);
  return failOverNow(cluster, node, exit, refusal, deps, timeline);
}

/** Why the fast path must not act now, or the replicas Sentinel may promote and the epoch the node was master in. */
async function whyNot(
  cluster: ClusterConfig,
  node: NodeConfig,
  exit: NodeExit,
  decision: MajorityDecision,
  deps: CorePorts,
  timeline: Timeline,
): Promise<string | { candidates: NodeConfig[]; epoch: number }> {
  if (decision.failoverInProgress) return 'a failover is already under way';
  if (!decision.agreed) return 'no majority of the Sentinels agrees on the master';
  const now = deps.clock.now();
  const [lease, mode, applied] = await Promise.all([
    deps.state.lease(cluster.name),
    deps.state.maintenanceMode(cluster.name),
    deps.state.appliedEpoch(cluster.name),
  ]);
  if (lease && lease.until >= now) return `the ${lease.purpose} ${lease.owner} holds the cluster`;
  if (mode?.paused) return `the cluster is paused by ${mode.by}`;
  if (applied && decision.agreed && applied.epoch > decision.agreed.epoch) {
    return `the Sentinels' epoch ${decision.agreed.epoch} is older than the applied ${applied.epoch}`;
  }
  const { graceMs } = cluster.onMasterExit;
  if (graceMs > 0)
    await timeline.run(
      'grace',
      () => deps.clock.sleep(graceMs),
      () => `${graceMs} ms`,
    );
  const probe = await timeline.run(
    'probed',
    () => deps.redis.probeConnect(node, cluster.timing.nodeTimeoutMs),
    (p) => `connect ${p}`,
  );
  // `unreachable`: the orchestrator cannot reach the host at all, so only the agent on it can tell.
  if (probe !== 'refused' && probe !== 'unreachable') {
    return probe === 'accepted'
      ? `${node.id} accepts connections again`
      : `a connect to ${node.id} from here got ${probe}, not a refusal`;
  }
  const candidates = await timeline.run(
    'candidates',
    () => promotable(cluster, node, exit, deps),
    (c) => c.ok.map((n) => n.id).join(', '),
  );
  if (candidates.ok.length === 0) {
    return `no replica can be promoted (${candidates.why.join('; ')}); a restart of ${node.id} is the better outcome`;
  }
  return { candidates: candidates.ok, epoch: decision.agreed.epoch };
}

/** The replicas that followed the dead master until it died, within the lag limit. */
async function promotable(
  cluster: ClusterConfig,
  master: NodeConfig,
  exit: NodeExit,
  deps: CorePorts,
): Promise<{ ok: NodeConfig[]; why: string[] }> {
  const downForS = (deps.clock.now() - exit.exitedAt) / 1000;
  const { maxLagBytes } = cluster.onMasterExit;
  const checks = await Promise.all(
    cluster.nodes
      .filter((n) => !sameEndpoint(n, master))
      .map(async (replica): Promise<[NodeConfig, string | undefined]> => {
        let info: ReplicationInfo;
        try {
          info = await deps.redis.replication(replica, cluster.timing.nodeTimeoutMs);
        } catch (error) {
          return [replica, `${replica.id} does not answer: ${errorMessage(error)}`];
        }
        if (info.role !== 'slave' || !sameEndpoint(info.master, master)) {
          return [replica, `${replica.id} is no replica of ${master.id}`];
        }
        // -1: never connected since it started. Otherwise down since before the exit (+1 s for Redis's whole
        // seconds): either way it was not following until the crash.
        const downSince = info.linkDownSinceSeconds;
        if (!info.linkUp && downSince !== undefined && downSince < 0) {
          return [replica, `${replica.id} never synced with ${master.id}`];
        }
        if (!info.linkUp && (downSince ?? -1) > downForS + 1) {
          return [replica, `${replica.id}'s link was down ${info.linkDownSinceSeconds} s, before the exit`];
        }
        const lag = exit.evidence.lastOffset - info.offset;
        if (lag > maxLagBytes) return [replica, `${replica.id} is ${lag} bytes behind`];
        return [replica, undefined];
      }),
  );
  return {
    ok: checks.flatMap(([n, why]) => (why ? [] : [n])),
    why: checks.flatMap(([, why]) => (why ? [why] : [])),
  };
}

/** The exited node is not the master a majority names: a replica's exit, or a late repeat of the master's. */
async function notTheMaster(
  cluster: ClusterConfig,
  node: NodeConfig,
  exit: NodeExit,
  master: Endpoint,
  deps: CorePorts,
): Promise<NodeExitOutcome> {
  if (await actedOnAlready(cluster, node, exit, deps)) {
    return { action: 'ignored', reason: `${node.id}'s exit at ${exit.exitedAt} was acted on already` };
  }
  // One entry per exit: its id is the exit's, so a repeat of the event is refused by the history and told once.
  const entry: HistoryEntry = {
    id: `exit-${node.id}-${exit.exitedAt}`,
    cluster: cluster.name,
    kind: 'node-exit',
    trigger: 'node-exited',
    startedAt: exit.exitedAt,
    durationMs: 0,
    timeline: [
      {
        step: 'exited',
        at: exit.exitedAt,
        durationMs: 0,
        status: 'ok',
        detail: `pid ${exit.evidence.pid}, seen by ${exit.agentHost}`,
      },
    ],
    epoch: null,
    oldMaster: null,
    newMaster: null,
    outcome: 'partial',
    bytesAtRisk: null,
    error: `replica ${node.id} exited; no failover (the master is ${formatEndpoint(master)}); one replica fewer until it is back`,
  };
  try {
    await recordAndNotify(
      deps,
      entry,
      `${cluster.name}: replica ${node.id}'s redis-server exited; no failover, the master serves on`,
    );
  } catch (error) {
    if (error instanceof Error && error.name === 'HistoryEntryExistsError') {
      return { action: 'ignored', reason: `${node.id}'s exit at ${exit.exitedAt} was recorded already` };
    }
    throw error;
  }
  return { action: 'replica-exited', entry };
}
