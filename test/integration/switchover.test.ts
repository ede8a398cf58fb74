import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { IoredisNodes } from '../../adapters/redis/redis-nodes.ts';
import { type Endpoint, sameEndpoint } from '../../core/model/cluster.ts';
import type { CorePorts, Logger } from '../../core/ports.ts';
import { SWITCHOVER_TIMING } from '../../core/switchover/steps.ts';
import { runLocalSwitchover } from '../../local/switchover-runner.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';
import { startLoads, stopAndCountLost, writableThroughProxies } from './writes.ts';

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

describe('planned switchover through the local Step Functions workflow (real processes)', () => {
  let t: TestCluster | undefined;
  afterEach(async () => {
    await t?.down();
    t = undefined;
  });

  it('moves the master under load with no acknowledged write lost, and fences the old master', async () => {
    // Arrange
    t = await startTestCluster();
    const cluster = t;
    const oldMaster = await t.soleMaster();
    const loads = startLoads(t);
    await Promise.all(loads.map((l) => l.waitForAcks(100)));

    // Act
    const result = await runLocalSwitchover(
      t.d,
      { target: 'redis-2', reason: 'test', requestedBy: 'test' },
      { logger: silent },
    );

    // Assert
    expect(result.status).toBe('SUCCEEDED');
    expect(result.state?.outcome).toBe('succeeded');
    const { lost, acked } = await stopAndCountLost(t, loads);
    expect(acked).toBeGreaterThan(300);
    expect(lost).toEqual([]);
    const newMaster = await t.soleMaster();
    expect(newMaster).toEqual({ host: t.cluster.nodes[1]?.host, port: t.cluster.nodes[1]?.port });
    const nodes = new IoredisNodes(t.connections);
    const old = await nodes.replication(oldMaster, 1000);
    expect(old.role).toBe('slave');
    expect(old.master).toEqual(newMaster);
    expect(await nodes.probeWrite(oldMaster, 1000)).toBe('readonly');
    const history = (await t.history()).find((e) => e.kind === 'switchover');
    expect(history?.outcome).toBe('succeeded');
    expect(history?.writeGapMs).toBeGreaterThan(0);
    expect(history?.timeline.map((s) => s.step)).toEqual(
      expect.arrayContaining([
        'writes-blocked',
        'caught-up',
        'failover-started',
        'promoted',
        'rerouted',
        'fenced',
        'verified',
      ]),
    );
    // Sentinel's leader selects the target one tick before it sends REPLICAOF NO ONE (10-19 ticks a second);
    // the switchover polls every few ms, sees the selection first and promotes the target itself. On a busy
    // machine it may see the selection too late (over selectionFreshMs), or not before the promotion, and
    // Sentinel's own command promotes: the detail must then say so, with an age over the limit (or, should
    // ha-redis's own command fail, with its error).
    const promoted = history?.timeline.find((s) => s.step === 'promoted')?.detail ?? '';
    const late =
      /^by Sentinel \(\S+\); its selection of redis-2 was (?:seen up to|not seen within) (\d+) ms/.exec(
        promoted,
      );
    if (late) expect(Number(late[1])).toBeGreaterThan(SWITCHOVER_TIMING.selectionFreshMs);
    else
      expect(promoted).toMatch(
        /^by ha-redis, once \S+ selected it$|^by Sentinel \(\S+\); its REPLICAOF NO ONE, once \S+ selected it, failed: /,
      );
    expect(await t.state.lease(t.name)).toBeUndefined();
    const applied = await t.state.appliedEpoch(t.name);
    expect(applied?.master).toEqual(newMaster);
    expect(applied?.status).toBe('done');
    for (const p of t.d.proxies) {
      expect(await readFile(p.configPath, 'utf8')).toContain(
        `server master ${newMaster.host}:${newMaster.port}`,
      );
    }
    await writableThroughProxies(cluster);
  });

  it('changes nothing on a dry run, and refuses an unknown target or the master itself', async () => {
    // Arrange
    t = await startTestCluster();
    const router = new HaproxyRouter();
    const nodes = new IoredisNodes(t.connections);
    const snapshot = async (c: TestCluster) => ({
      roles: await Promise.all(c.cluster.nodes.map((n) => nodes.role(n, 1000))),
      routes: await Promise.all(c.cluster.proxies.map((p) => router.masterRoute(p))),
      priorities: await Promise.all(c.cluster.nodes.map((n) => nodes.replicaPriority(n, 1000))),
      lease: await c.state.lease(c.name),
    });
    const before = await snapshot(t);

    // Act
    const dry = await runLocalSwitchover(t.d, { dryRun: true }, { logger: silent });
    const unknown = await runLocalSwitchover(t.d, { target: 'redis-9' }, { logger: silent });
    const master = await runLocalSwitchover(t.d, { target: 'redis-1' }, { logger: silent });

    // Assert
    expect(dry.status).toBe('SUCCEEDED');
    expect(dry.state?.outcome).toBe('planned');
    expect(dry.state?.plan?.target.id).toMatch(/^redis-[23]$/);
    expect(dry.state?.plan?.expectedWriteGapMs).toBeGreaterThan(0);
    expect(unknown.status).toBe('FAILED');
    expect(unknown.cause).toContain("unknown target 'redis-9'");
    expect(master.status).toBe('FAILED');
    expect(master.cause).toContain('redis-1 is the master already');
    expect(await snapshot(t)).toEqual(before);
  });

  it('refuses a switchover while another one holds the cluster', async () => {
    t = await startTestCluster();
    const now = Date.now();
    await t.state.takeLease(
      t.name,
      { owner: 'other-switchover', purpose: 'switchover', until: now + 60_000 },
      now,
    );
    const result = await runLocalSwitchover(t.d, {}, { logger: silent });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('LeaseHeldError');
    expect(result.cause).toContain('other-switchover holds cluster');
    expect((await t.state.lease(t.name))?.owner).toBe('other-switchover');
    expect(await t.soleMaster()).toEqual({ host: t.cluster.nodes[0]?.host, port: t.cluster.nodes[0]?.port });
  });

  const failures: [
    string,
    (deps: CorePorts, t: TestCluster) => CorePorts,
    'rolled-back' | 'completed-forward',
  ][] = [
    [
      'the target never catches up',
      (deps, t) => ({
        ...deps,
        redis: Object.assign(Object.create(deps.redis), {
          replication: async (node: Endpoint, ms: number) => {
            const info = await deps.redis.replication(node, ms);
            return sameEndpoint(node, t.cluster.nodes[1]) && info.role === 'slave'
              ? { ...info, offset: 0 }
              : info;
          },
        }),
      }),
      'rolled-back',
    ],
    [
      'every Sentinel refuses the failover',
      (deps) => ({
        ...deps,
        sentinels: Object.assign(Object.create(deps.sentinels), {
          failover: async () => 'NOGOODSLAVE No suitable replica to promote',
        }),
      }),
      'rolled-back',
    ],
    [
      'the promotion is never seen',
      (deps, t) => ({
        ...deps,
        redis: Object.assign(Object.create(deps.redis), {
          role: async (node: Endpoint, ms: number) => {
            const role = await deps.redis.role(node, ms);
            return sameEndpoint(node, t.cluster.nodes[1]) && new Error().stack?.includes('switchMaster')
              ? 'slave'
              : role;
          },
          // Its own REPLICAOF NO ONE, once Sentinel selected the target, is not seen either.
          promoteSelected: async () => {
            throw new Error('REPLICAOF NO ONE: no answer (injected)');
          },
        }),
      }),
      'completed-forward',
    ],
    [
      'a proxy does not answer at the reroute',
      (deps) => {
        let refusals = 1;
        return {
          ...deps,
          router: Object.assign(Object.create(deps.router), {
            pointMasterAt: async (proxy: { id: string }, node: Endpoint) => {
              if (proxy.id === 'proxy-2' && refusals > 0) {
                refusals -= 1;
                throw new Error('Runtime API proxy-2: connect ECONNREFUSED');
              }
              return deps.router.pointMasterAt(proxy as never, node);
            },
          }),
        };
      },
      'completed-forward',
    ],
    [
      'the verification after the switch fails',
      (deps) => ({
        ...deps,
        redis: Object.assign(Object.create(deps.redis), {
          canaryThroughProxy: async () => {
            throw new Error('canary injected failure');
          },
        }),
      }),
      'completed-forward',
    ],
  ];

  it.each(failures)(
    'leaves the cluster writable with nothing lost when %s',
    async (_name, inject, expected) => {
      // Arrange: down-after 5000, so that no real failover interferes with the injected one.
      t = await startTestCluster({ downAfterMs: 5000 });
      const cluster = t;
      const loads = startLoads(t);
      await Promise.all(loads.map((l) => l.waitForAcks(100)));

      // Act
      const result = await runLocalSwitchover(
        t.d,
        { target: 'redis-2' },
        { logger: silent, wrapDeps: (d) => inject(d, cluster) },
      );

      // Assert
      expect(result.status).toBe('FAILED');
      expect(result.state?.outcome).toBe(expected);
      const { lost } = await stopAndCountLost(t, loads);
      expect(lost).toEqual([]);
      await writableThroughProxies(cluster);
      expect(await t.state.lease(t.name)).toBeUndefined();
      const entry = (await t.history()).find((e) => e.kind === 'switchover');
      expect(entry?.outcome).toBe('failed');
      expect(entry?.timeline.find((s) => s.step === 'recovered')?.detail).toBe(expected);
      const priorities = await Promise.all(
        t.cluster.nodes.map((n) => new IoredisNodes(t?.connections as never).replicaPriority(n, 1000)),
      );
      expect(priorities).toEqual([100, 100, 100]);
    },
  );
});

describe('the periodic reconcile as a safety net', () => {
  it('unblocks proxies left in maint by a switchover that died in its critical section', async () => {
    // Arrange: what a crash between "block" and "reroute" leaves behind, with no lease held.
    const t = await startTestCluster();
    try {
      const router = new HaproxyRouter();
      for (const p of t.cluster.proxies) await router.blockMaster(p);
      expect((await router.masterRoute(t.cluster.proxies[0] as never)).state).toBe('maint');

      // Act: the orchestrator's reconcile runs every 5 s.
      const deadline = Date.now() + 15_000;
      let states: string[] = [];
      while (Date.now() < deadline) {
        states = await Promise.all(t.cluster.proxies.map(async (p) => (await router.masterRoute(p)).state));
        if (states.every((s) => s === 'ready')) break;
        await new Promise((r) => setTimeout(r, 200));
      }

      // Assert
      expect(states).toEqual(['ready', 'ready']);
      await writableThroughProxies(t);
    } finally {
      await t.down();
    }
  });
});
