import { execFile } from 'node:child_process';
import { appendFile, chmod, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter, parseServersState, runtimeApi } from '../../adapters/haproxy/runtime-api.ts';
import { BashNodeOps, scriptPath } from '../../adapters/host/bash-node-ops.ts';
import { argsOf } from '../../adapters/node-ops/operations.ts';
import type { Endpoint, NodeConfig, ProxyConfig } from '../../core/model/cluster.ts';
import { bundleBridge } from '../../events/bridge/bundle.ts';
import { startNode } from '../../local/launcher.ts';
import { readPidFile, stopProcess } from '../../local/processes.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';

const run = promisify(execFile);

describe('update-haproxy and fence-node through BashNodeOps (real redis, sentinel, haproxy)', () => {
  let t: TestCluster;
  const ops = new BashNodeOps();
  const router = new HaproxyRouter();
  const clients: Redis[] = [];
  const proxyAt = (i: number): ProxyConfig => t.cluster.proxies[i] as ProxyConfig;
  const nodeAt = (i: number): NodeConfig => t.cluster.nodes[i] as NodeConfig;
  const endpoint = (n: NodeConfig): Endpoint => ({ host: n.host, port: n.port });
  const connect = async (port: number) => {
    const client = new Redis({ host: '127.0.0.1', port, password: t.password, maxRetriesPerRequest: 0 });
    clients.push(client);
    await client.ping();
    return client;
  };
  /** The port of the redis-server a connection reaches. */
  const servedBy = async (client: Redis) => Number(/tcp_port:(\d+)/.exec(await client.info('server'))?.[1]);
  const workerPid = async (proxy: ProxyConfig) =>
    /^Pid: (\d+)$/m.exec(await runtimeApi(proxy.runtimeApi, ['show info']))?.[1];

  beforeAll(async () => {
    t = await startTestCluster();
    // The orchestrator's reconcile would route the proxies back to the Sentinels' master: stop it first.
    const o = t.d.orchestrator;
    if (o) await stopProcess(o.pid, (c) => c.includes('orchestrator.ts'));
  });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await t?.down();
  });

  it('builds local proxies that reload through their pid file', () => {
    expect(t.cluster.proxies.map((p) => p.reload)).toEqual(t.d.proxies.map((p) => `pidfile:${p.pidFile}`));
  });

  it('rewrites the config and state file, reloads keeping open connections, and routes new ones to the master', async () => {
    // Arrange: a connection through proxy-1 to redis-1, the current master; redis-2 becomes the given master.
    const proxy = proxyAt(0);
    const d = t.d.proxies[0];
    const [first, second] = [nodeAt(0), nodeAt(1)];
    if (!d) throw new Error('no proxy');
    const open = await connect(d.plainPort);
    expect(await servedBy(open)).toBe(first.port);
    const master = await readPidFile(d.pidFile);
    const workerBefore = await workerPid(proxy);
    const started = Date.now();

    // Act
    const { output } = await ops.run({ document: 'update-haproxy', proxy, master: endpoint(second) });
    const tookMs = Date.now() - started;

    // Assert: config and state name redis-2; a new worker serves; the master process stayed the same.
    expect(output).toMatch(new RegExp(`reloaded \\(pidfile:${d.pidFile}\\): worker ${workerBefore} -> \\d+`));
    expect(await readFile(d.configPath, 'utf8')).toContain(`\n    server master 127.0.0.1:${second.port}\n`);
    // The master slot's row (the file also holds the Runtime API's TLS listener).
    const state = parseServersState(await readFile(d.stateFilePath, 'utf8')).filter(
      (row) => row.be_name === d.backend,
    );
    expect(state).toEqual([
      expect.objectContaining({ be_name: 'redis_master', srv_name: 'master', srv_port: String(second.port) }),
    ]);
    expect(await workerPid(proxy)).not.toBe(workerBefore);
    expect(await readPidFile(d.pidFile)).toBe(master);
    expect(await router.masterRoute(proxy)).toEqual({ address: endpoint(second), state: 'ready' });
    // The connection opened before the reload still works, on its old route (the old worker keeps it).
    expect(await open.ping()).toBe('PONG');
    expect(await servedBy(open)).toBe(first.port);
    // New connections go to the given master.
    expect(await servedBy(await connect(d.plainPort))).toBe(second.port);
    expect(tookMs).toBeLessThan(5000);
  });

  it('refuses a config that does not validate: the old config and state stay, and the error says why', async () => {
    // Arrange: a hand edit gone wrong in proxy-2's config.
    const proxy = proxyAt(1);
    const d = t.d.proxies[1];
    if (!d) throw new Error('no proxy');
    await appendFile(d.configPath, '    bogus-directive on\n');
    const configBefore = await readFile(d.configPath, 'utf8');
    const stateBefore = await readFile(d.stateFilePath, 'utf8').catch(() => 'absent');
    const workerBefore = await workerPid(proxy);

    // Act
    const attempt = ops.run({ document: 'update-haproxy', proxy, master: endpoint(nodeAt(1)) });

    // Assert
    await expect(attempt).rejects.toThrow(
      /update-haproxy failed: update-haproxy: the config with redis_master\/master -> 127\.0\.0\.1:\d+ does not validate \(haproxy -c\): .*unknown keyword 'bogus-directive'.*kept the old .*haproxy\.cfg, nothing changed/,
    );
    expect(await readFile(d.configPath, 'utf8')).toBe(configBefore);
    expect(await readFile(d.stateFilePath, 'utf8').catch(() => 'absent')).toBe(stateBefore);
    expect(await workerPid(proxy)).toBe(workerBefore);
    expect((await router.masterRoute(proxy)).address).toEqual(endpoint(nodeAt(0)));
    await writeFile(d.configPath, configBefore.replace('    bogus-directive on\n', ''));
  });

  it('fences a running node: replicaof persisted and applied live', async () => {
    // Arrange: redis-3 replicates redis-1; it is fenced to redis-2.
    const node = nodeAt(2);
    const master = endpoint(nodeAt(1));

    // Act
    const { output } = await ops.run({ document: 'fence-node', node, master });

    // Assert (right away: Sentinel re-points a replica that follows a master it does not know, later on)
    const role = (await t.connections.run('redis', node, 1000, (c) => c.call('ROLE'))) as unknown[];
    expect(role.slice(0, 3)).toEqual(['slave', master.host, master.port]);
    expect(output).toContain(
      `applied live: 127.0.0.1:${node.port} is now a replica of 127.0.0.1:${master.port}`,
    );
    expect(output).not.toContain(t.password);
    const config = await readFile(node.configPath as string, 'utf8');
    expect(config.match(/^(replicaof|slaveof) .*$/gim)).toEqual([`replicaof 127.0.0.1 ${master.port}`]);
  });

  it('fences a node that already follows the master (Redis answers "OK Already connected"): a success', async () => {
    // Arrange: the previous case left redis-3 a replica of redis-2.
    const node = nodeAt(2);
    const master = endpoint(nodeAt(1));

    // Act: fenced to the same master again, as a retried reaction does
    const { output } = await ops.run({ document: 'fence-node', node, master });

    // Assert
    expect(output).toContain(
      `applied live: 127.0.0.1:${node.port} is now a replica of 127.0.0.1:${master.port}`,
    );
  });

  it('fences a stopped node in its config only, says so, and the node comes back fenced', async () => {
    // Arrange: stop redis-3.
    const node = nodeAt(2);
    const d = t.d.nodes[2];
    if (!d) throw new Error('no node');
    const master = endpoint(nodeAt(0));
    await stopProcess(d.pid, (c) => c.includes('redis-server') && c.includes(`:${node.port}`));

    // Act
    const { output } = await ops.run({ document: 'fence-node', node, master });

    // Assert
    expect(output).toBe(
      `persisted replicaof 127.0.0.1 ${master.port} in ${node.configPath}; not applied live: node 127.0.0.1:${node.port} is not running; it comes back fenced from its config`,
    );
    await startNode({ name: t.name, root: t.root }, 'redis-3');
    const role = (await t.connections.run('redis', node, 1000, (c) => c.call('ROLE'))) as unknown[];
    expect(role.slice(0, 3)).toEqual(['slave', master.host, master.port]);
  });
});

// systemd does not run on this machine (no PID 1 systemd in the container): a recording stand-in takes the
// place of systemctl, and the unit, environment file and releases go to temporary directories.
describe('install-bridge into temporary directories with a stand-in systemctl', () => {
  let dir: string;
  let bundle: string;
  const me = userInfo().username;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'har-bridge-'));
    bundle = (await bundleBridge(join(dir, 'build', 'bridge.mjs'))).outfile;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh host: prefix, unit and env directories, and a systemctl that records its calls. */
  const host = async (name: string) => {
    const root = join(dir, name);
    const bin = join(root, 'bin');
    await mkdir(bin, { recursive: true });
    const systemctl = join(bin, 'systemctl');
    await writeFile(
      systemctl,
      [
        '#!/usr/bin/env bash',
        `echo "$*" >> ${root}/systemctl.log`,
        // is-active answers what `active` says (0: active); every other command succeeds.
        `if [ "$1" = is-active ]; then exit "$(cat ${root}/active 2>/dev/null || echo 0)"; fi`,
        '',
      ].join('\n'),
    );
    await chmod(systemctl, 0o755);
    const flags = {
      prefix: join(root, 'opt'),
      unitDir: join(root, 'systemd'),
      envDir: join(root, 'etc'),
      systemctl,
      user: me,
      verifySeconds: '0',
    };
    return {
      root,
      bin,
      flags,
      calls: async () =>
        (await readFile(join(root, 'systemctl.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
      resetCalls: () => rm(join(root, 'systemctl.log'), { force: true }),
      setActive: (code: number) => writeFile(join(root, 'active'), String(code)),
      link: (name: string) => readlink(join(flags.prefix, name)).catch(() => undefined),
    };
  };
  type Host = Awaited<ReturnType<typeof host>>;
  const parameters = (b: string) => ({
    bundle: b,
    topicArn: 'arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events',
    cluster: 'orders',
    sentinelHost: '10.0.1.10',
    sentinelPort: '26379',
    passwordParameter: '/ha-redis/orders/sentinel-password',
  });
  /** Run the script with node 22+ first on PATH (as the host must have it). */
  const install = (h: Host, b: string, path = `${h.bin}:${dirname(process.execPath)}:${process.env.PATH}`) =>
    run('bash', [scriptPath('install-bridge'), ...argsOf({ ...parameters(b), ...h.flags })], {
      env: { ...process.env, PATH: path },
    }).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );
  const upgraded = async (name: string) => {
    const file = join(dir, `${name}.mjs`);
    await writeFile(file, `${await readFile(bundle, 'utf8')}\n// ${name}\n`);
    return file;
  };

  it('installs: release, current link, unit, environment file, then enable --now', async () => {
    // Arrange
    const h = await host('install');

    // Act
    const result = await install(h, bundle);

    // Assert
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const current = await h.link('current');
    expect(current).toMatch(/^releases\/[0-9a-f]{16}$/);
    expect(await h.link('previous')).toBeUndefined();
    expect(await readFile(join(h.flags.prefix, 'current', 'bridge.mjs'))).toEqual(await readFile(bundle));
    const unit = await readFile(join(h.flags.unitDir, 'ha-redis-bridge.service'), 'utf8');
    expect(unit).toContain(`\nExecStart=${process.execPath} ${h.flags.prefix}/current/bridge.mjs\n`);
    expect(unit).toContain(`\nUser=${me}\n`);
    expect(unit).toContain(`\nEnvironmentFile=${h.flags.envDir}/bridge.env\n`);
    expect(unit).not.toMatch(/@[A-Z_]+@/);
    const env = await readFile(join(h.flags.envDir, 'bridge.env'), 'utf8');
    expect(env.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([
      'HA_REDIS_CLUSTER=orders',
      'HA_REDIS_SENTINEL=10.0.1.10:26379',
      'HA_REDIS_EVENTS_TOPIC_ARN=arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events',
      'HA_REDIS_SENTINEL_PASSWORD_PARAMETER=/ha-redis/orders/sentinel-password',
      'AWS_REGION=eu-west-1',
      'AWS_DEFAULT_REGION=eu-west-1',
    ]);
    expect(await h.calls()).toEqual([
      'daemon-reload',
      'enable --now ha-redis-bridge.service',
      'is-active --quiet ha-redis-bridge.service',
    ]);
    expect(result.stdout).toContain(
      `installed ha-redis-bridge.service: release ${current?.slice(9)} (previous: none)`,
    );
  });

  it('upgrades: keeps the previous release, restarts, and keeps only the last two releases', async () => {
    // Arrange: installed once.
    const h = await host('upgrade');
    await install(h, bundle);
    const first = await h.link('current');
    await h.resetCalls();

    // Act: upgrade twice.
    const second = await install(h, await upgraded('v2'));
    const afterSecond = { current: await h.link('current'), previous: await h.link('previous') };
    const callsOfSecond = await h.calls();
    const third = await install(h, await upgraded('v3'));

    // Assert
    expect([second.code, third.code]).toEqual([0, 0]);
    expect(afterSecond.previous).toBe(first);
    expect(afterSecond.current).not.toBe(first);
    expect(callsOfSecond).toEqual([
      'daemon-reload',
      'enable ha-redis-bridge.service',
      'restart ha-redis-bridge.service',
      'is-active --quiet ha-redis-bridge.service',
    ]);
    expect(await h.link('previous')).toBe(afterSecond.current);
    expect(await readFile(join(h.flags.prefix, 'current', 'bridge.mjs'), 'utf8')).toMatch(/\/\/ v3\n$/);
    expect(await readFile(join(h.flags.prefix, 'previous', 'bridge.mjs'), 'utf8')).toMatch(/\/\/ v2\n$/);
    const { stdout } = await run('ls', [join(h.flags.prefix, 'releases')]);
    expect(stdout.trim().split('\n').sort()).toEqual(
      [afterSecond.current, await h.link('current')].map((l) => l?.slice(9)).sort(),
    );
    expect(third.stdout).toContain(`upgraded ha-redis-bridge.service`);
  });

  it('rolls back to the previous release when the upgraded service does not stay active', async () => {
    // Arrange
    const h = await host('rollback');
    await install(h, bundle);
    const good = await h.link('current');
    await h.setActive(3);

    // Act
    const result = await install(h, await upgraded('broken'));

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /did not stay active; rolled back to [0-9a-f]{16}; see journalctl -u ha-redis-bridge/,
    );
    expect(await h.link('current')).toBe(good);
  });

  it('refuses a missing bundle and changes nothing', async () => {
    // Arrange
    const h = await host('missing');
    await install(h, bundle);
    const current = await h.link('current');
    await h.resetCalls();

    // Act
    const result = await install(h, join(dir, 'no-such-bundle.mjs'));

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `install-bridge: bundle ${join(dir, 'no-such-bundle.mjs')} not found; nothing changed\n`,
    );
    expect(await h.link('current')).toBe(current);
    expect(await h.calls()).toEqual([]);
  });

  it('fetches an s3:// bundle with aws s3 cp', async () => {
    // Arrange: an aws stand-in that records its arguments and "downloads" the local bundle.
    const h = await host('s3');
    const aws = join(h.bin, 'aws');
    await writeFile(aws, `#!/usr/bin/env bash\necho "$*" > ${h.root}/aws.log\ncp ${bundle} "$5"\n`);
    await chmod(aws, 0o755);

    // Act
    const result = await install(h, 's3://cdk-assets-123456789012-eu-west-1/0a1b2c.mjs');

    // Assert
    expect(result.code).toBe(0);
    expect(await readFile(join(h.root, 'aws.log'), 'utf8')).toMatch(
      /^s3 cp --only-show-errors s3:\/\/cdk-assets-123456789012-eu-west-1\/0a1b2c\.mjs \S+\/bridge\.mjs\n$/,
    );
    expect(await readFile(join(h.flags.prefix, 'current', 'bridge.mjs'))).toEqual(await readFile(bundle));
  });

  it('refuses a host whose node is older than 22', async () => {
    // Arrange: the only node on PATH says v20.
    const h = await host('old-node');
    const node = join(h.bin, 'node');
    await writeFile(node, '#!/usr/bin/env bash\necho v20.11.1\n');
    await chmod(node, 0o755);

    // Act
    const result = await install(h, bundle, `${h.bin}:/usr/bin:/bin`);

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `install-bridge: node 22 or later is required on this host; ${node} is v20.11.1; install Node.js 22+ and run again\n`,
    );
    expect(await h.calls()).toEqual([]);
  });
});
