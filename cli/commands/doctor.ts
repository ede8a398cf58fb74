/**
 * `ha-redis doctor`: configuration checks of a cluster, each pass/warn/fail with a one-line fix. A local
 * cluster's config files are read too; a cluster of the deployment config file is checked over the network
 * only, and the checks that need its hosts' files are listed as skipped.
 */
import { readFile } from 'node:fs/promises';
import { parseInfo } from '../../adapters/redis/redis-nodes.ts';
import { fieldsOf } from '../../adapters/redis/sentinel-view.ts';
import { composeLocal } from '../../compose/local.ts';
import type { ObservedCluster, RemoteOptions } from '../../compose/remote.ts';
import { majorityOf } from '../../core/failover/confirm.ts';
import { type Endpoint, formatEndpoint } from '../../core/model/cluster.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { type Descriptor, descriptorPath, readDescriptor } from '../../local/descriptor.ts';
import { type Io, processIo, silentLogger } from './status.ts';

/** Down-after-milliseconds beyond this makes failover slow enough to warn about. */
export const SLOW_DOWN_AFTER_MS = 30_000;
/** Down-after-milliseconds below this risks failovers on a GC pause or a slow disk. */
export const FAST_DOWN_AFTER_MS = 1_000;
/** min-replicas-max-lag above this lets an isolated master take writes for too long. */
export const MAX_REPLICA_LAG_S = 10;
/** Clocks further apart than this: Sentinel TILTs on jumps, and timelines across hosts stop lining up. */
export const MAX_CLOCK_SKEW_MS = 500;
const REQUIREPASS_LINE = /^\s*requirepass\s+\S+/m;
const DENY_SCRIPTS_LINE = /^\s*sentinel\s+deny-scripts-reconfig\s+(\S+)/gim;
const ROLE_MASTER_CHECK = /tcp-check\s+expect\s+string\s+role:master/;
const REPLICAOF_LINE = /^\s*(replicaof|slaveof)\s+\S+\s+\d+/m;

export interface DoctorFacts {
  sentinelsConfigured: number;
  sentinels: {
    address: string;
    quorum?: number;
    downAfterMs?: number;
    failoverTimeoutMs?: number;
    /** INFO server redis_version. */
    version?: string;
    /** The Sentinel's config file has a non-empty `requirepass`; undefined when not read. */
    configHasRequirepass?: boolean;
    /** `sentinel deny-scripts-reconfig` (absent counts as yes, the Redis 7 default); undefined when not read. */
    denyScriptsReconfig?: boolean;
    /** Its clock minus ours (TIME, corrected by half the round trip), in ms. */
    clockSkewMs?: number;
    error?: string;
  }[];
  nodes: {
    id: string;
    role?: string;
    minReplicasToWrite?: number;
    minReplicasMaxLag?: number;
    /** Whether CONFIG GET requirepass is non-empty; the password itself is never kept. */
    requirepassSet?: boolean;
    /** INFO server redis_version. */
    version?: string;
    appendonly?: boolean;
    replicaPriority?: number;
    /** The node's config file has a `replicaof` line; undefined when it could not be read. */
    configHasReplicaOf?: boolean;
    /** Its clock minus ours (TIME, corrected by half the round trip), in ms. */
    clockSkewMs?: number;
    error?: string;
  }[];
  proxies: { id: string; hasRoleMasterCheck?: boolean; hasTlsPort?: boolean; error?: string }[];
  /** False when the config files are on other hosts (doctor --config): the checks that read them are skipped. */
  filesRead?: boolean;
}

export interface DoctorCheck {
  /** Stable name of the kind of check, e.g. `aof`; several checks (one per node) share an id. */
  id: string;
  /** `skip`: not made (its config files are on other hosts); never a fail. */
  level: 'pass' | 'warn' | 'fail' | 'skip';
  check: string;
  fix?: string;
}

/** The checks that read config files, and how to make each by hand on the hosts. */
const FILE_CHECKS: readonly DoctorCheck[] = [
  {
    id: 'sentinel-password',
    level: 'skip',
    check: 'Sentinel config files set requirepass: not checked, the files are on the Sentinel hosts',
    fix: "on each Sentinel host: grep '^requirepass' sentinel.conf",
  },
  {
    id: 'deny-scripts-reconfig',
    level: 'skip',
    check: 'Sentinel deny-scripts-reconfig yes: not checked, the files are on the Sentinel hosts',
    fix: "on each Sentinel host: grep 'deny-scripts-reconfig' sentinel.conf (must not say no)",
  },
  {
    id: 'replicaof-in-config',
    level: 'skip',
    check: 'replica config files have a replicaof line: not checked, the files are on the node hosts',
    fix: "on each replica host: grep -E '^(replicaof|slaveof)' redis.conf",
  },
  {
    id: 'proxy-fails-closed',
    level: 'skip',
    check:
      "proxies have no 'tcp-check expect string role:master': not checked, the files are on the proxy hosts",
    fix: "on each proxy host: grep 'role:master' haproxy.cfg (must find nothing)",
  },
];

/** Judge the facts; pure. A fact left undefined (not gathered) is not judged. */
export function doctorChecks(f: DoctorFacts): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const add = (id: string, ok: boolean, check: string, fix: string, bad: 'warn' | 'fail' = 'fail') =>
    out.push(ok ? { id, level: 'pass', check } : { id, level: bad, check, fix });
  const n = f.sentinelsConfigured;
  add(
    'sentinel-count',
    n >= 3 && n % 2 === 1,
    `${n} Sentinels (need >= 3 and odd)`,
    'run 3 or 5 Sentinels on separate hosts',
  );
  const needed = majorityOf(n);
  for (const s of f.sentinels) {
    if (s.error) {
      add(
        'sentinel-answers',
        false,
        `Sentinel ${s.address} answers`,
        `start it, or check its password and network: ${s.error}`,
      );
      continue;
    }
    add(
      'quorum',
      s.quorum === needed,
      `Sentinel ${s.address} quorum ${s.quorum} = majority ${needed}`,
      `SENTINEL SET <master> quorum ${needed} on every Sentinel`,
    );
    add(
      'down-after',
      (s.downAfterMs ?? 0) <= SLOW_DOWN_AFTER_MS,
      `Sentinel ${s.address} down-after-milliseconds ${s.downAfterMs} <= ${SLOW_DOWN_AFTER_MS}`,
      'SENTINEL SET <master> down-after-milliseconds 5000 (failover waits this long)',
      'warn',
    );
    if (s.downAfterMs !== undefined) {
      add(
        'down-after',
        s.downAfterMs >= FAST_DOWN_AFTER_MS,
        `Sentinel ${s.address} down-after-milliseconds ${s.downAfterMs} >= ${FAST_DOWN_AFTER_MS}`,
        'SENTINEL SET <master> down-after-milliseconds 5000 (a GC pause or slow disk would start a failover)',
        'warn',
      );
    }
    if (s.failoverTimeoutMs !== undefined && s.downAfterMs !== undefined) {
      add(
        'failover-timeout',
        s.failoverTimeoutMs >= 2 * s.downAfterMs,
        `Sentinel ${s.address} failover-timeout ${s.failoverTimeoutMs} >= 2 x down-after-milliseconds`,
        `SENTINEL SET <master> failover-timeout ${Math.max(60_000, 2 * s.downAfterMs)} on every Sentinel`,
        'warn',
      );
    }
    if (s.configHasRequirepass !== undefined) {
      add(
        'sentinel-password',
        s.configHasRequirepass,
        `Sentinel ${s.address} config file sets requirepass`,
        'add requirepass <secret> (and sentinel sentinel-pass) to sentinel.conf and restart it',
      );
    }
    if (s.denyScriptsReconfig !== undefined) {
      add(
        'deny-scripts-reconfig',
        s.denyScriptsReconfig,
        `Sentinel ${s.address} deny-scripts-reconfig yes`,
        "set 'sentinel deny-scripts-reconfig yes' in sentinel.conf (or remove the 'no' line) and restart it",
      );
    }
  }
  for (const node of f.nodes) {
    if (node.error) {
      add(
        'node-answers',
        false,
        `${node.id} answers`,
        `start it, or check its password and network: ${node.error}`,
      );
      continue;
    }
    add(
      'min-replicas-to-write',
      (node.minReplicasToWrite ?? 0) >= 1,
      `${node.id} min-replicas-to-write ${node.minReplicasToWrite} >= 1`,
      'CONFIG SET min-replicas-to-write 1 and persist it (an isolated master keeps taking writes otherwise)',
    );
    if (node.minReplicasMaxLag !== undefined) {
      const lag = node.minReplicasMaxLag;
      out.push(
        lag < 1
          ? {
              id: 'min-replicas-max-lag',
              level: 'fail',
              check: `${node.id} min-replicas-max-lag ${lag} is set`,
              fix: 'CONFIG SET min-replicas-max-lag 10 and persist it (0 turns min-replicas-to-write off)',
            }
          : lag > MAX_REPLICA_LAG_S
            ? {
                id: 'min-replicas-max-lag',
                level: 'warn',
                check: `${node.id} min-replicas-max-lag ${lag} <= ${MAX_REPLICA_LAG_S}`,
                fix: 'CONFIG SET min-replicas-max-lag 10 and persist it (an isolated master writes this long)',
              }
            : {
                id: 'min-replicas-max-lag',
                level: 'pass',
                check: `${node.id} min-replicas-max-lag ${lag} <= ${MAX_REPLICA_LAG_S}`,
              },
      );
    }
    add(
      'aof',
      Boolean(node.appendonly),
      `${node.id} AOF on`,
      'CONFIG SET appendonly yes and persist it (CONFIG REWRITE)',
    );
    if (node.requirepassSet !== undefined) {
      add(
        'redis-password',
        node.requirepassSet,
        `${node.id} requirepass is set`,
        'set requirepass (and masterauth) in redis.conf on every node, then CONFIG SET requirepass to match',
      );
    }
    if (node.role === 'slave') {
      add(
        'replica-priority',
        node.replicaPriority !== 0,
        `${node.id} replica-priority ${node.replicaPriority} is not 0`,
        'CONFIG SET replica-priority 100 unless the node must never be promoted',
        'warn',
      );
      if (f.filesRead !== false) {
        add(
          'replicaof-in-config',
          node.configHasReplicaOf === true,
          `${node.id} config file has a replicaof line`,
          'CONFIG REWRITE on the replica, so it comes back read-only after a restart',
          node.configHasReplicaOf === undefined ? 'warn' : 'fail',
        );
      }
    }
  }
  for (const p of f.proxies) {
    if (p.error) {
      add('proxy-config', false, `proxy ${p.id} config readable`, `check its configPath: ${p.error}`, 'warn');
    } else if (p.hasRoleMasterCheck !== undefined) {
      add(
        'proxy-fails-closed',
        !p.hasRoleMasterCheck,
        `proxy ${p.id} has no 'tcp-check expect string role:master'`,
        'remove the role:master health check: ha-redis alone moves the master slot (a check re-routes on its own)',
      );
    }
    if (p.hasTlsPort !== undefined) {
      add(
        'proxy-tls',
        p.hasTlsPort,
        `proxy ${p.id} has a TLS port`,
        "add a TLS frontend ('bind ... ssl crt <pem>') and set tlsPort in the cluster config",
      );
    }
  }
  const same = (id: string, what: string, versions: (string | undefined)[]) => {
    const seen = [...new Set(versions.filter((v): v is string => v !== undefined))];
    if (seen.length === 0) return;
    add(
      id,
      seen.length === 1,
      `${what} versions equal (${seen.join(', ')})`,
      `finish the rolling upgrade so every ${what} runs one version`,
      'warn',
    );
  };
  for (const x of [
    ...f.sentinels.map((s) => ({ what: `Sentinel ${s.address}`, skew: s.clockSkewMs })),
    ...f.nodes.map((n) => ({ what: `node ${n.id}`, skew: n.clockSkewMs })),
  ]) {
    if (x.skew === undefined) continue;
    add(
      'clock',
      Math.abs(x.skew) <= MAX_CLOCK_SKEW_MS,
      `${x.what} clock within ${MAX_CLOCK_SKEW_MS} ms of this host (${x.skew >= 0 ? '+' : ''}${x.skew} ms)`,
      'run chrony or NTP on every host: Sentinel enters TILT on clock jumps, and timelines stop lining up',
      'warn',
    );
  }
  same(
    'redis-version',
    'Redis',
    f.nodes.map((x) => x.version),
  );
  same(
    'sentinel-version',
    'Sentinel',
    f.sentinels.map((x) => x.version),
  );
  if (f.filesRead === false) out.push(...FILE_CHECKS);
  return out;
}

/** The last `sentinel deny-scripts-reconfig` line wins; absent means yes (the Redis 7 default). */
export function denyScriptsReconfigOf(sentinelConf: string): boolean {
  const values = [...sentinelConf.matchAll(DENY_SCRIPTS_LINE)].map((m) => m[1]?.toLowerCase());
  return values.length === 0 || values[values.length - 1] !== 'no';
}

/** The server's clock minus ours, from TIME, corrected by half the round trip. */
/**
 * The server's clock minus ours, from `INFO server` (`server_time_usec`: Sentinel has no TIME command),
 * corrected by half the round trip; returns the parsed INFO too.
 */
async function infoServerWithSkew(
  info: () => Promise<unknown>,
): Promise<{ info: Map<string, string>; skewMs: number | undefined }> {
  const before = Date.now();
  const fields = parseInfo(String(await info()));
  const after = Date.now();
  const serverMs = Math.round(Number(fields.get('server_time_usec')) / 1000);
  return {
    info: fields,
    skewMs:
      Number.isFinite(serverMs) && serverMs > 0 ? serverMs - Math.round((before + after) / 2) : undefined,
  };
}

/** Read the facts of a local cluster through the pooled connections and the config files it names. */
export function gatherDoctorFacts(d: Descriptor): Promise<DoctorFacts> {
  return gatherFacts(composeLocal(d, silentLogger), {
    sentinelConfigPath: (s) => d.sentinels.find((x) => x.host === s.host && x.port === s.port)?.configPath,
  });
}

/** The config files of a cluster, when they are on this host. */
interface LocalFiles {
  sentinelConfigPath(s: Endpoint): string | undefined;
}

/**
 * Read the facts through the pooled connections (SENTINEL MASTER, CONFIG GET, INFO server); with `files`, also
 * the config files. Without them, nothing is read from a file, and `filesRead` is false.
 */
async function gatherFacts(
  runtime: Pick<ObservedCluster, 'cluster' | 'connections' | 'deps' | 'close'>,
  files: LocalFiles | undefined,
): Promise<DoctorFacts> {
  const { cluster, connections } = runtime;
  const readLocal = (path: string | undefined) =>
    files && path ? readFile(path, 'utf8').catch(() => undefined) : Promise.resolve(undefined);
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
            const { info, skewMs: skew } = await infoServerWithSkew(() =>
              connections.run('sentinel', s, cluster.timing.sentinelTimeoutMs, (c) =>
                c.call('INFO', 'server'),
              ),
            );
            const version = info.get('redis_version');
            const text = await readLocal(files?.sentinelConfigPath(s));
            return {
              address: formatEndpoint(s),
              quorum: Number(f.get('quorum')),
              downAfterMs: Number(f.get('down-after-milliseconds')),
              ...(f.has('failover-timeout') ? { failoverTimeoutMs: Number(f.get('failover-timeout')) } : {}),
              ...(version ? { version } : {}),
              ...(skew === undefined ? {} : { clockSkewMs: skew }),
              ...(text === undefined
                ? {}
                : {
                    configHasRequirepass: REQUIREPASS_LINE.test(text),
                    denyScriptsReconfig: denyScriptsReconfigOf(text),
                  }),
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
            const minReplicasMaxLag = Number(await config(n, 'min-replicas-max-lag'));
            // Only whether it is set: the password itself goes no further than this line.
            const requirepassSet = (await config(n, 'requirepass')) !== '';
            const { info, skewMs: skew } = await infoServerWithSkew(() =>
              connections.run('redis', n, cluster.timing.nodeTimeoutMs, (c) => c.call('INFO', 'server')),
            );
            const version = info.get('redis_version');
            const text = await readLocal(n.configPath);
            return {
              id: n.id,
              role,
              minReplicasToWrite,
              appendonly,
              replicaPriority,
              minReplicasMaxLag,
              requirepassSet,
              ...(version ? { version } : {}),
              ...(skew === undefined ? {} : { clockSkewMs: skew }),
              ...(text === undefined ? {} : { configHasReplicaOf: REPLICAOF_LINE.test(text) }),
            };
          } catch (error) {
            return { id: n.id, error: errorMessage(error) };
          }
        }),
      ),
      Promise.all(
        cluster.proxies.map(async (p) => {
          if (!files) return { id: p.id, hasTlsPort: p.tlsPort !== undefined };
          if (!p.configPath) {
            return {
              id: p.id,
              hasTlsPort: p.tlsPort !== undefined,
              error: 'no configPath in the cluster config',
            };
          }
          try {
            return {
              id: p.id,
              hasRoleMasterCheck: ROLE_MASTER_CHECK.test(await readFile(p.configPath, 'utf8')),
              hasTlsPort: p.tlsPort !== undefined,
            };
          } catch (error) {
            return { id: p.id, hasTlsPort: p.tlsPort !== undefined, error: errorMessage(error) };
          }
        }),
      ),
    ]);
    return {
      sentinelsConfigured: cluster.sentinels.length,
      sentinels,
      nodes,
      proxies,
      ...(files ? {} : { filesRead: false }),
    };
  } finally {
    await runtime.close();
  }
}

/** The `doctor` command: one line per check; returns 1 when any check fails. */
export async function doctorCommand(
  options: {
    cluster: string;
    root?: string;
    json?: boolean;
    /** A cluster of the deployment config file, checked over the network only. */
    remote?: Pick<RemoteOptions, 'configPath' | 'secretsDir'>;
  },
  io: Io = processIo,
): Promise<number> {
  const facts = options.remote
    ? await gatherFacts(
        // The AWS composition loads only for --config.
        (await import('../../compose/remote.ts')).composeRemote(options.cluster, {
          ...options.remote,
          skipDns: true,
        }),
        undefined,
      )
    : await gatherDoctorFacts(
        await readDescriptor(
          options.root ? descriptorPath(options.cluster, options.root) : descriptorPath(options.cluster),
        ),
      );
  const checks = doctorChecks(facts);
  if (options.json) io.out(`${JSON.stringify(checks, null, 2)}\n`);
  else {
    for (const c of checks)
      io.err(
        `${c.level.toUpperCase().padEnd(4)}  ${c.check}${c.fix ? `\n      ${c.level === 'skip' ? 'by hand' : 'fix'}: ${c.fix}` : ''}`,
      );
  }
  return checks.some((c) => c.level === 'fail') ? 1 : 0;
}
