import { MoveRefusedError } from '../model/errors.ts';
import type { MovePorts } from './ports.ts';

/**
 * After a move, the old hosts' HAProxy keeps routing the service to its new master, so clients that have not
 * moved keep working. Once they have, the operator retires those proxies: each leaves the service's definition
 * (no reaction routes, persists or verifies it any more), then refuses to route (its master slot disabled, its
 * sessions cut). Refused while a move of the service is under way, and for a service that never moved.
 */
export async function retireOldProxies(
  cluster: string,
  move: Pick<MovePorts, 'hosts'>,
  options: { dryRun?: boolean } = {},
): Promise<string[]> {
  const home = await move.hosts.home(cluster);
  if (home.moving) {
    throw new MoveRefusedError(
      `a move of ${cluster} to set ${home.moving.toSet} is under way; finish it first: ha-redis move --cluster ${cluster} --to-set ${home.moving.toSet}`,
    );
  }
  const old = await move.hosts.oldProxies(cluster);
  if (old.length === 0) return [`${cluster} has no proxy outside set ${home.set}: nothing to retire`];
  if (home.proxies.length === old.length) {
    throw new MoveRefusedError(
      `every proxy of ${cluster} is outside set ${home.set}: retiring them would leave it none`,
    );
  }
  if (options.dryRun) return old.map((p) => `would retire ${p.id} on ${p.hostId}`);
  const done: string[] = [];
  for (const p of old) done.push(`${p.id} on ${p.hostId}: ${await move.hosts.retireProxy(cluster, p.id)}`);
  return done;
}
