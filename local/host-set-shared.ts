/**
 * The processes a host set's services share: one HAProxy per host (a plain and a TLS frontend and one fail-closed
 * master slot per service), and in the `shared` layout one Sentinel per host that monitors every master. Each
 * service's descriptor lists them as its own proxies and Sentinels.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeHostSet } from '../config/host-set-descriptor.ts';
import { writeDescriptor } from '../config/local-descriptor.ts';
import { HaRedisError } from '../core/model/errors.ts';
import { onHost, which } from './host-programs.ts';
import type { SetLaunch } from './host-set-launch.ts';
import type { Launch } from './launch-phases.ts';
import { startDetached, waitForPort } from './processes.ts';
import { renderSharedSentinelConf } from './render.ts';
import { renderHostHaproxyConf, serviceBackend } from './render-host-set.ts';

const masterOf = (l: Launch) => {
  const master = l.d.nodes[0];
  if (!master) throw new HaRedisError(`${l.d.cluster} has no nodes`);
  return { host: master.host, port: master.port };
};

/** One Sentinel per host, monitoring every service's master (quorum 2). */
export async function startSharedSentinels(s: SetLaunch, launches: Launch[]): Promise<void> {
  const first = launches[0];
  if (!first) return;
  const { downAfterMs, failoverTimeoutMs } = first.d.sentinelSettings;
  for (const [i, host] of s.placements.entries()) {
    const id = `sentinel-${i + 1}`;
    const port = s.take();
    const dir = join(s.set.dir, id);
    await mkdir(dir, { recursive: true });
    const configPath = join(dir, 'sentinel.conf');
    const conf = renderSharedSentinelConf({
      port,
      dir,
      password: s.password,
      bind: host.ip,
      masters: launches.map((l) => ({ masterName: l.d.masterName, master: masterOf(l) })),
      quorum: 2,
      downAfterMs,
      failoverTimeoutMs,
    });
    await writeFile(configPath, conf, { mode: 0o600 });
    const pid = startDetached(
      ...onHost(host, which('redis-sentinel'), [configPath]),
      join(dir, 'stdout.log'),
    );
    const proc = {
      id,
      port,
      pid,
      pidFile: join(dir, 'sentinel.pid'),
      logPath: join(dir, 'sentinel.log'),
      configPath,
    };
    s.set.hosts[i]?.processes.push({ kind: 'sentinel', ...proc });
    for (const l of launches) {
      l.d.sentinels.push({
        ...proc,
        host: host.ip,
        hostId: `host-${i + 1}`,
        ...(host.netns ? { netns: host.netns } : {}),
      });
    }
    await writeHostSet(s.path, s.set);
  }
  await Promise.all(launches.map((l) => writeDescriptor(l.path, l.d)));
  s.progress(
    `started ${s.placements.length} shared redis-sentinel, each monitoring ${launches.length} masters`,
  );
}

/** One HAProxy per host, every service's master slot routed to its master on host-1; waits until each listens. */
export async function startSetProxies(s: SetLaunch, launches: Launch[]): Promise<void> {
  // A service's frontends take the same two ports on every host (each host has its own address), as in the seed.
  const frontends = launches.map((l) => ({
    name: l.d.cluster,
    plainPort: s.take(),
    tlsPort: s.take(),
    master: masterOf(l),
  }));
  for (const [i, host] of s.placements.entries()) {
    const id = `proxy-${i + 1}`;
    const dir = join(s.set.dir, id);
    await mkdir(dir, { recursive: true });
    const apiTlsPort = s.take();
    const socketPath = join(dir, 'admin.sock');
    const stateFilePath = join(dir, 'server-state');
    const configPath = join(dir, 'haproxy.cfg');
    await writeFile(
      configPath,
      renderHostHaproxyConf({
        socketPath,
        stateFilePath,
        pemPath: s.proxyPemPath,
        apiTls: { port: apiTlsPort, caPath: s.caCertPath },
        bind: host.ip,
        services: frontends,
      }),
    );
    const pidFile = join(dir, 'haproxy.pid');
    const logPath = join(dir, 'haproxy.log');
    const pid = startDetached(
      ...onHost(host, which('haproxy'), ['-W', '-f', configPath, '-p', pidFile]),
      logPath,
    );
    s.set.hosts[i]?.processes.push({
      kind: 'haproxy',
      id,
      port: apiTlsPort,
      pid,
      pidFile,
      logPath,
      configPath,
    });
    for (const [k, l] of launches.entries()) {
      const f = frontends[k];
      if (!f) continue;
      l.d.proxies.push({
        id,
        host: host.ip,
        plainPort: f.plainPort,
        tlsPort: f.tlsPort,
        runtimeApi: { kind: 'unix', path: socketPath },
        apiTlsPort,
        configPath,
        stateFilePath,
        backend: serviceBackend(l.d.cluster),
        server: 'master',
        pid,
        pidFile,
        logPath,
        hostId: `host-${i + 1}`,
        ...(host.netns ? { netns: host.netns } : {}),
      });
    }
    await writeHostSet(s.path, s.set);
  }
  await Promise.all(launches.map((l) => writeDescriptor(l.path, l.d)));
  const first = frontends[0];
  await Promise.all(
    s.placements.map(async (h, i) => {
      if (!first) return;
      const logPath = join(s.set.dir, `proxy-${i + 1}`, 'haproxy.log');
      await waitForPort(first.plainPort, 20_000, `haproxy proxy-${i + 1}`, h.ip).catch(
        async (error: unknown) => {
          const tail = (await readFile(logPath, 'utf8').catch(() => '')).split('\n').slice(-5).join('\n');
          throw new HaRedisError(`${(error as Error).message}\n${tail}`);
        },
      );
    }),
  );
  s.progress(
    `started ${s.placements.length} haproxy, each with ${launches.length} services (plain and TLS frontends)`,
  );
}
