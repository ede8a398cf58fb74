/**
 * Scenario host-drain: `ha-redis drain --host host-1` of a host set whose 8 services all have their master on
 * host-1, under a write load per service (one writer through host-2's HAProxy, a write counted once `WAIT 1`
 * says a replica has it), at 4 switchovers at a time (the default) and at 8. Per service: the write gap its
 * client saw and the switchover's own recorded gap (writes blocked to rerouted); lost acknowledged writes; the
 * whole drain's duration. Sentinel's own periods, as in production: most of a switchover is waiting for the
 * Sentinels to read the replicas' priorities (their 10-s INFO period).
 */

import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import { drainCommand } from '../../cli/commands/drain.ts';
import { silentLogger } from '../../cli/commands/status.ts';
import { localAccess, localDynamoClient } from '../../compose/local.ts';
import { descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import { countLost, WriteLoad } from '../../local/load.ts';
import { withHostSet } from '../host-set.ts';
import { type RunSample, type ScenarioRow, spread, summarize } from '../report.ts';
import type { Scenario, ScenarioOptions } from './types.ts';

const SERVICES = 8;
/** The default (1, after every service is prepared at once), then 4 and 8 at a time. */
const PARALLELISM = [1, 4, 8] as const;
/** Writes each service's writer must have acknowledged before the drain, and again after it. */
const WARM_ACKS = 200;

interface DrainRun {
  tookMs: number;
  samples: RunSample[];
  errors: string[];
}

/** One drain of host-1 at `parallel`, on a fresh set. */
export async function drainOnce(run: number, parallel: number, options: ScenarioOptions): Promise<DrainRun> {
  const log = options.log ?? (() => undefined);
  return withHostSet(
    { prefix: 'drain', services: SERVICES, sentinels: 'per-service', downAfterMs: options.downAfterMs, log },
    async (set, root) => {
      const services = await Promise.all(set.services.map((s) => readDescriptor(descriptorPath(s, root))));
      const password = await localAccess(services[0] as (typeof services)[number]).redisPassword();
      const loads = services.map((d) => {
        const p = d.proxies.find((x) => x.hostId === 'host-2');
        if (!p) throw new HaRedisError(`${d.cluster}: no proxy on host-2`);
        return new WriteLoad({
          target: { kind: 'direct', endpoint: { host: p.host, port: p.plainPort } },
          password,
          writers: 1,
          ackReplicas: 1,
        });
      });
      try {
        for (const l of loads) l.start();
        await Promise.all(loads.map((l) => l.waitForAcks(WARM_ACKS, 20_000)));
        const io = { out: () => undefined, err: (line: string) => log(`  ${line}`) };
        const started = Date.now();
        const code = await drainCommand(
          { host: 'host-1', set: set.set, root, parallel, logger: silentLogger },
          io,
        );
        const tookMs = Date.now() - started;
        const marks = loads.map((l) => l.ackCount);
        await Promise.all(loads.map((l, i) => l.waitForAcks((marks[i] ?? 0) + WARM_ACKS, 20_000)));
        const reports = await Promise.all(loads.map((l) => l.stop()));
        const dynamo = localDynamoClient(set.stateStore.endpoint);
        try {
          const state = new DynamoStateStore(dynamo, 'ha-redis-state');
          const samples = await Promise.all(
            services.map(async (d, i): Promise<RunSample> => {
              const report = reports[i] as (typeof reports)[number];
              const switchover = (await state.listHistory(d.cluster, 10)).find(
                (e) => e.kind === 'switchover',
              );
              const master = switchover?.newMaster;
              const lost = master ? (await countLost(master, password, report.ackedKeys)).length : -1;
              return {
                run,
                gapMs: report.maxGapMs,
                acked: report.acked,
                lost,
                failed: report.failed,
                ...(switchover?.writeGapMs != null ? { workflowWriteGapMs: switchover.writeGapMs } : {}),
                outcome: switchover?.outcome ?? 'no switchover recorded',
              };
            }),
          );
          return { tookMs, samples, errors: code === 0 ? [] : [`drain exited ${code}`] };
        } finally {
          dynamo.destroy();
        }
      } finally {
        for (const l of loads) await l.stop().catch(() => undefined);
      }
    },
  );
}

/** Run `runs` drains at each parallelism; one row each. */
async function runHostDrain(options: ScenarioOptions): Promise<ScenarioRow[]> {
  const log = options.log ?? (() => undefined);
  const rows: ScenarioRow[] = [];
  for (const parallel of PARALLELISM) {
    const name = `host-drain/${SERVICES}-services/down-after-${options.downAfterMs}`;
    const done: DrainRun[] = [];
    const errors: string[] = [];
    for (let run = 1; run <= options.runs; run += 1) {
      log(`${name}, ${parallel} at a time: run ${run} of ${options.runs}`);
      try {
        const r = await drainOnce(run, parallel, options);
        done.push(r);
        errors.push(...r.errors);
        const gaps = r.samples.map((s) => s.workflowWriteGapMs ?? Number.NaN);
        log(`  drained in ${(r.tookMs / 1000).toFixed(1)} s; switchover gaps ${gaps.join(', ')} ms`);
      } catch (error) {
        errors.push(`run ${run} failed: ${errorMessage(error)}`);
        log(`  run ${run} FAILED: ${errorMessage(error)}`);
      }
    }
    if (!done.length) throw new HaRedisError(`${name}: every run failed; ${errors.join('; ')}`);
    const samples = done.flatMap((r) => r.samples);
    rows.push({
      name,
      system: `ha-redis drain, ${parallel} at a time`,
      runs: done.length,
      gapMs: summarize(samples.map((s) => s.gapMs)),
      acked: samples.reduce((a, s) => a + s.acked, 0),
      lost: samples.reduce((a, s) => a + Math.max(0, s.lost), 0),
      downAfterMs: options.downAfterMs,
      writers: SERVICES,
      workflowWriteGapMs: summarize(
        samples.flatMap((s) => (s.workflowWriteGapMs === undefined ? [] : [s.workflowWriteGapMs])),
      ),
      procedureMs: spread(done.map((r) => r.tookMs)),
      samples,
      errors: [
        ...errors,
        ...samples
          .filter((s) => s.lost < 0 || s.outcome !== 'succeeded')
          .map((s) => `a switchover: ${s.outcome}`),
      ],
    });
  }
  return rows;
}

export const hostDrain: Scenario = {
  name: 'host-drain',
  description: `drain --host host-1 of a set of ${SERVICES} services whose masters are all on host-1, under load`,
  defaultRuns: 1,
  defaultDownAfterMs: [5000],
  run: runHostDrain,
};
