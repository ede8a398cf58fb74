import { type ClusterConfig, type Endpoint, formatEndpoint, sameEndpoint } from '../model/cluster.ts';
import { errorMessage } from '../model/errors.ts';
import type { AppliedEpoch, LeaderVote } from '../model/records.ts';
import type { Clock, RedisNodes, SentinelMasterView, SentinelView, StateStore } from '../ports.ts';

/** One Sentinel's answer, or why it gave none. */
/** `tilt`: what the Sentinel's INFO said (absent when it did not answer); a Sentinel in TILT counts as no answer. */
export type SentinelAnswer =
  | { ok: true; view: SentinelMasterView; tilt?: false }
  | { ok: false; sentinel: Endpoint; error: string; tilt?: true };

/** What a set of Sentinel answers amounts to. */
export interface MajorityDecision {
  /** The master and epoch that a majority of the configured Sentinels name, if any. */
  agreed?: { master: Endpoint; epoch: number; votes: number };
  needed: number;
  answered: number;
  /** The highest config-epoch any Sentinel reported. */
  newestEpoch: number;
  /** True when some Sentinel is in the middle of a failover. */
  failoverInProgress: boolean;
}

/** Whether this Sentinel is in the middle of a failover of the master it was asked about. */
export const inFailover = (view: SentinelMasterView): boolean =>
  view.failoverState !== 'none' || view.flags.includes('failover_in_progress');

/** Majority of the configured Sentinels, not of those that answered. */
export const majorityOf = (configured: number): number => Math.floor(configured / 2) + 1;

/** Decide what a majority of Sentinels agree on: the same master address and the same config-epoch. */
export function decideMajority(answers: readonly SentinelAnswer[], configured: number): MajorityDecision {
  const needed = majorityOf(configured);
  const views = answers.flatMap((a) => (a.ok ? [a.view] : []));
  const tally = new Map<string, { master: Endpoint; epoch: number; votes: number }>();
  for (const view of views) {
    const key = `${formatEndpoint(view.master)}@${view.configEpoch}`;
    const entry = tally.get(key) ?? { master: view.master, epoch: view.configEpoch, votes: 0 };
    entry.votes += 1;
    tally.set(key, entry);
  }
  const best = [...tally.values()].sort((a, b) => b.votes - a.votes)[0];
  return {
    ...(best && best.votes >= needed ? { agreed: best } : {}),
    needed,
    answered: views.length,
    newestEpoch: views.reduce((max, v) => Math.max(max, v.configEpoch), -1),
    failoverInProgress: views.some(inFailover),
  };
}

/**
 * Ask every Sentinel of the cluster in parallel, each with a bounded timeout. A Sentinel in TILT (its timer
 * jumped: a stalled process, a clock step) acts on nothing for 30 s and its view is not trusted: its answer
 * counts as none, so the majority must come from the others.
 *
 * `settled`, when given, is asked after each answer with the answers so far: once it answers a number of ms, the
 * Sentinels that have not answered are waited for that much longer at most (a host that is gone would hold the
 * caller for the whole timeout; a live one answers within a millisecond or two); each one still silent then is
 * reported as no answer.
 */
export async function observeSentinels(
  cluster: ClusterConfig,
  sentinels: SentinelView,
  settled?: (answers: readonly SentinelAnswer[]) => number | undefined,
): Promise<SentinelAnswer[]> {
  const timeout = cluster.timing.sentinelTimeoutMs;
  const ask = async (sentinel: Endpoint): Promise<SentinelAnswer> => {
    try {
      const [view, tilt] = await Promise.all([
        sentinels.masterView(sentinel, cluster.masterName, timeout),
        // Not knowing is no reason to distrust an answer that came.
        sentinels.inTilt(sentinel, timeout).catch(() => undefined),
      ]);
      if (tilt) {
        return { ok: false, sentinel, error: 'in TILT: its view is not trusted until it leaves', tilt };
      }
      return tilt === undefined ? { ok: true, view } : { ok: true, view, tilt };
    } catch (error) {
      return { ok: false, sentinel, error: errorMessage(error) };
    }
  };
  const pending = cluster.sentinels.map(ask);
  if (!settled) return Promise.all(pending);
  return new Promise((resolve) => {
    const answers: (SentinelAnswer | undefined)[] = cluster.sentinels.map(() => undefined);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(grace);
      resolve(
        answers.map(
          (a, i) => a ?? { ok: false, sentinel: cluster.sentinels[i] as Endpoint, error: NOT_WAITED_FOR },
        ),
      );
    };
    let grace: ReturnType<typeof setTimeout> | undefined;
    pending.forEach((p, i) => {
      void p.then((answer) => {
        if (done) return;
        answers[i] = answer;
        const came = answers.filter((a): a is SentinelAnswer => a !== undefined);
        if (came.length === answers.length) return finish();
        const waitMs = settled(came);
        if (waitMs === 0) finish();
        else if (waitMs !== undefined && grace === undefined) grace = setTimeout(finish, waitMs);
      });
    });
  });
}

/** The error of a Sentinel whose answer was not waited for, because the others' settled the question. */
export const NOT_WAITED_FOR = 'not waited for: the answers that came settled it';

/** What the failover leader reported: it promoted `replica` (`+failover-state-wait-promotion`, `+promoted-slave`). */
export interface Promotion {
  leader: Endpoint;
  replica: Endpoint;
  /** The master it fails over from, at the address its event names: the Sentinels' votes are asked by it. */
  master?: Endpoint;
  /** When the event was seen (epoch ms): a late one is not confirmed by election (PROMOTION_FRESH_MS). */
  seenAt?: number;
}

/**
 * How old a promotion event may be and still be confirmed by election. Lambda retries a failed asynchronous
 * invocation 1 and 2 minutes later: by then the same leader may be carrying out a newer failover of the master,
 * whose votes the late event's replica (still answering ROLE master) would borrow. The Sentinels' views decide a
 * late event instead. Election confirms within a second or two of a promotion; this leaves room for a cold start.
 */
export const PROMOTION_FRESH_MS = 10_000;

/**
 * The newest epoch in which a majority of the configured Sentinels voted for `leaderRunId`.
 * A Sentinel votes at most once per epoch, so a majority of votes is Sentinel's own election rule.
 */
export function electedEpoch(
  votes: readonly LeaderVote[],
  leaderRunId: string,
  sentinels: readonly Endpoint[],
): { epoch: number; votes: number } | undefined {
  const needed = majorityOf(sentinels.length);
  const voters = new Map<number, Set<string>>();
  for (const vote of votes) {
    if (vote.leaderRunId !== leaderRunId || !sentinels.some((s) => sameEndpoint(s, vote.voter))) continue;
    const set = voters.get(vote.epoch) ?? new Set<string>();
    set.add(formatEndpoint(vote.voter));
    voters.set(vote.epoch, set);
  }
  const elected = [...voters.entries()]
    .filter(([, set]) => set.size >= needed)
    .sort((a, b) => b[0] - a[0])[0];
  return elected ? { epoch: elected[0], votes: elected[1].size } : undefined;
}

/**
 * The epoch in which the promoting leader won by the votes the Sentinels hold now for one master, counted as
 * Sentinel counts them (sentinel.c sentinelGetLeader): the leader's own vote is in the failover's epoch E (which
 * becomes the new master's config-epoch), and the others' at the leader's current epoch, which a Sentinel that
 * monitors many masters has moved past E with the elections of its other masters. So: the leader holds its own
 * vote in E, and a majority of the configured Sentinels, the leader among them, hold a vote for it in E or later.
 * Held votes only: each is its Sentinel's newest for that master, so E is the leader's newest.
 */
export function electedByHeldVotes(
  held: readonly LeaderVote[],
  leaderRunId: string,
  leader: Endpoint,
  sentinels: readonly Endpoint[],
): { epoch: number; votes: number } | undefined {
  const own = held.find((v) => sameEndpoint(v.voter, leader));
  if (!own || own.leaderRunId !== leaderRunId) return undefined;
  const voters = new Set(
    held
      .filter(
        (v) =>
          v.leaderRunId === leaderRunId &&
          v.epoch >= own.epoch &&
          sentinels.some((s) => sameEndpoint(s, v.voter)),
      )
      .map((v) => formatEndpoint(v.voter)),
  );
  return voters.size >= majorityOf(sentinels.length) ? { epoch: own.epoch, votes: voters.size } : undefined;
}

/** Why a new master was confirmed. */
export type ConfirmationBasis = 'sentinel-majority' | 'elected-leader';

export type Confirmation =
  | {
      kind: 'confirmed';
      master: Endpoint;
      epoch: number;
      votes: number;
      polls: number;
      basis: ConfirmationBasis;
    }
  /** A majority names the master that is already applied, and no failover is under way. */
  | { kind: 'current'; master: Endpoint; epoch: number }
  | { kind: 'unconfirmed'; reason: string; polls: number };

/**
 * Poll the Sentinels until a majority agree on a master and config-epoch newer than the applied one,
 * and that node answers ROLE master. Stops early when nothing newer is under way.
 */
export async function confirmNewMaster(
  cluster: ClusterConfig,
  /** The applied epoch, or its read under way: the election is asked beside the read. */
  appliedNow: AppliedEpoch | undefined | Promise<AppliedEpoch | undefined>,
  deps: { sentinels: SentinelView; redis: RedisNodes; clock: Clock; state: Pick<StateStore, 'votes'> },
  options: {
    deadlineMs: number;
    promotion?: Promotion | undefined;
    /**
     * The caller knows a failover happened (a switchover's Finish saw its target answer ROLE master): a majority
     * that still names the applied master has not heard of it yet, and is polled again until the deadline.
     */
    expectNewer?: boolean;
  },
): Promise<Confirmation> {
  const start = deps.clock.now();
  let polls = 0;
  let reason = 'no Sentinel answered';
  const appliedRead = Promise.resolve(appliedNow);
  let applied: AppliedEpoch | undefined;
  // An applied epoch whose reaction failed, or whose claimer's lease ran out, is not settled: retry it.
  const isNewer = (epoch: number) => {
    if (!applied || epoch > applied.epoch) return true;
    const settled =
      applied.status === 'done' || (applied.status === 'claimed' && applied.leaseUntil > deps.clock.now());
    return epoch === applied.epoch && !settled;
  };
  for (;;) {
    polls += 1;
    const promotion = options.promotion;
    if (
      promotion &&
      (promotion.seenAt === undefined || deps.clock.now() - promotion.seenAt <= PROMOTION_FRESH_MS)
    ) {
      const [elected, read] = await Promise.all([
        confirmByElection(cluster, promotion, deps).catch(() => undefined),
        appliedRead,
      ]);
      applied = read;
      if (elected && isNewer(elected.epoch)) {
        return { kind: 'confirmed', ...elected, polls, basis: 'elected-leader' };
      }
    }
    applied = await appliedRead;
    const answers = await observeSentinels(cluster, deps.sentinels, (came) => {
      const { agreed } = decideMajority(came, cluster.sentinels.length);
      if (!agreed) return undefined;
      return isNewer(agreed.epoch) ? 0 : CURRENT_GRACE_MS;
    });
    const decision = decideMajority(answers, cluster.sentinels.length);
    const { agreed } = decision;
    if (agreed && isNewer(agreed.epoch)) {
      const role = await deps.redis
        .role(agreed.master, cluster.timing.nodeTimeoutMs)
        .catch((error: unknown) => `unreachable (${errorMessage(error)})`);
      if (role === 'master') {
        return {
          kind: 'confirmed',
          master: agreed.master,
          epoch: agreed.epoch,
          votes: agreed.votes,
          polls,
          basis: 'sentinel-majority',
        };
      }
      reason = `a majority names ${formatEndpoint(agreed.master)} at epoch ${agreed.epoch}, but it answers ROLE ${role}`;
    } else if (agreed && applied && agreed.epoch <= applied.epoch) {
      const nothingNewer = decision.newestEpoch <= applied.epoch && !decision.failoverInProgress;
      const isApplied = agreed.epoch < applied.epoch || sameEndpoint(agreed.master, applied.master);
      if (nothingNewer && isApplied && !options.expectNewer) {
        return { kind: 'current', master: applied.master, epoch: applied.epoch };
      }
      reason = `a majority still names ${formatEndpoint(agreed.master)} at epoch ${agreed.epoch}; newest epoch seen ${decision.newestEpoch}`;
    } else {
      const failures = answers.flatMap((a) => (a.ok ? [] : [`${formatEndpoint(a.sentinel)}: ${a.error}`]));
      reason =
        `no majority: ${decision.answered} of ${cluster.sentinels.length} Sentinels answered, ${decision.needed} must agree` +
        (failures.length ? `; ${failures.join('; ')}` : '');
    }
    if (deps.clock.now() - start >= options.deadlineMs) return { kind: 'unconfirmed', reason, polls };
    await deps.clock.sleep(cluster.timing.confirmPollMs);
  }
}

/**
 * How long a confirmation poll waits for the Sentinels still silent once a majority agree on the applied epoch
 * (two majorities cannot disagree, so the rest cannot change the master). On a newer epoch it waits for none:
 * the poll confirms it, once its node answers ROLE master. On the applied one, a live Sentinel's answer may still
 * show a newer epoch or a failover under way, which keeps the poll going instead of `current`: a live Sentinel
 * answers within a millisecond or two, so this is plenty; a host that is gone (a lost zone) costs this instead of
 * the whole Sentinel timeout. A silent Sentinel that alone knows of a newer epoch changes nothing for this event:
 * that failover's own events (its promotion, each Sentinel's +switch-master) and the reconcile act on it, as they
 * would had it not answered within the timeout.
 */
export const CURRENT_GRACE_MS = 50;

/**
 * Ask every configured Sentinel, in parallel, for the vote it holds for the master at `master`. `until(elects)`
 * resolves with the votes so far once `elects` holds for them, or once every Sentinel has answered or failed: a
 * silent Sentinel (its host is gone) is not waited for once the others have elected the leader.
 */
function askVotes(
  cluster: ClusterConfig,
  sentinels: SentinelView,
  master: Endpoint,
): { until(elects: (votes: readonly LeaderVote[]) => boolean): Promise<LeaderVote[]> } {
  const votes: LeaderVote[] = [];
  let answered = 0;
  let recheck: (() => void) | undefined;
  for (const voter of cluster.sentinels) {
    void sentinels
      .vote(voter, master, cluster.timing.sentinelTimeoutMs)
      .then(
        (vote) => {
          if (vote) votes.push({ voter, leaderRunId: vote.leaderRunId, epoch: vote.epoch });
        },
        () => undefined,
      )
      .finally(() => {
        answered += 1;
        recheck?.();
      });
  }
  return {
    until: (elects) =>
      new Promise((resolve) => {
        recheck = () => {
          if (answered < cluster.sentinels.length && !elects(votes)) return;
          recheck = undefined;
          resolve([...votes]);
        };
        recheck();
      }),
  };
}

/**
 * The leader that promoted the replica was elected by a majority of the configured Sentinels in epoch E,
 * and the replica answers ROLE master: every Sentinel will adopt it at epoch E, so act now, ~1 s before
 * the majority of views catches up.
 */
async function confirmByElection(
  cluster: ClusterConfig,
  promotion: Promotion,
  deps: { sentinels: SentinelView; redis: RedisNodes; state: Pick<StateStore, 'votes'> },
): Promise<{ master: Endpoint; epoch: number; votes: number } | undefined> {
  if (!cluster.sentinels.some((s) => sameEndpoint(s, promotion.leader))) return undefined;
  // The votes as each Sentinel holds them, asked beside the recorded events: a vote's event may still be on its
  // way, and a Sentinel that monitors many masters names none in it (the bridge drops those).
  const asked = promotion.master ? askVotes(cluster, deps.sentinels, promotion.master) : undefined;
  const [leaderId, recorded] = await Promise.all([
    deps.sentinels.myId(promotion.leader, cluster.timing.sentinelTimeoutMs),
    deps.state.votes(cluster.name),
  ]);
  const electedWith = (held: readonly LeaderVote[]) =>
    [
      electedEpoch([...recorded, ...held], leaderId, cluster.sentinels),
      electedByHeldVotes(held, leaderId, promotion.leader, cluster.sentinels),
    ]
      .filter((e) => e !== undefined)
      .sort((a, b) => b.epoch - a.epoch)[0];
  const held = asked ? await asked.until((votes) => electedWith(votes) !== undefined) : [];
  const elected = electedWith(held);
  if (!elected) return undefined;
  const role = await deps.redis.role(promotion.replica, cluster.timing.nodeTimeoutMs);
  if (role !== 'master') return undefined;
  return { master: { host: promotion.replica.host, port: promotion.replica.port }, ...elected };
}
