import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  nodeLabel,
  type ProxyConfig,
  proxyListeners,
  sameEndpoint,
} from '../model/cluster.ts';
import { errorMessage, FencingError, RoutingError, VerificationError } from '../model/errors.ts';
import { formatTimeline, Timeline } from '../model/timeline.ts';
import type { FailoverDeps, HistoryEntry, Outcome, PendingFence } from '../ports.ts';
import { confirmNewMaster, type Promotion } from './confirm.ts';

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
}

export type FailoverResult =
  | { action: 'current'; epoch: number }
  | { action: 'duplicate' | 'stale'; epoch: number }
  /** A planned operation holds the cluster lease: it moves routing itself, and claims the epoch when done. */
  | { action: 'deferred'; epoch: number; owner: string }
  | { action: 'unconfirmed'; entry?: HistoryEntry }
  | { action: 'failed-over'; entry: HistoryEntry };

const PROXY_ATTEMPTS = 3; // a Runtime API socket can refuse a connection during a reload; retry briefly
const PROXY_RETRY_MS = 20;

/**
 * React to a failover that Sentinel reports:
 * 1. confirm (majority + epoch + ROLE) 2. claim the epoch 3. reroute every HAProxy 4. fence the old master
 * and re-point replicas 5. persist routing 6. DNS 7. verify with canaries 8. record history 9. notify.
 */
export async function reactToFailover(
  cluster: ClusterConfig,
  trigger: FailoverTrigger,
  deps: FailoverDeps,
): Promise<FailoverResult> {
  const timeline = new Timeline(deps.clock, deps.logger, { cluster: cluster.name, trigger: trigger.type });
  timeline.mark('detected', trigger.seenAt, trigger.type);
  const applied = await deps.state.appliedEpoch(cluster.name);

  const confirmation = await timeline.run(
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
  if (confirmation.kind === 'current') {
    deps.logger.info('nothing newer than the applied epoch', {
      cluster: cluster.name,
      epoch: confirmation.epoch,
    });
    return { action: 'current', epoch: confirmation.epoch };
  }
  if (confirmation.kind === 'unconfirmed') {
    if (trigger.quiet) return { action: 'unconfirmed' };
    const entry = historyEntry(cluster, deps, timeline, trigger, {
      epoch: null,
      oldMaster: applied?.master ?? trigger.oldMaster ?? null,
      newMaster: null,
      outcome: 'unconfirmed',
      bytesAtRisk: null,
      error: confirmation.reason,
    });
    deps.logger.warn('failover not confirmed; nothing changed', {
      cluster: cluster.name,
      reason: confirmation.reason,
    });
    await recordAndNotify(
      deps,
      entry,
      `failover of ${cluster.name} NOT confirmed, nothing changed: ${confirmation.reason}`,
    );
    return { action: 'unconfirmed', entry };
  }

  const { master: newMaster, epoch } = confirmation;
  const lease = await deps.state.lease(cluster.name);
  if (lease && lease.until > deps.clock.now()) {
    deps.logger.info(`epoch ${epoch} left to the ${lease.purpose} that holds the cluster`, {
      cluster: cluster.name,
      owner: lease.owner,
    });
    return { action: 'deferred', epoch, owner: lease.owner };
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

  const oldMaster =
    [applied?.master, trigger.oldMaster].find((m) => m && !sameEndpoint(m, newMaster)) ?? null;
  const promotedAt = await deps.redis
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
  // A retry of this epoch (a partial reaction, or a claimer that died) leaves alone the proxies already routed
  // to the new master: rerouting one again would put it in maint and cut its clients' sessions for nothing.
  const retry = applied?.epoch === epoch;
  await attempt('rerouted', async () => {
    const reroute = await rerouteProxies(cluster, newMaster, deps, { skipRouted: retry });
    unrouted = reroute.failed.map((f) => f.id);
    if (reroute.failed.length)
      throw new RoutingError(
        `${reroute.failed.length} of ${cluster.proxies.length} proxies not rerouted: ${reroute.failed.map((f) => `${f.id}: ${f.error}`).join('; ')}`,
      );
    return reroute.summary;
  });
  // Fence right after the reroute: it also re-points the other replicas, which the new master needs before
  // it accepts writes (min-replicas-to-write), ~0.8 s sooner than Sentinel's own reconfiguration.
  let bytesAtRisk: number | null = null;
  await attempt('fenced', async () => {
    const fence = await fenceOtherNodes(cluster, newMaster, epoch, deps);
    if (oldMaster && fence.oldMasterOffsets.has(formatEndpoint(oldMaster)) && promotedAt !== null) {
      bytesAtRisk = Math.max(0, (fence.oldMasterOffsets.get(formatEndpoint(oldMaster)) ?? 0) - promotedAt);
    }
    return fence.summary;
  });
  await attempt('routing-persisted', () => persistRouting(cluster, newMaster, deps));
  await attempt('dns-updated', async () => {
    const result = await deps.dns.upsertMaster(cluster, newMaster, epoch);
    return `${cluster.dns.recordName} -> ${formatEndpoint(newMaster)}: ${result}`;
  });
  await attempt('verified', () => verifyThroughProxies(cluster, newMaster, deps, { skip: unrouted }));

  const outcome: Outcome = problems.length === 0 ? 'succeeded' : 'partial';
  const entry = historyEntry(cluster, deps, timeline, trigger, {
    epoch,
    oldMaster,
    newMaster,
    outcome,
    bytesAtRisk,
    ...(problems.length ? { error: problems.join('; ') } : {}),
  });
  // A partial reaction leaves the epoch open to a retry (redelivery or reconcile); all steps are idempotent.
  await deps.state.finishEpoch(cluster.name, epoch, token, outcome === 'succeeded' ? 'done' : 'failed');
  const from = oldMaster ? nodeLabel(cluster, oldMaster) : 'unknown';
  // Adopting the master found at start-up is no failover, and must not read like one.
  const what =
    trigger.type === 'adopt'
      ? `${cluster.name}: adopted ${nodeLabel(cluster, newMaster)} as master at epoch ${epoch}, ${outcome}`
      : `failover of ${cluster.name}: ${from} -> ${nodeLabel(cluster, newMaster)} at epoch ${epoch}, ${outcome}`;
  await recordAndNotify(deps, entry, what + (problems.length ? ` (${problems.join('; ')})` : ''));
  return { action: 'failed-over', entry };
}

/** Point every HAProxy at the new master at once, cutting sessions to the old one. */
export async function rerouteProxies(
  cluster: ClusterConfig,
  master: Endpoint,
  deps: FailoverDeps,
  options: { skipRouted?: boolean } = {},
): Promise<{ summary: string; failed: { id: string; error: string }[] }> {
  const proxies = options.skipRouted
    ? (await proxiesAwayFrom(cluster, master, deps)).map((p) => p.proxy)
    : cluster.proxies;
  const already = cluster.proxies.length - proxies.length;
  const results = await Promise.allSettled(
    proxies.map(async (proxy) => {
      for (let i = 1; ; i += 1) {
        try {
          await deps.router.pointMasterAt(proxy, master);
          return;
        } catch (error) {
          if (i >= PROXY_ATTEMPTS) throw error;
          await deps.clock.sleep(PROXY_RETRY_MS);
        }
      }
    }),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ id: proxies[i]?.id ?? `#${i}`, error: errorMessage(r.reason) }] : [],
  );
  const rerouted = proxies.length - failed.length;
  const left = already ? ` (${already} already there)` : '';
  return { summary: `${rerouted} proxies -> ${nodeLabel(cluster, master)}${left}`, failed };
}

/** The proxies that are not ready and pointing at `master` (route undefined: the proxy did not answer). */
export async function proxiesAwayFrom(
  cluster: ClusterConfig,
  master: Endpoint,
  deps: Pick<FailoverDeps, 'router'>,
): Promise<{ proxy: ProxyConfig; route: { address: Endpoint; state: string } | undefined }[]> {
  const routes = await Promise.all(
    cluster.proxies.map(async (proxy) => ({
      proxy,
      route: await deps.router.masterRoute(proxy).catch(() => undefined),
    })),
  );
  return routes.filter(({ route }) => !(route?.state === 'ready' && sameEndpoint(route.address, master)));
}

/** Persist the routing on each proxy host, so a reload or restart keeps it. */
export async function persistRouting(
  cluster: ClusterConfig,
  master: Endpoint,
  deps: FailoverDeps,
): Promise<string> {
  const results = await Promise.allSettled(
    cluster.proxies.map((proxy) => deps.nodeOps.run({ document: 'update-haproxy', proxy, master })),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`${cluster.proxies[i]?.id}: ${errorMessage(r.reason)}`] : [],
  );
  if (failed.length) throw new Error(failed.join('; '));
  return `${cluster.proxies.length} proxies`;
}

/**
 * Make every other node a replica of the new master (demote one that claims master, re-point one that
 * follows another master), and prove it refuses writes.
 * A node that does not answer gets `replicaof` persisted in its config and a pending fence.
 */
export async function fenceOtherNodes(
  cluster: ClusterConfig,
  master: Endpoint,
  epoch: number,
  deps: FailoverDeps,
): Promise<{ summary: string; oldMasterOffsets: Map<string, number> }> {
  const timeout = cluster.timing.nodeTimeoutMs;
  const others = cluster.nodes.filter((n) => !sameEndpoint(n, master));
  const offsets = new Map<string, number>();
  const lines = await Promise.all(
    others.map(async (node): Promise<string> => {
      const info = await deps.redis.replication(node, timeout).catch(() => undefined);
      if (!info) {
        // The pending fence first: if persisting replicaof fails (host down too), the node is still fenced on return.
        const address = { host: node.host, port: node.port };
        await deps.state.addPendingFence(cluster.name, {
          node: address,
          master,
          epoch,
          since: deps.clock.now(),
        });
        await deps.nodeOps.run({ document: 'fence-node', node, master });
        return `${node.id} unreachable: replicaof persisted, fence pending`;
      }
      let action = 'replica';
      if (info.role === 'master') {
        offsets.set(formatEndpoint(node), info.offset);
        await deps.redis.replicaOf(node, master, timeout);
        action = 'demoted';
      } else if (!sameEndpoint(info.master, master)) {
        await deps.redis.replicaOf(node, master, timeout);
        action = 're-pointed';
      }
      const probe = await deps.redis.probeWrite(node, timeout);
      if (probe === 'accepted') {
        throw new FencingError(`${node.id} still accepts writes after REPLICAOF; check it by hand now`);
      }
      return `${node.id} ${action}, writes ${probe}`;
    }),
  );
  return { summary: lines.join('; '), oldMasterOffsets: offsets };
}

/** Fence nodes that were unreachable at failover time and answer again. */
export async function fencePendingNodes(
  cluster: ClusterConfig,
  deps: FailoverDeps,
  reason: string,
): Promise<HistoryEntry[]> {
  const pending = await deps.state.pendingFences(cluster.name);
  const entries: HistoryEntry[] = [];
  for (const fence of pending) {
    const entry = await fenceOne(cluster, fence, deps, reason);
    if (entry) entries.push(entry);
  }
  return entries;
}

async function fenceOne(
  cluster: ClusterConfig,
  fence: PendingFence,
  deps: FailoverDeps,
  reason: string,
): Promise<HistoryEntry | undefined> {
  const timeout = cluster.timing.nodeTimeoutMs;
  const info = await deps.redis.replication(fence.node, timeout).catch(() => undefined);
  if (!info) return undefined; // still down; the next -sdown, +reboot or reconcile tries again
  const timeline = new Timeline(deps.clock, deps.logger, { cluster: cluster.name, trigger: reason });
  timeline.mark('detected', deps.clock.now(), reason);
  const applied = await deps.state.appliedEpoch(cluster.name);
  const master = applied?.master ?? fence.master;
  let error: string | undefined;
  try {
    if (sameEndpoint(master, fence.node)) {
      timeline.skip('fenced', 'the node is the applied master again');
    } else {
      await timeline.run(
        'fenced',
        async () => {
          if (info.role === 'master' || !sameEndpoint(info.master, master)) {
            await deps.redis.replicaOf(fence.node, master, timeout);
          }
          const probe = await deps.redis.probeWrite(fence.node, timeout);
          if (probe === 'accepted')
            throw new FencingError(`${nodeLabel(cluster, fence.node)} still accepts writes`);
          return `${nodeLabel(cluster, fence.node)} replica of ${nodeLabel(cluster, master)}, writes ${probe}`;
        },
        (d) => d,
      );
    }
    await deps.state.removePendingFence(cluster.name, fence.node);
  } catch (e) {
    error = errorMessage(e);
  }
  const entry = historyEntry(
    cluster,
    deps,
    timeline,
    { type: reason, seenAt: deps.clock.now() },
    {
      kind: 'deferred-fence',
      epoch: fence.epoch,
      oldMaster: fence.node,
      newMaster: master,
      outcome: error ? 'failed' : 'succeeded',
      bytesAtRisk: null,
      ...(error ? { error } : {}),
    },
  );
  await recordAndNotify(
    deps,
    entry,
    `${cluster.name}: returning node ${nodeLabel(cluster, fence.node)} ${error ? `NOT fenced: ${error}` : 'fenced as a replica'}`,
  );
  return entry;
}

/** A canary write through every proxy listener (plain and TLS) must land on the new master. */
/**
 * A canary write through one proxy listener that must land on `master`, tried `verifyAttempts` times: right
 * after a switch the new master may refuse a write for a moment (no replica attached yet, a proxy reloading).
 */
export async function canaryWithRetries(
  cluster: ClusterConfig,
  proxy: ProxyConfig,
  listener: 'plain' | 'tls',
  master: Endpoint,
  deps: Pick<FailoverDeps, 'redis' | 'clock'>,
): Promise<{ key: string; value: string }> {
  const { verifyAttempts, verifyIntervalMs, nodeTimeoutMs } = cluster.timing;
  for (let i = 1; ; i += 1) {
    try {
      return await deps.redis.canaryThroughProxy(proxy, listener, master, nodeTimeoutMs);
    } catch (error) {
      if (i >= verifyAttempts) throw error;
      await deps.clock.sleep(verifyIntervalMs);
    }
  }
}

export async function verifyThroughProxies(
  cluster: ClusterConfig,
  master: Endpoint,
  deps: FailoverDeps,
  options: { skip?: readonly string[] } = {},
): Promise<string> {
  const skip = options.skip ?? [];
  const checks = proxyListeners(cluster).filter(({ proxy }) => !skip.includes(proxy.id));
  const skipped = skip.length ? `; not through ${skip.join(', ')} (not rerouted)` : '';
  const results = await Promise.allSettled(
    checks.map(({ proxy, listener }) => canaryWithRetries(cluster, proxy, listener, master, deps)),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected'
      ? [`${checks[i]?.proxy.id}/${checks[i]?.listener}: ${errorMessage(r.reason)}`]
      : [],
  );
  if (failed.length) throw new VerificationError(`canary failed through ${failed.join('; ')}${skipped}`);
  return `${checks.length} canaries landed on ${nodeLabel(cluster, master)}${skipped}`;
}

function historyEntry(
  cluster: ClusterConfig,
  deps: FailoverDeps,
  timeline: Timeline,
  trigger: FailoverTrigger,
  fields: Pick<HistoryEntry, 'epoch' | 'oldMaster' | 'newMaster' | 'outcome' | 'bytesAtRisk' | 'error'> & {
    kind?: HistoryEntry['kind'];
  },
): HistoryEntry {
  const startedAt = timeline.steps[0]?.at ?? trigger.seenAt;
  const { kind = 'failover', ...rest } = fields;
  return {
    id: deps.newId(),
    cluster: cluster.name,
    kind,
    trigger: trigger.type,
    startedAt,
    durationMs: deps.clock.now() - startedAt,
    timeline: [...timeline.steps],
    ...rest,
  };
}

/**
 * Whether the cluster was in maintenance (paused), for the notification: the reaction runs either way, and a
 * mode that cannot be read is said to be unknown rather than holding the notification up.
 */
async function maintenanceNote(deps: FailoverDeps, cluster: string): Promise<string> {
  try {
    const mode = await deps.state.maintenanceMode(cluster);
    if (!mode?.paused) return '';
    return `; the cluster was in maintenance (paused by ${mode.by}${mode.reason ? `: ${mode.reason}` : ''})`;
  } catch (error) {
    return `; maintenance mode unknown (${errorMessage(error)})`;
  }
}

/** History first (the durable record), then the notification; a notification failure never fails the reaction. */
async function recordAndNotify(deps: FailoverDeps, entry: HistoryEntry, summary: string): Promise<void> {
  const timeline = new Timeline(deps.clock, deps.logger, { cluster: entry.cluster });
  await timeline.run('recorded', () => deps.state.appendHistory(entry));
  try {
    await deps.notifier.publish({
      cluster: entry.cluster,
      kind: entry.kind,
      outcome: entry.outcome,
      summary: `${summary}${await maintenanceNote(deps, entry.cluster)}`,
      entry,
    });
  } catch (error) {
    deps.logger.error('notification failed', { cluster: entry.cluster, error: errorMessage(error) });
  }
  deps.logger.info(summary, { cluster: entry.cluster, timeline: formatTimeline(entry.timeline) });
}
