import { majorityOf } from '../failover/confirm.ts';
import type { ClusterConfig, Endpoint } from '../model/cluster.ts';
import { formatEndpoint, sameEndpoint } from '../model/cluster.ts';
import { HaRedisError } from '../model/errors.ts';
import type { CorePorts } from '../ports.ts';
import type { MovePorts, SentinelKnowledge, ServiceHome } from './ports.ts';
import type { MovePlan, TargetSentinel } from './state.ts';

/**
 * Step 3 of a move: hand the service over from its old hosts' Sentinels to the target hosts', one pair at a time,
 * so that a majority of the configured Sentinels (the service's definition) names the master at every moment, and
 * a failover started meanwhile can still elect a leader:
 * 1. the new Sentinel monitors the master (MONITOR, SET auth-pass and timings) and, once it knows the replicas and
 *    every configured Sentinel knows it (hello messages), joins the definition; while it finds them its quorum
 *    is out of reach (FENCED_QUORUM), then the service's quorum;
 * 2. the old Sentinel leaves the definition first, then stops monitoring (REMOVE; its process stops when it was the
 *    service's own); each remaining Sentinel, one at a time, fenced, forgets it (RESET) and finds the others and
 *    the replicas again before the next, so that no Sentinel counts a voter that is gone (a leader needs a
 *    majority of the voters it knows, and a removed Sentinel is never forgotten otherwise: sentinel.c keeps it
 *    until RESET, and even saves it as `known-sentinel`).
 * A Sentinel joins the definition only after it monitors the master, and leaves it before it stops: the
 * definition is always a subset of the Sentinels that name the master. Each pair is done or skipped by what is
 * there, so the step can run again after a crash. A failover under way, or a master other than the majority's,
 * pauses the handover until Sentinel settles.
 */

export const MOVE_SENTINEL_TIMING = {
  /** A Sentinel finds the replicas from the master's INFO and the others from hello messages (every 2 s). */
  joinDeadlineMs: 30_000,
  pollMs: 100,
  /** How long a failover under way may hold the handover before the step gives up (Recover then says so). */
  settleDeadlineMs: 90_000,
  /** Beyond down-after: how long Sentinel may take to fail over a master that died during the move. */
  failoverWaitMs: 30_000,
  timeoutMs: 1000,
};

type Known = { sentinel: Endpoint; knowledge: SentinelKnowledge | undefined };

async function knowledgeOf(
  sentinels: readonly Endpoint[],
  masterName: string,
  move: MovePorts,
): Promise<Known[]> {
  return Promise.all(
    sentinels.map(async (sentinel) => ({
      sentinel,
      knowledge: await move.sentinelAdmin
        .knowledge(sentinel, masterName, MOVE_SENTINEL_TIMING.timeoutMs)
        .catch(() => undefined),
    })),
  );
}

/** The master a majority of `sentinels` names now, with no failover under way; waits while Sentinel settles. */
export async function settledMaster(
  cluster: ClusterConfig,
  sentinels: readonly Endpoint[],
  deps: CorePorts,
  move: MovePorts,
  deadlineMs: number = MOVE_SENTINEL_TIMING.settleDeadlineMs,
): Promise<Endpoint> {
  const until = deps.clock.now() + deadlineMs;
  for (;;) {
    const known = await knowledgeOf(sentinels, cluster.masterName, move);
    const views = known.flatMap((k) => (k.knowledge ? [k.knowledge] : []));
    const busy = views.some((v) => v.failoverState !== 'none' || v.flags.includes('failover_in_progress'));
    const tally = new Map<string, { master: Endpoint; votes: number }>();
    for (const v of views) {
      const key = formatEndpoint(v.master);
      const entry = tally.get(key) ?? { master: v.master, votes: 0 };
      entry.votes += 1;
      tally.set(key, entry);
    }
    const best = [...tally.values()].sort((a, b) => b.votes - a.votes)[0];
    if (!busy && best && best.votes >= majorityOf(sentinels.length) && best.votes === views.length) {
      return best.master;
    }
    if (deps.clock.now() > until) {
      throw new HaRedisError(
        `the Sentinels of ${cluster.name} did not settle on one master within ${deadlineMs} ms (${busy ? 'a failover is under way' : 'they disagree'}); the handover stopped between two safe points`,
      );
    }
    move.signal?.throwIfAborted();
    await deps.clock.sleep(MOVE_SENTINEL_TIMING.pollMs);
  }
}

/**
 * The master the Sentinels name once it answers: a master that does not (killed during the move) is left to
 * Sentinel, which fails it over after down-after; the move waits for the Sentinels to name another, and goes on.
 */
export async function liveMaster(
  cluster: ClusterConfig,
  sentinels: readonly Endpoint[],
  deps: CorePorts,
  move: MovePorts,
): Promise<Endpoint> {
  const named = await settledMaster(cluster, sentinels, deps, move);
  if ((await deps.redis.probeConnect(named, cluster.timing.nodeTimeoutMs)) === 'accepted') return named;
  deps.logger.warn('the master does not answer; waiting for Sentinel to fail it over', {
    cluster: cluster.name,
    master: formatEndpoint(named),
  });
  const until = deps.clock.now() + move.sentinelSettings.downAfterMs + MOVE_SENTINEL_TIMING.failoverWaitMs;
  for (;;) {
    const now = await settledMaster(cluster, sentinels, deps, move);
    if (!sameEndpoint(now, named)) return now;
    if (deps.clock.now() > until) {
      throw new HaRedisError(
        `the master ${formatEndpoint(named)} does not answer, and the Sentinels did not fail it over in time`,
      );
    }
    move.signal?.throwIfAborted();
    await deps.clock.sleep(MOVE_SENTINEL_TIMING.pollMs);
  }
}

/**
 * Wait until each of `sentinels` knows the `configured - 1` others and every replica the master has online now
 * (counted again at each look: a replica that reconnects, or one just stopped, changes it), or fail naming what
 * is missing.
 */
async function waitUntilKnown(
  what: string,
  sentinels: readonly Endpoint[],
  configured: number,
  cluster: ClusterConfig,
  deps: CorePorts,
  move: MovePorts,
): Promise<void> {
  const until = deps.clock.now() + MOVE_SENTINEL_TIMING.joinDeadlineMs;
  for (;;) {
    const replicas = await connectedReplicas(cluster, sentinels, deps, move);
    const missing = everyoneKnows(
      configured,
      replicas,
    )(await knowledgeOf(sentinels, cluster.masterName, move));
    if (missing === undefined) return;
    if (deps.clock.now() > until) {
      throw new HaRedisError(`${what}: not within ${MOVE_SENTINEL_TIMING.joinDeadlineMs} ms: ${missing}`);
    }
    move.signal?.throwIfAborted();
    await deps.clock.sleep(MOVE_SENTINEL_TIMING.pollMs);
  }
}

/** Every Sentinel of `configured` knows the other ones, and (with `replicas`) that many replicas. */
const everyoneKnows =
  (configured: number, replicas: number) =>
  (known: Known[]): string | undefined => {
    const short = known.filter(
      (k) => !k.knowledge || k.knowledge.otherSentinels !== configured - 1 || k.knowledge.replicas < replicas,
    );
    if (short.length === 0) return undefined;
    return short
      .map((k) =>
        k.knowledge
          ? `${formatEndpoint(k.sentinel)} knows ${k.knowledge.otherSentinels} other Sentinels (not ${configured - 1}) and ${k.knowledge.replicas} replicas (of ${replicas})`
          : `${formatEndpoint(k.sentinel)} does not monitor the master`,
      )
      .join('; ');
  };

const endpointOf = (m: { host: string; port: number }): Endpoint => ({ host: m.host, port: m.port });

/**
 * The quorum every Sentinel of the service keeps: the majority of the Sentinels it has at rest (3 -> 2), through
 * the handover too. With 4 known, Sentinel's own rule already asks a leader for 3 votes; a quorum of 3 would only
 * make a down master harder to see while one of the 4 is on its way out.
 */
const quorumOf = (cluster: ClusterConfig): number => majorityOf(cluster.sentinels.length);

/**
 * The quorum of a Sentinel that is finding the others and the replicas (joining, or after RESET): none can be
 * reached, so it never declares the master down nor starts a failover while it knows no replica (it would abort
 * with no good replica and hold its voters off for twice the failover-timeout); it still votes.
 */
export const FENCED_QUORUM = 99;

/**
 * Each Sentinel, one at a time: fenced (FENCED_QUORUM), RESET, then, once it knows the others and the replicas
 * again, its quorum back. One at a time so that a majority always knows every voter.
 */
async function resetOneByOne(
  sentinels: readonly Endpoint[],
  cluster: ClusterConfig,
  deps: CorePorts,
  move: MovePorts,
  only: readonly Endpoint[] = sentinels,
): Promise<void> {
  const { timeoutMs } = MOVE_SENTINEL_TIMING;
  for (const sentinel of only) {
    move.signal?.throwIfAborted();
    // Never while the master is down: a Sentinel reset then would not find the replicas again.
    await liveMaster(cluster, sentinels, deps, move);
    await move.sentinelAdmin.setQuorum(sentinel, cluster.masterName, FENCED_QUORUM, timeoutMs);
    await move.sentinelAdmin.reset(sentinel, cluster.masterName, timeoutMs);
    await waitUntilKnown(
      `${formatEndpoint(sentinel)} finding the Sentinels and replicas again after RESET`,
      [sentinel],
      sentinels.length,
      cluster,
      deps,
      move,
    );
    await move.sentinelAdmin.setQuorum(sentinel, cluster.masterName, quorumOf(cluster), timeoutMs);
  }
}

/** Add one target Sentinel: monitor (fenced), wait until it and every configured Sentinel know each other, join. */
async function addSentinel(
  t: TargetSentinel,
  configured: Endpoint[],
  cluster: ClusterConfig,
  deps: CorePorts,
  move: MovePorts,
): Promise<string> {
  const started = await move.hosts.startSentinel(cluster.name, t);
  // Never while the master is down: a new Sentinel would not hear of the failover from the others.
  const master = await liveMaster(cluster, configured, deps, move);
  const all = [...configured, endpointOf(t)];
  await move.sentinelAdmin.monitor(
    endpointOf(t),
    cluster.masterName,
    master,
    { quorum: FENCED_QUORUM, ...move.sentinelSettings },
    MOVE_SENTINEL_TIMING.timeoutMs,
  );
  await waitUntilKnown(
    `${t.id} (${formatEndpoint(t)}) joining the Sentinels of ${cluster.name}`,
    all,
    all.length,
    cluster,
    deps,
    move,
  );
  await move.hosts.addMembers(cluster.name, { sentinels: [t] });
  const quorum = quorumOf(cluster);
  await move.sentinelAdmin.setQuorum(
    endpointOf(t),
    cluster.masterName,
    quorum,
    MOVE_SENTINEL_TIMING.timeoutMs,
  );
  return `${t.id} ${started === 'started' ? 'started and ' : ''}joined (${all.length} Sentinels, quorum ${quorum})`;
}

/** Take one old Sentinel out: leave the definition, REMOVE (stop its own process), the others forget it. */
async function removeSentinel(
  o: ServiceHome['sentinels'][number],
  remaining: Endpoint[],
  cluster: ClusterConfig,
  deps: CorePorts,
  move: MovePorts,
): Promise<string> {
  await settledMaster(cluster, [...remaining, endpointOf(o)], deps, move);
  await move.hosts.removeMembers(cluster.name, { sentinels: [o.id] });
  await move.sentinelAdmin
    .remove(endpointOf(o), cluster.masterName, MOVE_SENTINEL_TIMING.timeoutMs)
    .catch((error: unknown) => {
      // A Sentinel that does not answer is gone already; it is out of the definition, and RESET forgets it.
      deps.logger.warn('old Sentinel did not answer SENTINEL REMOVE', {
        cluster: cluster.name,
        sentinel: o.id,
        error,
      });
    });
  if (!o.shared) await move.hosts.stopMember(cluster.name, 'sentinel', o.id);
  await resetOneByOne(remaining, cluster, deps, move);
  return `${o.id} removed (${remaining.length} Sentinels, quorum ${quorumOf(cluster)})`;
}

/**
 * The handover, pair by pair: while a new Sentinel is missing and the definition has no more Sentinels than the
 * service keeps, add one; else take an old one out. From any point (a run after a crash, with some pairs done)
 * that keeps 3 or 4 in the definition and never 2. Before that, the leftovers of an earlier run that stopped
 * half way through a removal: an old Sentinel out of the definition that still monitors, still runs, or is still
 * remembered by the others. Last, every Sentinel at the service's quorum (one a crash left fenced included).
 * Returns what it did, one line per change.
 */
export async function handOverSentinels(
  cluster: ClusterConfig,
  plan: MovePlan,
  deps: CorePorts,
  move: MovePorts,
): Promise<string[]> {
  // First what an earlier run left half done, so that every Sentinel the others hear is one of the definition.
  const did: string[] = await finishLeftovers(cluster, plan, deps, move);
  const isNew = (s: { id: string }) => plan.newSentinels.some((t) => t.id === s.id);
  for (;;) {
    move.signal?.throwIfAborted();
    const home = await move.hosts.home(cluster.name);
    const pending = plan.newSentinels.filter((t) => !home.sentinels.some((s) => s.id === t.id));
    const olds = home.sentinels.filter((s) => !isNew(s));
    const first = pending[0];
    if (first && (olds.length === 0 || home.sentinels.length <= plan.newSentinels.length)) {
      did.push(await addSentinel(first, home.sentinels.map(endpointOf), cluster, deps, move));
      continue;
    }
    const old = olds[0];
    if (!old) break;
    const remaining = home.sentinels.filter((s) => s !== old).map(endpointOf);
    did.push(await removeSentinel(old, remaining, cluster, deps, move));
  }
  const home = await move.hosts.home(cluster.name);
  await Promise.all(
    home.sentinels.map((s) =>
      move.sentinelAdmin.setQuorum(
        endpointOf(s),
        cluster.masterName,
        quorumOf(cluster),
        MOVE_SENTINEL_TIMING.timeoutMs,
      ),
    ),
  );
  return did;
}

/**
 * Old Sentinels that left the definition in an earlier run that stopped before it was done with them: REMOVE
 * again (a Sentinel that does not answer is gone), stopped, and every Sentinel of the definition that still
 * counts more voters than there are forgets them (RESET, one at a time).
 */
async function finishLeftovers(
  cluster: ClusterConfig,
  plan: MovePlan,
  deps: CorePorts,
  move: MovePorts,
): Promise<string[]> {
  const home = await move.hosts.home(cluster.name);
  const gone = plan.oldSentinels.filter((o) => !home.sentinels.some((s) => s.id === o.id));
  const did: string[] = [];
  for (const o of gone) {
    const removed = await move.sentinelAdmin
      .remove(endpointOf(o), cluster.masterName, MOVE_SENTINEL_TIMING.timeoutMs)
      .catch(() => 'absent' as const);
    const stopped = o.shared ? 'gone' : await move.hosts.stopMember(cluster.name, 'sentinel', o.id);
    if (removed === 'removed' || stopped === 'stopped')
      did.push(`${o.id} (left earlier) removed and stopped`);
  }
  const members = home.sentinels.map(endpointOf);
  const known = await knowledgeOf(members, cluster.masterName, move);
  const stale = known
    .filter((k) => (k.knowledge?.otherSentinels ?? 0) > members.length - 1)
    .map((k) => k.sentinel);
  if (stale.length) {
    await resetOneByOne(members, cluster, deps, move, stale);
    did.push(`${stale.map(formatEndpoint).join(', ')} forgot the Sentinels that left`);
  }
  return did;
}

/** Forget the retired replicas: every Sentinel of the service, one at a time, RESET and found the rest again. */
export async function forgetRetired(cluster: ClusterConfig, deps: CorePorts, move: MovePorts): Promise<void> {
  const home = await move.hosts.home(cluster.name);
  const sentinels = home.sentinels.map(endpointOf);
  await resetOneByOne(sentinels, cluster, deps, move);
}

/** How many replicas the settled master has connected now: the ones a Sentinel finds from its INFO. */
async function connectedReplicas(
  cluster: ClusterConfig,
  sentinels: readonly Endpoint[],
  deps: CorePorts,
  move: MovePorts,
): Promise<number> {
  const master = await settledMaster(cluster, sentinels, deps, move);
  const info = await deps.redis.replication(master, cluster.timing.nodeTimeoutMs);
  return (info.replicas ?? []).filter((r) => r.state === 'online').length;
}
