import { recordAndNotify } from '../history.ts';
import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  NO_MASTER,
  type NodeConfig,
  sameEndpoint,
} from '../model/cluster.ts';
import { errorMessage } from '../model/errors.ts';
import type { HistoryEntry } from '../model/records.ts';
import { Timeline } from '../model/timeline.ts';
import type { CorePorts, ReplicationInfo } from '../ports.ts';
import { decideMajority, type MajorityDecision, observeSentinels } from './confirm.ts';
import { type FailoverResult, reactToFailover } from './react.ts';
import { rerouteProxies } from './routing.ts';

/**
 * The fast path: a node agent on the master's host saw its redis-server exit (the process is gone and its port
 * refuses connections). Waiting out `down-after-milliseconds` gains nothing then, so ask Sentinel to fail over
 * at once, and reroute as soon as the replica Sentinel picked answers ROLE master. Acts only when every check
 * below holds; otherwise it does nothing and Sentinel's own failover follows as without it.
 */

/** What a node agent saw, as the core reads it (the wire contract is `node-event` v1 in events/). */
export interface NodeExit {
  node: Endpoint;
  /** When the agent's connection to the node closed, epoch ms. */
  exitedAt: number;
  /** The agent's host, for the record. */
  agentHost: string;
  evidence: {
    pid: number;
    processGone: boolean;
    connect: 'refused' | 'timeout' | 'accepted' | 'error';
    lastRole: 'master' | 'slave' | 'unknown';
    lastOffset: number;
    lastInfoAt: number;
  };
}

export type NodeExitOutcome =
  /** Not for this cluster, a policy of `wait`, or a repeat of an exit already acted on. */
  | { action: 'ignored'; reason: string }
  /** A check did not hold: nothing was done, Sentinel's own failover follows as without the fast path. */
  | { action: 'declined'; reason: string }
  /** A replica (not the master) exited: recorded and told, no failover. */
  | { action: 'replica-exited'; entry: HistoryEntry }
  /** Sentinel promoted a replica; the proxies were rerouted and the reaction ran. */
  | { action: 'fast-failover'; promoted: Endpoint; reaction: FailoverResult }
  /** Asked, but no promotion followed in time: the hold was lifted, recorded and told. */
  | { action: 'fast-failover-failed'; entry: HistoryEntry };

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
  if (!sameEndpoint(agreed.master, node)) return notTheMaster(cluster, node, exit, agreed.master, deps);
  if (cluster.onMasterExit.policy === 'wait') {
    return { action: 'ignored', reason: `policy 'wait': ${node.id}'s exit is left to Sentinel` };
  }
  const refusal = await whyNot(cluster, node, exit, decision, deps, timeline);
  if (typeof refusal === 'string') return declined(cluster, node, refusal, deps);
  return failOverNow(cluster, node, exit, refusal.candidates, deps, timeline);
}

/** Why the fast path must not act now, or the replicas Sentinel may promote. */
async function whyNot(
  cluster: ClusterConfig,
  node: NodeConfig,
  exit: NodeExit,
  decision: MajorityDecision,
  deps: CorePorts,
  timeline: Timeline,
): Promise<string | { candidates: NodeConfig[] }> {
  if (decision.failoverInProgress) return 'a failover is already under way';
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
  return { candidates: candidates.ok };
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
        // Down since before the exit (+1 s for Redis's whole seconds): it was not following until the crash.
        if (!info.linkUp && (info.linkDownSinceSeconds ?? -1) > downForS + 1) {
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

/** Hold the old master, ask Sentinel, reroute to the promoted replica, then run the reaction; all under the lease. */
async function failOverNow(
  cluster: ClusterConfig,
  node: NodeConfig,
  exit: NodeExit,
  candidates: NodeConfig[],
  deps: CorePorts,
  timeline: Timeline,
): Promise<NodeExitOutcome> {
  const { promotionDeadlineMs } = cluster.onMasterExit;
  const owner = `fast-path:${node.id}:${exit.exitedAt}:${deps.newId()}`;
  const until = deps.clock.now() + promotionDeadlineMs + cluster.timing.confirmDeadlineMs + 10_000;
  const taken = await deps.state.takeLease(
    cluster.name,
    { owner, purpose: 'fast-path', until },
    deps.clock.now(),
  );
  if (!taken.taken)
    return declined(
      cluster,
      node,
      `the ${taken.holder.purpose} ${taken.holder.owner} holds the cluster`,
      deps,
    );
  try {
    if (await actedOnAlready(cluster, node, exit, deps)) {
      return { action: 'ignored', reason: `${node.id}'s exit at ${exit.exitedAt} was acted on already` };
    }
    // 1. If a supervisor restarts it now, it comes back read-only rather than as a second master. Without the
    // hold the fast path does not go on: Sentinel's own failover follows, as without it.
    const held = await timeline
      .run(
        'held',
        () => deps.nodeOps.run({ document: 'fence-node', node, master: NO_MASTER }),
        (r) => r.output,
      )
      .then(() => true)
      .catch((error: unknown) => errorMessage(error));
    if (held !== true) return declined(cluster, node, `the hold on ${node.id} failed: ${held}`, deps);
    const asked = await timeline
      .run(
        'failover-asked',
        () => askSentinel(cluster, deps),
        (s) => formatEndpoint(s),
      )
      .catch(() => undefined);
    if (!asked)
      return await liftHold(cluster, node, exit, deps, timeline, 'no Sentinel took SENTINEL FAILOVER');
    const promoted = await timeline
      .run(
        'promoted',
        () => waitForPromotion(cluster, candidates, promotionDeadlineMs, deps),
        (p) => p.id,
      )
      .catch(() => undefined);
    if (!promoted) {
      const why = `no replica was promoted within ${promotionDeadlineMs} ms of SENTINEL FAILOVER`;
      return await liftHold(cluster, node, exit, deps, timeline, why);
    }
    await timeline.run(
      'fast-rerouted',
      () => pointEverythingAt(cluster, promoted, node, deps),
      (s) => s,
    );
    const reason = `${node.id}'s redis-server exited (pid ${exit.evidence.pid} gone, connect refused, seen by ${exit.agentHost}); SENTINEL FAILOVER asked of ${formatEndpoint(asked)}`;
    const reaction = await reactToFailover(
      cluster,
      {
        type: 'node-exited',
        seenAt: exit.exitedAt,
        oldMaster: { host: node.host, port: node.port },
        leaseOwner: owner,
        routedAlready: true,
        prelude: timeline.steps,
        startedBy: `the fast path: ${reason}`,
      },
      deps,
    );
    return { action: 'fast-failover', promoted: { host: promoted.host, port: promoted.port }, reaction };
  } finally {
    await deps.state.releaseLease(cluster.name, owner).catch((error: unknown) =>
      deps.logger.warn('fast path: lease not released; it expires by itself', {
        cluster: cluster.name,
        error: errorMessage(error),
      }),
    );
  }
}

/** A repeat of an exit that a failover already took care of (a late or duplicated event). */
async function actedOnAlready(
  cluster: ClusterConfig,
  node: Endpoint,
  exit: NodeExit,
  deps: CorePorts,
): Promise<boolean> {
  const recent = await deps.state.listHistory(cluster.name, 20);
  return recent.some(
    (e) =>
      (e.kind === 'failover' || e.kind === 'node-exit') &&
      sameEndpoint(e.oldMaster ?? undefined, node) &&
      e.startedAt >= exit.exitedAt - 1000,
  );
}

/** SENTINEL FAILOVER to the first configured Sentinel that accepts it. */
async function askSentinel(cluster: ClusterConfig, deps: CorePorts): Promise<Endpoint> {
  const refusals: string[] = [];
  for (const sentinel of cluster.sentinels) {
    const answer = await deps.sentinels
      .failover(sentinel, cluster.masterName, cluster.timing.sentinelTimeoutMs)
      .catch((error: unknown) => errorMessage(error));
    if (answer === 'ok') return sentinel;
    refusals.push(`${formatEndpoint(sentinel)}: ${answer}`);
  }
  throw new Error(`no Sentinel took SENTINEL FAILOVER: ${refusals.join('; ')}`);
}

/** Until one of the candidates answers ROLE master (the one Sentinel picked). */
async function waitForPromotion(
  cluster: ClusterConfig,
  candidates: NodeConfig[],
  deadlineMs: number,
  deps: CorePorts,
): Promise<NodeConfig> {
  const end = deps.clock.now() + deadlineMs;
  for (;;) {
    const roles = await Promise.all(
      candidates.map((n) => deps.redis.role(n, cluster.timing.nodeTimeoutMs).catch(() => 'unknown')),
    );
    const promoted = candidates.find((_, i) => roles[i] === 'master');
    if (promoted) return promoted;
    if (deps.clock.now() >= end) throw new Error(`no replica answered ROLE master within ${deadlineMs} ms`);
    await deps.clock.sleep(cluster.timing.confirmPollMs);
  }
}

/**
 * Every proxy to the promoted replica, and at once the other replicas to it: with `min-replicas-to-write` the
 * new master takes writes only once a replica follows it, ~1 s before Sentinel would re-point them.
 */
async function pointEverythingAt(
  cluster: ClusterConfig,
  promoted: NodeConfig,
  oldMaster: NodeConfig,
  deps: CorePorts,
): Promise<string> {
  const others = cluster.nodes.filter((n) => !sameEndpoint(n, promoted) && !sameEndpoint(n, oldMaster));
  const [reroute, ...repointed] = await Promise.all([
    rerouteProxies(cluster, promoted, deps),
    ...others.map((n) =>
      deps.redis
        .replicaOf(n, promoted, cluster.timing.nodeTimeoutMs)
        .then(() => `${n.id} re-pointed`)
        .catch((error: unknown) => `${n.id} not re-pointed (${errorMessage(error)})`),
    ),
  ]);
  if (reroute.failed.length) {
    deps.logger.warn('fast path: some proxies were not rerouted; the reaction tries them again', {
      cluster: cluster.name,
      failed: reroute.failed,
    });
  }
  return [reroute.summary, ...repointed].join('; ');
}

/** No promotion followed (or none could be asked for): take the hold back out, so a restart brings the old master back as master with its data. */
async function liftHold(
  cluster: ClusterConfig,
  node: NodeConfig,
  exit: NodeExit,
  deps: CorePorts,
  timeline: Timeline,
  why: string,
): Promise<NodeExitOutcome> {
  const lifted = await timeline
    .run(
      'hold-lifted',
      () => deps.nodeOps.run({ document: 'release-node', node }),
      (r) => r.output,
    )
    .then(() => 'the hold on it was lifted')
    .catch(
      (error: unknown) =>
        `the hold on it could NOT be lifted (${errorMessage(error)}): check its replicaof line`,
    );
  const error = `after ${node.id}'s redis-server exited, ${why}; ${lifted}`;
  const entry: HistoryEntry = {
    id: deps.newId(),
    cluster: cluster.name,
    kind: 'node-exit',
    trigger: 'node-exited',
    startedAt: exit.exitedAt,
    durationMs: deps.clock.now() - exit.exitedAt,
    timeline: [...timeline.steps],
    epoch: null,
    oldMaster: { host: node.host, port: node.port },
    newMaster: null,
    outcome: 'failed',
    bytesAtRisk: null,
    error,
    startedBy: 'the fast path',
  };
  await recordAndNotify(
    deps,
    entry,
    `${cluster.name}: fast failover after ${node.id} exited did not happen: ${error}`,
  );
  return { action: 'fast-failover-failed', entry };
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

/** A check did not hold: log it, do nothing. */
function declined(
  cluster: ClusterConfig,
  node: NodeConfig,
  reason: string,
  deps: CorePorts,
): NodeExitOutcome {
  deps.logger.warn(`fast path declined for ${node.id}: ${reason}; Sentinel's own failover follows`, {
    cluster: cluster.name,
  });
  return { action: 'declined', reason };
}
