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
import type { Timeline } from '../model/timeline.ts';
import type { CorePorts } from '../ports.ts';
import type { NodeExit, NodeExitOutcome } from './node-exit.ts';
import { reactToFailover } from './react.ts';
import { rerouteProxies } from './routing.ts';

/** The fast path's acts, once every check held (core/failover/fast-path.ts): hold, ask, reroute, or lift the hold. */

/** Hold the old master, ask Sentinel, reroute to the promoted replica, then run the reaction; all under the lease. */
export async function failOverNow(
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
export async function actedOnAlready(
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

/** A check did not hold: log it, do nothing. */
export function declined(
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
