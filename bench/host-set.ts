/**
 * What a benchmark on a host set needs: a fresh local host set per run (local/host-set.ts), always taken down
 * again; the seed's own HAProxy recipe beside it (one extra HAProxy per surviving host whose backends route by a
 * `role:master` check); the Sentinel events of each master; the orchestrator's record of each service's failover.
 *
 * Ctrl-C: bench/run.ts takes down the clusters of bench/cluster.ts and exits; it knows no host set. So a set that
 * is still up when the process exits is handed to a detached process that runs `hostSetDown` (exactly the set's
 * processes, namespaces and files), after the role proxies got a SIGTERM.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import type { DynamoStateStore } from '../adapters/aws/dynamodb-state-store.ts';
import type { HostSet, SentinelLayout } from '../config/host-set-descriptor.ts';
import type { Descriptor } from '../config/local-descriptor.ts';
import { masterNameOf, parseSentinelMessage } from '../core/failover/sentinel-event.ts';
import type { Endpoint } from '../core/model/cluster.ts';
import { errorMessage, HaRedisError } from '../core/model/errors.ts';
import type { TimelineStep } from '../core/model/timeline.ts';
import { onHost, which } from '../local/host-programs.ts';
import { hostSetUp } from '../local/host-set.ts';
import { hostSetDown } from '../local/host-set-processes.ts';
import { freePorts, startDetached, stopProcess, waitForPort } from '../local/processes.ts';
import { baselinePreamble, roleCheckBackend } from './baseline-proxies.ts';
import type { Log } from './cluster.ts';

/** One role-check HAProxy on a host of the set: a frontend per service, on the host's address. */
export interface HostRoleProxy {
  hostId: string;
  host: string;
  /** Service (cluster name) -> its frontend's port. */
  ports: Map<string, number>;
  pid: number;
  configPath: string;
}

/** Sets that are up, by name: what an exit must still take down. */
const live = new Map<string, { root: string; keepFiles: boolean; proxies: HostRoleProxy[] }>();

const PROCESSES_MODULE = pathToFileURL(join(import.meta.dirname, '../local/host-set-processes.ts')).href;

/** On exit (Ctrl-C included), hand every set still up to a detached process that takes it down. */
function downLiveSetsOnExit(): void {
  for (const [name, entry] of live) {
    for (const p of entry.proxies) {
      try {
        process.kill(p.pid, 'SIGTERM');
      } catch {
        /* gone already */
      }
    }
    const rmRoot = entry.keepFiles
      ? ''
      : `await rm(${JSON.stringify(entry.root)}, { recursive: true, force: true });`;
    const script = [
      `import { rm } from 'node:fs/promises';`,
      `import { hostSetDown } from ${JSON.stringify(PROCESSES_MODULE)};`,
      `await hostSetDown({ name: ${JSON.stringify(name)}, root: ${JSON.stringify(entry.root)}, keepFiles: true }).catch(() => undefined);`,
      rmRoot,
    ].join('\n');
    spawn(process.execPath, ['--input-type=module', '-e', script], {
      detached: true,
      stdio: 'ignore',
    }).unref();
  }
}
let exitHook = false;

/**
 * Start a host set under a temp root, run `fn`, and take the set down whatever happens. `fn` registers the
 * teardown of what it starts beside the set with `onDown`; that runs first.
 */
export async function withHostSet<T>(
  options: {
    prefix: string;
    services: number;
    sentinels: SentinelLayout;
    downAfterMs: number;
    log: Log;
    keepFiles?: boolean;
    /** Under this root (another set's, for a move between the two); the caller removes it. */
    root?: string;
    network?: 'auto' | 'loopback';
  },
  fn: (set: HostSet, root: string, onDown: (cleanup: () => Promise<void>) => void) => Promise<T>,
): Promise<T> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'ha-redis-bench-')));
  const name = `${options.prefix}-${randomBytes(3).toString('hex')}`;
  const cleanups: (() => Promise<void>)[] = [];
  const keepFiles = options.keepFiles ?? false;
  live.set(name, { root, keepFiles, proxies: [] });
  if (!exitHook) process.on('exit', downLiveSetsOnExit);
  exitHook = true;
  try {
    const set = await hostSetUp({
      name,
      services: options.services,
      sentinels: options.sentinels,
      root,
      downAfterMs: options.downAfterMs,
      ...(options.network ? { network: options.network } : {}),
      progress: (line) => options.log(`  ${line}`),
    });
    return await fn(set, root, (cleanup) => cleanups.push(cleanup));
  } finally {
    for (const cleanup of cleanups.splice(0))
      await cleanup().catch((error: unknown) => options.log(`  cleanup of ${name}: ${errorMessage(error)}`));
    // hostSetUp takes a set that failed to start down itself; there is nothing left then.
    await hostSetDown({ name, root, keepFiles: true }).catch(() => undefined);
    live.delete(name);
    if (keepFiles) options.log(`  kept the files of ${name} in ${root}`);
    // A host script the orchestrator started can still write in a proxy's directory for a moment: retry, and
    // never fail a run that measured for its temp files. A root the caller gave (it holds another set too) is
    // the caller's to remove.
    else if (!options.root)
      await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }).catch(
        (error: unknown) => options.log(`  could not remove ${root}: ${errorMessage(error)}`),
      );
  }
}

/** The HAProxy config of one host: per service a frontend on the host's address and a role-check backend. */
export function renderHostRoleConfig(
  bind: string,
  services: readonly { d: Descriptor; port: number }[],
  password: string,
): string {
  const lines = baselinePreamble();
  for (const { d, port } of services) {
    const backend = `role_${d.cluster.replaceAll('-', '_')}`;
    lines.push(
      `frontend ${backend}`,
      `    bind ${bind}:${port}`,
      `    default_backend ${backend}`,
      '',
      ...roleCheckBackend(backend, d.nodes, password),
      '',
    );
  }
  return lines.join('\n');
}

/**
 * Start one role-check HAProxy on each of `hostIds` (inside the host's namespace when the set has them), for
 * every service; `stopHostRoleProxies` takes them down (an exit does too while the set is up).
 */
export async function startHostRoleProxies(
  set: HostSet,
  services: readonly Descriptor[],
  password: string,
  hostIds: readonly string[],
): Promise<HostRoleProxy[]> {
  const entry = live.get(set.set);
  const started: HostRoleProxy[] = [];
  try {
    for (const hostId of hostIds) {
      const host = set.hosts.find((h) => h.id === hostId);
      if (!host) throw new HaRedisError(`host set ${set.set} has no ${hostId}`);
      const dir = join(set.dir, `role-proxy-${hostId}`);
      await mkdir(dir, { recursive: true });
      const configPath = join(dir, 'haproxy.cfg');
      const ports = await freePorts(services.length);
      const frontends = services.map((d, i) => ({ d, port: ports[i] as number }));
      await writeFile(configPath, renderHostRoleConfig(host.address, frontends, password), { mode: 0o600 });
      const placement = { ip: host.address, ...(host.netns ? { netns: host.netns } : {}) };
      const [program, args] = onHost(placement, which('haproxy'), ['-f', configPath]);
      const pid = startDetached(program, args, join(dir, 'haproxy.log'));
      const proxy = {
        hostId,
        host: host.address,
        ports: new Map(frontends.map((f) => [f.d.cluster, f.port])),
        pid,
        configPath,
      };
      started.push(proxy);
      entry?.proxies.push(proxy);
    }
    await Promise.all(
      started.map((p) =>
        waitForPort([...p.ports.values()][0] ?? 0, 10_000, `role proxy on ${p.hostId}`, p.host),
      ),
    );
    return started;
  } catch (error) {
    await stopHostRoleProxies(started);
    throw error;
  }
}

export async function stopHostRoleProxies(proxies: readonly HostRoleProxy[]): Promise<void> {
  await Promise.all(
    proxies.map((p) => stopProcess(p.pid, (cmd) => cmd.includes('haproxy') && cmd.includes(p.configPath))),
  );
  for (const entry of live.values()) entry.proxies = entry.proxies.filter((p) => !proxies.includes(p));
}

/**
 * Listens to Sentinels that may monitor several masters (a host set's shared Sentinels) and keeps, per master
 * name and event type, the first time each Sentinel published it. bench/sentinel-watch.ts keys by channel only,
 * which cannot tell one master's failover from another's.
 */
export class MasterEventWatch {
  /** `<master name> <event type>` -> Sentinel (`host:port`) -> its first sighting there (epoch ms). */
  private readonly first = new Map<string, Map<string, number>>();
  private readonly clients: Redis[] = [];

  /** Resolves once subscribed to every Sentinel (each listed once, however many masters it monitors). */
  async start(sentinels: readonly Endpoint[], password: string): Promise<void> {
    const distinct = [...new Map(sentinels.map((s) => [`${s.host}:${s.port}`, s])).values()];
    await Promise.all(
      distinct.map(async (sentinel) => {
        const client = new Redis({
          host: sentinel.host,
          port: sentinel.port,
          password,
          lazyConnect: true,
          enableReadyCheck: false,
          connectTimeout: 2000,
          maxRetriesPerRequest: null,
          retryStrategy: () => 50,
        });
        client.on('error', () => undefined); // a Sentinel on the killed host goes; the others still count
        client.on('pmessage', (_pattern: string, channel: string, message: string) => {
          const at = Date.now();
          const parsed = parseSentinelMessage(channel, message);
          const name = parsed.ok ? masterNameOf(parsed.event) : undefined;
          if (name === undefined) return;
          const bySentinel = this.first.get(`${name} ${channel}`) ?? new Map<string, number>();
          this.first.set(`${name} ${channel}`, bySentinel);
          const from = `${sentinel.host}:${sentinel.port}`;
          if (!bySentinel.has(from)) bySentinel.set(from, at);
        });
        this.clients.push(client);
        await client.connect();
        await client.psubscribe('*');
      }),
    );
  }

  /** The earliest first sighting of any of `types` for the master `masterName`. */
  firstOf(masterName: string, ...types: string[]): number | undefined {
    const seen = types.flatMap((t) => [...(this.first.get(`${masterName} ${t}`)?.values() ?? [])]);
    return seen.length ? Math.min(...seen) : undefined;
  }

  /** When the `n`-th Sentinel published `type` for `masterName` (e.g. 2: a majority of 3 has it). */
  nthOf(masterName: string, type: string, n: number): number | undefined {
    const seen = [...(this.first.get(`${masterName} ${type}`)?.values() ?? [])].sort((a, b) => a - b);
    return seen[n - 1];
  }

  stop(): void {
    for (const c of this.clients) c.disconnect();
  }
}

/** What the orchestrator recorded for a service's failover. */
export interface Reaction {
  /** End of the `confirmed` step. */
  confirmedAt: number | undefined;
  reroutedAt: number;
  confirmedBy: string | undefined;
  outcome: string;
  /**
   * When the orchestrator's bridge saw the promotion event that triggered the reaction (its `detected` step),
   * if a promotion event did: a second sighting of the promotion, which a starved bench watcher can see later.
   */
  promotionSeenAt: number | undefined;
}

/** The events that report a promotion (Sentinel's leader promoted a replica). */
export const PROMOTION_EVENTS = ['+failover-state-wait-promotion', '+promoted-slave'];

const end = (s: TimelineStep) => s.at + s.durationMs;

/** A `rerouted` step that routed every surviving proxy: ok, or failed only for the dead host's proxies. */
function reroutedSurvivors(steps: readonly TimelineStep[], deadProxies: readonly string[]) {
  const step = steps.find((s) => s.step === 'rerouted');
  if (!step || step.status === 'skipped') return undefined;
  if (step.status === 'ok') return step;
  const failed = [...(step.detail ?? '').matchAll(/(proxy-\d+): /g)].map((m) => m[1]);
  return failed.length && failed.every((id) => deadProxies.includes(id ?? '')) ? step : undefined;
}

/**
 * When the last surviving proxy was rerouted: the step names each rerouted proxy's time from its start
 * (`proxy-2 +38ms`), while its end waits for the failed attempts on the dead host's proxies. The step's end when
 * a survivor's time is missing.
 */
function survivorsReroutedAt(
  step: TimelineStep,
  proxies: readonly { id: string }[],
  deadProxies: readonly string[],
): number {
  const times = new Map(
    [...(step.detail ?? '').matchAll(/(proxy-\d+) \+(\d+)ms/g)].map((m) => [m[1] ?? '', Number(m[2])]),
  );
  const survivors = proxies.filter((p) => !deadProxies.includes(p.id)).map((p) => times.get(p.id));
  if (survivors.some((ms) => ms === undefined)) return end(step);
  return step.at + Math.max(...(survivors as number[]));
}

/**
 * The service's first failover entry (epoch >= 1) whose reroute reached every proxy but those on `deadHost`
 * (they cannot answer; the step then ends failed, naming only them).
 */
export async function reactionOf(
  d: Descriptor,
  store: DynamoStateStore,
  deadHost: string,
  timeoutMs: number,
): Promise<Reaction> {
  const dead = d.proxies.filter((p) => p.hostId === deadHost).map((p) => p.id);
  const deadline = Date.now() + timeoutMs;
  let last = 'no history';
  for (;;) {
    try {
      const entries = await store.listHistory(d.cluster, 10);
      const found = entries
        .filter((e) => e.kind === 'failover' && (e.epoch ?? 0) >= 1)
        .flatMap((e) => {
          const step = reroutedSurvivors(e.timeline, dead);
          return step ? [{ e, at: survivorsReroutedAt(step, d.proxies, dead) }] : [];
        })
        .sort((a, b) => a.at - b.at)[0];
      if (found) {
        const confirmed = found.e.timeline.find((s) => s.step === 'confirmed');
        const basis = confirmed?.detail?.match(/\(([a-z-]+)\)\s*$/)?.[1];
        const confirmedAt = confirmed ? end(confirmed) : undefined;
        const detected = found.e.timeline.find((s) => s.step === 'detected');
        const promotionSeenAt = PROMOTION_EVENTS.includes(found.e.trigger) ? detected?.at : undefined;
        return {
          confirmedAt,
          reroutedAt: found.at,
          confirmedBy: basis,
          outcome: found.e.outcome,
          promotionSeenAt,
        };
      }
      last = `history: ${entries.map((e) => `${e.kind}@${e.epoch} ${e.outcome}`).join(', ') || 'empty'}`;
    } catch (error) {
      last = errorMessage(error);
    }
    if (Date.now() > deadline)
      throw new HaRedisError(
        `${d.cluster}: no failover entry that rerouted every proxy off ${deadHost} in ${timeoutMs} ms (${last}); see the orchestrator log`,
      );
    await sleep(100);
  }
}
