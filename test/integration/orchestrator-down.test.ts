import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { descriptorPath, writeDescriptor } from '../../config/local-descriptor.ts';
import { type Endpoint, formatEndpoint, sameEndpoint } from '../../core/model/cluster.ts';
import { startNode } from '../../local/cluster-processes.ts';
import { spawnOrchestrator } from '../../local/launch-phases.ts';
import { countLost, WriteLoad } from '../../local/load.ts';
import { stopProcess, waitUntil } from '../../local/processes.ts';
import { sentinelMajority, startTestCluster, type TestCluster } from './cluster.ts';

/**
 * The orchestrator is down during a failover and comes back after the old master restarted (the way
 * OT-CONTAINER-KIT/redis-operator #513 lost data): stop the orchestrator, kill -9 the master, let Sentinel fail
 * over, restart the old master while the orchestrator is still down, then start the orchestrator.
 */
describe('the orchestrator down during a failover, back after the old master restarted (real processes)', () => {
  let t: TestCluster;
  const router = new HaproxyRouter();
  const loads: WriteLoad[] = [];
  let oldMaster: Endpoint;
  let newMaster: { master: Endpoint; epoch: number };
  let restartedAt = 0;
  let orchestratorBackAt = 0;

  /** Writers through both proxies and through Sentinel; `ackReplicas` 1: a write counts once a replica has it. */
  const startWriters = (ackReplicas: number, keyPrefix: string): WriteLoad[] => {
    const [p1, p2] = t.d.proxies;
    if (!p1 || !p2) throw new Error('expected two proxies');
    const started = [
      new WriteLoad({
        target: { kind: 'direct', endpoint: { host: p1.host, port: p1.plainPort } },
        password: t.password,
        writers: 2,
        ackReplicas,
        keyPrefix: `${keyPrefix}-p1`,
      }),
      new WriteLoad({
        target: { kind: 'direct', endpoint: { host: p2.host, port: p2.tlsPort }, tlsCa: t.ca },
        password: t.password,
        writers: 2,
        ackReplicas,
        keyPrefix: `${keyPrefix}-p2`,
      }),
      new WriteLoad({
        target: { kind: 'sentinel', sentinels: t.cluster.sentinels, masterName: t.d.masterName },
        password: t.password,
        writers: 1,
        ackReplicas,
        keyPrefix: `${keyPrefix}-sentinel`,
      }),
    ];
    for (const l of started) l.start();
    loads.push(...started);
    return started;
  };

  beforeAll(async () => {
    // down-after 2000: at 1000 a loaded machine sees Sentinel fail over a second time now and then.
    t = await startTestCluster({ downAfterMs: 2000 });
  });
  afterAll(async () => {
    await Promise.all(loads.map((l) => l.stop()));
    await t?.down();
  });

  it('loses no acknowledged write, acts on the present state only, and never routes to the old master', async () => {
    // Arrange: durable writers (WAIT 1) before anything happens.
    const durable = startWriters(1, 'wait1');
    await Promise.all(durable.map((l) => l.waitForAcks(50, 20_000)));
    oldMaster = await t.soleMaster();
    const before = await sentinelMajority(t);
    const o = t.d.orchestrator;
    const oldNode = t.d.nodes.find((n) => sameEndpoint(n, oldMaster));
    if (!o || !oldNode || !before)
      throw new Error('expected an orchestrator, the master node and a majority');

    // Act 1: the orchestrator stops; the master is killed; Sentinel fails over on its own.
    await stopProcess(o.pid, (c) => c.includes('orchestrator.ts'));
    process.kill(oldNode.pid, 'SIGKILL');
    await waitUntil(
      async () => {
        const now = await sentinelMajority(t).catch(() => undefined);
        if (!now || now.epoch <= before.epoch || sameEndpoint(now.master, oldMaster)) return false;
        newMaster = now;
        return (await t.role(now.master).catch(() => '')) === 'master';
      },
      30_000,
      'Sentinel to fail over without the orchestrator',
    );

    // Act 2: the old master restarts while the orchestrator is still down (from its own config: a master with
    // its data); plain writers (a SET's reply is the ack) start through the proxies, which still route to it.
    await startNode({ name: t.name, root: t.root }, oldNode.id);
    restartedAt = Date.now();
    const plain = startWriters(0, 'plain');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (const p of t.cluster.proxies) {
      // Nothing rerouted them: the orchestrator is down.
      expect((await router.masterRoute(p)).address).toEqual(oldMaster);
    }

    // Act 3: the orchestrator starts again.
    await rm(o.readyFile, { force: true });
    orchestratorBackAt = Date.now();
    await spawnOrchestrator([descriptorPath(t.name, t.root)], o, async (pid) => {
      o.pid = pid;
      await writeDescriptor(descriptorPath(t.name, t.root), t.d);
    });
    // Every proxy on the master a majority of the Sentinels names now: on a loaded machine Sentinel may fail over
    // once more meanwhile, and the orchestrator must follow the present state, whatever it is.
    // Each proxy's routes in the order seen: a proxy rerouted one poll before the other must not read as a route back.
    const routes: string[][] = t.cluster.proxies.map(() => []);
    const record = (now: ({ address: Endpoint } | undefined)[]): void => {
      now.forEach((r, i) => {
        routes[i]?.push(r ? formatEndpoint(r.address) : 'none');
      });
    };
    let present: { master: Endpoint; epoch: number } | undefined;
    let last: unknown[] = [];
    await waitUntil(
      async () => {
        present = await sentinelMajority(t).catch(() => undefined);
        const now = await Promise.all(
          t.cluster.proxies.map((p) => router.masterRoute(p).catch(() => undefined)),
        );
        last = now;
        record(now);
        const master = present?.master;
        return (
          master !== undefined && now.every((r) => r?.state === 'ready' && sameEndpoint(r.address, master))
        );
      },
      30_000,
      'the orchestrator to route every proxy to the master the Sentinels name',
      50,
    ).catch(async (error: unknown) => {
      const history = (await t.history()).map((e) => `${e.kind}@${e.epoch} ${e.outcome} ${e.error ?? ''}`);
      throw new Error(
        `${String(error)}; the Sentinels name ${JSON.stringify(present)} (first new master ${JSON.stringify(newMaster)}); routes ${JSON.stringify(last)}; history ${JSON.stringify(history)}`,
      );
    });
    const final = present as { master: Endpoint; epoch: number };
    console.info(
      `orchestrator down: every proxy on the new master ${Date.now() - orchestratorBackAt} ms after the orchestrator was started (its start included)`,
    );
    // Then the routes hold: nothing points them back at the old master.
    for (let i = 0; i < 20; i += 1) {
      const now = await Promise.all(t.cluster.proxies.map((p) => router.masterRoute(p)));
      record(now);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    // Assert: no acknowledged write lost, the durable ones and the plain ones acked after the restart.
    const reports = await Promise.all([...durable, ...plain].map((l) => l.stop()));
    const master = await t.soleMaster();
    expect(master).toEqual(final.master);
    const acked = reports.flatMap((r) => r.ackedKeys);
    expect(reports.slice(0, durable.length).reduce((n, r) => n + r.acked, 0)).toBeGreaterThan(100);
    expect(await countLost(master, t.password, acked)).toEqual([]);
    // The old master is a replica of the new one, and took no write while the proxies still routed to it.
    expect(await t.role(oldMaster)).toBe('slave');
    // (the Sentinel-aware writer wrote to the new master all along: only the proxies' writers are the question)
    const throughProxies = reports.slice(durable.length, durable.length + 2).flatMap((r) => r.ackedAt);
    expect(throughProxies.length).toBeGreaterThan(0);
    expect(throughProxies.filter((at) => at < orchestratorBackAt)).toEqual([]);
    // The orchestrator acted on the present state: failover entries for the Sentinels' epochs only (one, unless
    // Sentinel failed over again meanwhile), the last to the final master; none to the old master; the routes
    // went from the old master to the new ones only.
    const entries = (await t.history())
      .filter((e) => e.startedAt >= orchestratorBackAt)
      .sort((a, b) => (a.epoch ?? 0) - (b.epoch ?? 0));
    expect(entries.map((e) => e.kind)).toEqual(entries.map(() => 'failover'));
    expect(entries.at(-1)).toMatchObject({ epoch: final.epoch, newMaster: final.master });
    expect(entries.filter((e) => e.newMaster && sameEndpoint(e.newMaster, oldMaster))).toEqual([]);
    expect(entries.length).toBeLessThanOrEqual(final.epoch - newMaster.epoch + 1);
    for (const seen of routes) {
      const firstNew = seen.findIndex((r) => r !== formatEndpoint(oldMaster) && r !== 'none');
      expect(firstNew).toBeGreaterThanOrEqual(0);
      expect(seen.slice(firstNew).filter((r) => r === formatEndpoint(oldMaster))).toEqual([]);
    }
    expect(restartedAt).toBeLessThan(orchestratorBackAt);
  });
});
