/** `ha-redis switchover` and `ha-redis maintenance run`: a local state machine run, its steps printed live. */
import { powertoolsLogger } from '../../adapters/logging/powertools.ts';
import { descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import type { MaintenanceAction } from '../../core/model/maintenance.ts';
import { runLocalMaintenance } from '../../local/maintenance-runner.ts';
import { runLocalSwitchover } from '../../local/switchover-runner.ts';
import { type Io, processIo } from './status.ts';

/** One step of a workflow, as it happens. */
const formatStep = (s: { step: string; durationMs: number; status: string; detail?: string }) =>
  `  ${s.step.padEnd(20)} ${String(s.durationMs).padStart(6)} ms  ${s.status === 'ok' ? '' : `${s.status} `}${s.detail ?? ''}`;

export interface SwitchoverCommandOptions {
  cluster: string;
  to?: string;
  dryRun?: boolean;
  reason: string;
  maxLagBytes?: number;
  json?: boolean;
  requestedBy: string;
}

/** Run the switchover state machine on a local cluster; returns the exit code (1 unless it succeeded). */
export async function switchoverCommand(o: SwitchoverCommandOptions, io: Io = processIo): Promise<number> {
  const d = await readDescriptor(descriptorPath(o.cluster));
  const logger = powertoolsLogger('ha-redis-switchover', process.env.HA_REDIS_LOG_LEVEL ?? 'SILENT');
  const result = await runLocalSwitchover(
    d,
    {
      ...(o.to ? { target: o.to } : {}),
      dryRun: Boolean(o.dryRun),
      reason: o.reason,
      requestedBy: o.requestedBy,
      ...(o.maxLagBytes !== undefined ? { maxLagBytes: o.maxLagBytes } : {}),
    },
    { logger, onStep: (s) => io.err(formatStep(s)) },
  );
  const state = result.state;
  if (o.json) io.out(`${JSON.stringify({ status: result.status, error: result.error, state }, null, 2)}\n`);
  if (result.status === 'SUCCEEDED' && state?.outcome === 'planned') {
    const p = state.plan;
    io.err(
      `plan: ${p?.master.id} -> ${p?.target.id}; expected write gap ~${p?.expectedWriteGapMs} ms; nothing changed (dry run)`,
    );
    return 0;
  }
  if (result.status === 'SUCCEEDED') {
    io.err(
      `switchover succeeded: ${state?.plan?.master.id} -> ${state?.plan?.target.id}, writes blocked ${state?.writeGapMs} ms`,
    );
    return 0;
  }
  io.err(
    `switchover ${result.status} (${result.ending ?? ''}): ${result.error ?? ''}: ${result.cause ?? ''}; writes are unblocked`,
  );
  return 1;
}

export interface MaintenanceRunOptions {
  cluster: string;
  action: MaintenanceAction;
  switchback?: boolean;
  reason: string;
  json?: boolean;
  requestedBy: string;
}

/** Run the rolling maintenance state machine on a local cluster; returns the exit code. */
export async function maintenanceRunCommand(o: MaintenanceRunOptions, io: Io = processIo): Promise<number> {
  const d = await readDescriptor(descriptorPath(o.cluster));
  const logger = powertoolsLogger('ha-redis-maintenance', process.env.HA_REDIS_LOG_LEVEL ?? 'SILENT');
  const result = await runLocalMaintenance(
    d,
    { action: o.action, switchback: Boolean(o.switchback), reason: o.reason, requestedBy: o.requestedBy },
    { logger, onStep: (s) => io.err(formatStep(s)) },
  );
  if (o.json)
    io.out(
      `${JSON.stringify({ status: result.status, error: result.error, state: result.state }, null, 2)}\n`,
    );
  const done = result.state?.done ?? [];
  if (result.status === 'SUCCEEDED') {
    io.err(`maintenance (${o.action}) succeeded: ${done.length ? done.join(', ') : 'no node'} done`);
    return 0;
  }
  io.err(
    `maintenance ${result.status} (${result.ending ?? ''}): ${result.error ?? ''}: ${result.cause ?? ''}; done: ${done.join(', ') || 'nothing'}`,
  );
  return 1;
}
