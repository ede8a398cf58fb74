import { recordAndNotify } from '../history.ts';
import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  nodeLabel,
  sameEndpoint,
} from '../model/cluster.ts';
import { errorMessage } from '../model/errors.ts';
import type { HistoryEntry } from '../model/records.ts';
import { Timeline } from '../model/timeline.ts';
import type { CorePorts, SentinelMasterView } from '../ports.ts';
import { askForFailover } from './ask-failover.ts';
import { decideMajority, inFailover, majorityOf, observeSentinels, type SentinelAnswer } from './confirm.ts';

/**
 * Sentinel gave up a failover because it was not elected leader in time (`-failover-abort-not-elected`). When
 * every Sentinel that tried gave up, nobody fails the master over until one tries again, `2 × failover-timeout`
 * after its attempt began (2 minutes at the usual 60 s): sentinel.c `sentinelStartFailoverIfNeeded`.
 *
 * It happens when Sentinels split their votes: a Sentinel votes once per epoch, first come first served, and
 * counts the others' votes only in its current epoch (`sentinelVoteLeader`, `sentinelGetLeader`). Shared
 * Sentinels that see many masters die at once (a host lost) each start one election per master, each in a new
 * epoch, and may each end up holding the other's vote (measured: 7 of 8 masters left on a dead host for 2
 * minutes, 2 Sentinels of 3 alive; Redis issue #6807 reports the same at scale). Two Sentinels that start the
 * same master's election in the same epoch split it too.
 *
 * ha-redis then asks one Sentinel to fail the master over at once (`SENTINEL FAILOVER`: no election, a new
 * epoch), but only when a majority of the configured Sentinels name that master and see it down, and none of
 * them is in a failover of it. The promotion that follows is reacted to as any other (confirmed by the
 * Sentinels' views: a forced failover has no election to confirm it by).
 */

/** The Sentinel event that tells an election was given up. */
export const ELECTION_ABORTED = '-failover-abort-not-elected' as const;

/**
 * How long to wait for every other Sentinel to give up its own attempt of the same election: they start within
 * milliseconds of each other and give up after the same election timeout (min(10 s, failover-timeout)).
 */
export const OTHERS_GIVE_UP_WITHIN_MS = 1500;
const POLL_MS = 100;

export type ElectionRescueOutcome =
  | { action: 'ignored'; reason: string }
  | { action: 'failover-forced'; sentinel: Endpoint; entry: HistoryEntry }
  | { action: 'rescue-refused'; entry: HistoryEntry };

/** What the Sentinels' views allow: force a failover, leave it (nothing to do), or refuse and say why. */
export type StallVerdict =
  | { verdict: 'force' }
  | { verdict: 'wait'; reason: string }
  | { verdict: 'leave'; reason: string }
  | { verdict: 'refuse'; reason: string };

const isDown = (v: SentinelMasterView): boolean => v.flags.includes('s_down') || v.flags.includes('o_down');

/** Whether the election of `master` is stalled and may be forced, from every Sentinel's answer. Pure. */
export function stallVerdict(
  cluster: ClusterConfig,
  master: Endpoint,
  answers: readonly SentinelAnswer[],
  appliedEpoch: number | undefined,
): StallVerdict {
  const configured = cluster.sentinels.length;
  const decision = decideMajority(answers, configured);
  const label = nodeLabel(cluster, master);
  const views = answers.flatMap((a) => (a.ok ? [a.view] : []));
  const busy = views.filter(inFailover);
  if (busy.length) {
    const who = busy.map((v) => `${formatEndpoint(v.sentinel)} (${v.failoverState})`).join(', ');
    return { verdict: 'wait', reason: `a failover is under way at ${who}` };
  }
  const { agreed } = decision;
  if (!agreed) {
    return {
      verdict: 'refuse',
      reason: `no majority of the ${configured} Sentinels agrees on a master (${decision.answered} answered)`,
    };
  }
  if (!sameEndpoint(agreed.master, master)) {
    return {
      verdict: 'leave',
      reason: `a majority names ${formatEndpoint(agreed.master)} now: it failed over`,
    };
  }
  if (appliedEpoch !== undefined && appliedEpoch > agreed.epoch) {
    return {
      verdict: 'leave',
      reason: `the Sentinels' epoch ${agreed.epoch} is older than the applied ${appliedEpoch}`,
    };
  }
  const down = views.filter((v) => sameEndpoint(v.master, master) && isDown(v)).length;
  if (down < majorityOf(configured)) {
    return {
      verdict: 'refuse',
      reason: `only ${down} of the ${configured} Sentinels see ${label} down, and a failover needs a majority`,
    };
  }
  return { verdict: 'force' };
}

/** React to `-failover-abort-not-elected` for `master`, published by `source`. */
export async function rescueStalledElection(
  cluster: ClusterConfig,
  master: Endpoint,
  seenAt: number,
  deps: CorePorts,
  source?: Endpoint,
): Promise<ElectionRescueOutcome> {
  const label = nodeLabel(cluster, master);
  const timeline = new Timeline(deps.clock, deps.logger, {
    cluster: cluster.name,
    trigger: ELECTION_ABORTED,
  });
  timeline.mark(
    'election-given-up',
    seenAt,
    `${source ? formatEndpoint(source) : 'a Sentinel'} was not elected to fail ${label} over`,
  );
  const first = await timeline.run('checked', () => settledVerdict(cluster, master, deps), verdictText);
  if (first.verdict === 'wait' || first.verdict === 'leave') {
    return ignored(cluster, `${ELECTION_ABORTED} for ${label}: ${first.reason}`, deps);
  }
  if (first.verdict === 'refuse') return refused(cluster, master, seenAt, first.reason, timeline, deps);
  const asked = await forceUnderLease(cluster, master, source, deps, timeline);
  if ('ignored' in asked) return ignored(cluster, `${ELECTION_ABORTED} for ${label}: ${asked.ignored}`, deps);
  if ('refused' in asked) return refused(cluster, master, seenAt, asked.refused, timeline, deps);
  const entry = rescueEntry(cluster, master, seenAt, timeline, deps, 'succeeded');
  await recordAndNotify(
    deps,
    entry,
    `${cluster.name}: Sentinel's election to fail ${label} over stalled (split votes) and was given up; Sentinel ` +
      'would try again only after 2 × failover-timeout. A majority of the Sentinels see it down, so ha-redis asked ' +
      `${formatEndpoint(asked.taken)} to fail it over now (SENTINEL FAILOVER); the reaction follows its promotion.`,
  );
  return { action: 'failover-forced', sentinel: asked.taken, entry };
}

/**
 * How long the rescue's lease lasts beyond its own questions: a fresh look (one Sentinel timeout) and one
 * SENTINEL FAILOVER per Sentinel at most, each bounded by the Sentinel timeout.
 */
const LEASE_MARGIN_MS = 5000;

/**
 * Under the cluster lease (one rescue at a time across processes, none during a planned operation): a fresh look,
 * then SENTINEL FAILOVER. The lease is released as soon as it is asked: the reactions to the promotion that
 * follows read the Sentinels, not the lease.
 */
async function forceUnderLease(
  cluster: ClusterConfig,
  master: Endpoint,
  source: Endpoint | undefined,
  deps: CorePorts,
  timeline: Timeline,
): Promise<{ taken: Endpoint } | { ignored: string } | { refused: string }> {
  const owner = `election-rescue:${formatEndpoint(master)}:${deps.clock.now()}:${deps.newId()}`;
  const leaseMs = (cluster.sentinels.length + 1) * cluster.timing.sentinelTimeoutMs + LEASE_MARGIN_MS;
  const lease = { owner, purpose: 'election-rescue' as const, until: deps.clock.now() + leaseMs };
  const taken = await deps.state.takeLease(cluster.name, lease, deps.clock.now());
  if (!taken.taken) {
    const { purpose, owner: holder } = taken.holder;
    return { ignored: `the ${purpose} ${holder} holds the cluster` };
  }
  try {
    // Under the lease, a fresh look: another abort's rescue may have forced it a moment ago.
    const now = await verdictNow(cluster, master, deps);
    if (now.verdict === 'refuse') return { refused: now.reason };
    if (now.verdict !== 'force') return { ignored: now.reason };
    const known = source && cluster.sentinels.find((s) => sameEndpoint(s, source));
    // The Sentinel that gave up first: it is in no failover now.
    const order = known ? [known, ...cluster.sentinels.filter((s) => s !== known)] : cluster.sentinels;
    const asked = await timeline
      .run(
        'failover-forced',
        () => askForFailover(cluster, order, deps),
        (a) =>
          'underWay' in a
            ? `not forced: ${a.underWay}`
            : `SENTINEL FAILOVER ${cluster.masterName} accepted by ${formatEndpoint(a.taken)}`,
      )
      .catch((error: unknown) => ({ refused: errorMessage(error) }));
    if ('underWay' in asked) return { ignored: `a failover is under way (${asked.underWay})` };
    return asked;
  } finally {
    await deps.state.releaseLease(cluster.name, owner).catch((error: unknown) =>
      deps.logger.warn('election rescue: lease not released; it expires by itself', {
        cluster: cluster.name,
        error: errorMessage(error),
      }),
    );
  }
}

/** The verdict once no Sentinel is in a failover of the master any more, or the wait is over. */
async function settledVerdict(
  cluster: ClusterConfig,
  master: Endpoint,
  deps: CorePorts,
): Promise<StallVerdict> {
  const end = deps.clock.now() + OTHERS_GIVE_UP_WITHIN_MS;
  for (;;) {
    const verdict = await verdictNow(cluster, master, deps);
    if (verdict.verdict !== 'wait' || deps.clock.now() >= end) return verdict;
    await deps.clock.sleep(POLL_MS);
  }
}

async function verdictNow(cluster: ClusterConfig, master: Endpoint, deps: CorePorts): Promise<StallVerdict> {
  const [answers, applied] = await Promise.all([
    observeSentinels(cluster, deps.sentinels),
    deps.state.appliedEpoch(cluster.name),
  ]);
  return stallVerdict(cluster, master, answers, applied?.epoch);
}

const verdictText = (v: StallVerdict): string =>
  v.verdict === 'force' ? 'stalled: force' : `${v.verdict}: ${v.reason}`;

function rescueEntry(
  cluster: ClusterConfig,
  master: Endpoint,
  seenAt: number,
  timeline: Timeline,
  deps: CorePorts,
  outcome: 'succeeded' | 'failed',
  error?: string,
): HistoryEntry {
  return {
    id: deps.newId(),
    cluster: cluster.name,
    kind: 'failover',
    trigger: ELECTION_ABORTED,
    startedAt: seenAt,
    durationMs: Math.max(0, deps.clock.now() - seenAt),
    timeline: [...timeline.steps],
    epoch: null,
    oldMaster: { host: master.host, port: master.port },
    newMaster: null,
    outcome,
    bytesAtRisk: null,
    startedBy: "ha-redis: Sentinel's election stalled",
    ...(error ? { error } : {}),
  };
}

/** A refusal told longer ago than this is told again: it is another outage by then, or the same one still. */
export const TOLD_AGAIN_AFTER_MS = 10 * 60_000;

/**
 * The election stalled but ha-redis must not force it: record and tell why, once per master (each Sentinel that
 * gave up sends its own event), until another entry comes between.
 */
async function refused(
  cluster: ClusterConfig,
  master: Endpoint,
  seenAt: number,
  reason: string,
  timeline: Timeline,
  deps: CorePorts,
): Promise<ElectionRescueOutcome> {
  const label = nodeLabel(cluster, master);
  const [last] = await deps.state.listHistory(cluster.name, 1);
  if (
    last &&
    last.trigger === ELECTION_ABORTED &&
    last.outcome === 'failed' &&
    sameEndpoint(last.oldMaster ?? undefined, master) &&
    seenAt - last.startedAt < TOLD_AGAIN_AFTER_MS
  ) {
    return ignored(cluster, `${ELECTION_ABORTED} for ${label}: told already (${last.id})`, deps);
  }
  const error = `Sentinel gave up its election to fail ${label} over, and ha-redis did not force it: ${reason}`;
  const entry = rescueEntry(cluster, master, seenAt, timeline, deps, 'failed', error);
  await recordAndNotify(
    deps,
    entry,
    `${cluster.name}: ${error}. Nothing changed; Sentinel tries again by itself after 2 × failover-timeout, and ha-redis acts on the promotion that follows.`,
  );
  return { action: 'rescue-refused', entry };
}

function ignored(cluster: ClusterConfig, reason: string, deps: CorePorts): ElectionRescueOutcome {
  deps.logger.info(reason, { cluster: cluster.name });
  return { action: 'ignored', reason };
}
