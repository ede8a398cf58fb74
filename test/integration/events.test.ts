import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { toSnsEvent } from '../../adapters/local/bus.ts';
import { readZone } from '../../adapters/local/zone-file-dns.ts';
import { composeLocal, type LocalRuntime } from '../../compose/local.ts';
import { SENTINEL_EVENT_CONTRACT, type SentinelEnvelope } from '../../events/sentinel-events.ts';
import { ClusterRegistry, type Endpoint, type ProxyConfig } from '../../functions/core/cluster.ts';
import { decideMajority, observeSentinels } from '../../functions/core/confirm.ts';
import type { Logger, Router } from '../../functions/core/ports.ts';
import { makeSentinelEventHandler } from '../../functions/sentinel-event/handler.ts';
import { stopProcess, waitUntil } from '../../local/processes.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** The real HAProxy router, counting every reroute. */
class CountingRouter implements Router {
  readonly calls: { proxy: string; node: Endpoint }[] = [];
  private readonly inner = new HaproxyRouter();
  async pointMasterAt(proxy: ProxyConfig, node: Endpoint): Promise<void> {
    this.calls.push({ proxy: proxy.id, node });
    await this.inner.pointMasterAt(proxy, node);
  }
  blockMaster(proxy: ProxyConfig) {
    return this.inner.blockMaster(proxy);
  }
  masterRoute(proxy: ProxyConfig) {
    return this.inner.masterRoute(proxy);
  }
}

describe('Sentinel events delivered to the handler (real cluster, handler in this process)', () => {
  let t: TestCluster;
  let runtime: LocalRuntime;
  let router: CountingRouter;
  let handle: ReturnType<typeof makeSentinelEventHandler>;

  const envelope = (sentinel: Endpoint, channel: string, payload: string): SentinelEnvelope => ({
    contract: SENTINEL_EVENT_CONTRACT.name,
    version: SENTINEL_EVENT_CONTRACT.version,
    cluster: t.name,
    sentinel,
    channel,
    payload,
    seenAt: Date.now(),
  });
  const switchMaster = (from: Endpoint, to: Endpoint, sentinelIndex = 0) =>
    envelope(
      t.cluster.sentinels[sentinelIndex] as Endpoint,
      '+switch-master',
      `${t.d.masterName} ${from.host} ${from.port} ${to.host} ${to.port}`,
    );
  const deliver = (e: SentinelEnvelope) => handle(toSnsEvent(JSON.stringify(e)));

  /** Force a failover through Sentinel and wait until a majority names a master at a newer epoch. */
  async function sentinelFailover(afterEpoch: number): Promise<{ master: Endpoint; epoch: number }> {
    const s1 = t.cluster.sentinels[0] as Endpoint;
    await waitUntil(
      async () => {
        const answer = await t.connections
          .run('sentinel', s1, 2000, (c) => c.call('SENTINEL', 'FAILOVER', t.d.masterName))
          .catch((e: Error) => e.message);
        return answer === 'OK';
      },
      20_000,
      'SENTINEL FAILOVER to be accepted',
      200,
    );
    let agreed: { master: Endpoint; epoch: number } | undefined;
    await waitUntil(
      async () => {
        const decision = decideMajority(await observeSentinels(t.cluster, runtime.deps.sentinels), 3);
        agreed = decision.agreed;
        return (
          agreed !== undefined && agreed.epoch > afterEpoch && (await t.role(agreed.master)) === 'master'
        );
      },
      20_000,
      'a majority to agree on the new master',
    );
    return agreed as { master: Endpoint; epoch: number };
  }

  beforeAll(async () => {
    t = await startTestCluster({ downAfterMs: 1000 });
    // This test is the only reactor: stop the background orchestrator (it adopted epoch 0 already).
    const o = t.d.orchestrator;
    if (o) await stopProcess(o.pid, (c) => c.includes('orchestrator.ts'));
    runtime = composeLocal(t.d, silent, { confirmDeadlineMs: 5000 });
    router = new CountingRouter();
    const failover = { ...runtime.deps, router };
    handle = makeSentinelEventHandler(() => ({ clusters: new ClusterRegistry([runtime.cluster]), failover }));
  });
  afterAll(async () => {
    await runtime?.close();
    await t?.down();
  });

  it('ignores a single Sentinel that reports a different master', async () => {
    // Arrange: sentinel-3 alone monitors a replica as if it were the master.
    const s3 = t.cluster.sentinels[2] as Endpoint;
    const replica = t.cluster.nodes[1] as Endpoint;
    const master = { host: t.cluster.nodes[0]?.host, port: t.cluster.nodes[0]?.port } as Endpoint;
    await t.connections.run('sentinel', s3, 2000, async (c) => {
      await c.call('SENTINEL', 'REMOVE', t.d.masterName);
      await c.call('SENTINEL', 'MONITOR', t.d.masterName, replica.host, String(replica.port), '2');
      await c.call('SENTINEL', 'SET', t.d.masterName, 'auth-pass', t.password);
    });
    const before = (await t.history()).length;

    // Act: that Sentinel's +switch-master reaches the handler.
    const [outcome] = await deliver(switchMaster(master, replica, 2));

    // Assert: no reroute, no history, routing unchanged.
    expect(outcome?.action).toBe('current');
    expect(router.calls).toEqual([]);
    expect((await t.history()).length).toBe(before);
    for (const p of runtime.cluster.proxies) expect((await router.masterRoute(p)).address).toEqual(master);

    // Restore sentinel-3 to the real master for the next tests.
    await t.connections.run('sentinel', s3, 2000, async (c) => {
      await c.call('SENTINEL', 'REMOVE', t.d.masterName);
      await c.call('SENTINEL', 'MONITOR', t.d.masterName, master.host, String(master.port), '2');
      await c.call('SENTINEL', 'SET', t.d.masterName, 'auth-pass', t.password);
      await c.call('SENTINEL', 'SET', t.d.masterName, 'down-after-milliseconds', '1000');
    });
  });

  it('turns the same +switch-master delivered 3 times, and an older one delivered last, into exactly one reroute per epoch', async () => {
    // Arrange: two real failovers, epoch 1 and then epoch 2.
    const m0 = { host: t.cluster.nodes[0]?.host, port: t.cluster.nodes[0]?.port } as Endpoint;
    const first = await sentinelFailover(0);
    const firstEvent = switchMaster(m0, first.master, 0);

    // Act 1: the epoch-1 event, three times at once (one per Sentinel, as Sentinel publishes it).
    const outcomes1 = (
      await Promise.all([
        deliver(firstEvent),
        deliver(switchMaster(m0, first.master, 1)),
        deliver(switchMaster(m0, first.master, 2)),
      ])
    ).flat();

    // Assert 1: one reaction, one reroute of each proxy.
    expect(outcomes1.map((o) => o.action).sort()).toEqual(['current', 'current', 'failed-over']);
    expect(router.calls.map((c) => c.proxy).sort()).toEqual(['proxy-1', 'proxy-2']);
    expect(router.calls.every((c) => c.node.port === first.master.port)).toBe(true);

    // Act 2: a second failover, its event, then the old epoch-1 event once more, last.
    const second = await sentinelFailover(first.epoch);
    const [outcome2] = await deliver(switchMaster(first.master, second.master, 1));
    const [stale] = await deliver(firstEvent);

    // Assert 2: one more reroute, to the newest master; nothing moved back.
    expect(outcome2?.action).toBe('failed-over');
    expect(stale?.action).toBe('current');
    expect(router.calls).toHaveLength(4);
    expect(router.calls.slice(2).every((c) => c.node.port === second.master.port)).toBe(true);
    for (const p of runtime.cluster.proxies)
      expect((await router.masterRoute(p)).address).toEqual(second.master);
    expect(readZone(await readFile(t.d.dns.file, 'utf8'))).toEqual({
      epoch: second.epoch,
      master: second.master,
    });
    const failovers = (await t.history()).filter((e) => e.kind === 'failover' && (e.epoch ?? 0) >= 1);
    expect(failovers.map((e) => e.epoch).sort()).toEqual([first.epoch, second.epoch]);
    expect((await t.state.appliedEpoch(t.name))?.epoch).toBe(second.epoch);
  });

  it('rejects a malformed message and an unknown cluster without acting', async () => {
    const calls = router.calls.length;
    const bad = await handle(toSnsEvent('{"contract":"sentinel-event","version":1}'));
    const unknown = await deliver({
      ...switchMaster(t.d.nodes[0] as Endpoint, t.d.nodes[1] as Endpoint),
      cluster: 'nope',
    });
    const garbage = await deliver(
      envelope(t.cluster.sentinels[0] as Endpoint, '+switch-master', 'only three words'),
    );
    expect(bad[0]).toMatchObject({ action: 'rejected' });
    expect(unknown[0]).toMatchObject({
      action: 'rejected',
      error: expect.stringContaining("unknown cluster 'nope'"),
    });
    expect(garbage[0]).toMatchObject({
      action: 'rejected',
      error: expect.stringContaining('malformed +switch-master'),
    });
    expect(router.calls.length).toBe(calls);
  });
});
