import { describe, expect, it } from 'vitest';
import { runKillMaster } from '../../bench/scenarios/kill-master.ts';

describe('benchmark smoke run (1 run of kill -9 at down-after 1000)', () => {
  it('measures every system on the same failover and reports the ha-redis reroute', async () => {
    // Act
    const rows = await runKillMaster({ runs: 1, downAfterMs: 1000 });

    // Assert: every system completed its run; timings are the bench's business, not this test's.
    expect(rows.map((r) => r.system).sort()).toEqual([
      'ha-redis',
      'ha-redis-tls',
      'ha-redis-wait1',
      'sentinel-ioredis',
    ]);
    for (const row of rows) {
      expect(row.errors).toEqual([]);
      expect(row.runs).toBe(1);
      expect(row.acked).toBeGreaterThan(0);
      expect(row.gapMs.max).toBeGreaterThan(0);
    }
    const wait1 = rows.find((r) => r.system === 'ha-redis-wait1');
    expect(wait1?.lost).toBe(0);
    const haRedis = rows.find((r) => r.system === 'ha-redis');
    expect(haRedis?.rerouteAfterPromotionMs?.n).toBe(1);
    expect(haRedis?.samples[0]?.outcome).toBe('succeeded');
  });
});
