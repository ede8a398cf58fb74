import { type ClusterConfig, type Endpoint, formatEndpoint, sameEndpoint } from './cluster.ts';
import { errorMessage } from './errors.ts';
import type { AppliedEpoch, Clock, RedisNodes, SentinelMasterView, SentinelView } from './ports.ts';

/** One Sentinel's answer, or why it gave none. */
export type SentinelAnswer =
  | { ok: true; view: SentinelMasterView }
  | { ok: false; sentinel: Endpoint; error: string };

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
    failoverInProgress: views.some(
      (v) => v.failoverState !== 'none' || v.flags.includes('failover_in_progress'),
    ),
  };
}

/** Ask every Sentinel of the cluster in parallel, each with a bounded timeout. */
export async function observeSentinels(
  cluster: ClusterConfig,
  sentinels: SentinelView,
): Promise<SentinelAnswer[]> {
  const timeout = cluster.timing.sentinelTimeoutMs;
  return Promise.all(
    cluster.sentinels.map(async (sentinel): Promise<SentinelAnswer> => {
      try {
        return { ok: true, view: await sentinels.masterView(sentinel, cluster.masterName, timeout) };
      } catch (error) {
        return { ok: false, sentinel, error: errorMessage(error) };
      }
    }),
  );
}

export type Confirmation =
  | { kind: 'confirmed'; master: Endpoint; epoch: number; votes: number; polls: number }
  /** A majority names the master that is already applied, and no failover is under way. */
  | { kind: 'current'; master: Endpoint; epoch: number }
  | { kind: 'unconfirmed'; reason: string; polls: number };

/**
 * Poll the Sentinels until a majority agree on a master and config-epoch newer than the applied one,
 * and that node answers ROLE master. Stops early when nothing newer is under way.
 */
export async function confirmNewMaster(
  cluster: ClusterConfig,
  applied: AppliedEpoch | undefined,
  deps: { sentinels: SentinelView; redis: RedisNodes; clock: Clock },
  options: { deadlineMs: number },
): Promise<Confirmation> {
  const start = deps.clock.now();
  let polls = 0;
  let reason = 'no Sentinel answered';
  for (;;) {
    polls += 1;
    const answers = await observeSentinels(cluster, deps.sentinels);
    const decision = decideMajority(answers, cluster.sentinels.length);
    const { agreed } = decision;
    // An applied epoch whose reaction failed, or whose claimer's lease ran out, is not settled: retry it.
    const settled =
      applied !== undefined &&
      (applied.status === 'done' || (applied.status === 'claimed' && applied.leaseUntil > deps.clock.now()));
    const newer =
      agreed && (!applied || agreed.epoch > applied.epoch || (agreed.epoch === applied.epoch && !settled));
    if (agreed && newer) {
      const role = await deps.redis
        .role(agreed.master, cluster.timing.nodeTimeoutMs)
        .catch((error: unknown) => `unreachable (${errorMessage(error)})`);
      if (role === 'master') {
        return { kind: 'confirmed', master: agreed.master, epoch: agreed.epoch, votes: agreed.votes, polls };
      }
      reason = `a majority names ${formatEndpoint(agreed.master)} at epoch ${agreed.epoch}, but it answers ROLE ${role}`;
    } else if (agreed && applied && agreed.epoch <= applied.epoch) {
      const nothingNewer = decision.newestEpoch <= applied.epoch && !decision.failoverInProgress;
      if (nothingNewer && (agreed.epoch < applied.epoch || sameEndpoint(agreed.master, applied.master))) {
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
