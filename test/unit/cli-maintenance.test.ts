import { describe, expect, it } from 'vitest';
import { pauseOrResumeMaintenance, showMaintenanceMode } from '../../cli/commands/maintenance.ts';
import { formatStatus, type Io } from '../../cli/commands/status.ts';
import { observeCluster } from '../../core/status/observe.ts';
import { buildStatusReport } from '../../core/status/report.ts';
import { InMemoryStateStore } from '../fakes/state-store.ts';
import { CLI_TEST_TIMEOUT_MS, runCli } from '../support/cli.ts';
import { START } from '../support/fixtures.ts';
import { failedOverWorld } from '../support/world.ts';

function capture(): Io & { stdout: string; lines: string[] } {
  const io = {
    stdout: '',
    lines: [] as string[],
    out: (text: string) => {
      io.stdout += text;
    },
    err: (line: string) => {
      io.lines.push(line);
    },
  };
  return io;
}

describe('ha-redis maintenance pause|resume|status', () => {
  it('pauses with who, when and why, and status shows it', async () => {
    // Arrange
    const store = new InMemoryStateStore();
    const io = capture();

    // Act
    const paused = await pauseOrResumeMaintenance(
      store,
      { cluster: 'orders', pause: true, by: 'cli:alice', now: START, reason: 'kernel upgrades' },
      io,
    );
    const shown = await showMaintenanceMode(store, { cluster: 'orders' }, io);

    // Assert
    expect([paused, shown]).toEqual([0, 0]);
    expect(store.modes.get('orders')).toEqual({
      paused: true,
      by: 'cli:alice',
      at: START,
      reason: 'kernel upgrades',
    });
    expect(io.lines).toEqual([
      'maintenance of orders paused: scheduled maintenance runs are skipped; the automatic failover reaction keeps running',
      'maintenance of orders: PAUSED by cli:alice at 2024-11-24 17:00:00Z (kernel upgrades): scheduled maintenance runs are skipped',
    ]);
  });

  it('resumes, and status says runs go ahead', async () => {
    const store = new InMemoryStateStore();
    const io = capture();
    await pauseOrResumeMaintenance(
      store,
      { cluster: 'orders', pause: true, by: 'cli:alice', now: START },
      io,
    );
    await pauseOrResumeMaintenance(
      store,
      { cluster: 'orders', pause: false, by: 'cli:bob', now: START + 60_000 },
      io,
    );
    await showMaintenanceMode(store, { cluster: 'orders' }, io);
    expect(store.modes.get('orders')?.paused).toBe(false);
    expect(io.lines.at(-1)).toBe(
      'maintenance of orders: running (resumed by cli:bob at 2024-11-24 17:01:00Z): scheduled maintenance runs go ahead',
    );
  });

  it('prints JSON on stdout, running when never set', async () => {
    const io = capture();
    await showMaintenanceMode(new InMemoryStateStore(), { cluster: 'orders', json: true }, io);
    expect(JSON.parse(io.stdout)).toEqual({ cluster: 'orders', paused: false, mode: null });
    expect(io.lines).toEqual([]);
  });

  describe('bad arguments exit 2 with one line saying what is wrong', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, () => {
    const cli = (...args: string[]) =>
      runCli(args, { env: { ...process.env, HA_REDIS_HOME: '/nonexistent-ha-redis-home' } });
    const firstLine = (stderr: string) => stderr.trim().split('\n')[0];

    it.each([
      [['maintenance', 'pause'], "error: required option '--cluster <name>' not specified"],
      [['maintenance', 'halt', '--cluster', 'x'], "error: unknown command 'halt'"],
      [
        ['maintenance', 'run', '--cluster', 'x', '--action', 'wipe'],
        "error: option '--action <action>' argument 'wipe' is invalid",
      ],
    ])('%j', async (args, message) => {
      const r = await cli(...args);
      expect(r.code).toBe(2);
      expect(firstLine(r.stderr)).toContain(message);
    });

    it('names a cluster that does not exist', async () => {
      const r = await cli('maintenance', 'status', '--cluster', 'nope');
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/no local cluster descriptor/);
    });
  });
});

describe('status shows the maintenance mode', () => {
  it('observes the mode through the state store and prints it', async () => {
    // Arrange
    const w = failedOverWorld();
    await w.state.setMaintenanceMode(w.cluster.name, {
      paused: true,
      by: 'cli:alice',
      at: START,
      reason: 'upgrades',
    });

    // Act
    const observed = await observeCluster(w.cluster, w.deps);
    const report = buildStatusReport(observed, { maxLagBytes: 1_048_576 });

    // Assert
    expect(report.maintenance).toEqual({ paused: true, by: 'cli:alice', at: START, reason: 'upgrades' });
    expect(formatStatus(report)).toContain(
      'maint   PAUSED by cli:alice at 2024-11-24 17:00:00Z (upgrades): scheduled maintenance runs are skipped',
    );
  });

  it('says running when never paused, and warns when the mode cannot be read', async () => {
    const w = failedOverWorld();
    expect(
      formatStatus(buildStatusReport(await observeCluster(w.cluster, w.deps), { maxLagBytes: 1 })),
    ).toContain('maint   running (never paused): scheduled maintenance runs go ahead');
    w.state.maintenanceMode = async () => {
      throw new Error('table gone');
    };
    const report = buildStatusReport(await observeCluster(w.cluster, w.deps), { maxLagBytes: 1 });
    expect(report.maintenance).toEqual({ error: 'table gone' });
    expect(report.warnings).toContain('maintenance mode unreadable: table gone');
    expect(formatStatus(report)).toContain('maint   unknown: table gone');
  });
});
