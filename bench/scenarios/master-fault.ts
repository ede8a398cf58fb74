/**
 * Scenarios kill-master, zombie-master and restart-old-master: a fault of the master of a fresh local cluster
 * under write load, measured for ha-redis and for the set-ups teams build without it, with the same writers.
 * - kill-master: `kill -9` the master.
 * - zombie-master: `SIGSTOP` the master until Sentinel has failed over (+switch-master) and then some, then
 *   `SIGCONT`: it comes back believing it is master, with the connections it had.
 * - restart-old-master: `kill -9` the master, and once every system writes to the new one, start the old one
 *   again from its config. Writers then churn their connections (each reconnects every second, as a pool does),
 *   so every system has to choose the master anew while the old one is back.
 *
 * Each run is two fresh clusters: one where ha-redis reacts (clients through its HAProxies), and one with the
 * orchestrator stopped for the baselines (a Sentinel-aware ioredis client; the two HAProxy recipes in
 * baseline-proxies.ts), so that no baseline profits from what ha-redis does to the cluster (re-pointing the
 * replicas, fencing the old master).
 *
 * Redis settings: kill-master runs the local cluster as it is (min-replicas-to-write 1, max-lag 3). The zombie and
 * restart scenarios run with Sentinel's defaults (min-replicas-to-write 0): with 1, Redis itself refuses the
 * returning master's writes (it has no replica left), which would measure Redis, not the systems.
 *
 * One run of one group: 1. up (2. settings) 3. (stop the orchestrator, start the baseline proxies) 4. subscribe to
 * the Sentinels 5. start the loads 6. the fault 7. wait for the failover (and the return of the old master)
 * 8. stop the loads 9. count lost writes on the final master 10. read the orchestrator's history 11. down.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import { localDynamoClient } from '../../compose/local.ts';
import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import type { TimelineStep } from '../../core/model/timeline.ts';
import type { HistoryEntry } from '../../core/ports.ts';
import type { Descriptor } from '../../local/descriptor.ts';
import { startNode } from '../../local/launcher.ts';
import { countLost, type LoadReport, type LoadTarget, WriteLoad } from '../../local/load.ts';
import { commandLine } from '../../local/processes.ts';
import { type BaselineProxy, startBaselineProxies, stopBaselineProxies } from '../baseline-proxies.ts';
import { type Log, withLocalCluster } from '../cluster.ts';
import { adminClient, finalMaster, stopOrchestrator } from '../nodes.ts';
import { type RunSample, type ScenarioRow, spread, summarize } from '../report.ts';
import { SentinelWatch } from '../sentinel-watch.ts';
import type { Scenario, ScenarioOptions } from './types.ts';

const WRITERS = 4;
/** Acks each system must have before the fault: every writer is connected and writing. */
const WARMUP_ACKS = 200;
/** Acks after the fault that prove a system writes to the new master. */
const RECOVERED_ACKS = 20;
/** Keep writing this long after every system recovered, so that the write gap is closed on both sides. */
const SETTLE_MS = 1000;
/** A failover that takes longer than down-after plus this is a failed run. */
const RECOVERY_GRACE_MS = 30_000;
/** The orchestrator records history after verify; it can lag the first writes through the proxy. */
const HISTORY_TIMEOUT_MS = 20_000;
/** zombie: keep the master stopped this long after the first +switch-master. */
const ZOMBIE_PAST_FAILOVER_MS = 2000;
/** zombie, restart: keep writing this long after the old master is back. */
const AFTER_RETURN_MS = 10_000;
/** restart: each writer drops its connection and connects again this often after the old master is back. */
const CHURN_EVERY_MS = 1000;
const PROMOTION_EVENTS = ['+failover-state-wait-promotion', '+promoted-slave'];
/** Replies the master sent just before the fault can still arrive this long after it. */
const REPLIES_IN_FLIGHT_MS = 100;

type Fault = 'kill' | 'zombie' | 'restart';
/** ha-redis reacts on its own cluster; the baselines share one where the orchestrator is stopped. */
type Group = 'ha-redis' | 'baselines';

/** A system under test: how its writers reach the master. */
interface SystemUnderTest {
  system: string;
  group: Group;
  target(d: Descriptor, ca: string, baselines: readonly BaselineProxy[]): LoadTarget;
  /** Writers count an ack only once WAIT says this many replicas have the write. */
  ackReplicas?: number;
}

const proxy = (d: Descriptor, index: number) => {
  const p = d.proxies[index];
  if (!p) throw new HaRedisError(`the cluster has no proxy #${index + 1}`);
  return p;
};

const baselineProxy = (baselines: readonly BaselineProxy[], kind: BaselineProxy['kind']): LoadTarget => {
  const p = baselines.find((b) => b.kind === kind);
  if (!p) throw new HaRedisError(`the baseline proxy ${kind} is not running`);
  return { kind: 'direct', endpoint: { host: p.host, port: p.port } };
};

const HA_REDIS: SystemUnderTest = {
  system: 'ha-redis',
  group: 'ha-redis',
  target: (d) => ({ kind: 'direct', endpoint: { host: proxy(d, 0).host, port: proxy(d, 0).plainPort } }),
};
const HA_REDIS_TLS: SystemUnderTest = {
  system: 'ha-redis-tls',
  group: 'ha-redis',
  target: (d, ca) => ({
    kind: 'direct',
    endpoint: { host: proxy(d, 1).host, port: proxy(d, 1).tlsPort },
    tlsCa: ca,
  }),
};
/** The same proxy, with writes acknowledged by WAIT 1: what a client that needs durability sees. */
const HA_REDIS_WAIT1: SystemUnderTest = { ...HA_REDIS, system: 'ha-redis-wait1', ackReplicas: 1 };
const BASELINES: readonly SystemUnderTest[] = [
  {
    system: 'sentinel-ioredis',
    group: 'baselines',
    target: (d) => ({
      kind: 'sentinel',
      sentinels: d.sentinels.map((s) => ({ host: s.host, port: s.port })),
      masterName: d.masterName,
    }),
  },
  {
    system: 'haproxy-sentinels',
    group: 'baselines',
    target: (_d, _ca, b) => baselineProxy(b, 'haproxy-sentinels'),
  },
  { system: 'haproxy-role', group: 'baselines', target: (_d, _ca, b) => baselineProxy(b, 'haproxy-role') },
];

interface FaultSpec {
  name: string;
  description: string;
  fault: Fault;
  /** Set min-replicas-to-write 0 (Sentinel's default) on every node before the run. */
  plainSettings: boolean;
  systems: readonly SystemUnderTest[];
}

export const KILL_MASTER: FaultSpec = {
  name: 'kill-master',
  description: 'kill -9 the master under write load',
  fault: 'kill',
  plainSettings: false,
  systems: [HA_REDIS, HA_REDIS_TLS, HA_REDIS_WAIT1, ...BASELINES],
};
export const ZOMBIE_MASTER: FaultSpec = {
  name: 'zombie-master',
  description: 'SIGSTOP the master past the failover, then SIGCONT: the old master comes back as a zombie',
  fault: 'zombie',
  plainSettings: true,
  systems: [HA_REDIS, ...BASELINES],
};
export const RESTART_OLD_MASTER: FaultSpec = {
  name: 'restart-old-master',
  description: 'kill -9 the master, fail over, then start the old master again while clients reconnect',
  fault: 'restart',
  plainSettings: true,
  systems: [HA_REDIS, ...BASELINES],
};

/** What one run of one group measured. */
interface RunResult {
  run: number;
  promotionAfterFaultMs: number | null;
  switchMasterAfterFaultMs: number | null;
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

/** Signal `pid` after checking it is still this node's redis-server (never a recycled pid); returns when. */
async function signalNode(pid: number, port: number, signal: NodeJS.Signals): Promise<number> {
  const cmd = await commandLine(pid);
  if (!cmd?.includes('redis-server') || !cmd.includes(`:${port}`))
    throw new HaRedisError(`pid ${pid} is not the master's redis-server on port ${port} (${cmd ?? 'gone'})`);
  const at = Date.now();
  process.kill(pid, signal);
  return at;
}

/** Sentinel's default: the master takes writes with no replica attached. Rewritten, so a restart keeps it. */
async function plainSettings(d: Descriptor, password: string): Promise<void> {
  await Promise.all(
    d.nodes.map(async (n) => {
      const c = adminClient(n, password);
      try {
        await c.call('CONFIG', 'SET', 'min-replicas-to-write', '0');
        await c.call('CONFIG', 'REWRITE');
      } finally {
        c.disconnect();
      }
    }),
  );
}

interface Load {
  s: SystemUnderTest;
  load: WriteLoad;
}

/** Until each load has RECOVERED_ACKS more than `baseline`, or the deadline: the systems still waiting. */
async function untilRecovered(loads: readonly Load[], baseline: readonly number[], deadline: number) {
  for (;;) {
    const waiting = loads.filter((l, i) => l.load.ackCount < (baseline[i] ?? 0) + RECOVERED_ACKS);
    if (!waiting.length || Date.now() > deadline) return waiting;
    await sleep(20);
  }
}

async function faultOnce(
  spec: FaultSpec,
  group: Group,
  run: number,
  options: { downAfterMs: number; log: Log; keepFiles: boolean },
): Promise<RunResult> {
  const { downAfterMs, log } = options;
  const systems = spec.systems.filter((s) => s.group === group);
  const upStarted = Date.now();
  const prefix = `bench-${spec.fault}-${group === 'ha-redis' ? 'h' : 'b'}`;
  return withLocalCluster({ prefix, ...options }, async (d, root, onDown) => {
    log(`  ${group}: cluster ${d.cluster} up in ${Date.now() - upStarted} ms`);
    const password = (await readFile(d.passwordFile, 'utf8')).trim();
    const ca = await readFile(d.caCertPath, 'utf8');
    const master = d.nodes[0];
    if (!master) throw new HaRedisError('the cluster has no nodes');
    if (spec.plainSettings) await plainSettings(d, password);
    let baselines: BaselineProxy[] = [];
    if (group === 'baselines') {
      await stopOrchestrator(d);
      baselines = await startBaselineProxies(d, password);
      onDown(() => stopBaselineProxies(baselines));
    }
    const watch = new SentinelWatch();
    const loads: Load[] = systems.map((s) => ({
      s,
      load: new WriteLoad({
        target: s.target(d, ca, baselines),
        password,
        writers: WRITERS,
        keyPrefix: `bench:${s.system}:${run}`,
        ackReplicas: s.ackReplicas ?? 0,
      }),
    }));
    let stopped = false;
    const stopLoads = () => {
      stopped = true;
      return Promise.all(loads.map((l) => l.load.stop()));
    };
    let frozen = false;
    const errors: string[] = [];
    try {
      await watch.start(d.sentinels, password);
      for (const l of loads) l.load.start();
      await Promise.all(loads.map((l) => l.load.waitForAcks(WARMUP_ACKS)));

      const faultAt = await signalNode(
        master.pid,
        master.port,
        spec.fault === 'zombie' ? 'SIGSTOP' : 'SIGKILL',
      );
      frozen = spec.fault === 'zombie';
      log(`  ${spec.fault === 'zombie' ? 'SIGSTOP' : 'kill -9'} ${master.id} (pid ${master.pid})`);
      // Replies already in the sockets are counted within this pause; every ack after it comes from the new master.
      await sleep(REPLIES_IN_FLIGHT_MS);
      const baseline = loads.map((l) => l.load.ackCount);
      const failoverDeadline = Date.now() + downAfterMs + RECOVERY_GRACE_MS;
      let returnedAt: number | undefined;
      if (spec.fault === 'zombie') {
        // Systems whose connections hang on the stopped master do not recover before it is back: wait for the
        // failover itself, then a little, then wake the zombie.
        while (!watch.firstOf('+switch-master')) {
          if (Date.now() > failoverDeadline)
            throw new HaRedisError(`no +switch-master in ${downAfterMs + RECOVERY_GRACE_MS} ms`);
          await sleep(20);
        }
        const wakeAt = Date.now() + ZOMBIE_PAST_FAILOVER_MS;
        const waiting = await untilRecovered(loads, baseline, wakeAt);
        await sleep(Math.max(0, wakeAt - Date.now()));
        returnedAt = await signalNode(master.pid, master.port, 'SIGCONT');
        frozen = false;
        log(
          `  SIGCONT ${master.id} ${returnedAt - faultAt} ms after SIGSTOP` +
            (waiting.length ? `; not writing yet: ${waiting.map((l) => l.s.system).join(', ')}` : ''),
        );
        await sleep(AFTER_RETURN_MS);
      } else {
        const waiting = await untilRecovered(loads, baseline, failoverDeadline);
        if (waiting.length)
          throw new HaRedisError(
            `${waiting.map((l) => l.s.system).join(', ')} wrote nothing in ${downAfterMs + RECOVERY_GRACE_MS} ms after the kill`,
          );
        log(`  every system writes again after ${Date.now() - faultAt} ms`);
        await sleep(SETTLE_MS);
        if (spec.fault === 'restart') {
          returnedAt = Date.now();
          const pid = await startNode({ name: d.cluster, root }, master.id);
          log(`  started ${master.id} again (pid ${pid}); writers reconnect every ${CHURN_EVERY_MS} ms`);
          for (let t = 0; t < AFTER_RETURN_MS; t += CHURN_EVERY_MS) {
            await sleep(CHURN_EVERY_MS);
            for (const l of loads) l.load.reconnect();
          }
        }
      }
      if (returnedAt !== undefined) {
        // Every system must end up writing to the one master.
        const before = loads.map((l) => l.load.ackCount);
        const waiting = await untilRecovered(loads, before, Date.now() + RECOVERY_GRACE_MS);
        if (waiting.length)
          errors.push(
            `run ${run}: ${waiting.map((l) => l.s.system).join(', ')} wrote nothing in ${RECOVERY_GRACE_MS} ms after the old master came back`,
          );
        await sleep(SETTLE_MS);
      }
      const reports = await stopLoads();

      const promotion = watch.firstOf(...PROMOTION_EVENTS);
      const switchMaster = watch.firstOf('+switch-master');
      // After a kill the old master is gone; when it is back, Sentinel must have demoted it by now.
      const candidates = spec.fault === 'kill' ? d.nodes.filter((n) => n.id !== master.id) : d.nodes;
      const newMaster = await finalMaster(candidates, password, 20_000);
      if (newMaster.port === master.port) errors.push(`run ${run}: the old master is master again`);
      if (!promotion) errors.push(`run ${run}: no promotion event seen from any Sentinel`);
      let entry: HistoryEntry | undefined;
      if (group === 'ha-redis') {
        try {
          entry = await waitForFailoverEntry(d);
        } catch (error) {
          errors.push(`run ${run} ha-redis: ${errorMessage(error)}`);
        }
      }
      const rerouted = entry?.timeline.find((s) => s.step === 'rerouted' && s.status === 'ok');
      const fenced = entry?.timeline.find((s) => s.step === 'fenced' && s.status === 'ok');
      if (entry && !fenced && spec.fault !== 'zombie')
        errors.push(`run ${run} ha-redis: the history entry has no successful 'fenced' step`);

      const samples = new Map<string, RunSample>();
      for (const [i, { s }] of loads.entries()) {
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
          recoveryAfterPromotionMs: since(outage?.to, promotion?.at),
          ...(group === 'ha-redis'
            ? {
                rerouteAfterPromotionMs: rerouted ? since(end(rerouted), promotion?.at) : null,
                rerouteAfterSwitchMasterMs: rerouted ? since(end(rerouted), switchMaster?.at) : null,
                recoveryAfterRerouteMs: rerouted ? since(outage?.to, end(rerouted)) : null,
                fenceMs: fenced ? since(end(fenced), promotion?.at) : null,
                ...(entry ? { outcome: entry.outcome } : {}),
              }
            : {}),
        });
      }
      return {
        run,
        promotionAfterFaultMs: since(promotion?.at, faultAt),
        switchMasterAfterFaultMs: since(switchMaster?.at, faultAt),
        samples,
        errors,
      };
    } finally {
      watch.stop();
      if (frozen) process.kill(master.pid, 'SIGCONT'); // never leave a stopped process behind
      if (!stopped) await stopLoads().catch(() => undefined);
    }
  });
}

const describeRun = (r: RunResult): string =>
  [
    `promotion +${r.promotionAfterFaultMs ?? '?'} ms, +switch-master +${r.switchMasterAfterFaultMs ?? '?'} ms`,
    ...[...r.samples.entries()].map(
      ([system, s]) =>
        `${system}: gap ${s.gapMs} ms, ${s.acked} acked, ${s.lost} lost` +
        (s.lostAfterReturn !== undefined ? ` (${s.lostAfterReturn} after the old master came back)` : '') +
        (s.rerouteAfterPromotionMs !== undefined ? `, rerouted +${s.rerouteAfterPromotionMs ?? '?'} ms` : ''),
    ),
  ].join('; ');

/** Run a fault scenario `runs` times at one down-after (each run: both groups); one row per system. */
export async function runFault(spec: FaultSpec, options: ScenarioOptions): Promise<ScenarioRow[]> {
  const { runs, downAfterMs } = options;
  const log = options.log ?? (() => undefined);
  const name = `${spec.name}/down-after-${downAfterMs}`;
  const groups = [...new Set(spec.systems.map((s) => s.group))];
  const results = new Map<Group, RunResult[]>(groups.map((g) => [g, []]));
  const failures: string[] = [];
  for (let run = 1; run <= runs; run += 1) {
    for (const group of groups) {
      log(`${name}: run ${run} of ${runs}, ${group}`);
      const started = Date.now();
      try {
        const result = await faultOnce(spec, group, run, {
          downAfterMs,
          log,
          keepFiles: options.keepFiles ?? false,
        });
        results.get(group)?.push(result);
        log(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${describeRun(result)}`);
        for (const e of result.errors) log(`  problem: ${e}`);
      } catch (error) {
        failures.push(`run ${run} ${group} failed: ${errorMessage(error)}`);
        log(
          `  run ${run} ${group} FAILED after ${((Date.now() - started) / 1000).toFixed(1)} s: ${errorMessage(error)}`,
        );
      }
    }
  }
  if (![...results.values()].some((r) => r.length))
    throw new HaRedisError(`${name}: every run failed; ${failures.join('; ')}`);

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
      writers: WRITERS,
      ...optional('promotionAfterKillMs', spread(groupResults.map((r) => r.promotionAfterFaultMs))),
      ...optional('switchMasterAfterKillMs', spread(groupResults.map((r) => r.switchMasterAfterFaultMs))),
      ...optional('recoveryAfterPromotionMs', spread(samples.map((x) => x.recoveryAfterPromotionMs))),
      ...optional('rerouteAfterPromotionMs', spread(samples.map((x) => x.rerouteAfterPromotionMs))),
      ...optional('rerouteAfterSwitchMasterMs', spread(samples.map((x) => x.rerouteAfterSwitchMasterMs))),
      ...optional('recoveryAfterRerouteMs', spread(samples.map((x) => x.recoveryAfterRerouteMs))),
      ...optional('fenceMs', spread(samples.map((x) => x.fenceMs))),
      samples,
      errors: [
        ...failures.filter((f) => f.includes(` ${s.group} failed`)),
        ...groupResults.flatMap((r) => r.errors),
      ],
    };
  });
}

const scenario = (spec: FaultSpec, defaultDownAfterMs: readonly number[]): Scenario => ({
  name: spec.name,
  description: spec.description,
  defaultRuns: 5,
  defaultDownAfterMs,
  run: (options) => runFault(spec, options),
});

export const killMaster = scenario(KILL_MASTER, [5000, 1000]);
export const zombieMaster = scenario(ZOMBIE_MASTER, [5000]);
export const restartOldMaster = scenario(RESTART_OLD_MASTER, [5000]);
export const runKillMaster = (options: ScenarioOptions) => runFault(KILL_MASTER, options);
