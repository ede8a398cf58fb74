/**
 * What the master-fault scenarios measure, and how they report it: the orchestrator's history entry of the
 * failover, one sample per system and run (write gap, lost writes, latencies from the Sentinel events and the
 * history timeline), the progress line of a run, and the report rows over the runs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import { localDynamoClient } from '../../compose/local.ts';
import type { Descriptor } from '../../config/local-descriptor.ts';
import { type Endpoint, sameEndpoint } from '../../core/model/cluster.ts';
import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import type { TimelineStep } from '../../core/model/timeline.ts';
import { countLost, type LoadReport } from '../../local/load.ts';
import { PROMOTION_EVENTS } from '../host-set.ts';
import { type LoadProfile, loadFields, ratePerSecond, STEADY_MS } from '../load-profile.ts';
import { finalMaster } from '../nodes.ts';
import { type RunSample, type ScenarioRow, spread, summarize } from '../report.ts';
import type { SentinelWatch } from '../sentinel-watch.ts';
import type { FaultSpec, Group, SystemUnderTest } from './fault-specs.ts';

/** The orchestrator records history after verify; it can lag the first writes through the proxy. */
const HISTORY_TIMEOUT_MS = 20_000;
/** Replies the master sent just before the fault can still arrive this long after it. */
export const REPLIES_IN_FLIGHT_MS = 100;

/** What one run of one group measured. */
export interface RunResult {
  run: number;
  promotionAfterFaultMs: number | null;
  switchMasterAfterFaultMs: number | null;
  /** Failovers Sentinel made after the fault (distinct `+switch-master`): 2 when it failed over again at once. */
  failovers: number;
  samples: Map<string, RunSample>;
  errors: string[];
}

const end = (s: TimelineStep) => s.at + s.durationMs;
const since = (at: number | undefined, from: number | undefined) =>
  at === undefined || from === undefined ? null : at - from;

/** The orchestrator's record of this failover: a failover at epoch >= 1 whose proxies were rerouted. */
async function waitForFailoverEntry(d: Descriptor): Promise<HistoryEntry> {
  const dynamo = localDynamoClient(d.stateStore.endpoint);
  const store = new DynamoStateStore(dynamo, d.stateStore.table);
  const deadline = Date.now() + HISTORY_TIMEOUT_MS;
  let last = 'no history';
  try {
    for (;;) {
      try {
        const entries = await store.listHistory(d.cluster, 10);
        const rerouted = entries
          .filter((e) => e.kind === 'failover' && (e.epoch ?? 0) >= 1)
          .flatMap((e) => {
            const step = e.timeline.find((s) => s.step === 'rerouted' && s.status === 'ok');
            return step ? [{ e, at: end(step) }] : [];
          })
          .sort((a, b) => a.at - b.at);
        if (rerouted[0]) return rerouted[0].e;
        last = `history: ${entries.map((e) => `${e.kind}@${e.epoch} ${e.outcome}`).join(', ') || 'empty'}`;
      } catch (error) {
        last = errorMessage(error);
      }
      if (Date.now() > deadline)
        throw new HaRedisError(
          `no failover entry with a 'rerouted' step in ${HISTORY_TIMEOUT_MS} ms (${last}); see the orchestrator log`,
        );
      await sleep(100);
    }
  } finally {
    dynamo.destroy();
  }
}

/** A run after its loads stopped: what it needs to measure. */
export interface FaultMeasure {
  spec: FaultSpec;
  group: Group;
  run: number;
  d: Descriptor;
  password: string;
  /** The master the fault hit. */
  master: Descriptor['nodes'][number];
  watch: SentinelWatch;
  faultAt: number;
  /** zombie, restart: when the old master came back. */
  returnedAt: number | undefined;
  /** Problems found so far; measuring adds to them. */
  errors: string[];
}

/** Whether the orchestrator applied a failover to `master` (it followed Sentinel's last failover of the run). */
async function followedTo(d: Descriptor, master: Endpoint): Promise<boolean> {
  const dynamo = localDynamoClient(d.stateStore.endpoint);
  const store = new DynamoStateStore(dynamo, d.stateStore.table);
  const deadline = Date.now() + HISTORY_TIMEOUT_MS;
  try {
    for (;;) {
      const applied = await store.appliedEpoch(d.cluster).catch(() => undefined);
      if (applied?.status === 'done' && sameEndpoint(applied.master, master)) return true;
      if (Date.now() > deadline) return false;
      await sleep(100);
    }
  } finally {
    dynamo.destroy();
  }
}

/** The entry's steps and the outage, in ms after the fault: one failover's timeline, for the bench's chart. */
function failoverAfterFault(
  entry: HistoryEntry,
  outage: { from: number; to: number } | undefined,
  faultAt: number,
): NonNullable<RunSample['failover']> {
  return {
    steps: entry.timeline.map((s) => ({ ...s, at: s.at - faultAt })),
    outage: outage ? { from: outage.from - faultAt, to: outage.to - faultAt } : null,
  };
}

/** Find the final master and the history entry, and count each system's lost writes: the run's result. */
export async function measureRun(
  m: FaultMeasure,
  systems: readonly SystemUnderTest[],
  reports: readonly LoadReport[],
): Promise<RunResult> {
  const { spec, group, run, d, password, master, watch, faultAt, returnedAt, errors } = m;
  const watched = watch.firstOf(...PROMOTION_EVENTS);
  const switchMaster = watch.firstOf('+switch-master');
  // After a kill the old master is gone; when it is back, Sentinel must have demoted it by now.
  const candidates = spec.fault === 'kill' ? d.nodes.filter((n) => n.id !== master.id) : d.nodes;
  const newMaster = await finalMaster(candidates, password, 20_000);
  if (newMaster.port === master.port) errors.push(`run ${run}: the old master is master again`);
  if (!watched) errors.push(`run ${run}: no promotion event seen from any Sentinel`);
  let entry: HistoryEntry | undefined;
  if (group !== 'baselines') {
    try {
      entry = await waitForFailoverEntry(d);
    } catch (error) {
      errors.push(`run ${run} ${group}: ${errorMessage(error)}`);
    }
  }
  // The earliest sighting of the promotion: the bench's own watcher, or the orchestrator's bridge when the
  // reaction was triggered by it (on a loaded machine either can be the later one).
  const detected = entry?.timeline.find((s) => s.step === 'detected');
  const sightings = [
    watched?.at,
    entry && PROMOTION_EVENTS.includes(entry.trigger) ? detected?.at : undefined,
  ];
  const seen = sightings.filter((at): at is number => at !== undefined);
  const promotion = seen.length ? { at: Math.min(...seen) } : undefined;
  // The fast path reroutes before the reaction (whose own reroute then finds every proxy there already).
  const rerouted =
    entry?.timeline.find((s) => s.step === 'fast-rerouted' && s.status === 'ok') ??
    entry?.timeline.find((s) => s.step === 'rerouted' && s.status === 'ok');
  if (group === 'ha-redis-agent' && entry && !entry.startedBy)
    errors.push(`run ${run} ${group}: the failover was not started by the fast path (${entry.trigger})`);
  const failovers = watch.distinct('+switch-master').length;
  if (group !== 'baselines' && failovers > 1 && !(await followedTo(d, newMaster))) {
    errors.push(
      `run ${run} ${group}: Sentinel failed over ${failovers} times, and ha-redis did not follow the last one to ${newMaster.host}:${newMaster.port}`,
    );
  }
  const fenced = entry?.timeline.find((s) => s.step === 'fenced' && s.status === 'ok');
  if (entry && !fenced && spec.fault !== 'zombie')
    errors.push(`run ${run} ha-redis: the history entry has no successful 'fenced' step`);

  const samples = new Map<string, RunSample>();
  for (const [i, s] of systems.entries()) {
    const report = reports[i] as LoadReport;
    const lost = await countLost(newMaster, password, report.ackedKeys);
    const lostSet = new Set(lost);
    const lostAckedFrom = (from: number) =>
      report.ackedKeys.filter((k, j) => lostSet.has(k) && (report.ackedAt[j] ?? 0) >= from).length;
    const lostAfterReturn = returnedAt === undefined ? undefined : lostAckedFrom(returnedAt);
    // The outage is the gap that spans the fault (an ack just after it may still come from the old master).
    const outage = report.gaps.find((g) => g.from <= faultAt + 20 && g.to > faultAt);
    samples.set(s.system, {
      run,
      gapMs: report.maxGapMs,
      acked: report.acked,
      lost: lost.length,
      ...(lost.length ? { lostKeys: lost.slice(0, 10) } : {}),
      ...(lostAfterReturn !== undefined ? { lostAfterReturn } : {}),
      lostAfterFault: lostAckedFrom(faultAt + REPLIES_IN_FLIGHT_MS),
      failed: report.failed,
      opsPerSec: ratePerSecond(report.ackedAt, faultAt, STEADY_MS),
      recoveryAfterPromotionMs: since(outage?.to, promotion?.at),
      ...(group !== 'baselines'
        ? {
            rerouteAfterPromotionMs: rerouted ? since(end(rerouted), promotion?.at) : null,
            rerouteAfterSwitchMasterMs: rerouted ? since(end(rerouted), switchMaster?.at) : null,
            recoveryAfterRerouteMs: rerouted ? since(outage?.to, end(rerouted)) : null,
            fenceMs: fenced ? since(end(fenced), promotion?.at) : null,
            ...(entry
              ? { outcome: entry.outcome, failover: failoverAfterFault(entry, outage, faultAt) }
              : {}),
          }
        : {}),
    });
  }
  return {
    run,
    promotionAfterFaultMs: since(promotion?.at, faultAt),
    switchMasterAfterFaultMs: since(switchMaster?.at, faultAt),
    failovers,
    samples,
    errors,
  };
}

/** The progress line of one run. */
export const describeRun = (r: RunResult): string =>
  [
    `promotion +${r.promotionAfterFaultMs ?? '?'} ms, +switch-master +${r.switchMasterAfterFaultMs ?? '?'} ms${r.failovers > 1 ? ` (Sentinel failed over ${r.failovers} times)` : ''}`,
    ...[...r.samples.entries()].map(
      ([system, s]) =>
        `${system}: gap ${s.gapMs} ms, ${s.acked} acked, ${s.lost} lost` +
        (s.lostAfterReturn !== undefined ? ` (${s.lostAfterReturn} after the old master came back)` : '') +
        (s.rerouteAfterPromotionMs !== undefined ? `, rerouted +${s.rerouteAfterPromotionMs ?? '?'} ms` : ''),
    ),
  ].join('; ');

/** One report row per system of the spec, over its group's runs; `failures` are the runs that failed whole. */
export function faultRows(
  spec: FaultSpec,
  cell: { name: string; downAfterMs: number; load: LoadProfile },
  results: ReadonlyMap<Group, RunResult[]>,
  failures: readonly string[],
): ScenarioRow[] {
  const { name, downAfterMs, load } = cell;
  return spec.systems.map((s) => {
    const groupResults = results.get(s.group) ?? [];
    const samples = groupResults.flatMap((r) => {
      const sample = r.samples.get(s.system);
      return sample ? [sample] : [];
    });
    const optional = <K extends string>(key: K, value: ReturnType<typeof spread>) =>
      (value ? { [key]: value } : {}) as Partial<Record<K, NonNullable<typeof value>>>;
    const lostAfterReturn = samples.flatMap((x) =>
      x.lostAfterReturn === undefined ? [] : [x.lostAfterReturn],
    );
    return {
      name,
      system: s.system,
      runs: samples.length,
      gapMs: summarize(samples.map((x) => x.gapMs)),
      acked: samples.reduce((sum, x) => sum + x.acked, 0),
      lost: samples.reduce((sum, x) => sum + x.lost, 0),
      ...(lostAfterReturn.length ? { lostAfterReturn: lostAfterReturn.reduce((a, b) => a + b, 0) } : {}),
      downAfterMs,
      ...loadFields(load),
      ...optional('opsPerSec', spread(samples.map((x) => x.opsPerSec))),
      ...optional('promotionAfterKillMs', spread(groupResults.map((r) => r.promotionAfterFaultMs))),
      ...optional('switchMasterAfterKillMs', spread(groupResults.map((r) => r.switchMasterAfterFaultMs))),
      ...optional('recoveryAfterPromotionMs', spread(samples.map((x) => x.recoveryAfterPromotionMs))),
      ...optional('rerouteAfterPromotionMs', spread(samples.map((x) => x.rerouteAfterPromotionMs))),
      ...optional('rerouteAfterSwitchMasterMs', spread(samples.map((x) => x.rerouteAfterSwitchMasterMs))),
      ...optional('recoveryAfterRerouteMs', spread(samples.map((x) => x.recoveryAfterRerouteMs))),
      ...optional('fenceMs', spread(samples.map((x) => x.fenceMs))),
      ...(groupResults.some((r) => r.failovers > 1)
        ? { runsWithTwoFailovers: groupResults.filter((r) => r.failovers > 1).length }
        : {}),
      samples,
      errors: [
        ...failures.filter((f) => f.includes(` ${s.group} failed`)),
        ...groupResults.flatMap((r) => r.errors),
      ],
    };
  });
}
