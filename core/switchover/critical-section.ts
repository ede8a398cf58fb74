import { selectedReplica } from '../failover/ask-failover.ts';
import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  nodeLabel,
  sameEndpoint,
} from '../model/cluster.ts';
import { CatchUpTimeoutError, errorMessage, PromotionError } from '../model/errors.ts';
import type { Timeline } from '../model/timeline.ts';
import type { CorePorts } from '../ports.ts';
import { findMaster, planOf, SWITCHOVER_TIMING, timelineOf } from './context.ts';
import { unblockWrites } from './recovery.ts';
import type { SwitchoverPlan, SwitchoverState } from './state.ts';

/**
 * Step 3 of a switchover, Switch: the write-blocked critical section. Block writes, wait until the target
 * caught up, promote it, reroute every proxy to it.
 */

/**
 * 3. The write-blocked critical section, in one invocation: block writes (proxies maint + CLIENT PAUSE
 * WRITE), wait until the target's offset equals the master's, SENTINEL FAILOVER, wait for ROLE master,
 * then reroute every proxy and re-point every other node (the old master too) at once. On failure, writes are unblocked here
 * before the error goes on to the state machine's Recover.
 */
export async function switchMaster(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: CorePorts,
): Promise<SwitchoverState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  let next: SwitchoverState = { ...state };
  try {
    const blockedAt = deps.clock.now();
    next = { ...next, blocked: true };
    await blockWrites(cluster, plan, deps, timeline);
    await waitForCatchUp(cluster, plan, deps, timeline);
    const failover = await startFailover(cluster, deps, timeline);
    await waitForPromotion(cluster, plan, failover, deps, timeline);
    next = { ...next, promoted: true };
    await rerouteToTarget(cluster, plan, deps, timeline);
    const writeGapMs = deps.clock.now() - blockedAt;
    return { ...next, blocked: false, writeGapMs, timeline: timeline.steps };
  } catch (error) {
    const failed = { ...next, timeline: timeline.steps };
    await unblockWrites(cluster, failed, deps).catch((e: unknown) =>
      deps.logger.error('unblocking writes after a failed switch failed; Recover retries', {
        error: errorMessage(e),
      }),
    );
    throw error;
  }
}

/** Every proxy puts the master in maint, and the master pauses writes (it unpauses by itself after pauseMs). */
function blockWrites(
  cluster: ClusterConfig,
  { master }: SwitchoverPlan,
  deps: CorePorts,
  timeline: Timeline,
): Promise<void> {
  return timeline.run('writes-blocked', async () => {
    await Promise.all([
      ...cluster.proxies.map((p) => deps.router.blockMaster(p)),
      deps.redis.pauseWrites(master, SWITCHOVER_TIMING.pauseMs, cluster.timing.nodeTimeoutMs),
    ]);
  });
}

/** Until the target's replication offset reaches the master's, for at most catchUpDeadlineMs. */
async function waitForCatchUp(
  cluster: ClusterConfig,
  { master, target }: SwitchoverPlan,
  deps: CorePorts,
  timeline: Timeline,
): Promise<void> {
  const { nodeTimeoutMs } = cluster.timing;
  await timeline.run(
    'caught-up',
    async () => {
      const deadline = deps.clock.now() + SWITCHOVER_TIMING.catchUpDeadlineMs;
      for (;;) {
        const [m, t] = await Promise.all([
          deps.redis.replication(master, nodeTimeoutMs),
          deps.redis.replication(target, nodeTimeoutMs),
        ]);
        if (t.offset >= m.offset) return `offset ${t.offset}`;
        if (deps.clock.now() > deadline) {
          throw new CatchUpTimeoutError(
            `target ${target.id} is ${m.offset - t.offset} bytes behind after ${SWITCHOVER_TIMING.catchUpDeadlineMs} ms; writes unblocked, retry later`,
          );
        }
        await deps.clock.sleep(SWITCHOVER_TIMING.pollMs);
      }
    },
    (d) => d,
  );
}

/**
 * SENTINEL FAILOVER, asked of each Sentinel in turn until one accepts: that one (the leader) runs the failover,
 * from no sooner than `askedAt`.
 */
async function startFailover(
  cluster: ClusterConfig,
  deps: CorePorts,
  timeline: Timeline,
): Promise<{ leader: Endpoint; askedAt: number }> {
  return timeline.run(
    'failover-started',
    async () => {
      const refusals: string[] = [];
      for (const sentinel of cluster.sentinels) {
        const askedAt = deps.clock.now();
        const answer = await deps.sentinels
          .failover(sentinel, cluster.masterName, cluster.timing.sentinelTimeoutMs)
          .catch((e: unknown) => errorMessage(e));
        if (answer === 'ok') return { leader: sentinel, askedAt };
        refusals.push(`${formatEndpoint(sentinel)}: ${answer}`);
      }
      throw new PromotionError(`every Sentinel refused SENTINEL FAILOVER: ${refusals.join('; ')}`);
    },
    ({ leader }) => `via ${formatEndpoint(leader)}`,
  );
}

/**
 * Until the target is master; fails at once when Sentinel promoted another node. Once the Sentinel that leads
 * the failover has selected the target, and that selection is fresh (selectionFreshMs), the target is sent
 * REPLICAOF NO ONE at once, a Sentinel tick before Sentinel's own command (see selectedReplica): writes stay
 * blocked one tick less. A replica other than the target selected is never promoted here.
 */
function waitForPromotion(
  cluster: ClusterConfig,
  { master, target }: SwitchoverPlan,
  { leader, askedAt: failoverAskedAt }: { leader: Endpoint; askedAt: number },
  deps: CorePorts,
  timeline: Timeline,
): Promise<string> {
  const { nodeTimeoutMs, sentinelTimeoutMs } = cluster.timing;
  const pollTimeoutMs = Math.min(nodeTimeoutMs, SWITCHOVER_TIMING.promotePollTimeoutMs);
  const selectionTimeoutMs = Math.min(sentinelTimeoutMs, SWITCHOVER_TIMING.promotePollTimeoutMs);
  const bySentinel = `by Sentinel (${formatEndpoint(leader)})`;
  let selection: Endpoint | undefined;
  let late: string | undefined;
  // No selection can be older than the SENTINEL FAILOVER it follows. A leader that does not answer is not
  // asked again: its slow answers would hold back the ROLE polls, and Sentinel's own command follows anyway.
  let lastMissAt = failoverAskedAt;
  let asking = true;
  return timeline.run(
    'promoted',
    async () => {
      const deadline = deps.clock.now() + SWITCHOVER_TIMING.promoteDeadlineMs;
      for (;;) {
        const askedAt = deps.clock.now();
        const [role, selected] = await Promise.all([
          deps.redis.role(target, pollTimeoutMs).catch(() => 'unreachable'),
          selection ??
            (asking
              ? selectedReplica(cluster, leader, deps, selectionTimeoutMs).catch(() => 'unanswered' as const)
              : ('unanswered' as const)),
        ]);
        if (role === 'master') {
          const seen = selection
            ? ''
            : `; its selection of ${target.id} was not seen within ${deps.clock.now() - lastMissAt} ms`;
          return `${bySentinel}${late ? `; ${late}` : seen}`;
        }
        if (selected === 'unanswered') asking = false;
        // Only an answer without a selection proves there was none when it was asked.
        if (selected === undefined) lastMissAt = askedAt;
        if (selected && selected !== 'unanswered' && !selection) {
          selection = selected;
          const age = deps.clock.now() - lastMissAt;
          if (sameEndpoint(selected, target) && age > SWITCHOVER_TIMING.selectionFreshMs) {
            late = `its selection of ${target.id} was seen up to ${age} ms late`;
          } else if (sameEndpoint(selected, target)) {
            // A failed or late answer leaves the promotion to Sentinel's own command, a tick later.
            const failed = await deps.redis.promoteSelected(target, pollTimeoutMs).then(
              () => undefined,
              (e: unknown) => errorMessage(e),
            );
            if (failed === undefined) return `by ha-redis, once ${formatEndpoint(leader)} selected it`;
            late = `its REPLICAOF NO ONE, once ${formatEndpoint(leader)} selected it, failed: ${failed}`;
            continue;
          }
        }
        const masterRole = await deps.redis.role(master, nodeTimeoutMs).catch(() => 'unreachable');
        if (masterRole !== 'master' && role !== 'master') {
          // Sentinel chose another node, or a real failover happened: recovery decides.
          const other = await findMaster(cluster, deps);
          if (other && !sameEndpoint(other, target)) {
            throw new PromotionError(`Sentinel promoted ${nodeLabel(cluster, other)}, not ${target.id}`);
          }
        }
        if (deps.clock.now() > deadline) {
          throw new PromotionError(
            `${target.id} did not answer ROLE master within ${SWITCHOVER_TIMING.promoteDeadlineMs} ms`,
          );
        }
        await deps.clock.sleep(SWITCHOVER_TIMING.pollMs);
      }
    },
    (how) => how,
  );
}

/** Every proxy to the target, and every other node (the old master too) re-pointed at it, at once. */
async function rerouteToTarget(
  cluster: ClusterConfig,
  { master, target }: SwitchoverPlan,
  deps: CorePorts,
  timeline: Timeline,
): Promise<void> {
  const { nodeTimeoutMs } = cluster.timing;
  // The old master too (paused; Fence unpauses it): every replica attaches before writes flow again, so each
  // resyncs from the new master's backlog. A replica attached later may find the backlog overrun (1 MB by
  // default: ~25 ms of writes at 40 MB/s) and need a full resync.
  const others = [
    ...cluster.nodes.filter((n) => !sameEndpoint(n, target) && !sameEndpoint(n, master)),
    master,
  ];
  await timeline.run(
    'rerouted',
    async () => {
      await Promise.all([
        ...cluster.proxies.map((p) => deps.router.pointMasterAt(p, target)),
        // The new master accepts writes only with a replica attached (min-replicas-to-write). Not persisted
        // here (Fence does): CONFIG REWRITE's fsync would hold the replica's handshake, which must be done
        // before Sentinel's own promotion command cuts the new master's normal clients.
        ...others.map((n) =>
          deps.redis.replicaOf(n, target, nodeTimeoutMs, { persist: false }).catch(() => undefined),
        ),
      ]);
      return `${cluster.proxies.length} proxies -> ${target.id}`;
    },
    (d) => d,
  );
}
