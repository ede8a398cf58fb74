/** `ha-redis drain --host H`: move every master off a host, one planned switchover per cluster. */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { composeLocal } from '../../compose/local.ts';
import { type Descriptor, descriptorPath, localRoot, readDescriptor } from '../../config/local-descriptor.ts';
import { drainTarget, onHost } from '../../core/maintenance/steps.ts';
import { formatEndpoint } from '../../core/model/cluster.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../../core/model/limits.ts';
import type { Logger } from '../../core/ports.ts';
import { observeCluster } from '../../core/status/observe.ts';
import { buildStatusReport } from '../../core/status/report.ts';
import { runLocalMaintenance } from '../../local/maintenance-runner.ts';
import { type Io, processIo, silentLogger } from './status.ts';

export interface DrainOptions {
  /** An IP or host name (every node on it), or `host:port` (one node). */
  host: string;
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

/** Drain the host cluster by cluster; exit 1 when a master on it could not be moved. */
export async function drainCommand(options: DrainOptions, io: Io = processIo): Promise<number> {
  const root = options.root ?? localRoot();
  const names = options.clusters ?? (await localClusters(root));
  const results: DrainResult[] = [];
  for (const name of names) {
    try {
      const d = await readDescriptor(descriptorPath(name, root));
      const result = await drainCluster(d, options);
      results.push(result);
      io.err(describe(result));
    } catch (error) {
      const result: DrainResult = {
        cluster: name,
        action: 'failed',
        from: null,
        reason: errorMessage(error),
      };
      results.push(result);
      io.err(describe(result));
    }
  }
  if (names.length === 0) io.err(`no local clusters under ${root}`);
  if (options.json) io.out(`${JSON.stringify({ host: options.host, results }, null, 2)}\n`);
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
