/**
 * `local up --name <set> --services N`: a host set as the seed deploys it. 3 hosts (a network namespace each as
 * root, else a loopback address each); on every host, per service, one redis-server (and one redis-sentinel,
 * or one shared Sentinel per host for all), and one HAProxy for every service; every master on host-1; one
 * dynalite and one orchestrator for the whole set. Each service gets its own cluster.json, so every command
 * takes `--cluster <service>`; the set's hosts.json lists the hosts and their processes.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type HostSet, hostSetPath, writeHostSet } from '../config/host-set-descriptor.ts';
import {
  clusterDir,
  type Descriptor,
  descriptorPath,
  readDescriptor,
  writeDescriptor,
} from '../config/local-descriptor.ts';
import { ConfigurationError, HaRedisError } from '../core/model/errors.ts';
import { setSentinelPeriods, waitForClusterFormed, waitForReplicasListed } from './cluster-forming.ts';
import { anyAlive } from './cluster-processes.ts';
import { checkTools, type HostPlacement } from './host-programs.ts';
import type { HostSetOptions, SetLaunch } from './host-set-launch.ts';
import { hostSetDown } from './host-set-processes.ts';
import { startSetProxies, startSharedSentinels } from './host-set-shared.ts';

export type { HostSetOptions } from './host-set-launch.ts';

import {
  type Launch,
  spawnOrchestrator,
  startDynaliteProcess,
  startRedisNodes,
  startSentinels,
} from './launch-phases.ts';
import { createTopology, netnsUnavailable } from './netns.ts';
import { freePorts, waitForPort } from './processes.ts';
import { generateTls } from './tls.ts';
import { LOCAL_SLACK_USER } from './up-options.ts';

/** At most this many services in a local set: each costs 3 redis (and 3 Sentinels), on a developer's machine. */
export const MAX_LOCAL_SERVICES = 32;
const NAME = /^[a-z0-9][a-z0-9-]{0,30}$/;
/** The hosts of a set: 3, as in the seed (a Sentinel majority survives one host). */
export const SET_HOSTS = 3;

/** The service names of a set, checked: given or `<set>-1` ...; each a valid cluster name, none twice. */
export function serviceNamesOf(o: HostSetOptions): string[] {
  if (!NAME.test(o.name)) {
    throw new ConfigurationError(
      `set name '${o.name}' must be lower-case letters, digits and dashes (max 31)`,
    );
  }
  if (!Number.isInteger(o.services) || o.services < 1 || o.services > MAX_LOCAL_SERVICES) {
    throw new ConfigurationError(
      `--services must be a whole number from 1 to ${MAX_LOCAL_SERVICES}, got ${o.services}`,
    );
  }
  const names = o.serviceNames ?? Array.from({ length: o.services }, (_, i) => `${o.name}-${i + 1}`);
  if (names.length !== o.services) {
    throw new ConfigurationError(`--service-names lists ${names.length} names for --services ${o.services}`);
  }
  const bad = names.find((n) => !NAME.test(n) || n === o.name);
  if (bad !== undefined) {
    throw new ConfigurationError(
      `service name '${bad}' must be lower-case letters, digits and dashes (max 31), and not the set's name`,
    );
  }
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new ConfigurationError(`service name '${twice}' is given twice`);
  return names;
}

/** The hosts' addresses: namespaces on a fresh bridge, or three loopback addresses of a random 127.x.y.0/24. */
async function placeHosts(
  o: HostSetOptions,
): Promise<{ network: HostSet['network']; hosts: (HostPlacement & { link?: string })[] }> {
  const why = o.network === 'loopback' ? 'loopback asked for' : await netnsUnavailable();
  if (why && o.network === 'netns') throw new ConfigurationError(`--network netns: ${why}`);
  if (why) {
    const prefix = `127.${randomInt(1, 255)}.${randomInt(0, 255)}`;
    return {
      network: { kind: 'loopback' },
      hosts: Array.from({ length: SET_HOSTS }, (_, i) => ({ ip: `${prefix}.${i + 1}` })),
    };
  }
  const t = await createTopology({ hosts: SET_HOSTS, clients: 0 });
  return {
    network: { kind: 'netns', id: t.id, bridge: t.bridge, gateway: t.gateway },
    hosts: t.hosts.map((h) => ({ ip: h.ip, netns: h.netns, link: h.link })),
  };
}

/** Refuse to replace a set, or a cluster of the same name as a service, that is still up. */
async function refuseLiveClusters(
  o: HostSetOptions,
  services: string[],
  root: string | undefined,
): Promise<void> {
  for (const name of [o.name, ...services]) {
    const path = descriptorPath(name, root);
    const existing = existsSync(path) ? await readDescriptor(path).catch(() => undefined) : undefined;
    const live = existing ? await anyAlive(existing) : false;
    if (live || existsSync(hostSetPath(name, root))) {
      throw new ConfigurationError(
        `local cluster '${name}' already exists; run 'ha-redis local down --name ${existing?.hostSet ?? name}' first`,
      );
    }
  }
}

/** The empty descriptor of one service of the set, and the Launch the per-cluster start phases take. */
async function serviceLaunch(s: SetLaunch, service: string): Promise<Launch> {
  const dir = clusterDir(service, s.o.root);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const d: Descriptor = {
    version: 1,
    cluster: service,
    masterName: `${service}-master`,
    dir,
    hostSet: s.set.set,
    createdAt: s.set.createdAt,
    sentinelSettings: {
      downAfterMs: s.o.downAfterMs ?? 5000,
      failoverTimeoutMs: s.o.failoverTimeoutMs ?? 60_000,
    },
    nodes: [],
    sentinels: [],
    proxies: [],
    caCertPath: s.caCertPath,
    clientPemPath: s.clientPemPath,
    passwordFile: join(s.set.dir, 'password'),
    dns: { file: join(dir, 'dns.zone'), recordName: `master.${service}.ha-redis.local`, ttl: 5 },
    stateStore: { ...s.set.stateStore, table: 'ha-redis-state' },
    notifyWebhookUrl: null,
    livePageUrl: s.set.livePageUrl ?? null,
    // Node agents are started for single clusters (`local up --node-agent`), not yet for host sets.
    agentEventsUrl: null,
    agents: [],
    slack: {
      endpointUrl: `http://127.0.0.1:${s.take()}/slack`,
      signingSecretPath: s.signingSecretPath,
      allowedUsers: s.o.slackUsers ?? [LOCAL_SLACK_USER],
      channel: 'C0LOCALOPS',
    },
  };
  return {
    options: { name: service, hosts: s.placements },
    d,
    path: descriptorPath(service, s.o.root),
    password: s.password,
    proxyPemPath: s.proxyPemPath,
    take: s.take,
    hostOf: (i) => s.placements[i] ?? { ip: '127.0.0.1' },
    progress: () => undefined,
  };
}

/** The set's directory, secrets, TLS, hosts and ports. */
async function prepareSet(o: HostSetOptions, services: string[]): Promise<SetLaunch> {
  const dir = clusterDir(o.name, o.root);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const progress = o.progress ?? (() => undefined);
  const perService = o.sentinels === 'shared' ? 3 + 6 + 1 : 3 + 3 + 6 + 1;
  const ports = await freePorts(services.length * perService + SET_HOSTS * 2 + 1 + 1);
  const take = () => {
    const p = ports.shift();
    if (p === undefined) throw new HaRedisError('ran out of reserved ports');
    return p;
  };
  const password = randomBytes(24).toString('hex');
  await writeFile(join(dir, 'password'), `${password}\n`, { mode: 0o600 });
  const signingSecretPath = join(dir, 'slack-signing-secret');
  await writeFile(signingSecretPath, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const { network, hosts } = await placeHosts(o);
  progress(`${SET_HOSTS} hosts (${network.kind}): ${hosts.map((h) => h.ip).join(', ')}`);
  const set: HostSet = {
    version: 1,
    set: o.name,
    dir,
    createdAt: new Date().toISOString(),
    sentinels: o.sentinels ?? 'per-service',
    network,
    services,
    hosts: hosts.map((h, i) => ({
      id: `host-${i + 1}`,
      address: h.ip,
      ...(h.netns ? { netns: h.netns } : {}),
      ...(h.link ? { link: h.link } : {}),
      services,
      processes: [],
    })),
    stateStore: {
      pid: 1,
      pidFile: join(dir, 'dynalite.pid'),
      logPath: join(dir, 'dynalite.log'),
      endpoint: '',
    },
    livePageUrl: `http://127.0.0.1:${take()}/`,
  };
  const path = hostSetPath(o.name, o.root);
  await writeHostSet(path, set);
  const tls = await generateTls(
    dir,
    hosts.map((h) => h.ip),
  );
  const placements = hosts.map((h) => ({ ip: h.ip, ...(h.netns ? { netns: h.netns } : {}) }));
  return { o, set, path, password, ...tls, signingSecretPath, placements, take, progress };
}

/** Record a started process on its host (hosts.json), as `local down` and `fail-host` find them. */
export function recordOnHost(
  set: HostSet,
  hostIndex: number,
  process: HostSet['hosts'][number]['processes'][number],
): void {
  set.hosts[hostIndex]?.processes.push(process);
}

/** Start the set's dynalite. Returns its port. */
async function startSetDynalite(s: SetLaunch): Promise<number> {
  const { pid, port, endpoint } = startDynaliteProcess(s.take(), s.set.stateStore.logPath);
  s.set.stateStore = { ...s.set.stateStore, pid, endpoint };
  await writeHostSet(s.path, s.set);
  return port;
}

/** Each service's 3 nodes, master on host-1; recorded on their hosts. */
async function startServiceNodes(s: SetLaunch, launches: Launch[]): Promise<void> {
  for (const l of launches) {
    await startRedisNodes(l);
    for (const [i, n] of l.d.nodes.entries()) {
      n.hostId = `host-${i + 1}`;
      recordOnHost(s.set, i, {
        kind: 'redis',
        service: l.d.cluster,
        id: n.id,
        port: n.port,
        pid: n.pid,
        pidFile: n.pidFile,
        logPath: n.logPath,
        configPath: n.configPath,
      });
    }
    await writeHostSet(s.path, s.set);
  }
  const nodes = launches.flatMap((l) => l.d.nodes);
  await Promise.all(nodes.map((n) => waitForPort(n.port, 10_000, `redis ${n.id}`, n.host)));
  await Promise.all(launches.map((l) => waitForReplicasListed(l.d, 10_000)));
  s.progress(
    `started ${nodes.length} redis-server (${launches.length} services × 3), every master on host-1`,
  );
}

/** Per service, 3 Sentinels of its own (one per host). */
async function startPerServiceSentinels(s: SetLaunch, launches: Launch[]): Promise<void> {
  for (const l of launches) {
    const master = l.d.nodes[0];
    if (!master) throw new HaRedisError(`${l.d.cluster} has no nodes`);
    await startSentinels(l, { host: master.host, port: master.port });
    for (const [i, x] of l.d.sentinels.entries()) {
      x.hostId = `host-${i + 1}`;
      recordOnHost(s.set, i, {
        kind: 'sentinel',
        service: l.d.cluster,
        id: x.id,
        port: x.port,
        pid: x.pid,
        pidFile: x.pidFile,
        logPath: x.logPath,
        configPath: x.configPath,
      });
    }
    await writeHostSet(s.path, s.set);
  }
  s.progress(`started ${launches.length * SET_HOSTS} redis-sentinel (one per service per host)`);
}

/** Bring the set up; a failure stops what was started and removes the set. */
export async function hostSetUp(o: HostSetOptions): Promise<HostSet> {
  const services = serviceNamesOf(o);
  await checkTools();
  await refuseLiveClusters(o, services, o.root);
  const s = await prepareSet(o, services);
  try {
    const dynalitePort = await startSetDynalite(s);
    const launches = await Promise.all(services.map((service) => serviceLaunch(s, service)));
    await startServiceNodes(s, launches);
    if (s.set.sentinels === 'shared') await startSharedSentinels(s, launches);
    else await startPerServiceSentinels(s, launches);
    const periods = Object.entries(o.sentinelPeriods ?? {}).map(
      ([key, ms]) => [key === 'infoMs' ? 'info-period' : 'publish-period', ms] as const,
    );
    if (periods.length) {
      const distinct = s.set.sentinels === 'shared' ? launches.slice(0, 1) : launches;
      await Promise.all(distinct.map((l) => setSentinelPeriods(l.d, periods)));
    }
    await startSetProxies(s, launches);
    await waitForPort(dynalitePort, 10_000, 'dynalite');
    s.progress('waiting for replicas to sync and Sentinels to discover each other');
    await Promise.all(launches.map((l) => waitForClusterFormed(l.d, 60_000)));
    await startSetOrchestrator(s, launches);
    return s.set;
  } catch (error) {
    await hostSetDown({ name: o.name, ...(o.root ? { root: o.root } : {}) }).catch(() => undefined);
    throw error;
  }
}

/** One orchestrator for every service of the set. */
async function startSetOrchestrator(s: SetLaunch, launches: Launch[]): Promise<void> {
  const files = {
    pidFile: join(s.set.dir, 'orchestrator.pid'),
    logPath: join(s.set.dir, 'orchestrator.log'),
    readyFile: join(s.set.dir, 'orchestrator.ready'),
  };
  const record = async (pid: number) => {
    s.set.orchestrator = { pid, ...files };
    await writeHostSet(s.path, s.set);
    for (const l of launches) {
      l.d.orchestrator = { pid, ...files, notificationsPath: join(l.d.dir, 'notifications.jsonl') };
      await writeDescriptor(l.path, l.d);
    }
  };
  const pid = await spawnOrchestrator(
    launches.map((l) => l.path),
    files,
    record,
  );
  s.progress(`orchestrator ready (pid ${pid}) for ${launches.length} services; logs: ${files.logPath}`);
}
