import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { localUp } from '../../local/launcher.ts';
import { commandLine } from '../../local/processes.ts';
import { runCli } from '../support/cli.ts';
import { startTestCluster, type TestCluster } from './cluster.ts';

const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

describe('local cluster launcher', () => {
  let t: TestCluster | undefined;
  afterAll(async () => {
    await t?.down().catch(() => undefined);
  });

  it('writes a descriptor that names every process, port and file, and refuses a second up of the same name', async () => {
    t = await startTestCluster();
    const d = await readDescriptor(descriptorPath(t.name, t.root));
    expect(d.nodes).toHaveLength(3);
    expect(d.sentinels).toHaveLength(3);
    expect(d.proxies).toHaveLength(2);
    expect(d.orchestrator?.pid).toBeGreaterThan(1);
    expect(
      new Set([
        ...d.nodes.map((n) => n.port),
        ...d.sentinels.map((s) => s.port),
        ...d.proxies.flatMap((p) => [p.plainPort, p.tlsPort]),
      ]).size,
    ).toBe(10);
    await expect(localUp({ name: t.name, root: t.root })).rejects.toThrow(/already up/);
  });

  it('stops exactly what it started on down, and leaves no process and no used port behind', async () => {
    if (!t) throw new Error('cluster not started');
    const d = t.d;
    const pids = [
      ...d.nodes.map((n) => n.pid),
      ...d.sentinels.map((s) => s.pid),
      ...d.proxies.map((p) => p.pid),
      d.stateStore.pid,
      d.orchestrator?.pid ?? 0,
    ];
    const ports = [
      ...d.nodes.map((n) => n.port),
      ...d.sentinels.map((s) => s.port),
      ...d.proxies.flatMap((p) => [p.plainPort, p.tlsPort]),
    ];

    const stopped = await t.down();
    t = undefined;

    expect(stopped).toHaveLength(pids.length);
    for (const pid of pids) expect(await commandLine(pid)).toBeUndefined();
    for (const port of ports) expect(await portIsFree(port)).toBe(true);
  });
});

describe('ha-redis CLI arguments', () => {
  const cli = (...args: string[]) =>
    runCli(args, { env: { ...process.env, HA_REDIS_HOME: '/nonexistent-ha-redis-home' } });

  it('rejects a bad number with a one-line error and exit code 2', async () => {
    const r = await cli('local', 'up', '--down-after-ms', 'soon');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--down-after-ms must be a positive integer, got 'soon'/);
  });

  it('rejects an unknown command and an unknown option with exit code 2, and --help exits 0', async () => {
    expect((await cli('local', 'sideways')).code).toBe(2);
    const r = await cli('local', 'down', '--nmae', 'x');
    expect(r.code).toBe(2);
    expect((await cli('--help')).code).toBe(0);
    expect(r.stderr).toMatch(/unknown option '--nmae'/);
  });

  it('says how to start a cluster when the named one does not exist', async () => {
    const r = await cli('local', 'status', '--name', 'nope');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no local cluster descriptor .* start one with 'ha-redis local up'/);
  });
});
