/**
 * `ha-redis drain --host H`: move every master off a host, one planned switchover per cluster whose master is on
 * it. H is an address, `host:port`, or a host set's host id (`host-1`). Every service is prepared at once, then
 * the switchovers run DRAIN_PARALLELISM (1) at a time.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { composeLocal } from '../../compose/local.ts';
import { hostSetPath, readHostSet } from '../../config/host-set-descriptor.ts';
import { type Descriptor, descriptorPath, localRoot, readDescriptor } from '../../config/local-descriptor.ts';
import { type PreparedDrain, prepareDrain } from '../../core/maintenance/drain.ts';
import { drainTarget, onHost } from '../../core/maintenance/steps.ts';
import { formatEndpoint } from '../../core/model/cluster.ts';
import { ConfigurationError, errorMessage } from '../../core/model/errors.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../../core/model/limits.ts';
import type { Logger } from '../../core/ports.ts';
import { observeCluster } from '../../core/status/observe.ts';
import { buildStatusReport } from '../../core/status/report.ts';
import { restorePriorities } from '../../core/switchover/prepare.ts';
import { runLocalMaintenance } from '../../local/maintenance-runner.ts';
import { type Io, processIo, silentLogger } from './status.ts';

/**
 * How many switchovers a drain runs at once (`--parallel`). Every service is prepared first, all at once (its
 * Sentinels made to prefer its target: the one wait for their 10-s INFO period), so what is left of each
 * switchover is its critical section and its bookkeeping, about 2 s. Measured on 2 cores with 8 services under
 * load (bench host-drain, 2026-12-07): one at a time drained them in 19.6 s with every gap within 220-324 ms;
 * 4 at a time in 11.6 s but gaps up to 475 ms, 8 at a time in 9.3 s with gaps up to 580 ms (the critical
 * sections share the CPU). One at a time keeps each service's write gap that of a lone switchover.
 */
export const DRAIN_PARALLELISM = 1;

export interface DrainOptions {
  /** An IP or host name (every node on it), `host:port` (one node), or a host set's host id (`host-1`). */
  host: string;
  /** The host set whose host `host` names (needed when several sets have that host id). */
  set?: string;
  /** At most this many switchovers at once (default DRAIN_PARALLELISM). */
  parallel?: number;
  /** Only these clusters; default: every local cluster. */
  clusters?: string[];
  root?: string;
  json?: boolean;
  dryRun?: boolean;
  logger?: Logger;
}

export type DrainResult =
  | { cluster: string; action: 'not-on-host'; master: string | null }
  | { cluster: string; action: 'moved' | 'would-move'; from: string; to: string }
  | { cluster: string; action: 'refused' | 'failed'; from: string | null; reason: string };

const HOST_ID = /^host-\d+$/;

/** Every local cluster under the root, by name. */
async function localClusters(root: string): Promise<string[]> {
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'cluster.json')))
    .map((e) => e.name);
}

/** Move one cluster's master off the host, if it is there: to a healthy replica on another host. */
async function drainCluster(d: Descriptor, options: DrainOptions): Promise<DrainResult> {
  const runtime = composeLocal(d, silentLogger);
  let report: ReturnType<typeof buildStatusReport>;
  try {
    report = buildStatusReport(await observeCluster(runtime.cluster, runtime.deps), {
      maxLagBytes: DEFAULT_MAX_LAG_BYTES,
    });
  } finally {
    await runtime.close();
  }
  const master = report.master;
  if (!master) {
    return {
      cluster: d.cluster,
      action: 'refused',
      from: null,
      reason: 'no master is agreed on; run status',
    };
  }
  if (!onHost(master.address, options.host)) {
    return { cluster: d.cluster, action: 'not-on-host', master: formatEndpoint(master.address) };
  }
  const target = drainTarget(report.nodes, options.host);
  if (!target) {
    return {
      cluster: d.cluster,
      action: 'refused',
      from: master.id,
      reason: `no reachable replica off ${options.host} to move the master to`,
    };
  }
  if (options.dryRun) return { cluster: d.cluster, action: 'would-move', from: master.id, to: target.id };
  // The drain runs as the maintenance workflow (drainHost: no node action, one switchover off the host).
  const result = await runLocalMaintenance(
    d,
    {
      drainHost: options.host,
      reason: `drain ${options.host}`,
      requestedBy: `cli:drain:${process.env.USER ?? 'unknown'}`,
    },
    { logger: options.logger ?? silentLogger },
  );
  const moved = result.state?.switchovers.find((s) => s.kind === 'switchover');
  if (result.status === 'SUCCEEDED') {
    return moved
      ? { cluster: d.cluster, action: 'moved', from: moved.from, to: moved.to }
      : { cluster: d.cluster, action: 'not-on-host', master: master.id };
  }
  return {
    cluster: d.cluster,
    action: result.ending === 'MaintenanceRefused' ? 'refused' : 'failed',
    from: master.id,
    reason: `${result.ending ?? result.error ?? 'failed'}: ${result.cause ?? ''}`.trim(),
  };
}

/** Run `fn` over `items`, at most `limit` at a time; results in the items' order. */
async function inBatches<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next;
      next += 1;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A host set's host id (`host-1`) as its address, and the set's services; any other host as given. */
async function resolveHost(
  options: DrainOptions,
  root: string,
): Promise<{ address: string; services?: string[] }> {
  if (!HOST_ID.test(options.host)) return { address: options.host };
  const sets = options.set ? [options.set] : await hostSets(root);
  const found = [];
  for (const name of sets) {
    const set = await readHostSet(hostSetPath(name, root));
    const host = set.hosts.find((h) => h.id === options.host);
    if (host) found.push({ set, host });
  }
  const [only, ...more] = found;
  if (!only) {
    throw new ConfigurationError(
      `no host set ${options.set ? `'${options.set}' ` : ''}under ${root} has a host '${options.host}'`,
    );
  }
  if (more.length) {
    throw new ConfigurationError(
      `host sets ${found.map((f) => f.set.set).join(', ')} all have a '${options.host}'; say which with --set`,
    );
  }
  return { address: only.host.address, services: only.set.services };
}

/** Every host set under the root, by name. */
async function hostSets(root: string): Promise<string[]> {
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'hosts.json')))
    .map((e) => e.name);
}

/** A service prepared for the drain: its descriptor, and what prepareDrain changed (to put back). */
type Prepared = { d: Descriptor; prepared: PreparedDrain };

/**
 * 1. Every service whose master is on the host, all at once: its Sentinels made to prefer its drain target
 * (one wait for their INFO period for all). A service that cannot be prepared is left to its switchover.
 */
async function prepareAll(names: string[], root: string, address: string, io: Io): Promise<Prepared[]> {
  const started = Date.now();
  const all = await Promise.all(
    names.map(async (name): Promise<Prepared | undefined> => {
      try {
        const d = await readDescriptor(descriptorPath(name, root));
        const runtime = composeLocal(d, silentLogger);
        try {
          const prepared = await prepareDrain(runtime.cluster, address, runtime.deps);
          return prepared ? { d, prepared } : undefined;
        } finally {
          await runtime.close();
        }
      } catch (error) {
        io.err(`${name}: not prepared (${errorMessage(error)}); its switchover prepares it`);
        return undefined;
      }
    }),
  );
  const prepared = all.filter((p): p is Prepared => p !== undefined);
  if (prepared.length) {
    io.err(
      `prepared ${prepared.length} service(s) in ${((Date.now() - started) / 1000).toFixed(1)} s: each one's Sentinels prefer its target`,
    );
    // Said before anything moves: if this process dies, these are the priorities to put back by hand.
    for (const { d, prepared: p } of prepared) {
      const was = Object.entries(p.priorities).map(([id, priority]) => `${id} ${priority}`);
      if (was.length)
        io.err(`  ${d.cluster}: replica priorities put back after the drain: ${was.join(', ')}`);
    }
  }
  return prepared;
}

/** 3. Put back every replica priority prepareAll changed; a failure names what to set by hand. */
async function restoreAll(prepared: Prepared[], io: Io): Promise<void> {
  await Promise.all(
    prepared.map(async ({ d, prepared: p }) => {
      const runtime = composeLocal(d, silentLogger);
      try {
        await restorePriorities(runtime.cluster, p.priorities, runtime.deps);
      } catch (error) {
        const wanted = Object.entries(p.priorities).map(([id, priority]) => `${id} ${priority}`);
        io.err(
          `${d.cluster}: could not restore replica priorities (${errorMessage(error)}); set them back by hand (CONFIG SET replica-priority): ${wanted.join(', ')}`,
        );
      } finally {
        await runtime.close();
      }
    }),
  );
}

/**
 * Drain the host: 1. prepare every service at once, 2. their switchovers, `parallel` at a time (each blocks its
 * own service's writes only), 3. restore the priorities. Exit 1 when a master on it could not be moved.
 */
export async function drainCommand(options: DrainOptions, io: Io = processIo): Promise<number> {
  const root = options.root ?? localRoot();
  const { address, services } = await resolveHost(options, root);
  const names = options.clusters ?? services ?? (await localClusters(root));
  const parallel = options.parallel ?? DRAIN_PARALLELISM;
  const started = Date.now();
  const prepared = options.dryRun ? [] : await prepareAll(names, root, address, io);
  // Interrupted (Ctrl-C, a kill): put the priorities back before leaving; the switchover under way has its own
  // Recover path in its workflow.
  const interrupted = () => {
    io.err('interrupted: putting the replica priorities back, then stopping');
    void restoreAll(prepared, io).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    return await switchAll({ options, io, root, address, names, parallel, started });
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await restoreAll(prepared, io);
  }
}

/** 2. The switchovers, `parallel` at a time; the summary and the exit code. */
async function switchAll(a: {
  options: DrainOptions;
  io: Io;
  root: string;
  address: string;
  names: string[];
  parallel: number;
  started: number;
}): Promise<number> {
  const { options, io, root, address, names, parallel, started } = a;
  const results = await inBatches(names, parallel, async (name): Promise<DrainResult> => {
    const result = await readDescriptor(descriptorPath(name, root))
      .then((d) => drainCluster(d, { ...options, host: address }))
      .catch(
        (error: unknown): DrainResult => ({
          cluster: name,
          action: 'failed',
          from: null,
          reason: errorMessage(error),
        }),
      );
    io.err(describe(result));
    return result;
  });
  const tookMs = Date.now() - started;
  if (names.length === 0) io.err(`no local clusters under ${root}`);
  else
    io.err(
      `drained ${options.host}${address !== options.host ? ` (${address})` : ''} in ${(tookMs / 1000).toFixed(1)} s, ${parallel} at a time`,
    );
  if (options.json)
    io.out(`${JSON.stringify({ host: options.host, address, parallel, tookMs, results }, null, 2)}\n`);
  return results.some((r) => r.action === 'refused' || r.action === 'failed') ? 1 : 0;
}

function describe(r: DrainResult): string {
  switch (r.action) {
    case 'not-on-host':
      return `${r.cluster}: master ${r.master ?? 'unknown'} is not on the host; nothing to do`;
    case 'would-move':
      return `${r.cluster}: would move the master ${r.from} -> ${r.to} (dry run)`;
    case 'moved':
      return `${r.cluster}: moved the master ${r.from} -> ${r.to}`;
    default:
      return `${r.cluster}: NOT drained (${r.action}): ${r.reason}`;
  }
}
