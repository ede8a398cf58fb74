/**
 * The fast path's test world: n1 (the master at epoch 6) has just exited; its agent saw the process gone and a
 * refused connect. n2 and n3 followed n1 up to its last offset, every Sentinel still names n1 at epoch 6, and
 * every proxy routes to n1.
 */
import { expect } from 'vitest';
import type { NodeExit } from '../../../core/failover/node-exit.ts';
import { type Endpoint, formatEndpoint, type MasterExitPolicy } from '../../../core/model/cluster.ts';
import { FakeSentinelView, type ViewSpec } from '../../fakes/sentinels.ts';
import { endpointOf, N1, N2, N3, SENTINELS, START, testCluster } from '../../support/fixtures.ts';
import { type FakeWorld, failedOverWorld } from '../../support/world.ts';

/** When the agent's connection to n1 closed: 200 ms before the test's start. */
export const EXITED_AT = START - 200;
/** n1's master_repl_offset in the agent's last INFO, and where both replicas are. */
export const LAST_OFFSET = 1500;
export const PID = 4242;
export const AGENT_HOST = 'ip-10-0-1-21';

export const view = (master: Endpoint, epoch: number, extra: Partial<Exclude<ViewSpec, 'down'>> = {}) => ({
  master,
  epoch,
  ...extra,
});

/** A `node-exited` as the core reads it: n1's by default, with the evidence of a real exit. */
export function nodeExit(
  overrides: { node?: Endpoint; exitedAt?: number; evidence?: Partial<NodeExit['evidence']> } = {},
): NodeExit {
  return {
    node: overrides.node ?? N1,
    exitedAt: overrides.exitedAt ?? EXITED_AT,
    agentHost: AGENT_HOST,
    evidence: {
      pid: PID,
      processGone: true,
      connect: 'refused',
      lastRole: 'master',
      lastOffset: LAST_OFFSET,
      lastInfoAt: EXITED_AT - 250,
      ...overrides.evidence,
    },
  };
}

/** The world of a dead master n1 (see the file's comment); `onMasterExit` overrides the cluster's policy. */
export function masterExitWorld(
  options: { onMasterExit?: Partial<MasterExitPolicy>; sentinels?: FakeSentinelView } = {},
): FakeWorld {
  const w = failedOverWorld({ sentinels: options.sentinels ?? FakeSentinelView.agreeing(N1, 6) });
  w.redis
    .set(N1, { role: 'master', offset: LAST_OFFSET, reachable: false, connect: 'refused' })
    .set(N2, { role: 'slave', offset: LAST_OFFSET, master: N1 })
    .set(N3, { role: 'slave', offset: LAST_OFFSET, master: N1 });
  return {
    ...w,
    cluster: options.onMasterExit ? testCluster({ onMasterExit: options.onMasterExit }) : w.cluster,
  };
}

/** SENTINEL FAILOVER promotes `node`: it answers ROLE master, and every Sentinel names it at `epoch`. */
export function promoteOnFailover(w: FakeWorld, node: Endpoint = N2, epoch = 7): void {
  w.sentinels.onFailover = () => {
    w.redis.set(node, { role: 'master' });
    w.sentinels.answersNow = SENTINELS.map(() => view(node, epoch));
  };
}

/**
 * Every effect on the world, in the order it happened: host operations (`fence-node n1 -> 127.0.0.1:0`),
 * SENTINEL FAILOVER (`failover <sentinel>`), reroutes (`reroute p1 -> n2`) and REPLICAOF (`replicaof n3 -> n2`).
 */
export function recordEffects(w: FakeWorld): string[] {
  const effects: string[] = [];
  const name = (e: Endpoint) => w.cluster.nodes.find((n) => formatEndpoint(n) === formatEndpoint(e))?.id;
  const label = (e: Endpoint) => name(e) ?? formatEndpoint(e);
  const run = w.nodeOps.run.bind(w.nodeOps);
  w.nodeOps.run = (op) => {
    const target = 'node' in op ? label(op.node) : op.proxy.id;
    effects.push(`${op.document} ${target}${'master' in op ? ` -> ${label(op.master)}` : ''}`);
    return run(op);
  };
  const failover = w.sentinels.failover.bind(w.sentinels);
  w.sentinels.failover = (sentinel) => {
    effects.push(`failover ${formatEndpoint(sentinel)}`);
    return failover(sentinel);
  };
  const point = w.router.pointMasterAt.bind(w.router);
  w.router.pointMasterAt = (proxy, node) => {
    effects.push(`reroute ${proxy.id} -> ${label(node)}`);
    return point(proxy, node);
  };
  const replicaOf = w.redis.replicaOf.bind(w.redis);
  w.redis.replicaOf = (node, master) => {
    effects.push(`replicaof ${label(node)} -> ${label(master)}`);
    return replicaOf(node, master);
  };
  return effects;
}

/** The fast path did nothing to the world: no hold, no SENTINEL FAILOVER, no reroute, no REPLICAOF, no lease left. */
export function expectNoAction(w: FakeWorld): void {
  expect(w.nodeOps.runs).toEqual([]);
  expect(w.sentinels.failoverCalls).toEqual([]);
  expect(w.router.calls).toEqual([]);
  expect(w.redis.replicaOfCalls).toEqual([]);
  expect(w.dns.calls).toEqual([]);
  expect(w.state.history).toEqual([]);
  expect(w.notifier.published).toEqual([]);
  expect(w.state.leaseHeld?.purpose).not.toBe('fast-path');
}

/** The step names of a timeline. */
export const stepNames = (steps: readonly { step: string }[]): string[] => steps.map((s) => s.step);

/** Proxy id -> where it routes, as plain endpoints. */
export const routesOf = (w: FakeWorld): Record<string, Endpoint> =>
  Object.fromEntries([...w.router.routes].map(([proxy, node]) => [proxy, endpointOf(node)]));
