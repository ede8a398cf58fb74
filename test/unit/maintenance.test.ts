import { describe, expect, it } from 'vitest';
import {
  type MaintenancePlan,
  type MaintenanceState,
  MaintenanceStateSchema,
} from '../../core/maintenance/state.ts';
import {
  actOnNode,
  drainTarget,
  finishMaintenance,
  MAINTENANCE_TIMING,
  nextMaintenanceStep,
  onHost,
  planMaintenance,
  recoverMaintenance,
  switchbackForMaintenance,
  switchoverForMaintenance,
  waitUntilNodeBack,
} from '../../core/maintenance/steps.ts';
import { type Endpoint, formatEndpoint, sameEndpoint } from '../../core/model/cluster.ts';
import { ERROR_NAMES } from '../../core/model/errors.ts';
import { makeMaintenanceStepHandler } from '../../functions/maintenance-step/handler.ts';
import {
  FakeSentinelView,
  type FakeWorld,
  failedOverWorld,
  N1,
  N2,
  N3,
  SENTINELS,
  START,
  untouchableDeps,
} from './helpers.ts';

const EXECUTION = 'maintenance-1';
const R1 = { id: 'n1', ...N1 };
const R2 = { id: 'n2', ...N2 };
const R3 = { id: 'n3', ...N3 };
const PLAN: MaintenancePlan = { master: R1, replicas: [R2, R3] };
const NODES = [N1, N2, N3];

/**
 * A healthy cluster: every Sentinel names n1 at epoch 6, n1 is master at offset 1000 with n2 and n3 online and in
 * sync, every proxy routes to n1, DNS names n1, and every Sentinel sees the replicas without flags. SENTINEL
 * FAILOVER promotes the replica that ranks first (lowest priority), as Sentinel does.
 */
function healthyWorld(): FakeWorld & { master: () => Endpoint; flags: Map<string, string[]> } {
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

function maintenanceState(
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

const planned = (overrides: Partial<MaintenanceState> = {}, input: Record<string, unknown> = {}) =>
  maintenanceState({ plan: PLAN, master: R1, phase: 'planned', ...overrides }, input);

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

describe('planMaintenance', () => {
  it('records the master and the replicas in order, and changes nothing', async () => {
    // Arrange
    const w = healthyWorld();

    // Act
    const state = await planMaintenance(w.cluster, maintenanceState(), w.deps);

    // Assert
    expect(state.plan).toEqual(PLAN);
    expect(state.master).toEqual(R1);
    expect(state.done).toEqual([]);
    expect(w.nodeOps.runs).toEqual([]);
    expect(w.router.calls).toEqual([]);
    expect(w.state.history).toEqual([]);
    expect(state.timeline).toEqual([
      expect.objectContaining({ step: 'planned', status: 'ok', detail: 'restart: n2, n3, then n1' }),
    ]);
  });

  it('refuses with MaintenanceRefusedError when maintenance mode is paused', async () => {
    // Arrange
    const w = healthyWorld();
    await w.state.setMaintenanceMode('orders', { paused: true, by: 'cli:bob', at: START, reason: 'freeze' });

    // Act
    const error = await rejectionOf(planMaintenance(w.cluster, maintenanceState(), w.deps));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.maintenanceRefused);
    expect(error.message).toContain('paused by cli:bob (freeze)');
  });

  it('refuses when a replica is down', async () => {
    // Arrange
    const w = healthyWorld();
    w.redis.set(N3, { reachable: false });

    // Act
    const error = await rejectionOf(planMaintenance(w.cluster, maintenanceState(), w.deps));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.maintenanceRefused);
    expect(error.message).toContain('replica n3 is down');
  });

  it('refuses when a replica lags beyond the bound', async () => {
    // Arrange
    const w = healthyWorld();
    w.redis.set(N3, { offset: 10 });

    // Act
    const error = await rejectionOf(
      planMaintenance(w.cluster, maintenanceState({}, { maxLagBytes: 100 }), w.deps),
    );

    // Assert
    expect(error.message).toContain('replica n3 is 990 bytes behind the master (limit 100)');
  });

  it('refuses when the Sentinels disagree on the master', async () => {
    // Arrange
    const w = healthyWorld();
    w.sentinels.answersNow = [
      { master: N1, epoch: 6 },
      { master: N1, epoch: 6 },
      { master: N2, epoch: 7 },
    ];

    // Act
    const error = await rejectionOf(planMaintenance(w.cluster, maintenanceState(), w.deps));

    // Assert
    expect(error.message).toContain('Sentinels disagree');
  });

  it('refuses when a Sentinel flags a replica s_down', async () => {
    // Arrange
    const w = healthyWorld();
    w.flags.set(formatEndpoint(N2), ['s_down']);

    // Act
    const error = await rejectionOf(planMaintenance(w.cluster, maintenanceState(), w.deps));

    // Assert
    expect(error.message).toContain(`Sentinel ${formatEndpoint(SENTINELS[0] as Endpoint)} flags n2 s_down`);
  });

  it('refuses when another operation holds the lease', async () => {
    // Arrange
    const w = healthyWorld();
    w.state.leaseHeld = { owner: 'switchover-9', purpose: 'switchover', until: START + 30_000 };

    // Act
    const error = await rejectionOf(planMaintenance(w.cluster, maintenanceState(), w.deps));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.maintenanceRefused);
    expect(error.message).toContain('switchover switchover-9 holds cluster orders');
  });
});

describe('nextMaintenanceStep', () => {
  const w = healthyWorld();
  const next = (overrides: Partial<MaintenanceState>, input: Record<string, unknown> = {}) =>
    nextMaintenanceStep(w.cluster, planned(overrides, input), w.deps);
  const switched = { kind: 'switchover' as const, executionId: 'x', from: 'n1', to: 'n2' };

  it('goes through each replica, the switchover, the old master, then done', async () => {
    // Act
    const steps = [
      await next({}),
      await next({ done: ['n2'] }),
      await next({ done: ['n2', 'n3'] }),
      await next({ done: ['n2', 'n3'], switchovers: [switched], master: R2 }),
      await next({ done: ['n2', 'n3', 'n1'], switchovers: [switched], master: R2 }),
    ];

    // Assert
    expect(steps.map((s) => [s.phase, s.current?.node.id])).toEqual([
      ['node', 'n2'],
      ['node', 'n3'],
      ['switchover', undefined],
      ['node', 'n1'],
      ['done', undefined],
    ]);
  });

  it('switches back after the old master when asked to', async () => {
    // Act
    const back = await next({ done: ['n2', 'n3', 'n1'], switchovers: [switched] }, { switchback: true });
    const end = await next(
      { done: ['n2', 'n3', 'n1'], switchovers: [switched, { ...switched, kind: 'switchback' }] },
      { switchback: true },
    );

    // Assert
    expect(back.phase).toBe('switchback');
    expect(end.phase).toBe('done');
  });
});

describe('actOnNode', () => {
  it('runs the maintenance action on the current node through NodeOps and records when it acted', async () => {
    // Arrange
    const w = healthyWorld();
    w.clock.advance(500);
    const state = planned({ phase: 'node', current: { node: R2, startedAt: START } }, { action: 'upgrade' });

    // Act
    const result = await actOnNode(w.cluster, state, w.deps);

    // Assert
    expect(w.nodeOps.runs).toEqual([
      { document: 'maintenance-action', node: w.cluster.nodes[1], action: 'upgrade' },
    ]);
    expect(result.current?.actedAt).toBe(START + 500);
    expect(result.timeline.at(-1)).toMatchObject({ step: 'upgrade n2', status: 'ok' });
  });

  it('refuses to act on a node that answers ROLE master', async () => {
    // Arrange
    const w = healthyWorld();
    const state = planned({ phase: 'node', current: { node: R1, startedAt: START } });

    // Act
    const error = await rejectionOf(actOnNode(w.cluster, state, w.deps));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.maintenanceRefused);
    expect(w.nodeOps.runs).toEqual([]);
  });
});

describe('waitUntilNodeBack', () => {
  const acted = (input: Record<string, unknown> = {}) =>
    planned({ phase: 'node', current: { node: R2, startedAt: START, actedAt: START } }, input);

  it('marks the node done once it is a replica of the master, in sync and healthy for every Sentinel', async () => {
    // Arrange
    const w = healthyWorld();
    w.redis.set(N2, { reachable: false });
    let polls = 0;
    const sleep = w.clock.sleep.bind(w.clock);
    w.clock.sleep = async (ms) => {
      polls += 1;
      if (polls === 3) w.redis.set(N2, { reachable: true });
      await sleep(ms);
    };

    // Act
    const result = await waitUntilNodeBack(w.cluster, acted(), w.deps);

    // Assert
    expect(result.done).toEqual(['n2']);
    expect(result.current).toBeUndefined();
    expect(result.timeline.at(-1)).toMatchObject({ step: 'n2 back', status: 'ok', durationMs: 3000 });
  });

  it('keeps waiting while a Sentinel still flags the node, or it lags beyond the bound', async () => {
    // Arrange
    const w = healthyWorld();
    w.flags.set(formatEndpoint(N2), ['s_down']);
    const lagging = healthyWorld();
    lagging.redis.set(N2, { offset: 0 });

    // Act
    const flagged = await rejectionOf(waitUntilNodeBack(w.cluster, acted(), w.deps));
    const behind = await rejectionOf(
      waitUntilNodeBack(lagging.cluster, acted({ maxLagBytes: 10 }), lagging.deps),
    );

    // Assert
    expect(flagged.name).toBe(ERROR_NAMES.nodeNotBackYet);
    expect(flagged.message).toContain('flags n2 s_down');
    expect(behind.message).toContain('n2 is 1000 bytes behind n1 (limit 10)');
  });

  it('gives up one call after its budget with NodeNotBackYetError, for the state machine to retry', async () => {
    // Arrange
    const w = healthyWorld();
    w.redis.set(N2, { reachable: false });

    // Act
    const error = await rejectionOf(waitUntilNodeBack(w.cluster, acted(), w.deps));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.nodeNotBackYet);
    expect(w.clock.now() - START).toBe(MAINTENANCE_TIMING.waitCallBudgetMs);
  });

  it('fails with NodeNotBackError once the node deadline from its action has passed', async () => {
    // Arrange
    const w = healthyWorld();
    w.redis.set(N2, { role: 'master' });

    // Act: the calls the Wait state's retries make, until one is past the deadline.
    let error: Error | undefined;
    for (let call = 0; call < 20 && error?.name !== ERROR_NAMES.nodeNotBack; call += 1) {
      error = await rejectionOf(waitUntilNodeBack(w.cluster, acted({ nodeBackTimeoutMs: 60_000 }), w.deps));
      w.clock.advance(5000);
    }

    // Assert
    expect(error?.name).toBe(ERROR_NAMES.nodeNotBack);
    expect(error?.message).toContain('n2 is not back 60000 ms after its restart (limit 60000)');
    expect(error?.message).toContain('n2 answers ROLE master, not slave');
  });
});

describe('switchoverForMaintenance and switchbackForMaintenance', () => {
  it('switches over away from the master with the switchover steps and its own lease', async () => {
    // Arrange
    const w = healthyWorld();

    // Act
    const result = await switchoverForMaintenance(
      w.cluster,
      planned({ done: ['n2', 'n3'], phase: 'switchover' }),
      w.deps,
    );

    // Assert
    expect(result.master?.id).not.toBe('n1');
    expect(result.switchovers).toEqual([
      expect.objectContaining({ kind: 'switchover', executionId: `${EXECUTION}-switchover`, from: 'n1' }),
    ]);
    expect(w.state.leaseHeld).toBeUndefined();
    expect(w.state.history).toEqual([
      expect.objectContaining({ id: `${EXECUTION}-switchover`, kind: 'switchover', outcome: 'succeeded' }),
    ]);
    expect(result.timeline.at(-1)).toMatchObject({ step: 'switched-over', status: 'ok' });
  });

  it('switches back to the master the run started with', async () => {
    // Arrange
    const w = healthyWorld();
    const over = await switchoverForMaintenance(w.cluster, planned({ phase: 'switchover' }), w.deps);

    // Act
    const back = await switchbackForMaintenance(w.cluster, { ...over, phase: 'switchback' }, w.deps);

    // Assert
    expect(back.master).toEqual(R1);
    expect(back.switchovers.map((s) => [s.kind, s.to])).toEqual([
      ['switchover', over.master?.id],
      ['switchback', 'n1'],
    ]);
    expect(w.router.routes.get('p1')).toMatchObject(N1);
  });

  it('recovers a failed switchover itself, then fails with its error', async () => {
    // Arrange
    const w = healthyWorld();
    for (const s of SENTINELS) w.sentinels.failoverAnswers.set(formatEndpoint(s), 'INPROG');

    // Act
    const error = await rejectionOf(
      switchoverForMaintenance(w.cluster, planned({ phase: 'switchover' }), w.deps),
    );

    // Assert
    expect(error.name).toBe(ERROR_NAMES.promotion);
    expect(w.state.leaseHeld).toBeUndefined();
    expect(w.redis.unpauses).toContainEqual(N1);
    expect(w.state.history).toEqual([
      expect.objectContaining({ id: `${EXECUTION}-switchover`, kind: 'switchover', outcome: 'failed' }),
    ]);
    expect(w.router.routes.get('p2')).toMatchObject(N1);
  });
});

describe('finishMaintenance', () => {
  it('records a maintenance entry with the nodes done and the masters, and notifies', async () => {
    // Arrange
    const w = healthyWorld();
    const state = planned({
      phase: 'done',
      done: ['n2', 'n3', 'n1'],
      master: R2,
      switchovers: [{ kind: 'switchover', executionId: 'x', from: 'n1', to: 'n2', writeGapMs: 300 }],
    });

    // Act
    const result = await finishMaintenance(w.cluster, state, w.deps);

    // Assert
    expect(result).toMatchObject({ phase: 'finished', outcome: 'succeeded' });
    expect(w.state.history).toEqual([
      expect.objectContaining({
        id: EXECUTION,
        kind: 'maintenance',
        outcome: 'succeeded',
        oldMaster: N1,
        newMaster: N2,
        writeGapMs: 300,
        trigger: 'alice: patching',
      }),
    ]);
    expect(w.notifier.published[0]).toMatchObject({ kind: 'maintenance', outcome: 'succeeded' });
    expect(w.notifier.published[0]?.summary).toContain('n2, n3, n1 done; switchover n1 -> n2');
  });
});

describe('recoverMaintenance', () => {
  it('records what was done, the node that failed and the ones not started, and checks writes', async () => {
    // Arrange
    const w = healthyWorld();
    const state = planned({
      phase: 'node',
      done: ['n2'],
      current: { node: R3, startedAt: START, actedAt: START },
      error: { Error: ERROR_NAMES.nodeNotBack, Cause: '{"errorMessage":"n3 is not back"}' },
    });

    // Act
    const result = await recoverMaintenance(w.cluster, state, w.deps);

    // Assert
    expect(result).toMatchObject({ phase: 'failed', outcome: 'failed' });
    const entry = w.state.history[0];
    expect(entry).toMatchObject({ id: EXECUTION, kind: 'maintenance', outcome: 'failed' });
    expect(entry?.error).toBe(
      'NodeNotBackError: n3 is not back; done: n2; failed at: n3; not started: switchover, n1',
    );
    expect(w.redis.canaryCalls.length).toBe(3);
    expect(result.timeline.at(-1)).toMatchObject({ step: 'writable', status: 'ok' });
    expect(w.notifier.published[0]?.summary).toContain('the cluster takes writes');
  });

  it('points a blocked proxy back at the master before it checks writes', async () => {
    // Arrange
    const w = healthyWorld();
    w.router.blocked.add('p1');
    const state = planned({
      phase: 'switchover',
      done: ['n2', 'n3'],
      error: { Error: ERROR_NAMES.promotion, Cause: 'every Sentinel refused' },
    });

    // Act
    await recoverMaintenance(w.cluster, state, w.deps);

    // Assert
    expect(w.router.calls).toEqual([{ proxy: 'p1', node: N1 }]);
    expect(w.state.history[0]?.error).toContain('done: n2, n3; failed at: switchover; not started: n1');
  });

  it('says the cluster may not take writes when no Sentinel majority names a master', async () => {
    // Arrange
    const w = healthyWorld();
    w.sentinels.answersNow = ['down', 'down', 'down'];

    // Act
    const result = await recoverMaintenance(w.cluster, planned({ error: { Error: 'X' } }), w.deps);

    // Assert
    expect(result.outcome).toBe('failed');
    expect(w.notifier.published[0]?.summary).toContain('may NOT take writes');
  });
});

describe('makeMaintenanceStepHandler', () => {
  it('rejects an unknown action with InvalidInputError before it touches any port', async () => {
    // Arrange
    const touched: string[] = [];
    const w = healthyWorld();
    const handle = makeMaintenanceStepHandler(() => ({
      clusters: { get: () => w.cluster } as never,
      failover: untouchableDeps(touched),
    }));

    // Act
    const error = await rejectionOf(handle({ action: 'reboot-everything', state: planned() }));

    // Assert
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(touched).toEqual([]);
  });
});

describe('drain (drainHost)', () => {
  const n1 = formatEndpoint(N1);

  it('plans no node action, and moves the master off the drained node to a replica elsewhere', async () => {
    // Arrange
    const w = healthyWorld();

    // Act
    const state = await planMaintenance(w.cluster, maintenanceState({}, { drainHost: n1 }), w.deps);
    const next = await nextMaintenanceStep(w.cluster, state, w.deps);
    const switched = await switchoverForMaintenance(w.cluster, next, w.deps);
    const after = await nextMaintenanceStep(w.cluster, switched, w.deps);

    // Assert
    expect(state.plan).toEqual({ master: R1, replicas: [] });
    expect(state.timeline[0]?.detail).toBe(`drain ${n1}: the master n1 moves`);
    expect(next.phase).toBe('switchover');
    expect(switched.switchovers).toEqual([
      expect.objectContaining({ kind: 'switchover', from: 'n1', to: 'n2' }),
    ]);
    expect(after.phase).toBe('done');
    expect(w.nodeOps.runs.filter((r) => r.document === 'maintenance-action')).toEqual([]);
  });

  it('is done at once when the master is not on the drained host', async () => {
    // Arrange
    const w = healthyWorld();

    // Act
    const state = await planMaintenance(
      w.cluster,
      maintenanceState({}, { drainHost: formatEndpoint(N3) }),
      w.deps,
    );
    const next = await nextMaintenanceStep(w.cluster, state, w.deps);

    // Assert
    expect(next.phase).toBe('done');
    expect(w.router.calls).toEqual([]);
  });

  it('finds no target when every replica sits on the drained host, or is not a reachable replica', () => {
    // Arrange
    const node = (id: string, host: string, extra: Record<string, unknown> = {}) => ({
      id,
      address: { host, port: 6379 },
      isMaster: false,
      reachable: true,
      role: 'slave',
      ...extra,
    });
    const sameHost = [node('a', '10.0.0.1', { isMaster: true, role: 'master' }), node('b', '10.0.0.1')];
    const elsewhereDown = [...sameHost, node('c', '10.0.0.2', { reachable: false })];
    const elsewhere = [...elsewhereDown, node('d', '10.0.0.3')];

    // Act + Assert
    expect(drainTarget(sameHost, '10.0.0.1')).toBeUndefined();
    expect(drainTarget(elsewhereDown, '10.0.0.1')).toBeUndefined();
    expect(drainTarget(elsewhere, '10.0.0.1')?.id).toBe('d');
    expect(drainTarget(sameHost, '10.0.0.1:6379')).toBeUndefined(); // b is 10.0.0.1:6379 as well
    expect(onHost({ host: '10.0.0.1', port: 6380 }, '10.0.0.1:6379')).toBe(false);
  });
});
