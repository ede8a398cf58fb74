import { confirmNewMaster, decideMajority, observeSentinels } from '../failover/confirm.ts';
import { canaryWithRetries, persistRouting, proxiesAwayFrom } from '../failover/react.ts';
import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  type NodeConfig,
  nodeLabel,
  proxyListeners,
  sameEndpoint,
} from '../model/cluster.ts';
import {
  CatchUpTimeoutError,
  causeMessage,
  errorMessage,
  FencingError,
  HaRedisError,
  HistoryEntryExistsError,
  InvalidInputError,
  LeaseHeldError,
  PromotionError,
  SwitchoverRefusedError,
  VerificationError,
} from '../model/errors.ts';
import { Timeline } from '../model/timeline.ts';
import type { FailoverDeps, HistoryEntry } from '../ports.ts';
import type { SwitchoverAction, SwitchoverInput, SwitchoverPlan, SwitchoverState } from './state.ts';

/** Time limits of a planned switchover, in milliseconds. */
export const SWITCHOVER_TIMING = {
  /** CLIENT PAUSE WRITE expires by itself after this, even if everything else dies. */
  pauseMs: 5000,
  /**
   * Kept far below Sentinel's down-after-milliseconds: CLIENT PAUSE WRITE also holds Sentinel's hello
   * PUBLISH, and the PINGs queued behind it, so a long pause makes Sentinel see the master as down.
   */
  catchUpDeadlineMs: 500,
  /** Sentinel promotes in ~260-340 ms here; allow for a slow host. */
  promoteDeadlineMs: 5000,
  pollMs: 2,
  /** Sentinels read replica priorities from INFO every 10 s. */
  priorityPropagationMs: 15_000,
  /** Longer than a switchover takes (~10-20 s, mostly Prepare); a dead one frees the cluster after this. */
  leaseMs: 60_000,
  /** The expected client-visible write gap, reported by the dry run. */
  expectedWriteGapMs: 350,
} as const;

/** Added to the target's priority for every other replica, so that Sentinel picks the target. */
const DEPRIORITIZE_BY = 100;

const STEPS = [
  'plan',
  'lease + replica priorities',
  'block writes (proxies maint + CLIENT PAUSE WRITE)',
  'wait until the target caught up',
  'SENTINEL FAILOVER',
  'wait for ROLE master',
  'reroute every proxy',
  'fence the old master',
  'verify with canaries',
  'restore priorities, record, release',
];

const timelineOf = (state: SwitchoverState, deps: FailoverDeps): Timeline =>
  Timeline.resume(state.timeline, deps, { cluster: state.input.cluster, switchover: state.executionId });

function resolveNode(cluster: ClusterConfig, ref: string): NodeConfig {
  const node = cluster.nodes.find((n) => n.id === ref || formatEndpoint(n) === ref);
  if (!node) {
    throw new InvalidInputError(
      `unknown target '${ref}' in cluster ${cluster.name}; nodes: ${cluster.nodes.map((n) => n.id).join(', ')}`,
    );
  }
  return node;
}

/** A node as plans name it: its id (or host:port) and its address. */
export const asNode = (cluster: ClusterConfig, e: Endpoint) => ({
  id: nodeLabel(cluster, e),
  host: e.host,
  port: e.port,
});

function planOf(state: SwitchoverState): SwitchoverPlan {
  if (!state.plan) throw new InvalidInputError('switchover state has no plan; the plan step must run first');
  return state.plan;
}

/** The plan of a switchover without running it (Slack's dry run): the Plan step's precheck, which only reads. */
export async function dryRunPlan(
  cluster: ClusterConfig,
  input: SwitchoverInput,
  deps: FailoverDeps,
): Promise<SwitchoverPlan> {
  const now = deps.clock.now();
  const state = await planSwitchover(
    cluster,
    { input, executionId: `dry-run-${now}`, startedAt: now, timeline: [] },
    deps,
  );
  if (!state.plan) throw new HaRedisError(`the plan of ${cluster.name} came back empty; retry`);
  return state.plan;
}

/**
 * 1. Plan and precheck: every Sentinel answers and CKQUORUM is OK, a majority agrees on the master and no
 * failover is under way, the master has every replica online, no lease is held, and the target is an
 * online replica within maxLagBytes. Changes nothing.
 */
export async function planSwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: FailoverDeps,
): Promise<SwitchoverState> {
  const timeline = timelineOf(state, deps);
  const { sentinelTimeoutMs, nodeTimeoutMs } = cluster.timing;
  const plan = await timeline.run(
    'planned',
    async (): Promise<SwitchoverPlan> => {
      const answers = await observeSentinels(cluster, deps.sentinels);
      const silent = answers.flatMap((a) => (a.ok ? [] : [`${formatEndpoint(a.sentinel)} (${a.error})`]));
      if (silent.length) throw new SwitchoverRefusedError(`Sentinels did not answer: ${silent.join(', ')}`);
      const decision = decideMajority(answers, cluster.sentinels.length);
      if (!decision.agreed) throw new SwitchoverRefusedError('the Sentinels do not agree on the master');
      if (decision.failoverInProgress)
        throw new SwitchoverRefusedError('a failover is in progress; retry when it ends');
      const quorum = await Promise.all(
        cluster.sentinels.map(async (s) => ({
          s,
          problem: await deps.sentinels.checkQuorum(s, cluster.masterName, sentinelTimeoutMs),
        })),
      );
      const noQuorum = quorum.filter((q) => q.problem);
      if (noQuorum.length) {
        throw new SwitchoverRefusedError(
          `SENTINEL CKQUORUM failed: ${noQuorum.map((q) => `${formatEndpoint(q.s)}: ${q.problem}`).join('; ')}`,
        );
      }
      const lease = await deps.state.lease(cluster.name);
      if (lease && lease.until > deps.clock.now() && lease.owner !== state.executionId) {
        throw new LeaseHeldError(
          `${lease.purpose} ${lease.owner} holds cluster ${cluster.name}; retry when it ends`,
        );
      }
      const master = decision.agreed.master;
      const info = await deps.redis.replication(master, nodeTimeoutMs);
      if (info.role !== 'master') {
        throw new SwitchoverRefusedError(
          `${nodeLabel(cluster, master)} answers ROLE ${info.role}, not master`,
        );
      }
      const expected = cluster.nodes.filter((n) => !sameEndpoint(n, master));
      const replicas = await Promise.all(
        expected.map(async (n) => {
          const link = info.replicas?.find((r) => sameEndpoint(r.address, n));
          const priority = await deps.redis.replicaPriority(n, nodeTimeoutMs).catch(() => -1);
          return {
            id: n.id,
            host: n.host,
            port: n.port,
            lagBytes: link ? Math.max(0, info.offset - link.offset) : -1,
            priority,
            online: link?.state === 'online',
          };
        }),
      );
      const offline = replicas.filter((r) => !r.online);
      if (offline.length) {
        throw new SwitchoverRefusedError(
          `the master has ${replicas.length - offline.length} of ${replicas.length} replicas online; offline: ${offline.map((r) => r.id).join(', ')}`,
        );
      }
      let target: (typeof replicas)[number] | undefined;
      if (state.input.target) {
        const node = resolveNode(cluster, state.input.target);
        if (sameEndpoint(node, master))
          throw new InvalidInputError(`${node.id} is the master already; pick a replica`);
        target = replicas.find((r) => r.id === node.id);
        if (!target)
          throw new InvalidInputError(`${node.id} is not a replica of ${nodeLabel(cluster, master)}`);
        if (target.priority === 0) {
          throw new SwitchoverRefusedError(`${target.id} has replica-priority 0: Sentinel never promotes it`);
        }
        if (target.priority < 0) {
          throw new SwitchoverRefusedError(`could not read ${target.id}'s replica-priority; check the node`);
        }
      } else {
        target = replicas.filter((r) => r.priority > 0).sort((a, b) => a.lagBytes - b.lagBytes)[0];
        if (!target)
          throw new SwitchoverRefusedError('no replica can be promoted (all have replica-priority 0)');
      }
      if (target.lagBytes > state.input.maxLagBytes) {
        throw new SwitchoverRefusedError(
          `target ${target.id} is ${target.lagBytes} bytes behind (limit ${state.input.maxLagBytes}); retry when it has caught up`,
        );
      }
      return {
        master: asNode(cluster, master),
        target: { id: target.id, host: target.host, port: target.port },
        replicas,
        epoch: decision.agreed.epoch,
        expectedWriteGapMs: SWITCHOVER_TIMING.expectedWriteGapMs,
        steps: STEPS,
      };
    },
    (p) =>
      `${p.master.id} -> ${p.target.id}, lag ${p.replicas.find((r) => r.id === p.target.id)?.lagBytes} bytes`,
  );
  return { ...state, plan, timeline: timeline.steps, outcome: 'planned' };
}

/** The replicas Prepare makes Sentinel prefer less than the target; priority 0 (never promote) stays as it is. */
function replicasToDeprioritize(plan: SwitchoverPlan) {
  const targetPriority = plan.replicas.find((r) => r.id === plan.target.id)?.priority ?? 100;
  const others = plan.replicas.filter(
    (r) => r.id !== plan.target.id && r.priority > 0 && r.priority <= targetPriority,
  );
  return { targetPriority, others };
}

/** 2. Take the cluster lease, and make Sentinel prefer the target: raise the other replicas' priority. */
export async function prepareSwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: FailoverDeps,
): Promise<SwitchoverState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  const { nodeTimeoutMs, sentinelTimeoutMs } = cluster.timing;
  await timeline.run('lease-taken', async () => {
    const now = deps.clock.now();
    const result = await deps.state.takeLease(
      cluster.name,
      { owner: state.executionId, purpose: 'switchover', until: now + SWITCHOVER_TIMING.leaseMs },
      now,
    );
    if (!result.taken) {
      throw new LeaseHeldError(
        `${result.holder.purpose} ${result.holder.owner} holds cluster ${cluster.name}; retry when it ends`,
      );
    }
  });
  const next: SwitchoverState = { ...state, leaseHeld: true };
  const { targetPriority, others } = replicasToDeprioritize(plan);
  const raised = targetPriority + DEPRIORITIZE_BY;
  const priorities: Record<string, number> = {};
  try {
    await timeline.run(
      'priorities-raised',
      async () => {
        for (const r of others) {
          priorities[r.id] = r.priority;
          await deps.redis.setReplicaPriority(r, raised, nodeTimeoutMs);
        }
        // Sentinel chooses from what its last INFO said: wait until every Sentinel has seen the change.
        const deadline = deps.clock.now() + SWITCHOVER_TIMING.priorityPropagationMs;
        for (;;) {
          const views = await Promise.all(
            cluster.sentinels.map((s) =>
              deps.sentinels.replicasView(s, cluster.masterName, sentinelTimeoutMs),
            ),
          );
          const seen = views.every((view) =>
            others.every((r) => view.some((v) => sameEndpoint(v.address, r) && v.priority === raised)),
          );
          if (seen) return;
          if (deps.clock.now() > deadline) {
            throw new SwitchoverRefusedError(
              'the Sentinels did not see the changed replica priorities in time',
            );
          }
          await deps.clock.sleep(200);
        }
      },
      () =>
        others.length
          ? `${others.map((r) => r.id).join(', ')} -> ${raised}; seen by every Sentinel`
          : 'none needed',
    );
  } catch (error) {
    // A Catch hands Recover the state from before this step: undo here what only this step knows about.
    for (const [id, priority] of Object.entries(priorities)) {
      const node = cluster.nodes.find((n) => n.id === id);
      if (node) await deps.redis.setReplicaPriority(node, priority, nodeTimeoutMs).catch(() => undefined);
    }
    await deps.state.releaseLease(cluster.name, state.executionId).catch(() => undefined);
    throw error;
  }
  next.priorities = priorities;
  next.timeline = timeline.steps;
  return next;
}

/**
 * 3. The write-blocked critical section, in one invocation: block writes (proxies maint + CLIENT PAUSE
 * WRITE), wait until the target's offset equals the master's, SENTINEL FAILOVER, wait for ROLE master,
 * then reroute every proxy and re-point the other replicas at once. On failure, writes are unblocked here
 * before the error goes on to the state machine's Recover.
 */
export async function switchMaster(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: FailoverDeps,
): Promise<SwitchoverState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  const { nodeTimeoutMs, sentinelTimeoutMs } = cluster.timing;
  const { master, target } = plan;
  let next: SwitchoverState = { ...state };
  try {
    const blockedAt = deps.clock.now();
    await timeline.run('writes-blocked', async () => {
      next = { ...next, blocked: true };
      await Promise.all([
        ...cluster.proxies.map((p) => deps.router.blockMaster(p)),
        deps.redis.pauseWrites(master, SWITCHOVER_TIMING.pauseMs, nodeTimeoutMs),
      ]);
    });
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
    await timeline.run(
      'failover-started',
      async () => {
        const refusals: string[] = [];
        for (const sentinel of cluster.sentinels) {
          const answer = await deps.sentinels
            .failover(sentinel, cluster.masterName, sentinelTimeoutMs)
            .catch((e: unknown) => errorMessage(e));
          if (answer === 'ok') return `via ${formatEndpoint(sentinel)}`;
          refusals.push(`${formatEndpoint(sentinel)}: ${answer}`);
        }
        throw new PromotionError(`every Sentinel refused SENTINEL FAILOVER: ${refusals.join('; ')}`);
      },
      (d) => d,
    );
    await timeline.run('promoted', async () => {
      const deadline = deps.clock.now() + SWITCHOVER_TIMING.promoteDeadlineMs;
      for (;;) {
        const role = await deps.redis.role(target, nodeTimeoutMs).catch(() => 'unreachable');
        if (role === 'master') break;
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
      next = { ...next, promoted: true };
    });
    const others = cluster.nodes.filter((n) => !sameEndpoint(n, target) && !sameEndpoint(n, master));
    await timeline.run(
      'rerouted',
      async () => {
        await Promise.all([
          ...cluster.proxies.map((p) => deps.router.pointMasterAt(p, target)),
          // The new master accepts writes only with a replica attached (min-replicas-to-write).
          ...others.map((n) => deps.redis.replicaOf(n, target, nodeTimeoutMs).catch(() => undefined)),
        ]);
        return `${cluster.proxies.length} proxies -> ${target.id}`;
      },
      (d) => d,
    );
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

/** The node that answers ROLE master, if exactly one does. */
async function findMaster(cluster: ClusterConfig, deps: FailoverDeps): Promise<Endpoint | undefined> {
  const roles = await Promise.all(
    cluster.nodes.map(async (n) => ({
      n,
      role: await deps.redis.role(n, cluster.timing.nodeTimeoutMs).catch(() => 'unreachable'),
    })),
  );
  const masters = roles.filter((r) => r.role === 'master');
  return masters.length === 1 && masters[0]
    ? { host: masters[0].n.host, port: masters[0].n.port }
    : undefined;
}

/** How long recovery waits for a failover that Sentinel has under way to end: Sentinel will finish it anyway. */
const RECOVERY_WAIT_MS = 15_000;

/**
 * Where writes must go after a failure: forward to the node Sentinel promoted, or back to the old master.
 * Once Sentinel runs a failover, it finishes it whatever we do, so going back is only safe when no failover
 * is under way and a majority still names the old master.
 */
async function chooseDirection(
  cluster: ClusterConfig,
  plan: SwitchoverPlan,
  deps: FailoverDeps,
): Promise<{ direction: 'completed-forward' | 'rolled-back'; master: Endpoint }> {
  const deadline = deps.clock.now() + RECOVERY_WAIT_MS;
  for (;;) {
    const decision = decideMajority(
      await observeSentinels(cluster, deps.sentinels),
      cluster.sentinels.length,
    );
    const named = decision.agreed?.master;
    if (named && !sameEndpoint(named, plan.master)) return { direction: 'completed-forward', master: named };
    if (named && !decision.failoverInProgress) {
      const promoted = await findMaster(cluster, deps);
      if (!promoted || sameEndpoint(promoted, plan.master))
        return { direction: 'rolled-back', master: plan.master };
    }
    if (deps.clock.now() > deadline) {
      const current = await findMaster(cluster, deps);
      return current && !sameEndpoint(current, plan.master)
        ? { direction: 'completed-forward', master: current }
        : { direction: 'rolled-back', master: plan.master };
    }
    await deps.clock.sleep(50);
  }
}

/**
 * Leave the cluster writable whatever happened: if Sentinel promoted a node, complete the switch forward;
 * if the old master is still the master, unpause it and route back to it.
 */
async function unblockWrites(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: FailoverDeps,
): Promise<'completed-forward' | 'rolled-back'> {
  const plan = state.plan;
  if (!plan) return 'rolled-back';
  const { nodeTimeoutMs } = cluster.timing;
  const { direction, master } = await chooseDirection(cluster, plan, deps);
  if (direction === 'completed-forward') {
    await deps.redis.replicaOf(plan.master, master, nodeTimeoutMs).catch(() => undefined);
    const others = cluster.nodes.filter((n) => !sameEndpoint(n, master) && !sameEndpoint(n, plan.master));
    await Promise.all(
      others.map((n) => deps.redis.replicaOf(n, master, nodeTimeoutMs).catch(() => undefined)),
    );
  }
  await deps.redis.unpause(plan.master, nodeTimeoutMs).catch(() => undefined);
  // The state a Catch hands over is the one before the failed step: ask each proxy where it stands.
  const away = await proxiesAwayFrom(cluster, master, deps);
  await Promise.all(away.map(({ proxy }) => deps.router.pointMasterAt(proxy, master)));
  return direction;
}

/** 4. Fence the old master: a replica of the new one, then unpaused; its writes now fail with READONLY. */
export async function fenceOldMaster(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: FailoverDeps,
): Promise<SwitchoverState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  const { nodeTimeoutMs } = cluster.timing;
  await timeline.run(
    'fenced',
    async () => {
      await deps.redis.replicaOf(plan.master, plan.target, nodeTimeoutMs);
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
  deps: FailoverDeps,
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

async function restorePriorities(
  cluster: ClusterConfig,
  priorities: Record<string, number>,
  deps: FailoverDeps,
): Promise<string> {
  const restored: string[] = [];
  for (const [id, priority] of Object.entries(priorities)) {
    const node = cluster.nodes.find((n) => n.id === id);
    if (!node) continue;
    await deps.redis.setReplicaPriority(node, priority, cluster.timing.nodeTimeoutMs);
    restored.push(`${id} ${priority}`);
  }
  return restored.length ? restored.join(', ') : 'none changed';
}

/**
 * 6. Restore priorities, persist routing and DNS, claim the new epoch (so the automatic reaction sees it
 * applied), record history, release the lease, notify.
 */
export async function finishSwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: FailoverDeps,
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
    async () => {
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
        { deadlineMs: 10_000 },
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
    },
    (e) => `epoch ${e}`,
  );
  await timeline.run('routing-persisted', () => persistRouting(cluster, plan.target, deps));
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
 * Recover (the Catch of every step): writes unblocked, forward or back; priorities restored; lease released;
 * the failure recorded and told. Idempotent: the critical section already unblocked what it could.
 */
export async function recoverSwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: FailoverDeps,
): Promise<SwitchoverState> {
  const timeline = timelineOf(state, deps);
  const direction = await timeline.run(
    'recovered',
    () => unblockWrites(cluster, state, deps),
    (d) => d,
  );
  // The state is the one before the failed step. If Prepare took the lease and raised priorities but its
  // answer was lost (crash, timeout), the state says neither: the lease's owner says that Prepare ran.
  const lease = await deps.state.lease(cluster.name).catch(() => undefined);
  const holdsLease = state.leaseHeld === true || lease?.owner === state.executionId;
  const priorities =
    state.priorities ??
    (holdsLease && state.plan
      ? Object.fromEntries(replicasToDeprioritize(state.plan).others.map((r) => [r.id, r.priority]))
      : undefined);
  if (priorities) {
    await timeline
      .run(
        'priorities-restored',
        () => restorePriorities(cluster, priorities, deps),
        (d) => d,
      )
      .catch(() => undefined);
  }
  const outcome =
    direction === 'completed-forward'
      ? 'completed-forward'
      : direction === 'rolled-back'
        ? 'rolled-back'
        : 'failed';
  const recovered: SwitchoverState = { ...state, timeline: timeline.steps, outcome };
  await recordSwitchover(cluster, recovered, deps, 'failed', null);
  if (holdsLease) await deps.state.releaseLease(cluster.name, state.executionId);
  return { ...recovered, leaseHeld: false };
}

/**
 * The step that failed. A Catch hands Recover the state the last step that answered returned: Plan leaves the
 * plan, Prepare the lease, Switch the write gap, Fence and Verify their timeline marks.
 */
export function failedStepOf(state: SwitchoverState): SwitchoverAction {
  const marks = new Set(state.timeline.map((s) => s.step));
  if (!state.plan) return 'plan';
  if (!state.leaseHeld) return 'prepare';
  if (state.writeGapMs === undefined) return 'switch';
  if (!marks.has('fenced')) return 'fence';
  if (!marks.has('verified')) return 'verify';
  return 'finish';
}

async function recordSwitchover(
  cluster: ClusterConfig,
  state: SwitchoverState,
  deps: FailoverDeps,
  outcome: 'succeeded' | 'failed',
  epoch: number | null,
): Promise<void> {
  const plan = state.plan;
  const entry: HistoryEntry = {
    id: state.executionId,
    cluster: cluster.name,
    kind: 'switchover',
    epoch,
    oldMaster: plan ? { host: plan.master.host, port: plan.master.port } : null,
    newMaster: plan && outcome === 'succeeded' ? { host: plan.target.host, port: plan.target.port } : null,
    outcome,
    trigger: `${state.input.requestedBy}: ${state.input.reason}`,
    startedAt: state.startedAt,
    durationMs: deps.clock.now() - state.startedAt,
    timeline: state.timeline,
    bytesAtRisk: 0,
    ...(state.writeGapMs !== undefined ? { writeGapMs: state.writeGapMs } : {}),
    ...(state.error
      ? {
          error: [`${state.error.Error} in ${failedStepOf(state)}`, causeMessage(state.error.Cause)]
            .filter(Boolean)
            .join(': ')
            .slice(0, 1000),
        }
      : {}),
  };
  try {
    await deps.state.appendHistory(entry);
  } catch (error) {
    // Finish recorded this execution, then its answer was lost: the record of what it did stands.
    if (!(error instanceof HistoryEntryExistsError)) throw error;
    deps.logger.warn('the switchover was recorded already; that record stands', {
      cluster: cluster.name,
      switchover: state.executionId,
    });
  }
  const summary =
    outcome === 'succeeded'
      ? `switchover of ${cluster.name}: ${plan?.master.id} -> ${plan?.target.id} at epoch ${epoch}, writes blocked ${state.writeGapMs} ms`
      : `switchover of ${cluster.name} FAILED in ${failedStepOf(state)} (${state.error?.Error ?? 'error'}); ${state.outcome}; writes are unblocked`;
  await deps.notifier
    .publish({ cluster: cluster.name, kind: 'switchover', outcome, summary, entry })
    .catch((e: unknown) => deps.logger.error('notification failed', { error: errorMessage(e) }));
}

/**
 * A whole planned switchover in this one call (maintenance runs it between nodes), with the same steps as the
 * switchover workflow: plan, prepare, switch, fence, verify, finish. When a step throws: recover (writes
 * unblocked, priorities restored, lease released, recorded), then rethrow the step's error.
 */
export async function runSwitchoverSteps(
  cluster: ClusterConfig,
  input: SwitchoverInput,
  deps: FailoverDeps,
  execution: { executionId: string } = { executionId: `switchover-${deps.newId()}` },
): Promise<SwitchoverState> {
  const steps = [planSwitchover, prepareSwitchover, switchMaster, fenceOldMaster, verifySwitchover];
  let state: SwitchoverState = {
    input,
    executionId: execution.executionId,
    startedAt: deps.clock.now(),
    timeline: [],
  };
  try {
    for (const step of steps) state = await step(cluster, state, deps);
    return await finishSwitchover(cluster, state, deps);
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    // As a Catch would: the state before the failed step, with the error next to it.
    const failed: SwitchoverState = { ...state, error: { Error: name, Cause: errorMessage(error) } };
    if (state.plan) {
      await recoverSwitchover(cluster, failed, deps).catch((e: unknown) =>
        deps.logger.error('recovering the failed switchover failed; check the cluster', {
          cluster: cluster.name,
          switchover: execution.executionId,
          error: errorMessage(e),
        }),
      );
    }
    throw error;
  }
}
