/**
 * The waits of `local up` that talk to the cluster it started: the master listing its replicas, the Sentinels'
 * timer periods (`SENTINEL DEBUG`), and the cluster formed (replicas online, Sentinels know each other).
 */
import { RedisConnections } from '../adapters/redis/connections.ts';
import { parseInfo } from '../adapters/redis/redis-nodes.ts';
import { fieldsOf } from '../adapters/redis/sentinel-view.ts';
import { localAccess } from '../compose/local.ts';
import type { Descriptor } from '../config/local-descriptor.ts';
import { HaRedisError } from '../core/model/errors.ts';
import { waitForPort, waitUntil } from './processes.ts';

/** Run `fn` with connections to the cluster's processes and its initial master (redis-1), closed afterwards. */
async function withConnections<T>(
  d: Descriptor,
  fn: (connections: RedisConnections, master: Descriptor['nodes'][number]) => Promise<T>,
): Promise<T> {
  const master = d.nodes[0];
  if (!master) throw new HaRedisError('no nodes');
  const connections = new RedisConnections(localAccess(d));
  try {
    return await fn(connections, master);
  } finally {
    await connections.close();
  }
}

/** The master's replication fields. */
const replicationOf = async (connections: RedisConnections, master: Descriptor['nodes'][number]) =>
  parseInfo(await connections.run('redis', master, 1000, (c) => c.info('replication')));

/** `SENTINEL DEBUG <period> <ms> ...` on every Sentinel, once each answers. */
export function setSentinelPeriods(
  d: Descriptor,
  periods: readonly (readonly [string, number])[],
): Promise<void> {
  return withConnections(d, async (connections) => {
    await Promise.all(
      d.sentinels.map(async (s) => {
        await waitForPort(s.port, 10_000, `redis-sentinel ${s.id}`, s.host);
        await connections.run('sentinel', s, 1000, (c) =>
          c.call('SENTINEL', 'DEBUG', ...periods.flatMap(([p, ms]) => [p, String(ms)])),
        );
      }),
    );
  });
}

/** Wait until the master's INFO lists every replica (connected, whether or not its sync is done). */
export function waitForReplicasListed(d: Descriptor, timeoutMs: number): Promise<void> {
  return withConnections(d, (connections, master) =>
    waitUntil(
      async () =>
        Number((await replicationOf(connections, master)).get('connected_slaves') ?? 0) >= d.nodes.length - 1,
      timeoutMs,
      'the replicas to connect to the master',
      20,
    ),
  );
}

/** Wait until the master has every replica online and each Sentinel knows all replicas and the other Sentinels. */
export function waitForClusterFormed(d: Descriptor, timeoutMs: number): Promise<void> {
  const replicas = d.nodes.length - 1;
  return withConnections(d, (connections, master) =>
    waitUntil(
      async () => {
        const online = [...(await replicationOf(connections, master)).entries()].filter(
          ([k, v]) => /^slave\d+$/.test(k) && v.includes('state=online'),
        ).length;
        if (online < replicas) return false;
        const views = await Promise.all(
          d.sentinels.map((s) =>
            connections.run('sentinel', s, 1000, (c) => c.call('SENTINEL', 'MASTER', d.masterName)),
          ),
        );
        return views.every((v) => {
          const f = fieldsOf(v);
          return (
            Number(f.get('num-slaves')) >= replicas &&
            Number(f.get('num-other-sentinels')) >= d.sentinels.length - 1
          );
        });
      },
      timeoutMs,
      'replicas to sync and Sentinels to discover each other',
      100,
    ),
  );
}
