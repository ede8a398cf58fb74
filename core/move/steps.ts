import { decideMajority, observeSentinels } from '../failover/confirm.ts';
import { type ClusterConfig, type Endpoint, formatEndpoint, sameEndpoint } from '../model/cluster.ts';
import { errorMessage, HaRedisError, InvalidInputError, MoveRefusedError } from '../model/errors.ts';
import { Timeline } from '../model/timeline.ts';
import type { CorePorts } from '../ports.ts';
import { SWITCHOVER_TIMING } from '../switchover/context.ts';
import { runSwitchoverSteps } from '../switchover/steps.ts';
import type { MovePorts } from './ports.ts';
import { forgetRetired, handOverSentinels, liveMaster, settledMaster } from './sentinels.ts';
import { MOVE_PHASES, type MovePhase, type MovePlan, type MoveState } from './state.ts';

/**
 * Moving a service to another set of hosts (the seed's subclusters), as steps of a state machine:
 * 1. plan (read-only) 2. nodes 3. sentinels 4. switchover 5. proxies 6. retire; recover, the Catch of 2-6.
 * Each step looks at what is there and does what is missing: run again, it goes on from where it stopped.
 */

const STEPS = [
  'plan: the service healthy, the target hosts ready (ports free, software installed)',
  'nodes: start the new nodes as replicas of the master; wait for their full sync',
  'sentinels: hand over to the target hosts Sentinels, one pair at a time, a majority naming the master throughout',
  'switchover: the zero-loss switchover onto a new node',
  'proxies: the target hosts HAProxy gets the service frontends, routed to the new master',
  'retire: stop the old nodes; the Sentinels forget them; the service lives on the target set',
];

/** How long the new nodes have for their full sync (a big dataset takes a while). */
export const MOVE_TIMING = { syncDeadlineMs: 300_000, syncPollMs: 200, replicasOnlineMs: 60_000 };
/** How long Plan waits for a failover under way to end before it refuses the move. */
const PLAN_SETTLE_MS = 30_000;

const timelineOf = (state: MoveState, deps: CorePorts): Timeline =>
  Timeline.resume(state.timeline, deps, { cluster: state.input.cluster, move: state.executionId });

function planOf(state: MoveState): MovePlan {
  if (!state.plan) throw new InvalidInputError('move state has no plan; the plan step must run first');
  return state.plan;
}

const done = (state: MoveState, phase: MovePhase): MovePhase[] =>
  state.done.includes(phase) ? state.done : [...state.done, phase];

/** 1. Plan: changes nothing. Refuses an unhealthy service or a target that is not ready, naming why. */
export async function planMove(
  cluster: ClusterConfig,
  state: MoveState,
  deps: CorePorts,
  move: MovePorts,
): Promise<MoveState> {
  const timeline = timelineOf(state, deps);
  const plan = await timeline.run(
    'planned',
    async (): Promise<MovePlan> => {
      const home = await move.hosts.home(cluster.name);
      if (home.set === state.input.toSet) {
        throw new MoveRefusedError(`${cluster.name} lives on set ${home.set} already; nothing to move`);
      }
      const moving = home.moving;
      if (moving && moving.toSet !== state.input.toSet) {
        throw new MoveRefusedError(
          `a move of ${cluster.name} to set ${moving.toSet} stopped half way; finish it first: ha-redis move --cluster ${cluster.name} --to-set ${moving.toSet}`,
        );
      }
      if (moving?.holderAlive && moving.executionId !== state.executionId) {
        throw new MoveRefusedError(
          `move ${moving.executionId} of ${cluster.name} is running; wait for it to end`,
        );
      }
      // A failover that just ended (a switchover's, the move's own before it stopped) is still reconfiguring
      // the replicas for a few seconds: wait for it, then look.
      await settledMaster(cluster, cluster.sentinels, deps, move, PLAN_SETTLE_MS).catch(() => undefined);
      const decision = decideMajority(
        await observeSentinels(cluster, deps.sentinels),
        cluster.sentinels.length,
      );
      if (!decision.agreed) {
        throw new MoveRefusedError(
          `no majority of ${cluster.name}'s Sentinels names one master (${decision.answered} of ${cluster.sentinels.length} answered); nothing was changed`,
        );
      }
      if (decision.failoverInProgress) {
        throw new MoveRefusedError(`a failover of ${cluster.name} is under way; move it when it is over`);
      }
      const masterAt = decision.agreed.master;
      const master = home.nodes.find((n) => sameEndpoint(n, masterAt));
      if (!master) {
        throw new MoveRefusedError(
          `the master the Sentinels name, ${formatEndpoint(masterAt)}, is none of ${cluster.name}'s nodes`,
        );
      }
      const info = await deps.redis.replication(masterAt, cluster.timing.nodeTimeoutMs);
      if (info.role !== 'master') {
        throw new MoveRefusedError(
          `${master.id} (${formatEndpoint(masterAt)}) answers ROLE ${info.role}, not master`,
        );
      }
      const lease = await deps.state.lease(cluster.name);
      if (lease && lease.until >= deps.clock.now()) {
        throw new MoveRefusedError(
          `${lease.purpose} ${lease.owner} holds ${cluster.name}; move it when that is over`,
        );
      }
      // A move run again goes on with the old members its first run recorded (some have left the definition).
      const here = (m: { hostId: string }) => m.hostId.startsWith(`${state.input.toSet}/`);
      const oldNodes = moving?.oldNodes ?? home.nodes.filter((n) => !here(n));
      const oldSentinels = moving?.oldSentinels ?? home.sentinels.filter((x) => !here(x));
      const placement = await move.hosts.placement(cluster.name, state.input.toSet, {
        nodes: oldNodes,
        sentinels: oldSentinels,
      });
      const target = placement.nodes[0];
      if (!target)
        throw new MoveRefusedError(`set ${state.input.toSet} has no host for a node of ${cluster.name}`);
      return {
        fromSet: home.set,
        toSet: state.input.toSet,
        master,
        oldNodes,
        oldSentinels,
        oldProxies: home.proxies.filter((p) => !placement.proxies.some((q) => q.id === p.id)),
        newNodes: placement.nodes,
        newSentinels: placement.sentinels,
        newProxies: placement.proxies,
        target: target.id,
        expectedWriteGapMs: SWITCHOVER_TIMING.expectedWriteGapMs,
        steps: STEPS,
      };
    },
    (p) =>
      `${p.fromSet} -> ${p.toSet}: nodes ${p.newNodes.map((n) => `${n.id}@${n.hostId}:${n.port}`).join(', ')}; Sentinels ${p.newSentinels.map((s) => `${s.id}@${s.hostId}:${s.port}${s.shared ? ' (shared)' : ''}`).join(', ')}`,
  );
  return {
    ...state,
    plan,
    timeline: timeline.steps,
    ...(state.input.dryRun ? { outcome: 'planned' as const } : {}),
  };
}

/** 2. Nodes: each new node runs as a replica of the master, and the master lists it online and caught up. */
export async function startNewNodes(
  cluster: ClusterConfig,
  state: MoveState,
  deps: CorePorts,
  move: MovePorts,
): Promise<MoveState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  await timeline.run(
    'nodes-synced',
    async () => {
      await move.hosts.begin(cluster.name, {
        toSet: plan.toSet,
        executionId: state.executionId,
        oldNodes: plan.oldNodes,
        oldSentinels: plan.oldSentinels,
      });
      const master = await settledMaster(cluster, cluster.sentinels, deps, move);
      const started: string[] = [];
      for (const node of plan.newNodes) {
        if ((await move.hosts.startNode(cluster.name, node, master)) === 'started') started.push(node.id);
      }
      await move.hosts.addMembers(cluster.name, { nodes: plan.newNodes });
      const until = deps.clock.now() + MOVE_TIMING.syncDeadlineMs;
      for (;;) {
        const info = await deps.redis.replication(master, cluster.timing.nodeTimeoutMs);
        // The master itself (a move run again after its switchover) is no replica of its own.
        const behind = plan.newNodes.filter((n) => {
          if (sameEndpoint(n, master)) return false;
          const link = info.replicas?.find((r) => sameEndpoint(r.address, n));
          return link?.state !== 'online';
        });
        if (behind.length === 0) return started;
        if (deps.clock.now() > until) {
          throw new HaRedisError(
            `new nodes ${behind.map((n) => n.id).join(', ')} not in sync with ${formatEndpoint(master)} within ${MOVE_TIMING.syncDeadlineMs} ms`,
          );
        }
        move.signal?.throwIfAborted();
        await deps.clock.sleep(MOVE_TIMING.syncPollMs);
      }
    },
    (started) =>
      `${started.length ? `started ${started.join(', ')}; ` : ''}${plan.newNodes.length} new replicas online`,
  );
  return { ...state, done: done(state, 'nodes'), timeline: timeline.steps };
}

/** 3. Sentinels: the handover (sentinels.ts). */
export async function handOver(
  cluster: ClusterConfig,
  state: MoveState,
  deps: CorePorts,
  move: MovePorts,
): Promise<MoveState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  await timeline.run(
    'sentinels-handed-over',
    () => handOverSentinels(cluster, plan, deps, move),
    (did) => (did.length ? did.join('; ') : 'nothing left to hand over'),
  );
  return { ...state, done: done(state, 'sentinels'), timeline: timeline.steps };
}

/** 4. Switchover onto a new node, with the switchover's own steps (which recover by themselves when one fails). */
export async function switchToNewHosts(
  cluster: ClusterConfig,
  state: MoveState,
  deps: CorePorts,
  move: MovePorts,
): Promise<MoveState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  const gap = await timeline.run(
    'switched-over',
    async (): Promise<number | undefined> => {
      const master = await liveMaster(cluster, cluster.sentinels, deps, move);
      // A failover during the move may have promoted a new node already: nothing to switch.
      if (plan.newNodes.some((n) => sameEndpoint(n, master))) return undefined;
      await replicasOnline(cluster, master, deps, move);
      const switched = await runSwitchoverSteps(
        cluster,
        {
          cluster: cluster.name,
          target: plan.target,
          reason: `move to ${plan.toSet}: ${state.input.reason}`,
          requestedBy: state.input.requestedBy,
          dryRun: false,
          maxLagBytes: 1_048_576,
        },
        deps,
        { executionId: `${state.executionId}-switchover` },
      );
      return switched.writeGapMs;
    },
    (g) => (g === undefined ? 'the master is on the new hosts already' : `write gap ${g} ms`),
  );
  return {
    ...state,
    done: done(state, 'switchover'),
    ...(gap === undefined ? {} : { writeGapMs: gap }),
    timeline: timeline.steps,
  };
}

/**
 * The switchover asks for every replica online and answering as a replica. One that was just restarted (the old
 * master of a failover during the move, brought back) is still syncing or loading: give it
 * MOVE_TIMING.replicasOnlineMs, then let the switchover judge.
 */
async function replicasOnline(
  cluster: ClusterConfig,
  master: Endpoint,
  deps: CorePorts,
  move: MovePorts,
): Promise<void> {
  const until = deps.clock.now() + MOVE_TIMING.replicasOnlineMs;
  const replicas = cluster.nodes.filter((n) => !sameEndpoint(n, master));
  for (;;) {
    const info = await deps.redis.replication(master, cluster.timing.nodeTimeoutMs);
    const online = (info.replicas ?? []).filter((r) => r.state === 'online');
    if (replicas.every((n) => online.some((r) => sameEndpoint(r.address, n)))) {
      // And each answers as a replica (a node that just loaded its dataset may not answer yet).
      const roles = await Promise.all(
        replicas.map((n) => deps.redis.role(n, cluster.timing.nodeTimeoutMs).catch(() => 'unknown')),
      );
      if (roles.every((r) => r === 'slave')) return;
    }
    // A replica that is down (its port refuses) will not come online by waiting: the switchover judges it now.
    const missing = replicas.filter((n) => !online.some((r) => sameEndpoint(r.address, n)));
    const probes = await Promise.all(
      missing.map((n) => deps.redis.probeConnect(n, cluster.timing.nodeTimeoutMs)),
    );
    if (probes.includes('refused')) return;
    if (deps.clock.now() > until) return;
    move.signal?.throwIfAborted();
    await deps.clock.sleep(MOVE_TIMING.syncPollMs);
  }
}

/** The master the Sentinels name now, and the epoch it was applied at. */
async function currentMaster(
  cluster: ClusterConfig,
  deps: CorePorts,
  move: MovePorts,
): Promise<{ master: Endpoint; epoch: number }> {
  const master = await settledMaster(cluster, cluster.sentinels, deps, move);
  const applied = await deps.state.appliedEpoch(cluster.name);
  return { master, epoch: applied?.epoch ?? 0 };
}

/** 5. Proxies: the target hosts' HAProxy serves the service, routed to the master; the old ones keep routing. */
export async function addNewProxies(
  cluster: ClusterConfig,
  state: MoveState,
  deps: CorePorts,
  move: MovePorts,
): Promise<MoveState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  await timeline.run(
    'proxies-added',
    async () => {
      const { master, epoch } = await currentMaster(cluster, deps, move);
      for (const proxy of plan.newProxies) {
        await move.hosts.addFrontends(cluster.name, proxy, master, epoch);
      }
      await move.hosts.addMembers(cluster.name, { proxies: plan.newProxies });
      return master;
    },
    (m) =>
      `${plan.newProxies.map((p) => `${p.id}@${p.hostId}:${p.plainPort}`).join(', ')} -> ${formatEndpoint(m)}`,
  );
  return { ...state, done: done(state, 'proxies'), timeline: timeline.steps };
}

/** 6. Retire: the old nodes leave the definition and stop; the Sentinels forget them; the service has moved. */
export async function retireOldHome(
  cluster: ClusterConfig,
  state: MoveState,
  deps: CorePorts,
  move: MovePorts,
): Promise<MoveState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  const retired = await timeline.run(
    'retired',
    async () => {
      const { master } = await currentMaster(cluster, deps, move);
      const onOld = plan.oldNodes.find((n) => sameEndpoint(n, master));
      if (onOld) {
        throw new HaRedisError(
          `the master is ${onOld.id} on the old hosts again (a failover during the move); nothing retired: run the move again`,
        );
      }
      // Every old node the move began with, whether or not an earlier run took it out of the definition already.
      await move.hosts.removeMembers(cluster.name, { nodes: plan.oldNodes.map((n) => n.id) });
      let stopped = 0;
      for (const n of plan.oldNodes) {
        if ((await move.hosts.stopMember(cluster.name, 'node', n.id)) === 'stopped') stopped += 1;
      }
      await forgetRetired(cluster, deps, move);
      await move.hosts.moved(cluster.name, plan.toSet);
      return { count: stopped, master };
    },
    ({ count: n }) =>
      `${n} old nodes stopped (of ${plan.oldNodes.length}); the Sentinels forgot them; ${cluster.name} lives on ${plan.toSet}`,
  );
  const finished: MoveState = {
    ...state,
    done: done(state, 'retire'),
    outcome: 'succeeded',
    timeline: timeline.steps,
  };
  await record(cluster, finished, deps, plan, retired.master);
  return finished;
}

async function record(
  cluster: ClusterConfig,
  state: MoveState,
  deps: CorePorts,
  plan: MovePlan,
  newMaster: Endpoint | null = null,
): Promise<void> {
  const startedAt =
    typeof state.startedAt === 'number' ? state.startedAt : Date.parse(String(state.startedAt));
  const ok = state.outcome === 'succeeded';
  const entry = {
    id: state.executionId,
    cluster: cluster.name,
    kind: 'move' as const,
    epoch: null,
    oldMaster: { host: plan.master.host, port: plan.master.port },
    newMaster,
    outcome: ok ? ('succeeded' as const) : ('failed' as const),
    trigger: `move ${plan.fromSet} -> ${plan.toSet} by ${state.input.requestedBy}: ${state.input.reason}`,
    startedAt,
    durationMs: deps.clock.now() - startedAt,
    timeline: state.timeline,
    bytesAtRisk: null,
    ...(state.writeGapMs === undefined ? {} : { writeGapMs: state.writeGapMs }),
    ...(state.error ? { error: `${state.error.Error}: ${state.error.Cause ?? ''}` } : {}),
  };
  await deps.state
    .appendHistory(entry)
    .catch((error: unknown) =>
      deps.logger.warn('move not recorded in history', { cluster: cluster.name, error: errorMessage(error) }),
    );
  const summary = ok
    ? `${cluster.name} moved from ${plan.fromSet} to ${plan.toSet}${state.writeGapMs === undefined ? '' : `; writes blocked ${state.writeGapMs} ms`}`
    : `the move of ${cluster.name} to ${plan.toSet} stopped after ${state.done.at(-1) ?? 'plan'}: ${(state.recovery ?? []).join(' ')}`;
  await deps.notifier
    .publish({ cluster: cluster.name, kind: 'move', outcome: entry.outcome, summary, entry })
    .catch((error: unknown) =>
      deps.logger.warn('move not notified', { cluster: cluster.name, error: errorMessage(error) }),
    );
}

/**
 * Recover, the Catch of every step after Plan. Each step keeps the service writable and a majority of its
 * Sentinels naming the master at every point where it can stop; the switchover recovers its own write block.
 * Recover checks that (a master a majority names, that takes a write; one that died is given Sentinel's time to
 * fail over), says what was done and what was not, records the move as stopped, and leaves the rest in place:
 * the new nodes are replicas that cost nothing, and running the move again goes on from there. When the check
 * fails it throws, and the execution ends MoveFailed with what it found.
 */
export async function recoverMove(
  cluster: ClusterConfig,
  state: MoveState,
  deps: CorePorts,
  move: MovePorts,
): Promise<MoveState> {
  const plan = planOf(state);
  const said: string[] = [];
  const failed = state.error ? `${state.error.Error}: ${state.error.Cause ?? ''}` : 'a step failed';
  said.push(
    `done: ${state.done.length ? state.done.join(', ') : 'nothing'}; not done: ${MOVE_PHASES.filter((p) => !state.done.includes(p)).join(', ')}.`,
  );
  const home = await move.hosts.home(cluster.name);
  // A master that died in the step is Sentinel's to fail over: give it that time, then look.
  const live = await liveMaster(cluster, cluster.sentinels, deps, move).catch(() => undefined);
  const decision = decideMajority(await observeSentinels(cluster, deps.sentinels), cluster.sentinels.length);
  const agreed = decision.agreed;
  const writes = live
    ? await deps.redis.probeWrite(live, cluster.timing.nodeTimeoutMs).catch(() => 'error')
    : 'error';
  const healthy = agreed !== undefined && sameEndpoint(agreed.master, live) && writes === 'accepted';
  if (agreed) {
    const master = home.nodes.find((n) => sameEndpoint(n, agreed.master));
    said.push(
      `${agreed.votes} of ${cluster.sentinels.length} Sentinels (${home.sentinels.map((s) => s.id).join(', ')}) name the master ${master?.id ?? ''} ${formatEndpoint(agreed.master)}, which ${writes === 'accepted' ? 'takes writes' : `does not take writes (${writes})`}.`,
    );
  } else {
    said.push(
      `no majority of the ${cluster.sentinels.length} Sentinels names a master now (${decision.answered} answered): look at \`ha-redis status --cluster ${cluster.name}\`.`,
    );
  }
  said.push(
    healthy
      ? `${cluster.name} has nodes ${home.nodes.map((n) => n.id).join(', ')}; run \`ha-redis move --cluster ${cluster.name} --to-set ${plan.toSet}\` again to go on from here.`
      : `${cluster.name} is not writable with a Sentinel majority: run \`ha-redis status --cluster ${cluster.name}\` now, before the move again.`,
  );
  const stopped: MoveState = { ...state, outcome: 'stopped', recovery: said };
  deps.logger.warn('move stopped', { cluster: cluster.name, move: state.executionId, error: failed, said });
  await record(cluster, stopped, deps, plan);
  // Not writable with a majority: the execution ends MoveFailed, not MoveStopped, and says why.
  if (!healthy) throw new HaRedisError(said.join(' '));
  return stopped;
}
