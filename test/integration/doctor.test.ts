import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DoctorCheck,
  doctorChecks,
  doctorCommand,
  gatherDoctorFacts,
} from '../../cli/commands/doctor.ts';
import { sameEndpoint } from '../../core/model/cluster.ts';
import { stopProcess } from '../../local/processes.ts';
import { capture, startTestCluster, type TestCluster, waitForHistory } from './cluster.ts';

describe('ha-redis doctor on a real local cluster', () => {
  let t: TestCluster;

  beforeAll(async () => {
    t = await startTestCluster();
    await waitForHistory(t, (e) => e.trigger === 'adopt');
  });
  afterAll(async () => {
    await t?.down().catch(() => undefined);
  });

  it('finds no FAIL on the configuration that local up writes, and prints no secret', async () => {
    const checks = doctorChecks(await gatherDoctorFacts(t.d));
    const io = capture();

    const code = await doctorCommand({ cluster: t.name, root: t.root, json: true }, io);

    expect(checks.filter((c) => c.level === 'fail')).toEqual([]);
    // Every node and Sentinel told its clock (one host here: within the bound).
    const clocks = checks.filter((c) => c.id === 'clock');
    expect(clocks).toHaveLength(t.d.nodes.length + t.d.sentinels.length);
    expect(clocks.every((c) => c.level === 'pass')).toBe(true);
    expect(code).toBe(0);
    expect(io.stdout).toContain('redis-password');
    expect(io.stdout).not.toContain(t.password);
  });

  it('reports each deliberate misconfiguration by check id and exits 1', async () => {
    // Arrange: stop the orchestrator first, so no reconcile repairs anything behind the test's back.
    const o = t.d.orchestrator;
    if (o) await stopProcess(o.pid, (c) => c.includes('orchestrator.ts'));
    const master = await t.soleMaster();
    const replicas = t.d.nodes.filter((n) => !sameEndpoint(n, master));
    const [r1, r2] = replicas;
    const proxy = t.d.proxies[0];
    const sentinel = t.cluster.sentinels[0];
    if (!r1 || !r2 || !proxy || !sentinel) throw new Error('cluster is incomplete');
    const redis = (node: { host: string; port: number }, ...args: string[]) =>
      t.connections.run('redis', node, 2000, (c) => c.call(args[0] as string, ...args.slice(1)));
    await redis(r1, 'CONFIG', 'SET', 'appendonly', 'no');
    await redis(master, 'CONFIG', 'SET', 'min-replicas-to-write', '0');
    await redis(r2, 'CONFIG', 'SET', 'replica-priority', '0');
    await redis(r2, 'CONFIG', 'SET', 'min-replicas-max-lag', '0');
    const conf = await readFile(r1.configPath, 'utf8');
    await writeFile(r1.configPath, conf.replace(/^\s*(replicaof|slaveof)\s.*$/gm, ''));
    // HAProxy reads its file only at start or reload, so the running proxy stays as it was.
    await appendFile(proxy.configPath, '    tcp-check expect string role:master\n');
    await t.connections.run('sentinel', sentinel, 2000, (c) =>
      c.call('SENTINEL', 'SET', t.d.masterName, 'down-after-milliseconds', '60000'),
    );
    const io = capture();

    // Act
    const code = await doctorCommand({ cluster: t.name, root: t.root, json: true }, io);

    // Assert
    const checks = JSON.parse(io.stdout) as DoctorCheck[];
    const bad = new Set(checks.filter((c) => c.level !== 'pass').map((c) => c.id));
    expect(code).toBe(1);
    expect(bad).toEqual(
      new Set([
        'aof',
        'min-replicas-to-write',
        'min-replicas-max-lag',
        'replica-priority',
        'replicaof-in-config',
        'proxy-fails-closed',
        'down-after',
        // 60000 down-after on that Sentinel also makes its 10000 failover-timeout too short.
        'failover-timeout',
      ]),
    );
    expect(bad.size).toBeGreaterThanOrEqual(5);
    expect(io.stdout).not.toContain(t.password);
  });
});
