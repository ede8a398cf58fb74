/**
 * The processes of a local cluster that `local up` started, found again from its descriptor: which are alive
 * (`local status`), stopping exactly them (`local down`), and starting a node or a Sentinel again after a kill.
 */

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isHostSet } from '../config/host-set-descriptor.ts';
import {
  type Descriptor,
  descriptorPath,
  readDescriptor,
  writeDescriptor,
} from '../config/local-descriptor.ts';
import { ConfigurationError } from '../core/model/errors.ts';
import { onHost, which } from './host-programs.ts';
import { hostSetDown } from './host-set-processes.ts';
import { commandLine, readPidFile, startDetached, stopProcess, waitForPort } from './processes.ts';

interface Owned {
  what: string;
  pids: number[];
  matches: (cmdline: string) => boolean;
}

/** Every process `up` started, with a check that a pid still belongs to it. */
async function ownedProcesses(d: Descriptor): Promise<Owned[]> {
  const withPidFile = async (pid: number, pidFile: string) => {
    const fromFile = await readPidFile(pidFile);
    return [...new Set([pid, ...(fromFile ? [fromFile] : [])])];
  };
  const owned: Owned[] = [];
  if (d.orchestrator) {
    const { pid, pidFile } = d.orchestrator;
    owned.push({
      what: 'orchestrator',
      pids: await withPidFile(pid, pidFile),
      matches: (c) => c.includes('orchestrator.ts') && c.includes(d.dir),
    });
  }
  for (const a of d.agents) {
    owned.push({
      what: a.id,
      pids: await withPidFile(a.pid, a.pidFile),
      matches: (c) => c.includes('node-agent.ts') && c.includes(d.dir),
    });
  }
  for (const p of d.proxies) {
    owned.push({
      what: p.id,
      pids: await withPidFile(p.pid, p.pidFile),
      matches: (c) => c.includes('haproxy') && c.includes(p.configPath),
    });
  }
  // Sentinels before Redis, so that stopping the master starts no failover.
  for (const s of d.sentinels) {
    owned.push({
      what: s.id,
      pids: await withPidFile(s.pid, s.pidFile),
      matches: (c) => c.includes(`:${s.port}`) && c.includes('sentinel'),
    });
  }
  for (const n of d.nodes) {
    owned.push({
      what: n.id,
      pids: await withPidFile(n.pid, n.pidFile),
      matches: (c) => c.includes('redis-server') && c.includes(`:${n.port}`),
    });
  }
  owned.push({
    what: 'dynalite',
    pids: [d.stateStore.pid],
    matches: (c) =>
      c.includes('dynalite-server.ts') && c.includes(d.stateStore.endpoint.split(':').pop() ?? '-'),
  });
  return owned;
}

/** Whether any process of the descriptor still runs (by pid and command line). */
export async function anyAlive(d: Descriptor): Promise<boolean> {
  for (const o of await ownedProcesses(d)) {
    for (const pid of o.pids) {
      const cmd = await commandLine(pid);
      if (cmd && o.matches(cmd)) return true;
    }
  }
  return false;
}

/** A service of a host set shares its processes with the other services: act on the set, by its name. */
export function refuseServiceOfSet(d: Descriptor, command: string): void {
  if (d.hostSet) {
    throw new ConfigurationError(
      `'${d.cluster}' is a service of host set '${d.hostSet}', whose processes its services share: run 'ha-redis ${command} --name ${d.hostSet}'`,
    );
  }
}

/** Stop exactly the processes `up` started (checked by pid and command line), and free their ports. */
export async function localDown(options: {
  name: string;
  root?: string;
  keepFiles?: boolean;
}): Promise<string[]> {
  if (isHostSet(options.name, options.root)) return hostSetDown(options);
  const path = descriptorPath(options.name, options.root);
  const d = await readDescriptor(path);
  refuseServiceOfSet(d, 'local down');
  const stopped: string[] = [];
  for (const o of await ownedProcesses(d)) {
    for (const pid of o.pids) {
      if (await stopProcess(pid, o.matches)) stopped.push(`${o.what} (pid ${pid})`);
    }
  }
  if (!options.keepFiles) await rm(d.dir, { recursive: true, force: true });
  return stopped;
}

export interface ProcessStatus {
  id: string;
  kind: 'redis' | 'sentinel' | 'haproxy' | 'dynalite' | 'orchestrator';
  pid: number;
  alive: boolean;
  port?: number;
}

/** Which of the cluster's processes are running. */
export async function localStatus(options: {
  name: string;
  root?: string;
}): Promise<{ descriptor: Descriptor; processes: ProcessStatus[] }> {
  const d = await readDescriptor(descriptorPath(options.name, options.root));
  const owned = await ownedProcesses(d);
  const alive = async (what: string) => {
    const o = owned.find((x) => x.what === what);
    if (!o) return { pid: 0, alive: false };
    for (const pid of o.pids) {
      const cmd = await commandLine(pid);
      if (cmd && o.matches(cmd)) return { pid, alive: true };
    }
    return { pid: o.pids[o.pids.length - 1] ?? 0, alive: false };
  };
  const processes: ProcessStatus[] = [];
  for (const n of d.nodes) processes.push({ id: n.id, kind: 'redis', port: n.port, ...(await alive(n.id)) });
  for (const s of d.sentinels)
    processes.push({ id: s.id, kind: 'sentinel', port: s.port, ...(await alive(s.id)) });
  for (const p of d.proxies)
    processes.push({ id: p.id, kind: 'haproxy', port: p.plainPort, ...(await alive(p.id)) });
  processes.push({ id: 'dynalite', kind: 'dynalite', ...(await alive('dynalite')) });
  if (d.orchestrator)
    processes.push({ id: 'orchestrator', kind: 'orchestrator', ...(await alive('orchestrator')) });
  return { descriptor: d, processes };
}

/** Start a node or a Sentinel again from its config (after a kill); records the new pid. */
export async function startNode(options: { name: string; root?: string }, id: string): Promise<number> {
  const path = descriptorPath(options.name, options.root);
  const d = await readDescriptor(path);
  const node = d.nodes.find((n) => n.id === id);
  const sentinel = d.sentinels.find((s) => s.id === id);
  const target = node ?? sentinel;
  if (!target) {
    const ids = [...d.nodes, ...d.sentinels].map((x) => x.id).join(', ');
    throw new ConfigurationError(`no node or sentinel '${id}' in cluster ${d.cluster}; known: ${ids}`);
  }
  const program = which(node ? 'redis-server' : 'redis-sentinel');
  target.pid = startDetached(
    ...onHost({ ip: target.host, ...(target.netns ? { netns: target.netns } : {}) }, program, [
      target.configPath,
    ]),
    join(d.dir, id, 'stdout.log'),
  );
  await writeDescriptor(path, d);
  await waitForPort(target.port, 10_000, id, target.host);
  return target.pid;
}
