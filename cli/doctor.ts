/** `ha-redis doctor`: configuration checks of a local cluster, each pass/warn/fail with a one-line fix. */
import { readFile } from 'node:fs/promises';
import { fieldsOf } from '../adapters/redis/sentinel-view.ts';
import { composeLocal } from '../compose/local.ts';
import { formatEndpoint } from '../functions/core/cluster.ts';
import { majorityOf } from '../functions/core/confirm.ts';
import { errorMessage } from '../functions/core/errors.ts';
import { type Descriptor, descriptorPath, readDescriptor } from '../local/descriptor.ts';
import { type Io, processIo, silentLogger } from './status.ts';

/** Down-after-milliseconds beyond this makes failover slow enough to warn about. */
export const SLOW_DOWN_AFTER_MS = 30_000;
const ROLE_MASTER_CHECK = /tcp-check\s+expect\s+string\s+role:master/;
const REPLICAOF_LINE = /^\s*(replicaof|slaveof)\s+\S+\s+\d+/m;

export interface DoctorFacts {
  sentinelsConfigured: number;
  sentinels: { address: string; quorum?: number; downAfterMs?: number; error?: string }[];
  nodes: {
    id: string;
    role?: string;
    minReplicasToWrite?: number;
    appendonly?: boolean;
    replicaPriority?: number;
    /** The node's config file has a `replicaof` line; undefined when it could not be read. */
    configHasReplicaOf?: boolean;
    error?: string;
  }[];
  proxies: { id: string; hasRoleMasterCheck?: boolean; error?: string }[];
}

export interface DoctorCheck {
  level: 'pass' | 'warn' | 'fail';
  check: string;
  fix?: string;
}

/** Judge the facts; pure. */
export function doctorChecks(f: DoctorFacts): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const add = (ok: boolean, check: string, fix: string, bad: 'warn' | 'fail' = 'fail') =>
    out.push(ok ? { level: 'pass', check } : { level: bad, check, fix });
  const n = f.sentinelsConfigured;
  add(n >= 3 && n % 2 === 1, `${n} Sentinels (need >= 3 and odd)`, 'run 3 or 5 Sentinels on separate hosts');
  const needed = majorityOf(n);
  for (const s of f.sentinels) {
    if (s.error) {
      add(false, `Sentinel ${s.address} answers`, `start it, or check its password and network: ${s.error}`);
      continue;
    }
    add(
      s.quorum === needed,
      `Sentinel ${s.address} quorum ${s.quorum} = majority ${needed}`,
      `SENTINEL SET <master> quorum ${needed} on every Sentinel`,
    );
    add(
      (s.downAfterMs ?? 0) <= SLOW_DOWN_AFTER_MS,
      `Sentinel ${s.address} down-after-milliseconds ${s.downAfterMs} <= ${SLOW_DOWN_AFTER_MS}`,
      'SENTINEL SET <master> down-after-milliseconds 5000 (failover waits this long)',
      'warn',
    );
  }
  for (const node of f.nodes) {
    if (node.error) {
      add(false, `${node.id} answers`, `start it, or check its password and network: ${node.error}`);
      continue;
    }
    add(
      (node.minReplicasToWrite ?? 0) >= 1,
      `${node.id} min-replicas-to-write ${node.minReplicasToWrite} >= 1`,
      'CONFIG SET min-replicas-to-write 1 and persist it (an isolated master keeps taking writes otherwise)',
    );
    add(
      Boolean(node.appendonly),
      `${node.id} AOF on`,
      'CONFIG SET appendonly yes and persist it (CONFIG REWRITE)',
    );
    if (node.role === 'slave') {
      add(
        node.replicaPriority !== 0,
        `${node.id} replica-priority ${node.replicaPriority} is not 0`,
        'CONFIG SET replica-priority 100 unless the node must never be promoted',
        'warn',
      );
      add(
        node.configHasReplicaOf === true,
        `${node.id} config file has a replicaof line`,
        'CONFIG REWRITE on the replica, so it comes back read-only after a restart',
        node.configHasReplicaOf === undefined ? 'warn' : 'fail',
      );
    }
  }
  for (const p of f.proxies) {
    if (p.error) {
      add(false, `proxy ${p.id} config readable`, `check its configPath: ${p.error}`, 'warn');
      continue;
    }
    add(
      !p.hasRoleMasterCheck,
      `proxy ${p.id} has no 'tcp-check expect string role:master'`,
      'remove the role:master health check: ha-redis alone moves the master slot (a check re-routes on its own)',
    );
  }
  return out;
}

/** Read the facts through the pooled connections and the config files named in the descriptor. */
export async function gatherDoctorFacts(d: Descriptor): Promise<DoctorFacts> {
  const runtime = composeLocal(d, silentLogger);
  const { cluster, connections } = runtime;
  const config = async (node: Parameters<typeof connections.run>[1], name: string) =>
    String(
      (
        (await connections.run('redis', node, cluster.timing.nodeTimeoutMs, (c) =>
          c.call('CONFIG', 'GET', name),
        )) as unknown[]
      )[1] ?? '',
    );
  try {
    const [sentinels, nodes, proxies] = await Promise.all([
      Promise.all(
        cluster.sentinels.map(async (s) => {
          try {
            const f = fieldsOf(
              await connections.run('sentinel', s, cluster.timing.sentinelTimeoutMs, (c) =>
                c.call('SENTINEL', 'MASTER', cluster.masterName),
              ),
            );
            return {
              address: formatEndpoint(s),
              quorum: Number(f.get('quorum')),
              downAfterMs: Number(f.get('down-after-milliseconds')),
            };
          } catch (error) {
            return { address: formatEndpoint(s), error: errorMessage(error) };
          }
        }),
      ),
      Promise.all(
        cluster.nodes.map(async (n) => {
          try {
            // Sequential: the first call opens the node's pooled connection.
            const role = await runtime.deps.redis.role(n, cluster.timing.nodeTimeoutMs);
            const minReplicasToWrite = Number(await config(n, 'min-replicas-to-write'));
            const appendonly = (await config(n, 'appendonly')) === 'yes';
            const replicaPriority = Number(await config(n, 'replica-priority'));
            const text = n.configPath
              ? await readFile(n.configPath, 'utf8').catch(() => undefined)
              : undefined;
            return {
              id: n.id,
              role,
              minReplicasToWrite,
              appendonly,
              replicaPriority,
              ...(text === undefined ? {} : { configHasReplicaOf: REPLICAOF_LINE.test(text) }),
            };
          } catch (error) {
            return { id: n.id, error: errorMessage(error) };
          }
        }),
      ),
      Promise.all(
        cluster.proxies.map(async (p) => {
          if (!p.configPath) return { id: p.id, error: 'no configPath in the cluster config' };
          try {
            return {
              id: p.id,
              hasRoleMasterCheck: ROLE_MASTER_CHECK.test(await readFile(p.configPath, 'utf8')),
            };
          } catch (error) {
            return { id: p.id, error: errorMessage(error) };
          }
        }),
      ),
    ]);
    return { sentinelsConfigured: cluster.sentinels.length, sentinels, nodes, proxies };
  } finally {
    await runtime.close();
  }
}

/** The `doctor` command: one line per check; returns 1 when any check fails. */
export async function doctorCommand(
  options: { cluster: string; root?: string; json?: boolean },
  io: Io = processIo,
): Promise<number> {
  const d = await readDescriptor(
    options.root ? descriptorPath(options.cluster, options.root) : descriptorPath(options.cluster),
  );
  const checks = doctorChecks(await gatherDoctorFacts(d));
  if (options.json) io.out(`${JSON.stringify(checks, null, 2)}\n`);
  else {
    for (const c of checks)
      io.err(`${c.level.toUpperCase().padEnd(4)}  ${c.check}${c.fix ? `\n      fix: ${c.fix}` : ''}`);
  }
  return checks.some((c) => c.level === 'fail') ? 1 : 0;
}
