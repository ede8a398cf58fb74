import { execFile } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyRouter, parseServersState, runtimeApi } from '../../adapters/haproxy/runtime-api.ts';
import { BashNodeOps, scriptPath } from '../../adapters/host/bash-node-ops.ts';
import { type Endpoint, NO_MASTER, type NodeConfig, type ProxyConfig } from '../../core/model/cluster.ts';
import { startNode } from '../../local/launcher.ts';
import { readPidFile, stopProcess, waitUntil } from '../../local/processes.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';

const run = promisify(execFile);
/** A script run with bash: its exit code and both outputs. */
const runBash = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  run('bash', args).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

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
    const { output } = await ops.run({
      document: 'update-haproxy',
      proxy,
      master: endpoint(second),
      epoch: 1,
    });
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
    const attempt = ops.run({
      document: 'update-haproxy',
      proxy,
      master: endpoint(nodeAt(1)),
      epoch: 1,
    });

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
    const { output } = await ops.run({ document: 'fence-node', node, master, epoch: 1 });

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
    const { output } = await ops.run({ document: 'fence-node', node, master, epoch: 1 });

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
    const { output } = await ops.run({ document: 'fence-node', node, master, epoch: 2 });

    // Assert
    expect(output).toBe(
      `persisted replicaof 127.0.0.1 ${master.port} in ${node.configPath} (epoch 2); not applied live: node 127.0.0.1:${node.port} is not running; it comes back fenced from its config`,
    );
    await startNode({ name: t.name, root: t.root }, 'redis-3');
    // A node just started on a loaded machine (two suites side by side) took over a second to answer once.
    let role: unknown[] = [];
    await waitUntil(
      async () => {
        role = (await t.connections.run('redis', node, 1000, (c) => c.call('ROLE'))) as unknown[];
        return true;
      },
      10_000,
      'redis-3 to answer ROLE after its start',
      100,
    );
    expect(role.slice(0, 3)).toEqual(['slave', master.host, master.port]);
  });

  it("refuses a late fence of an older epoch: the newer epoch's master stays, in the config and live", async () => {
    // Arrange: the previous case fenced redis-3 to redis-1 at epoch 2.
    const node = nodeAt(2);
    const newer = endpoint(nodeAt(0));
    const config = await readFile(node.configPath as string, 'utf8');

    // Act: epoch 1's fence to redis-2 and a hold (replica of nothing) of epoch 1 arrive late.
    const late = await ops.run({ document: 'fence-node', node, master: endpoint(nodeAt(1)), epoch: 1 });
    const lateHold = await ops.run({ document: 'fence-node', node, master: NO_MASTER, epoch: 1 });

    // Assert
    const stale = `stale: epoch 1 is older than epoch 2, whose fence ${node.configPath} holds; nothing changed`;
    expect(late).toEqual({ output: stale, stale: true });
    expect(lateHold).toEqual({ output: stale, stale: true });
    expect(await readFile(node.configPath as string, 'utf8')).toBe(config);
    expect(await readFile(`${node.configPath}.epoch`, 'utf8')).toBe('2\n');
    const role = (await t.connections.run('redis', node, 1000, (c) => c.call('ROLE'))) as unknown[];
    expect(role.slice(0, 3)).toEqual(['slave', newer.host, newer.port]);
  });

  it('refuses a fence without an epoch, or with one that is no number, changing nothing', async () => {
    const node = nodeAt(2);
    const config = await readFile(node.configPath as string, 'utf8');
    const script = scriptPath('fence-node');
    const base = [
      '--config',
      node.configPath as string,
      '--master-addr',
      '127.0.0.1',
      '--master-port',
      '1',
      '--node-port',
      String(node.port),
    ];

    const missing = await runBash([script, ...base]);
    const bad = await runBash([script, ...base, '--epoch', '1e3']);

    expect(missing).toEqual({ code: 2, stdout: '', stderr: 'fence-node: missing --epoch\n' });
    expect(bad).toEqual({
      code: 2,
      stdout: '',
      stderr: "fence-node: --epoch '1e3' is not an epoch (a number)\n",
    });
    expect(await readFile(node.configPath as string, 'utf8')).toBe(config);
  });
});
