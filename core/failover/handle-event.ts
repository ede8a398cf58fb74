import { type ClusterConfig, type Endpoint, sameEndpoint } from '../model/cluster.ts';
import { errorMessage } from '../model/errors.ts';
import type { AppliedEpoch, ClusterLease, HistoryEntry } from '../model/records.ts';
import type { CorePorts } from '../ports.ts';
import { hostDeadline } from './host-deadline.ts';
import { NO_GOOD_REPLICA, tellNoGoodReplica } from './no-good-replica.ts';
import { type FailoverResult, fencePendingNodes, proxiesAwayFrom, reactToFailover } from './react.ts';
import { masterNameOf, type SentinelEvent } from './sentinel-event.ts';
import { ELECTION_ABORTED, type ElectionRescueOutcome, rescueStalledElection } from './stalled-election.ts';

/** Events that mean a failover is promoting (or has promoted) a replica: react as early as it can be confirmed. */
export const FAILOVER_TRIGGERS = new Set<SentinelEvent['type']>([
  '+failover-state-wait-promotion',
  '+promoted-slave',
  '+failover-state-reconf-slaves',
  '+switch-master',
  '+failover-end',
]);

/** Events that mean an instance answers again: time to fence a node that was down at failover. */
export const RETURN_TRIGGERS = new Set<SentinelEvent['type']>(['-sdown', '+reboot', '+convert-to-slave']);

/**
 * Every Sentinel event type the core does something with: the reaction's triggers, the returns, the votes it
 * confirms by, a failover Sentinel gave up for want of a replica, an election it gave up, and TILT (logged). Every other event needs no
 * action; in AWS the topic's subscription lets only these (and the node agents' events) reach the Lambda.
 */
export const ACTED_ON_EVENT_TYPES: readonly SentinelEvent['type'][] = [
  '+vote-for-leader',
  ...FAILOVER_TRIGGERS,
  ...RETURN_TRIGGERS,
  NO_GOOD_REPLICA,
  ELECTION_ABORTED,
  '+tilt',
];

export type EventOutcome =
  | { action: 'ignored'; reason: string }
  | { action: 'vote-recorded'; epoch: number }
  | { action: 'routing-checked'; repaired: string[] }
  /** The applied epoch's DNS record asserted again (a fresh epoch only), and what the Dns port made of it. */
  | { action: 'dns-checked'; result?: string; error?: string }
  | FailoverResult
  | { action: 'fence-checked'; fenced: HistoryEntry[] }
  | { action: 'no-good-replica'; entry: HistoryEntry }
  | Exclude<ElectionRescueOutcome, { action: 'ignored' }>;

/** Route one Sentinel event of a known cluster to the reaction it calls for. */
export async function handleSentinelEvent(
  cluster: ClusterConfig,
  event: SentinelEvent,
  seenAt: number,
  deps: CorePorts,
  /** The Sentinel that published the event. */
  source?: Endpoint,
): Promise<EventOutcome> {
  if (event.type === '+vote-for-leader') {
    if (!source || !cluster.sentinels.some((s) => sameEndpoint(s, source))) {
      return { action: 'ignored', reason: 'a vote from a Sentinel that is not configured for this cluster' };
    }
    await deps.state.recordVote(cluster.name, {
      epoch: event.epoch,
      voter: source,
      leaderRunId: event.leaderRunId,
    });
    return { action: 'vote-recorded', epoch: event.epoch };
  }
  const masterName = masterNameOf(event);
  if (masterName !== undefined && masterName !== cluster.masterName) {
    return {
      action: 'ignored',
      reason: `event for master '${masterName}', cluster monitors '${cluster.masterName}'`,
    };
  }
  if (event.type === '+tilt') {
    deps.logger.warn('a Sentinel entered TILT mode; its view is not trusted until it leaves', {
      cluster: cluster.name,
    });
  }
  if (event.type === NO_GOOD_REPLICA && 'instance' in event) {
    return tellNoGoodReplica(cluster, event.instance, seenAt, deps);
  }
  if (event.type === ELECTION_ABORTED && 'instance' in event) {
    return rescueStalledElection(cluster, event.instance, seenAt, deps, source);
  }
  if (FAILOVER_TRIGGERS.has(event.type)) {
    const oldMaster = event.type === '+switch-master' ? event.from : undefined;
    const promoted =
      (event.type === '+failover-state-wait-promotion' || event.type === '+promoted-slave') && source
        ? {
            promotion: {
              leader: source,
              replica: { host: event.instance.host, port: event.instance.port },
              master: { host: event.master.host, port: event.master.port },
              seenAt,
            },
          }
        : {};
    return reactToFailover(
      cluster,
      { type: event.type, seenAt, ...(oldMaster ? { oldMaster } : {}), ...promoted },
      deps,
    );
  }
  if (RETURN_TRIGGERS.has(event.type) && 'instance' in event) {
    const pending = await deps.state.pendingFences(cluster.name);
    if (!pending.some((p) => sameEndpoint(p.node, event.instance))) {
      return { action: 'ignored', reason: `${event.type}: no fence pending for ${event.instance.name}` };
    }
    return { action: 'fence-checked', fenced: await fencePendingNodes(cluster, deps, event.type) };
  }
  return { action: 'ignored', reason: `${event.type} needs no action` };
}

/**
 * Periodic safety net: apply a confirmed newer epoch that no event delivered, fence returning nodes, and
 * repair proxies left blocked or pointing elsewhere (e.g. by a switchover that died in its critical section).
 */
export async function reconcile(cluster: ClusterConfig, deps: CorePorts): Promise<EventOutcome[]> {
  const failover = await reactToFailover(
    cluster,
    { type: 'reconcile', seenAt: deps.clock.now(), quiet: true },
    deps,
  );
  const fenced = await fencePendingNodes(cluster, deps, 'reconcile');
  // Read once for both checks below (each reconcile, each cluster): the epoch applied now, and any lease.
  const held = await heldState(cluster, deps);
  const repaired = await repairRouting(cluster, deps, held);
  const dns = await reassertDns(cluster, deps, held);
  return [
    failover,
    { action: 'fence-checked', fenced },
    { action: 'routing-checked', repaired },
    ...(dns ? [dns] : []),
  ];
}

/** The cluster's applied epoch and its lease, as the reconcile's checks read them. */
interface HeldState {
  applied: AppliedEpoch | undefined;
  lease: ClusterLease | undefined;
}

async function heldState(cluster: ClusterConfig, deps: CorePorts): Promise<HeldState> {
  const [applied, lease] = await Promise.all([
    deps.state.appliedEpoch(cluster.name),
    deps.state.lease(cluster.name),
  ]);
  return { applied, lease };
}

/**
 * How long after its claim an epoch's DNS record is asserted again by each reconcile: longer than the zone's
 * writer keeps trying one (5 receives, 3 minutes apart in AWS), so that a record it gave up on is queued again.
 */
export const DNS_REASSERT_MS = 20 * 60_000;

/**
 * The applied epoch's record, written again while the epoch is fresh and no switchover holds the cluster. In AWS
 * the write is queued, and SQS's deduplication makes it one message per record per 5 minutes, only for clusters
 * that failed over recently: a record the writer gave up on (dead-lettered) is queued again, and a fleet's
 * quiet clusters cost nothing. Locally it is a file compare.
 */
export async function reassertDns(
  cluster: ClusterConfig,
  deps: CorePorts,
  held?: HeldState,
): Promise<Extract<EventOutcome, { action: 'dns-checked' }> | undefined> {
  const { applied, lease } = held ?? (await heldState(cluster, deps));
  const now = deps.clock.now();
  if (applied?.status !== 'done' || applied.leaseUntil + DNS_REASSERT_MS < now) return undefined;
  if (lease && lease.until > now) return undefined;
  try {
    return {
      action: 'dns-checked',
      result: await deps.dns.upsertMaster(cluster, applied.master, applied.epoch),
    };
  } catch (error) {
    deps.logger.error(
      'could not assert the DNS record of the applied epoch; the next reconcile tries again',
      {
        cluster: cluster.name,
        epoch: applied.epoch,
        error: errorMessage(error),
      },
    );
    return { action: 'dns-checked', error: errorMessage(error) };
  }
}

/** Point every proxy that is blocked or points elsewhere back at the applied master, unless a lease holds the cluster. */
export async function repairRouting(
  cluster: ClusterConfig,
  deps: CorePorts,
  held?: HeldState,
): Promise<string[]> {
  const { applied, lease } = held ?? (await heldState(cluster, deps));
  if (lease && lease.until > deps.clock.now()) return [];
  if (applied?.status !== 'done') return [];
  const away = await proxiesAwayFrom(cluster, applied.master, deps);
  if (away.length === 0) return [];
  // Never back to an applied master that is no master now (it died after the fast path moved the proxies away
  // from it, before its failover was applied): the next confirmed epoch moves them.
  const role = await deps.redis.role(applied.master, cluster.timing.nodeTimeoutMs).catch(() => 'unreachable');
  if (role !== 'master') {
    deps.logger.warn('proxies point away from the applied master, which answers no ROLE master; left alone', {
      cluster: cluster.name,
      role,
      proxies: away.map((a) => a.proxy.id),
    });
    return [];
  }
  const repaired: string[] = [];
  for (const { proxy, route } of away) {
    if (!route) continue; // a proxy that does not answer: nothing to repair from here
    await deps.router.pointMasterAt(proxy, applied.master);
    deps.logger.warn('repaired a proxy that was blocked or pointed away from the applied master', {
      cluster: cluster.name,
      proxy: proxy.id,
      was: route,
    });
    repaired.push(proxy.id);
    // And on its host, so a reload or restart keeps it: a proxy that missed the reaction (its host was gone)
    // came back with the routing it had persisted before. Its epoch fences it against a newer failover's.
    const op = { document: 'update-haproxy', proxy, master: applied.master, epoch: applied.epoch } as const;
    await deps.nodeOps.run(op, hostDeadline(deps)).catch((error: unknown) =>
      deps.logger.error(
        'repaired a proxy at runtime, but could not persist its routing; a reload would undo it',
        {
          cluster: cluster.name,
          proxy: proxy.id,
          error: errorMessage(error),
        },
      ),
    );
  }
  return repaired;
}
