/**
 * The facts `ha-redis doctor` judges, gathered through the pooled connections (SENTINEL MASTER, CONFIG GET,
 * INFO server) and, for a local cluster, from the config files on this host.
 */
import { readFile } from 'node:fs/promises';
import { parseInfo } from '../../adapters/redis/redis-nodes.ts';
import { fieldsOf } from '../../adapters/redis/sentinel-view.ts';
import { composeLocal } from '../../compose/local.ts';
import type { ObservedCluster } from '../../compose/remote.ts';
import type { Descriptor } from '../../config/local-descriptor.ts';
import { type Endpoint, formatEndpoint } from '../../core/model/cluster.ts';
import { errorMessage } from '../../core/model/errors.ts';
import type { DoctorFacts, NodeFacts, ProxyFacts, SentinelFacts } from './doctor-checks.ts';
import { silentLogger } from './status.ts';

const REQUIREPASS_LINE = /^\s*requirepass\s+\S+/m;
const DENY_SCRIPTS_LINE = /^\s*sentinel\s+deny-scripts-reconfig\s+(\S+)/gim;
const ROLE_MASTER_CHECK = /tcp-check\s+expect\s+string\s+role:master/;
const REPLICAOF_LINE = /^\s*(replicaof|slaveof)\s+\S+\s+\d+/m;

/** The last `sentinel deny-scripts-reconfig` line wins; absent means yes (the Redis 7 default). */
export function denyScriptsReconfigOf(sentinelConf: string): boolean {
  const values = [...sentinelConf.matchAll(DENY_SCRIPTS_LINE)].map((m) => m[1]?.toLowerCase());
  return values.length === 0 || values[values.length - 1] !== 'no';
}

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

/** The cluster to gather from, as a composition root builds it. */
type Runtime = Pick<ObservedCluster, 'cluster' | 'connections' | 'deps' | 'close'>;
type Cluster = Runtime['cluster'];

/** A local config file's text; undefined when the files are not on this host, or it cannot be read. */
const readerOf = (files: LocalFiles | undefined) => (path: string | undefined) =>
  files && path ? readFile(path, 'utf8').catch(() => undefined) : Promise.resolve(undefined);

/**
 * Read the facts through the pooled connections (SENTINEL MASTER, CONFIG GET, INFO server); with `files`, also
 * the config files. Without them, nothing is read from a file, and `filesRead` is false.
 */
export async function gatherFacts(runtime: Runtime, files: LocalFiles | undefined): Promise<DoctorFacts> {
  const { cluster } = runtime;
  try {
    const [sentinels, nodes, proxies] = await Promise.all([
      Promise.all(cluster.sentinels.map((s) => sentinelFacts(runtime, s, files))),
      Promise.all(cluster.nodes.map((n) => nodeFacts(runtime, n, files))),
      Promise.all(cluster.proxies.map((p) => proxyFacts(p, files))),
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

/** One Sentinel: its view of the master, INFO server (version, clock), and its config file's settings. */
async function sentinelFacts(
  { cluster, connections }: Runtime,
  s: Cluster['sentinels'][number],
  files: LocalFiles | undefined,
): Promise<SentinelFacts> {
  try {
    const f = fieldsOf(
      await connections.run('sentinel', s, cluster.timing.sentinelTimeoutMs, (c) =>
        c.call('SENTINEL', 'MASTER', cluster.masterName),
      ),
    );
    const { info, skewMs: skew } = await infoServerWithSkew(() =>
      connections.run('sentinel', s, cluster.timing.sentinelTimeoutMs, (c) => c.call('INFO', 'server')),
    );
    const version = info.get('redis_version');
    const text = await readerOf(files)(files?.sentinelConfigPath(s));
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
}

/** One node: its role, its CONFIG settings, INFO server (version, clock), and its config file's replicaof. */
async function nodeFacts(
  { cluster, connections, deps }: Runtime,
  n: Cluster['nodes'][number],
  files: LocalFiles | undefined,
): Promise<NodeFacts> {
  const config = async (name: string) =>
    String(
      (
        (await connections.run('redis', n, cluster.timing.nodeTimeoutMs, (c) =>
          c.call('CONFIG', 'GET', name),
        )) as unknown[]
      )[1] ?? '',
    );
  try {
    // Sequential: the first call opens the node's pooled connection.
    const role = await deps.redis.role(n, cluster.timing.nodeTimeoutMs);
    const minReplicasToWrite = Number(await config('min-replicas-to-write'));
    const appendonly = (await config('appendonly')) === 'yes';
    const replicaPriority = Number(await config('replica-priority'));
    const minReplicasMaxLag = Number(await config('min-replicas-max-lag'));
    // Only whether it is set: the password itself goes no further than this line.
    const requirepassSet = (await config('requirepass')) !== '';
    const { info, skewMs: skew } = await infoServerWithSkew(() =>
      connections.run('redis', n, cluster.timing.nodeTimeoutMs, (c) => c.call('INFO', 'server')),
    );
    const version = info.get('redis_version');
    const text = await readerOf(files)(n.configPath);
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
}

/** One proxy: whether it has a TLS port and (local files only) a role:master health check. */
async function proxyFacts(p: Cluster['proxies'][number], files: LocalFiles | undefined): Promise<ProxyFacts> {
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
}
