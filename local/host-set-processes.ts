/**
 * A host set's processes, host by host: `local down` of a set (exactly its processes, its namespaces, its
 * files), which are alive (`local status`), and a host failure (`local fail-host`: kill, cut, restore).
 */
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type HostProcess,
  type HostSet,
  hostOfSet,
  hostSetPath,
  isHostSet,
  readHostSet,
  type SetHost,
  writeHostSet,
} from '../config/host-set-descriptor.ts';
import { clusterDir, descriptorPath, readDescriptor, writeDescriptor } from '../config/local-descriptor.ts';
import { ConfigurationError } from '../core/model/errors.ts';
import { onHost, which } from './host-programs.ts';
import { cutOff, destroyTopology, reconnect } from './netns.ts';
import { commandLine, readPidFile, startDetached, stopProcess, waitForPort } from './processes.ts';

/** Whether a command line is still the process the set started. */
function matcher(p: HostProcess): (cmdline: string) => boolean {
  if (p.kind === 'haproxy') return (c) => c.includes('haproxy') && c.includes(p.configPath);
  if (p.kind === 'sentinel') return (c) => c.includes('sentinel') && c.includes(`:${p.port}`);
  return (c) => c.includes('redis-server') && c.includes(`:${p.port}`);
}

/** The pids a process may run as: the recorded one, and the one in its pid file (HAProxy's master writes it). */
async function pidsOf(p: { pid: number; pidFile: string }): Promise<number[]> {
  const fromFile = await readPidFile(p.pidFile);
  return [...new Set([p.pid, ...(fromFile ? [fromFile] : [])])];
}

/** The pid a process of the set runs as now, or undefined when it is not running. */
export async function runningPid(p: HostProcess): Promise<number | undefined> {
  for (const pid of await pidsOf(p)) {
    const cmd = await commandLine(pid);
    if (cmd && matcher(p)(cmd)) return pid;
  }
  return undefined;
}

const orchestratorMatcher = (set: HostSet) => (c: string) =>
  c.includes('orchestrator.ts') && set.services.some((s) => c.includes(descriptorPath(s, rootOf(set))));
const rootOf = (set: HostSet) => dirname(set.dir);

/** Stop exactly the set's processes (orchestrator first, then Sentinels, proxies, nodes, dynalite), then its files. */
export async function hostSetDown(options: {
  name: string;
  root?: string;
  keepFiles?: boolean;
}): Promise<string[]> {
  const set = await readHostSet(hostSetPath(options.name, options.root));
  // A service moved to another set's hosts still runs from its files here, with this set's password, CA and
  // orchestrator: that set goes down first.
  for (const service of set.services) {
    const d = await readDescriptor(descriptorPath(service, options.root)).catch(() => undefined);
    if (d?.hostSet && d.hostSet !== set.set && isHostSet(d.hostSet, options.root)) {
      throw new ConfigurationError(
        `${service} of set ${set.set} lives on set ${d.hostSet}'s hosts now (ha-redis move), served by this set's orchestrator and files; run 'ha-redis local down --name ${d.hostSet}' first`,
      );
    }
  }
  const stopped: string[] = [];
  const stop = async (what: string, p: { pid: number; pidFile: string }, matches: (c: string) => boolean) => {
    for (const pid of await pidsOf(p))
      if (await stopProcess(pid, matches)) stopped.push(`${what} (pid ${pid})`);
  };
  if (set.orchestrator) await stop('orchestrator', set.orchestrator, orchestratorMatcher(set));
  const order: HostProcess['kind'][] = ['sentinel', 'haproxy', 'redis'];
  for (const kind of order) {
    const all = set.hosts.flatMap((h) => h.processes.filter((p) => p.kind === kind).map((p) => ({ h, p })));
    await Promise.all(
      all.map(({ h, p }) => stop(`${h.id} ${p.service ?? ''} ${p.id}`.replace('  ', ' '), p, matcher(p))),
    );
  }
  await stop(
    'dynalite',
    set.stateStore,
    (c) => c.includes('dynalite-server.ts') && c.includes(set.stateStore.endpoint.split(':').pop() ?? '-'),
  );
  if (set.network.kind === 'netns') {
    const { id, bridge, gateway } = set.network;
    const hosts = set.hosts.map((h) => ({ netns: h.netns ?? '', ip: h.address, link: h.link ?? '' }));
    await destroyTopology({ id, bridge, gateway, hosts, clients: [] });
  }
  if (!options.keepFiles) {
    for (const service of set.services)
      await rm(clusterDir(service, options.root), { recursive: true, force: true });
    await rm(set.dir, { recursive: true, force: true });
  }
  return stopped;
}

export interface HostStatus {
  id: string;
  address: string;
  netns: string | null;
  processes: (HostProcess & { alive: boolean })[];
}

/** Which of the set's processes run, host by host. */
export async function hostSetStatus(options: {
  name: string;
  root?: string;
}): Promise<{ set: HostSet; hosts: HostStatus[] }> {
  const set = await readHostSet(hostSetPath(options.name, options.root));
  const hosts = await Promise.all(
    set.hosts.map(async (h) => ({
      id: h.id,
      address: h.address,
      netns: h.netns ?? null,
      processes: await Promise.all(
        h.processes.map(async (p) => ({ ...p, alive: (await runningPid(p)) !== undefined })),
      ),
    })),
  );
  return { set, hosts };
}

export type FailHostMode = 'kill' | 'cut' | 'restore';

/** `kill`: SIGKILL every process on the host. `cut`: its link down (namespaces only). `restore`: both undone. */
export async function failHost(
  options: { name: string; root?: string },
  hostId: string,
  mode: FailHostMode,
): Promise<string[]> {
  const path = hostSetPath(options.name, options.root);
  const set = await readHostSet(path);
  const host = hostOfSet(set, hostId);
  if (mode === 'cut' || (mode === 'restore' && host.link)) {
    if (!host.link || set.network.kind !== 'netns') {
      if (mode === 'cut') {
        throw new ConfigurationError(
          `host set ${set.set} runs on loopback addresses: 'cut' needs network namespaces (start the set as root)`,
        );
      }
    } else if (mode === 'cut') {
      await cutOff({ netns: host.netns ?? '', ip: host.address, link: host.link });
      return [`${hostId}: link ${host.link} down`];
    } else {
      await reconnect({ netns: host.netns ?? '', ip: host.address, link: host.link });
    }
  }
  if (mode === 'kill') return killHost(host);
  return restoreHost(options, set, path, host);
}

/** SIGKILL a process group by its leader's pid, or the process alone when it leads none. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    process.kill(pid, 'SIGKILL');
  }
}

async function killHost(host: SetHost): Promise<string[]> {
  const killed: string[] = [];
  await Promise.all(
    host.processes.map(async (p) => {
      const pid = await runningPid(p);
      if (pid === undefined) return;
      try {
        // The whole process group: HAProxy's master-worker leaves its worker serving when only the master dies,
        // and a dead host has no process left. Each process was started as the leader of its own group.
        killGroup(pid);
        killed.push(`${p.service ? `${p.service} ` : ''}${p.id} (pid ${pid})`);
      } catch {
        /* gone already */
      }
    }),
  );
  return killed;
}

/** The program that starts a host process again from its config. */
function commandOf(p: HostProcess): [string, string[]] {
  if (p.kind === 'haproxy') return [which('haproxy'), ['-W', '-f', p.configPath, '-p', p.pidFile]];
  return [which(p.kind === 'redis' ? 'redis-server' : 'redis-sentinel'), [p.configPath]];
}

/** Start every process of the host that is not running, from its config; record the new pids everywhere. */
async function restoreHost(
  options: { name: string; root?: string },
  set: HostSet,
  path: string,
  host: SetHost,
): Promise<string[]> {
  const started: string[] = [];
  const placement = { ip: host.address, ...(host.netns ? { netns: host.netns } : {}) };
  for (const p of host.processes) {
    if ((await runningPid(p)) !== undefined) continue;
    const [program, args] = commandOf(p);
    p.pid = startDetached(
      ...onHost(placement, program, args),
      p.kind === 'haproxy' ? p.logPath : `${p.logPath}.stdout`,
    );
    started.push(`${p.service ? `${p.service} ` : ''}${p.id} (pid ${p.pid})`);
  }
  await writeHostSet(path, set);
  for (const service of set.services) {
    const dPath = descriptorPath(service, options.root);
    const d = await readDescriptor(dPath);
    for (const x of [...d.nodes, ...d.sentinels, ...d.proxies]) {
      if (x.hostId !== host.id) continue;
      const p = host.processes.find(
        (q) => q.id === x.id && (q.service === undefined || q.service === service),
      );
      if (p) x.pid = p.pid;
    }
    await writeDescriptor(dPath, d);
  }
  await Promise.all(
    host.processes.map((p) => waitForPort(p.port, 10_000, `${host.id} ${p.id}`, host.address)),
  );
  return started;
}
