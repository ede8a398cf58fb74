/**
 * The move's hosts in the local runtime: a service of a host set moves to the hosts of another set. New members
 * take the same ports as the service's old ones (as the seed places a service by port on every host); they run
 * from the service's own directory, are recorded on the target set's hosts (hosts.json, so `fail-host` and
 * `local down` of that set find them), and join the service's descriptor, which the orchestrator reads again.
 * The service's control plane (its orchestrator, state store and Slack endpoint) stays with the set it started in.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { SSM_SCRIPTS_DIR } from '../adapters/host/bash-node-ops.ts';
import {
  type HostProcess,
  type HostSet,
  hostSetPath,
  isHostSet,
  readHostSet,
  writeHostSet,
} from '../config/host-set-descriptor.ts';
import {
  clusterDir,
  type Descriptor,
  descriptorPath,
  readDescriptor,
  writeDescriptor,
} from '../config/local-descriptor.ts';
import type { Endpoint } from '../core/model/cluster.ts';
import { errorMessage, HaRedisError, MoveRefusedError, NodeOpsError } from '../core/model/errors.ts';
import type { MoveHosts, MovePlacement, ServiceHome } from '../core/move/ports.ts';
import type { PlacedMember, TargetProxy, TargetSentinel } from '../core/move/state.ts';
import { checkTools, onHost, which } from './host-programs.ts';
import { runningPid } from './host-set-processes.ts';
import { hostIdIn, placeOnSet } from './move-placement.ts';
import { startDetached, stopProcess, waitForPort } from './processes.ts';
import { renderRedisConf, renderSharedSentinelConf } from './render.ts';
import { serviceBackend } from './render-host-set.ts';
import { issueProxyPem } from './tls.ts';

const run = promisify(execFile);

export class LocalMoveHosts implements MoveHosts {
  private readonly root: string | undefined;
  constructor(options: { root?: string } = {}) {
    this.root = options.root;
  }

  private descriptor(cluster: string): Promise<Descriptor> {
    return readDescriptor(descriptorPath(cluster, this.root));
  }

  private async setOf(name: string): Promise<HostSet> {
    if (!isHostSet(name, this.root)) {
      throw new MoveRefusedError(
        `no host set named '${name}'; start one with 'ha-redis local up --name ${name} --services N'`,
      );
    }
    return readHostSet(hostSetPath(name, this.root));
  }

  async home(cluster: string): Promise<ServiceHome> {
    const d = await this.descriptor(cluster);
    if (!d.hostSet) {
      throw new MoveRefusedError(
        `${cluster} is a cluster of its own, not a service of a host set; only a host set's service can move`,
      );
    }
    const set = d.hostSet;
    // A Sentinel is shared when its set records it on a host with no service (the `shared` layout).
    const sharedAt = new Set<string>();
    for (const name of new Set(
      d.sentinels.map((s) => (hostIdIn(set, s.hostId) ?? set).split('/')[0] ?? set),
    )) {
      if (!isHostSet(name, this.root)) continue;
      for (const h of (await readHostSet(hostSetPath(name, this.root))).hosts) {
        for (const p of h.processes) {
          if (p.kind === 'sentinel' && !p.service) sharedAt.add(`${h.address}:${p.port}`);
        }
      }
    }
    return {
      set,
      nodes: d.nodes.map((n) => ({
        id: n.id,
        host: n.host,
        port: n.port,
        hostId: hostIdIn(set, n.hostId) ?? n.host,
      })),
      sentinels: d.sentinels.map((s) => ({
        id: s.id,
        host: s.host,
        port: s.port,
        hostId: hostIdIn(set, s.hostId) ?? s.host,
        shared: sharedAt.has(`${s.host}:${s.port}`),
      })),
      proxies: d.proxies.map((p) => ({ id: p.id, hostId: hostIdIn(set, p.hostId) ?? p.host })),
    };
  }

  async placement(cluster: string, toSet: string): Promise<MovePlacement> {
    const d = await this.descriptor(cluster);
    const target = await this.setOf(toSet);
    if (target.sentinels === 'shared') {
      throw new MoveRefusedError(
        `set ${toSet} runs shared Sentinels, which take set ${toSet}'s password, not ${cluster}'s; move it to a set with per-service Sentinels`,
      );
    }
    const from = d.hostSet ? await this.setOf(d.hostSet) : undefined;
    const bridge = (x: HostSet | undefined) => (x?.network.kind === 'netns' ? x.network.bridge : 'loopback');
    if (bridge(from) !== bridge(target)) {
      throw new MoveRefusedError(
        `set ${toSet} and set ${d.hostSet} are not on one network (each set in network namespaces has a bridge of its own, which the other's hosts cannot reach); start both with --network loopback`,
      );
    }
    try {
      await checkTools();
    } catch (error) {
      throw new MoveRefusedError(`the target hosts lack software: ${errorMessage(error)}`);
    }
    return placeOnSet(cluster, d, await this.home(cluster), target, toSet);
  }

  /** The target set and host of a placed member. */
  private async hostOf(member: { hostId: string }): Promise<{ set: HostSet; index: number }> {
    const [setName, hostId] = member.hostId.split('/');
    const set = await this.setOf(setName ?? '');
    const index = set.hosts.findIndex((h) => h.id === hostId);
    if (index < 0) throw new HaRedisError(`no host ${member.hostId}`);
    return { set, index };
  }

  private async record(set: HostSet, index: number, process: HostProcess, service: string): Promise<void> {
    const host = set.hosts[index];
    if (!host) return;
    host.processes = host.processes.filter((p) => !(p.service === service && p.id === process.id));
    host.processes.push(process);
    if (!host.services.includes(service)) host.services.push(service);
    await writeHostSet(hostSetPath(set.set, this.root), set);
  }

  private async alreadyRunning(
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
  private async startOnHost(
    cluster: string,
    member: PlacedMember,
    kind: 'redis' | 'sentinel',
    conf: (dir: string, bind: string) => string,
  ): Promise<'started' | 'running'> {
    if (await this.alreadyRunning(cluster, member, kind)) return 'running';
    const { set, index } = await this.hostOf(member);
    const host = set.hosts[index];
    if (!host) throw new HaRedisError(`no host ${member.hostId}`);
    const dir = join(clusterDir(cluster, this.root), member.id);
    await mkdir(join(dir, 'data'), { recursive: true });
    const configPath = join(dir, kind === 'redis' ? 'redis.conf' : 'sentinel.conf');
    await writeFile(configPath, conf(dir, host.address), { mode: 0o600 });
    const placement = { ip: host.address, ...(host.netns ? { netns: host.netns } : {}) };
    const program = which(kind === 'redis' ? 'redis-server' : 'redis-sentinel');
    const pid = startDetached(...onHost(placement, program, [configPath]), join(dir, 'stdout.log'));
    const [pidFile, logPath] = [join(dir, `${kind}.pid`), join(dir, `${kind}.log`)];
    const p = { kind, service: cluster, id: member.id, port: member.port, pid, pidFile, logPath, configPath };
    await this.record(set, index, p, cluster);
    await waitForPort(member.port, 10_000, `${program} ${member.id}`, host.address);
    return 'started';
  }

  async startNode(cluster: string, node: PlacedMember, master: Endpoint): Promise<'started' | 'running'> {
    const d = await this.descriptor(cluster);
    const password = (await readFile(d.passwordFile, 'utf8')).trim();
    // The same settings as the service's other nodes: read from the master's config.
    const masterConf = d.nodes.find((n) => n.host === master.host && n.port === master.port)?.configPath;
    const text = masterConf ? await readFile(masterConf, 'utf8').catch(() => '') : '';
    const setting = (name: string, fallback: number) =>
      Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? fallback);
    return this.startOnHost(cluster, node, 'redis', (dir, bind) =>
      renderRedisConf({
        port: node.port,
        dir,
        password,
        minReplicasToWrite: setting('min-replicas-to-write', 1),
        minReplicasMaxLag: setting('min-replicas-max-lag', 3),
        replicaOf: master,
        bind,
      }),
    );
  }

  async startSentinel(cluster: string, sentinel: TargetSentinel): Promise<'started' | 'running'> {
    if (sentinel.shared) return 'running';
    const d = await this.descriptor(cluster);
    const password = (await readFile(d.passwordFile, 'utf8')).trim();
    return this.startOnHost(cluster, sentinel, 'sentinel', (dir, bind) =>
      renderSharedSentinelConf({
        port: sentinel.port,
        dir,
        password,
        bind,
        masters: [],
        quorum: 2,
        downAfterMs: d.sentinelSettings.downAfterMs,
        failoverTimeoutMs: d.sentinelSettings.failoverTimeoutMs,
      }),
    );
  }

  /** The HAProxy of a target host: its files, as the set started it. */
  private async haproxyOf(member: { hostId: string }) {
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

  async addFrontends(cluster: string, proxy: TargetProxy, master: Endpoint, epoch: number): Promise<string> {
    const d = await this.descriptor(cluster);
    const h = await this.haproxyOf(proxy);
    // The service's clients trust its own CA: its TLS frontends on the new hosts get a certificate of that CA.
    const pemBase = join(clusterDir(cluster, this.root), `${proxy.id}-tls`);
    const pem = await readFile(`${pemBase}.pem`).then(
      () => `${pemBase}.pem`,
      () => issueProxyPem(d.caCertPath, pemBase, [proxy.host]),
    );
    const backend = serviceBackend(cluster);
    const script = async (name: 'add-haproxy-service' | 'update-haproxy', args: string[]) => {
      try {
        return (
          await run('bash', [`${SSM_SCRIPTS_DIR}${name}.sh`, ...args], { timeout: 30_000 })
        ).stdout.trim();
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr?.trim();
        throw new NodeOpsError(`${name} on ${proxy.hostId} failed: ${stderr || errorMessage(error)}`, {
          cause: error,
        });
      }
    };
    const added = await script('add-haproxy-service', [
      '--config',
      h.process.configPath,
      '--backend',
      backend,
      '--bind',
      proxy.host,
      '--plain-port',
      String(proxy.plainPort),
      '--tls-port',
      String(proxy.tlsPort),
      '--pem',
      pem,
      '--addr',
      master.host,
      '--port',
      String(master.port),
    ]);
    const persisted = await script('update-haproxy', [
      '--config',
      h.process.configPath,
      '--state-file',
      h.stateFilePath,
      '--socket',
      h.socketPath,
      '--backend',
      backend,
      '--server',
      'master',
      '--addr',
      master.host,
      '--port',
      String(master.port),
      '--epoch',
      String(epoch),
      '--reload',
      `pidfile:${h.process.pidFile}`,
    ]);
    await waitForPort(proxy.plainPort, 10_000, `haproxy ${proxy.id} frontend of ${cluster}`, proxy.host);
    return `${added}; ${persisted}`;
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

  async moved(cluster: string, set: string): Promise<void> {
    const d = await this.descriptor(cluster);
    const from = d.hostSet;
    if (!from || from === set) return;
    // Members still named by a bare host id are the old set's: say so before the set changes.
    for (const p of d.proxies) p.hostId = hostIdIn(from, p.hostId);
    for (const n of d.nodes) n.hostId = hostIdIn(from, n.hostId);
    for (const s of d.sentinels) s.hostId = hostIdIn(from, s.hostId);
    d.hostSet = set;
    d.controlSet ??= from;
    await writeDescriptor(descriptorPath(cluster, this.root), d);
  }
}
