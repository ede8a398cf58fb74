/**
 * Scenario host-failure: a host set (3 hosts, N services, every master on host-1; local/host-set.ts) loses
 * host-1, a kill -9 of every process on it, under write load; once with per-service Sentinels and once with
 * shared ones. The same kill is measured for three systems, per service:
 * - ha-redis: writers through the set's own HAProxies on host-2 and host-3, routed by the orchestrator;
 * - sentinel-ioredis: a Sentinel-aware ioredis client (`sentinels` + `name`);
 * - haproxy-role: the seed's own recipe, one extra HAProxy on host-2 and on host-3 whose backends route by a
 *   `role:master` check over every node of the service (bench/baseline-proxies.ts's settings).
 * Each system has two writers per service: plain SET acks through one surviving host, WAIT 1 through the other
 * (swapped every other service; the Sentinel-aware client has no host).
 *
 * One run: 1. up 2. the role proxies 3. subscribe to the Sentinels 4. the loads 5. kill host-1 6. wait until
 * every writer writes again 7. stop the loads 8. per service: lost writes on its new master, the orchestrator's
 * history entry 9. down (the role proxies first).
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import { localDynamoClient } from '../../compose/local.ts';
import { SENTINEL_LAYOUTS, type SentinelLayout } from '../../config/host-set-descriptor.ts';
import { type Descriptor, descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import { failHost } from '../../local/host-set-processes.ts';
import { countLost, type LoadReport, type LoadTarget, WriteLoad } from '../../local/load.ts';
import type { Log } from '../cluster.ts';
import {
  type HostRoleProxy,
  MasterEventWatch,
  PROMOTION_EVENTS,
  reactionOf,
  startHostRoleProxies,
  stopHostRoleProxies,
  withHostSet,
} from '../host-set.ts';
import { finalMaster } from '../nodes.ts';
import { type RunSample, type ScenarioRow, type ServiceSample, summarize } from '../report.ts';
import { REPLIES_IN_FLIGHT_MS } from './fault-measure.ts';
import type { Scenario, ScenarioOptions } from './types.ts';

const SYSTEMS = ['ha-redis', 'sentinel-ioredis', 'haproxy-role'] as const;
type HostSystem = (typeof SYSTEMS)[number];
const FAILED_HOST = 'host-1';
const SURVIVORS = ['host-2', 'host-3'] as const;
const DEFAULT_SERVICES = 8;
/** Acks each writer must have before the kill: connected and writing. */
const WARMUP_ACKS = 50;
/** Acks after the kill that prove a writer writes to the new master. */
const RECOVERED_ACKS = 10;
/** Keep writing this long after every writer recovered, so that each write gap is closed. */
const SETTLE_MS = 1000;
/** Failovers that take longer than down-after plus this make a failed run. Sentinel enters TILT when its timer runs 2 s
 * late, as on an overloaded machine, and then does nothing for 30 s (a fresh-clone run beside another saw the
 * baselines write nothing for 32 s after the kill): the grace covers that and the election after it.
 */
const RECOVERY_GRACE_MS = 60_000;
/** The orchestrator records history after verify; with N failovers at once that can take a while. */
const HISTORY_TIMEOUT_MS = 60_000;

/** One writer of one system for one service. */
interface Writer {
  system: HostSystem;
  wait1: boolean;
  load: WriteLoad;
}

/** The service's writers: per system one plain-ack writer and one WAIT 1 writer, on different surviving hosts. */
function writersOf(
  d: Descriptor,
  index: number,
  roleProxies: readonly HostRoleProxy[],
  password: string,
  run: number,
): Writer[] {
  const hostOf = (wait1: boolean) => SURVIVORS[(index + (wait1 ? 1 : 0)) % SURVIVORS.length] as string;
  const target = (system: HostSystem, wait1: boolean): LoadTarget => {
    const hostId = hostOf(wait1);
    if (system === 'sentinel-ioredis') {
      const sentinels = d.sentinels.map((s) => ({ host: s.host, port: s.port }));
      return { kind: 'sentinel', sentinels, masterName: d.masterName };
    }
    if (system === 'ha-redis') {
      const p = d.proxies.find((x) => x.hostId === hostId);
      if (!p) throw new HaRedisError(`${d.cluster} has no proxy on ${hostId}`);
      return { kind: 'direct', endpoint: { host: p.host, port: p.plainPort } };
    }
    const r = roleProxies.find((x) => x.hostId === hostId);
    const port = r?.ports.get(d.cluster);
    if (!r || port === undefined) throw new HaRedisError(`no role proxy for ${d.cluster} on ${hostId}`);
    return { kind: 'direct', endpoint: { host: r.host, port } };
  };
  return SYSTEMS.flatMap((system) =>
    [false, true].map((wait1) => ({
      system,
      wait1,
      load: new WriteLoad({
        target: target(system, wait1),
        password,
        writers: 1,
        keyPrefix: `bench:${system}:${run}:${wait1 ? 'wait1' : 'plain'}`,
        ackReplicas: wait1 ? 1 : 0,
      }),
    })),
  );
}

/** What measuring one service needs, once the loads stopped. */
interface ServiceRun {
  d: Descriptor;
  index: number;
  run: number;
  writers: readonly Writer[];
  reports: readonly LoadReport[];
  password: string;
  faultAt: number;
  watch: MasterEventWatch;
  store: DynamoStateStore;
  errors: string[];
}

const since = (at: number | undefined, from: number | undefined) =>
  at === undefined || from === undefined ? null : at - from;

/** One service: its new master, each writer's lost writes, its reaction; a sample per system. */
async function measureService(m: ServiceRun): Promise<Map<HostSystem, ServiceSample>> {
  const { d, index, run, writers, reports, password, faultAt, watch, errors } = m;
  const survivors = d.nodes.filter((n) => n.hostId !== FAILED_HOST);
  const newMaster = await finalMaster(survivors, password, 20_000);
  const reaction = await reactionOf(d, m.store, FAILED_HOST, HISTORY_TIMEOUT_MS).catch((error: unknown) => {
    errors.push(`run ${run} ha-redis: ${errorMessage(error)}`);
    return undefined;
  });
  // The earliest sighting of the promotion: the bench's own watcher, or the orchestrator's bridge when the
  // reaction was triggered by it (on a loaded machine either can be the later one).
  const sightings = [watch.firstOf(d.masterName, ...PROMOTION_EVENTS), reaction?.promotionSeenAt].filter(
    (at): at is number => at !== undefined,
  );
  const promotion = sightings.length ? Math.min(...sightings) : undefined;
  const switchMaster = watch.firstOf(d.masterName, '+switch-master');
  const majority = Math.floor(d.sentinels.length / 2) + 1;
  const majoritySwitchMaster = watch.nthOf(d.masterName, '+switch-master', majority);
  if (promotion === undefined) errors.push(`run ${run} ${d.cluster}: no promotion event seen`);
  const shared = {
    service: index + 1,
    run,
    promotionAfterKillMs: since(promotion, faultAt),
    switchMasterAfterPromotionMs: since(switchMaster, promotion),
    majoritySwitchMasterAfterPromotionMs: since(majoritySwitchMaster, promotion),
  };
  const samples = new Map<HostSystem, ServiceSample>();
  for (const system of SYSTEMS) {
    const sample: ServiceSample = {
      ...shared,
      gapMs: 0,
      acked: 0,
      lost: 0,
      lostWait1: 0,
      lostAfterFault: 0,
      failed: 0,
      recoveryAfterPromotionMs: null,
    };
    const lostKeys: string[] = [];
    const resumedAt: number[] = [];
    for (const [j, w] of writers.entries()) {
      const report = reports[j];
      if (w.system !== system || !report) continue;
      const lost = new Set(await countLost(newMaster, password, report.ackedKeys));
      const afterFault = report.ackedKeys.filter(
        (k, i) => lost.has(k) && (report.ackedAt[i] ?? 0) >= faultAt + REPLIES_IN_FLIGHT_MS,
      ).length;
      // The outage: the longest gap that ends after the kill (the bench's event loop can stamp the last replies
      // of the old master a little after the kill, so no bound on where it begins).
      const outage = report.gaps.find((g) => g.to > faultAt + REPLIES_IN_FLIGHT_MS);
      if (outage) resumedAt.push(outage.to);
      sample.gapMs = Math.max(sample.gapMs, report.maxGapMs);
      sample.acked += report.acked;
      sample.lost += lost.size;
      if (w.wait1) sample.lostWait1 += lost.size;
      sample.lostAfterFault += afterFault;
      sample.failed += report.failed;
      lostKeys.push(...lost);
    }
    if (resumedAt.length) sample.recoveryAfterPromotionMs = since(Math.max(...resumedAt), promotion);
    if (lostKeys.length) sample.lostKeys = lostKeys.slice(0, 10);
    if (system === 'ha-redis') {
      sample.confirmedAfterPromotionMs = since(reaction?.confirmedAt, promotion);
      sample.rerouteAfterPromotionMs = since(reaction?.reroutedAt, promotion);
      if (reaction?.confirmedBy) sample.confirmedBy = reaction.confirmedBy;
      if (reaction) sample.outcome = reaction.outcome;
    }
    samples.set(system, sample);
  }
  return samples;
}

/** Until every writer has RECOVERED_ACKS more than at `baseline`; throws at the deadline, naming who waits. */
async function untilEveryWriterWrites(
  writers: readonly { d: Descriptor; w: Writer }[],
  baseline: readonly number[],
  deadline: number,
): Promise<void> {
  for (;;) {
    const waiting = writers.filter((x, i) => x.w.load.ackCount < (baseline[i] ?? 0) + RECOVERED_ACKS);
    if (!waiting.length) return;
    if (Date.now() > deadline) {
      const who = waiting.map((x) => `${x.d.cluster} ${x.w.system}${x.w.wait1 ? ' (WAIT 1)' : ''}`);
      throw new HaRedisError(`wrote nothing after the kill of ${FAILED_HOST}: ${who.join(', ')}`);
    }
    await sleep(20);
  }
}

/** What one run of one layout measured: per service, a sample per system. */
interface SetRunResult {
  samples: Map<HostSystem, ServiceSample>[];
  errors: string[];
}

/** Kill host-1 under the loads and see every writer through it; then measure each service. */
async function killAndMeasure(
  o: { ds: Descriptor[]; writers: Writer[][]; password: string; run: number; downAfterMs: number; log: Log },
  kill: () => Promise<string[]>,
  watch: MasterEventWatch,
): Promise<SetRunResult> {
  const { ds, writers, password, run, downAfterMs, log } = o;
  const all = ds.flatMap((d, i) => (writers[i] ?? []).map((w) => ({ d, w })));
  for (const { w } of all) w.load.start();
  await Promise.all(all.map(({ w }) => w.load.waitForAcks(WARMUP_ACKS, 20_000)));
  const killed = await kill();
  const faultAt = Date.now();
  log(`  kill -9 of ${FAILED_HOST}: ${killed.length} processes`);
  await sleep(REPLIES_IN_FLIGHT_MS); // replies already in the sockets arrive within this pause
  const baseline = all.map(({ w }) => w.load.ackCount);
  await untilEveryWriterWrites(all, baseline, Date.now() + downAfterMs + RECOVERY_GRACE_MS);
  log(`  every writer writes again after ${Date.now() - faultAt} ms`);
  await sleep(SETTLE_MS);
  const reports = await Promise.all(writers.map((ws) => Promise.all(ws.map((w) => w.load.stop()))));
  // Every service of the set keeps its history in the set's one state store.
  const { endpoint, table } = (ds[0] as Descriptor).stateStore;
  const dynamo = localDynamoClient(endpoint);
  const store = new DynamoStateStore(dynamo, table);
  const errors: string[] = [];
  try {
    const samples = await Promise.all(
      ds.map((d, index) =>
        measureService({
          d,
          index,
          run,
          writers: writers[index] ?? [],
          reports: reports[index] ?? [],
          password,
          faultAt,
          watch,
          store,
          errors,
        }),
      ),
    );
    return { samples, errors };
  } finally {
    dynamo.destroy();
  }
}

/** One run of one layout: a fresh set, the role proxies beside it, the kill, the measures; all down again. */
function hostFailureOnce(
  layout: SentinelLayout,
  run: number,
  o: { services: number; downAfterMs: number; log: Log; keepFiles: boolean },
): Promise<SetRunResult> {
  const prefix = `bhf-${layout === 'shared' ? 's' : 'p'}`;
  const upStarted = Date.now();
  return withHostSet({ prefix, sentinels: layout, ...o }, async (set, root, onDown) => {
    o.log(`  set ${set.set} up in ${Date.now() - upStarted} ms (${set.network.kind})`);
    const ds = await Promise.all(set.services.map((s) => readDescriptor(descriptorPath(s, root))));
    if (!ds[0]) throw new HaRedisError(`host set ${set.set} has no services`);
    const password = (await readFile(ds[0].passwordFile, 'utf8')).trim();
    const roleProxies = await startHostRoleProxies(set, ds, password, SURVIVORS);
    onDown(() => stopHostRoleProxies(roleProxies));
    const writers = ds.map((d, i) => writersOf(d, i, roleProxies, password, run));
    const watch = new MasterEventWatch();
    try {
      await watch.start(
        ds.flatMap((d) => d.sentinels),
        password,
      );
      const kill = () => failHost({ name: set.set, root }, FAILED_HOST, 'kill');
      return await killAndMeasure(
        { ds, writers, password, run, downAfterMs: o.downAfterMs, log: o.log },
        kill,
        watch,
      );
    } finally {
      watch.stop();
      // A failed run leaves its loads running: stop them (a stopped load stops again at once).
      await Promise.all(writers.flat().map((w) => w.load.stop().catch(() => undefined)));
    }
  });
}

/** One report row per system: the per-service samples, and each measure across the services and runs. */
function hostFailureRows(
  cell: { name: string; downAfterMs: number },
  results: readonly SetRunResult[],
  failures: readonly string[],
): ScenarioRow[] {
  return SYSTEMS.map((system) => {
    const samples = results.flatMap((r) => r.samples.flatMap((s) => s.get(system) ?? []));
    const across = (pick: (s: ServiceSample) => number | null | undefined) => {
      const values = samples.map(pick).filter((v): v is number => typeof v === 'number');
      return values.length ? summarize(values) : undefined;
    };
    const acrossOf = {
      gapMs: across((s) => s.gapMs),
      recoveryAfterPromotionMs: across((s) => s.recoveryAfterPromotionMs),
      acked: across((s) => s.acked),
      lost: across((s) => s.lost),
      lostWait1: across((s) => s.lostWait1),
      promotionAfterKillMs: across((s) => s.promotionAfterKillMs),
      switchMasterAfterPromotionMs: across((s) => s.switchMasterAfterPromotionMs),
      majoritySwitchMasterAfterPromotionMs: across((s) => s.majoritySwitchMasterAfterPromotionMs),
      confirmedAfterPromotionMs: across((s) => s.confirmedAfterPromotionMs),
      rerouteAfterPromotionMs: across((s) => s.rerouteAfterPromotionMs),
    };
    const perRun: RunSample[] = [...new Set(samples.map((s) => s.run))].map((run) => {
      const ofRun = samples.filter((s) => s.run === run);
      const sum = (pick: (s: ServiceSample) => number) => ofRun.reduce((a, s) => a + pick(s), 0);
      return {
        run,
        gapMs: Math.max(...ofRun.map((s) => s.gapMs)),
        acked: sum((s) => s.acked),
        lost: sum((s) => s.lost),
        lostAfterFault: sum((s) => s.lostAfterFault),
        failed: sum((s) => s.failed),
      };
    });
    return {
      name: cell.name,
      system,
      runs: results.length,
      gapMs: summarize(samples.map((s) => s.gapMs)),
      acked: samples.reduce((a, s) => a + s.acked, 0),
      lost: samples.reduce((a, s) => a + s.lost, 0),
      downAfterMs: cell.downAfterMs,
      writers: 2,
      perService: {
        samples,
        across: Object.fromEntries(Object.entries(acrossOf).filter(([, v]) => v !== undefined)),
      },
      samples: perRun,
      errors: [...failures, ...results.flatMap((r) => r.errors)],
    };
  });
}

export interface HostFailureOptions extends ScenarioOptions {
  /** Services in the set (default 8). */
  services?: number;
  /** Sentinel layouts to run, one row group each (default both). */
  layouts?: readonly SentinelLayout[];
}

/** Run host-failure `runs` times for each layout at one down-after; one row per layout and system. */
export async function runHostFailure(options: HostFailureOptions): Promise<ScenarioRow[]> {
  const { runs, downAfterMs } = options;
  const services = options.services ?? DEFAULT_SERVICES;
  const log = options.log ?? (() => undefined);
  const rows: ScenarioRow[] = [];
  for (const layout of options.layouts ?? SENTINEL_LAYOUTS) {
    const name = `host-failure/${services}-services/${layout}/down-after-${downAfterMs}`;
    const results: SetRunResult[] = [];
    const failures: string[] = [];
    for (let run = 1; run <= runs; run += 1) {
      log(`${name}: run ${run} of ${runs}`);
      const started = Date.now();
      try {
        const keepFiles = options.keepFiles ?? false;
        const result = await hostFailureOnce(layout, run, { services, downAfterMs, log, keepFiles });
        results.push(result);
        log(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${describeRun(result)}`);
        for (const e of result.errors) log(`  problem: ${e}`);
      } catch (error) {
        failures.push(`run ${run} failed: ${errorMessage(error)}`);
        log(
          `  run ${run} FAILED after ${((Date.now() - started) / 1000).toFixed(1)} s: ${errorMessage(error)}`,
        );
      }
    }
    if (!results.length) throw new HaRedisError(`${name}: every run failed; ${failures.join('; ')}`);
    rows.push(...hostFailureRows({ name, downAfterMs }, results, failures));
  }
  return rows;
}

/** The progress line of one run: per system, the worst write gap and the lost writes over the services. */
const describeRun = (r: SetRunResult): string =>
  SYSTEMS.map((system) => {
    const s = r.samples.flatMap((x) => x.get(system) ?? []);
    const gap = Math.max(0, ...s.map((x) => x.gapMs));
    const lost = s.reduce((a, x) => a + x.lost, 0);
    const wait1 = s.reduce((a, x) => a + x.lostWait1, 0);
    return `${system}: max gap ${gap} ms, ${lost} lost (${wait1} WAIT 1)`;
  }).join('; ');

export const hostFailure: Scenario = {
  name: 'host-failure',
  description: `kill -9 of every process on the host of every master, in a set of ${DEFAULT_SERVICES} services on 3 hosts`,
  defaultRuns: 2,
  defaultDownAfterMs: [5000],
  takesLayouts: true,
  run: (options) => runHostFailure(options),
};
