/**
 * The switchover tests' worlds and states: the plan n1 -> n2 at epoch 6, the worlds before and after the
 * switch, and the states each step hands on.
 */

import { expect } from 'vitest';
import { type Endpoint, formatEndpoint } from '../../../core/model/cluster.ts';
import type { ClusterLease } from '../../../core/model/records.ts';
import type { ReplicaLink } from '../../../core/ports.ts';
import {
  type SwitchoverPlan,
  type SwitchoverState,
  SwitchoverStateSchema,
} from '../../../core/switchover/state.ts';
import { SWITCHOVER_TIMING } from '../../../core/switchover/steps.ts';
import { FakeSentinelView, type ViewSpec } from '../../fakes/sentinels.ts';
import { endpointOf, N1, N2, N3, SENTINELS, START } from '../../support/fixtures.ts';
import { type FakeWorld, failedOverWorld } from '../../support/world.ts';

export const EXECUTION = 'switchover-1';
export const MASTER = { id: 'n1', ...N1 };
export const TARGET = { id: 'n2', ...N2 };
export const [S1, S2, S3] = SENTINELS.map(formatEndpoint);

/** The plan of n1 -> n2 at epoch 6, both replicas at priority 100. */
export const PLAN: SwitchoverPlan = {
  master: MASTER,
  target: TARGET,
  replicas: [
    { ...TARGET, lagBytes: 0, priority: 100, online: true },
    { id: 'n3', ...N3, lagBytes: 10, priority: 100, online: true },
  ],
  epoch: 6,
  expectedWriteGapMs: SWITCHOVER_TIMING.expectedWriteGapMs,
  steps: ['plan'],
};

export const link = (address: Endpoint, offset: number, state = 'online'): ReplicaLink => ({
  address,
  state,
  offset,
});

export const view = (
  master: Endpoint,
  epoch: number,
  extra: Partial<Exclude<ViewSpec, 'down'>> = {},
): ViewSpec => ({
  master,
  epoch,
  ...extra,
});

/** An unexpired lease of `owner`. */
export const leaseOf = (owner: string, purpose: ClusterLease['purpose'] = 'switchover'): ClusterLease => ({
  owner,
  purpose,
  until: START + 30_000,
});

/**
 * Before a switchover: every Sentinel names n1 at epoch 6 (applied, done), n1 is master at offset 1000 with
 * n2 (offset 1000) and n3 (offset 990) online, every proxy routes to n1.
 */
export function beforeSwitchWorld(sentinels: FakeSentinelView = FakeSentinelView.agreeing(N1, 6)): FakeWorld {
  const w = failedOverWorld({ sentinels });
  w.redis
    .set(N1, { role: 'master', offset: 1000, replicas: [link(N2, 1000), link(N3, 990)] })
    .set(N2, { role: 'slave', offset: 1000, master: N1 })
    .set(N3, { role: 'slave', offset: 990, master: N1 });
  return w;
}

/**
 * Right after the critical section: every Sentinel names n2 at epoch 7, n2 answers ROLE master, every proxy
 * routes to n2, n3 has the raised priority 200, and this execution holds the lease.
 */
export function afterSwitchWorld(): FakeWorld {
  const w = failedOverWorld();
  for (const proxy of w.cluster.proxies) w.router.routes.set(proxy.id, N2);
  w.redis.priorities.set(formatEndpoint(N3), 200);
  w.state.leaseHeld = { owner: EXECUTION, purpose: 'switchover', until: START + SWITCHOVER_TIMING.leaseMs };
  return w;
}

export function switchoverState(
  overrides: Partial<SwitchoverState> = {},
  input: Record<string, unknown> = {},
): SwitchoverState {
  return SwitchoverStateSchema.parse({
    input: { cluster: 'orders', reason: 'kernel patching', requestedBy: 'alice', ...input },
    executionId: EXECUTION,
    startedAt: START,
    ...overrides,
  });
}

/** The state Prepare hands to Switch. */
export const preparedState = (): SwitchoverState =>
  switchoverState({ plan: PLAN, leaseHeld: true, priorities: { n3: 100 } });

/** Every Sentinel's SENTINEL REPLICAS shows the priorities the nodes have now. */
export function sentinelsSeePriorities(w: FakeWorld): void {
  w.sentinels.replicasViewOf = () =>
    [N2, N3].map((address) => ({
      address,
      priority: w.redis.priorities.get(formatEndpoint(address)) ?? 100,
      flags: ['slave'],
    }));
}

/** SENTINEL FAILOVER promotes `node`: it answers ROLE master after `lateRoles` more slave answers, and every Sentinel names it at epoch 7. */
export function promoteOnFailover(w: FakeWorld, node: Endpoint = N2, lateRoles = 0): void {
  w.sentinels.onFailover = () => {
    w.redis.set(node, { roles: [...Array<'slave'>(lateRoles).fill('slave'), 'master'] });
    w.sentinels.answersNow = SENTINELS.map(() => view(node, 7));
  };
}

/** Proxy id -> where it routes, as plain endpoints. */
export const routesOf = (w: FakeWorld): Record<string, Endpoint> =>
  Object.fromEntries([...w.router.routes].map(([proxy, node]) => [proxy, endpointOf(node)]));

export const stepNames = (state: SwitchoverState): string[] => state.timeline.map((s) => s.step);

/** The error a promise rejects with; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** No proxy, node, Sentinel, lease, DNS or history write happened. */
export function expectNothingChanged(w: FakeWorld): void {
  expect(w.router.calls).toEqual([]);
  expect(w.router.blockCalls).toEqual([]);
  expect(w.redis.pauses).toEqual([]);
  expect(w.redis.unpauses).toEqual([]);
  expect(w.redis.replicaOfCalls).toEqual([]);
  expect(w.redis.prioritySets).toEqual([]);
  expect(w.sentinels.failoverCalls).toEqual([]);
  expect(w.nodeOps.runs).toEqual([]);
  expect(w.dns.calls).toEqual([]);
  expect(w.state.leaseHeld?.owner).not.toBe(EXECUTION);
  expect(w.state.history).toEqual([]);
  expect(w.notifier.published).toEqual([]);
}

export const CATCH_UP_FAILED = {
  Error: 'CatchUpTimeoutError',
  Cause: 'target n2 is 10 bytes behind after 2000 ms; writes unblocked, retry later',
};

/** The world after a Switch died in its critical section: proxies blocked, n3 at the raised priority, lease held. */
export function failedSwitchWorld(sentinels?: FakeSentinelView): FakeWorld {
  const w = beforeSwitchWorld(sentinels);
  for (const proxy of w.cluster.proxies) w.router.blocked.add(proxy.id);
  w.redis.priorities.set(formatEndpoint(N3), 200);
  w.state.leaseHeld = { owner: EXECUTION, purpose: 'switchover', until: START + SWITCHOVER_TIMING.leaseMs };
  return w;
}

export const failedState = (): SwitchoverState => ({ ...preparedState(), error: CATCH_UP_FAILED });

export const switchedState = (): SwitchoverState => ({ ...preparedState(), promoted: true, writeGapMs: 320 });
