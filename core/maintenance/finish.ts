import { decideMajority, observeSentinels } from '../failover/confirm.ts';
import { proxiesAwayFrom } from '../failover/routing.ts';
import { verifyThroughProxies } from '../failover/verify.ts';
import { recordAndNotify } from '../history.ts';
import type { ClusterConfig } from '../model/cluster.ts';
import { causeMessage, UnreachableError } from '../model/errors.ts';
import type { HistoryEntry } from '../model/records.ts';
import type { CorePorts } from '../ports.ts';
import { endpoint, planOf, timelineOf } from './context.ts';
import type { MaintenanceInput, MaintenanceState } from './state.ts';

/**
 * How a maintenance run ends: finish (record and notify what was done), or recover (leave the cluster
 * writable, record what was and was not done).
 */

/** 6. Record the run (kind maintenance) and tell people what was done. */
export async function finishMaintenance(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: CorePorts,
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

/**
 * 7. Recover (the Catch of every step after plan): leave the cluster writable (a failed switchover has recovered
 * itself already), record the failure with what was done and what was not, and notify.
 */
export async function recoverMaintenance(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: CorePorts,
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

/**
 * Make sure writes reach the master: the one a Sentinel majority names; proxies that route elsewhere (or are
 * blocked) are pointed at it, unless another operation holds the lease; then a canary through every listener.
 */
async function ensureWritable(cluster: ClusterConfig, deps: CorePorts): Promise<string> {
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

const triggerOf = (input: MaintenanceInput): string =>
  `${input.requestedBy}: ${input.reason}${input.scheduledAt !== undefined ? ` (scheduled ${new Date(input.scheduledAt).toISOString()})` : ''}`;

/** The run's history entry (kind maintenance; its execution id is the entry's id). */
function historyOf(
  cluster: ClusterConfig,
  state: MaintenanceState,
  deps: CorePorts,
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

const switchoversText = (state: MaintenanceState): string =>
  state.switchovers
    .map(
      (s) =>
        `${s.kind} ${s.from} -> ${s.to}${s.writeGapMs !== undefined ? ` (writes blocked ${s.writeGapMs} ms)` : ''}`,
    )
    .join('; ');
