/**
 * Scenario move: one service of a host set moved to the hosts of another set (`ha-redis move`), under a write load
 * through its old host-2 HAProxy (one writer, a write counted once `WAIT 1` says a replica has it), on Sentinel's
 * own periods. Two systems, each on fresh sets:
 * - `ha-redis move`: the move workflow; its switchover step blocks writes, waits for the target to catch up and
 *   promotes it through Sentinel (the zero-loss switchover);
 * - `move, raw SENTINEL FAILOVER`: the same workflow with the switch done as the procedure the README used to
 *   document does it by hand: the old nodes' replica-priority set to 0, one INFO period for the Sentinels to read
 *   it, then `SENTINEL FAILOVER` (ha-redis' reaction reroutes the proxies once Sentinel has promoted).
 * Per run: the writer's longest gap, acked and lost writes, the switchover's own gap, the whole move's duration.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoStateStore } from '../../adapters/aws/dynamodb-state-store.ts';
import { silentLogger } from '../../cli/commands/status.ts';
import { localAccess, localDynamoClient } from '../../compose/local.ts';
import { type Descriptor, descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { sameEndpoint } from '../../core/model/cluster.ts';
import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import { type MoveState, MoveStateSchema } from '../../core/move/state.ts';
import { countLost, WriteLoad } from '../../local/load.ts';
import { runLocalMove } from '../../local/move-runner.ts';
import type { RunWorkflowOptions } from '../../local/stepfunctions.ts';
import { withHostSet } from '../host-set.ts';
import { adminClient, finalMaster } from '../nodes.ts';
import { type RunSample, type ScenarioRow, spread, summarize } from '../report.ts';
import type { Scenario, ScenarioOptions } from './types.ts';

const SYSTEMS = ['ha-redis move', 'move, raw SENTINEL FAILOVER'] as const;
type MoveSystem = (typeof SYSTEMS)[number];
const WARM_ACKS = 200;
/** Sentinel reads a replica's priority from its INFO, every 10 s. */
const INFO_PERIOD_MS = 10_000;
const PROMOTION_TIMEOUT_MS = 30_000;

/** The switch as done by hand: priorities 0 on the old nodes, one INFO period, SENTINEL FAILOVER, wait for a new master. */
function rawFailoverSwitch(d: () => Promise<Descriptor>, password: string) {
  return (step: RunWorkflowOptions['step']): RunWorkflowOptions['step'] =>
    async (event, context) => {
      if (event.action !== 'switchover') return step(event, context);
      const state = MoveStateSchema.parse(event.state);
      const plan = state.plan;
      if (!plan) throw new HaRedisError('no plan');
      const now = await d();
      for (const n of plan.oldNodes) {
        const c = adminClient(n, password);
        await c.call('CONFIG', 'SET', 'replica-priority', '0').finally(() => c.disconnect());
      }
      await sleep(INFO_PERIOD_MS + 1000);
      const sentinel = adminClient(now.sentinels[0] as Descriptor['sentinels'][number], password);
      try {
        await sentinel.call('SENTINEL', 'FAILOVER', now.masterName);
      } finally {
        sentinel.disconnect();
      }
      const deadline = Date.now() + PROMOTION_TIMEOUT_MS;
      for (;;) {
        const master = await finalMaster(now.nodes, password).catch(() => undefined);
        if (master && plan.newNodes.some((n) => sameEndpoint(n, master))) break;
        if (Date.now() > deadline) throw new HaRedisError('Sentinel did not promote a new node in time');
        await sleep(50);
      }
      return { ...state, done: [...state.done, 'switchover'] } satisfies MoveState;
    };
}

/** One move of a fresh service to a fresh set. */
async function moveOnce(
  run: number,
  system: MoveSystem,
  options: ScenarioOptions,
): Promise<RunSample & { tookMs: number }> {
  const log = options.log ?? (() => undefined);
  const root = await mkdtemp(join(tmpdir(), 'ha-redis-bench-move-'));
  const common = {
    services: 1,
    sentinels: 'per-service' as const,
    downAfterMs: options.downAfterMs,
    log,
    root,
    network: 'loopback' as const,
  };
  try {
    return await withHostSet({ ...common, prefix: 'mvfrom' }, (from) =>
      withHostSet({ ...common, prefix: 'mvto' }, async (to) => {
        const service = from.services[0] as string;
        const d = await readDescriptor(descriptorPath(service, root));
        const password = await localAccess(d).redisPassword();
        const p = d.proxies.find((x) => x.hostId === 'host-2');
        if (!p) throw new HaRedisError('no proxy on host-2');
        const load = new WriteLoad({
          target: { kind: 'direct', endpoint: { host: p.host, port: p.plainPort } },
          password,
          writers: 1,
          ackReplicas: 1,
        });
        try {
          load.start();
          await load.waitForAcks(WARM_ACKS, 20_000);
          const started = Date.now();
          const result = await runLocalMove(
            d,
            { toSet: to.set, reason: 'bench', requestedBy: 'bench' },
            {
              logger: silentLogger,
              root,
              ...(system === SYSTEMS[1]
                ? {
                    wrapStep: rawFailoverSwitch(
                      () => readDescriptor(descriptorPath(service, root)),
                      password,
                    ),
                  }
                : {}),
            },
          );
          const tookMs = Date.now() - started;
          if (result.status !== 'SUCCEEDED') {
            throw new HaRedisError(
              `move ${result.ending ?? result.status}: ${result.error}: ${result.cause}`,
            );
          }
          const mark = load.ackCount;
          await load.waitForAcks(mark + WARM_ACKS, 20_000);
          const report = await load.stop();
          const after = await readDescriptor(descriptorPath(service, root));
          const master = await finalMaster(after.nodes, password);
          const lost = (await countLost(master, password, report.ackedKeys)).length;
          const dynamo = localDynamoClient(after.stateStore.endpoint);
          const switchover = await new DynamoStateStore(dynamo, after.stateStore.table)
            .listHistory(service, 10)
            .then((h) => h.find((e) => e.kind === 'switchover'))
            .finally(() => dynamo.destroy());
          const gap =
            system === SYSTEMS[0] ? (result.state?.writeGapMs ?? switchover?.writeGapMs) : undefined;
          return {
            run,
            gapMs: report.maxGapMs,
            acked: report.acked,
            lost,
            failed: report.failed,
            tookMs,
            procedureMs: tookMs,
            ...(gap !== undefined ? { workflowWriteGapMs: gap } : {}),
            outcome: 'succeeded',
          };
        } finally {
          await load.stop().catch(() => undefined);
        }
      }),
    );
  } finally {
    await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }).catch(() => undefined);
  }
}

async function runMove(options: ScenarioOptions): Promise<ScenarioRow[]> {
  const log = options.log ?? (() => undefined);
  const rows: ScenarioRow[] = [];
  for (const system of SYSTEMS.filter((s) => !options.systems || options.systems.includes(s))) {
    const name = `move/down-after-${options.downAfterMs}`;
    const samples: (RunSample & { tookMs: number })[] = [];
    const errors: string[] = [];
    for (let run = 1; run <= options.runs; run += 1) {
      log(`${name}, ${system}: run ${run} of ${options.runs}`);
      try {
        const s = await moveOnce(run, system, options);
        samples.push(s);
        log(
          `  moved in ${(s.tookMs / 1000).toFixed(1)} s; writer's longest gap ${s.gapMs} ms${s.workflowWriteGapMs === undefined ? '' : ` (switchover ${s.workflowWriteGapMs} ms)`}; ${s.acked} acked, ${s.lost} lost`,
        );
      } catch (error) {
        errors.push(`run ${run} failed: ${errorMessage(error)}`);
        log(`  run ${run} FAILED: ${errorMessage(error)}`);
      }
    }
    if (!samples.length) throw new HaRedisError(`${name} ${system}: every run failed; ${errors.join('; ')}`);
    rows.push({
      name,
      system,
      runs: samples.length,
      gapMs: summarize(samples.map((s) => s.gapMs)),
      acked: samples.reduce((a, s) => a + s.acked, 0),
      lost: samples.reduce((a, s) => a + s.lost, 0),
      downAfterMs: options.downAfterMs,
      writers: 1,
      ...(samples.some((s) => s.workflowWriteGapMs !== undefined)
        ? {
            workflowWriteGapMs: summarize(
              samples.flatMap((s) => (s.workflowWriteGapMs === undefined ? [] : [s.workflowWriteGapMs])),
            ),
          }
        : {}),
      procedureMs: spread(samples.map((s) => s.tookMs)),
      samples,
      errors,
    });
  }
  return rows;
}

export const move: Scenario = {
  name: 'move',
  description:
    "a host set's service moved to another set's hosts under load: ha-redis move, and the switch by hand",
  defaultRuns: 1,
  defaultDownAfterMs: [5000],
  systems: SYSTEMS,
  run: runMove,
};
