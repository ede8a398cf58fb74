import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { BashNodeOps } from '../../adapters/host/bash-node-ops.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import { which } from '../../local/host-programs.ts';
import { freePorts, waitUntil } from '../../local/processes.ts';
import {
  configRoutes,
  type HaproxyHost,
  missingProxyTools,
  startHaproxyHost,
  stateRoutes,
  updateHaproxy,
} from '../support/haproxy-host.ts';

const skipReason = missingProxyTools();
if (skipReason) console.warn(`update-haproxy concurrency tests skipped: ${skipReason}`);

/** As many services as a host set puts behind one HAProxy: a host failure persists all of them at once. */
const SERVICES = 8;

/** A process holding `path` locked with flock(1) until release() (as a persist in its critical section). */
async function holdLock(path: string): Promise<{ release(): Promise<void> }> {
  const holder: ChildProcess = spawn(which('flock'), [path, 'cat'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
  await waitUntil(async () => (await locksOn(path)).held > 0, 5000, `flock holding ${path}`);
  return {
    release: async () => {
      holder.stdin?.end();
      await exited;
    },
  };
}

/** The flock locks on a file, from /proc/locks: held, and waited for (the `->` lines). */
async function locksOn(path: string): Promise<{ held: number; waiting: number }> {
  const { ino } = await stat(path);
  const lines = (await readFile('/proc/locks', 'utf8')).split('\n').filter((l) => l.includes('FLOCK'));
  // "<n>: [->] FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> 0 EOF"
  const onFile = lines.filter((l) => l.split(/\s+/).some((field) => field.endsWith(`:${ino}`)));
  const waiting = onFile.filter((l) => l.includes('->')).length;
  return { held: onFile.length - waiting, waiting };
}

describe.skipIf(skipReason !== undefined)(
  'update-haproxy with many backends on one HAProxy (real haproxy, socat, flock)',
  () => {
    let dir: string;
    let h: HaproxyHost;
    // A loaded 2-core machine runs 8 persists' locked sections one after another: more than the default 20 s.
    const ops = new BashNodeOps(60_000);
    const router = new HaproxyRouter();

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'har-haproxy-'));
      h = await startHaproxyHost(dir, SERVICES);
    });
    afterEach(async () => {
      await h?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    /** A new master for every backend, each on a port of its own. */
    const newMasters = async (): Promise<Map<string, Endpoint>> => {
      const ports = await freePorts(SERVICES);
      return new Map(h.backends.map((b, i) => [b.backend, { host: '127.0.0.1', port: ports[i] as number }]));
    };
    const routesOf = (masters: Map<string, Endpoint>) =>
      Object.fromEntries([...masters].map(([backend, m]) => [backend, `${m.host}:${m.port}`]));
    const initialRoutes = () => routesOf(new Map(h.backends.map((b) => [b.backend, b.master])));
    const persistAll = (masters: Map<string, Endpoint>) =>
      Promise.all(
        [...masters].map(([backend, master]) =>
          ops.run({ document: 'update-haproxy', proxy: h.proxyFor(backend), master, epoch: 1 }),
        ),
      );
    const reloadedBy = (outputs: string[]) =>
      outputs.filter((o) => new RegExp(`; reloaded \\(pidfile:${h.pidFile}\\): worker \\d+ -> \\d+`).test(o));
    const carried = (outputs: string[]) =>
      outputs.filter((o) =>
        /; reload carried by another persist \(generation \d+ >= \d+\): worker \d+/.test(o),
      );

    it('persists 8 backends rerouted at runtime, all at once, losing none, and reloads nothing: the running HAProxy already serves them', async () => {
      // Arrange: the orchestrator has rerouted every backend at runtime (a host failed under all 8 services).
      const masters = await newMasters();
      await Promise.all([...masters].map(([backend, m]) => router.pointMasterAt(h.proxyFor(backend), m)));
      const reloadsBefore = await h.reloads();
      const workerBefore = await h.workerPid();

      // Act
      const outputs = (await persistAll(masters)).map((r) => r.output);

      // Assert: every route in the config, the state file and the running HAProxy; no reload, which would only
      // race the reroutes of other services on this shared HAProxy.
      const expected = routesOf(masters);
      expect(configRoutes(await readFile(h.configPath, 'utf8'))).toEqual(expected);
      expect(stateRoutes(await readFile(h.stateFilePath, 'utf8'))).toEqual(expected);
      expect(await h.runtimeRoutes()).toEqual(expected);
      expect(await h.reloads()).toBe(reloadsBefore);
      expect(await h.workerPid()).toBe(workerBefore);
      for (const o of outputs)
        expect(o).toMatch(/; the running haproxy already serves \S+ at \S+: not reloaded/);
    });

    it('persists 8 backends at once whose new addresses the running HAProxy lacks, and then serves them all', async () => {
      // Arrange: no runtime reroute, so only the persists carry the new addresses into the running HAProxy; a reload
      // that loaded a state file without the other backends' addresses would put them back at their old ones.
      const masters = await newMasters();
      const reloadsBefore = await h.reloads();
      expect(await h.runtimeRoutes()).toEqual(initialRoutes());

      // Act
      const outputs = (await persistAll(masters)).map((r) => r.output);

      // Assert
      const expected = routesOf(masters);
      expect(configRoutes(await readFile(h.configPath, 'utf8'))).toEqual(expected);
      expect(stateRoutes(await readFile(h.stateFilePath, 'utf8'))).toEqual(expected);
      expect(await h.runtimeRoutes()).toEqual(expected);
      const reloads = (await h.reloads()) - reloadsBefore;
      expect(reloads).toBeGreaterThanOrEqual(1);
      expect(reloads).toBeLessThanOrEqual(3);
      expect(reloadedBy(outputs).length + carried(outputs).length).toBe(SERVICES);
    });

    it('reloads with every server at its runtime address: one moved at runtime only keeps its new host', async () => {
      // Arrange: backend A moved at runtime to another host and never persisted (a reconcile's repair); backend B
      // persisted at an address the running HAProxy lacks, so its persist reloads. At load HAProxy takes a
      // server's address from the config (and only its port from the state file): A's old config line would win.
      const [a, b] = h.backends as [(typeof h.backends)[number], (typeof h.backends)[number]];
      const [portA, portB] = (await freePorts(2)) as [number, number];
      await router.pointMasterAt(h.proxyFor(a.backend), { host: '127.0.0.2', port: portA });

      // Act
      const result = await updateHaproxy(h, b.backend, { host: '127.0.0.3', port: portB });

      // Assert
      expect(result.stdout).toMatch(/; reloaded \(pidfile:/);
      const runtime = await h.runtimeRoutes();
      expect(runtime[a.backend]).toBe(`127.0.0.2:${portA}`);
      expect(runtime[b.backend]).toBe(`127.0.0.3:${portB}`);
      expect(configRoutes(await readFile(h.configPath, 'utf8'))[a.backend]).toBe(`127.0.0.2:${portA}`);
    });

    it('persists 8 backends at once with --reload none: config and state file hold all 8, and no reload happens', async () => {
      // Arrange
      const masters = await newMasters();
      const reloadsBefore = await h.reloads();

      // Act
      const results = await Promise.all(
        [...masters].map(([backend, m]) => updateHaproxy(h, backend, m, { reload: 'none' })),
      );

      // Assert: persisted, not applied; the next reload (of any one backend) serves all 8.
      expect(results.map((r) => [r.code, r.stderr])).toEqual(results.map(() => [0, '']));
      for (const r of results) expect(r.stdout).toMatch(/; not reloaded \(--reload none\)\n$/);
      const expected = routesOf(masters);
      expect(configRoutes(await readFile(h.configPath, 'utf8'))).toEqual(expected);
      expect(stateRoutes(await readFile(h.stateFilePath, 'utf8'))).toEqual(expected);
      expect(await h.runtimeRoutes()).toEqual(initialRoutes());
      expect(await h.reloads()).toBe(reloadsBefore);
      const [first, firstMaster] = [...masters][0] ?? [];
      if (!first || !firstMaster) throw new Error('no backend');
      const reload = await updateHaproxy(h, first, firstMaster);
      expect(reload.stdout).toMatch(/; reloaded \(pidfile:.*\): worker \d+ -> \d+/);
      expect(await h.runtimeRoutes()).toEqual(expected);
    });

    it('reloads through systemctl reload, a few times at most, for 8 persists at once', async () => {
      // Arrange: a stand-in systemctl (no systemd here) that records its calls and does what haproxy.service's
      // ExecReload does: USR2 to the master.
      const bin = join(dir, 'bin');
      await mkdir(bin);
      const log = join(dir, 'systemctl.log');
      await writeFile(
        join(bin, 'systemctl'),
        `#!/usr/bin/env bash\necho "$*" >> ${log}\nif [ "$1" = reload ]; then kill -USR2 "$(cat ${h.pidFile})"; fi\n`,
        { mode: 0o755 },
      );
      const masters = await newMasters();
      const reloadsBefore = await h.reloads();

      // Act
      const results = await Promise.all(
        [...masters].map(([backend, m]) =>
          updateHaproxy(h, backend, m, {
            reload: 'systemd:haproxy',
            env: { PATH: `${bin}:${process.env.PATH}` },
          }),
        ),
      );

      // Assert
      expect(results.map((r) => [r.code, r.stderr])).toEqual(results.map(() => [0, '']));
      expect(await h.runtimeRoutes()).toEqual(routesOf(masters));
      const calls = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
      expect(calls.length).toBeGreaterThanOrEqual(1);
      expect(calls.length).toBeLessThanOrEqual(3);
      expect(new Set(calls)).toEqual(new Set(['reload haproxy']));
      expect((await h.reloads()) - reloadsBefore).toBe(calls.length);
      expect(results.filter((r) => r.stdout.includes('; reloaded (systemd:haproxy): worker '))).toHaveLength(
        calls.length,
      );
    });

    it("refuses a late persist of an older epoch: the newer epoch's routing stays in the config, the state file and the running HAProxy", async () => {
      // Arrange: epoch 7 rerouted one backend at runtime and persisted it.
      const [[backend, newer], [, older]] = [...(await newMasters())] as [
        [string, Endpoint],
        [string, Endpoint],
      ];
      if (!backend || !newer || !older) throw new Error('no backend');
      const proxy = h.proxyFor(backend);
      await router.pointMasterAt(proxy, newer);
      await ops.run({ document: 'update-haproxy', proxy, master: newer, epoch: 7 });
      const config = await readFile(h.configPath, 'utf8');
      const state = await readFile(h.stateFilePath, 'utf8');
      const [reloadsBefore, workerBefore] = [await h.reloads(), await h.workerPid()];

      // Act: epoch 6's persist to another address arrives late (an SSM command that waited for the host).
      const late = await ops.run({ document: 'update-haproxy', proxy, master: older, epoch: 6 });

      // Assert
      expect(late).toEqual({
        output: `stale: epoch 6 is older than epoch 7, whose routing of ${backend}/master ${h.configPath} holds; nothing changed`,
        stale: true,
      });
      expect(await readFile(h.configPath, 'utf8')).toBe(config);
      expect(await readFile(h.stateFilePath, 'utf8')).toBe(state);
      expect(await readFile(`${h.configPath}.epochs`, 'utf8')).toContain(`${backend} master 7\n`);
      expect(await router.masterRoute(proxy)).toEqual({ address: newer, state: 'ready' });
      expect(await h.reloads()).toBe(reloadsBefore);
      expect(await h.workerPid()).toBe(workerBefore);
      // The same epoch again, and a newer one, still persist.
      await expect(
        ops.run({ document: 'update-haproxy', proxy, master: newer, epoch: 7 }),
      ).resolves.not.toHaveProperty('stale');
      await router.pointMasterAt(proxy, older);
      const next = await ops.run({ document: 'update-haproxy', proxy, master: older, epoch: 8 });
      expect(next.stale).toBeUndefined();
      expect(await readFile(h.configPath, 'utf8')).toContain(`server master 127.0.0.1:${older.port}`);
    });

    it('says nothing changed and does not reload when the config and HAProxy already route to the address', async () => {
      // Arrange: one backend rerouted and persisted.
      const [backend, master] = [...(await newMasters())][0] ?? [];
      if (!backend || !master) throw new Error('no backend');
      await router.pointMasterAt(h.proxyFor(backend), master);
      await ops.run({ document: 'update-haproxy', proxy: h.proxyFor(backend), master, epoch: 1 });
      const reloadsBefore = await h.reloads();
      const workerBefore = await h.workerPid();

      // Act: the same persist again (a retry).
      const { output } = await ops.run({
        document: 'update-haproxy',
        proxy: h.proxyFor(backend),
        master,
        epoch: 1,
      });

      // Assert
      expect(output).toBe(
        `nothing changed: ${h.configPath} and the running haproxy already have ${backend}/master at 127.0.0.1:${master.port} (state file ${h.stateFilePath} refreshed); not reloaded`,
      );
      expect(await h.reloads()).toBe(reloadsBefore);
      expect(await h.workerPid()).toBe(workerBefore);
    });

    it('waits while another persist holds the config lock, then persists and reloads', async () => {
      // Arrange: another persist is in its critical section.
      const [backend, master] = [...(await newMasters())][0] ?? [];
      if (!backend || !master) throw new Error('no backend');
      const lockPath = `${h.configPath}.lock`;
      const holder = await holdLock(lockPath);
      const configBefore = await readFile(h.configPath, 'utf8');

      // Act: the persist starts, and waits for the lock (the kernel lists it as a waiter).
      const persist = updateHaproxy(h, backend, master);
      try {
        await waitUntil(
          async () => (await locksOn(lockPath)).waiting > 0,
          10_000,
          'the persist waiting for the lock',
        );
        expect(await readFile(h.configPath, 'utf8')).toBe(configBefore);
      } finally {
        await holder.release();
      }
      const result = await persist;

      // Assert
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(
        new RegExp(
          `^persisted ${backend}/master -> 127\\.0\\.0\\.1:${master.port} \\(epoch 1\\) in .*; reloaded \\(pidfile:`,
        ),
      );
      expect(configRoutes(await readFile(h.configPath, 'utf8'))[backend]).toBe(`127.0.0.1:${master.port}`);
      expect((await h.runtimeRoutes())[backend]).toBe(`127.0.0.1:${master.port}`);
    });

    it('gives up when the lock stays held past its wait, says so, and changes nothing', async () => {
      // Arrange: a lock held for longer than the (shortened) wait.
      const [backend, master] = [...(await newMasters())][0] ?? [];
      if (!backend || !master) throw new Error('no backend');
      const holder = await holdLock(`${h.configPath}.lock`);
      const configBefore = await readFile(h.configPath, 'utf8');
      const reloadsBefore = await h.reloads();

      // Act
      const result = await updateHaproxy(h, backend, master, {
        env: { UPDATE_HAPROXY_LOCK_WAIT_SECONDS: '1' },
      }).finally(() => holder.release());

      // Assert
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `update-haproxy: waited 1 s for ${h.configPath}.lock, which another update-haproxy holds; nothing changed; run again\n`,
      );
      expect(await readFile(h.configPath, 'utf8')).toBe(configBefore);
      expect(await readFile(h.stateFilePath, 'utf8').catch(() => 'absent')).toBe('absent');
      expect(await h.reloads()).toBe(reloadsBefore);
    });

    it('refuses to run on a host without flock and says how to get it', async () => {
      // Arrange: a PATH with haproxy and socat but no flock.
      const [backend, master] = [...(await newMasters())][0] ?? [];
      if (!backend || !master) throw new Error('no backend');
      const bin = join(dir, 'bin');
      await mkdir(bin);
      await Promise.all(['haproxy', 'socat'].map((tool) => symlink(which(tool), join(bin, tool))));
      const configBefore = await readFile(h.configPath, 'utf8');

      // Act
      const result = await updateHaproxy(h, backend, master, { env: { PATH: bin } });

      // Assert
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        'update-haproxy: flock is not installed (it comes with util-linux: apt-get install util-linux); nothing changed\n',
      );
      expect(await readFile(h.configPath, 'utf8')).toBe(configBefore);
    });
  },
);
