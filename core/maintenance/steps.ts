import { decideMajority, observeSentinels } from '../failover/confirm.ts';
import { proxiesAwayFrom, verifyThroughProxies } from '../failover/react.ts';
import {
  type ClusterConfig,
  type Endpoint,
  formatEndpoint,
  nodeLabel,
  sameEndpoint,
} from '../model/cluster.ts';
import {
  causeMessage,
  errorMessage,
  InvalidInputError,
  MaintenanceRefusedError,
  NodeNotBackError,
  NodeNotBackYetError,
  UnreachableError,
} from '../model/errors.ts';
import { Timeline } from '../model/timeline.ts';
import type { FailoverDeps, HistoryEntry, ReplicationInfo } from '../ports.ts';
import { observeCluster } from '../status/observe.ts';
import { buildStatusReport } from '../status/report.ts';
import type { SwitchoverInput } from '../switchover/state.ts';
import { asNode, runSwitchoverSteps } from '../switchover/steps.ts';
import type { MaintenanceInput, MaintenancePlan, MaintenanceState, NodeRef } from './state.ts';

/**
 * Rolling maintenance of a cluster, one node at a time, as steps of a state machine:
 * 1. plan: refuse when paused, unhealthy or leased; record the master and the replicas in order
 * 2. next: the next replica; then a switchover away from the master; then the old master; then the switchback
 * 3. act: the allow-listed action on the node (NodeOps `maintenance-action`)
 * 4. wait: until the node is a replica of the master, in sync, and healthy for every Sentinel
 * 5. finish: record and notify; recover (any failure): leave the cluster writable, record what was and was not done
 */

/** Time limits of a maintenance run, in milliseconds. */
export const MAINTENANCE_TIMING = {
  /** One wait call polls for at most this long, then the state machine retries it (Lambda and Task bounds). */
  waitCallBudgetMs: 25_000,
  waitPollMs: 1000,
  /** A rebooting host goes down a minute after the action answers (`shutdown -r +1`): wait that long to see it go. */
  rebootDownDeadlineMs: 150_000,
} as const;

/** Sentinel flags that mean a replica is not healthy. */
const UNHEALTHY_FLAGS = ['s_down', 'o_down', 'disconnected'];

const timelineOf = (state: MaintenanceState, deps: FailoverDeps): Timeline =>
  Timeline.resume(state.timeline, deps, { cluster: state.input.cluster, maintenance: state.executionId });

function planOf(state: MaintenanceState): MaintenancePlan & { current: NodeRef } {
  if (!state.plan || !state.master) {
    throw new InvalidInputError('maintenance state has no plan; the plan step must run first');
  }
  return { ...state.plan, current: state.master };
}

const refOf: (cluster: ClusterConfig, e: Endpoint) => NodeRef = asNode;
const endpoint = (n: NodeRef): Endpoint => ({ host: n.host, port: n.port });

/** What keeps `nodes` from counting as healthy replicas for every Sentinel (one line per problem). */
async function sentinelProblems(
  cluster: ClusterConfig,
  nodes: readonly NodeRef[],
  deps: FailoverDeps,
): Promise<string[]> {
  const views = await Promise.all(
    cluster.sentinels.map(async (s) => ({
      s,
      view: await deps.sentinels
        .replicasView(s, cluster.masterName, cluster.timing.sentinelTimeoutMs)
        .catch((e: unknown) => errorMessage(e)),
    })),
  );
  return views.flatMap(({ s, view }) => {
    if (typeof view === 'string') return [`Sentinel ${formatEndpoint(s)} did not answer: ${view}`];
    return nodes.flatMap((n) => {
      const seen = view.find((v) => sameEndpoint(v.address, n));
      if (!seen) return [`Sentinel ${formatEndpoint(s)} does not list ${n.id} as a replica`];
      const bad = seen.flags.filter((f) => UNHEALTHY_FLAGS.includes(f));
      return bad.length ? [`Sentinel ${formatEndpoint(s)} flags ${n.id} ${bad.join(',')}`] : [];
    });
  });
}

/** What keeps `node` from being back: reachable, a replica of `master` with its link up, in sync, healthy for every Sentinel. */
export async function nodeBackProblems(
  cluster: ClusterConfig,
  node: NodeRef,
  master: NodeRef,
  maxLagBytes: number,
  deps: FailoverDeps,
): Promise<string[]> {
  const { nodeTimeoutMs } = cluster.timing;
  let info: ReplicationInfo;
  try {
    info = await deps.redis.replication(endpoint(node), nodeTimeoutMs);
  } catch (error) {
    return [`${node.id} does not answer: ${errorMessage(error)}`];
  }
  if (info.role !== 'slave') return [`${node.id} answers ROLE ${info.role}, not slave`];
  if (!sameEndpoint(info.master, master)) {
    return [
      `${node.id} replicates from ${info.master ? nodeLabel(cluster, info.master) : 'nothing'}, not from the master ${master.id}`,
    ];
  }
  const problems: string[] = [];
  if (info.linkUp === false) problems.push(`${node.id} has its link to ${master.id} down`);
  const masterInfo = await deps.redis.replication(endpoint(master), nodeTimeoutMs).catch(() => undefined);
  if (!masterInfo) problems.push(`the master ${master.id} does not answer`);
  else if (masterInfo.offset - info.offset > maxLagBytes) {
    problems.push(
      `${node.id} is ${masterInfo.offset - info.offset} bytes behind ${master.id} (limit ${maxLagBytes})`,
    );
  }
  problems.push(...(await sentinelProblems(cluster, [node], deps)));
  return problems;
}

/** Is the address on the drained host (an IP or name), or is it the drained node (`host:port`)? */
export const onHost = (address: Endpoint, host: string): boolean =>
  host.includes(':') ? formatEndpoint(address) === host : address.host === host;

/** The replica a drain moves the master to: the first one that is a reachable replica off the host. */
export function drainTarget<
  N extends { id: string; address: Endpoint; isMaster?: boolean; reachable?: boolean; role?: string },
>(nodes: readonly N[], host: string): N | undefined {
  return nodes.find(
    (n) => !n.isMaster && n.reachable !== false && n.role === 'slave' && !onHost(n.address, host),
  );
}

/** 1. Refuse when maintenance is paused, a lease is held or the cluster is not healthy; else plan the order. Changes nothing. */
export async function planMaintenance(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: FailoverDeps,
): Promise<MaintenanceState> {
  const timeline = timelineOf(state, deps);
  const plan = await timeline.run(
    'planned',
    async (): Promise<MaintenancePlan> => {
      const mode = await deps.state.maintenanceMode(cluster.name);
      if (mode?.paused) {
        throw new MaintenanceRefusedError(
          `maintenance of ${cluster.name} is paused by ${mode.by} (${mode.reason}); resume it first`,
        );
      }
      const lease = await deps.state.lease(cluster.name);
      if (lease && lease.until > deps.clock.now()) {
        throw new MaintenanceRefusedError(
          `${lease.purpose} ${lease.owner} holds cluster ${cluster.name}; retry when it ends`,
        );
      }
      const report = buildStatusReport(await observeCluster(cluster, deps), {
        maxLagBytes: state.input.maxLagBytes,
      });
      const reasons = [...report.reasons];
      if (report.majority.failoverInProgress) reasons.push('a failover is in progress');
      const replicas = report.nodes
        .filter((n) => !n.isMaster)
        .map((n) => ({ id: n.id, host: n.address.host, port: n.address.port }));
      if (report.healthy) reasons.push(...(await sentinelProblems(cluster, replicas, deps)));
      if (reasons.length) {
        throw new MaintenanceRefusedError(
          `cluster ${cluster.name} is not healthy: ${reasons.join('; ')}; retry when it is`,
        );
      }
      if (!report.master) throw new MaintenanceRefusedError(`cluster ${cluster.name} has no master`);
      const drain = state.input.drainHost;
      if (drain) {
        // A drain acts on no node: it only moves the master off the host, when it is there.
        if (onHost(report.master.address, drain) && !drainTarget(report.nodes, drain)) {
          throw new MaintenanceRefusedError(
            `cluster ${cluster.name}: no reachable replica off ${drain} to move the master to`,
          );
        }
        return { master: refOf(cluster, report.master.address), replicas: [] };
      }
      if (!replicas.length) {
        throw new MaintenanceRefusedError(
          `cluster ${cluster.name} has no replica to switch over to; maintenance needs one`,
        );
      }
      return { master: refOf(cluster, report.master.address), replicas };
    },
    (p) =>
      state.input.drainHost
        ? `drain ${state.input.drainHost}: the master ${p.master.id} ${onHost(p.master, state.input.drainHost) ? 'moves' : 'is not on it'}`
        : `${state.input.action}: ${p.replicas.map((r) => r.id).join(', ')}, then ${p.master.id}${state.input.switchback ? ' and back' : ''}`,
  );
  return {
    ...state,
    plan,
    master: plan.master,
    done: [],
    switchovers: [],
    phase: 'planned',
    timeline: timeline.steps,
  };
}

/** 2. Choose what comes next: each replica, the switchover, the old master, the switchback, done. */
export async function nextMaintenanceStep(
  _cluster: ClusterConfig,
  state: MaintenanceState,
  deps: FailoverDeps,
): Promise<MaintenanceState> {
  const plan = planOf(state);
  const { current: _, ...rest } = state;
  const replica = plan.replicas.find((r) => !state.done.includes(r.id));
  const onNode = (node: NodeRef): MaintenanceState => ({
    ...rest,
    phase: 'node',
    current: { node, startedAt: deps.clock.now() },
  });
  if (replica) return onNode(replica);
  const drain = state.input.drainHost;
  if (drain) {
    const moved = state.switchovers.some((s) => s.kind === 'switchover');
    return { ...rest, phase: !moved && onHost(plan.master, drain) ? 'switchover' : 'done' };
  }
  if (!state.switchovers.some((s) => s.kind === 'switchover')) return { ...rest, phase: 'switchover' };
  if (!state.done.includes(plan.master.id)) return onNode(plan.master);
  if (state.input.switchback && !state.switchovers.some((s) => s.kind === 'switchback')) {
    return { ...rest, phase: 'switchback' };
  }
  return { ...rest, phase: 'done' };
}

function currentOf(state: MaintenanceState): NonNullable<MaintenanceState['current']> {
  if (!state.current)
    throw new InvalidInputError('maintenance state has no current node; next must run first');
  return state.current;
}

/** 3. Run the maintenance action on the current node (never on the master). */
export async function actOnNode(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: FailoverDeps,
): Promise<MaintenanceState> {
  const current = currentOf(state);
  const node = cluster.nodes.find((n) => n.id === current.node.id);
  if (!node) throw new InvalidInputError(`node ${current.node.id} is not in cluster ${cluster.name}`);
  const { action } = state.input;
  const { nodeTimeoutMs } = cluster.timing;
  const timeline = timelineOf(state, deps);
  await timeline.run(
    `${action} ${node.id}`,
    async () => {
      const role = await deps.redis.role(node, nodeTimeoutMs);
      if (role === 'master') {
        throw new MaintenanceRefusedError(
          `${node.id} answers ROLE master; maintenance acts on replicas only. Check the cluster`,
        );
      }
      const { output } = await deps.nodeOps.run({ document: 'maintenance-action', node, action });
      return output.trim().split('\n').at(-1) ?? '';
    },
    (d) => d,
  );
  if (action === 'reboot') {
    // The reboot comes after the action answered: the node is back only once it has been away.
    await timeline.run(`${node.id} went down`, async () => {
      const deadline = deps.clock.now() + MAINTENANCE_TIMING.rebootDownDeadlineMs;
      for (;;) {
        const gone = await deps.redis.role(node, nodeTimeoutMs).then(
          () => false,
          () => true,
        );
        if (gone) return;
        if (deps.clock.now() > deadline) {
          throw new UnreachableError(
            `${node.id} still answers ${MAINTENANCE_TIMING.rebootDownDeadlineMs} ms after its reboot was scheduled; check the host`,
          );
        }
        await deps.clock.sleep(MAINTENANCE_TIMING.waitPollMs);
      }
    });
  }
  return { ...state, current: { ...current, actedAt: deps.clock.now() }, timeline: timeline.steps };
}

/**
 * 4. Wait until the current node is back, for at most one call budget: NodeNotBackYetError asks the state
 * machine to call again; past the node's deadline (from its action), NodeNotBackError fails the run.
 */
export async function waitUntilNodeBack(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: FailoverDeps,
): Promise<MaintenanceState> {
  const { current: master } = planOf(state);
  const current = currentOf(state);
  const { node } = current;
  const actedAt = current.actedAt ?? current.startedAt;
  const deadline = actedAt + state.input.nodeBackTimeoutMs;
  const callEnd = Math.min(deps.clock.now() + MAINTENANCE_TIMING.waitCallBudgetMs, deadline);
  for (;;) {
    const problems = await nodeBackProblems(cluster, node, master, state.input.maxLagBytes, deps);
    const now = deps.clock.now();
    if (problems.length === 0) {
      const timeline = timelineOf(state, deps);
      timeline.steps.push({
        step: `${node.id} back`,
        at: actedAt,
        durationMs: now - actedAt,
        status: 'ok',
        detail: `replica of ${master.id}, in sync, healthy for every Sentinel`,
      });
      deps.logger.info(`${node.id} is back`, { cluster: cluster.name, maintenance: state.executionId });
      const { current: _, ...rest } = state;
      return { ...rest, done: [...state.done, node.id], timeline: timeline.steps };
    }
    if (now >= deadline) {
      throw new NodeNotBackError(
        `${node.id} is not back ${now - actedAt} ms after its ${state.input.action} (limit ${state.input.nodeBackTimeoutMs}): ${problems.join('; ')}. The run stops; check the node`,
      );
    }
    if (now >= callEnd) throw new NodeNotBackYetError(`${node.id} is not back yet: ${problems.join('; ')}`);
    await deps.clock.sleep(MAINTENANCE_TIMING.waitPollMs);
  }
}

/** A drain's target, asked of the cluster as it is now (the plan may be minutes old). */
async function drainTargetNow(cluster: ClusterConfig, host: string, deps: FailoverDeps): Promise<string> {
  const report = buildStatusReport(await observeCluster(cluster, deps), {
    maxLagBytes: Number.MAX_SAFE_INTEGER,
  });
  const target = drainTarget(report.nodes, host);
  if (!target) {
    throw new MaintenanceRefusedError(
      `cluster ${cluster.name}: no reachable replica off ${host} to move the master to`,
    );
  }
  return target.id;
}

async function switchAway(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: FailoverDeps,
  kind: 'switchover' | 'switchback',
): Promise<MaintenanceState> {
  const plan = planOf(state);
  const { input } = state;
  const asked =
    kind === 'switchback'
      ? plan.master.id
      : input.drainHost
        ? await drainTargetNow(cluster, input.drainHost, deps)
        : undefined;
  const request: SwitchoverInput = {
    cluster: cluster.name,
    ...(asked ? { target: asked } : {}),
    reason: `${kind} of maintenance ${state.executionId} (${input.action}): ${input.reason}`,
    requestedBy: input.requestedBy,
    dryRun: false,
    maxLagBytes: input.maxLagBytes,
  };
  const executionId = `${state.executionId}-${kind}`;
  const timeline = timelineOf(state, deps);
  const done = await timeline.run(
    kind === 'switchover' ? 'switched-over' : 'switched-back',
    () => runSwitchoverSteps(cluster, request, deps, { executionId }),
    (s) =>
      `${s.plan?.master.id} -> ${s.plan?.target.id}, writes blocked ${s.writeGapMs ?? '?'} ms (${executionId})`,
  );
  if (!done.plan) throw new InvalidInputError(`switchover ${executionId} ended without a plan`);
  const target = done.plan.target;
  return {
    ...state,
    master: target,
    switchovers: [
      ...state.switchovers,
      {
        kind,
        executionId,
        from: done.plan.master.id,
        to: target.id,
        ...(done.writeGapMs !== undefined ? { writeGapMs: done.writeGapMs } : {}),
      },
    ],
    timeline: timeline.steps,
  };
}

/** 5a. A planned switchover away from the master (the switchover workflow's own steps, its own lease). */
export const switchoverForMaintenance = (
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: FailoverDeps,
) => switchAway(cluster, state, deps, 'switchover');

/** 5b. The switchback: a planned switchover to the master the run started with. */
export const switchbackForMaintenance = (
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: FailoverDeps,
) => switchAway(cluster, state, deps, 'switchback');

/** The run's items in order: each replica, the switchover, the old master, the switchback. */
function sequenceOf(state: MaintenanceState): string[] {
  if (!state.plan) return [];
  const { replicas, master } = state.plan;
  return [
    ...replicas.map((r) => r.id),
    'switchover',
    master.id,
    ...(state.input.switchback ? ['switchback'] : []),
  ];
}

const triggerOf = (input: MaintenanceInput): string =>
  `${input.requestedBy}: ${input.reason}${input.scheduledAt !== undefined ? ` (scheduled ${new Date(input.scheduledAt).toISOString()})` : ''}`;

function historyOf(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: FailoverDeps,
  outcome: 'succeeded' | 'failed',
  error?: string,
): HistoryEntry {
  const gaps = state.switchovers.flatMap((s) => (s.writeGapMs === undefined ? [] : [s.writeGapMs]));
  return {
    id: state.executionId,
    cluster: cluster.name,
    kind: 'maintenance',
    epoch: null,
    oldMaster: state.plan ? endpoint(state.plan.master) : null,
    newMaster: state.master ? endpoint(state.master) : null,
    outcome,
    trigger: triggerOf(state.input),
    startedAt: state.startedAt,
    durationMs: deps.clock.now() - state.startedAt,
    timeline: state.timeline,
    bytesAtRisk: 0,
    ...(gaps.length ? { writeGapMs: Math.max(...gaps) } : {}),
    ...(error ? { error: error.slice(0, 1000) } : {}),
  };
}

async function recordAndNotify(deps: FailoverDeps, entry: HistoryEntry, summary: string): Promise<void> {
  await deps.state.appendHistory(entry);
  await deps.notifier
    .publish({ cluster: entry.cluster, kind: 'maintenance', outcome: entry.outcome, summary, entry })
    .catch((e: unknown) => deps.logger.error('notification failed', { error: errorMessage(e) }));
}

const switchoversText = (state: MaintenanceState): string =>
  state.switchovers
    .map(
      (s) =>
        `${s.kind} ${s.from} -> ${s.to}${s.writeGapMs !== undefined ? ` (writes blocked ${s.writeGapMs} ms)` : ''}`,
    )
    .join('; ');

/** 6. Record the run (kind maintenance) and tell people what was done. */
export async function finishMaintenance(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: FailoverDeps,
): Promise<MaintenanceState> {
  const plan = planOf(state);
  const timeline = timelineOf(state, deps);
  timeline.mark('finished', deps.clock.now(), `${state.done.length} nodes; master ${plan.current.id}`);
  const done: MaintenanceState = {
    ...state,
    phase: 'finished',
    outcome: 'succeeded',
    timeline: timeline.steps,
  };
  const summary = `maintenance (${state.input.action}) of ${cluster.name} succeeded: ${state.done.join(', ')} done; ${switchoversText(state)}; master now ${plan.current.id}`;
  await recordAndNotify(deps, historyOf(cluster, done, deps, 'succeeded'), summary);
  return done;
}

/** What the run did, where it stopped, and what it never started (node ids, `switchover`, `switchback`). */
export function progressOf(state: MaintenanceState): {
  done: string[];
  failedAt?: string;
  notStarted: string[];
} {
  const finished = new Set([...state.done, ...state.switchovers.map((s) => s.kind)]);
  const failedAt =
    state.phase === 'switchover' || state.phase === 'switchback' ? state.phase : state.current?.node.id;
  const sequence = sequenceOf(state);
  return {
    done: sequence.filter((item) => finished.has(item)),
    ...(failedAt ? { failedAt } : {}),
    notStarted: sequence.filter((item) => !finished.has(item) && item !== failedAt),
  };
}

/**
 * Make sure writes reach the master: the one a Sentinel majority names; proxies that route elsewhere (or are
 * blocked) are pointed at it, unless another operation holds the lease; then a canary through every listener.
 */
async function ensureWritable(cluster: ClusterConfig, deps: FailoverDeps): Promise<string> {
  const decision = decideMajority(await observeSentinels(cluster, deps.sentinels), cluster.sentinels.length);
  const master = decision.agreed?.master;
  if (!master) throw new UnreachableError('no Sentinel majority names a master; check the cluster now');
  const lease = await deps.state.lease(cluster.name);
  if (!lease || lease.until <= deps.clock.now()) {
    const away = await proxiesAwayFrom(cluster, master, deps);
    await Promise.all(away.map(({ proxy }) => deps.router.pointMasterAt(proxy, master)));
  }
  return verifyThroughProxies(cluster, master, deps);
}

/**
 * 7. Recover (the Catch of every step after plan): leave the cluster writable (a failed switchover has recovered
 * itself already), record the failure with what was done and what was not, and notify.
 */
export async function recoverMaintenance(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: FailoverDeps,
): Promise<MaintenanceState> {
  const timeline = timelineOf(state, deps);
  const writable = await timeline
    .run(
      'writable',
      () => ensureWritable(cluster, deps),
      (d) => d,
    )
    .then(
      () => true,
      () => false,
    );
  const progress = progressOf(state);
  const reason = state.error
    ? `${state.error.Error}: ${causeMessage(state.error.Cause) ?? ''}`
    : 'unknown error';
  const record = `done: ${progress.done.join(', ') || 'none'}; failed at: ${progress.failedAt ?? 'none'}; not started: ${progress.notStarted.join(', ') || 'none'}`;
  const failed: MaintenanceState = { ...state, phase: 'failed', outcome: 'failed', timeline: timeline.steps };
  const summary = `maintenance (${state.input.action}) of ${cluster.name} FAILED at ${progress.failedAt ?? 'an unknown step'} (${reason}); ${record}; ${
    writable ? 'the cluster takes writes' : 'the cluster may NOT take writes: check it now'
  }`;
  await recordAndNotify(deps, historyOf(cluster, failed, deps, 'failed', `${reason}; ${record}`), summary);
  return failed;
}
