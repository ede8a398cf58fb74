/**
 * The fast path acts: n1's redis-server exited, a majority still names it, n2 and n3 followed it. It holds n1
 * (replicaof no master), asks SENTINEL FAILOVER, reroutes to the replica Sentinel promoted, then runs the reaction.
 */

import { describe, expect, it } from 'vitest';
import { reactToNodeExit } from '../../../core/failover/fast-path.ts';
import { formatEndpoint, NO_MASTER } from '../../../core/model/cluster.ts';
import { N1, N2, N3, SENTINELS, START } from '../../support/fixtures.ts';
import {
  EXITED_AT,
  masterExitWorld,
  nodeExit,
  promoteOnFailover,
  recordEffects,
  routesOf,
  stepNames,
} from './fixtures.ts';

const S1 = formatEndpoint(SENTINELS[0] ?? N1);

describe('reactToNodeExit: the master exited', () => {
  it('holds n1 with no master BEFORE it asks SENTINEL FAILOVER, then reroutes and re-points to the promoted n2', async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);
    const effects = recordEffects(w);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toMatchObject({ action: 'fast-failover', promoted: N2 });
    expect(effects.slice(0, 2)).toEqual([`fence-node n1 -> ${formatEndpoint(NO_MASTER)}`, `failover ${S1}`]);
    // The fast reroute and the re-point, in parallel, right after the promotion.
    expect(effects.slice(2, 5).sort()).toEqual([
      'replicaof n3 -> n2',
      'reroute p1 -> n2',
      'reroute p2 -> n2',
    ]);
    expect(w.nodeOps.runs[0]).toEqual({
      document: 'fence-node',
      node: w.cluster.nodes[0],
      master: NO_MASTER,
      epoch: 6,
    });
    expect(w.sentinels.failoverCalls).toEqual([SENTINELS[0]]);
  });

  it('ends with every proxy on n2, n3 following n2, n1 fenced to n2, DNS and the epoch moved', async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);

    // Act
    await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
    expect(w.router.blocked.size).toBe(0);
    // The reaction leaves the proxies the fast path routed alone: one reroute per proxy, not two.
    expect(w.router.calls).toHaveLength(2);
    expect(w.redis.replicaOfCalls).toEqual([{ node: N3, master: N2 }]);
    // The reaction replaces the hold with n2 (n1 does not answer, so the fence is persisted and pending).
    expect(w.nodeOps.runs.map((r) => r.document).sort()).toEqual([
      'fence-node',
      'fence-node',
      'update-haproxy',
      'update-haproxy',
    ]);
    expect(w.nodeOps.runs.at(-1)).toMatchObject({ document: 'fence-node', node: { id: 'n1' }, master: N2 });
    expect(w.state.fences.get('orders')).toEqual([
      expect.objectContaining({ node: N1, master: N2, epoch: 7 }),
    ]);
    expect(w.dns.calls).toEqual([{ master: N2, epoch: 7 }]);
    expect(w.state.epochs.get('orders')).toMatchObject({ epoch: 7, master: N2, status: 'done' });
  });

  it('records one failover entry started by the fast path, its timeline the fast steps then the reaction', async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(w.state.history).toHaveLength(1);
    const [entry] = w.state.history;
    expect(entry).toMatchObject({
      kind: 'failover',
      trigger: 'node-exited',
      outcome: 'succeeded',
      epoch: 7,
      oldMaster: N1,
      newMaster: N2,
      startedAt: EXITED_AT,
    });
    expect(entry?.startedBy).toMatch(/^the fast path: n1's redis-server exited \(pid 4242 gone/);
    expect(entry?.startedBy).toContain(`SENTINEL FAILOVER asked of ${S1}`);
    expect(stepNames(entry?.timeline ?? [])).toEqual([
      'exited',
      'probed',
      'candidates',
      'held',
      'failover-asked',
      'promoted',
      'fast-rerouted',
      'confirmed',
      'epoch-claimed',
      'rerouted',
      'dns-updated',
      'routing-persisted',
      'fenced',
      'verified',
    ]);
    expect(entry?.timeline.every((s) => s.status === 'ok')).toBe(true);
    expect(entry?.timeline.find((s) => s.step === 'candidates')?.detail).toBe('n2, n3');
    expect(entry?.timeline.find((s) => s.step === 'promoted')?.detail).toBe('n2');
    expect(outcome.action === 'fast-failover' && outcome.reaction.action).toBe('failed-over');
    expect(w.notifier.published).toHaveLength(1);
    expect(w.notifier.published[0]).toMatchObject({ kind: 'failover', outcome: 'succeeded' });
  });

  it('holds the cluster lease as the fast path while it acts, and releases it at the end', async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);
    const during: unknown[] = [];
    const promote = w.sentinels.onFailover;
    w.sentinels.onFailover = (sentinel) => {
      during.push(w.state.leaseHeld);
      promote?.(sentinel);
    };

    // Act
    await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(during).toEqual([
      expect.objectContaining({ purpose: 'fast-path', owner: expect.stringMatching(/^fast-path:n1:/) }),
    ]);
    expect(w.state.leaseHeld).toBeUndefined();
  });

  it('reroutes to whichever candidate Sentinel promoted (n3), and re-points n2 to it', async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N3);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toMatchObject({ action: 'fast-failover', promoted: N3 });
    expect(routesOf(w)).toEqual({ p1: N3, p2: N3 });
    expect(w.redis.replicaOfCalls).toEqual([{ node: N2, master: N3 }]);
    expect(w.state.history[0]).toMatchObject({ kind: 'failover', newMaster: N3, oldMaster: N1 });
  });

  it('asks the next Sentinel when the first refuses SENTINEL FAILOVER', async () => {
    // Arrange
    const w = masterExitWorld();
    promoteOnFailover(w, N2);
    w.sentinels.failoverAnswers.set(S1, 'NOGOODSLAVE No suitable replica to promote');

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover');
    expect(w.sentinels.failoverCalls).toEqual([SENTINELS[0], SENTINELS[1]]);
    expect(w.state.history[0]?.startedBy).toContain(`asked of ${formatEndpoint(SENTINELS[1] ?? N1)}`);
  });

  it('acts when the orchestrator cannot reach n1 at all (probe unreachable): only the agent can tell', async () => {
    // Arrange
    const w = masterExitWorld();
    w.redis.set(N1, { connect: 'unreachable' });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover');
    expect(w.redis.connectProbes).toEqual([N1]);
    expect(w.state.history[0]?.timeline.find((s) => s.step === 'probed')?.detail).toBe('connect unreachable');
  });

  it('acts with the replicas that qualify when another does not answer', async () => {
    // Arrange: n3 is down too; Sentinel promotes n2.
    const w = masterExitWorld();
    w.redis.set(N3, { reachable: false });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toMatchObject({ action: 'fast-failover', promoted: N2 });
    const entry = w.state.history[0];
    expect(entry?.timeline.find((s) => s.step === 'candidates')?.detail).toBe('n2');
    // n3 could not be re-pointed by the fast path; the step says so and goes on.
    expect(entry?.timeline.find((s) => s.step === 'fast-rerouted')?.detail).toMatch(/n3 not re-pointed/);
  });

  it('counts a replica whose link has been down only since the exit (within a second) as a candidate', async () => {
    // Arrange: the exit was 200 ms ago; the replicas report their link down for 1 s (Redis rounds to seconds).
    const w = masterExitWorld();
    w.redis.set(N2, { linkDownSinceSeconds: 1 }).set(N3, { linkDownSinceSeconds: 1 });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover');
  });

  it('leaves out a replica that never synced (link down since -1): n3 alone is a candidate', async () => {
    // Arrange: n2's offset is n1's last one, but its INFO says it never connected since it started.
    const w = masterExitWorld();
    w.redis.set(N2, { linkDownSinceSeconds: -1 });
    promoteOnFailover(w, N3);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome).toMatchObject({ action: 'fast-failover', promoted: N3 });
    expect(w.state.history[0]?.timeline.find((s) => s.step === 'candidates')?.detail).toBe('n3');
  });

  it('counts a replica exactly maxLagBytes behind as a candidate', async () => {
    // Arrange
    const w = masterExitWorld({ onMasterExit: { maxLagBytes: 100 } });
    w.redis.set(N2, { offset: 1400 }).set(N3, { offset: 1000 });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover');
    expect(w.state.history[0]?.timeline.find((s) => s.step === 'candidates')?.detail).toBe('n2');
  });

  it('acts after the grace period when n1 still refuses connections, having slept graceMs first', async () => {
    // Arrange
    const w = masterExitWorld({ onMasterExit: { graceMs: 2000 } });
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover');
    expect(w.clock.sleeps[0]).toBe(2000);
    const steps = w.state.history[0]?.timeline ?? [];
    expect(stepNames(steps).slice(0, 3)).toEqual(['exited', 'grace', 'probed']);
    expect(steps[1]).toMatchObject({ at: START, durationMs: 2000, detail: '2000 ms' });
  });

  it('acts when a lease is held but has run out', async () => {
    // Arrange
    const w = masterExitWorld();
    w.state.leaseHeld = { owner: 'exec-old', purpose: 'switchover', until: START - 1 };
    promoteOnFailover(w, N2);

    // Act
    const outcome = await reactToNodeExit(w.cluster, nodeExit(), w.deps);

    // Assert
    expect(outcome.action).toBe('fast-failover');
    expect(w.state.leaseHeld).toBeUndefined();
  });
});
