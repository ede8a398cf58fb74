/**
 * The three switchover procedures the switchover scenario measures, each on a cluster under write load:
 * ha-redis' switchover workflow, a naive `SENTINEL FAILOVER`, and the classic careful script by hand (see
 * switchover.ts for the steps of each).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { runtimeApi } from '../../adapters/haproxy/runtime-api.ts';
import type { Descriptor } from '../../config/local-descriptor.ts';
import { type Endpoint, formatEndpoint, sameEndpoint } from '../../core/model/cluster.ts';
import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import type { Logger } from '../../core/ports.ts';
import { runLocalSwitchover } from '../../local/switchover-runner.ts';
import { adminClient, finalMaster, roleOf } from '../nodes.ts';

/** naive: stop waiting for Sentinel to demote the old master after this long. */
const DEMOTION_CAP_MS = 20_000;
/** classic: stop waiting for a Sentinel to name the new master after this long. */
const NAMED_TIMEOUT_MS = 30_000;
/** How often a procedure (and the wait for the writers after it) polls. */
export const POLL_MS = 20;
const CLASSIC_PAUSE_MS = 10_000;
const CLASSIC_WAIT_TIMEOUT_MS = 5000;

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** What a procedure measured, and where the writes must be now. */
export interface ProcedureResult {
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

export interface ProcedureContext {
  d: Descriptor;
  password: string;
  run: number;
  /** The master the cluster started with. */
  master: Endpoint & { id: string };
}

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
export async function haRedisProcedure({ d, password }: ProcedureContext): Promise<ProcedureResult> {
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
          note:
            `workflow: writes-blocked at +${blocked.at - startedAt} ms, rerouted done at +${rerouted.at + rerouted.durationMs - startedAt} ms; ` +
            state.timeline
              .filter((s) => s.at >= blocked.at && s.at <= rerouted.at)
              .map((s) => `${s.step} ${s.durationMs} ms${s.detail ? ` (${s.detail})` : ''}`)
              .join(', '),
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
export async function naiveProcedure({ d, password, master }: ProcedureContext): Promise<ProcedureResult> {
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
export async function classicProcedure({
  d,
  password,
  master,
  run,
}: ProcedureContext): Promise<ProcedureResult> {
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
