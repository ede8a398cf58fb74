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
import type { Descriptor } from '../../config/local-descriptor.ts';
import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import { startNode } from '../../local/launcher.ts';
import { commandLine } from '../../local/processes.ts';
import { type BaselineProxy, startBaselineProxies, stopBaselineProxies } from '../baseline-proxies.ts';
import { type Log, withLocalCluster } from '../cluster.ts';
import { DEFAULT_LOAD, type LoadProfile, loadLabel, preloadDataset, STEADY_MS } from '../load-profile.ts';
import { adminClient, stopOrchestrator } from '../nodes.ts';
import type { ScenarioRow } from '../report.ts';
import { SentinelWatch } from '../sentinel-watch.ts';
import { WorkerLoad } from '../worker-load.ts';
import { describeRun, faultRows, measureRun, REPLIES_IN_FLIGHT_MS, type RunResult } from './fault-measure.ts';
import {
  type FaultSpec,
  type Group,
  KILL_MASTER,
  RESTART_OLD_MASTER,
  type SystemUnderTest,
  ZOMBIE_MASTER,
} from './fault-specs.ts';
import type { Scenario, ScenarioOptions } from './types.ts';

export { KILL_MASTER, RESTART_OLD_MASTER, ZOMBIE_MASTER } from './fault-specs.ts';

/** Acks each system must have before the fault: every writer is connected and writing. */
const WARMUP_ACKS = 200;
/** Acks after the fault that prove a system writes to the new master. */
const RECOVERED_ACKS = 20;
/** Keep writing this long after every system recovered, so that the write gap is closed on both sides. */
const SETTLE_MS = 1000;
/** A failover that takes longer than down-after plus this is a failed run. Sentinel enters TILT when its timer runs 2 s
 * late, as on an overloaded machine, and then does nothing for 30 s (a fresh-clone run beside another saw the
 * baselines write nothing for 32 s after the kill): the grace covers that and the election after it.
 */
const RECOVERY_GRACE_MS = 60_000;
/** zombie: keep the master stopped this long after the first +switch-master. */
const ZOMBIE_PAST_FAILOVER_MS = 2000;
/** zombie, restart: keep writing this long after the old master is back. */
const AFTER_RETURN_MS = 10_000;
/** restart: each writer drops its connection and connects again this often after the old master is back. */
const CHURN_EVERY_MS = 1000;

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

/** A system's writers, in a worker thread: its event loop is the writers' own, as a client process's is. */
interface Load {
  s: SystemUnderTest;
  load: WorkerLoad;
}

/** Until each load has RECOVERED_ACKS more than `baseline`, or the deadline: the systems still waiting. */
async function untilRecovered(loads: readonly Load[], baseline: readonly number[], deadline: number) {
  for (;;) {
    const waiting = loads.filter((l, i) => l.load.ackCount < (baseline[i] ?? 0) + RECOVERED_ACKS);
    if (!waiting.length || Date.now() > deadline) return waiting;
    await sleep(20);
  }
}

/** One run of one group on its cluster, with its loads: what the fault phases share. */
interface FaultRun {
  spec: FaultSpec;
  run: number;
  d: Descriptor;
  root: string;
  master: Descriptor['nodes'][number];
  loads: Load[];
  watch: SentinelWatch;
  downAfterMs: number;
  log: Log;
  /** The master is stopped (SIGSTOP) right now: it must get a SIGCONT whatever happens. */
  frozen: boolean;
}

/** zombie: wait for the failover itself, then a little, then wake the zombie (SIGCONT). Returns when. */
async function wakeZombie(r: FaultRun, faultAt: number, baseline: readonly number[]): Promise<number> {
  const { master, loads, watch, downAfterMs, log } = r;
  const failoverDeadline = Date.now() + downAfterMs + RECOVERY_GRACE_MS;
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
  const returnedAt = await signalNode(master.pid, master.port, 'SIGCONT');
  r.frozen = false;
  log(
    `  SIGCONT ${master.id} ${returnedAt - faultAt} ms after SIGSTOP` +
      (waiting.length ? `; not writing yet: ${waiting.map((l) => l.s.system).join(', ')}` : ''),
  );
  await sleep(AFTER_RETURN_MS);
  return returnedAt;
}

/**
 * kill, restart: wait until every system writes again; restart: then start the old master again while the
 * writers churn their connections. Returns when the old master came back (restart only).
 */
async function recoverFromKill(
  r: FaultRun,
  faultAt: number,
  baseline: readonly number[],
): Promise<number | undefined> {
  const { d, root, master, loads, downAfterMs, log } = r;
  const failoverDeadline = Date.now() + downAfterMs + RECOVERY_GRACE_MS;
  const waiting = await untilRecovered(loads, baseline, failoverDeadline);
  if (waiting.length)
    throw new HaRedisError(
      `${waiting.map((l) => l.s.system).join(', ')} wrote nothing in ${downAfterMs + RECOVERY_GRACE_MS} ms after the kill`,
    );
  log(`  every system writes again after ${Date.now() - faultAt} ms`);
  await sleep(SETTLE_MS);
  if (r.spec.fault !== 'restart') return undefined;
  const returnedAt = Date.now();
  const pid = await startNode({ name: d.cluster, root }, master.id);
  log(`  started ${master.id} again (pid ${pid}); writers reconnect every ${CHURN_EVERY_MS} ms`);
  for (let t = 0; t < AFTER_RETURN_MS; t += CHURN_EVERY_MS) {
    await sleep(CHURN_EVERY_MS);
    for (const l of loads) l.load.reconnect();
  }
  return returnedAt;
}

/** Hit the master (kill -9 or SIGSTOP) and see the systems through it; returns when, and when it came back. */
async function injectFault(r: FaultRun): Promise<{ faultAt: number; returnedAt: number | undefined }> {
  const { spec, master, loads } = r;
  const faultAt = await signalNode(master.pid, master.port, spec.fault === 'zombie' ? 'SIGSTOP' : 'SIGKILL');
  r.frozen = spec.fault === 'zombie';
  r.log(`  ${spec.fault === 'zombie' ? 'SIGSTOP' : 'kill -9'} ${master.id} (pid ${master.pid})`);
  // Replies already in the sockets are counted within this pause; every ack after it comes from the new master.
  await sleep(REPLIES_IN_FLIGHT_MS);
  const baseline = loads.map((l) => l.load.ackCount);
  const returnedAt =
    spec.fault === 'zombie'
      ? await wakeZombie(r, faultAt, baseline)
      : await recoverFromKill(r, faultAt, baseline);
  return { faultAt, returnedAt };
}

/** Once the old master is back: every system must end up writing to the one master. */
async function awaitOneMaster(r: FaultRun, errors: string[]): Promise<void> {
  const before = r.loads.map((l) => l.load.ackCount);
  const waiting = await untilRecovered(r.loads, before, Date.now() + RECOVERY_GRACE_MS);
  if (waiting.length)
    errors.push(
      `run ${r.run}: ${waiting.map((l) => l.s.system).join(', ')} wrote nothing in ${RECOVERY_GRACE_MS} ms after the old master came back`,
    );
  await sleep(SETTLE_MS);
}

/** The group's writers (one load per system), and the baseline proxies they need (registered for teardown). */
async function prepareGroup(
  spec: FaultSpec,
  group: Group,
  run: number,
  cluster: { d: Descriptor; onDown: (cleanup: () => Promise<void>) => void; load: LoadProfile; log: Log },
): Promise<{ password: string; loads: Load[] }> {
  const { d, onDown, load: profile } = cluster;
  const password = (await readFile(d.passwordFile, 'utf8')).trim();
  const ca = await readFile(d.caCertPath, 'utf8');
  if (!d.nodes[0]) throw new HaRedisError('the cluster has no nodes');
  if (spec.plainSettings) await plainSettings(d, password);
  await preloadDataset(d, password, profile.datasetBytes, cluster.log);
  let baselines: BaselineProxy[] = [];
  if (group === 'baselines') {
    await stopOrchestrator(d);
    baselines = await startBaselineProxies(d, password);
    onDown(() => stopBaselineProxies(baselines));
  }
  const loads = spec.systems
    .filter((s) => s.group === group)
    .map((s) => ({
      s,
      load: new WorkerLoad(
        {
          target: s.target(d, ca, baselines),
          password,
          writers: profile.writers,
          valueBytes: profile.valueBytes,
          pipeline: profile.pipeline,
          keyPrefix: `bench:${s.system}:${run}`,
          ackReplicas: s.ackReplicas ?? 0,
        },
        false,
      ),
    }));
  return { password, loads };
}

async function faultOnce(
  spec: FaultSpec,
  group: Group,
  run: number,
  options: { downAfterMs: number; log: Log; keepFiles: boolean; load: LoadProfile },
): Promise<RunResult> {
  const { downAfterMs, log, load } = options;
  const upStarted = Date.now();
  const prefix = `bench-${spec.fault}-${{ 'ha-redis': 'h', 'ha-redis-agent': 'a', baselines: 'b' }[group]}`;
  const nodeAgent = group === 'ha-redis-agent';
  return withLocalCluster({ prefix, nodeAgent, ...options }, async (d, root, onDown) => {
    log(`  ${group}: cluster ${d.cluster} up in ${Date.now() - upStarted} ms`);
    const { password, loads } = await prepareGroup(spec, group, run, { d, onDown, load, log });
    const master = d.nodes[0] as Descriptor['nodes'][number];
    const watch = new SentinelWatch();
    let stopped = false;
    const stopLoads = () => {
      stopped = true;
      return Promise.all(loads.map((l) => l.load.stop()));
    };
    const r: FaultRun = { spec, run, d, root, master, loads, watch, downAfterMs, log, frozen: false };
    const errors: string[] = [];
    try {
      await watch.start(d.sentinels, password);
      for (const l of loads) l.load.start();
      await Promise.all(loads.map((l) => l.load.waitForAcks(WARMUP_ACKS)));
      await sleep(STEADY_MS);
      const { faultAt, returnedAt } = await injectFault(r);
      if (returnedAt !== undefined) await awaitOneMaster(r, errors);
      const reports = await stopLoads();
      const measure = { spec, group, run, d, password, master, watch, faultAt, returnedAt, errors };
      return await measureRun(
        measure,
        loads.map((l) => l.s),
        reports,
      );
    } finally {
      watch.stop();
      if (r.frozen) process.kill(master.pid, 'SIGCONT'); // never leave a stopped process behind
      if (!stopped) await stopLoads().catch(() => undefined);
    }
  });
}

/** Run a fault scenario `runs` times at one down-after (each run: both groups); one row per system. */
export async function runFault(all: FaultSpec, options: ScenarioOptions): Promise<ScenarioRow[]> {
  const { runs, downAfterMs } = options;
  const log = options.log ?? (() => undefined);
  const load = options.load ?? DEFAULT_LOAD;
  const spec = {
    ...all,
    systems: all.systems.filter((s) => !options.systems || options.systems.includes(s.system)),
  };
  const name = `${spec.name}/down-after-${downAfterMs}${loadLabel(load)}`;
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
          load,
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
  return faultRows(spec, { name, downAfterMs, load }, results, failures);
}

const scenario = (spec: FaultSpec, defaultDownAfterMs: readonly number[]): Scenario => ({
  name: spec.name,
  description: spec.description,
  defaultRuns: 5,
  defaultDownAfterMs,
  systems: spec.systems.map((s) => s.system),
  takesLoad: true,
  run: (options) => runFault(spec, options),
});

export const killMaster = scenario(KILL_MASTER, [5000, 1000]);
export const zombieMaster = scenario(ZOMBIE_MASTER, [5000]);
export const restartOldMaster = scenario(RESTART_OLD_MASTER, [5000]);
export const runKillMaster = (options: ScenarioOptions) => runFault(KILL_MASTER, options);
