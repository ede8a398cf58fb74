/**
 * The move's hosts in the local runtime: a service of a host set moves to the hosts of another set. New members
 * take the same ports as the service's old ones (as the seed places a service by port on every host); they run
 * from the service's own directory, are recorded on the target set's hosts (hosts.json, so `fail-host` and
 * `local down` of that set find them), and join the service's descriptor, which the orchestrator reads again.
 * The service's control plane (its orchestrator, state store and Slack endpoint) stays with the set it started in.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BashNodeOps, SSM_SCRIPTS_DIR } from '../adapters/host/bash-node-ops.ts';
import { type HostSet, hostSetPath, isHostSet, readHostSet } from '../config/host-set-descriptor.ts';
import { clusterDir, descriptorPath, writeDescriptor } from '../config/local-descriptor.ts';
import type { Endpoint } from '../core/model/cluster.ts';
import { errorMessage, HaRedisError, MoveRefusedError, NodeOpsError } from '../core/model/errors.ts';
import type { MoveHosts, MovePlacement, ServiceHome } from '../core/move/ports.ts';
import type { PlacedMember, TargetProxy, TargetSentinel } from '../core/move/state.ts';
import { checkTools, onHost, which } from './host-programs.ts';
import { LocalServiceMembers } from './move-members.ts';
import { hostIdIn, placeOnSet } from './move-placement.ts';
import { isAlive, startDetached, waitForPort } from './processes.ts';
import { renderRedisConf, renderSharedSentinelConf } from './render.ts';
import { serviceBackend } from './render-host-set.ts';
import { issueProxyPem } from './tls.ts';

const run = promisify(execFile);
/** The orchestrator's descriptor watch (1 s), a reconcile's few seconds, and room. */
const RETIRE_SETTLE_MS = 3000;

/**
 * One of the move's host scripts (infra/ssm/scripts, beside the NodeOps ones) with `--name value` arguments: its
 * output, or a NodeOpsError with its stderr, naming the host.
 */
function hostScript(
  script: 'add-haproxy-service' | 'retire-haproxy-service',
  args: Record<string, string | number>,
  host: string,
): Promise<string> {
  const argv = Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]);
  return run('bash', [`${SSM_SCRIPTS_DIR}${script}.sh`, ...argv], { timeout: 30_000 }).then(
    (r) => r.stdout.trim(),
    (error: unknown) => {
      const stderr = (error as { stderr?: string }).stderr?.trim();
      throw new NodeOpsError(`${script} on ${host} failed: ${stderr || errorMessage(error)}`);
    },
  );
}

export class LocalMoveHosts extends LocalServiceMembers implements MoveHosts {
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
      ...(d.moving
        ? {
            moving: {
              toSet: d.moving.toSet,
              executionId: d.moving.executionId,
              holderAlive: isAlive(d.moving.pid) && d.moving.pid !== process.pid,
              oldNodes: d.moving.oldNodes,
              oldSentinels: d.moving.oldSentinels,
            },
          }
        : {}),
    };
  }

  async begin(
    cluster: string,
    move: {
      toSet: string;
      executionId: string;
      oldNodes: PlacedMember[];
      oldSentinels: (PlacedMember & { shared: boolean })[];
    },
  ): Promise<void> {
    const d = await this.descriptor(cluster);
    const was = d.moving;
    if (was && was.toSet !== move.toSet) {
      throw new MoveRefusedError(
        `a move of ${cluster} to set ${was.toSet} stopped half way; finish it first`,
      );
    }
    if (was && was.executionId !== move.executionId && was.pid !== process.pid && isAlive(was.pid)) {
      throw new MoveRefusedError(
        `move ${was.executionId} of ${cluster} is running (pid ${was.pid}); wait for it to end`,
      );
    }
    d.moving = {
      toSet: move.toSet,
      executionId: move.executionId,
      pid: process.pid,
      since: was?.since ?? new Date().toISOString(),
      // The old members the move began with stay those of its first run.
      oldNodes: was?.oldNodes ?? move.oldNodes,
      oldSentinels: was?.oldSentinels ?? move.oldSentinels,
    };
    await writeDescriptor(descriptorPath(cluster, this.root), d);
  }

  async placement(
    cluster: string,
    toSet: string,
    old: { nodes: readonly PlacedMember[]; sentinels: readonly PlacedMember[] },
  ): Promise<MovePlacement> {
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
    return placeOnSet(cluster, d, await this.home(cluster), target, toSet, old);
  }

  /** The target set and host of a placed member. */
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
    const args = {
      config: h.process.configPath,
      backend,
      bind: proxy.host,
      'plain-port': proxy.plainPort,
      'tls-port': proxy.tlsPort,
      pem,
      addr: master.host,
      port: master.port,
    };
    const added = await hostScript('add-haproxy-service', args, proxy.hostId);
    // Then the same persist a failover runs: it finds the running HAProxy without the backend, and reloads.
    const persist = () =>
      new BashNodeOps().run({
        document: 'update-haproxy',
        proxy: {
          id: proxy.id,
          host: proxy.host,
          plainPort: proxy.plainPort,
          tlsPort: proxy.tlsPort,
          runtimeApi: { kind: 'unix', path: h.socketPath },
          backend,
          server: 'master',
          configPath: h.process.configPath,
          stateFilePath: h.stateFilePath,
          reload: `pidfile:${h.process.pidFile}`,
        },
        master,
        epoch,
      });
    // A reload on a loaded machine can take longer than the script waits for a new worker: once more (it reloads
    // again only if the running HAProxy still lacks the service), then the HAProxy log's tail says why.
    const persisted = await persist().catch(async () => {
      await new Promise((r) => setTimeout(r, 2000));
      return persist().catch(async (error: unknown) => {
        const log = await readFile(h.process.logPath, 'utf8').catch(() => '');
        const tail = log.trim().split('\n').slice(-5).join(' | ');
        throw new NodeOpsError(`${errorMessage(error)}; haproxy log: ${tail}`, { cause: error });
      });
    });
    await waitForPort(proxy.plainPort, 10_000, `haproxy ${proxy.id} frontend of ${cluster}`, proxy.host);
    return `${added}; ${persisted.output}`;
  }

  async oldProxies(cluster: string): Promise<{ id: string; hostId: string }[]> {
    const home = await this.home(cluster);
    return home.proxies.filter((p) => !p.hostId.startsWith(`${home.set}/`));
  }

  async retireProxy(cluster: string, proxyId: string): Promise<string> {
    const d = await this.descriptor(cluster);
    const proxy = d.proxies.find((p) => p.id === proxyId);
    if (!proxy) return `${proxyId} retired already`;
    d.proxies = d.proxies.filter((p) => p.id !== proxyId);
    await writeDescriptor(descriptorPath(cluster, this.root), d);
    // The orchestrator reads the descriptor again every second, and a reconcile in flight may still route it:
    // the slot is disabled once both are past.
    await new Promise((r) => setTimeout(r, RETIRE_SETTLE_MS));
    const args = { config: proxy.configPath, socket: proxy.runtimeApi.path, backend: proxy.backend };
    return hostScript('retire-haproxy-service', args, proxy.hostId ?? proxy.host);
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
    delete d.moving;
    await writeDescriptor(descriptorPath(cluster, this.root), d);
  }
}
