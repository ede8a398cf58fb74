import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { type Endpoint, formatEndpoint, sameEndpoint } from '../../core/model/cluster.ts';
import { waitUntil } from '../../local/processes.ts';
import { sentinelMajority, startTestCluster, type TestCluster, waitForHistory } from './cluster.ts';

/**
 * Sentinel's election stalls and is given up (`-failover-abort-not-elected`); Sentinel itself would try again only
 * after 2 × failover-timeout (2 minutes here). With real processes, made certain rather than left to a race:
 * - two of the three Sentinels already hold a vote for another leader in a newer epoch (cast by the test, as a
 *   Sentinel that asked first would), and publish no hello, so the third never learns that epoch;
 * - those two never start a failover themselves (quorum 4 of 3);
 * so the third's election, at its own epoch, can get no vote but its own. (The same stall, from split votes,
 * left 7 of 8 masters on a dead host for 2 minutes in the host-failure bench with shared Sentinels.)
 */
describe('a stalled Sentinel election is forced (real redis, sentinel, haproxy)', () => {
  let t: TestCluster;
  const router = new HaproxyRouter();

  beforeAll(async () => {
    t = await startTestCluster({ downAfterMs: 1000, failoverTimeoutMs: 60_000 });
  });
  afterAll(async () => {
    router.close();
    await t?.down();
  });

  const sentinel = (s: Endpoint, ...args: string[]) =>
    t.connections.run('sentinel', s, 2000, (c) => c.call('SENTINEL', ...args));

  it('asks the Sentinel that gave up to fail over, and the reaction follows its promotion within seconds', async () => {
    // Arrange
    const master = await t.soleMaster();
    const [leader, ...others] = t.cluster.sentinels;
    if (!leader || others.length !== 2) throw new Error('expected 3 Sentinels');
    await sentinel(leader, 'DEBUG', 'election-timeout', '2000');
    for (const s of others) {
      await sentinel(s, 'SET', t.d.masterName, 'quorum', '4');
      await sentinel(s, 'DEBUG', 'publish-period', '600000');
      // A vote for another leader in epoch 100: with epoch 100 the Sentinel casts it (and never shows it the leader).
      await sentinel(s, 'IS-MASTER-DOWN-BY-ADDR', master.host, String(master.port), '100', 'another-leader');
    }
    const history = (await t.history()).length;

    // Act
    const killedAt = Date.now();
    process.kill(t.d.nodes.find((n) => sameEndpoint(n, master))?.pid ?? 0, 'SIGKILL');

    // Assert: the rescue, from the Sentinel that gave up.
    const rescue = await waitForHistory(t, (e) => e.trigger === '-failover-abort-not-elected', 30_000);
    expect(rescue).toMatchObject({ outcome: 'succeeded', oldMaster: master });
    const forced = rescue.timeline.find((s) => s.step === 'failover-forced');
    expect(forced?.detail).toBe(`SENTINEL FAILOVER ${t.d.masterName} accepted by ${formatEndpoint(leader)}`);
    // The reaction to the forced promotion: a new master, every proxy on it, a majority of Sentinels naming it.
    const failover = await waitForHistory(
      t,
      (e) => e.kind === 'failover' && e.startedAt >= killedAt && e.trigger !== '-failover-abort-not-elected',
      30_000,
    );
    const newMaster = failover.newMaster as Endpoint;
    expect(failover.outcome).toBe('succeeded');
    expect(sameEndpoint(newMaster, master)).toBe(false);
    // A forced failover has no election: confirmed by the Sentinels' views.
    expect(failover.timeline.find((s) => s.step === 'confirmed')?.detail).toMatch(/\(sentinel-majority\)$/);
    for (const p of t.cluster.proxies) expect((await router.masterRoute(p)).address).toEqual(newMaster);
    const agreed = await sentinelMajority(t);
    expect(agreed && sameEndpoint(agreed.master, newMaster)).toBe(true);
    // Well before Sentinel's own next attempt (2 × failover-timeout = 120 s after its first).
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    expect((await t.history()).length).toBe(history + 2);
    await waitUntil(
      async () => (await t.role(newMaster)) === 'master',
      5000,
      'the new master to answer ROLE master',
    );
  });
});
