import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTools } from '../../local/launcher.ts';
import { createTopology, destroyTopology, netnsUnavailable, type Topology } from '../../local/netns.ts';
import { type RunResult, resultsTable, type System } from './results.ts';
import { cleanUp, type Running, runPartition, SCENARIO } from './scenario.ts';

/**
 * The master's host is cut off from the other two for 20 s, with a writer on each side: how long does the
 * isolated master keep acknowledging writes, and how many acknowledged writes are gone after the heal?
 * Three "hosts" (network namespaces on a bridge) each run a Redis node, a Sentinel and a HAProxy; the
 * orchestrator and the majority-side writer's namespace are on the majority side.
 */
const skipReason =
  (await netnsUnavailable()) ??
  (await checkTools().then(
    () => undefined,
    (error: Error) => error.message,
  ));
if (skipReason) console.warn(`partition tests skipped: ${skipReason}`);

const PLAIN: System = { name: 'plain', minReplicasToWrite: 0, minReplicasMaxLag: 10, routing: 'role-check' };
const HARDENED: System = {
  name: 'hardened',
  minReplicasToWrite: 1,
  minReplicasMaxLag: 5,
  routing: 'role-check',
};
const HA_REDIS: System = {
  name: 'ha-redis',
  minReplicasToWrite: 1,
  minReplicasMaxLag: 3,
  routing: 'orchestrator',
};

/**
 * Redis counts a replica good while (now - its last REPLCONF ACK) <= max-lag, in whole seconds, and recounts once a
 * second; replicas ACK once a second. So an isolated master refuses writes between max-lag - 1 and max-lag + 2 s
 * after the cut. The margin is for a loaded 2-core machine.
 */
const refusesWithin = (s: System) => ({
  minMs: (s.minReplicasMaxLag - 1) * 1000 - 500,
  maxMs: (s.minReplicasMaxLag + 2) * 1000 + 1000,
});

describe.skipIf(skipReason !== undefined)(
  'a partition cuts the master host off (network namespaces, real redis, sentinel, haproxy)',
  () => {
    let topology: Topology;
    const running: Running = { writers: [], clusters: [], cut: [] };
    const results: RunResult[] = [];

    beforeAll(async () => {
      topology = await createTopology({ hosts: 3, clients: 1 });
    });
    afterAll(async () => {
      await cleanUp(running);
      if (topology) {
        const problems = await destroyTopology(topology);
        if (problems.length) console.warn(`partition topology cleanup: ${problems.join('; ')}`);
      }
      if (results.length)
        console.log(`partition results (cut ${SCENARIO.partitionMs / 1000} s):\n${resultsTable(results)}`);
    });

    const run = async (system: System): Promise<RunResult> => {
      try {
        const result = await runPartition(system, topology, running);
        results.push(result);
        console.log(`${system.name}: ${JSON.stringify({ ...result, history: undefined })}`);
        for (const e of result.history) {
          const steps = e.timeline.map(
            (s) => `${s.step}${s.status === 'ok' ? '' : `(${s.status})`} ${s.durationMs}ms`,
          );
          console.log(
            `  history ${e.kind} ${e.outcome} +${e.startedAt - result.cutAt}ms: ${steps.join(', ')}${e.error ? ` | ${e.error}` : ''}`,
          );
        }
        // Each process ran as itself in its host's namespace, and `local down` stopped every one.
        expect(result.misplaced).toEqual([]);
        expect(await cleanUp(running)).toEqual([]);
        return result;
      } finally {
        await cleanUp(running);
      }
    };

    it('plain Sentinel: the isolated master acknowledges writes for the whole partition, and every one is lost', async () => {
      const r = await run(PLAIN);

      expect(r.minority.lastAckDuringPartitionMs).toBeGreaterThan(SCENARIO.partitionMs - 1000);
      expect(r.minority.lostIsolated).toBe(r.minority.ackedIsolated);
      expect(r.minority.lostIsolated).toBeGreaterThan(0);
      // After the heal it still acknowledges writes, until Sentinel converts it (>= 8 s later): lost too.
      expect(r.minority.lostAfterHeal).toBeGreaterThan(0);
      // The majority side writes to the new master during the partition, and keeps those writes.
      expect(r.majority.writesBackAfterCutMs).toBeLessThan(SCENARIO.partitionMs);
      expect(r.majority.lostDuringPartition).toBe(0);
      expect(r.oldMasterRole).toBe('slave');
    });

    it('hardened Sentinel (min-replicas-to-write 1, max-lag 5): the isolated master refuses writes within max-lag + 2 s', async () => {
      const r = await run(HARDENED);

      const bound = refusesWithin(HARDENED);
      expect(r.minority.lastAckDuringPartitionMs).toBeGreaterThan(bound.minMs);
      expect(r.minority.lastAckDuringPartitionMs).toBeLessThan(bound.maxMs);
      expect(r.minority.lostIsolated).toBe(r.minority.ackedIsolated);
      // Writes acknowledged after the cut went to the new master (the old one refuses them): none is lost.
      expect(r.majority.lostDuringPartition + r.majority.lostAfterHeal).toBe(0);
      expect(r.minority.lostAfterHeal).toBe(0);
      expect(r.majority.writesBackAfterCutMs).toBeLessThan(SCENARIO.partitionMs);
      expect(r.oldMasterRole).toBe('slave');
    });

    it('ha-redis: the isolated master refuses writes within max-lag + 2 s, the majority side writes again within down-after + 4 s, the old master comes back a replica and every proxy follows', async () => {
      const r = await run(HA_REDIS);

      const bound = refusesWithin(HA_REDIS);
      expect(r.minority.lastAckDuringPartitionMs).toBeGreaterThan(bound.minMs);
      expect(r.minority.lastAckDuringPartitionMs).toBeLessThan(bound.maxMs);
      expect(r.minority.lostIsolated).toBe(r.minority.ackedIsolated);
      expect(r.majority.lostDuringPartition + r.majority.lostAfterHeal).toBe(0);
      expect(r.minority.lostAfterHeal).toBe(0);
      expect(r.majority.writesBackAfterCutMs).toBeLessThan(SCENARIO.downAfterMs + 4000);
      expect(r.oldMasterRole).toBe('slave');
      // ha-redis fences the old master itself when it answers again: one master soon after the heal.
      expect(r.convergedAfterHealMs).toBeLessThan(10_000);
      // h1's proxy, unreachable during the partition, is rerouted after the heal: the minority side writes again.
      expect(r.minority.firstKeptAckAfterHealMs).not.toBeNull();
      // The reaction during the partition could not reach h1: its proxy is pending, not a failure (the reconcile
      // points it at the new master after the heal), so the reaction succeeded and nothing repeats it.
      const during = r.history.filter((e) => e.kind === 'failover' && e.startedAt > r.cutAt);
      expect(during.map((e) => e.outcome)).toContain('succeeded');
      expect(during.map((e) => e.outcome)).not.toContain('partial');
      expect(
        during.flatMap((e) => e.timeline.filter((s) => s.step === 'rerouted').map((s) => s.detail ?? '')),
      ).toContainEqual(expect.stringMatching(/pending, did not answer: proxy-1/));
    });
  },
);
