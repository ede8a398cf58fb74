/**
 * The judgement of `ha-redis doctor`, pure: the facts it gathers, the thresholds, and one pass/warn/fail/skip
 * check per fact, each with a one-line fix. Families: Sentinels, nodes, proxies, then clocks and versions.
 */
import { majorityOf } from '../../core/failover/confirm.ts';

/** Down-after-milliseconds beyond this makes failover slow enough to warn about. */
export const SLOW_DOWN_AFTER_MS = 30_000;
/** Down-after-milliseconds below this risks failovers on a GC pause or a slow disk. */
export const FAST_DOWN_AFTER_MS = 1_000;
/** min-replicas-max-lag above this lets an isolated master take writes for too long. */
export const MAX_REPLICA_LAG_S = 10;
/** Clocks further apart than this: Sentinel TILTs on jumps, and timelines across hosts stop lining up. */
export const MAX_CLOCK_SKEW_MS = 500;

export interface DoctorFacts {
  sentinelsConfigured: number;
  sentinels: SentinelFacts[];
  nodes: NodeFacts[];
  proxies: ProxyFacts[];
  /** False when the config files are on other hosts (doctor --config): the checks that read them are skipped. */
  filesRead?: boolean;
}

/** What doctor learned of one Sentinel. */
export interface SentinelFacts {
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
}

/** What doctor learned of one Redis node. */
export interface NodeFacts {
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
}

/** What doctor learned of one proxy. */
export interface ProxyFacts {
  id: string;
  hasRoleMasterCheck?: boolean;
  hasTlsPort?: boolean;
  error?: string;
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

/** Adds a check: a pass when `ok`, else `bad` (fail unless said) with its fix. */
type AddCheck = (id: string, ok: boolean, check: string, fix: string, bad?: 'warn' | 'fail') => void;

/** Judge the facts; pure. A fact left undefined (not gathered) is not judged. */
export function doctorChecks(f: DoctorFacts): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const add: AddCheck = (id, ok, check, fix, bad = 'fail') =>
    out.push(ok ? { id, level: 'pass', check } : { id, level: bad, check, fix });
  const n = f.sentinelsConfigured;
  add(
    'sentinel-count',
    n >= 3 && n % 2 === 1,
    `${n} Sentinels (need >= 3 and odd)`,
    'run 3 or 5 Sentinels on separate hosts',
  );
  const needed = majorityOf(n);
  for (const s of f.sentinels) sentinelChecks(s, needed, add);
  for (const node of f.nodes) nodeChecks(node, f.filesRead, add, out);
  for (const p of f.proxies) proxyChecks(p, add);
  clockAndVersionChecks(f, add);
  if (f.filesRead === false) out.push(...FILE_CHECKS);
  return out;
}

/** One Sentinel: it answers, its quorum is the majority, its timings, its password and script settings. */
function sentinelChecks(s: SentinelFacts, needed: number, add: AddCheck): void {
  if (s.error) {
    add(
      'sentinel-answers',
      false,
      `Sentinel ${s.address} answers`,
      `start it, or check its password and network: ${s.error}`,
    );
    return;
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

/** min-replicas-max-lag: 0 turns the write guard off (fail); too high lets an isolated master write long (warn). */
function maxLagCheck(node: NodeFacts, lag: number): DoctorCheck {
  if (lag < 1) {
    return {
      id: 'min-replicas-max-lag',
      level: 'fail',
      check: `${node.id} min-replicas-max-lag ${lag} is set`,
      fix: 'CONFIG SET min-replicas-max-lag 10 and persist it (0 turns min-replicas-to-write off)',
    };
  }
  if (lag > MAX_REPLICA_LAG_S) {
    return {
      id: 'min-replicas-max-lag',
      level: 'warn',
      check: `${node.id} min-replicas-max-lag ${lag} <= ${MAX_REPLICA_LAG_S}`,
      fix: 'CONFIG SET min-replicas-max-lag 10 and persist it (an isolated master writes this long)',
    };
  }
  return {
    id: 'min-replicas-max-lag',
    level: 'pass',
    check: `${node.id} min-replicas-max-lag ${lag} <= ${MAX_REPLICA_LAG_S}`,
  };
}

/** One node: it answers, its write guard, AOF, password; a replica's priority and its replicaof line. */
function nodeChecks(
  node: NodeFacts,
  filesRead: boolean | undefined,
  add: AddCheck,
  out: DoctorCheck[],
): void {
  if (node.error) {
    add(
      'node-answers',
      false,
      `${node.id} answers`,
      `start it, or check its password and network: ${node.error}`,
    );
    return;
  }
  add(
    'min-replicas-to-write',
    (node.minReplicasToWrite ?? 0) >= 1,
    `${node.id} min-replicas-to-write ${node.minReplicasToWrite} >= 1`,
    'CONFIG SET min-replicas-to-write 1 and persist it (an isolated master keeps taking writes otherwise)',
  );
  if (node.minReplicasMaxLag !== undefined) out.push(maxLagCheck(node, node.minReplicasMaxLag));
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
    if (filesRead !== false) {
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

/** One proxy: its config is readable and fails closed (no role:master check), and it has a TLS port. */
function proxyChecks(p: ProxyFacts, add: AddCheck): void {
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

/** Every clock near ours (Sentinels, then nodes); one Redis version, one Sentinel version. */
function clockAndVersionChecks(f: DoctorFacts, add: AddCheck): void {
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
}
