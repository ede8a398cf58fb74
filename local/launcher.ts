import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisConnections } from '../adapters/redis/connections.ts';
import { parseInfo } from '../adapters/redis/redis-nodes.ts';
import { fieldsOf } from '../adapters/redis/sentinel-view.ts';
import { localAccess } from '../compose/local.ts';
import { ConfigurationError, HaRedisError } from '../core/model/errors.ts';
import {
  clusterDir,
  type Descriptor,
  descriptorPath,
  readDescriptor,
  writeDescriptor,
} from './descriptor.ts';
import {
  commandLine,
  freePorts,
  readPidFile,
  startDetached,
  stopProcess,
  waitForPort,
  waitUntil,
} from './processes.ts';
import { renderHaproxyConf, renderRedisConf, renderSentinelConf } from './render.ts';
import { generateTls } from './tls.ts';

const REQUIRED_TOOLS = ['redis-server', 'redis-sentinel', 'haproxy', 'openssl', 'socat'] as const;
const HERE = fileURLToPath(new URL('.', import.meta.url));
const HOST = '127.0.0.1';

/** A host of a placed cluster: the address its processes listen on, and the network namespace they run in. */
export interface HostPlacement {
  ip: string;
  /** Start the host's processes with `ip netns exec <netns>` (needs root). */
  netns?: string;
}

export interface UpOptions {
  name: string;
  root?: string;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
  /** Progress lines for a person; the CLI prints them to stderr. */
  progress?: (line: string) => void;
  /** Slack user ids allowed to run /redis commands on the local endpoint (default: U0LOCALOPS). */
  slackUsers?: string[];
  /** Also deliver each outcome's JSON document to this webhook. */
  notifyWebhookUrl?: string;
  /**
   * Node i, Sentinel i and proxy i run on host i (exactly 3 hosts; then there are 3 proxies). Default: all on
   * loopback, 2 proxies. The partition tests place them in network namespaces.
   */
  hosts?: HostPlacement[];
  /** Redis `min-replicas-to-write` (default 1; 0: an isolated master keeps accepting writes). */
  minReplicasToWrite?: number;
  /** Redis `min-replicas-max-lag` in seconds (default 3). */
  minReplicasMaxLag?: number;
  /**
   * `role-check`: start no orchestrator, and let every HAProxy route to whichever node a health check finds
   * saying `role:master` (the classic setup without ha-redis, as a baseline). Default: the orchestrator routes.
   */
  routing?: 'orchestrator' | 'role-check';
  /**
   * For tests: Sentinel's timer periods, set with `SENTINEL DEBUG` (not kept across a Sentinel restart).
   * Default: Sentinel's own, as in production.
   * - `infoMs` (10 s): Sentinel reads replica priorities from INFO this often, so a switchover's Prepare
   *   waits up to that long for every Sentinel to see them; at 1000 it waits about 1 s.
   * - `publishMs` (2 s): Sentinels find each other (and learn a new configuration) through hello messages
   *   sent this often; `up` waits for that discovery.
   */
  sentinelPeriods?: { infoMs?: number; publishMs?: number };
}

/** The range `sentinelPeriods` accepts, in milliseconds. */
const SENTINEL_PERIOD_RANGE = { min: 100, max: 10_000 } as const;

/** The Slack user the local endpoint allows when none is given. */
export const LOCAL_SLACK_USER = 'U0LOCALOPS';

/** Fail with one clear line when a required program is missing. */
export async function checkTools(): Promise<void> {
  const path = (process.env.PATH ?? '').split(':');
  const extra = ['/usr/sbin', '/sbin', '/usr/local/sbin'];
  const missing = REQUIRED_TOOLS.filter(
    (tool) => ![...path, ...extra].some((dir) => existsSync(join(dir, tool))),
  );
  if (missing.length) {
    throw new ConfigurationError(
      `missing required programs: ${missing.join(', ')}; run 'make setup' (as root) or apt-get install redis-server redis-sentinel haproxy openssl socat`,
    );
  }
}

/** Resolve a program that may live in sbin, which a non-login PATH often lacks. */
function which(tool: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin']) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  return tool;
}

/** The program and arguments that start `program` on a host: inside its network namespace, if it has one. */
function onHost(host: HostPlacement, program: string, args: string[]): [string, string[]] {
  // `ip netns exec` execs the program itself (no fork), so the pid we get is the program's.
  return host.netns ? [which('ip'), ['netns', 'exec', host.netns, program, ...args]] : [program, args];
}

/**
 * Start 3 Redis nodes, 3 Sentinels, 2 HAProxies, dynalite and the orchestrator, all on free loopback ports; or,
 * with `hosts`, node, Sentinel and proxy i on host i (3 proxies), and with `routing: 'role-check'` no orchestrator.
 */
export async function localUp(options: UpOptions): Promise<Descriptor> {
  const { name, root } = options;
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(name)) {
    throw new ConfigurationError(
      `cluster name '${name}' must be lower-case letters, digits and dashes (max 31)`,
    );
  }
  if (options.hosts && options.hosts.length !== 3) {
    throw new ConfigurationError(
      `hosts must list exactly 3 hosts (node, Sentinel and proxy i run on host i), not ${options.hosts.length}`,
    );
  }
  for (const [key, ms] of Object.entries(options.sentinelPeriods ?? {})) {
    if (!Number.isInteger(ms) || ms < SENTINEL_PERIOD_RANGE.min || ms > SENTINEL_PERIOD_RANGE.max) {
      throw new ConfigurationError(
        `sentinelPeriods.${key} must be whole milliseconds from ${SENTINEL_PERIOD_RANGE.min} to ${SENTINEL_PERIOD_RANGE.max}, got ${ms}`,
      );
    }
  }
  const badIp = options.hosts?.find((h) => !isIP(h.ip));
  if (badIp) throw new ConfigurationError(`host address '${badIp.ip}' is not an IP address`);
  const placed = options.hosts;
  const hostOf = (i: number): HostPlacement => placed?.[i] ?? { ip: HOST };
  const netnsOf = (i: number) => (hostOf(i).netns ? { netns: hostOf(i).netns } : {});
  const bindOf = (i: number) => (placed ? { bind: hostOf(i).ip } : {});
  const proxyCount = placed ? 3 : 2;
  const roleCheck = options.routing === 'role-check';
  const progress = options.progress ?? (() => undefined);
  await checkTools();
  const dir = clusterDir(name, root);
  const path = descriptorPath(name, root);
  if (existsSync(path)) {
    const existing = await readDescriptor(path).catch(() => undefined);
    if (existing && (await anyAlive(existing))) {
      throw new ConfigurationError(
        `local cluster '${name}' is already up; run 'ha-redis local down --name ${name}' first`,
      );
    }
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });

  const downAfterMs = options.downAfterMs ?? 5000;
  const failoverTimeoutMs = options.failoverTimeoutMs ?? 60_000;
  const ports = await freePorts(3 + 3 + proxyCount * 3 + 1 + 1);
  const take = () => {
    const p = ports.shift();
    if (p === undefined) throw new HaRedisError('ran out of reserved ports');
    return p;
  };
  const password = randomBytes(24).toString('hex');
  const passwordFile = join(dir, 'password');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  // The local Slack app's signing secret: anyone with the file can sign a request and try the endpoint.
  const signingSecretPath = join(dir, 'slack-signing-secret');
  await writeFile(signingSecretPath, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  progress('generating a CA and the proxy certificate');
  const tls = await generateTls(dir, placed ? placed.map((h) => h.ip) : []);
  const masterName = `${name}-master`;

  const d: Descriptor = {
    version: 1,
    cluster: name,
    masterName,
    dir,
    createdAt: new Date().toISOString(),
    sentinelSettings: { downAfterMs, failoverTimeoutMs },
    nodes: [],
    sentinels: [],
    proxies: [],
    caCertPath: tls.caCertPath,
    clientPemPath: tls.clientPemPath,
    passwordFile,
    dns: { file: join(dir, 'dns.zone'), recordName: `master.${name}.ha-redis.local`, ttl: 5 },
    stateStore: {
      pid: 1,
      pidFile: join(dir, 'dynalite.pid'),
      logPath: join(dir, 'dynalite.log'),
      endpoint: '',
      table: 'ha-redis-state',
    },
    notifyWebhookUrl: options.notifyWebhookUrl ?? null,
    ...(roleCheck ? { routing: 'role-check' as const } : {}),
    slack: {
      // Without an orchestrator nothing serves the Slack endpoint.
      endpointUrl: roleCheck ? null : `http://127.0.0.1:${take()}/slack`,
      signingSecretPath,
      allowedUsers: options.slackUsers ?? [LOCAL_SLACK_USER],
      channel: 'C0LOCALOPS',
    },
  };
  try {
    // dynalite first: a Node process that takes a while to start, and needs nothing else.
    const dynalitePort = take();
    d.stateStore.pid = startDetached(
      process.execPath,
      [join(HERE, 'dynalite-server.ts'), String(dynalitePort)],
      d.stateStore.logPath,
      nodeChildEnv(),
    );
    d.stateStore.endpoint = `http://${HOST}:${dynalitePort}`;
    await writeDescriptor(path, d);

    // Redis nodes: redis-1 is the initial master; the others carry a replicaof line.
    const nodePorts = [take(), take(), take()];
    const master = { host: hostOf(0).ip, port: nodePorts[0] as number };
    for (const [i, port] of nodePorts.entries()) {
      const id = `redis-${i + 1}`;
      const nodeDir = join(dir, id);
      await mkdir(join(nodeDir, 'data'), { recursive: true });
      const configPath = join(nodeDir, 'redis.conf');
      await writeFile(
        configPath,
        renderRedisConf({
          port,
          dir: nodeDir,
          password,
          ...(options.minReplicasToWrite !== undefined
            ? { minReplicasToWrite: options.minReplicasToWrite }
            : {}),
          minReplicasMaxLag: options.minReplicasMaxLag ?? 3,
          ...(i > 0 ? { replicaOf: master } : {}),
          ...bindOf(i),
        }),
        { mode: 0o600 },
      );
      const logPath = join(nodeDir, 'redis.log');
      const pid = startDetached(
        ...onHost(hostOf(i), which('redis-server'), [configPath]),
        join(nodeDir, 'stdout.log'),
      );
      d.nodes.push({
        id,
        host: hostOf(i).ip,
        port,
        pid,
        pidFile: join(nodeDir, 'redis.pid'),
        logPath,
        configPath,
        dataDir: join(nodeDir, 'data'),
        ...netnsOf(i),
      });
      await writeDescriptor(path, d);
    }
    progress(`started 3 redis-server: ${d.nodes.map((n) => `${n.id}:${n.port}`).join(', ')}`);
    await Promise.all(d.nodes.map((n) => waitForPort(n.port, 10_000, `redis ${n.id}`, n.host)));
    // Sentinel learns the replicas from the master's INFO, which it reads at once and then every 10 s: start
    // it only once the master lists every replica, or a Sentinel can miss one for 10 s.
    await waitForReplicasListed(d, 10_000);

    for (let i = 0; i < 3; i += 1) {
      const id = `sentinel-${i + 1}`;
      const port = take();
      const sDir = join(dir, id);
      await mkdir(sDir, { recursive: true });
      const configPath = join(sDir, 'sentinel.conf');
      await writeFile(
        configPath,
        renderSentinelConf({
          port,
          dir: sDir,
          password,
          masterName,
          master,
          quorum: 2,
          downAfterMs,
          failoverTimeoutMs,
          ...bindOf(i),
        }),
        { mode: 0o600 },
      );
      const pid = startDetached(
        ...onHost(hostOf(i), which('redis-sentinel'), [configPath]),
        join(sDir, 'stdout.log'),
      );
      d.sentinels.push({
        id,
        host: hostOf(i).ip,
        port,
        pid,
        pidFile: join(sDir, 'sentinel.pid'),
        logPath: join(sDir, 'sentinel.log'),
        configPath,
        ...netnsOf(i),
      });
      await writeDescriptor(path, d);
    }
    progress(
      `started 3 redis-sentinel (down-after ${downAfterMs} ms): ${d.sentinels.map((s) => s.port).join(', ')}`,
    );
    const periods = Object.entries(options.sentinelPeriods ?? {}).map(
      ([key, ms]) => [key === 'infoMs' ? 'info-period' : 'publish-period', ms] as const,
    );
    if (periods.length) {
      await setSentinelPeriods(d, periods);
      progress(
        `Sentinel periods set: ${periods.map(([p, ms]) => `${p} ${ms} ms`).join(', ')} (SENTINEL DEBUG)`,
      );
    }

    for (let i = 0; i < proxyCount; i += 1) {
      const id = `proxy-${i + 1}`;
      const pDir = join(dir, id);
      await mkdir(pDir, { recursive: true });
      const plainPort = take();
      const tlsPort = take();
      const apiTlsPort = take();
      const configPath = join(pDir, 'haproxy.cfg');
      const socketPath = join(pDir, 'admin.sock');
      const stateFilePath = join(pDir, 'server-state');
      await writeFile(
        configPath,
        renderHaproxyConf({
          dir: pDir,
          plainPort,
          tlsPort,
          socketPath,
          stateFilePath,
          pemPath: tls.proxyPemPath,
          apiTls: { port: apiTlsPort, caPath: tls.caCertPath },
          backend: 'redis_master',
          server: 'master',
          master,
          ...bindOf(i),
          ...(roleCheck
            ? {
                roleCheck: {
                  password,
                  nodes: d.nodes.map((n) => ({ id: n.id, host: n.host, port: n.port })),
                },
              }
            : {}),
        }),
        // The role check sends the password.
        roleCheck ? { mode: 0o600 } : {},
      );
      const pidFile = join(pDir, 'haproxy.pid');
      const logPath = join(pDir, 'haproxy.log');
      const pid = startDetached(
        ...onHost(hostOf(i), which('haproxy'), ['-W', '-f', configPath, '-p', pidFile]),
        logPath,
      );
      d.proxies.push({
        id,
        host: hostOf(i).ip,
        plainPort,
        tlsPort,
        runtimeApi: { kind: 'unix', path: socketPath },
        apiTlsPort,
        configPath,
        stateFilePath,
        backend: 'redis_master',
        server: 'master',
        pid,
        pidFile,
        logPath,
        ...netnsOf(i),
      });
      await writeDescriptor(path, d);
    }
    await Promise.all(d.proxies.map((p) => waitForPort(p.plainPort, 10_000, `haproxy ${p.id}`, p.host)));
    progress(
      `started ${proxyCount} haproxy: ${d.proxies.map((p) => `${p.id} plain ${p.plainPort} tls ${p.tlsPort}`).join(', ')}`,
    );

    await waitForPort(dynalitePort, 10_000, 'dynalite');
    progress(`started dynalite on ${dynalitePort}`);

    progress('waiting for replicas to sync and Sentinels to discover each other');
    await waitForClusterFormed(d, 30_000);
    if (roleCheck) {
      progress('no orchestrator: each haproxy routes to the node its role:master check finds');
      return d;
    }

    const orchestrator = {
      pid: 1,
      pidFile: join(dir, 'orchestrator.pid'),
      logPath: join(dir, 'orchestrator.log'),
      readyFile: join(dir, 'orchestrator.ready'),
      notificationsPath: join(dir, 'notifications.jsonl'),
    };
    d.orchestrator = orchestrator;
    await writeDescriptor(path, d);
    orchestrator.pid = startDetached(
      process.execPath,
      [join(HERE, 'orchestrator.ts'), path],
      orchestrator.logPath,
      nodeChildEnv(),
    );
    await writeFile(orchestrator.pidFile, `${orchestrator.pid}\n`);
    await writeDescriptor(path, d);
    await waitUntil(
      async () => {
        if (!(await commandLine(orchestrator.pid))) {
          throw new HaRedisError(`the orchestrator exited at start; see ${orchestrator.logPath}`);
        }
        return existsSync(orchestrator.readyFile);
      },
      30_000,
      'the orchestrator to become ready',
    ).catch(async (error: unknown) => {
      const tail = (await readFile(orchestrator.logPath, 'utf8').catch(() => ''))
        .split('\n')
        .slice(-5)
        .join('\n');
      throw new HaRedisError(`${(error as Error).message}\n${tail}`);
    });
    progress(`orchestrator ready (pid ${orchestrator.pid}); logs: ha-redis local logs --name ${name}`);
    return d;
  } catch (error) {
    await localDown({ name, ...(root ? { root } : {}) }).catch(() => undefined);
    throw error;
  }
}

/**
 * The environment of the Node processes `up` starts (dynalite, the orchestrator): with Node's compile cache on
 * (the directory `module.enableCompileCache()` uses), a start after the first reuses the stripped and compiled
 * modules, which takes about a second less on a busy machine. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
function nodeChildEnv(): NodeJS.ProcessEnv {
  return { NODE_COMPILE_CACHE: join(tmpdir(), 'node-compile-cache'), ...process.env };
}

/** Run `fn` with connections to the cluster's processes and its initial master (redis-1), closed afterwards. */
async function withConnections<T>(
  d: Descriptor,
  fn: (connections: RedisConnections, master: Descriptor['nodes'][number]) => Promise<T>,
): Promise<T> {
  const master = d.nodes[0];
  if (!master) throw new HaRedisError('no nodes');
  const connections = new RedisConnections(localAccess(d));
  try {
    return await fn(connections, master);
  } finally {
    await connections.close();
  }
}

/** The master's replication fields. */
const replicationOf = async (connections: RedisConnections, master: Descriptor['nodes'][number]) =>
  parseInfo(await connections.run('redis', master, 1000, (c) => c.info('replication')));

/** `SENTINEL DEBUG <period> <ms> ...` on every Sentinel, once each answers. */
function setSentinelPeriods(d: Descriptor, periods: readonly (readonly [string, number])[]): Promise<void> {
  return withConnections(d, async (connections) => {
    await Promise.all(
      d.sentinels.map(async (s) => {
        await waitForPort(s.port, 10_000, `redis-sentinel ${s.id}`, s.host);
        await connections.run('sentinel', s, 1000, (c) =>
          c.call('SENTINEL', 'DEBUG', ...periods.flatMap(([p, ms]) => [p, String(ms)])),
        );
      }),
    );
  });
}

/** Wait until the master's INFO lists every replica (connected, whether or not its sync is done). */
function waitForReplicasListed(d: Descriptor, timeoutMs: number): Promise<void> {
  return withConnections(d, (connections, master) =>
    waitUntil(
      async () =>
        Number((await replicationOf(connections, master)).get('connected_slaves') ?? 0) >= d.nodes.length - 1,
      timeoutMs,
      'the replicas to connect to the master',
      20,
    ),
  );
}

/** Wait until the master has every replica online and each Sentinel knows all replicas and the other Sentinels. */
function waitForClusterFormed(d: Descriptor, timeoutMs: number): Promise<void> {
  const replicas = d.nodes.length - 1;
  return withConnections(d, (connections, master) =>
    waitUntil(
      async () => {
        const online = [...(await replicationOf(connections, master)).entries()].filter(
          ([k, v]) => /^slave\d+$/.test(k) && v.includes('state=online'),
        ).length;
        if (online < replicas) return false;
        const views = await Promise.all(
          d.sentinels.map((s) =>
            connections.run('sentinel', s, 1000, (c) => c.call('SENTINEL', 'MASTER', d.masterName)),
          ),
        );
        return views.every((v) => {
          const f = fieldsOf(v);
          return (
            Number(f.get('num-slaves')) >= replicas &&
            Number(f.get('num-other-sentinels')) >= d.sentinels.length - 1
          );
        });
      },
      timeoutMs,
      'replicas to sync and Sentinels to discover each other',
      100,
    ),
  );
}

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

async function anyAlive(d: Descriptor): Promise<boolean> {
  for (const o of await ownedProcesses(d)) {
    for (const pid of o.pids) {
      const cmd = await commandLine(pid);
      if (cmd && o.matches(cmd)) return true;
    }
  }
  return false;
}

/** Stop exactly the processes `up` started (checked by pid and command line), and free their ports. */
export async function localDown(options: {
  name: string;
  root?: string;
  keepFiles?: boolean;
}): Promise<string[]> {
  const path = descriptorPath(options.name, options.root);
  const d = await readDescriptor(path);
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
