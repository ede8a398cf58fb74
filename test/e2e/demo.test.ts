import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { DemoSummary } from '../../local/demo.ts';

const run = promisify(execFile);
const CLI = new URL('../../cli/ha-redis.ts', import.meta.url).pathname;

describe('ha-redis demo, end to end through the CLI', () => {
  it('fails over a killed master with no acknowledged write lost, fences the old master, and cleans up', async () => {
    // Arrange
    const home = await mkdtemp(join(tmpdir(), 'har-e2e-'));
    try {
      // Act
      const { stdout, stderr } = await run(
        process.execPath,
        [CLI, 'demo', '--json', '--down-after-ms', '1000', '--name', `e2e${process.pid % 10000}`],
        { env: { ...process.env, HA_REDIS_HOME: home }, timeout: 90_000, maxBuffer: 10 * 1024 * 1024 },
      );

      // Assert: one JSON document on stdout, progress on stderr.
      const summary = JSON.parse(stdout) as DemoSummary;
      expect(stderr).toContain('kill -9 of the master');
      expect(stderr).toContain('orchestrator: rerouted');
      expect(summary.events).toHaveLength(2);
      for (const e of summary.events) {
        expect(e.lost).toBe(0);
        expect(e.acked).toBeGreaterThan(0);
        expect(e.oldMaster).toBe('redis-1');
        expect(e.newMaster).not.toBe('redis-1');
      }
      expect(summary.failover?.outcome).toBe('succeeded');
      expect(summary.fence?.outcome).toBe('succeeded');
      expect(await readdir(join(home, 'local'))).toEqual([]);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
