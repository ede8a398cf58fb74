import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  nodeLabel,
  sameEndpoint,
} from '../model/cluster.ts';
import { errorMessage, RoutingError } from '../model/errors.ts';
import type { AppliedEpoch, HistoryEntry, Outcome } from '../model/records.ts';
import { Timeline, type TimelineStep } from '../model/timeline.ts';
import { withinMs } from '../model/within.ts';
import type { CorePorts } from '../ports.ts';
import { type Confirmation, confirmNewMaster, type Promotion } from './confirm.ts';
import { fenceOtherNodes } from './fence.ts';
import { historyEntry, recordReaction } from './record.ts';
import { persistRouting, rerouteProxies } from './routing.ts';
import { verifyThroughProxies } from './verify.ts';

// The reaction's parts live beside it; their importers keep importing them from here.
export { fencePendingNodes } from './deferred-fence.ts';
export { fenceOtherNodes } from './fence.ts';
export { hostDeadline, RECORD_RESERVE_MS } from './host-deadline.ts';
export { persistRouting, proxiesAwayFrom, rerouteProxies } from './routing.ts';
export { canaryWithRetries, verifyThroughProxies } from './verify.ts';

/** Why a reaction started: a Sentinel event, or a periodic reconcile. */
export interface FailoverTrigger {
  type: string;
  /** When the event was seen (epoch ms), the start of the timeline. */
  seenAt: number;
  /** The old master the event names, if it names one. */
  oldMaster?: Endpoint;
  /** The replica the failover leader reports it promoted, for confirmation by election. */
  promotion?: Promotion;
  /** Reconcile runs observe once and stay quiet when nothing is confirmed. */
  quiet?: boolean;
  /** The fast path: it holds the cluster lease under this owner, so the reaction it runs is not deferred. */
  leaseOwner?: string;
  /** The proxies were already pointed at the promoted replica (by the fast path): leave the ready ones alone. */
  routedAlready?: boolean;
  /** Steps already taken before the reaction (the fast path's), the start of its timeline. */
  prelude?: readonly TimelineStep[];
  /** Who started the failover, for the history entry (the fast path, and why). */
  startedBy?: string;
}

export type FailoverResult =
  | { action: 'current'; epoch: number }
  | { action: 'duplicate' | 'stale'; epoch: number }
  /** A planned operation holds the cluster lease: it moves routing itself, and claims the epoch when done. */
  | { action: 'deferred'; epoch: number; owner: string }
  /** `reason`: why not, when the reaction recorded nothing (a reconcile, or after the fast path's reroute). */
  | { action: 'unconfirmed'; entry?: HistoryEntry; reason?: string }
  | { action: 'failed-over'; entry: HistoryEntry };

/** A confirmed, claimed epoch: what the reaction applies. */
interface ClaimedFailover {
  applied: AppliedEpoch | undefined;
  newMaster: Endpoint;
  epoch: number;
  token: string;
  /** Called when the reaction leaves its critical steps (see CorePorts.pacer). */
  leaveCritical: () => void;
}

/**
 * React to a failover that Sentinel reports:
 * 1. confirm (majority + epoch + ROLE) 2. claim the epoch 3. reroute every HAProxy 4. DNS; beside it, fence the
 * old master and re-point replicas, and persist the routing on the proxy hosts (neither holds DNS: a host that is
 * gone holds its commands) 5. verify with canaries once fenced 6. record history 7. notify.
 */
export async function reactToFailover(
  cluster: ClusterConfig,
  trigger: FailoverTrigger,
  deps: CorePorts,
): Promise<FailoverResult> {
  // Critical from the event to the reroute and the re-point (a reconcile's quiet look is not): other reactions
  // in this process hold their follow-up steps meanwhile (deps.pacer).
  const leaveCritical = (!trigger.quiet && deps.pacer?.enterCritical()) || (() => undefined);
  try {
    return await reactInTurn(cluster, trigger, deps, leaveCritical);
  } finally {
    leaveCritical();
  }
}

async function reactInTurn(
  cluster: ClusterConfig,
  trigger: FailoverTrigger,
  deps: CorePorts,
  leaveCritical: () => void,
): Promise<FailoverResult> {
  const context = { cluster: cluster.name, trigger: trigger.type };
  const timeline = trigger.prelude
    ? Timeline.resume(trigger.prelude, deps, context)
    : new Timeline(deps.clock, deps.logger, context);
  if (!trigger.prelude) timeline.mark('detected', trigger.seenAt, trigger.type);
  // Read beside the confirmation's first questions to the Sentinels: one state store round trip less before the
  // reroute. (It fails as before when the store is down: the confirmation waits for it.)
  const appliedRead = deps.state.appliedEpoch(cluster.name);
  appliedRead.catch(() => undefined);
  const confirmation = await confirmFailover(cluster, trigger, appliedRead, deps, timeline);
  const applied = await appliedRead;
  if (confirmation.kind === 'current') {
    deps.logger.info('nothing newer than the applied epoch', {
      cluster: cluster.name,
      epoch: confirmation.epoch,
    });
    return { action: 'current', epoch: confirmation.epoch };
  }
  if (confirmation.kind === 'unconfirmed') {
    return reportUnconfirmed(cluster, trigger, applied, confirmation.reason, deps, timeline);
  }

  const { master: newMaster, epoch } = confirmation;
  const lease = await deps.state.lease(cluster.name);
  // A planned operation (or the fast path) moves routing itself; the election rescue only asked Sentinel for the
  // failover that this reaction follows, and is not waited for.
  const heldBy =
    lease && lease.until > deps.clock.now() && lease.owner !== trigger.leaseOwner ? lease : undefined;
  if (heldBy && heldBy.purpose !== 'election-rescue') {
    deps.logger.info(`epoch ${epoch} left to the ${heldBy.purpose} that holds the cluster`, {
      cluster: cluster.name,
      owner: heldBy.owner,
    });
    return { action: 'deferred', epoch, owner: heldBy.owner };
  }
  const token = deps.newId();
  const claim = await timeline.run('epoch-claimed', () =>
    deps.state.claimEpoch(cluster.name, {
      epoch,
      master: newMaster,
      token,
      now: deps.clock.now(),
      leaseMs: cluster.timing.claimLeaseMs,
    }),
  );
  if (!claim.claimed) {
    deps.logger.info(`epoch ${epoch} not claimed: ${claim.reason}`, {
      cluster: cluster.name,
      epoch,
      applied: claim.current.epoch,
      status: claim.current.status,
    });
    return { action: claim.reason, epoch };
  }
  const entry = await applyFailover(cluster, trigger, deps, timeline, {
    applied,
    newMaster,
    epoch,
    token,
    leaveCritical,
  });
  return { action: 'failed-over', entry };
}

/** 1. Confirm the new master, as a timed step; a reconcile (quiet) asks once and does not wait. */
function confirmFailover(
  cluster: ClusterConfig,
  trigger: FailoverTrigger,
  applied: Promise<AppliedEpoch | undefined>,
  deps: CorePorts,
  timeline: Timeline,
): Promise<Confirmation> {
  return timeline.run(
    'confirmed',
    () =>
      confirmNewMaster(cluster, applied, deps, {
        deadlineMs: trigger.quiet ? 0 : cluster.timing.confirmDeadlineMs,
        promotion: trigger.promotion,
      }),
    (c) =>
      c.kind === 'confirmed'
        ? `${nodeLabel(cluster, c.master)} epoch ${c.epoch}, ${c.votes} of ${cluster.sentinels.length} Sentinels (${c.basis})`
        : c.kind,
  );
}

/** An event that no majority confirms changes nothing: recorded and told, unless a quiet reconcile asked. */
async function reportUnconfirmed(
  cluster: ClusterConfig,
  trigger: FailoverTrigger,
  applied: AppliedEpoch | undefined,
  reason: string,
  deps: CorePorts,
  timeline: Timeline,
): Promise<FailoverResult> {
  if (trigger.quiet) return { action: 'unconfirmed' };
  // The fast path moved the proxies already: "nothing changed" would be wrong; it records this itself.
  if (trigger.routedAlready) return { action: 'unconfirmed', reason };
  const entry = historyEntry(cluster, deps, timeline, trigger, {
    epoch: null,
    oldMaster: applied?.master ?? trigger.oldMaster ?? null,
    newMaster: null,
    outcome: 'unconfirmed',
    bytesAtRisk: null,
    error: reason,
  });
  deps.logger.warn('failover not confirmed; nothing changed', { cluster: cluster.name, reason });
  await recordReaction(deps, entry, `failover of ${cluster.name} NOT confirmed, nothing changed: ${reason}`);
  return { action: 'unconfirmed', entry };
}

/** 3-9. Apply a claimed epoch: every step runs even when one before it failed; then finish, record, notify. */
async function applyFailover(
  cluster: ClusterConfig,
  trigger: FailoverTrigger,
  deps: CorePorts,
  timeline: Timeline,
  claimed: ClaimedFailover,
): Promise<HistoryEntry> {
  const { applied, newMaster, epoch, token } = claimed;
  const oldMaster =
    [applied?.master, trigger.oldMaster].find((m) => m && !sameEndpoint(m, newMaster)) ?? null;
  const { problems, bytesAtRisk } = await runReactionSteps(
    cluster,
    deps,
    timeline,
    claimed,
    oldMaster,
    trigger.routedAlready === true,
  );
  const outcome: Outcome = problems.length === 0 ? 'succeeded' : 'partial';
  const entry = historyEntry(cluster, deps, timeline, trigger, {
    epoch,
    oldMaster,
    newMaster,
    outcome,
    bytesAtRisk,
    ...(problems.length ? { error: problems.join('; ') } : {}),
    ...(trigger.startedBy ? { startedBy: trigger.startedBy } : {}),
  });
  // A partial reaction leaves the epoch open to a retry (redelivery or reconcile); all steps are idempotent.
  await deps.state.finishEpoch(cluster.name, epoch, token, outcome === 'succeeded' ? 'done' : 'failed');
  const from = oldMaster ? nodeLabel(cluster, oldMaster) : 'unknown';
  // Adopting the master found at start-up is no failover, and must not read like one.
  const what =
    trigger.type === 'adopt'
      ? `${cluster.name}: adopted ${nodeLabel(cluster, newMaster)} as master at epoch ${epoch}, ${outcome}`
      : `failover of ${cluster.name}: ${from} -> ${nodeLabel(cluster, newMaster)} at epoch ${epoch}, ${outcome}`;
  await recordReaction(deps, entry, what + (problems.length ? ` (${problems.join('; ')})` : ''));
  return entry;
}

/**
 * How long the fence waits for the reroute before it starts anyway: a reroute takes tens of ms (127 ms p50 for 8
 * services at once on 2 cores); one that takes longer waits on a proxy that does not answer.
 */
export const FENCE_AFTER_REROUTE_MS = 250;

/**
 * Reroute; from its end, or FENCE_AFTER_REROUTE_MS when a proxy does not answer, the fence of the nodes that
 * answer. Those are the critical steps; then, once no other reaction of this process is in its own (deps.pacer),
 * the follow-ups: DNS, the fence of the nodes that do not answer, the persist, and the canaries once fenced. Each
 * is a timed step whose failure is a problem, not the end.
 */
async function runReactionSteps(
  cluster: ClusterConfig,
  deps: CorePorts,
  timeline: Timeline,
  { applied, newMaster, epoch, leaveCritical }: ClaimedFailover,
  oldMaster: Endpoint | null,
  routedAlready: boolean,
): Promise<{ problems: string[]; bytesAtRisk: number | null }> {
  // The new master's offset now, for the bytes at risk: read beside the reroute, not before it.
  const promotedAtRead = deps.redis
    .replication(newMaster, cluster.timing.nodeTimeoutMs)
    .then((r) => r.offset)
    .catch(() => null);
  const problems: string[] = [];
  const attempt = async (step: string, fn: () => Promise<string | undefined>): Promise<void> => {
    try {
      await timeline.run(step, fn, (detail) => detail ?? '');
    } catch (error) {
      problems.push(`${step}: ${errorMessage(error)}`);
    }
  };

  // A proxy the reroute could not reach is reported by that step; a canary through it could only fail (or land
  // on the old master) after every verify attempt, holding the reaction and the cluster's lease for seconds.
  let unrouted: string[] = [];
  // Proxies that did not answer the reroute (their host is gone): pending, not failed. The reconcile points each
  // at the applied master when it answers again, and persists it; a retry of the whole epoch would change nothing.
  let pending: string[] = [];
  // A retry of this epoch (a partial reaction, or a claimer that died) leaves alone the proxies already routed
  // to the new master: rerouting one again would put it in maint and cut its clients' sessions for nothing.
  const retry = applied?.epoch === epoch;
  const rerouting = attempt('rerouted', async () => {
    const reroute = await rerouteProxies(cluster, newMaster, deps, { skipRouted: retry || routedAlready });
    unrouted = reroute.failed.map((f) => f.id);
    pending = reroute.failed.filter((f) => f.unreachable).map((f) => f.id);
    const refused = reroute.failed.filter((f) => !f.unreachable);
    if (refused.length)
      throw new RoutingError(
        `${reroute.failed.length} of ${cluster.proxies.length} proxies not rerouted: ${reroute.failed.map((f) => `${f.id}: ${f.error}`).join('; ')}; ${reroute.summary}`,
      );
    return pending.length
      ? `${reroute.summary}; pending, did not answer: ${pending.join(', ')} (pointed at ${nodeLabel(cluster, newMaster)} by the reconcile when it answers)`
      : reroute.summary;
  });
  // Fence right after the reroute: it also re-points the other replicas, which the new master needs before
  // it accepts writes (min-replicas-to-write), ~0.8 s sooner than Sentinel's own reconfiguration. (Beside the
  // reroute it was measured slower for a host failure of 8 services: the reroutes shared the CPU with it.)
  // A proxy that does not answer (its host is cut off) holds the reroute for its whole timeout: the fence then
  // starts after FENCE_AFTER_REROUTE_MS, so the new master's writes do not wait on a host that is gone.
  // (The reroute's step never throws: its failure is one of the problems.)
  await withinMs(rerouting, FENCE_AFTER_REROUTE_MS, () => undefined);
  // The follow-ups' turn, with a pacer: once the nodes that answer are fenced (the critical steps end), and no other
  // reaction of this process is in its critical steps. Without one (a Lambda), at once, as the fence.
  let reachableFenced = (): void => undefined;
  const reachable = new Promise<void>((resolve) => {
    reachableFenced = resolve;
  });
  const { pacer } = deps;
  const followUps = pacer
    ? reachable.then(async () => {
        leaveCritical();
        await pacer.settled();
      })
    : Promise.resolve();
  let bytesAtRisk: number | null = null;
  const fencing = attempt('fenced', async () => {
    const fence = await fenceOtherNodes(
      cluster,
      newMaster,
      epoch,
      deps,
      pacer
        ? {
            afterReachable: () => {
              reachableFenced();
              return followUps;
            },
          }
        : {},
    );
    const promotedAt = await promotedAtRead;
    if (oldMaster && fence.oldMasterOffsets.has(formatEndpoint(oldMaster)) && promotedAt !== null) {
      bytesAtRisk = Math.max(0, (fence.oldMasterOffsets.get(formatEndpoint(oldMaster)) ?? 0) - promotedAt);
    }
    return fence.summary;
  }).finally(reachableFenced);
  // DNS in turn: it waits on no proxy that does not answer either.
  const dns = attempt('dns-updated', async () => {
    await followUps;
    const result = await deps.dns.upsertMaster(cluster, newMaster, epoch);
    return `${cluster.dns.recordName} -> ${formatEndpoint(newMaster)}: ${result}`;
  });
  await rerouting;
  // Off the critical path: persisting the routing on the proxy hosts (SSM, ~1 s a host; a host that is gone gets no
  // command: it is pending). The canaries write through the proxies once the fence re-pointed a replica (the new
  // master takes writes with one attached).
  const persisting = attempt('routing-persisted', async () => {
    await followUps;
    return persistRouting(cluster, newMaster, epoch, deps, { pending });
  });
  await Promise.all([dns, fencing]);
  await attempt('verified', () => verifyThroughProxies(cluster, newMaster, deps, { skip: unrouted }));
  await persisting;
  return { problems, bytesAtRisk };
}
