/** `ha-redis move`: a service of a host set moves to another set's hosts (the move state machine, run locally). */
import { powertoolsLogger } from '../../adapters/logging/powertools.ts';
import { descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { retireOldProxies } from '../../core/move/retire-proxies.ts';
import { LocalMoveHosts } from '../../local/move-hosts.ts';
import { runLocalMove } from '../../local/move-runner.ts';
import { type Io, processIo } from './status.ts';

export interface MoveCommandOptions {
  cluster: string;
  toSet: string;
  dryRun?: boolean;
  reason: string;
  json?: boolean;
  requestedBy: string;
}

const formatStep = (s: { step: string; durationMs: number; status: string; detail?: string }) =>
  `  ${s.step.padEnd(22)} ${String(s.durationMs).padStart(6)} ms  ${s.status === 'ok' ? '' : `${s.status} `}${s.detail ?? ''}`;

/** Run the move; returns the exit code (0 when it moved, or planned on --dry-run; 1 otherwise). */
export async function moveCommand(o: MoveCommandOptions, io: Io = processIo): Promise<number> {
  const d = await readDescriptor(descriptorPath(o.cluster));
  const logger = powertoolsLogger('ha-redis-move', process.env.HA_REDIS_LOG_LEVEL ?? 'SILENT');
  const result = await runLocalMove(
    d,
    { toSet: o.toSet, dryRun: Boolean(o.dryRun), reason: o.reason, requestedBy: o.requestedBy },
    { logger, onStep: (s) => io.err(formatStep(s)) },
  );
  const state = result.state;
  if (o.json) io.out(`${JSON.stringify({ status: result.status, error: result.error, state }, null, 2)}\n`);
  const p = state?.plan;
  if (result.status === 'SUCCEEDED' && state?.outcome === 'planned' && p) {
    io.err(
      [
        `plan: ${o.cluster} from set ${p.fromSet} to set ${p.toSet} (master now ${p.master.id} on ${p.master.hostId})`,
        `  new nodes:     ${p.newNodes.map((n) => `${n.id} ${n.host}:${n.port} (${n.hostId})`).join(', ')}`,
        `  new Sentinels: ${p.newSentinels.map((s) => `${s.id} ${s.host}:${s.port} (${s.hostId})`).join(', ')}`,
        `  new frontends: ${p.newProxies.map((x) => `${x.id} ${x.host}:${x.plainPort}/${x.tlsPort} (${x.hostId})`).join(', ')}`,
        `  then the switchover onto ${p.target}: expected write gap ~${p.expectedWriteGapMs} ms; no other gap`,
        ...p.steps.map((s, i) => `  ${i + 1}. ${s}`),
        'nothing changed (dry run)',
      ].join('\n'),
    );
    return 0;
  }
  if (result.status === 'SUCCEEDED') {
    io.err(
      `move succeeded: ${o.cluster} lives on set ${o.toSet}${state?.writeGapMs === undefined ? '' : `; writes blocked ${state.writeGapMs} ms (the switchover)`}; the old hosts' HAProxy still routes it`,
    );
    return 0;
  }
  io.err(`move ${result.status} (${result.ending ?? ''}): ${result.error ?? ''}: ${result.cause ?? ''}`);
  for (const line of state?.recovery ?? []) io.err(`  ${line}`);
  return 1;
}

/** `ha-redis retire-proxies`: the old hosts' HAProxy stops serving a moved service; 0 when done (or nothing to do). */
export async function retireProxiesCommand(
  o: { cluster: string; dryRun?: boolean },
  io: Io = processIo,
): Promise<number> {
  const lines = await retireOldProxies(
    o.cluster,
    { hosts: new LocalMoveHosts() },
    { dryRun: Boolean(o.dryRun) },
  );
  for (const line of lines) io.err(line);
  return 0;
}
