import { setTimeout as sleep } from 'node:timers/promises';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { IoredisNodes } from '../../adapters/redis/redis-nodes.ts';
import { formatEndpoint } from '../../core/model/cluster.ts';
import { countLost, WriteLoad } from '../../local/load.ts';
import type { TestCluster } from './cluster.ts';

/** Writers through both proxies (plain and TLS) with plain SET acks, plus Sentinel-aware ioredis writers. */
export function startLoads(t: TestCluster): WriteLoad[] {
  const [p1, p2] = t.d.proxies;
  if (!p1 || !p2) throw new Error('expected two proxies');
  const loads = [
    new WriteLoad({
      target: { kind: 'direct', endpoint: { host: p1.host, port: p1.plainPort } },
      password: t.password,
      writers: 4,
    }),
    new WriteLoad({
      target: { kind: 'direct', endpoint: { host: p2.host, port: p2.tlsPort }, tlsCa: t.ca },
      password: t.password,
      writers: 2,
    }),
    new WriteLoad({
      target: { kind: 'sentinel', sentinels: t.cluster.sentinels, masterName: t.d.masterName },
      password: t.password,
      writers: 2,
    }),
  ];
  for (const l of loads) l.start();
  return loads;
}

/** Stop the loads after every one of them wrote again, and return the acked keys missing on the master. */
export async function stopAndCountLost(
  t: TestCluster,
  loads: WriteLoad[],
): Promise<{ lost: string[]; acked: number }> {
  const marks = loads.map((l) => l.ackCount);
  await Promise.all(loads.map((l, i) => l.waitForAcks((marks[i] ?? 0) + 50, 20_000)));
  const reports = await Promise.all(loads.map((l) => l.stop()));
  const master = await t.soleMaster();
  const keys = reports.flatMap((r) => r.ackedKeys);
  return { lost: await countLost(master, t.password, keys), acked: keys.length };
}

/** A write through every proxy listener succeeds. */
export async function writableThroughProxies(t: TestCluster): Promise<void> {
  const nodes = new IoredisNodes(t.connections);
  const master = await t.soleMaster();
  const router = new HaproxyRouter();
  for (const p of t.cluster.proxies) {
    for (const listener of ['plain', 'tls'] as const) {
      // Three tries, 200 ms apart: a proxy that has just been rerouted or reloaded may close one connection.
      const attempt = () => nodes.canaryThroughProxy(p, listener, master, 2000);
      const retried = () =>
        attempt()
          .catch(() => sleep(200).then(attempt))
          .catch(() => sleep(200).then(attempt));
      await retried().catch(async (error: unknown) => {
        // Name where the proxy routes and what each node is, so a failure here can be read from its message.
        const route = await router.masterRoute(p).catch((e: unknown) => String(e));
        const roles = await Promise.all(
          t.d.nodes.map(async (n) => `${n.id} ${await t.role(n).catch(() => '?')}`),
        );
        throw new Error(
          `a write through ${p.id}/${listener} failed (${String(error)}); the master is ${formatEndpoint(master)}, ` +
            `${p.id} routes to ${JSON.stringify(route)}; nodes: ${roles.join(', ')}`,
        );
      });
    }
  }
}
