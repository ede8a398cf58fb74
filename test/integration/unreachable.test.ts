import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { IoredisNodes } from '../../adapters/redis/redis-nodes.ts';
import { type Endpoint, sameEndpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import { startNode } from '../../local/launcher.ts';
import { commandLine, startDetached, waitForPort, waitUntil } from '../../local/processes.ts';
import {
  sentinelFailover,
  sentinelMajority,
  startTestCluster,
  type TestCluster,
  waitForHistory,
} from './cluster.ts';
import { writableThroughProxies } from './writes.ts';

/** kill -9 a process and wait until it is gone. */
async function kill9(pid: number, what: string): Promise<void> {
  process.kill(pid, 'SIGKILL');
  await waitUntil(async () => !(await commandLine(pid)), 5000, `${what} to die`);
}

describe('the failover reaction when a component does not answer (real processes, the local orchestrator)', () => {
  let t: TestCluster;
  const router = new HaproxyRouter();
  const nodes = () => new IoredisNodes(t.connections);

  /** A failover asked of `sentinel`, after the epoch a majority names now. */
  const failover = async (sentinel: Endpoint) =>
    sentinelFailover(t, (await sentinelMajority(t))?.epoch ?? 0, sentinel);

  /** The orchestrator's failover entry of `epoch` whose outcome is `outcome`. */
  const reactionTo = (epoch: number, outcome: HistoryEntry['outcome']) =>
    waitForHistory(t, (e) => e.kind === 'failover' && e.epoch === epoch && e.outcome === outcome);

  /** The notifications the orchestrator wrote, as JSON documents. */
  async function notifications(): Promise<{ kind: string; outcome: string; summary: string }[]> {
    const path = t.d.orchestrator?.notificationsPath;
    if (!path) throw new Error('the test cluster has no orchestrator');
    const text = await readFile(path, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { kind: string; outcome: string; summary: string });
  }

  beforeAll(async () => {
    t = await startTestCluster({ downAfterMs: 1000 });
  });
  afterAll(async () => {
    await t?.down();
  });

  it('confirms through the majority when a Sentinel is down, and reroutes, fences and verifies', async () => {
    // Arrange: sentinel-3 is gone.
    const [s1, , s3] = t.d.sentinels;
    if (!s1 || !s3) throw new Error('expected three Sentinels');
    const oldMaster = await t.soleMaster();
    await kill9(s3.pid, 'sentinel-3');

    // Act
    const agreed = await failover(s1);
    const entry = await reactionTo(agreed.epoch, 'succeeded');

    // Assert: confirmed by the two Sentinels that answer; every step done.
    expect(entry.timeline.find((s) => s.step === 'confirmed')?.detail).toMatch(/, 2 of 3 Sentinels \(/);
    expect(entry.timeline.every((s) => s.status === 'ok')).toBe(true);
    expect(entry.newMaster).toEqual(agreed.master);
    for (const p of t.cluster.proxies) {
      expect(await router.masterRoute(p)).toEqual({ address: agreed.master, state: 'ready' });
    }
    expect(await nodes().probeWrite(oldMaster, 1000)).toBe('readonly');
    await writableThroughProxies(t);

    // sentinel-3 back, for the next tests.
    await startNode({ name: t.name, root: t.root }, s3.id);
    await waitUntil(
      async () => sameEndpoint((await sentinelMajority(t))?.master ?? oldMaster, agreed.master),
      10_000,
      'sentinel-3 to answer again',
    );
  });

  it('reroutes the proxy that answers and fences; the one that is down is pending, and the reconcile points it and persists it once it is back', async () => {
    // Arrange: proxy-2's HAProxy is gone.
    const [s1] = t.d.sentinels;
    const [p1, p2] = t.d.proxies;
    const [proxy1, proxy2] = t.cluster.proxies;
    if (!s1 || !p1 || !p2 || !proxy1 || !proxy2) throw new Error('expected a Sentinel and two proxies');
    const oldMaster = await t.soleMaster();
    const told = (await notifications()).length;
    await kill9(Number((await readFile(p2.pidFile, 'utf8')).trim()), 'proxy-2');

    // Act
    const agreed = await failover(s1);
    const entry = await reactionTo(agreed.epoch, 'succeeded');

    // Assert: proxy-1 rerouted, the old master fenced, DNS moved; proxy-2 pending, not a failure.
    expect(entry.error).toBeUndefined();
    const steps = Object.fromEntries(entry.timeline.map((s) => [s.step, s.status]));
    expect(steps).toMatchObject({
      rerouted: 'ok',
      fenced: 'ok',
      'dns-updated': 'ok',
      'routing-persisted': 'ok',
      // Verified through proxy-1 only: a canary through the proxy the reroute missed could only fail.
      verified: 'ok',
    });
    expect(entry.timeline.find((s) => s.step === 'rerouted')?.detail).toMatch(
      /pending, did not answer: proxy-2/,
    );
    expect(entry.timeline.find((s) => s.step === 'routing-persisted')?.detail).toMatch(/proxy-2 pending/);
    expect(entry.timeline.find((s) => s.step === 'verified')?.detail).toMatch(
      /canaries landed on .*; not through proxy-2 \(not rerouted\)/,
    );
    expect(await router.masterRoute(proxy1)).toEqual({ address: agreed.master, state: 'ready' });
    expect(await nodes().probeWrite(oldMaster, 1000)).toBe('readonly');
    await new IoredisNodes(t.connections).canaryThroughProxy(proxy1, 'plain', agreed.master, 2000);
    // Done: no reconcile repeats the reaction while proxy-2 is down.
    expect((await t.state.appliedEpoch(t.name))?.status).toBe('done');
    // The history entry is written before the notification: wait for the notification, then name it.
    const toldIt = async () => (await notifications()).slice(told).some((n) => n.outcome === 'succeeded');
    await waitUntil(toldIt, 10_000, 'the outcome to be notified').catch(() => undefined);
    expect((await notifications()).slice(told)).toContainEqual(
      expect.objectContaining({ outcome: 'succeeded' }),
    );

    // Act 2: proxy-2 back, as its host would start it: with the routing it had persisted (the old master).
    startDetached('haproxy', ['-W', '-f', p2.configPath, '-p', p2.pidFile], p2.logPath);
    await waitForPort(p2.plainPort, 10_000, 'proxy-2');

    // Assert 2: the reconcile points it at the new master, and persists that in its config; no new entry.
    const routed = async () => {
      const route = await router.masterRoute(proxy2).catch(() => undefined);
      return route?.state === 'ready' && sameEndpoint(route.address, agreed.master);
    };
    await waitUntil(routed, 20_000, 'the reconcile to point proxy-2 at the new master');
    const persisted = async () =>
      (await readFile(p2.configPath, 'utf8')).includes(`${agreed.master.host}:${agreed.master.port}`);
    await waitUntil(persisted, 20_000, "proxy-2's config to name the new master");
    await writableThroughProxies(t);
    const entries = (await t.state.listHistory(t.name, 20)).filter(
      (e) => e.kind === 'failover' && e.epoch === agreed.epoch,
    );
    expect(entries).toHaveLength(1);
  });

  it('acts on nothing without a claim when the state store is down, and tells people what routing does meanwhile', async () => {
    // Arrange: the state store (dynalite) is gone; what routing and DNS look like now.
    const [s1] = t.d.sentinels;
    const log = t.d.orchestrator?.logPath;
    if (!s1 || !log) throw new Error('expected a Sentinel and an orchestrator');
    const master = await t.soleMaster();
    const zone = await readFile(t.d.dns.file, 'utf8');
    const told = (await notifications()).length;
    const logStart = (await readFile(log, 'utf8')).length;
    await kill9(t.d.stateStore.pid, 'dynalite');

    // Act: a failover; the orchestrator's reaction to its events, then its reconcile, fail at the state store.
    await failover(s1);
    const failures = async () =>
      (await readFile(log, 'utf8'))
        .slice(logStart)
        .split('\n')
        // The log's JSON lines; the console notifier's plain text is in the same file.
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: string; message: string; error?: string })
        .filter((l) => l.level === 'ERROR' || l.level === 'WARN')
        .filter((l) => /event handling failed|reconcile failed/.test(l.message));
    // 60 s: the reaction confirms through Sentinels before it reaches the store, and a loaded machine slows both.
    await waitUntil(
      async () => {
        const seen = await failures();
        return (
          seen.some((l) => l.message.startsWith('event handling failed')) &&
          seen.some((l) => l.message.startsWith('reconcile failed'))
        );
      },
      60_000,
      'the reaction and the reconcile to fail at the state store',
    ).catch(async (error: unknown) => {
      const since = (await readFile(log, 'utf8')).slice(logStart).split('\n').slice(-30).join('\n');
      throw new Error(`${String(error)}; the orchestrator's log since the kill ends with:\n${since}`);
    });

    // Assert: every proxy still routes to the old master (fail closed), DNS unchanged; one notification says
    // why, naming the store, and what routing does meanwhile; the log says it too.
    for (const p of t.cluster.proxies) {
      expect(await router.masterRoute(p)).toEqual({ address: master, state: 'ready' });
    }
    expect(await readFile(t.d.dns.file, 'utf8')).toBe(zone);
    // Told once the store stopped answering (perhaps before Sentinel failed over: then writes still went on),
    // and again once Sentinel's failover changed what routing does: writes through the proxies now fail.
    const storeDown = async () => (await notifications()).slice(told).filter((n) => n.kind === 'state-store');
    const failClosed =
      /Meanwhile the proxies keep their routes \(proxy-1 -> \S+, proxy-2 -> \S+\), while the Sentinels name \S+ \((\S+):(\d+), epoch \d+\): writes through proxy-1, proxy-2 fail/;
    await waitUntil(
      async () => (await storeDown()).some((n) => failClosed.test(n.summary)),
      20_000,
      'the state store outage and the fail-closed routing to be told',
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}; told: ${JSON.stringify(await storeDown(), null, 1)}`);
    });
    const down = await storeDown();
    expect(down.length, JSON.stringify(down, null, 1)).toBeLessThanOrEqual(2);
    for (const n of down) {
      expect(n.outcome).toBe('failed');
      expect(n.summary).toContain(t.d.stateStore.endpoint.replace(/^https?:\/\//, ''));
      expect(n.summary).toContain(`No failover of ${t.name} can be claimed`);
    }
    // The master the Sentinels name is the new one, not where the proxies still route.
    const named = failClosed.exec(down.at(-1)?.summary ?? '');
    expect(Number(named?.[2])).not.toBe(master.port);
    expect((await notifications()).slice(told).filter((n) => n.kind !== 'state-store')).toEqual([]);
    for (const failure of await failures()) {
      expect(failure.error).toContain(t.d.stateStore.endpoint.replace(/^https?:\/\//, ''));
    }
  });
});
