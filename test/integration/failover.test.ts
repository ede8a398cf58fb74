import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { readZone } from '../../adapters/host/zone-file-dns.ts';
import { IoredisNodes } from '../../adapters/redis/redis-nodes.ts';
import { type Endpoint, sameEndpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import { startNode } from '../../local/launcher.ts';
import { countLost, WriteLoad } from '../../local/load.ts';
import { waitUntil } from '../../local/processes.ts';
import { startTestCluster, type TestCluster, waitForHistory } from './cluster.ts';

describe('automatic failover after kill -9 of the master (real redis, sentinel, haproxy)', () => {
  let t: TestCluster;
  let oldMaster: Endpoint;
  let newMaster: Endpoint;
  let entry: HistoryEntry;

  beforeAll(async () => {
    // down-after 2000: at 1000 a loaded 2-core machine (make test beside another) now and then delays the new
    // master's PING replies past down-after, and Sentinel fails over a second time during the reaction.
    t = await startTestCluster({ downAfterMs: 2000 });
  });
  afterAll(async () => {
    await t?.down();
  });

  it('keeps every acknowledged write and serves writes again through both proxies, plain and TLS', async () => {
    // Arrange: a steady write load through proxy-1 (plain) and proxy-2 (TLS). A write counts as acknowledged
    // once WAIT says a replica has it: Redis replicates asynchronously, so a SET reply alone can be lost to a
    // kill -9 in the microseconds before the master sends it on (the bench measures those plain SET losses).
    const [p1, p2] = t.d.proxies;
    if (!p1 || !p2) throw new Error('expected two proxies');
    const plain = new WriteLoad({
      target: { kind: 'direct', endpoint: { host: p1.host, port: p1.plainPort } },
      password: t.password,
      writers: 4,
      ackReplicas: 1,
    });
    const tls = new WriteLoad({
      target: { kind: 'direct', endpoint: { host: p2.host, port: p2.tlsPort }, tlsCa: t.ca },
      password: t.password,
      writers: 2,
      ackReplicas: 1,
    });
    plain.start();
    tls.start();
    await plain.waitForAcks(200);
    await tls.waitForAcks(100);
    const initial = t.d.nodes[0];
    if (!initial) throw new Error('no nodes');
    oldMaster = { host: initial.host, port: initial.port };

    // Act: kill -9 the master and wait for the orchestrator's history entry.
    process.kill(initial.pid, 'SIGKILL');
    const killedAt = Date.now();
    entry = await waitForHistory(t, (e) => e.kind === 'failover' && (e.epoch ?? 0) >= 1);
    const ackedBefore = { plain: plain.ackCount, tls: tls.ackCount };
    await waitUntil(
      async () => plain.ackCount > ackedBefore.plain + 100 && tls.ackCount > ackedBefore.tls + 50,
      15_000,
      'writes to resume',
    );
    const plainReport = await plain.stop();
    const tlsReport = await tls.stop();

    // Assert: one master, no acknowledged write lost, writes resumed on both listeners.
    newMaster = await t.soleMaster();
    expect(sameEndpoint(newMaster, oldMaster)).toBe(false);
    expect(entry.outcome, entry.error).toBe('succeeded');
    expect(entry.newMaster).toEqual(newMaster);
    expect(entry.oldMaster).toEqual(oldMaster);
    expect(await countLost(newMaster, t.password, plainReport.ackedKeys)).toEqual([]);
    expect(await countLost(newMaster, t.password, tlsReport.ackedKeys)).toEqual([]);
    expect(plainReport.maxGapMs).toBeGreaterThan(0);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
  });

  it('records a history entry with a millisecond timeline of every step', () => {
    // DNS follows the reroute at once; the fence and the persist run beside it, the canaries once fenced.
    const steps = entry.timeline.map((s) => s.step);
    expect(steps.slice(0, 4)).toEqual(['detected', 'confirmed', 'epoch-claimed', 'rerouted']);
    expect([...steps.slice(4)].sort()).toEqual(['dns-updated', 'fenced', 'routing-persisted', 'verified']);
    expect(steps.indexOf('verified')).toBeGreaterThan(steps.indexOf('fenced'));
    expect(entry.timeline.every((s) => s.status === 'ok' && s.durationMs >= 0)).toBe(true);
    expect(entry.timeline.find((s) => s.step === 'fenced')?.detail).toMatch(
      /unreachable: replicaof persisted, fence pending/,
    );
  });

  it('points every proxy, the persisted HAProxy config and state file, and the DNS record at the new master', async () => {
    const router = new HaproxyRouter();
    for (const p of t.cluster.proxies) {
      const route = await router.masterRoute(p);
      expect(route.address).toEqual(newMaster);
      expect(route.state).toBe('ready');
    }
    for (const p of t.d.proxies) {
      expect(await readFile(p.configPath, 'utf8')).toContain(
        `server master ${newMaster.host}:${newMaster.port}`,
      );
      expect(await readFile(p.stateFilePath, 'utf8')).toMatch(new RegExp(` ${newMaster.port} `));
    }
    const zone = readZone(await readFile(t.d.dns.file, 'utf8'));
    expect(zone).toEqual({ epoch: entry.epoch, master: newMaster });
  });

  it('brings the restarted old master back as a fenced replica that gets no client writes through HAProxy', async () => {
    // Arrange: the killed node's config was fenced while it was down.
    const node = t.d.nodes[0];
    if (!node) throw new Error('no nodes');
    expect(await readFile(node.configPath, 'utf8')).toContain(
      `replicaof ${newMaster.host} ${newMaster.port}`,
    );

    // Act: restart it by hand, then write through both proxies.
    await startNode({ name: t.name, root: t.root }, node.id);
    await waitUntil(
      async () => (await t.role(oldMaster)) === 'slave',
      10_000,
      'the old master to answer as a replica',
    );
    const [p1, p2] = t.d.proxies;
    if (!p1 || !p2) throw new Error('expected two proxies');
    const load = new WriteLoad({
      target: { kind: 'direct', endpoint: { host: p1.host, port: p1.plainPort } },
      password: t.password,
      writers: 2,
    });
    const load2 = new WriteLoad({
      target: { kind: 'direct', endpoint: { host: p2.host, port: p2.plainPort } },
      password: t.password,
      writers: 2,
    });
    load.start();
    load2.start();
    await load.waitForAcks(300);
    await load2.waitForAcks(300);
    await load.stop();
    await load2.stop();

    // Assert: a replica of the new master, refusing writes, with no client that wrote to it.
    const nodes = new IoredisNodes(t.connections);
    const info = await nodes.replication(oldMaster, 1000);
    expect(info.role).toBe('slave');
    expect(info.master).toEqual(newMaster);
    expect(await nodes.probeWrite(oldMaster, 1000)).toBe('readonly');
    const clients = String(
      await t.connections.run('redis', oldMaster, 1000, (c) => c.call('CLIENT', 'LIST')),
    );
    // Client writes: not the replication link (flags=M), not ha-redis' own named admin connection (fence probes).
    const writers = clients
      .split('\n')
      .filter((l) => / cmd=set /.test(l) && !/ flags=M /.test(l) && !/ name=ha-redis-admin /.test(l));
    expect(writers).toEqual([]);
    const fence = await waitForHistory(t, (e) => e.kind === 'deferred-fence', 15_000);
    expect(fence.outcome).toBe('succeeded');
    expect(fence.oldMaster).toEqual(oldMaster);
    expect(await t.state.pendingFences(t.name)).toEqual([]);
  });
});
