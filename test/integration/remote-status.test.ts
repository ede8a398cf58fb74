import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeApi } from '../../adapters/haproxy/runtime-api.ts';
import { type DoctorCheck, doctorCommand } from '../../cli/commands/doctor.ts';
import { statusCommand } from '../../cli/commands/status.ts';
import type { RemoteOptions } from '../../compose/remote.ts';
import { type Endpoint, sameEndpoint } from '../../core/model/cluster.ts';
import type { HistoryEntry } from '../../core/model/records.ts';
import type { StatusReport } from '../../core/status/report.ts';
import { writeLocalDeploymentConfig } from '../../local/deployment-config.ts';
import { waitUntil } from '../../local/processes.ts';
import { runCli } from '../support/cli.ts';
import { capture, sentinelFailover, startTestCluster, type TestCluster, waitForHistory } from './cluster.ts';

describe('ha-redis status --config: a cluster reached as the deployment config describes it', () => {
  let t: TestCluster;
  let remote: RemoteOptions;
  let adopt: HistoryEntry;

  beforeAll(async () => {
    t = await startTestCluster();
    adopt = await waitForHistory(t, (e) => e.trigger === 'adopt');
    const { configPath, secretsDir } = await writeLocalDeploymentConfig(t.d);
    remote = {
      configPath,
      secretsDir,
      table: t.d.stateStore.table,
      dynamodbEndpoint: t.d.stateStore.endpoint,
      skipDns: true,
    };
  });
  afterAll(async () => {
    await t?.down().catch(() => undefined);
  });

  const status = async (options: RemoteOptions) => {
    const io = capture();
    const code = await statusCommand({ cluster: t.name, json: true, remote: options }, io);
    return { code, report: JSON.parse(io.stdout) as StatusReport };
  };

  it('reports the cluster healthy through direct connections, passwords and the Runtime API over TLS', async () => {
    // Arrange: replicas and Sentinels settle a moment after start.
    let last: Awaited<ReturnType<typeof status>> | undefined;
    await waitUntil(
      async () => {
        last = await status(remote);
        return last.code === 0;
      },
      15_000,
      'a healthy status through the config file',
      200,
    ).catch(() => undefined);

    // Assert
    expect(last?.report.reasons).toEqual([]);
    expect(last?.code).toBe(0);
    const r = last?.report as StatusReport;
    expect(sameEndpoint(r.master?.address, await t.soleMaster())).toBe(true);
    expect(r.proxies.every((p) => p.pointsAtMaster && p.route?.state === 'ready')).toBe(true);
    expect(r.sentinels.every((s) => s.ok && s.agrees)).toBe(true);
    expect(r.lastOperation?.trigger).toBe('adopt');
    expect(r.dns).toEqual({ error: 'DNS not read (--skip-dns)' });
  });

  it('is refused by the Runtime API over TLS without a client certificate of the CA', async () => {
    // Arrange
    const proxy = t.d.proxies[0];
    const address = {
      kind: 'tcp' as const,
      host: proxy?.host ?? '',
      port: proxy?.apiTlsPort ?? 0,
      tls: true,
    };

    // Act
    const pem = await readFile(t.d.clientPemPath ?? '', 'utf8');
    const [withCert, without] = await Promise.allSettled([
      runtimeApi(address, ['show info'], 2000, { ca: t.ca, cert: pem, key: pem }),
      runtimeApi(address, ['show info'], 2000, { ca: t.ca }),
    ]);

    // Assert
    expect(withCert.status === 'fulfilled' && withCert.value).toMatch(/^Name: HAProxy/m);
    expect(without.status === 'rejected' && String(without.reason)).toMatch(/certificate required/);
  });

  it('runs doctor --config over the network: settings, quorum and clocks judged, file checks listed as skipped', async () => {
    // Arrange
    const args = ['doctor', '--cluster', t.name, '--config', remote.configPath, '--json'];
    const secrets = ['--secrets-dir', remote.secretsDir ?? ''];

    // Act
    const r = await runCli([...args, ...secrets]);

    // Assert
    expect(r.code).toBe(0);
    const checks = JSON.parse(r.stdout) as DoctorCheck[];
    expect(checks.filter((c) => c.level === 'fail' || c.level === 'warn')).toEqual([]);
    expect(new Set(checks.filter((c) => c.level === 'skip').map((c) => c.id))).toEqual(
      new Set(['sentinel-password', 'deny-scripts-reconfig', 'replicaof-in-config', 'proxy-fails-closed']),
    );
    const passed = (id: string) => checks.filter((c) => c.id === id && c.level === 'pass').length;
    expect(passed('quorum')).toBe(t.d.sentinels.length);
    expect(passed('clock')).toBe(t.d.nodes.length + t.d.sentinels.length);
    for (const id of ['min-replicas-to-write', 'min-replicas-max-lag', 'aof', 'redis-password'])
      expect(passed(id)).toBe(t.d.nodes.length);
    expect(r.stdout).not.toContain(t.password);
  });

  it('fails doctor --config on a node setting seen over the network', async () => {
    // Arrange
    const node = t.d.nodes[1] as Endpoint;
    const set = (value: string) =>
      t.connections.run('redis', node, 2000, (c) => c.call('CONFIG', 'SET', 'appendonly', value));
    await set('no');
    const io = capture();

    // Act
    const code = await doctorCommand({ cluster: t.name, json: true, remote }, io).finally(() => set('yes'));

    // Assert
    expect(code).toBe(1);
    const failed = (JSON.parse(io.stdout) as DoctorCheck[]).filter((c) => c.level === 'fail');
    expect(failed).toEqual([expect.objectContaining({ id: 'aof', check: `${t.d.nodes[1]?.id} AOF on` })]);
  });

  it('is unhealthy, naming the missing secret, when the Runtime API client certificate is not there', async () => {
    // Arrange
    await rm(join(remote.secretsDir ?? '', 'ha-redis', 'local', t.name, 'haproxy-api-client'));

    // Act
    const { code, report } = await status(remote);

    // Assert
    expect(code).toBe(1);
    const errors = report.proxies.map((p) => p.error ?? '');
    expect(
      errors.every((e) => e.includes(`SSM parameter /ha-redis/local/${t.name}/haproxy-api-client`)),
    ).toBe(true);
    expect(JSON.stringify(report)).not.toContain('BEGIN');
  });

  it('refuses a cluster the config file does not name, listing those it does', async () => {
    // Act
    const run = statusCommand({ cluster: 'payments', json: true, remote }, capture());

    // Assert
    await expect(run).rejects.toThrow(`unknown cluster 'payments'; known clusters: ${t.name}`);
  });

  it('lists a failover with history --config from the state table, and shows its timeline, labelled by the config', async () => {
    // Arrange: a failover recorded, and a config whose node ids differ from the local ones, so labels
    // can only come from the config file.
    const agreed = await sentinelFailover(t, adopt.epoch ?? 0);
    const failover = await waitForHistory(
      t,
      (e) => e.kind === 'failover' && e.trigger !== 'adopt' && e.epoch === agreed.epoch,
    );
    const config = JSON.parse(await readFile(remote.configPath, 'utf8')) as {
      clusters: { nodes: { id: string }[] }[];
    };
    for (const n of config.clusters[0]?.nodes ?? []) n.id = `orders-${n.id}`;
    const renamed = join(t.d.dir, 'renamed.config.json');
    await writeFile(renamed, JSON.stringify(config));
    const cli = (...args: string[]) =>
      runCli([
        ...args,
        '--cluster',
        t.name,
        '--config',
        renamed,
        '--table',
        t.d.stateStore.table,
        '--dynamodb-endpoint',
        t.d.stateStore.endpoint,
      ]);
    const label = (e: Endpoint | null) =>
      `orders-${t.d.nodes.find((n) => e && sameEndpoint(n, e))?.id ?? 'none'}`;

    // Act
    const list = await cli('history');
    const show = await cli('history', 'show', failover.id.slice(0, 12));

    // Assert
    expect([list.code, show.code]).toEqual([0, 0]);
    const line = list.stderr.split('\n').find((l) => l.includes(failover.id)) ?? '';
    expect(line).toMatch(new RegExp(`failover\\s+${failover.outcome}\\s+epoch ${agreed.epoch}`));
    expect(line).toContain(`${label(failover.oldMaster)} -> ${label(failover.newMaster)}`);
    const lines = show.stderr.split('\n');
    expect(lines).toContain(`id          ${failover.id}`);
    expect(lines).toContain(`master      ${label(failover.oldMaster)} -> ${label(failover.newMaster)}`);
    expect(lines).toContain('timeline');
    expect(lines.some((l) => /\+\s*\d+ ms\s+confirmed/.test(l))).toBe(true);
    expect(list.stdout + show.stdout).toBe('');
  });
});
