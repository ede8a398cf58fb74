/** Where a moving service's members go on the target set's hosts: the same ports as its old members. */
import { connect } from 'node:net';
import type { HostProcess, HostSet } from '../config/host-set-descriptor.ts';
import type { Descriptor } from '../config/local-descriptor.ts';
import { MoveRefusedError } from '../core/model/errors.ts';
import type { MovePlacement, ServiceHome } from '../core/move/ports.ts';
import type { PlacedMember } from '../core/move/state.ts';

/** `<set>/<host id>`: hosts of two sets both have a `host-1`. */
export const qualified = (set: string, hostId: string): string => `${set}/${hostId}`;
export const hostIdIn = (set: string, hostId: string | undefined): string | undefined =>
  hostId === undefined ? undefined : hostId.includes('/') ? hostId : qualified(set, hostId);

/** The number after the last dash of an id (`redis-4` -> 4). */
const ordinal = (id: string): number => Number(/-(\d+)$/.exec(id)?.[1] ?? 0);

/** Whether nothing listens on host:port: a connect refused (or out of reach) in at most a second. */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/**
 * The service's members on `target`: those it has there already (a move that stopped half way: in its descriptor,
 * or started and recorded on the set's hosts), and new ones, one per host, on the ports of its old members, each
 * checked free on that host. Refuses a host with no HAProxy, or ports in use, naming them.
 */
export async function placeOnSet(
  cluster: string,
  d: Descriptor,
  home: ServiceHome,
  target: HostSet,
  toSet: string,
  old: { nodes: readonly PlacedMember[]; sentinels: readonly PlacedMember[] },
): Promise<MovePlacement> {
  const here = (m: { hostId: string }) => m.hostId.startsWith(`${toSet}/`);
  // The new member on target host i takes the port of the move's old member i (the first run's, recorded).
  const oldNodes = old.nodes;
  const oldSentinels = old.sentinels;
  const oldProxy = d.proxies.find((p) => !here({ hostId: hostIdIn(home.set, p.hostId) ?? '' }));
  const recorded = target.hosts.flatMap((h) => h.processes.filter((p) => p.service === cluster));
  const taken = (kind: string) =>
    Math.max(
      0,
      ...[...d.nodes, ...d.sentinels, ...d.proxies]
        .map((m) => m.id)
        .filter((id) => id.startsWith(kind))
        .map(ordinal),
      ...recorded.filter((p) => p.id.startsWith(kind)).map((p) => ordinal(p.id)),
    );
  let nextNode = taken('redis-');
  let nextSentinel = taken('sentinel-');
  let nextProxy = taken('proxy-');
  const busy: string[] = [];
  const checkFree = async (host: string, hostId: string, port: number, what: string) => {
    if (!(await portFree(host, port))) busy.push(`${hostId} (${host}) port ${port}, for ${what}`);
  };
  const placement: MovePlacement = { nodes: [], sentinels: [], proxies: [] };
  for (const [i, host] of target.hosts.entries()) {
    const hostId = qualified(toSet, host.id);
    const mine = (kind: HostProcess['kind']) =>
      recorded.find((p) => p.kind === kind && host.processes.includes(p));
    const member = <T extends { hostId?: string | undefined; id: string }>(list: T[], prefix: string) =>
      list.find((m) => m.hostId === hostId && m.id.startsWith(prefix));
    const node = member(d.nodes, 'redis-') ?? mine('redis');
    const nodePort = node?.port ?? oldNodes[i]?.port;
    if (nodePort !== undefined) {
      const id = node?.id ?? `redis-${++nextNode}`;
      if (!node) await checkFree(host.address, hostId, nodePort, `node ${id}`);
      placement.nodes.push({ id, host: host.address, port: nodePort, hostId });
    }
    const sentinel = member(d.sentinels, 'sentinel-') ?? mine('sentinel');
    const sentinelPort = sentinel?.port ?? oldSentinels[i]?.port;
    if (sentinelPort !== undefined) {
      const id = sentinel?.id ?? `sentinel-${++nextSentinel}`;
      if (!sentinel) await checkFree(host.address, hostId, sentinelPort, `Sentinel ${id}`);
      placement.sentinels.push({ id, host: host.address, port: sentinelPort, hostId, shared: false });
    }
    const proxy = member(d.proxies, 'proxy-');
    if (!host.processes.some((p) => p.kind === 'haproxy')) {
      throw new MoveRefusedError(`host ${hostId} runs no HAProxy`);
    }
    if (oldProxy || proxy) {
      const plainPort = proxy?.plainPort ?? (oldProxy?.plainPort as number);
      const tlsPort = proxy?.tlsPort ?? (oldProxy?.tlsPort as number);
      const id = proxy?.id ?? `proxy-${++nextProxy}`;
      if (!proxy) {
        await checkFree(host.address, hostId, plainPort, `${cluster}'s plain frontend`);
        await checkFree(host.address, hostId, tlsPort, `${cluster}'s TLS frontend`);
      }
      placement.proxies.push({ id, hostId, host: host.address, plainPort, tlsPort });
    }
    void i;
  }
  if (busy.length) {
    throw new MoveRefusedError(`ports in use on set ${toSet}: ${busy.join('; ')}; nothing was changed`);
  }
  return placement;
}
