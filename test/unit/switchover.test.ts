import { describe, expect, it } from 'vitest';
import { repairRouting } from '../../core/failover/handle-event.ts';
import { reactToFailover } from '../../core/failover/react.ts';
import { ClusterRegistry, type Endpoint, formatEndpoint } from '../../core/model/cluster.ts';
import type { ClusterLease, ReplicaLink } from '../../core/ports.ts';
import {
  SWITCHOVER_ACTIONS,
  type SwitchoverAction,
  type SwitchoverPlan,
  type SwitchoverState,
  SwitchoverStateSchema,
} from '../../core/switchover/state.ts';
import {
  failedStepOf,
  finishSwitchover,
  planSwitchover,
  prepareSwitchover,
  recoverSwitchover,
  SWITCHOVER_TIMING,
  switchMaster,
} from '../../core/switchover/steps.ts';
import { makeSwitchoverStepHandler } from '../../functions/switchover-step/handler.ts';
import {
  endpointOf,
  FakeSentinelView,
  type FakeWorld,
  failedOverWorld,
  N1,
  N2,
  N3,
  SENTINELS,
  START,
  testCluster,
  untouchableDeps,
  type ViewSpec,
} from './helpers.ts';

// ---------------------------------------------------------------------------------------------
// Worlds and states
// ---------------------------------------------------------------------------------------------

const EXECUTION = 'switchover-1';
const MASTER = { id: 'n1', ...N1 };
const TARGET = { id: 'n2', ...N2 };
const [S1, S2, S3] = SENTINELS.map(formatEndpoint);

/** The plan of n1 -> n2 at epoch 6, both replicas at priority 100. */
const PLAN: SwitchoverPlan = {
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

const link = (address: Endpoint, offset: number, state = 'online'): ReplicaLink => ({
  address,
  state,
  offset,
});

const view = (master: Endpoint, epoch: number, extra: Partial<Exclude<ViewSpec, 'down'>> = {}): ViewSpec => ({
  master,
  epoch,
  ...extra,
});

/** An unexpired lease of `owner`. */
const leaseOf = (owner: string, purpose: ClusterLease['purpose'] = 'switchover'): ClusterLease => ({
  owner,
  purpose,
  until: START + 30_000,
});

/**
 * Before a switchover: every Sentinel names n1 at epoch 6 (applied, done), n1 is master at offset 1000 with
 * n2 (offset 1000) and n3 (offset 990) online, every proxy routes to n1.
 */
function beforeSwitchWorld(sentinels: FakeSentinelView = FakeSentinelView.agreeing(N1, 6)): FakeWorld {
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
function afterSwitchWorld(): FakeWorld {
  const w = failedOverWorld();
  for (const proxy of w.cluster.proxies) w.router.routes.set(proxy.id, N2);
  w.redis.priorities.set(formatEndpoint(N3), 200);
  w.state.leaseHeld = { owner: EXECUTION, purpose: 'switchover', until: START + SWITCHOVER_TIMING.leaseMs };
  return w;
}

function switchoverState(
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
const preparedState = (): SwitchoverState =>
  switchoverState({ plan: PLAN, leaseHeld: true, priorities: { n3: 100 } });

/** Every Sentinel's SENTINEL REPLICAS shows the priorities the nodes have now. */
function sentinelsSeePriorities(w: FakeWorld): void {
  w.sentinels.replicasViewOf = () =>
    [N2, N3].map((address) => ({
      address,
      priority: w.redis.priorities.get(formatEndpoint(address)) ?? 100,
      flags: ['slave'],
    }));
}

/** SENTINEL FAILOVER promotes `node`: it answers ROLE master after `lateRoles` more slave answers, and every Sentinel names it at epoch 7. */
function promoteOnFailover(w: FakeWorld, node: Endpoint = N2, lateRoles = 0): void {
  w.sentinels.onFailover = () => {
    w.redis.set(node, { roles: [...Array<'slave'>(lateRoles).fill('slave'), 'master'] });
    w.sentinels.answersNow = SENTINELS.map(() => view(node, 7));
  };
}

/** Proxy id -> where it routes, as plain endpoints. */
const routesOf = (w: FakeWorld): Record<string, Endpoint> =>
  Object.fromEntries([...w.router.routes].map(([proxy, node]) => [proxy, endpointOf(node)]));

const stepNames = (state: SwitchoverState): string[] => state.timeline.map((s) => s.step);

/** The error a promise rejects with; fails the test when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** No proxy, node, Sentinel, lease, DNS or history write happened. */
function expectNothingChanged(w: FakeWorld): void {
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

// ---------------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------------

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

    // Act
    const result = await planSwitchover(w.cluster, switchoverState(), w.deps);

    // Assert
    expect(result.plan?.target).toEqual({ id: 'n3', ...N3 });
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

// ---------------------------------------------------------------------------------------------
// Prepare
// ---------------------------------------------------------------------------------------------

describe('prepareSwitchover', () => {
  it('takes the cluster lease for this execution, for the lease time', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps);

    // Assert
    expect(w.state.leaseHeld).toEqual({
      owner: EXECUTION,
      purpose: 'switchover',
      until: START + SWITCHOVER_TIMING.leaseMs,
    });
    expect(result.leaseHeld).toBe(true);
    expect(result.timeline[0]).toMatchObject({ step: 'lease-taken', status: 'ok' });
  });

  it('raises the other replicas’ priority above the target’s and records their original priorities', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps);

    // Assert
    expect(w.redis.prioritySets).toEqual([{ node: N3, priority: 200 }]);
    expect(result.priorities).toEqual({ n3: 100 });
  });

  it('waits until every Sentinel shows the raised priority', async () => {
    // Arrange: the third Sentinel shows the change at its third poll only.
    const w = beforeSwitchWorld();
    w.sentinels.replicasViewOf = (sentinel, poll) => [
      { address: N2, priority: 100, flags: ['slave'] },
      {
        address: N3,
        priority: formatEndpoint(sentinel) === S3 && poll < 2 ? 100 : 200,
        flags: ['slave'],
      },
    ];

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps);

    // Assert
    expect(w.sentinels.replicasViewCalls).toHaveLength(9);
    expect(w.clock.sleeps).toEqual([200, 200]);
    expect(result.timeline.find((s) => s.step === 'priorities-raised')).toMatchObject({
      status: 'ok',
      detail: 'n3 -> 200; seen by every Sentinel',
      durationMs: 400,
    });
  });

  it('leaves alone a replica that already ranks below the target', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    const plan: SwitchoverPlan = {
      ...PLAN,
      replicas: [
        { ...TARGET, lagBytes: 0, priority: 100, online: true },
        { id: 'n3', ...N3, lagBytes: 10, priority: 150, online: true },
      ],
    };

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan }), w.deps);

    // Assert
    expect(w.redis.prioritySets).toEqual([]);
    expect(result.priorities).toEqual({});
    expect(result.timeline.find((s) => s.step === 'priorities-raised')?.detail).toBe('none needed');
  });

  it('refuses when the Sentinels do not show the raised priority in time', async () => {
    // Arrange: SENTINEL REPLICAS keeps showing the old priority.
    const w = beforeSwitchWorld();
    w.sentinels.replicasViewOf = () => [
      { address: N2, priority: 100, flags: ['slave'] },
      { address: N3, priority: 100, flags: ['slave'] },
    ];

    // Act
    const error = await rejectionOf(prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps));

    // Assert
    expect(error.name).toBe('SwitchoverRefusedError');
    expect(error.message).toContain('the Sentinels did not see the changed replica priorities in time');
    expect(w.clock.now() - START).toBeGreaterThan(SWITCHOVER_TIMING.priorityPropagationMs);
  });

  it('puts the priorities back and releases the lease itself when it fails, since Recover gets the state before it', async () => {
    // Arrange: SENTINEL REPLICAS keeps showing the old priority.
    const w = beforeSwitchWorld();
    w.sentinels.replicasViewOf = () => [
      { address: N2, priority: 100, flags: ['slave'] },
      { address: N3, priority: 100, flags: ['slave'] },
    ];

    // Act
    await rejectionOf(prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps));

    // Assert
    expect(w.redis.prioritySets).toEqual([
      { node: N3, priority: 200 },
      { node: N3, priority: 100 },
    ]);
    expect(await w.state.lease()).toBeUndefined();
  });

  it('never raises a replica with priority 0 (never promote)', async () => {
    const w = beforeSwitchWorld();
    const plan: SwitchoverPlan = {
      ...PLAN,
      replicas: [
        { ...TARGET, lagBytes: 0, priority: 100, online: true },
        { id: 'n3', ...N3, lagBytes: 10, priority: 0, online: true },
      ],
    };
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan }), w.deps);
    expect(w.redis.prioritySets).toEqual([]);
    expect(result.priorities).toEqual({});
  });

  it('throws LeaseHeldError and changes no priority when another owner holds the lease', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);
    w.state.leaseHeld = leaseOf('switchover-0');

    // Act
    const error = await rejectionOf(prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps));

    // Assert
    expect(error.name).toBe('LeaseHeldError');
    expect(error.message).toBe('switchover switchover-0 holds cluster orders; retry when it ends');
    expect(w.state.leaseHeld).toEqual(leaseOf('switchover-0'));
    expect(w.redis.prioritySets).toEqual([]);
  });

  it('takes over a lease that its holder let expire', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    sentinelsSeePriorities(w);
    w.state.leaseHeld = { owner: 'switchover-0', purpose: 'switchover', until: START - 1 };

    // Act
    const result = await prepareSwitchover(w.cluster, switchoverState({ plan: PLAN }), w.deps);

    // Assert
    expect(result.leaseHeld).toBe(true);
    expect(w.state.leaseHeld?.owner).toBe(EXECUTION);
  });
});

// ---------------------------------------------------------------------------------------------
// Switch (the critical section)
// ---------------------------------------------------------------------------------------------

/**
 * The happy critical section: n2 catches up at its third poll, the first Sentinel refuses with INPROG and
 * the second accepts, and n2 answers ROLE master at the third poll after the failover.
 */
function switchingWorld(): FakeWorld {
  const w = beforeSwitchWorld();
  w.redis.set(N2, { offsets: [990, 996, 1000] });
  w.sentinels.failoverAnswers.set(S1 ?? '', 'INPROG Failover already in progress');
  promoteOnFailover(w, N2, 2);
  return w;
}

describe('switchMaster', () => {
  it('blocks every proxy and pauses the master before it asks Sentinel to fail over', async () => {
    // Arrange
    const w = switchingWorld();
    const promote = w.sentinels.onFailover;
    let atFailover: { blocked: string[]; pauses: unknown[]; unpauses: unknown[] } | undefined;
    w.sentinels.onFailover = (sentinel) => {
      atFailover = {
        blocked: [...w.router.blocked].sort(),
        pauses: [...w.redis.pauses],
        unpauses: [...w.redis.unpauses],
      };
      promote?.(sentinel);
    };

    // Act
    await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(atFailover).toEqual({
      blocked: ['p1', 'p2'],
      pauses: [{ node: N1, ms: SWITCHOVER_TIMING.pauseMs }],
      unpauses: [],
    });
  });

  it('waits until the target’s offset reaches the master’s before it calls SENTINEL FAILOVER', async () => {
    // Arrange
    const w = switchingWorld();
    const promote = w.sentinels.onFailover;
    let targetOffsetAtFailover: number | undefined;
    w.sentinels.onFailover = (sentinel) => {
      targetOffsetAtFailover = w.redis.nodes.get(formatEndpoint(N2))?.offset;
      promote?.(sentinel);
    };

    // Act
    const result = await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(targetOffsetAtFailover).toBe(1000);
    expect(result.timeline.find((s) => s.step === 'caught-up')).toMatchObject({
      detail: 'offset 1000',
      durationMs: 2 * SWITCHOVER_TIMING.pollMs,
    });
  });

  it('asks the next Sentinel when one refuses with INPROG', async () => {
    // Arrange
    const w = switchingWorld();

    // Act
    const result = await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(w.sentinels.failoverCalls).toEqual([SENTINELS[0], SENTINELS[1]]);
    expect(result.timeline.find((s) => s.step === 'failover-started')?.detail).toBe(`via ${S2}`);
  });

  it('reroutes every proxy to the target and re-points the other replica at it', async () => {
    // Arrange
    const w = switchingWorld();

    // Act
    await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
    expect(w.router.blocked.size).toBe(0);
    expect(w.redis.replicaOfCalls).toEqual([{ node: N3, master: N2 }]);
    expect(w.redis.unpauses).toEqual([]);
  });

  it('returns promoted and the write gap from the block to the reroute', async () => {
    // Arrange: 2 catch-up polls and 2 ROLE polls of 2 ms each.
    const w = switchingWorld();

    // Act
    const result = await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(result.promoted).toBe(true);
    expect(result.blocked).toBe(false);
    expect(result.writeGapMs).toBe(4 * SWITCHOVER_TIMING.pollMs);
    expect(result.writeGapMs).toBe(w.clock.now() - START);
  });

  it('records writes-blocked, caught-up, failover-started, promoted and rerouted in order, all ok', async () => {
    // Arrange
    const w = switchingWorld();

    // Act
    const result = await switchMaster(w.cluster, preparedState(), w.deps);

    // Assert
    expect(stepNames(result)).toEqual([
      'writes-blocked',
      'caught-up',
      'failover-started',
      'promoted',
      'rerouted',
    ]);
    expect(result.timeline.every((s) => s.status === 'ok')).toBe(true);
    expect(result.timeline.map((s) => s.at)).toEqual([START, START, START + 4, START + 4, START + 8]);
  });

  it('throws CatchUpTimeoutError when the target never catches up, after it unblocks writes on the old master', async () => {
    // Arrange: n2 stays 10 bytes behind.
    const w = beforeSwitchWorld();
    w.redis.set(N2, { offset: 990 });

    // Act
    const error = await rejectionOf(switchMaster(w.cluster, preparedState(), w.deps));

    // Assert
    expect(error.name).toBe('CatchUpTimeoutError');
    expect(error.message).toContain(
      `target n2 is 10 bytes behind after ${SWITCHOVER_TIMING.catchUpDeadlineMs} ms`,
    );
    expect(w.sentinels.failoverCalls).toEqual([]);
    expect(w.redis.unpauses).toEqual([N1]);
    expect(routesOf(w)).toEqual({ p1: N1, p2: N1 });
    expect(w.router.blocked.size).toBe(0);
    expect(w.redis.replicaOfCalls).toEqual([]);
  });

  it('throws PromotionError when every Sentinel refuses, after it unblocks writes on the old master', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    w.sentinels.failoverAnswers
      .set(S1 ?? '', 'NOGOODSLAVE No suitable replica to promote')
      .set(S2 ?? '', 'INPROG Failover already in progress')
      .set(S3 ?? '', new Error(`sentinel ${S3} timed out`));

    // Act
    const error = await rejectionOf(switchMaster(w.cluster, preparedState(), w.deps));

    // Assert
    expect(error.name).toBe('PromotionError');
    expect(error.message).toBe(
      `every Sentinel refused SENTINEL FAILOVER: ${S1}: NOGOODSLAVE No suitable replica to promote; ${S2}: INPROG Failover already in progress; ${S3}: sentinel ${S3} timed out`,
    );
    expect(w.redis.unpauses).toEqual([N1]);
    expect(routesOf(w)).toEqual({ p1: N1, p2: N1 });
    expect(w.router.blocked.size).toBe(0);
  });

  it('points the proxies forward to the node the Sentinel majority names when the target never answers ROLE master', async () => {
    // Arrange: the Sentinels adopt n2 at epoch 7, but n2 keeps answering ROLE slave.
    const w = beforeSwitchWorld();
    w.sentinels.onFailover = () => {
      w.sentinels.answersNow = SENTINELS.map(() => view(N2, 7));
    };

    // Act
    const error = await rejectionOf(switchMaster(w.cluster, preparedState(), w.deps));

    // Assert
    expect(error.name).toBe('PromotionError');
    expect(error.message).toBe('n2 did not answer ROLE master within 5000 ms');
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
    expect(w.router.blocked.size).toBe(0);
    expect(w.redis.replicaOfCalls).toEqual(
      expect.arrayContaining([
        { node: N1, master: N2 },
        { node: N3, master: N2 },
      ]),
    );
    expect(w.redis.unpauses).toEqual([N1]);
  });

  it('throws PromotionError when Sentinel promotes another node, and routes writes to that node', async () => {
    // Arrange: Sentinel picks n3; n1 becomes its replica.
    const w = beforeSwitchWorld();
    promoteOnFailover(w, N3);
    const promote = w.sentinels.onFailover;
    w.sentinels.onFailover = (sentinel) => {
      promote?.(sentinel);
      w.redis.set(N1, { role: 'slave', master: N3 });
    };

    // Act
    const error = await rejectionOf(switchMaster(w.cluster, preparedState(), w.deps));

    // Assert
    expect(error.name).toBe('PromotionError');
    expect(error.message).toBe('Sentinel promoted n3, not n2');
    expect(routesOf(w)).toEqual({ p1: N3, p2: N3 });
    expect(w.router.blocked.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Recover
// ---------------------------------------------------------------------------------------------

const CATCH_UP_FAILED = {
  Error: 'CatchUpTimeoutError',
  Cause: 'target n2 is 10 bytes behind after 2000 ms; writes unblocked, retry later',
};

/** The world after a Switch died in its critical section: proxies blocked, n3 at the raised priority, lease held. */
function failedSwitchWorld(sentinels?: FakeSentinelView): FakeWorld {
  const w = beforeSwitchWorld(sentinels);
  for (const proxy of w.cluster.proxies) w.router.blocked.add(proxy.id);
  w.redis.priorities.set(formatEndpoint(N3), 200);
  w.state.leaseHeld = { owner: EXECUTION, purpose: 'switchover', until: START + SWITCHOVER_TIMING.leaseMs };
  return w;
}

const failedState = (): SwitchoverState => ({ ...preparedState(), error: CATCH_UP_FAILED });

describe('recoverSwitchover', () => {
  it('rolls back to the old master when it is still master and no failover is under way', async () => {
    // Arrange
    const w = failedSwitchWorld();

    // Act
    const result = await recoverSwitchover(w.cluster, failedState(), w.deps);

    // Assert
    expect(result.outcome).toBe('rolled-back');
    expect(w.redis.unpauses).toEqual([N1]);
    expect(routesOf(w)).toEqual({ p1: N1, p2: N1 });
    expect(w.router.blocked.size).toBe(0);
    expect(w.redis.replicaOfCalls).toEqual([]);
  });

  it('restores the priorities and releases the lease', async () => {
    // Arrange
    const w = failedSwitchWorld();

    // Act
    const result = await recoverSwitchover(w.cluster, failedState(), w.deps);

    // Assert
    expect(w.redis.priorities.get(formatEndpoint(N3))).toBe(100);
    expect(w.state.leaseHeld).toBeUndefined();
    expect(result.leaseHeld).toBe(false);
    expect(stepNames(result)).toEqual(['recovered', 'priorities-restored']);
  });

  it('records a failed switchover with the error text, and notifies', async () => {
    // Arrange
    const w = failedSwitchWorld();
    w.clock.advance(2500);

    // Act
    await recoverSwitchover(w.cluster, failedState(), w.deps);

    // Assert
    expect(w.state.history).toHaveLength(1);
    expect(w.state.history[0]).toMatchObject({
      id: EXECUTION,
      cluster: 'orders',
      kind: 'switchover',
      outcome: 'failed',
      epoch: null,
      oldMaster: N1,
      newMaster: null,
      trigger: 'alice: kernel patching',
      startedAt: START,
      durationMs: 2500,
      error: `CatchUpTimeoutError in switch: ${CATCH_UP_FAILED.Cause}`,
    });
    expect(w.notifier.published).toHaveLength(1);
    expect(w.notifier.published[0]).toMatchObject({ kind: 'switchover', outcome: 'failed' });
    expect(w.notifier.published[0]?.summary).toBe(
      'switchover of orders FAILED in switch (CatchUpTimeoutError); rolled-back; writes are unblocked',
    );
  });

  it("records the Lambda runtime's errorMessage from a Catch's JSON Cause, without its stack trace", async () => {
    // Arrange: what Step Functions hands a Catch when the Lambda threw.
    const w = failedSwitchWorld();
    const cause = JSON.stringify({
      errorType: 'CatchUpTimeoutError',
      errorMessage: CATCH_UP_FAILED.Cause,
      trace: [
        'CatchUpTimeoutError: target n2 is 10 bytes behind',
        '    at switchWrites (file:///var/task/index.mjs:1:2)',
      ],
    });

    // Act
    await recoverSwitchover(
      w.cluster,
      { ...preparedState(), error: { Error: 'CatchUpTimeoutError', Cause: cause } },
      w.deps,
    );

    // Assert
    expect(w.state.history[0]?.error).toBe(`CatchUpTimeoutError in switch: ${CATCH_UP_FAILED.Cause}`);
  });

  it('completes forward when a majority names the target: the old master becomes its replica', async () => {
    // Arrange
    const w = failedSwitchWorld(FakeSentinelView.agreeing(N2, 7));
    w.redis.set(N2, { role: 'master' });

    // Act
    const result = await recoverSwitchover(w.cluster, failedState(), w.deps);

    // Assert
    expect(result.outcome).toBe('completed-forward');
    expect(w.redis.replicaOfCalls).toEqual(
      expect.arrayContaining([
        { node: N1, master: N2 },
        { node: N3, master: N2 },
      ]),
    );
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
    expect(w.router.blocked.size).toBe(0);
    expect(w.redis.unpauses).toEqual([N1]);
  });

  it('waits for a failover under way to end before it chooses the direction', async () => {
    // Arrange: for two polls a Sentinel is promoting; then every Sentinel names n2 at epoch 7.
    const promoting: ViewSpec[] = [
      view(N1, 6, { failoverState: 'wait_promotion' }),
      view(N1, 6),
      view(N1, 6),
    ];
    const done = SENTINELS.map(() => view(N2, 7));
    const w = failedSwitchWorld(new FakeSentinelView([promoting, promoting, done]));

    // Act
    const result = await recoverSwitchover(w.cluster, failedState(), w.deps);

    // Assert
    expect(result.outcome).toBe('completed-forward');
    expect(w.clock.sleeps).toEqual([50, 50]);
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
  });

  it('leaves another owner’s lease alone when the failed execution never took it', async () => {
    // Arrange: Prepare failed to take the lease.
    const w = failedSwitchWorld();
    w.state.leaseHeld = leaseOf('switchover-0');
    const state: SwitchoverState = { ...switchoverState({ plan: PLAN }), error: { Error: 'LeaseHeldError' } };

    // Act
    const result = await recoverSwitchover(w.cluster, state, w.deps);

    // Assert
    expect(w.state.leaseHeld).toEqual(leaseOf('switchover-0'));
    expect(w.redis.prioritySets).toEqual([]);
    expect(result.outcome).toBe('rolled-back');
  });

  it('restores the priorities and releases the lease that Prepare took when Prepare’s answer was lost', async () => {
    // Arrange: Prepare took the lease and raised n3, then timed out; the Catch hands over the plan only.
    const w = failedSwitchWorld();
    for (const proxy of w.cluster.proxies) w.router.blocked.delete(proxy.id);
    const state: SwitchoverState = {
      ...switchoverState({ plan: PLAN }),
      error: { Error: 'States.Timeout' },
    };

    // Act
    const result = await recoverSwitchover(w.cluster, state, w.deps);

    // Assert
    expect(result.outcome).toBe('rolled-back');
    expect(w.redis.prioritySets).toEqual([{ node: N3, priority: 100 }]);
    expect(w.state.leaseHeld).toBeUndefined();
    expect(w.state.history[0]?.error).toBe('States.Timeout in prepare');
  });

  it('keeps the record of a Finish whose answer was lost, and still unblocks, restores and notifies', async () => {
    // Arrange: Finish recorded the switchover and released the lease, then its process died.
    const w = failedSwitchWorld(FakeSentinelView.agreeing(N2, 7));
    w.redis.set(N2, { role: 'master' });
    const done = { ...switchedState(), timeline: [mark('fenced'), mark('verified')] };
    await finishedRecord(w, done);
    w.state.leaseHeld = undefined;

    // Act
    const result = await recoverSwitchover(
      w.cluster,
      { ...done, error: { Error: 'Runtime.ExitError', Cause: 'Runtime exited' } },
      w.deps,
    );

    // Assert
    expect(result.outcome).toBe('completed-forward');
    expect(w.state.history.map((e) => e.outcome)).toEqual(['succeeded']);
    expect(w.redis.priorities.get(formatEndpoint(N3))).toBe(100);
    expect(w.notifier.published.at(-1)?.summary).toBe(
      'switchover of orders FAILED in finish (Runtime.ExitError); completed-forward; writes are unblocked',
    );
  });

  it.each([
    ['plan', {}],
    ['prepare', { plan: PLAN }],
    ['switch', { plan: PLAN, leaseHeld: true }],
    ['fence', { plan: PLAN, leaseHeld: true, writeGapMs: 320 }],
    ['verify', { plan: PLAN, leaseHeld: true, writeGapMs: 320, timeline: [mark('fenced')] }],
    [
      'finish',
      { plan: PLAN, leaseHeld: true, writeGapMs: 320, timeline: [mark('fenced'), mark('verified')] },
    ],
  ] as const)('names %s as the failed step from the state the Catch hands over', (step, fields) => {
    expect(failedStepOf(switchoverState(fields as Partial<SwitchoverState>))).toBe(step);
  });
});

/** A timeline step that went well. */
function mark(step: string) {
  return { step, at: START, durationMs: 1, status: 'ok' as const };
}

/** The history entry a Finish of `state` records. */
async function finishedRecord(w: FakeWorld, state: SwitchoverState): Promise<void> {
  await w.state.appendHistory({
    id: state.executionId,
    cluster: 'orders',
    kind: 'switchover',
    epoch: 7,
    oldMaster: N1,
    newMaster: N2,
    outcome: 'succeeded',
    trigger: 'alice: kernel patching',
    startedAt: state.startedAt,
    durationMs: 9000,
    timeline: state.timeline,
    bytesAtRisk: 0,
  });
}

// ---------------------------------------------------------------------------------------------
// Finish
// ---------------------------------------------------------------------------------------------

const switchedState = (): SwitchoverState => ({ ...preparedState(), promoted: true, writeGapMs: 320 });

describe('finishSwitchover', () => {
  it('restores the original replica priorities', async () => {
    // Arrange
    const w = afterSwitchWorld();

    // Act
    await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Assert
    expect(w.redis.prioritySets).toEqual([{ node: N3, priority: 100 }]);
    expect(w.redis.priorities.get(formatEndpoint(N3))).toBe(100);
  });

  it('claims the new epoch as done for the new master', async () => {
    // Arrange
    const w = afterSwitchWorld();

    // Act
    await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Assert
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, master: N2, status: 'done' });
  });

  it('succeeds again when retried after it claimed the epoch', async () => {
    // Arrange
    const w = afterSwitchWorld();
    await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Act
    const again = await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Assert
    expect(again.outcome).toBe('succeeded');
    expect(await w.state.appliedEpoch('orders')).toMatchObject({ epoch: 7, master: N2, status: 'done' });
  });

  it('leaves nothing for the automatic reaction to do afterwards', async () => {
    // Arrange
    const w = afterSwitchWorld();
    await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Act
    const reaction = await reactToFailover(w.cluster, { type: 'reconcile', seenAt: w.clock.now() }, w.deps);

    // Assert
    expect(reaction).toEqual({ action: 'current', epoch: 7 });
  });

  it('persists routing on every proxy and moves DNS to the new master at the new epoch', async () => {
    // Arrange
    const w = afterSwitchWorld();

    // Act
    await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Assert
    expect(w.nodeOps.runs).toEqual(
      w.cluster.proxies.map((proxy) => ({ document: 'update-haproxy', proxy, master: TARGET })),
    );
    expect(w.dns.calls.map((c) => ({ master: endpointOf(c.master), epoch: c.epoch }))).toEqual([
      { master: N2, epoch: 7 },
    ]);
  });

  it('records a succeeded switchover with its write gap, releases the lease and notifies', async () => {
    // Arrange
    const w = afterSwitchWorld();

    // Act
    const result = await finishSwitchover(w.cluster, switchedState(), w.deps);

    // Assert
    expect(result).toMatchObject({ outcome: 'succeeded', leaseHeld: false });
    expect(w.state.history).toHaveLength(1);
    expect(w.state.history[0]).toMatchObject({
      id: EXECUTION,
      kind: 'switchover',
      outcome: 'succeeded',
      epoch: 7,
      oldMaster: N1,
      newMaster: N2,
      writeGapMs: 320,
      bytesAtRisk: 0,
    });
    expect(w.state.history[0]?.error).toBeUndefined();
    expect(w.state.leaseHeld).toBeUndefined();
    expect(w.notifier.published.map((n) => n.summary)).toEqual([
      'switchover of orders: n1 -> n2 at epoch 7, writes blocked 320 ms',
    ]);
    expect(stepNames(result)).toEqual([
      'priorities-restored',
      'epoch-claimed',
      'routing-persisted',
      'dns-updated',
    ]);
  });

  it('throws VerificationError and keeps the lease when the Sentinels name another master', async () => {
    // Arrange: the Sentinels name n3 at epoch 7.
    const w = afterSwitchWorld();
    w.sentinels.answersNow = SENTINELS.map(() => view(N3, 7));
    w.redis.set(N3, { role: 'master' });

    // Act
    const error = await rejectionOf(finishSwitchover(w.cluster, switchedState(), w.deps));

    // Assert
    expect(error.name).toBe('VerificationError');
    expect(error.message).toContain('the Sentinels do not name n2 as master');
    expect(w.state.leaseHeld?.owner).toBe(EXECUTION);
    expect(w.dns.calls).toEqual([]);
    expect(w.state.history).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The automatic reaction and the routing repair, while a switchover holds the cluster
// ---------------------------------------------------------------------------------------------

describe('reactToFailover under a switchover lease', () => {
  it('defers to the lease holder and touches no proxy while the lease is unexpired', async () => {
    // Arrange
    const w = failedOverWorld();
    w.state.leaseHeld = leaseOf(EXECUTION);

    // Act
    const result = await reactToFailover(
      w.cluster,
      { type: '+switch-master', seenAt: START, oldMaster: N1 },
      w.deps,
    );

    // Assert
    expect(result).toEqual({ action: 'deferred', epoch: 7, owner: EXECUTION });
    expect(w.router.calls).toEqual([]);
    expect(w.router.blockCalls).toEqual([]);
    expect((await w.state.appliedEpoch('orders'))?.epoch).toBe(6);
    expect(w.state.history).toEqual([]);
  });

  it('fails over as usual once the lease has expired', async () => {
    // Arrange
    const w = failedOverWorld();
    w.state.leaseHeld = { owner: EXECUTION, purpose: 'switchover', until: START - 1 };

    // Act
    const result = await reactToFailover(
      w.cluster,
      { type: '+switch-master', seenAt: START, oldMaster: N1 },
      w.deps,
    );

    // Assert
    expect(result.action).toBe('failed-over');
    expect(routesOf(w)).toEqual({ p1: N2, p2: N2 });
  });
});

describe('repairRouting', () => {
  it('points a blocked proxy back at the applied master when no lease is held and the epoch is done', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    w.router.blocked.add('p1');

    // Act
    const repaired = await repairRouting(w.cluster, w.deps);

    // Assert
    expect(repaired).toEqual(['p1']);
    expect(w.router.calls).toEqual([{ proxy: 'p1', node: N1 }]);
    expect(w.router.blocked.size).toBe(0);
  });

  it('leaves a blocked proxy alone while an unexpired lease is held', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    w.router.blocked.add('p1');
    w.state.leaseHeld = leaseOf(EXECUTION);

    // Act
    const repaired = await repairRouting(w.cluster, w.deps);

    // Assert
    expect(repaired).toEqual([]);
    expect(w.router.calls).toEqual([]);
    expect([...w.router.blocked]).toEqual(['p1']);
  });

  it('leaves a blocked proxy alone while the applied epoch is not done', async () => {
    // Arrange
    const w = beforeSwitchWorld();
    w.router.blocked.add('p1');
    w.state.epochs.set('orders', {
      epoch: 6,
      master: N1,
      status: 'claimed',
      token: 't',
      leaseUntil: START + 1000,
    });

    // Act
    const repaired = await repairRouting(w.cluster, w.deps);

    // Assert
    expect(repaired).toEqual([]);
    expect(w.router.calls).toEqual([]);
    expect([...w.router.blocked]).toEqual(['p1']);
  });
});

// ---------------------------------------------------------------------------------------------
// The step handler
// ---------------------------------------------------------------------------------------------

/** A handler whose ports record any call: for input that must be rejected before any port is used. */
function rejectingHandler() {
  const touched: string[] = [];
  const handler = makeSwitchoverStepHandler(() => ({
    clusters: new ClusterRegistry([testCluster()]),
    failover: untouchableDeps(touched),
  }));
  return { handler, touched };
}

describe('makeSwitchoverStepHandler', () => {
  it('rejects an unknown action with InvalidInputError naming the field, before it touches any port', async () => {
    // Arrange
    const { handler, touched } = rejectingHandler();

    // Act
    const error = await rejectionOf(handler({ action: 'jump', state: switchoverState() }));

    // Assert
    expect(error.name).toBe('InvalidInputError');
    expect(error.message).toContain('invalid switchover step event');
    expect(error.message).toContain('action');
    expect(error.message).not.toContain('\n');
    expect(touched).toEqual([]);
  });

  it('rejects a state without an executionId with InvalidInputError naming the field', async () => {
    // Arrange
    const { handler, touched } = rejectingHandler();
    const { executionId: _dropped, ...state } = switchoverState();

    // Act
    const error = await rejectionOf(handler({ action: 'plan', state }));

    // Assert
    expect(error.name).toBe('InvalidInputError');
    expect(error.message).toContain('state.executionId');
    expect(touched).toEqual([]);
  });

  it('rejects an unknown cluster with UnknownClusterError, before it touches any port', async () => {
    // Arrange
    const { handler, touched } = rejectingHandler();

    // Act
    const error = await rejectionOf(
      handler({ action: 'plan', state: switchoverState({}, { cluster: 'payments' }) }),
    );

    // Assert
    expect(error.name).toBe('UnknownClusterError');
    expect(error.message).toContain("unknown cluster 'payments'; known clusters: orders");
    expect(touched).toEqual([]);
  });

  const dispatches: Record<
    SwitchoverAction,
    { arrange: () => { w: FakeWorld; state: SwitchoverState }; step: string }
  > = {
    plan: { arrange: () => ({ w: beforeSwitchWorld(), state: switchoverState() }), step: 'planned' },
    prepare: {
      arrange: () => {
        const w = beforeSwitchWorld();
        sentinelsSeePriorities(w);
        return { w, state: switchoverState({ plan: PLAN }) };
      },
      step: 'priorities-raised',
    },
    switch: {
      arrange: () => {
        const w = beforeSwitchWorld();
        promoteOnFailover(w);
        return { w, state: preparedState() };
      },
      step: 'rerouted',
    },
    fence: { arrange: () => ({ w: afterSwitchWorld(), state: switchedState() }), step: 'fenced' },
    verify: { arrange: () => ({ w: afterSwitchWorld(), state: switchedState() }), step: 'verified' },
    finish: { arrange: () => ({ w: afterSwitchWorld(), state: switchedState() }), step: 'dns-updated' },
    recover: {
      arrange: () => ({ w: failedSwitchWorld(), state: failedState() }),
      step: 'priorities-restored',
    },
  };

  it.each(SWITCHOVER_ACTIONS.map((action) => ({ action, ...dispatches[action] })))(
    'dispatches $action to its step, which ends with $step',
    async ({ action, arrange, step }) => {
      // Arrange
      const { w, state } = arrange();
      const handler = makeSwitchoverStepHandler(async () => ({
        clusters: new ClusterRegistry([w.cluster]),
        failover: w.deps,
      }));

      // Act
      const result = await handler({ action, state });

      // Assert
      expect(result.timeline.at(-1)).toMatchObject({ step, status: 'ok' });
      expect(result.executionId).toBe(EXECUTION);
    },
  );
});
