import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { statusCommand } from '../../cli/commands/status.ts';
import { sameEndpoint } from '../../core/model/cluster.ts';
import { waitUntil } from '../../local/processes.ts';
import { capture, startTestCluster, type TestCluster, waitForHistory } from './cluster.ts';

/**
 * Sentinel's bad day "no good replica": both replicas are down when the master dies, so Sentinel aborts its
 * failover (`-failover-abort-no-good-slave`). ha-redis changes nothing, tells people why, and `status` shows it.
 */
describe('no good replica: Sentinel aborts the failover (real redis, sentinel, haproxy)', () => {
  let t: TestCluster;
  const router = new HaproxyRouter();

  beforeAll(async () => {
    t = await startTestCluster({ downAfterMs: 1000 });
  });
  afterAll(async () => {
    await t?.down();
  });

  it('records and tells why no replica could be promoted, changes no routing or DNS, and status shows it', async () => {
    // Arrange: both replicas die first, then the master.
    const master = await t.soleMaster();
    const masterNode = t.d.nodes.find((n) => sameEndpoint(n, master));
    const replicas = t.d.nodes.filter((n) => !sameEndpoint(n, master));
    if (!masterNode || replicas.length !== 2) throw new Error('expected a master and two replicas');
    const zone = await readFile(t.d.dns.file, 'utf8');
    for (const r of replicas) process.kill(r.pid, 'SIGKILL');
    // Sentinel must see them down (down-after 1000 ms) before the master goes, or it may still pick one.
    await new Promise((resolve) => setTimeout(resolve, 2500));

    // Act
    process.kill(masterNode.pid, 'SIGKILL');

    // Assert: the entry and its notification say why, replica by replica.
    const entry = await waitForHistory(t, (e) => e.trigger === '-failover-abort-no-good-slave', 60_000);
    expect(entry).toMatchObject({ kind: 'failover', outcome: 'failed', newMaster: null });
    expect(sameEndpoint(entry.oldMaster ?? { host: '', port: 0 }, master)).toBe(true);
    for (const r of replicas) expect(entry.error).toContain(`${r.id} does not answer`);
    const notified = async () =>
      (await readFile(t.d.orchestrator?.notificationsPath ?? '', 'utf8').catch(() => ''))
        .split('\n')
        .filter((line) => line.includes('Sentinel could not fail'));
    await waitUntil(async () => (await notified()).length > 0, 10_000, 'the abort to be told');
    expect((await notified())[0]).toContain('Sentinel found no replica it can promote');
    // Nothing changed: every proxy still routes to the old master, DNS too.
    for (const p of t.cluster.proxies) {
      expect((await router.masterRoute(p)).address).toEqual(master);
    }
    expect(await readFile(t.d.dns.file, 'utf8')).toBe(zone);
    // status names it.
    const io = capture();
    const code = await statusCommand({ cluster: t.name, root: t.root }, io);
    expect(code).not.toBe(0);
    expect(io.lines.join('\n')).toMatch(
      /last {4}failover failed at .*: Sentinel found no replica it can promote: /,
    );
  });
});
