/**
 * Scenario kill-master: `kill -9` the master of a fresh local cluster under write load, and measure, on the
 * same failover and with the same writers, ha-redis (clients through HAProxy, rerouted by the orchestrator)
 * against a Sentinel-aware ioredis client.
 * One run: 1. up 2. subscribe to the Sentinels 3. start the loads 4. kill -9 the master
 * 5. wait until every system writes again, plus a second 6. stop the loads 7. count lost writes on the final
 * master 8. read the orchestrator's history entry 9. down.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import { localDynamoClient } from '../../compose/local.ts';
import { errorMessage, HaRedisError } from '../../functions/core/errors.ts';
import type { HistoryEntry } from '../../functions/core/ports.ts';
import type { TimelineStep } from '../../functions/core/timeline.ts';
import type { Descriptor } from '../../local/descriptor.ts';
import { countLost, type LoadReport, type LoadTarget, WriteLoad } from '../../local/load.ts';
import { commandLine } from '../../local/processes.ts';
import { type Log, withLocalCluster } from '../cluster.ts';
import { finalMaster } from '../nodes.ts';
import { type RunSample, type ScenarioRow, spread, summarize } from '../report.ts';
import { SentinelWatch } from '../sentinel-watch.ts';
import type { Scenario, ScenarioOptions } from './types.ts';

const WRITERS = 4;
/** Acks each system must have before the kill: every writer is connected and writing. */
const WARMUP_ACKS = 200;
/** Acks after the kill that prove a system writes to the new master. */
const RECOVERED_ACKS = 20;
/** Keep writing this long after every system recovered, so that the write gap is closed on both sides. */
const SETTLE_MS = 1000;
/** A failover that takes longer than down-after plus this is a failed run. */
const RECOVERY_GRACE_MS = 30_000;
/** The orchestrator records history after verify; it can lag the first writes through the proxy. */
const HISTORY_TIMEOUT_MS = 20_000;
const PROMOTION_EVENTS = ['+failover-state-wait-promotion', '+promoted-slave'];

/** A system under test: how its writers reach the master. */
interface SystemUnderTest {
  system: string;
  target(d: Descriptor, ca: string): LoadTarget;
  /** Its reaction is ha-redis's: read the orchestrator's history for reroute and fence timings. */
  haRedis: boolean;
  /** Writers count an ack only once WAIT says this many replicas have the write. */
  ackReplicas?: number;
}

const proxy = (d: Descriptor, index: number) => {
  const p = d.proxies[index];
  if (!p) throw new HaRedisError(`the cluster has no proxy #${index + 1}`);
  return p;
};

/** The systems measured on every failover, each with its own WRITERS writers. */
export const KILL_MASTER_SYSTEMS: readonly SystemUnderTest[] = [
  {
    system: 'ha-redis',
    haRedis: true,
    target: (d) => ({ kind: 'direct', endpoint: { host: proxy(d, 0).host, port: proxy(d, 0).plainPort } }),
  },
  {
    system: 'ha-redis-tls',
    haRedis: true,
    target: (d, ca) => ({
      kind: 'direct',
      endpoint: { host: proxy(d, 1).host, port: proxy(d, 1).tlsPort },
      tlsCa: ca,
    }),
  },
  {
    // The same proxy, with writes acknowledged by WAIT 1: what a client that needs durability sees.
    system: 'ha-redis-wait1',
    haRedis: true,
    ackReplicas: 1,
    target: (d) => ({ kind: 'direct', endpoint: { host: proxy(d, 0).host, port: proxy(d, 0).plainPort } }),
  },
  {
    system: 'sentinel-ioredis',
    haRedis: false,
    target: (d) => ({
      kind: 'sentinel',
      sentinels: d.sentinels.map((s) => ({ host: s.host, port: s.port })),
      masterName: d.masterName,
    }),
  },
];

/** What one run measured. */
interface RunResult {
  run: number;
  promotionAfterKillMs: number | null;
  switchMasterAfterKillMs: number | null;
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

/** Kill -9 `pid` after checking it is still this node's redis-server (never a recycled pid); returns when. */
async function killNode(pid: number, port: number): Promise<number> {
  const cmd = await commandLine(pid);
  if (!cmd?.includes('redis-server') || !cmd.includes(`:${port}`))
    throw new HaRedisError(`pid ${pid} is not the master's redis-server on port ${port} (${cmd ?? 'gone'})`);
  const at = Date.now();
  process.kill(pid, 'SIGKILL');
  return at;
}

async function killMasterOnce(
  run: number,
  options: { downAfterMs: number; log: Log; keepFiles: boolean },
): Promise<RunResult> {
  const { downAfterMs, log } = options;
  const upStarted = Date.now();
  return withLocalCluster({ prefix: 'bench-km', ...options }, async (d) => {
    log(`  cluster ${d.cluster} up in ${Date.now() - upStarted} ms`);
    const password = (await readFile(d.passwordFile, 'utf8')).trim();
    const ca = await readFile(d.caCertPath, 'utf8');
    const master = d.nodes[0];
    if (!master) throw new HaRedisError('the cluster has no nodes');
    const watch = new SentinelWatch();
    const loads = KILL_MASTER_SYSTEMS.map((s) => ({
      s,
      load: new WriteLoad({
        target: s.target(d, ca),
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
    try {
      await watch.start(d.sentinels, password);
      for (const l of loads) l.load.start();
      await Promise.all(loads.map((l) => l.load.waitForAcks(WARMUP_ACKS)));

      const killAt = await killNode(master.pid, master.port);
      log(`  kill -9 ${master.id} (pid ${master.pid})`);
      // Replies already in the sockets are counted within this pause; every ack after it comes from the new master.
      await sleep(100);
      const baseline = loads.map((l) => l.load.ackCount);
      const recoveryDeadline = Date.now() + downAfterMs + RECOVERY_GRACE_MS;
      for (;;) {
        const waiting = loads.filter((l, i) => l.load.ackCount < (baseline[i] ?? 0) + RECOVERED_ACKS);
        if (!waiting.length) break;
        if (Date.now() > recoveryDeadline)
          throw new HaRedisError(
            `${waiting.map((l) => l.s.system).join(', ')} wrote nothing in ${downAfterMs + RECOVERY_GRACE_MS} ms after the kill`,
          );
        await sleep(20);
      }
      log(`  every system writes again after ${Date.now() - killAt} ms`);
      await sleep(SETTLE_MS);
      const reports = await stopLoads();

      const promotion = watch.firstOf(...PROMOTION_EVENTS);
      const switchMaster = watch.firstOf('+switch-master');
      const survivors = d.nodes.filter((n) => n.id !== master.id);
      const newMaster = await finalMaster(survivors, password);
      const errors: string[] = [];
      if (!promotion) errors.push(`run ${run}: no promotion event seen from any Sentinel`);
      let entry: HistoryEntry | undefined;
      try {
        entry = await waitForFailoverEntry(d);
      } catch (error) {
        errors.push(`run ${run} ha-redis: ${errorMessage(error)}`);
      }
      const rerouted = entry?.timeline.find((s) => s.step === 'rerouted' && s.status === 'ok');
      const fenced = entry?.timeline.find((s) => s.step === 'fenced' && s.status === 'ok');
      if (entry && !fenced)
        errors.push(`run ${run} ha-redis: the history entry has no successful 'fenced' step`);

      const samples = new Map<string, RunSample>();
      for (const [i, { s }] of loads.entries()) {
        const report = reports[i] as LoadReport;
        const lost = await countLost(newMaster, password, report.ackedKeys);
        // The outage is the gap that spans the kill (an ack just after it may still come from the old master).
        const outage = report.gaps.find((g) => g.from <= killAt + 20 && g.to > killAt);
        samples.set(s.system, {
          run,
          gapMs: report.maxGapMs,
          acked: report.acked,
          lost: lost.length,
          ...(lost.length ? { lostKeys: lost.slice(0, 10) } : {}),
          failed: report.failed,
          recoveryAfterPromotionMs: since(outage?.to, promotion?.at),
          ...(s.haRedis
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
        promotionAfterKillMs: since(promotion?.at, killAt),
        switchMasterAfterKillMs: since(switchMaster?.at, killAt),
        samples,
        errors,
      };
    } finally {
      watch.stop();
      if (!stopped) await stopLoads().catch(() => undefined);
    }
  });
}

const describeRun = (r: RunResult): string =>
  [
    `promotion +${r.promotionAfterKillMs ?? '?'} ms, +switch-master +${r.switchMasterAfterKillMs ?? '?'} ms`,
    ...[...r.samples.entries()].map(
      ([system, s]) =>
        `${system}: gap ${s.gapMs} ms, ${s.acked} acked, ${s.lost} lost` +
        (s.rerouteAfterPromotionMs !== undefined ? `, rerouted +${s.rerouteAfterPromotionMs ?? '?'} ms` : ''),
    ),
  ].join('; ');

/** Run kill-master `runs` times at one down-after; one row per system. Throws when every run failed. */
export async function runKillMaster(options: ScenarioOptions): Promise<ScenarioRow[]> {
  const { runs, downAfterMs } = options;
  const log = options.log ?? (() => undefined);
  const name = `kill-master/down-after-${downAfterMs}`;
  const results: RunResult[] = [];
  const failures: string[] = [];
  for (let run = 1; run <= runs; run += 1) {
    log(`${name}: run ${run} of ${runs}`);
    const started = Date.now();
    try {
      const result = await killMasterOnce(run, { downAfterMs, log, keepFiles: options.keepFiles ?? false });
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

  const errors = [...failures, ...results.flatMap((r) => r.errors)];
  const promotionAfterKillMs = spread(results.map((r) => r.promotionAfterKillMs));
  const switchMasterAfterKillMs = spread(results.map((r) => r.switchMasterAfterKillMs));
  return KILL_MASTER_SYSTEMS.map((s) => {
    const samples = results.flatMap((r) => {
      const sample = r.samples.get(s.system);
      return sample ? [sample] : [];
    });
    const optional = <K extends string>(key: K, value: ReturnType<typeof spread>) =>
      (value ? { [key]: value } : {}) as Partial<Record<K, NonNullable<typeof value>>>;
    return {
      name,
      system: s.system,
      runs: samples.length,
      gapMs: summarize(samples.map((x) => x.gapMs)),
      acked: samples.reduce((sum, x) => sum + x.acked, 0),
      lost: samples.reduce((sum, x) => sum + x.lost, 0),
      downAfterMs,
      writers: WRITERS,
      ...optional('promotionAfterKillMs', promotionAfterKillMs),
      ...optional('switchMasterAfterKillMs', switchMasterAfterKillMs),
      ...optional('recoveryAfterPromotionMs', spread(samples.map((x) => x.recoveryAfterPromotionMs))),
      ...optional('rerouteAfterPromotionMs', spread(samples.map((x) => x.rerouteAfterPromotionMs))),
      ...optional('rerouteAfterSwitchMasterMs', spread(samples.map((x) => x.rerouteAfterSwitchMasterMs))),
      ...optional('recoveryAfterRerouteMs', spread(samples.map((x) => x.recoveryAfterRerouteMs))),
      ...optional('fenceMs', spread(samples.map((x) => x.fenceMs))),
      samples,
      errors: errors.filter((e) => !/^run \d+ ha-redis:/.test(e) || s.haRedis),
    };
  });
}

export const killMaster: Scenario = {
  name: 'kill-master',
  description: 'kill -9 the master under write load; ha-redis through HAProxy vs a Sentinel-aware client',
  run: runKillMaster,
};
