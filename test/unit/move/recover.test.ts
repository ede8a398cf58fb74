/**
 * The move's Recover: it says what was done and what was not, and records the move as stopped, when a majority of
 * the Sentinels names a master that takes a write; otherwise it throws (the execution ends MoveFailed) with what
 * it found. Either way history has the move.
 */
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../core/model/cluster.ts';
import type { MovePorts } from '../../../core/move/ports.ts';
import type { MovePlan, MoveState } from '../../../core/move/state.ts';
import { recoverMove } from '../../../core/move/steps.ts';
import { N1, N2, N3 } from '../../support/fixtures.ts';
import { failedOverWorld } from '../../support/world.ts';

const placed = (id: string, e: Endpoint, hostId: string) => ({ id, host: e.host, port: e.port, hostId });

function moveOf(master: Endpoint): MovePorts {
  return {
    sentinelSettings: { downAfterMs: 1000, failoverTimeoutMs: 10_000 },
    sentinelAdmin: {
      knowledge: async () => ({
        master,
        configEpoch: 7,
        failoverState: 'none',
        flags: ['master'],
        quorum: 2,
        otherSentinels: 2,
        replicas: 2,
      }),
    },
    hosts: {
      home: async () => ({
        set: 'a',
        nodes: [
          placed('redis-1', N1, 'a/host-1'),
          placed('redis-2', N2, 'a/host-2'),
          placed('redis-3', N3, 'a/host-3'),
        ],
        sentinels: [],
        proxies: [],
      }),
    },
  } as unknown as MovePorts;
}

const plan = { toSet: 'b', fromSet: 'a', master: placed('redis-1', N1, 'a/host-1') } as unknown as MovePlan;
const stateAfter = (done: MoveState['done']): MoveState => ({
  input: { cluster: 'orders', toSet: 'b', reason: 'test', requestedBy: 'test', dryRun: false },
  executionId: 'move-1',
  startedAt: 1,
  plan,
  done,
  timeline: [],
  error: { Error: 'HaRedisError', Cause: 'the Sentinels step broke' },
});

describe('recoverMove', () => {
  it('a majority names a master that takes writes: stopped, with what was done, and how to go on', async () => {
    const w = failedOverWorld();
    const stopped = await recoverMove(w.cluster, stateAfter(['nodes']), w.deps, moveOf(N2));
    expect(stopped.outcome).toBe('stopped');
    expect(stopped.recovery?.[0]).toBe('done: nodes; not done: sentinels, switchover, proxies, retire.');
    expect(stopped.recovery?.join(' ')).toMatch(/name the master redis-2 .* which takes writes/);
    expect(stopped.recovery?.join(' ')).toContain('again to go on from here');
    const history = await w.state.listHistory(w.cluster.name, 5);
    expect(history[0]).toMatchObject({ kind: 'move', outcome: 'failed', id: 'move-1' });
  });

  it('the master a majority names does not take writes: it throws (MoveFailed) saying what it found', async () => {
    const w = failedOverWorld();
    w.redis.set(N2, { role: 'slave', master: N1 });
    await expect(
      recoverMove(w.cluster, stateAfter(['nodes', 'sentinels']), w.deps, moveOf(N2)),
    ).rejects.toThrow(
      /does not take writes \(readonly\)\. orders is not writable with a Sentinel majority: run `ha-redis status --cluster orders` now/,
    );
    expect((await w.state.listHistory(w.cluster.name, 5))[0]).toMatchObject({ kind: 'move' });
  });
});
