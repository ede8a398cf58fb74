/**
 * The maintenance tests' world and states: a healthy cluster n1 (master), n2, n3 whose Sentinels promote the
 * replica that ranks first, and the states of a run.
 */

import {
  type MaintenancePlan,
  type MaintenanceState,
  MaintenanceStateSchema,
} from '../../../core/maintenance/state.ts';
import { type Endpoint, formatEndpoint, sameEndpoint } from '../../../core/model/cluster.ts';
import { FakeSentinelView } from '../../fakes/sentinels.ts';
import { N1, N2, N3, SENTINELS, START } from '../../support/fixtures.ts';
import { type FakeWorld, failedOverWorld } from '../../support/world.ts';

export const EXECUTION = 'maintenance-1';
export const R1 = { id: 'n1', ...N1 };
export const R2 = { id: 'n2', ...N2 };
export const R3 = { id: 'n3', ...N3 };
export const PLAN: MaintenancePlan = { master: R1, replicas: [R2, R3] };
export const NODES = [N1, N2, N3];

/**
 * A healthy cluster: every Sentinel names n1 at epoch 6, n1 is master at offset 1000 with n2 and n3 online and in
 * sync, every proxy routes to n1, DNS names n1, and every Sentinel sees the replicas without flags. SENTINEL
 * FAILOVER promotes the replica that ranks first (lowest priority), as Sentinel does.
 */
export function healthyWorld(): FakeWorld & { master: () => Endpoint; flags: Map<string, string[]> } {
  let master: Endpoint = N1;
  let epoch = 6;
  const w = failedOverWorld({ sentinels: FakeSentinelView.agreeing(N1, 6) });
  const flags = new Map<string, string[]>();
  const setMaster = (m: Endpoint) => {
    master = m;
    const replicas = NODES.filter((n) => !sameEndpoint(n, m));
    w.redis.set(m, {
      role: 'master',
      offset: 1000,
      replicas: replicas.map((r) => ({ address: r, state: 'online', offset: 1000 })),
    });
    for (const r of replicas) w.redis.set(r, { role: 'slave', offset: 1000, master: m });
  };
  setMaster(N1);
  for (const proxy of w.cluster.proxies) w.router.routes.set(proxy.id, N1);
  w.dns.record = { master: N1, epoch: 6 };
  w.sentinels.replicasViewOf = () =>
    NODES.filter((n) => !sameEndpoint(n, master)).map((address) => ({
      address,
      priority: w.redis.priorities.get(formatEndpoint(address)) ?? 100,
      flags: ['slave', ...(flags.get(formatEndpoint(address)) ?? [])],
    }));
  w.sentinels.onFailover = () => {
    const candidates = NODES.filter((n) => !sameEndpoint(n, master)).sort(
      (a, b) =>
        (w.redis.priorities.get(formatEndpoint(a)) ?? 100) -
        (w.redis.priorities.get(formatEndpoint(b)) ?? 100),
    );
    const chosen = candidates[0] as Endpoint;
    epoch += 1;
    w.redis.set(chosen, { role: 'master', master: undefined as unknown as Endpoint });
    master = chosen;
    w.sentinels.answersNow = SENTINELS.map(() => ({ master: chosen, epoch }));
    // Sentinel re-points the other nodes at the new master.
    setMaster(chosen);
  };
  return { ...w, master: () => master, flags };
}

export function maintenanceState(
  overrides: Partial<MaintenanceState> = {},
  input: Record<string, unknown> = {},
): MaintenanceState {
  return MaintenanceStateSchema.parse({
    input: { cluster: 'orders', action: 'restart', requestedBy: 'alice', reason: 'patching', ...input },
    executionId: EXECUTION,
    startedAt: START,
    ...overrides,
  });
}

export const planned = (overrides: Partial<MaintenanceState> = {}, input: Record<string, unknown> = {}) =>
  maintenanceState({ plan: PLAN, master: R1, phase: 'planned', ...overrides }, input);

export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}
