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
import { withinMs } from '../model/within.ts';
import type { CorePorts } from '../ports.ts';
import { askForFailover } from './ask-failover.ts';
import { decideMajority, observeSentinels } from './confirm.ts';
import { NO_GOOD_REPLICA } from './no-good-replica.ts';
import type { NodeExit, NodeExitOutcome } from './node-exit.ts';
import { reactToFailover } from './react.ts';
import { rerouteProxies } from './routing.ts';
import { ELECTION_ABORTED } from './stalled-election.ts';

/** The fast path's acts, once every check held (core/failover/fast-path.ts): hold, ask, reroute, or lift the hold. */

/** Under the lease: hold the old master, ask Sentinel, reroute to the promoted replica, then run the reaction. */
export async function failOverNow(
  cluster: ClusterConfig,
  node: NodeConfig,
  exit: NodeExit,
  { candidates, epoch }: { candidates: NodeConfig[]; epoch: number },
  deps: CorePorts,
  timeline: Timeline,
): Promise<NodeExitOutcome> {
  const { promotionDeadlineMs } = cluster.onMasterExit;
  const owner = `fast-path:${node.id}:${exit.exitedAt}:${deps.newId()}`;
  const until = deps.clock.now() + promotionDeadlineMs + cluster.timing.confirmDeadlineMs + 10_000;
  const lease = { owner, purpose: 'fast-path' as const, until };
  const taken = await deps.state.takeLease(cluster.name, lease, deps.clock.now());
  if (!taken.taken) {
    const { purpose, owner: holder } = taken.holder;
    return declined(cluster, node, `the ${purpose} ${holder} holds the cluster`, deps);
  }
  try {
    if (await actedOnAlready(cluster, node, exit, deps)) {
      return { action: 'ignored', reason: `${node.id}'s exit at ${exit.exitedAt} was acted on already` };
    }
    return await holdAskReroute({ cluster, node, exit, candidates, epoch, deps, timeline, owner });
  } finally {
    await deps.state.releaseLease(cluster.name, owner).catch((error: unknown) =>
      deps.logger.warn('fast path: lease not released; it expires by itself', {
        cluster: cluster.name,
        error: errorMessage(error),
      }),
    );
  }
}

/** What the acts share. */
interface Act {
  cluster: ClusterConfig;
  node: NodeConfig;
  exit: NodeExit;
  candidates: NodeConfig[];
  /** The epoch in which the node was the master: its hold belongs to it. */
  epoch: number;
  deps: CorePorts;
  timeline: Timeline;
  owner: string;
}

/** 1. hold 2. the Sentinels still name it 3. SENTINEL FAILOVER 4. the promotion 5. reroute 6. the reaction. */
async function holdAskReroute(act: Act): Promise<NodeExitOutcome> {
  const { cluster, node, candidates, epoch, deps, timeline } = act;
  // If a supervisor restarts it now, it comes back read-only rather than as a second master. A hold that fails
  // stops the fast path (Sentinel's own failover follows, as without it); one still on its way after
  // `holdWaitMs` (an SSM command to a live host takes about a second) goes on in the background.
  const held = await timeline
    .run(
      'held',
      () => hold(cluster, node, epoch, deps),
      (r) => r,
    )
    .catch((error: unknown) => ({ failed: errorMessage(error) }));
  if (typeof held !== 'string') {
    const lifted = await release(node, deps);
    return declined(cluster, node, `the hold on ${node.id} failed (${held.failed}); ${lifted}`, deps);
  }
  // The checks read the Sentinels before the grace, the probe and the hold: Sentinel may have moved since.
  const still = await stillTheMaster(cluster, node, deps);
  if (still !== true) {
    if (still.lift) return declined(cluster, node, `${still.reason}; ${await release(node, deps)}`, deps);
    return leaveToReaction(act, `${still.reason}; the hold stays for the fence`);
  }
  const asked = await timeline
    .run(
      'failover-asked',
      () => askSentinel(cluster, deps),
      (s) => formatEndpoint(s),
    )
    .catch((error: unknown) => errorMessage(error));
  if (typeof asked === 'string') return await liftHold(act, asked);
  const { promotionDeadlineMs } = cluster.onMasterExit;
  const promoted = await timeline
    .run(
      'promoted',
      () => waitForPromotion(cluster, node, promotionDeadlineMs, deps),
      (p) => p.id,
    )
    .catch(() => undefined);
  if (!promoted) {
    return await liftHold(
      act,
      `no replica was promoted within ${promotionDeadlineMs} ms of SENTINEL FAILOVER`,
    );
  }
  if (!candidates.some((c) => sameEndpoint(c, promoted))) {
    const why = `Sentinel promoted ${promoted.id}, which the fast path did not count as a candidate; the reaction follows Sentinel`;
    return leaveToReaction(act, why);
  }
  await timeline.run(
    'fast-rerouted',
    () => pointEverythingAt(cluster, promoted, node, deps),
    (s) => s,
  );
  return react(act, promoted, asked);
}

/** The reaction to the promotion the fast path caused: it confirms, claims the epoch, fences, and records. */
async function react(act: Act, promoted: NodeConfig, asked: Endpoint): Promise<NodeExitOutcome> {
  const { cluster, node, exit, deps, timeline } = act;
  const reason = `${node.id}'s redis-server exited (pid ${exit.evidence.pid} gone, connect refused, seen by ${exit.agentHost}); SENTINEL FAILOVER asked of ${formatEndpoint(asked)}`;
  const reaction = await reactToFailover(
    cluster,
    { ...exitTrigger(act), routedAlready: true, startedBy: `the fast path: ${reason}` },
    deps,
  );
  const at = { host: promoted.host, port: promoted.port };
  if (reaction.action === 'unconfirmed' || reaction.action === 'current') {
    // The proxies already point at the promoted replica: say so, rather than "nothing changed".
    const found = reaction.action === 'unconfirmed' && reaction.reason ? ` (${reaction.reason})` : '';
    const error = `the proxies were rerouted to ${promoted.id} after ${node.id} exited, but the reaction found the failover ${reaction.action}${found}; the reconcile goes on from here`;
    const entry: HistoryEntry = {
      ...exitEntry(cluster, node, exit, deps, timeline),
      newMaster: at,
      outcome: 'partial',
      error,
    };
    await recordAndNotify(deps, entry, `${cluster.name}: fast failover after ${node.id} exited: ${error}`);
  }
  return { action: 'fast-failover', promoted: at, reaction };
}

/** The reaction's trigger for the node's exit: under the fast path's lease, after its steps so far. */
const exitTrigger = ({ node, exit, owner, timeline }: Act) => ({
  type: 'node-exited' as const,
  seenAt: exit.exitedAt,
  oldMaster: { host: node.host, port: node.port },
  leaseOwner: owner,
  prelude: timeline.steps,
});

/**
 * Sentinel failed over without the fast path (meanwhile, or to a replica the fast path ruled out): run the
 * reaction now, under the fast path's lease (Sentinel's own events are deferred while the lease is held, and
 * would otherwise wait for the next reconcile), then decline.
 */
async function leaveToReaction(act: Act, reason: string): Promise<NodeExitOutcome> {
  const { cluster, node, deps } = act;
  const reaction = await reactToFailover(cluster, exitTrigger(act), deps);
  return declined(cluster, node, `${reason}; the reaction: ${reaction.action}`, deps);
}

/** Whether a majority still names `node` as master with no failover under way; if not, why, and whether to lift. */
async function stillTheMaster(
  cluster: ClusterConfig,
  node: NodeConfig,
  deps: CorePorts,
): Promise<true | { reason: string; lift: boolean }> {
  const decision = decideMajority(await observeSentinels(cluster, deps.sentinels), cluster.sentinels.length);
  const { agreed } = decision;
  if (decision.failoverInProgress) return { reason: 'a failover is already under way', lift: false };
  if (!agreed) return { reason: 'no majority of Sentinels agrees on a master any more', lift: true };
  if (!sameEndpoint(agreed.master, node)) {
    return {
      reason: `a majority now names ${formatEndpoint(agreed.master)}: Sentinel failed over`,
      lift: false,
    };
  }
  return true;
}

/**
 * fence-node to NO_MASTER, waited for at most `holdWaitMs`: its output, or a note that it is still on its way
 * (a later failure is logged; the reaction's fence persists the new master's `replicaof` anyway).
 */
async function hold(
  cluster: ClusterConfig,
  node: NodeConfig,
  epoch: number,
  deps: CorePorts,
): Promise<string> {
  const { holdWaitMs } = cluster.onMasterExit;
  const sent = deps.nodeOps
    .run({ document: 'fence-node', node, master: NO_MASTER, epoch })
    .then((r) => (r.stale ? `not held: a newer epoch than ${epoch} fenced ${node.id} already` : r.output));
  const done = await withinMs(sent, holdWaitMs, (error) =>
    deps.logger.error('fast path: the hold failed after the fast path went on', {
      cluster: cluster.name,
      node: node.id,
      error: errorMessage(error),
    }),
  );
  return done ?? `sent; not done within ${holdWaitMs} ms, going on without waiting`;
}

/** release-node, for a reason line: never throws. */
const release = (node: NodeConfig, deps: CorePorts): Promise<string> =>
  deps.nodeOps
    .run({ document: 'release-node', node })
    .then(() => 'the hold was lifted')
    .catch(
      (error: unknown) => `the hold could NOT be lifted (${errorMessage(error)}): check its replicaof line`,
    );

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
      // Sentinel giving a failover up (no replica to promote, a stalled election) is no failover of the node.
      e.trigger !== NO_GOOD_REPLICA &&
      e.trigger !== ELECTION_ABORTED &&
      sameEndpoint(e.oldMaster ?? undefined, node) &&
      e.startedAt >= exit.exitedAt - 1000,
  );
}

/** SENTINEL FAILOVER to the first configured Sentinel that takes it (askForFailover). */
async function askSentinel(cluster: ClusterConfig, deps: CorePorts): Promise<Endpoint> {
  const asked = await askForFailover(cluster, cluster.sentinels, deps);
  if ('underWay' in asked) throw new Error(`a failover is under way already (${asked.underWay})`);
  return asked.taken;
}

/** Until a node other than the old master answers ROLE master: the one Sentinel picked. */
async function waitForPromotion(
  cluster: ClusterConfig,
  oldMaster: NodeConfig,
  deadlineMs: number,
  deps: CorePorts,
): Promise<NodeConfig> {
  const others = cluster.nodes.filter((n) => !sameEndpoint(n, oldMaster));
  const end = deps.clock.now() + deadlineMs;
  for (;;) {
    const roles = await Promise.all(
      others.map((n) => deps.redis.role(n, cluster.timing.nodeTimeoutMs).catch(() => 'unknown')),
    );
    const promoted = others.find((_, i) => roles[i] === 'master');
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

/** The fast path's own history entry of an exit: the node, its timeline; the caller fills in the outcome. */
function exitEntry(
  cluster: ClusterConfig,
  node: NodeConfig,
  exit: NodeExit,
  deps: CorePorts,
  timeline: Timeline,
): Omit<HistoryEntry, 'outcome' | 'newMaster'> {
  return {
    id: deps.newId(),
    cluster: cluster.name,
    kind: 'node-exit',
    trigger: 'node-exited',
    startedAt: exit.exitedAt,
    durationMs: deps.clock.now() - exit.exitedAt,
    timeline: [...timeline.steps],
    epoch: null,
    oldMaster: { host: node.host, port: node.port },
    bytesAtRisk: null,
    startedBy: 'the fast path',
  };
}

/** No promotion followed (or none could be asked for): take the hold back out, so a restart brings the old master back as master with its data. */
async function liftHold(act: Act, why: string): Promise<NodeExitOutcome> {
  const { cluster, node, exit, deps, timeline } = act;
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
    ...exitEntry(cluster, node, exit, deps, timeline),
    newMaster: null,
    outcome: 'failed',
    error,
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
