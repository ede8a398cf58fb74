/** A moving service's members in the local runtime, as the move (local/move-hosts.ts) records them. */
import { dirname, join } from 'node:path';
import {
  type HostProcess,
  type HostSet,
  hostSetPath,
  isHostSet,
  readHostSet,
  writeHostSet,
} from '../config/host-set-descriptor.ts';
import {
  type Descriptor,
  descriptorPath,
  readDescriptor,
  writeDescriptor,
} from '../config/local-descriptor.ts';
import { HaRedisError, MoveRefusedError } from '../core/model/errors.ts';
import type { PlacedMember, TargetProxy, TargetSentinel } from '../core/move/state.ts';
import { runningPid } from './host-set-processes.ts';
import { stopProcess } from './processes.ts';
import { serviceBackend } from './render-host-set.ts';

/**
 * The records of a service's members in the local runtime: its descriptor (the definition the orchestrator
 * reads), and the sets' hosts.json (the processes each host runs); the members' processes started and stopped.
 */
export class LocalServiceMembers {
  protected readonly root: string | undefined;
  constructor(options: { root?: string } = {}) {
    this.root = options.root;
  }

  protected descriptor(cluster: string): Promise<Descriptor> {
    return readDescriptor(descriptorPath(cluster, this.root));
  }

  protected async setOf(name: string): Promise<HostSet> {
    if (!isHostSet(name, this.root)) {
      throw new MoveRefusedError(
        `no host set named '${name}'; start one with 'ha-redis local up --name ${name} --services N'`,
      );
    }
    return readHostSet(hostSetPath(name, this.root));
  }

  protected async hostOf(member: { hostId: string }): Promise<{ set: HostSet; index: number }> {
    const [setName, hostId] = member.hostId.split('/');
    const set = await this.setOf(setName ?? '');
    const index = set.hosts.findIndex((h) => h.id === hostId);
    if (index < 0) throw new HaRedisError(`no host ${member.hostId}`);
    return { set, index };
  }

  protected async record(set: HostSet, index: number, process: HostProcess, service: string): Promise<void> {
    const host = set.hosts[index];
    if (!host) return;
    host.processes = host.processes.filter((p) => !(p.service === service && p.id === process.id));
    host.processes.push(process);
    if (!host.services.includes(service)) host.services.push(service);
    await writeHostSet(hostSetPath(set.set, this.root), set);
  }

  protected async alreadyRunning(
    cluster: string,
    member: PlacedMember,
    kind: 'redis' | 'sentinel',
  ): Promise<boolean> {
    const { set } = await this.hostOf(member);
    const p = set.hosts
      .flatMap((h) => h.processes)
      .find((x) => x.service === cluster && x.id === member.id && x.kind === kind);
    return p !== undefined && (await runningPid(p)) !== undefined;
  }

  /**
   * Start one process of the service on its target host from `conf` (written to `<service dir>/<id>/<file>`, mode
   * 600: it holds the password), record it on the host, and wait until it listens.
   */
  protected async haproxyOf(member: { hostId: string }) {
    const { set, index } = await this.hostOf(member);
    const host = set.hosts[index];
    const p = host?.processes.find((x) => x.kind === 'haproxy');
    if (!host || !p) throw new HaRedisError(`host ${member.hostId} runs no HAProxy`);
    const dir = dirname(p.configPath);
    return {
      host,
      process: p,
      socketPath: join(dir, 'admin.sock'),
      stateFilePath: join(dir, 'server-state'),
    };
  }

  async stopMember(cluster: string, kind: 'node' | 'sentinel', id: string): Promise<'stopped' | 'gone'> {
    const d = await this.descriptor(cluster);
    const wanted = kind === 'node' ? 'redis' : 'sentinel';
    let stopped = false;
    for (const name of new Set([
      d.hostSet,
      ...d.nodes.map((n) => n.hostId?.split('/')[0]),
      ...d.sentinels.map((s) => s.hostId?.split('/')[0]),
    ])) {
      if (!name || name.startsWith('host-') || !isHostSet(name, this.root)) continue;
      const set = await readHostSet(hostSetPath(name, this.root));
      let changed = false;
      for (const host of set.hosts) {
        for (const p of host.processes.filter(
          (x) => x.kind === wanted && x.service === cluster && x.id === id,
        )) {
          const pid = await runningPid(p);
          if (pid !== undefined && (await stopProcess(pid, () => true))) stopped = true;
          host.processes = host.processes.filter((x) => x !== p);
          changed = true;
        }
      }
      if (changed) await writeHostSet(hostSetPath(name, this.root), set);
    }
    return stopped ? 'stopped' : 'gone';
  }

  async addMembers(
    cluster: string,
    members: { nodes?: PlacedMember[]; sentinels?: TargetSentinel[]; proxies?: TargetProxy[] },
  ): Promise<void> {
    const d = await this.descriptor(cluster);
    for (const n of members.nodes ?? []) {
      if (d.nodes.some((x) => x.id === n.id)) continue;
      const { set, index } = await this.hostOf(n);
      const p = set.hosts[index]?.processes.find(
        (x) => x.kind === 'redis' && x.service === cluster && x.id === n.id,
      );
      if (!p) throw new HaRedisError(`node ${n.id} of ${cluster} was never started on ${n.hostId}`);
      const netns = set.hosts[index]?.netns;
      d.nodes.push({
        id: n.id,
        host: n.host,
        port: n.port,
        pid: p.pid,
        pidFile: p.pidFile,
        logPath: p.logPath,
        configPath: p.configPath,
        dataDir: join(dirname(p.configPath), 'data'),
        hostId: n.hostId,
        ...(netns ? { netns } : {}),
      });
    }
    for (const s of members.sentinels ?? []) {
      if (d.sentinels.some((x) => x.id === s.id)) continue;
      const { set, index } = await this.hostOf(s);
      const p = set.hosts[index]?.processes.find(
        (x) =>
          x.kind === 'sentinel' &&
          (s.shared ? !x.service && x.port === s.port : x.service === cluster && x.id === s.id),
      );
      if (!p) throw new HaRedisError(`Sentinel ${s.id} of ${cluster} was never started on ${s.hostId}`);
      const netns = set.hosts[index]?.netns;
      d.sentinels.push({
        id: s.id,
        host: s.host,
        port: s.port,
        pid: p.pid,
        pidFile: p.pidFile,
        logPath: p.logPath,
        configPath: p.configPath,
        hostId: s.hostId,
        ...(netns ? { netns } : {}),
      });
    }
    for (const proxy of members.proxies ?? []) {
      if (d.proxies.some((x) => x.id === proxy.id)) continue;
      const h = await this.haproxyOf(proxy);
      // Reached through its admin socket (the target set's Runtime API over TLS trusts that set's CA, not ours).
      d.proxies.push({
        id: proxy.id,
        host: proxy.host,
        plainPort: proxy.plainPort,
        tlsPort: proxy.tlsPort,
        runtimeApi: { kind: 'unix', path: h.socketPath },
        configPath: h.process.configPath,
        stateFilePath: h.stateFilePath,
        backend: serviceBackend(cluster),
        server: 'master',
        pid: h.process.pid,
        pidFile: h.process.pidFile,
        logPath: h.process.logPath,
        hostId: proxy.hostId,
      });
    }
    await writeDescriptor(descriptorPath(cluster, this.root), d);
  }

  async removeMembers(cluster: string, members: { nodes?: string[]; sentinels?: string[] }): Promise<void> {
    const d = await this.descriptor(cluster);
    d.nodes = d.nodes.filter((n) => !(members.nodes ?? []).includes(n.id));
    d.sentinels = d.sentinels.filter((s) => !(members.sentinels ?? []).includes(s.id));
    await writeDescriptor(descriptorPath(cluster, this.root), d);
  }
}
