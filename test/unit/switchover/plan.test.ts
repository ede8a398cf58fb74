/** Plan: the switchover's precheck, which changes nothing. */

import { describe, expect, it } from 'vitest';
import { formatEndpoint } from '../../../core/model/cluster.ts';
import { planSwitchover } from '../../../core/switchover/steps.ts';
import { N1, N2, N3, START } from '../../support/fixtures.ts';
import type { FakeWorld } from '../../support/world.ts';
import {
  beforeSwitchWorld,
  expectNothingChanged,
  leaseOf,
  link,
  MASTER,
  rejectionOf,
  routesOf,
  S2,
  S3,
  switchoverState,
  TARGET,
  view,
} from './fixtures.ts';

describe('planSwitchover', () => {
  it('returns the master, the target, every replica with its lag, the epoch and the expected write gap', async () => {
    // Arrange
    const w = beforeSwitchWorld();

    // Act
    const result = await planSwitchover(w.cluster, switchoverState(), w.deps);

    // Assert
    expect(result.outcome).toBe('planned');
    expect(result.plan).toMatchObject({
      master: MASTER,
      target: TARGET,
      replicas: [
        { ...TARGET, lagBytes: 0, priority: 100, online: true },
        { id: 'n3', ...N3, lagBytes: 10, priority: 100, online: true },
      ],
      epoch: 6,
      expectedWriteGapMs: 350,
    });
    expect(result.timeline).toEqual([
      expect.objectContaining({ step: 'planned', status: 'ok', detail: 'n1 -> n2, lag 0 bytes' }),
    ]);
  });

  it('changes nothing: no proxy, node, Sentinel, lease or history write', async () => {
    // Arrange
    const w = beforeSwitchWorld();

    // Act
    await planSwitchover(w.cluster, switchoverState(), w.deps);

    // Assert
    expectNothingChanged(w);
    expect(w.state.leaseHeld).toBeUndefined();
    expect(routesOf(w)).toEqual({ p1: N1, p2: N1 });
  });

  it('picks the replica with the least lag when no target is given', async () => {
    // Arrange: n2 is 300 bytes behind, n3 100.
    const w = beforeSwitchWorld();
    w.redis.set(N1, { replicas: [link(N2, 700), link(N3, 900)] });
    w.redis.set(N2, { offset: 700 }).set(N3, { offset: 900 });

    // Act
    const result = await planSwitchover(w.cluster, switchoverState(), w.deps);

    // Assert
    expect(result.plan?.target).toEqual({ id: 'n3', ...N3 });
  });

  it("measures a replica's lag by its own offset, not by the master's list of acks (a second old under load)", async () => {
    // Arrange: the master lists n2 1.5 MB behind (its last REPLCONF ACK), but n2 itself has every byte.
    const w = beforeSwitchWorld();
    w.redis.set(N1, { offset: 2_000_000, replicas: [link(N2, 500_000), link(N3, 400_000)] });
    w.redis.set(N2, { offset: 2_000_000 }).set(N3, { offset: 1_999_000 });

    // Act
    const result = await planSwitchover(w.cluster, switchoverState({}, { target: 'n2' }), w.deps);

    // Assert
    expect(result.plan?.replicas.map((r) => [r.id, r.lagBytes])).toEqual([
      ['n2', 0],
      ['n3', 1000],
    ]);
  });

  it('refuses when a replica the master lists as online does not answer, and changes nothing', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    w.redis.set(N3, { reachable: false });

    // Act
    const error = await planSwitchover(w.cluster, switchoverState(), w.deps).catch((e: Error) => e);

    // Assert
    expect(error).toMatchObject({ name: 'SwitchoverRefusedError' });
    expect((error as Error).message).toContain('n3 does not answer as a replica');
    expectNothingChanged(w);
  });

  it('passes over a replica with priority 0 when it picks the target, however little it lags', async () => {
    // Arrange: n2 has no lag but replica-priority 0.
    const w = beforeSwitchWorld();
    w.redis.priorities.set(formatEndpoint(N2), 0);

    // Act
    const result = await planSwitchover(w.cluster, switchoverState(), w.deps);

    // Assert
    expect(result.plan?.target).toEqual({ id: 'n3', ...N3 });
    expect(result.plan?.replicas.find((r) => r.id === 'n2')?.priority).toBe(0);
  });

  it('accepts the target as host:port', async () => {
    // Arrange
    const w = beforeSwitchWorld();

    // Act
    const result = await planSwitchover(w.cluster, switchoverState({}, { target: '10.0.1.23:6379' }), w.deps);

    // Assert
    expect(result.plan?.target).toEqual({ id: 'n3', ...N3 });
  });

  it('plans when the only lease is expired', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    w.state.leaseHeld = { owner: 'maintenance-41', purpose: 'maintenance', until: START - 1 };

    // Act
    const result = await planSwitchover(w.cluster, switchoverState(), w.deps);

    // Assert
    expect(result.outcome).toBe('planned');
  });

  const refusals: {
    case: string;
    arrange: (w: FakeWorld) => void;
    input?: Record<string, unknown>;
    name: string;
    message: string;
  }[] = [
    {
      case: 'a Sentinel does not answer',
      arrange: (w) => {
        w.sentinels.answersNow = [view(N1, 6), view(N1, 6), 'down'];
      },
      name: 'SwitchoverRefusedError',
      message: `Sentinels did not answer: ${S3} (sentinel ${S3} timed out)`,
    },
    {
      case: 'the Sentinels disagree on the master',
      arrange: (w) => {
        w.sentinels.answersNow = [view(N1, 6), view(N2, 7), view(N3, 8)];
      },
      name: 'SwitchoverRefusedError',
      message: 'the Sentinels do not agree on the master',
    },
    {
      case: 'a Sentinel flags failover_in_progress',
      arrange: (w) => {
        w.sentinels.answersNow = [
          view(N1, 6),
          view(N1, 6, { flags: ['master', 'failover_in_progress'] }),
          view(N1, 6),
        ];
      },
      name: 'SwitchoverRefusedError',
      message: 'a failover is in progress; retry when it ends',
    },
    {
      case: 'a Sentinel is in a failover state',
      arrange: (w) => {
        w.sentinels.answersNow = [view(N1, 6, { failoverState: 'wait_promotion' }), view(N1, 6), view(N1, 6)];
      },
      name: 'SwitchoverRefusedError',
      message: 'a failover is in progress; retry when it ends',
    },
    {
      case: 'SENTINEL CKQUORUM fails',
      arrange: (w) => {
        w.sentinels.quorumProblems.set(S2 ?? '', 'NOQUORUM 1 usable Sentinels');
      },
      name: 'SwitchoverRefusedError',
      message: `SENTINEL CKQUORUM failed: ${S2}: NOQUORUM 1 usable Sentinels`,
    },
    {
      case: 'a replica is not online',
      arrange: (w) => {
        w.redis.set(N1, { replicas: [link(N2, 1000), link(N3, 990, 'wait_bgsave')] });
      },
      name: 'SwitchoverRefusedError',
      message: 'the master has 1 of 2 replicas online; offline: n3',
    },
    {
      case: 'a replica is missing from the master’s replica list',
      arrange: (w) => {
        w.redis.set(N1, { replicas: [link(N3, 990)] });
      },
      name: 'SwitchoverRefusedError',
      message: 'the master has 1 of 2 replicas online; offline: n2',
    },
    {
      case: 'the node the Sentinels name answers ROLE slave',
      arrange: (w) => {
        w.redis.set(N1, { role: 'slave' });
      },
      name: 'SwitchoverRefusedError',
      message: 'n1 answers ROLE slave, not master',
    },
    {
      case: 'the target is unknown',
      arrange: () => undefined,
      input: { target: 'redis-9' },
      name: 'InvalidInputError',
      message: "unknown target 'redis-9' in cluster orders; nodes: n1, n2, n3",
    },
    {
      case: 'the target is the master',
      arrange: () => undefined,
      input: { target: 'n1' },
      name: 'InvalidInputError',
      message: 'n1 is the master already; pick a replica',
    },
    {
      case: 'the target has priority 0',
      arrange: (w) => {
        w.redis.priorities.set(formatEndpoint(N2), 0);
      },
      input: { target: 'n2' },
      name: 'SwitchoverRefusedError',
      message: 'n2 has replica-priority 0: Sentinel never promotes it',
    },
    {
      case: 'every replica has priority 0',
      arrange: (w) => {
        w.redis.priorities.set(formatEndpoint(N2), 0).set(formatEndpoint(N3), 0);
      },
      name: 'SwitchoverRefusedError',
      message: 'no replica can be promoted (all have replica-priority 0)',
    },
    {
      case: 'the target lags more than maxLagBytes',
      arrange: () => undefined,
      input: { target: 'n3', maxLagBytes: 5 },
      name: 'SwitchoverRefusedError',
      message: 'target n3 is 10 bytes behind (limit 5); retry when it has caught up',
    },
    {
      case: 'another owner holds the lease',
      arrange: (w) => {
        w.state.leaseHeld = leaseOf('maintenance-42', 'maintenance');
      },
      name: 'LeaseHeldError',
      message: 'maintenance maintenance-42 holds cluster orders; retry when it ends',
    },
  ];

  it.each(refusals)('refuses when $case, and changes nothing', async ({ arrange, input, name, message }) => {
    // Arrange
    const w = beforeSwitchWorld();
    arrange(w);

    // Act
    const error = await rejectionOf(planSwitchover(w.cluster, switchoverState({}, input), w.deps));

    // Assert
    expect(error.name).toBe(name);
    expect(error.message).toContain(message);
    expectNothingChanged(w);
  });
});
