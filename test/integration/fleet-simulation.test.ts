/**
 * The fleet simulation (bench/fleet, `npm run bench -- --scenario fleet`): 20 simulated clusters, AZ 2 lost, the
 * real sentinel-event handler on the real AWS adapters over rate-limited fakes. Integration, as it starts dynalite
 * on loopback. Down-after 1000 ms keeps it short.
 */
import { describe, expect, it } from 'vitest';
import { simulateFleet } from '../../bench/fleet/simulate.ts';

describe('fleet simulation', () => {
  it('reroutes, writes DNS and fences every cluster whose master was in the lost AZ, and reports it', async () => {
    // Arrange: masters round robin over AZs 1-3, so clusters 1, 4, ... 19 have theirs in AZ 2.
    const options = { clusters: 20, failAz: 2, downAfterMs: 1000 };

    // Act
    const report = await simulateFleet(options);

    // Assert: the shape.
    expect(report).toMatchObject({ clusters: 20, failAz: 2, failovers: 7 });
    expect(report.perCluster.map((s) => s.cluster)).toEqual([
      'c0001',
      'c0004',
      'c0007',
      'c0010',
      'c0013',
      'c0016',
      'c0019',
    ]);
    for (const summary of [report.promotionToReroutedMs, report.promotionToDnsWrittenMs]) {
      expect(Object.keys(summary).sort()).toEqual(['max', 'p50', 'p99']);
    }
    expect(report.goals.map((g) => g.goal)).toHaveLength(4);
    expect(report.calls.lambda.invocations).toBeGreaterThanOrEqual(7 * 7);
    // Assert: each failed-over cluster was rerouted, had its record written and its old master's fence sent, and
    // its epoch finished; the router and the Route53 fake saw it, not only the core.
    for (const sample of report.perCluster) {
      expect(sample.reroutedMs, sample.cluster).not.toBeNull();
      expect(sample.dnsWrittenMs, sample.cluster).not.toBeNull();
      expect(sample.fenceIssuedMs, sample.cluster).not.toBeNull();
      expect(sample.applied, sample.cluster).toBe('done@7');
      expect(sample.reroutedMs ?? -1).toBeGreaterThanOrEqual(0);
    }
    expect(report.notRerouted + report.dnsNotWritten + report.failedReactions.length).toBe(0);
    // The zone's one writer puts up to 10 records in one change: the 7 records took at least one call, and the
    // fake saw each one (every cluster's dnsWrittenMs above comes from it).
    expect(report.calls.route53.calls).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
