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
 * The procedures themselves are in switchover-procedures.ts.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Descriptor } from '../../config/local-descriptor.ts';
import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import { countLost, type LoadTarget } from '../../local/load.ts';
import { type Log, withLocalCluster } from '../cluster.ts';
import {
  DEFAULT_LOAD,
  type LoadProfile,
  loadFields,
  loadLabel,
  preloadDataset,
  ratePerSecond,
  STEADY_MS,
} from '../load-profile.ts';
import { stopOrchestrator } from '../nodes.ts';
import { type RunSample, type ScenarioRow, spread, summarize } from '../report.ts';
import { WorkerLoad } from '../worker-load.ts';
import {
  classicProcedure,
  haRedisProcedure,
  naiveProcedure,
  POLL_MS,
  type ProcedureContext,
  type ProcedureResult,
} from './switchover-procedures.ts';
import type { Scenario, ScenarioOptions } from './types.ts';

const NAME = 'switchover';
/** Acks before the switch: every writer is connected and writing. */
const WARMUP_ACKS = 200;
/** Acks after the procedure that prove the writers write to the new master. */
const RECOVERED_ACKS = 20;
const RECOVERY_TIMEOUT_MS = 15_000;
/** Keep writing this long after the writers recovered, so that the write gap is closed. */
const SETTLE_MS = 1000;

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
  options: { downAfterMs: number; log: Log; keepFiles: boolean; load: LoadProfile },
): Promise<{ sample: RunSample; problems: string[]; note?: string }> {
  const { log, load: profile } = options;
  const upStarted = Date.now();
  return withLocalCluster({ prefix: 'bench-so', ...options }, async (d) => {
    log(`  cluster ${d.cluster} up in ${Date.now() - upStarted} ms`);
    const password = (await readFile(d.passwordFile, 'utf8')).trim();
    const first = d.nodes[0];
    if (!first) throw new HaRedisError('the cluster has no nodes');
    await preloadDataset(d, password, profile.datasetBytes, log);
    if (s.stopOrchestrator) await stopOrchestrator(d);
    // In a worker thread: the in-process workflow must not stall the writers' event loop (see worker-load.ts).
    const load = new WorkerLoad({
      target: s.target(d),
      password,
      writers: profile.writers,
      valueBytes: profile.valueBytes,
      pipeline: profile.pipeline,
      keyPrefix: `bench:${s.system}:${run}`,
      ackReplicas: 0,
    });
    let stopped = false;
    try {
      await load.waitForAcks(WARMUP_ACKS);
      await sleep(STEADY_MS);
      const ackedBefore = load.ackCount;
      const procedureAt = Date.now();
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
        opsPerSec: ratePerSecond(report.ackedAt, procedureAt, STEADY_MS),
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
    `${s.acked} acked (${s.ackedDuringProcedure ?? '?'} during the procedure, ${s.opsPerSec ?? '?'}/s before)`,
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
  const load = options.load ?? DEFAULT_LOAD;
  const systems = SWITCHOVER_SYSTEMS.filter((s) => !options.systems || options.systems.includes(s.system));
  const samples = new Map<string, RunSample[]>(systems.map((s) => [s.system, []]));
  const errors = new Map<string, string[]>(systems.map((s) => [s.system, []]));
  for (let run = 1; run <= runs; run += 1) {
    for (const s of systems) {
      log(`${NAME}: ${s.system} run ${run} of ${runs}`);
      const started = Date.now();
      try {
        const { sample, problems, note } = await switchoverOnce(s, run, {
          downAfterMs,
          log,
          keepFiles: options.keepFiles ?? false,
          load,
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

  return switchoverRows({ downAfterMs, load, systems }, samples, errors);
}

/** One report row per system, over its samples. */
function switchoverRows(
  cell: { downAfterMs: number; load: LoadProfile; systems: readonly SystemUnderTest[] },
  samples: ReadonlyMap<string, RunSample[]>,
  errors: ReadonlyMap<string, string[]>,
): ScenarioRow[] {
  const { downAfterMs, load, systems } = cell;
  return systems.map((s) => {
    const mine = samples.get(s.system) ?? [];
    const optional = <K extends string, V>(key: K, value: V | undefined) =>
      (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
    const workflowGaps = mine.flatMap((x) =>
      x.workflowWriteGapMs === undefined ? [] : [x.workflowWriteGapMs],
    );
    return {
      name: `${NAME}${loadLabel(load)}`,
      system: s.system,
      runs: mine.length,
      gapMs: summarize(mine.map((x) => x.gapMs)),
      acked: mine.reduce((sum, x) => sum + x.acked, 0),
      lost: mine.reduce((sum, x) => sum + x.lost, 0),
      downAfterMs,
      ...loadFields(load),
      ...optional('opsPerSec', spread(mine.map((x) => x.opsPerSec))),
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
  systems: SWITCHOVER_SYSTEMS.map((s) => s.system),
  takesLoad: true,
  description:
    'planned switchover under write load: the ha-redis workflow vs a plain SENTINEL FAILOVER vs the classic careful script',
  run: runSwitchover,
};
