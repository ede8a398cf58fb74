import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { doctorCommand } from '../../cli/commands/doctor.ts';
import { historyCommand, historyShowCommand } from '../../cli/commands/history.ts';
import { statusCommand } from '../../cli/commands/status.ts';
import { sameEndpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import type { StatusReport } from '../../core/status/report.ts';
import { stopProcess, waitUntil } from '../../local/processes.ts';
import { capture, startTestCluster, type TestCluster, waitForHistory } from './cluster.ts';

describe('ha-redis status and history on a real local cluster', () => {
  let t: TestCluster;
  let adopt: HistoryEntry;

  beforeAll(async () => {
    t = await startTestCluster();
    adopt = await waitForHistory(t, (e) => e.trigger === 'adopt');
  });
  afterAll(async () => {
    await t?.down().catch(() => undefined);
  });

  const status = async (): Promise<{ code: number; report: StatusReport }> => {
    const io = capture();
    const code = await statusCommand({ cluster: t.name, root: t.root, json: true }, io);
    return { code, report: JSON.parse(io.stdout) as StatusReport };
  };

  it('reports a healthy cluster and exits 0', async () => {
    // Arrange: replicas and Sentinels settle a moment after start.
    const master = await t.soleMaster();
    let last: { code: number; report: StatusReport } | undefined;
    await waitUntil(
      async () => {
        last = await status();
        return last.code === 0;
      },
      15_000,
      'a healthy status',
      200,
    ).catch(() => undefined);

    // Act + Assert
    expect(last?.report.reasons).toEqual([]);
    expect(last?.code).toBe(0);
    const r = last?.report as StatusReport;
    expect(sameEndpoint(r.master?.address, master)).toBe(true);
    expect(r.nodes.filter((n) => n.isMaster)).toHaveLength(1);
    expect(r.nodes.every((n) => n.reachable && n.aofEnabled !== undefined)).toBe(true);
    expect(r.sentinels.every((s) => s.ok && s.agrees && s.tilt === false)).toBe(true);
    expect(r.proxies.every((p) => p.pointsAtMaster && p.route?.state === 'ready')).toBe(true);
    expect(r.dns).toMatchObject({ pointsAtMaster: true });
    expect(r.lastOperation?.id).toBe(adopt.id);
  });

  it('lists the adopt entry in history, and shows it whole with its timeline', async () => {
    const list = capture();
    const show = capture();

    expect(await historyCommand({ cluster: t.name, root: t.root, limit: 10 }, list)).toBe(0);
    expect(await historyShowCommand({ cluster: t.name, root: t.root, id: adopt.id }, show)).toBe(0);

    expect(list.lines.some((l) => l.includes(adopt.id) && /failover\s+succeeded/.test(l))).toBe(true);
    expect(show.lines).toContain(`trigger     adopt`);
    expect(show.lines).toContain('timeline');
    expect(show.lines.some((l) => /\+\s*\d+ ms\s+confirmed/.test(l))).toBe(true);
  });

  it('passes doctor on the configuration that local up writes', async () => {
    const io = capture();

    const code = await doctorCommand({ cluster: t.name, root: t.root }, io);

    expect(io.lines.filter((l) => !l.startsWith('PASS'))).toEqual([]);
    expect(code).toBe(0);
  });

  it('turns unhealthy, naming each, when a proxy is blocked, a replica is killed and a Sentinel disagrees', async () => {
    // Arrange: stop the orchestrator first, or its reconcile would repair the blocked proxy.
    const o = t.d.orchestrator;
    if (o) await stopProcess(o.pid, (c) => c.includes('orchestrator.ts'));
    const master = await t.soleMaster();
    const replica = t.d.nodes.find((n) => !sameEndpoint(n, master));
    const other = t.d.nodes.find((n) => !sameEndpoint(n, master) && n.id !== replica?.id);
    const proxy = t.cluster.proxies[1];
    const s3 = t.cluster.sentinels[2];
    if (!replica || !other || !proxy || !s3) throw new Error('cluster is incomplete');
    await new HaproxyRouter().blockMaster(proxy);
    await t.connections.run('sentinel', s3, 2000, async (c) => {
      await c.call('SENTINEL', 'REMOVE', t.d.masterName);
      await c.call('SENTINEL', 'MONITOR', t.d.masterName, other.host, String(other.port), '2');
    });
    process.kill(replica.pid, 'SIGKILL');
    await waitUntil(async () => (await t.role(replica)) === 'unreachable', 5000, `${replica.id} to die`);

    // Act
    const { code, report } = await status();

    // Assert
    expect(code).toBe(1);
    expect(report.healthy).toBe(false);
    expect(report.reasons).toEqual(
      expect.arrayContaining([
        `proxy ${proxy.id} has its master server in maint`,
        expect.stringMatching(new RegExp(`^replica ${replica.id} is down`)),
      ]),
    );
    expect(report.reasons.some((r) => r.includes(`${s3.host}:${s3.port}`))).toBe(true);
    expect(report.sentinels.filter((x) => x.ok && !x.agrees)).toHaveLength(1);
  });
});
