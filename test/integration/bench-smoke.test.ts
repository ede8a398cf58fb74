import { describe, expect, it } from 'vitest';
import type { ScenarioRow } from '../../bench/report.ts';
import { runHostFailure } from '../../bench/scenarios/host-failure.ts';
import { RESTART_OLD_MASTER, runFault, runKillMaster } from '../../bench/scenarios/master-fault.ts';

const BASELINES = ['haproxy-role', 'haproxy-sentinels', 'sentinel-ioredis'];

const row = (rows: ScenarioRow[], system: string) => {
  const r = rows.find((x) => x.system === system);
  if (!r) throw new Error(`no row for ${system}`);
  return r;
};

/** Every system completed its one run and wrote; timings are the bench's business, not this test's. */
function expectComplete(rows: ScenarioRow[], systems: string[]) {
  expect(rows.map((r) => r.system).sort()).toEqual([...systems].sort());
  for (const r of rows) {
    expect(r.errors, r.system).toEqual([]);
    expect(r.runs, r.system).toBe(1);
    expect(r.acked, r.system).toBeGreaterThan(0);
    expect(r.gapMs.max, r.system).toBeGreaterThan(0);
  }
}

describe('benchmark smoke runs (1 run each at down-after 2000: at 1000 Sentinel now and then fails over a second time, right after the first, on a loaded 2-core machine)', () => {
  it('kill -9: measures ha-redis (without and with node agents) and every baseline, and reports the ha-redis reroute', async () => {
    // Act
    const rows = await runKillMaster({ runs: 1, downAfterMs: 2000 });

    // Assert
    const agents = ['ha-redis+agent', 'ha-redis+agent-wait1'];
    expectComplete(rows, ['ha-redis', 'ha-redis-tls', 'ha-redis-wait1', ...agents, ...BASELINES]);
    expect(row(rows, 'ha-redis-wait1').lost).toBe(0);
    // With agents the fast path failed over (a run it did not start is an error, checked above), losing no
    // write acknowledged by a replica.
    expect(row(rows, 'ha-redis+agent-wait1').lost).toBe(0);
    expect(row(rows, 'ha-redis+agent').samples[0]?.lostAfterFault).toBe(0);
    const haRedis = row(rows, 'ha-redis');
    expect(haRedis.samples[0]?.lostAfterFault).toBe(0);
    expect(haRedis.rerouteAfterPromotionMs?.n).toBe(1);
    expect(haRedis.samples[0]?.outcome).toBe('succeeded');
  });

  it('restart of the old master: ha-redis loses no write acknowledged after the kill; the role-check proxy sends writes to the old master', async () => {
    // Act
    const rows = await runFault(RESTART_OLD_MASTER, { runs: 1, downAfterMs: 2000 });

    // Assert
    expectComplete(rows, ['ha-redis', ...BASELINES]);
    const haRedis = row(rows, 'ha-redis');
    // A write the dying master acknowledged just before the kill can be lost (asynchronous replication, for
    // every system alike); none acknowledged after the kill is, and none the restarted old master could take.
    expect(haRedis.samples[0]?.lostAfterFault).toBe(0);
    expect(haRedis.lostAfterReturn).toBe(0);
    expect(haRedis.fenceMs?.n).toBe(1);
    // The scenario really brings a master back: `balance first` sends reconnecting writers to it (it answers
    // role:master until Sentinel converts it, 8 s or more), and those acknowledged writes are thrown away.
    expect(row(rows, 'haproxy-role').lostAfterReturn).toBeGreaterThan(0);
  });

  it('host failure: kill -9 of host-1 of a set of 2 services, per layout, measures every system for each service', async () => {
    // Act
    const rows = await runHostFailure({ runs: 1, downAfterMs: 2000, services: 2 });

    // Assert
    for (const layout of ['per-service', 'shared']) {
      const group = rows.filter((r) => r.name.includes(`/${layout}/`));
      expectComplete(group, ['ha-redis', ...BASELINES.filter((b) => b !== 'haproxy-sentinels')]);
      for (const r of group) {
        const samples = r.perService?.samples ?? [];
        expect(samples.map((s) => s.service).sort(), `${layout} ${r.system}`).toEqual([1, 2]);
        for (const s of samples) {
          expect(s.acked, `${layout} ${r.system} #${s.service}`).toBeGreaterThan(0);
          expect(s.recoveryAfterPromotionMs, `${layout} ${r.system} #${s.service}`).toBeGreaterThan(0);
        }
      }
      // A plain ack from the dying master can be lost (asynchronous replication); nothing acknowledged after the
      // kill, and nothing acknowledged with WAIT 1, is.
      for (const s of row(group, 'ha-redis').perService?.samples ?? []) {
        expect(s.lostWait1, `${layout} #${s.service}`).toBe(0);
        expect(s.lostAfterFault, `${layout} #${s.service}`).toBe(0);
        expect(s.rerouteAfterPromotionMs, `${layout} #${s.service}`).toBeGreaterThan(0);
        // A shared Sentinel's vote events name no master, but the votes it holds are asked by the master's address.
        expect(s.confirmedBy, `${layout} #${s.service}`).toBe('elected-leader');
      }
    }
  }, 240_000);
});
