import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DemoSummary } from '../../local/demo.ts';
import { runCli } from '../support/cli.ts';

describe('ha-redis demo, end to end through the CLI', () => {
  it('fails over a killed master, fences it, switches over with no acknowledged write lost, and cleans up', async () => {
    // Arrange
    const home = await mkdtemp(join(tmpdir(), 'har-e2e-'));
    try {
      // Act
      const { code, stdout, stderr } = await runCli(
        ['demo', '--json', '--down-after-ms', '1000', '--name', `e2e${process.pid % 10000}`],
        { env: { ...process.env, HA_REDIS_HOME: home }, timeoutMs: 120_000 },
      );

      // Assert: one JSON document on stdout, progress on stderr.
      expect(code, stderr).toBe(0);
      const summary = JSON.parse(stdout) as DemoSummary;
      expect(stderr).toContain('kill -9 of the master');
      expect(stderr).toContain('orchestrator: rerouted');
      expect(summary.events.map((e) => e.event)).toEqual(['kill -9 master', 'kill -9 master', 'switchover']);
      for (const e of summary.events) {
        expect(e.lost).toBe(0);
        expect(e.acked).toBeGreaterThan(0);
        expect(e.newMaster).not.toBe(e.oldMaster);
      }
      expect(summary.events[0]?.oldMaster).toBe('redis-1');
      // The switchover starts from the master the last failover promoted: the kill's, unless Sentinel failed over
      // again on its own meanwhile (at down-after 1000 on a busy machine it may), which history then shows.
      const failovers = summary.failoversBeforeSwitchover;
      expect(failovers[0]?.newMaster).toBe(summary.events[0]?.newMaster);
      expect(summary.events[2]?.oldMaster).toBe(failovers.at(-1)?.newMaster);
      expect(stderr).toContain('workflow: rerouted');
      expect(summary.failover?.outcome).toBe('succeeded');
      expect(summary.fence?.outcome).toBe('succeeded');
      expect(await readdir(join(home, 'local'))).toEqual([]);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
