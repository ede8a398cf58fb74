import { describe, expect, it } from 'vitest';
import { formatEndpoint } from '../../core/model/cluster.ts';
import { observeCluster } from '../../core/status/observe.ts';
import { buildStatusReport } from '../../core/status/report.ts';
import { N1, N2, N3, SENTINELS } from '../support/fixtures.ts';
import { failedOverWorld } from '../support/world.ts';

describe('observeCluster', () => {
  it('turns every answer, and every silence, into facts', async () => {
    // Arrange: n1 is down, n3 runs without AOF, one Sentinel is in TILT, DNS names n2 at epoch 7.
    const w = failedOverWorld();
    const n1 = w.redis.nodes.get(formatEndpoint(N1));
    if (n1) n1.reachable = false;
    const n3 = w.redis.nodes.get(formatEndpoint(N3));
    if (n3) n3.aof = false;
    const [tilted] = SENTINELS;
    if (tilted) w.sentinels.tilted.add(formatEndpoint(tilted));
    await w.dns.upsertMaster(w.cluster, N2, 7);

    // Act
    const observed = await observeCluster(w.cluster, w.deps);

    // Assert
    expect(observed.nodes.map((n) => [n.id, n.reachable, n.role, n.aofEnabled])).toEqual([
      ['n1', false, undefined, undefined],
      ['n2', true, 'master', true],
      ['n3', true, 'slave', false],
    ]);
    expect(observed.nodes[0]?.error).toMatch(/did not answer|timed out/);
    expect(observed.sentinels.map((s) => s.tilt)).toEqual([true, false, false]);
    expect(observed.dns).toEqual({ master: N2, epoch: 7 });
    expect(observed.proxies.map((p) => p.route?.address)).toEqual([N1, N1]);
    expect(observed.observedAt).toBe(w.clock.now());
  });

  it('says there is no DNS record yet instead of failing', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    const observed = await observeCluster(w.cluster, w.deps);

    // Assert
    expect(observed.dns).toEqual({ error: `no master record for ${w.cluster.dns.recordName} yet` });
  });

  it('feeds a report that is unhealthy while the proxies still route to the old master', async () => {
    // Arrange
    const w = failedOverWorld();

    // Act
    const report = buildStatusReport(await observeCluster(w.cluster, w.deps), { maxLagBytes: 1024 });

    // Assert
    expect(report.healthy).toBe(false);
    expect(report.reasons.join('\n')).toMatch(/proxy/);
  });
});
