/** `ha-redis status`: observe a local cluster through the adapters, and print a report with a health verdict. */
import { composeLocal } from '../../compose/local.ts';
import type { ObservedCluster, RemoteOptions } from '../../compose/remote.ts';
import { descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { type Endpoint, formatEndpoint } from '../../core/model/cluster.ts';
import { DEFAULT_MAX_LAG_BYTES } from '../../core/model/limits.ts';
import type { Logger } from '../../core/ports.ts';
import { clusterStatusReport, observeCluster } from '../../core/status/observe.ts';
import type { StatusObservations, StatusReport } from '../../core/status/report.ts';

/** Where a command writes: `out` for JSON (stdout), `err` for human lines (stderr). */
export interface Io {
  out(text: string): void;
  err(line: string): void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** The status command reads only; its adapters never log. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

const WATCH_INTERVAL_MS = 1000;
const CLEAR_SCREEN = '\x1b[2J\x1b[H';

/** Observe a local cluster through its adapters (the same observation Slack and the AWS CLI path use). */
export function gatherStatus(
  runtime: Pick<ObservedCluster, 'cluster' | 'deps'>,
): Promise<StatusObservations> {
  return observeCluster(runtime.cluster, runtime.deps);
}

const time = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');

/** Human lines for a report. */
export function formatStatus(r: StatusReport): string[] {
  const label = (e: Endpoint | undefined) =>
    e ? (r.nodes.find((n) => formatEndpoint(n.address) === formatEndpoint(e))?.id ?? formatEndpoint(e)) : '-';
  const lines = [
    `cluster ${r.cluster} at ${time(r.observedAt)}: ${r.healthy ? 'HEALTHY' : 'UNHEALTHY'}`,
    `master  ${r.master ? `${r.master.id} (${formatEndpoint(r.master.address)})` : 'unknown'}${r.master?.epoch === undefined ? '' : ` epoch ${r.master.epoch}`}`,
    '',
    'nodes',
  ];
  for (const n of r.nodes) {
    const facts = n.reachable
      ? [
          n.isMaster ? 'master ' : (n.role ?? 'unknown').padEnd(7),
          `offset ${n.offset ?? '?'}`,
          n.isMaster ? '' : `lag ${n.lagBytes ?? '?'} B`,
          n.role === 'slave' ? `of ${label(n.master)}${n.linkUp === false ? ' (link down)' : ''}` : '',
          `priority ${n.replicaPriority ?? '?'}`,
          `aof ${n.aofEnabled ? 'on' : 'off'}`,
        ]
      : [`DOWN: ${n.error ?? ''}`];
    lines.push(
      `  ${n.id.padEnd(10)} ${formatEndpoint(n.address).padEnd(16)} ${facts.filter(Boolean).join('  ')}`,
    );
  }
  lines.push('', `sentinels (${r.majority.answered} answered, ${r.majority.needed} must agree)`);
  for (const s of r.sentinels) {
    lines.push(
      `  ${formatEndpoint(s.sentinel).padEnd(16)} ${
        s.ok
          ? `names ${label(s.master)} epoch ${s.configEpoch}${s.agrees ? '' : '  DISAGREES'}${s.tilt ? '  TILT' : ''}`
          : s.tilt
            ? 'IN TILT: not counted until it leaves'
            : `DOWN: ${s.error ?? ''}`
      }`,
    );
  }
  lines.push('', 'proxies');
  for (const p of r.proxies) {
    lines.push(
      `  ${p.id.padEnd(10)} ${
        p.route
          ? `-> ${label(p.route.address)} (${p.route.state})${p.pointsAtMaster ? '' : '  NOT THE MASTER'}`
          : `DOWN: ${p.error ?? ''}`
      }`,
    );
  }
  lines.push('');
  if (r.dns && 'error' in r.dns) lines.push(`dns     unreadable: ${r.dns.error}`);
  else if (r.dns)
    lines.push(
      `dns     -> ${label(r.dns.master)} epoch ${r.dns.epoch}${r.dns.pointsAtMaster ? '' : '  NOT THE MASTER'}`,
    );
  const op = r.lastOperation;
  lines.push(
    op
      ? `last    ${op.kind} ${op.outcome} at ${time(op.startedAt)}: ${label(op.oldMaster ?? undefined)} -> ${label(op.newMaster ?? undefined)} (${op.durationMs} ms)${op.outcome === 'failed' && op.error ? `: ${op.error}` : ''}`
      : 'last    no failover or switchover in history',
  );
  lines.push(
    r.lease
      ? `lease   held by ${r.lease.owner} for ${r.lease.purpose} until ${time(r.lease.until)}`
      : 'lease   free',
  );
  lines.push(`maint   ${formatMaintenanceMode(r.maintenance)}`);
  if (r.reasons.length) lines.push('', 'unhealthy because:', ...r.reasons.map((x) => `  - ${x}`));
  if (r.warnings.length) lines.push('', 'warnings:', ...r.warnings.map((x) => `  - ${x}`));
  return lines;
}

/** One line for a maintenance mode: paused (by whom, since when, why), running, or unreadable. */
export function formatMaintenanceMode(mode: StatusReport['maintenance']): string {
  if (!mode) return 'running (never paused): scheduled maintenance runs go ahead';
  if ('error' in mode) return `unknown: ${mode.error}`;
  const change = `${mode.by} at ${time(mode.at)}${mode.reason ? ` (${mode.reason})` : ''}`;
  return mode.paused
    ? `PAUSED by ${change}: scheduled maintenance runs are skipped`
    : `running (resumed by ${change}): scheduled maintenance runs go ahead`;
}

export interface StatusOptions {
  cluster: string;
  /** The local root that holds `<cluster>/cluster.json`; default `localRoot()`. */
  root?: string;
  json?: boolean;
  watch?: boolean;
  maxLagBytes?: number;
  /** A cluster of the deployment config file, reached directly (instead of a local cluster). */
  remote?: RemoteOptions;
}

/** Observe once and build the report. */
export async function clusterStatus(
  runtime: Pick<ObservedCluster, 'cluster' | 'deps'>,
  maxLagBytes = DEFAULT_MAX_LAG_BYTES,
): Promise<StatusReport> {
  return clusterStatusReport(runtime.cluster, runtime.deps, maxLagBytes);
}

/**
 * The `status` command: print the report (JSON on stdout, or lines on stderr); returns the exit code,
 * 0 when healthy. With `watch`, refresh every second until SIGINT.
 */
export async function statusCommand(options: StatusOptions, io: Io = processIo): Promise<number> {
  // The AWS composition (SDK clients, Secrets Manager) loads only for --config: a local status stays quick.
  const runtime: ObservedCluster = options.remote
    ? (await import('../../compose/remote.ts')).composeRemote(options.cluster, options.remote)
    : composeLocal(
        await readDescriptor(
          options.root ? descriptorPath(options.cluster, options.root) : descriptorPath(options.cluster),
        ),
        silentLogger,
      );
  const show = (r: StatusReport, clear: boolean) => {
    if (options.json) io.out(`${JSON.stringify(r, null, 2)}\n`);
    else {
      const lines = formatStatus(r);
      io.err(`${clear ? CLEAR_SCREEN : ''}${lines.join('\n')}`);
    }
  };
  try {
    if (!options.watch) {
      const report = await clusterStatus(runtime, options.maxLagBytes);
      show(report, false);
      return report.healthy ? 0 : 1;
    }
    let stopped = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      stopped = true;
      wake?.();
    };
    process.once('SIGINT', stop);
    let code = 0;
    try {
      while (!stopped) {
        const report = await clusterStatus(runtime, options.maxLagBytes);
        code = report.healthy ? 0 : 1;
        show(report, true);
        if (!options.json) io.err(`\n(refreshing every ${WATCH_INTERVAL_MS / 1000} s; Ctrl-C to stop)`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, WATCH_INTERVAL_MS);
        });
      }
    } finally {
      process.removeListener('SIGINT', stop);
    }
    return code;
  } finally {
    await runtime.close();
  }
}
