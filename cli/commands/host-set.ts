/** `ha-redis local up --services N`, `local status` and `local fail-host` of a host set. */
import { composeLocal } from '../../compose/local.ts';
import { hostSetPath, type SentinelLayout } from '../../config/host-set-descriptor.ts';
import { type Descriptor, descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { errorMessage } from '../../core/model/errors.ts';
import { hostSetUp } from '../../local/host-set.ts';
import { type FailHostMode, failHost, hostSetStatus } from '../../local/host-set-processes.ts';
import { hostIdIn } from '../../local/move-placement.ts';
import { type Io, processIo, silentLogger } from './status.ts';

export interface HostSetUpOptions {
  name: string;
  services: number;
  serviceNames?: string[];
  sentinels?: SentinelLayout;
  network?: 'auto' | 'netns' | 'loopback';
  downAfterMs: number;
  failoverTimeoutMs: number;
  slackUser?: string[];
  json?: boolean;
}

/** Start a host set; print its hosts.json (--json) or its services and how to reach them. */
export async function hostSetUpCommand(o: HostSetUpOptions, io: Io = processIo): Promise<void> {
  const set = await hostSetUp({
    name: o.name,
    services: o.services,
    ...(o.serviceNames ? { serviceNames: o.serviceNames } : {}),
    ...(o.sentinels ? { sentinels: o.sentinels } : {}),
    ...(o.network ? { network: o.network } : {}),
    downAfterMs: o.downAfterMs,
    failoverTimeoutMs: o.failoverTimeoutMs,
    ...(o.slackUser ? { slackUsers: o.slackUser } : {}),
    progress: io.err,
  });
  if (o.json) {
    io.out(`${JSON.stringify(set, null, 2)}\n`);
    return;
  }
  io.err(
    `host set '${set.set}' is up: ${set.services.length} services on ${set.hosts.length} hosts; ${hostSetPath(set.set)}`,
  );
  for (const service of set.services) {
    const d = await readDescriptor(descriptorPath(service));
    const proxies = d.proxies.map((p) => `${p.host}:${p.plainPort}`).join(', ');
    io.err(
      `  ${service.padEnd(16)} master on host-1; proxies ${proxies}; ha-redis status --cluster ${service}`,
    );
  }
  io.err(`password: ${set.dir}/password; see the set: ha-redis local status --name ${set.set}`);
  if (set.livePageUrl) io.err(`live page: ${set.livePageUrl} (loopback only, read-only)`);
}

/** Roles of a service's nodes and where each proxy routes it, by process id. */
async function observeService(
  d: Descriptor,
): Promise<{ roles: Map<string, string>; routes: Map<string, string> }> {
  const { cluster, deps, close } = composeLocal(d, silentLogger);
  const nodeName = (host: string, port: number) => {
    const node = d.nodes.find((n) => n.host === host && n.port === port);
    return node ? `${node.id}@${node.hostId ?? '?'}` : `${host}:${port}`;
  };
  try {
    const roles = await Promise.all(
      cluster.nodes.map(
        async (n) => [n.id, await deps.redis.role(n, 500).catch(() => 'unreachable')] as const,
      ),
    );
    const routes = await Promise.all(
      cluster.proxies.map(async (p) => {
        const route = await deps.router
          .masterRoute(p)
          .then((r) => `${nodeName(r.address.host, r.address.port)} (${r.state})`)
          .catch((e: unknown) => `unknown: ${errorMessage(e).slice(0, 60)}`);
        return [p.id, route] as const;
      }),
    );
    return { roles: new Map(roles), routes: new Map(routes) };
  } finally {
    await close();
  }
}

/** The set host by host: processes, each service's node role, where each host's proxy routes it. Exit 1 when a process is down. */
export async function hostSetStatusCommand(
  o: { name: string; json?: boolean },
  io: Io = processIo,
): Promise<number> {
  const { set, hosts } = await hostSetStatus({ name: o.name });
  // The set's own services, and those moved onto its hosts (`ha-redis move`).
  const names = [...new Set([...set.services, ...set.hosts.flatMap((h) => h.services)])];
  const services = await Promise.all(
    names.map(async (name) => {
      const d = await readDescriptor(descriptorPath(name));
      return { name, d, ...(await observeService(d)) };
    }),
  );
  const healthy = hosts.every((h) => h.processes.every((p) => p.alive));
  const view = hosts.map((h) => {
    const here = `${set.set}/${h.id}`;
    const on = (s: (typeof services)[number], m: { hostId?: string | undefined }) =>
      hostIdIn(s.d.hostSet ?? set.set, m.hostId) === here;
    return {
      id: h.id,
      address: h.address,
      netns: h.netns,
      haproxy: h.processes.filter((p) => p.kind === 'haproxy').map((p) => ({ pid: p.pid, alive: p.alive })),
      sentinels: h.processes
        .filter((p) => p.kind === 'sentinel')
        .map((p) => ({ service: p.service ?? null, alive: p.alive })),
      // A service is on the host when a node or a frontend of it is (a moved service keeps its old frontends).
      services: services.flatMap((s) => {
        const node = s.d.nodes.find((n) => on(s, n));
        const proxy = s.d.proxies.find((p) => on(s, p));
        if (!node && !proxy) return [];
        const proc = node
          ? h.processes.find((p) => p.kind === 'redis' && p.service === s.name && p.id === node.id)
          : undefined;
        return [
          {
            service: s.name,
            node: node?.id ?? null,
            alive: node ? (proc?.alive ?? false) : true,
            role: node ? (s.roles.get(node.id) ?? 'unknown') : 'none',
            route: proxy ? (s.routes.get(proxy.id) ?? 'none') : 'none',
          },
        ];
      }),
    };
  });
  if (o.json) {
    io.out(
      `${JSON.stringify({ set: set.set, sentinels: set.sentinels, network: set.network.kind, healthy, hosts: view }, null, 2)}\n`,
    );
    return healthy ? 0 : 1;
  }
  for (const h of view) {
    const proxyUp = h.haproxy.every((p) => p.alive) ? 'up' : 'DOWN';
    const sentinelsUp = h.sentinels.filter((x) => x.alive).length;
    io.err(
      `${h.id} ${h.address}${h.netns ? ` (netns ${h.netns})` : ''}: haproxy ${proxyUp}, ${sentinelsUp}/${h.sentinels.length} sentinels up`,
    );
    for (const s of h.services) {
      io.err(
        `  ${s.service.padEnd(16)} ${(s.node ?? '-').padEnd(8)} ${!s.node ? 'no node    ' : s.alive ? (s.role ?? '').padEnd(11) : 'DOWN       '} proxy -> ${s.route}`,
      );
    }
  }
  return healthy ? 0 : 1;
}

/** Kill, cut off or restore one host of a set. */
export async function failHostCommand(
  o: { name: string; host: string; mode: FailHostMode },
  io: Io = processIo,
): Promise<void> {
  const done = await failHost({ name: o.name }, o.host, o.mode);
  const verb = { kill: 'killed (SIGKILL)', cut: 'cut off', restore: 'restored' }[o.mode];
  io.err(`${o.host} of ${o.name}: ${verb}${done.length ? `: ${done.join(', ')}` : ' (nothing to do)'}`);
}
