/**
 * Scenario switchover: a planned master switch under write load, three ways, each run on its own fresh local
 * cluster with the same 4 writers (plain SET, the reply is the ack):
 * - `ha-redis`: writers through HAProxy proxy-1; ha-redis' switchover workflow (the CDK state machine run locally).
 * - `naive-sentinel-failover`: orchestrator stopped; writers are a Sentinel-aware ioredis client;
 *   `SENTINEL FAILOVER`, and keep writing until Sentinel demotes the old master (ROLE slave).
 * - `classic-careful`: orchestrator stopped; writers through HAProxy proxy-1; the careful script by hand:
 *   1. both proxies: `set server <b>/<s> state maint` + `shutdown sessions server <b>/<s>` (not `disable frontend`:
 *      clients keep connecting and are refused until the reroute, as with ha-redis);
 *   2. old master: `MULTI; SET <marker>; CLIENT PAUSE 10000 WRITE; EXEC`, then `WAIT <replicas> 5000`. The marker
 *      write gives the admin connection a replication offset: a WAIT on a connection that never wrote returns at
 *      once (it waits for offset 0), which would make the classic way look faster and check nothing. Under the
 *      pause WAIT returns only at the replicas' 1-s ACK tick (DESIGN); measured as it is;
 *   3. `SENTINEL FAILOVER` on sentinel-1; poll every Sentinel's `GET-MASTER-ADDR-BY-NAME` every 20 ms until one
 *      names the new master;
 *   4. both proxies: `set server <b>/<s> addr <new> port <p>` + `state ready`; 5. `CLIENT UNPAUSE` on the old master.
 * One run of one system: 1. up 2. (stop the orchestrator) 3. start the writers (in a worker thread), wait for
 * WARMUP_ACKS 4. the procedure 5. wait for RECOVERED_ACKS more, plus SETTLE_MS 6. stop the writers 7. count lost
 * writes on the final master 8. down. Runs interleave the systems (run 1 of each, then run 2 of each...).
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { runtimeApi } from '../../adapters/haproxy/runtime-api.ts';
import { type Endpoint, formatEndpoint, sameEndpoint } from '../../core/model/cluster.ts';
import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import type { Logger } from '../../core/ports.ts';
import type { Descriptor } from '../../local/descriptor.ts';
import { countLost, type LoadTarget } from '../../local/load.ts';
import { runLocalSwitchover } from '../../local/switchover-runner.ts';
import { type Log, withLocalCluster } from '../cluster.ts';
import { adminClient, finalMaster, roleOf, stopOrchestrator } from '../nodes.ts';
import { type RunSample, type ScenarioRow, spread, summarize } from '../report.ts';
import { WorkerLoad } from '../worker-load.ts';
import type { Scenario, ScenarioOptions } from './types.ts';

const NAME = 'switchover';
const WRITERS = 4;
/** Acks before the switch: every writer is connected and writing. */
const WARMUP_ACKS = 200;
/** Acks after the procedure that prove the writers write to the new master. */
const RECOVERED_ACKS = 20;
const RECOVERY_TIMEOUT_MS = 15_000;
/** Keep writing this long after the writers recovered, so that the write gap is closed. */
const SETTLE_MS = 1000;
/** naive: stop waiting for Sentinel to demote the old master after this long. */
const DEMOTION_CAP_MS = 20_000;
/** classic: stop waiting for a Sentinel to name the new master after this long. */
const NAMED_TIMEOUT_MS = 30_000;
const POLL_MS = 20;
const CLASSIC_PAUSE_MS = 10_000;
const CLASSIC_WAIT_TIMEOUT_MS = 5000;

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** What a procedure measured, and where the writes must be now. */
interface ProcedureResult {
  startedAt: number;
  endedAt: number;
  finalMaster: Endpoint;
  workflowWriteGapMs?: number;
  waitMs?: number;
  namedAfterFailoverMs?: number | null;
  oldMasterDemotedAfterFailoverMs?: number | null;
  /** Problems that did not fail the run. */
  problems: string[];
  /** A detail for the progress line. */
  note?: string;
}

interface ProcedureContext {
  d: Descriptor;
  password: string;
  run: number;
  /** The master the cluster started with. */
  master: Endpoint & { id: string };
}

interface SystemUnderTest {
  system: string;
  /** Stop the orchestrator first: it would react to the Sentinel failover. */
  stopOrchestrator: boolean;
  target(d: Descriptor): LoadTarget;
  procedure(ctx: ProcedureContext): Promise<ProcedureResult>;
}

const proxy1 = (d: Descriptor) => {
  const p = d.proxies[0];
  if (!p) throw new HaRedisError('the cluster has no proxy');
  return { host: p.host, port: p.plainPort };
};

/** Until `fn` answers a value (not undefined), polling every POLL_MS; undefined after `timeoutMs`. */
async function pollFor<T>(fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await sleep(POLL_MS);
  }
}

/** The first master address that any Sentinel names and that differs from `old`. */
function pollNamedMaster(
  sentinels: Redis[],
  masterName: string,
  old: Endpoint,
): () => Promise<Endpoint | undefined> {
  return async () => {
    const named = await Promise.all(
      sentinels.map((s) =>
        s
          .call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)
          .then((r) => {
            const [host, port] = r as [string, string];
            return { host, port: Number(port) };
          })
          .catch(() => undefined),
      ),
    );
    return named.find((e) => e && !sameEndpoint(e, old));
  };
}

/** ha-redis: the switchover workflow, as `ha-redis switchover` runs it locally; it must end SUCCEEDED. */
async function haRedisProcedure({ d, password }: ProcedureContext): Promise<ProcedureResult> {
  const startedAt = Date.now();
  const result = await runLocalSwitchover(d, { reason: 'bench', requestedBy: 'bench' }, { logger: silent });
  const endedAt = Date.now();
  const state = result.state;
  if (result.status !== 'SUCCEEDED' || state?.outcome !== 'succeeded') {
    const steps = (state?.timeline ?? [])
      .filter((s) => s.status !== 'ok')
      .map((s) => `${s.step} ${s.status}${s.detail ? `: ${s.detail}` : ''}`);
    throw new HaRedisError(
      `workflow ${result.status}, outcome ${state?.outcome ?? '?'}` +
        (result.error ? `, ${result.error}` : '') +
        (result.cause ? `: ${result.cause.slice(0, 400)}` : '') +
        (steps.length ? `; steps: ${steps.join('; ')}` : ''),
    );
  }
  const problems: string[] = [];
  const master = await finalMaster(d.nodes, password);
  const target = state.plan?.target;
  if (target && !sameEndpoint(master, target))
    problems.push(`the final master is ${formatEndpoint(master)}, the plan's target ${target.id}`);
  if (state.writeGapMs === undefined) problems.push('the workflow state has no writeGapMs');
  const step = (name: string) => state.timeline.find((s) => s.step === name);
  const blocked = step('writes-blocked');
  const rerouted = step('rerouted');
  return {
    ...(blocked && rerouted
      ? {
          note: `workflow: writes-blocked at +${blocked.at - startedAt} ms, rerouted done at +${rerouted.at + rerouted.durationMs - startedAt} ms`,
        }
      : {}),
    startedAt,
    endedAt,
    finalMaster: master,
    ...(state.writeGapMs !== undefined ? { workflowWriteGapMs: state.writeGapMs } : {}),
    problems,
  };
}

/** naive: `SENTINEL FAILOVER`, then writers keep writing until Sentinel demotes the old master. */
async function naiveProcedure({ d, password, master }: ProcedureContext): Promise<ProcedureResult> {
  const sentinels = d.sentinels.map((s) => adminClient(s, password));
  const old = adminClient(master, password, 500);
  try {
    const [sentinel] = sentinels;
    if (!sentinel) throw new HaRedisError('the cluster has no Sentinel');
    const startedAt = Date.now();
    await sentinel.call('SENTINEL', 'FAILOVER', d.masterName);
    // Both watched at once: the new master's name (at +switch-master) and the old master's demotion (~8+ s later).
    let namedAt: number | undefined;
    const named = pollFor(pollNamedMaster(sentinels, d.masterName, master), DEMOTION_CAP_MS).then((e) => {
      if (e) namedAt = Date.now();
      return e;
    });
    const demoted = await pollFor(
      async () => ((await roleOf(old)) === 'slave' ? Date.now() : undefined),
      DEMOTION_CAP_MS,
    );
    const endedAt = Date.now();
    const newMaster = await named;
    const problems: string[] = [];
    if (demoted === undefined)
      problems.push(
        `the old master ${master.id} still was not ROLE slave ${DEMOTION_CAP_MS} ms after FAILOVER`,
      );
    const survivors = demoted === undefined ? d.nodes.filter((n) => n.id !== master.id) : d.nodes;
    const final = await finalMaster(survivors, password);
    if (newMaster && !sameEndpoint(final, newMaster))
      problems.push(`Sentinel named ${formatEndpoint(newMaster)} but ${formatEndpoint(final)} is master`);
    return {
      startedAt,
      endedAt,
      finalMaster: final,
      namedAfterFailoverMs: namedAt === undefined ? null : namedAt - startedAt,
      oldMasterDemotedAfterFailoverMs: demoted === undefined ? null : demoted - startedAt,
      problems,
    };
  } finally {
    for (const c of [...sentinels, old]) c.disconnect();
  }
}

/** The Runtime API answers nothing to these commands when they succeed, or the address/port change notes. */
async function onEveryProxy(d: Descriptor, commands: (server: string) => string[]): Promise<void> {
  await Promise.all(
    d.proxies.map(async (p) => {
      const answer = await runtimeApi(p.runtimeApi, commands(`${p.backend}/${p.server}`));
      const unexpected = answer
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !/^(IP changed|no need to change|port changed)/i.test(l));
      if (unexpected.length) throw new HaRedisError(`proxy ${p.id} answered: ${unexpected.join(' | ')}`);
    }),
  );
}

/** classic-careful: cut the proxies, pause + WAIT, SENTINEL FAILOVER, wait for Sentinel to name, reroute, unpause. */
async function classicProcedure({ d, password, master, run }: ProcedureContext): Promise<ProcedureResult> {
  const sentinels = d.sentinels.map((s) => adminClient(s, password));
  const old = adminClient(master, password, CLASSIC_WAIT_TIMEOUT_MS + 1000);
  const replicas = d.nodes.length - 1;
  try {
    const [sentinel] = sentinels;
    if (!sentinel) throw new HaRedisError('the cluster has no Sentinel');
    const problems: string[] = [];
    const startedAt = Date.now();
    await onEveryProxy(d, (server) => [
      `set server ${server} state maint`,
      `shutdown sessions server ${server}`,
    ]);
    const paused = await old
      .multi()
      .set(`bench:classic-careful:${run}:marker`, String(Date.now()))
      .call('CLIENT', 'PAUSE', String(CLASSIC_PAUSE_MS), 'WRITE')
      .exec();
    const pauseError = paused?.find(([e]) => e)?.[0];
    if (!paused || pauseError)
      throw new HaRedisError(`pause failed: ${errorMessage(pauseError ?? 'no reply')}`);
    const waitStarted = Date.now();
    const acked = Number(await old.call('WAIT', String(replicas), String(CLASSIC_WAIT_TIMEOUT_MS)));
    const waitMs = Date.now() - waitStarted;
    if (acked < replicas) problems.push(`WAIT ${replicas} answered ${acked} after ${waitMs} ms`);
    const failoverAt = Date.now();
    await sentinel.call('SENTINEL', 'FAILOVER', d.masterName);
    const named = await pollFor(pollNamedMaster(sentinels, d.masterName, master), NAMED_TIMEOUT_MS);
    if (!named) throw new HaRedisError(`no Sentinel named a new master within ${NAMED_TIMEOUT_MS} ms`);
    const namedAt = Date.now();
    await onEveryProxy(d, (server) => [
      `set server ${server} addr ${named.host} port ${named.port}`,
      `set server ${server} state ready`,
    ]);
    await old.call('CLIENT', 'UNPAUSE');
    const endedAt = Date.now();
    // The old master still claims master until Sentinel demotes it (~8 s): the final master is the named one.
    const final = await finalMaster(
      d.nodes.filter((n) => n.id !== master.id),
      password,
    );
    if (!sameEndpoint(final, named))
      problems.push(`Sentinel named ${formatEndpoint(named)} but ${formatEndpoint(final)} is master`);
    return {
      startedAt,
      endedAt,
      finalMaster: final,
      waitMs,
      namedAfterFailoverMs: namedAt - failoverAt,
      problems,
    };
  } finally {
    for (const c of [...sentinels, old]) c.disconnect();
  }
}

export const SWITCHOVER_SYSTEMS: readonly SystemUnderTest[] = [
  {
    system: 'ha-redis',
    stopOrchestrator: false,
    target: (d) => ({ kind: 'direct', endpoint: proxy1(d) }),
    procedure: haRedisProcedure,
  },
  {
    system: 'naive-sentinel-failover',
    stopOrchestrator: true,
    target: (d) => ({
      kind: 'sentinel',
      sentinels: d.sentinels.map((s) => ({ host: s.host, port: s.port })),
      masterName: d.masterName,
    }),
    procedure: naiveProcedure,
  },
  {
    system: 'classic-careful',
    stopOrchestrator: true,
    target: (d) => ({ kind: 'direct', endpoint: proxy1(d) }),
    procedure: classicProcedure,
  },
];

/** One run of one system on a fresh cluster. */
async function switchoverOnce(
  s: SystemUnderTest,
  run: number,
  options: { downAfterMs: number; log: Log; keepFiles: boolean },
): Promise<{ sample: RunSample; problems: string[]; note?: string }> {
  const { log } = options;
  const upStarted = Date.now();
  return withLocalCluster({ prefix: 'bench-so', ...options }, async (d) => {
    log(`  cluster ${d.cluster} up in ${Date.now() - upStarted} ms`);
    const password = (await readFile(d.passwordFile, 'utf8')).trim();
    const first = d.nodes[0];
    if (!first) throw new HaRedisError('the cluster has no nodes');
    if (s.stopOrchestrator) await stopOrchestrator(d);
    // In a worker thread: the in-process workflow must not stall the writers' event loop (see worker-load.ts).
    const load = new WorkerLoad({
      target: s.target(d),
      password,
      writers: WRITERS,
      keyPrefix: `bench:${s.system}:${run}`,
      ackReplicas: 0,
    });
    let stopped = false;
    try {
      await load.waitForAcks(WARMUP_ACKS);
      const ackedBefore = load.ackCount;
      const p = await s.procedure({ d, password, run, master: first });
      const ackedDuringProcedure = load.ackCount - ackedBefore;
      const baseline = load.ackCount;
      const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
      while (load.ackCount < baseline + RECOVERED_ACKS) {
        if (Date.now() > deadline)
          throw new HaRedisError(
            `the writers wrote ${load.ackCount - baseline} of ${RECOVERED_ACKS} writes in ${RECOVERY_TIMEOUT_MS} ms after the procedure`,
          );
        await sleep(POLL_MS);
      }
      await sleep(SETTLE_MS);
      stopped = true;
      const report = await load.stop();
      const lost = await countLost(p.finalMaster, password, report.ackedKeys);
      const sample: RunSample = {
        run,
        gapMs: report.maxGapMs,
        acked: report.acked,
        lost: lost.length,
        ...(lost.length ? { lostKeys: lost.slice(0, 10) } : {}),
        failed: report.failed,
        procedureMs: p.endedAt - p.startedAt,
        ...(report.gaps[0] ? { gapStartMs: report.gaps[0].from - p.startedAt } : {}),
        ackedDuringProcedure,
        ...(p.workflowWriteGapMs !== undefined ? { workflowWriteGapMs: p.workflowWriteGapMs } : {}),
        ...(p.waitMs !== undefined ? { waitMs: p.waitMs } : {}),
        ...(p.namedAfterFailoverMs !== undefined ? { namedAfterFailoverMs: p.namedAfterFailoverMs } : {}),
        ...(p.oldMasterDemotedAfterFailoverMs !== undefined
          ? { oldMasterDemotedAfterFailoverMs: p.oldMasterDemotedAfterFailoverMs }
          : {}),
      };
      return { sample, problems: p.problems, ...(p.note ? { note: p.note } : {}) };
    } finally {
      if (!stopped) await load.stop().catch(() => undefined);
    }
  });
}

const describe = (s: RunSample): string =>
  [
    `gap ${s.gapMs} ms${s.gapStartMs !== undefined ? ` from +${s.gapStartMs} ms` : ''}`,
    ...(s.workflowWriteGapMs !== undefined ? [`workflow writeGapMs ${s.workflowWriteGapMs}`] : []),
    `${s.acked} acked (${s.ackedDuringProcedure ?? '?'} during the procedure)`,
    `${s.lost} lost`,
    `procedure ${s.procedureMs} ms`,
    ...(s.waitMs !== undefined ? [`WAIT ${s.waitMs} ms`] : []),
    ...(s.namedAfterFailoverMs !== undefined ? [`named +${s.namedAfterFailoverMs ?? '?'} ms`] : []),
    ...(s.oldMasterDemotedAfterFailoverMs !== undefined
      ? [`old master demoted +${s.oldMasterDemotedAfterFailoverMs ?? '?'} ms`]
      : []),
  ].join(', ');

/** Run each system `runs` times, interleaved; one row per system. Throws when every run of every system failed. */
export async function runSwitchover(options: ScenarioOptions): Promise<ScenarioRow[]> {
  const { runs, downAfterMs } = options;
  const log = options.log ?? (() => undefined);
  const samples = new Map<string, RunSample[]>(SWITCHOVER_SYSTEMS.map((s) => [s.system, []]));
  const errors = new Map<string, string[]>(SWITCHOVER_SYSTEMS.map((s) => [s.system, []]));
  for (let run = 1; run <= runs; run += 1) {
    for (const s of SWITCHOVER_SYSTEMS) {
      log(`${NAME}: ${s.system} run ${run} of ${runs}`);
      const started = Date.now();
      try {
        const { sample, problems, note } = await switchoverOnce(s, run, {
          downAfterMs,
          log,
          keepFiles: options.keepFiles ?? false,
        });
        samples.get(s.system)?.push(sample);
        log(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${describe(sample)}`);
        if (note) log(`  ${note}`);
        for (const p of problems) {
          errors.get(s.system)?.push(`run ${run} ${s.system}: ${p}`);
          log(`  problem: ${p}`);
        }
      } catch (error) {
        errors.get(s.system)?.push(`run ${run} ${s.system} failed: ${errorMessage(error)}`);
        log(
          `  run ${run} ${s.system} FAILED after ${((Date.now() - started) / 1000).toFixed(1)} s: ${errorMessage(error)}`,
        );
      }
    }
  }
  if (![...samples.values()].some((x) => x.length))
    throw new HaRedisError(`${NAME}: every run failed; ${[...errors.values()].flat().join('; ')}`);

  return SWITCHOVER_SYSTEMS.map((s) => {
    const mine = samples.get(s.system) ?? [];
    const optional = <K extends string, V>(key: K, value: V | undefined) =>
      (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
    const workflowGaps = mine.flatMap((x) =>
      x.workflowWriteGapMs === undefined ? [] : [x.workflowWriteGapMs],
    );
    return {
      name: NAME,
      system: s.system,
      runs: mine.length,
      gapMs: summarize(mine.map((x) => x.gapMs)),
      acked: mine.reduce((sum, x) => sum + x.acked, 0),
      lost: mine.reduce((sum, x) => sum + x.lost, 0),
      downAfterMs,
      writers: WRITERS,
      ...optional('workflowWriteGapMs', workflowGaps.length ? summarize(workflowGaps) : undefined),
      ...optional('procedureMs', spread(mine.map((x) => x.procedureMs))),
      ackedDuringProcedure: mine.reduce((sum, x) => sum + (x.ackedDuringProcedure ?? 0), 0),
      ...optional('waitMs', spread(mine.map((x) => x.waitMs))),
      ...optional('namedAfterFailoverMs', spread(mine.map((x) => x.namedAfterFailoverMs))),
      ...optional(
        'oldMasterDemotedAfterFailoverMs',
        spread(mine.map((x) => x.oldMasterDemotedAfterFailoverMs)),
      ),
      samples: mine,
      errors: errors.get(s.system) ?? [],
    };
  });
}

export const switchover: Scenario = {
  name: NAME,
  defaultRuns: 10,
  defaultDownAfterMs: [5000],
  description:
    'planned switchover under write load: the ha-redis workflow vs a plain SENTINEL FAILOVER vs the classic careful script',
  run: runSwitchover,
};
