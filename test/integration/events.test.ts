import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { toSnsEvent } from '../../adapters/host/bus.ts';
import { readZone } from '../../adapters/host/zone-file-dns.ts';
import { composeLocal, type LocalRuntime } from '../../compose/local.ts';
import { FAILOVER_TRIGGERS } from '../../core/failover/handle-event.ts';
import { ClusterRegistry, type Endpoint, type ProxyConfig, sameEndpoint } from '../../core/model/cluster.ts';
import type { Logger, Router } from '../../core/ports.ts';
import { SentinelBridge } from '../../events/bridge/bridge.ts';
import { SENTINEL_EVENT_CONTRACT, type SentinelEnvelope } from '../../events/sentinel-events.ts';
import { makeSentinelEventHandler, type RecordOutcome } from '../../functions/sentinel-event/handler.ts';
import { stopProcess, waitUntil } from '../../local/processes.ts';
import { sentinelFailover, startTestCluster, type TestCluster } from './cluster.ts';

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

/** The items in an order drawn from `seed` (mulberry32): out of order, and the same order on every run. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const random = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** The channel of the first event in `order` that calls for a failover reaction. */
const firstTriggerIn = (order: readonly SentinelEnvelope[]): string | undefined =>
  order.find((e) => [...FAILOVER_TRIGGERS].some((type) => type === e.channel))?.channel;

/** The reactions that acted (trigger, epoch), in the order they ran. */
const reactionsOf = (outcomes: readonly RecordOutcome[]) =>
  outcomes.flatMap((o) => (o.action === 'failed-over' ? [[o.entry.trigger, o.entry.epoch]] : []));

/** Each reaction's outcome and error, for the message of a failed assertion (a partial one is retried). */
const reactionNotes = (outcomes: readonly RecordOutcome[]): string =>
  outcomes
    .flatMap((o) =>
      o.action === 'failed-over' ? [`${o.entry.outcome}${o.entry.error ? `: ${o.entry.error}` : ''}`] : [],
    )
    .join(' | ');

/** Every envelope 3 times, as at-least-once delivery (SNS, then Lambda's own retries) may hand it over. */
const thrice = (events: readonly SentinelEnvelope[]) => events.flatMap((e) => [e, e, e]);

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
  /** Deliver every envelope at once; the handler takes them in this order (one reaction at a time per cluster). */
  const deliverAll = async (events: readonly SentinelEnvelope[]) =>
    (await Promise.all(events.map(deliver))).flat();

  /** What the bridges of the three Sentinels published, as they would publish it to SNS. */
  const published: SentinelEnvelope[] = [];
  let bridges: SentinelBridge[] = [];

  /** A real failover after `afterEpoch`, with every event the three Sentinels published for it. */
  async function capturedFailover(
    afterEpoch: number,
  ): Promise<{ master: Endpoint; epoch: number; events: SentinelEnvelope[] }> {
    published.length = 0;
    const agreed = await sentinelFailover(t, afterEpoch);
    await waitUntil(
      async () =>
        t.cluster.sentinels.every((s) =>
          published.some((e) => e.channel === '+switch-master' && sameEndpoint(e.sentinel, s)),
        ) && [...FAILOVER_TRIGGERS].every((type) => published.some((e) => e.channel === type)),
      20_000,
      'every Sentinel to publish +switch-master, and the leader every promotion event',
    );
    return { ...agreed, events: [...published] };
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
    bridges = t.cluster.sentinels.map(
      (sentinel) =>
        new SentinelBridge({
          cluster: t.name,
          sentinel,
          password: t.password,
          publisher: { publish: async (e) => void published.push(e) },
          logger: silent,
        }),
    );
    await Promise.all(bridges.map((b) => b.start()));
  });
  afterAll(async () => {
    await Promise.all(bridges.map((b) => b.stop()));
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

  it('turns every failover event of two real failovers, each delivered 3 times in shuffled order and the older epoch last, into exactly one reroute per epoch', async () => {
    // Arrange: the first failover, with every event its Sentinels published, as the bridges forward them.
    const calls = router.calls.length;
    const first = await capturedFailover((await t.state.appliedEpoch(t.name))?.epoch ?? 0);

    // Act 1: each of its events 3 times (SNS and Lambda deliver at least once), in shuffled order, at once.
    const order1 = shuffled(thrice(first.events), 1);
    const outcomes1 = await deliverAll(order1);

    // Assert 1: one reaction, to the first failover event delivered; one reroute of each proxy, to the new master.
    expect(outcomes1.filter((o) => o.action === 'rejected')).toEqual([]);
    expect(reactionsOf(outcomes1), reactionNotes(outcomes1)).toEqual([[firstTriggerIn(order1), first.epoch]]);
    expect(
      router.calls
        .slice(calls)
        .map((c) => c.proxy)
        .sort(),
    ).toEqual(['proxy-1', 'proxy-2']);
    expect(router.calls.slice(calls).every((c) => sameEndpoint(c.node, first.master))).toBe(true);

    // Act 2: a second failover; its events 3 times, shuffled; then the first failover's events again, last.
    const second = await capturedFailover(first.epoch);
    const order2 = shuffled(thrice(second.events), 2);
    const outcomes2 = await deliverAll(order2);
    const stale = await deliverAll(shuffled(thrice(first.events), 3));

    // Assert 2: one more reroute, to the newest master; the older epoch moved nothing back.
    expect(reactionsOf(outcomes2), reactionNotes(outcomes2)).toEqual([
      [firstTriggerIn(order2), second.epoch],
    ]);
    expect(reactionsOf(stale)).toEqual([]);
    expect(stale.filter((o) => o.action === 'rejected')).toEqual([]);
    expect(router.calls.slice(calls)).toHaveLength(4);
    expect(router.calls.slice(calls + 2).every((c) => sameEndpoint(c.node, second.master))).toBe(true);
    for (const p of runtime.cluster.proxies) {
      expect(await router.masterRoute(p)).toEqual({ address: second.master, state: 'ready' });
    }
    expect(readZone(await readFile(t.d.dns.file, 'utf8'))).toEqual({
      epoch: second.epoch,
      master: second.master,
    });
    const failovers = (await t.history()).filter((e) => e.kind === 'failover' && (e.epoch ?? 0) > 0);
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
