import { confirmNewMaster } from '../failover/confirm.ts';
import { persistRouting } from '../failover/routing.ts';
import { canaryWithRetries } from '../failover/verify.ts';
import { type ClusterConfig, proxyListeners, sameEndpoint } from '../model/cluster.ts';
import { FencingError, VerificationError } from '../model/errors.ts';
import type { CorePorts } from '../ports.ts';
import { planOf, timelineOf } from './context.ts';
import { restorePriorities } from './prepare.ts';
import { recordSwitchover } from './record.ts';
import type { SwitchoverPlan, SwitchoverState } from './state.ts';

/**
 * Steps 4-6 of a switchover, after the switch: fence the old master, verify with canaries, finish (priorities,
 * epoch, routing, DNS, record, release).
 */

/**
 * 4. Fence the old master: a replica of the new one (Switch re-pointed it; again, it persists it), then unpaused;
 * its writes now fail with READONLY. The other replicas' re-point from Switch is persisted too.
 */
export async function fenceOldMaster(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: CorePorts,
): Promise<SwitchoverState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  const { nodeTimeoutMs } = cluster.timing;
  await timeline.run(
    'fenced',
    async () => {
      const others = cluster.nodes.filter(
        (n) => !sameEndpoint(n, plan.target) && !sameEndpoint(n, plan.master),
      );
      await Promise.all([
        deps.redis.replicaOf(plan.master, plan.target, nodeTimeoutMs),
        ...others.map((n) => deps.redis.replicaOf(n, plan.target, nodeTimeoutMs).catch(() => undefined)),
      ]);
      await deps.redis.unpause(plan.master, nodeTimeoutMs);
      const probe = await deps.redis.probeWrite(plan.master, nodeTimeoutMs);
      if (probe === 'accepted')
        throw new FencingError(`${plan.master.id} still accepts writes after REPLICAOF`);
      return `${plan.master.id} replica of ${plan.target.id}, writes ${probe}`;
    },
    (d) => d,
  );
  return { ...state, timeline: timeline.steps };
}

/** 5. A canary through every proxy listener lands on the new master and reaches every replica. */
export async function verifySwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: CorePorts,
): Promise<SwitchoverState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  const { nodeTimeoutMs } = cluster.timing;
  await timeline.run(
    'verified',
    async () => {
      const listeners = proxyListeners(cluster);
      const canaries = await Promise.all(
        listeners.map(({ proxy, listener }) =>
          canaryWithRetries(cluster, proxy, listener, plan.target, deps),
        ),
      );
      const replicas = cluster.nodes.filter((n) => !sameEndpoint(n, plan.target));
      const deadline = deps.clock.now() + 2000;
      for (;;) {
        const missing: string[] = [];
        for (const r of replicas) {
          for (const c of canaries) {
            const seen = await deps.redis.read(r, c.key, nodeTimeoutMs).catch(() => null);
            if (seen !== c.value) missing.push(`${r.id}:${c.key}`);
          }
        }
        if (missing.length === 0)
          return `${canaries.length} canaries on ${plan.target.id} and ${replicas.length} replicas`;
        if (deps.clock.now() > deadline)
          throw new VerificationError(`canaries not replicated: ${missing.join(', ')}`);
        await deps.clock.sleep(20);
      }
    },
    (d) => d,
  );
  return { ...state, timeline: timeline.steps };
}

/**
 * 6. Restore priorities, persist routing and DNS, claim the new epoch (so the automatic reaction sees it
 * applied), record history, release the lease, notify.
 */
export async function finishSwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: CorePorts,
): Promise<SwitchoverState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  await timeline.run(
    'priorities-restored',
    () => restorePriorities(cluster, state.priorities ?? {}, deps),
    (d) => d,
  );
  const epoch = await timeline.run(
    'epoch-claimed',
    () => claimTargetEpoch(cluster, plan, deps),
    (e) => `epoch ${e}`,
  );
  await timeline.run('routing-persisted', () => persistRouting(cluster, plan.target, epoch, deps));
  await timeline.run(
    'dns-updated',
    () => deps.dns.upsertMaster(cluster, plan.target, epoch),
    (r) => r,
  );
  const done: SwitchoverState = { ...state, timeline: timeline.steps, outcome: 'succeeded' };
  await recordSwitchover(cluster, done, deps, 'succeeded', epoch);
  await deps.state.releaseLease(cluster.name, state.executionId);
  return { ...done, leaseHeld: false };
}

/**
 * The epoch of the target's promotion, confirmed by the Sentinels and claimed as done, so that the automatic
 * reaction sees it applied.
 */
async function claimTargetEpoch(
  cluster: ClusterConfig,
  plan: SwitchoverPlan,
  deps: CorePorts,
): Promise<number> {
  const applied = await deps.state.appliedEpoch(cluster.name);
  // A retried Finish: the epoch is already claimed for the target.
  if (
    applied &&
    applied.status === 'done' &&
    applied.epoch > plan.epoch &&
    sameEndpoint(applied.master, plan.target)
  ) {
    return applied.epoch;
  }
  const confirmation = await confirmNewMaster(
    cluster,
    applied && applied.epoch <= plan.epoch ? { ...applied, status: 'done' } : applied,
    deps,
    // The target answers ROLE master: a majority still naming the old master (its promoting Sentinel slower to
    // answer than the others, on a busy machine) has not heard of it yet.
    { deadlineMs: 10_000, expectNewer: true },
  );
  if (confirmation.kind !== 'confirmed' || !sameEndpoint(confirmation.master, plan.target)) {
    throw new VerificationError(
      `the Sentinels do not name ${plan.target.id} as master: ${confirmation.kind === 'unconfirmed' ? confirmation.reason : confirmation.kind}`,
    );
  }
  const token = deps.newId();
  const claim = await deps.state.claimEpoch(cluster.name, {
    epoch: confirmation.epoch,
    master: { host: plan.target.host, port: plan.target.port },
    token,
    now: deps.clock.now(),
    leaseMs: cluster.timing.claimLeaseMs,
  });
  if (claim.claimed) await deps.state.finishEpoch(cluster.name, confirmation.epoch, token, 'done');
  return confirmation.epoch;
}
