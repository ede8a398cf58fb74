/**
 * The start phases of `local up`, in the order it runs them: dynalite, the Redis nodes, the Sentinels (and
 * their debug periods), the HAProxies, the orchestrator. Each writes its processes' config files, starts them,
 * and records them in the descriptor (written after each process, so that `local down` finds a half-started
 * cluster).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Descriptor, writeDescriptor } from '../config/local-descriptor.ts';
import type { Endpoint } from '../core/model/cluster.ts';
import { HaRedisError } from '../core/model/errors.ts';
import { setSentinelPeriods } from './cluster-forming.ts';
import { type HostPlacement, nodeChildEnv, onHost, which } from './host-programs.ts';
import { commandLine, startDetached, waitForPort, waitUntil } from './processes.ts';
import { renderHaproxyConf, renderRedisConf, renderSentinelConf } from './render.ts';
import type { UpOptions } from './up-options.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** Where the processes listen when the cluster is not placed on hosts. */
export const LOOPBACK = '127.0.0.1';

/** What the phases share: the options, the descriptor being filled in, and the secrets and ports made for it. */
export interface Launch {
  options: UpOptions;
  d: Descriptor;
  /** Where the descriptor is written. */
  path: string;
  password: string;
  /** The proxy certificate and key (PEM). */
  proxyPemPath: string;
  /** The next of the ports reserved for the cluster. */
  take: () => number;
  /** Host i of the placement (loopback when the cluster is not placed). */
  hostOf: (i: number) => HostPlacement;
  progress: (line: string) => void;
}

/** No orchestrator: every proxy routes by a role:master health check. */
export const isRoleCheck = (l: Launch): boolean => l.options.routing === 'role-check';
const netnsOf = (l: Launch, i: number) => (l.hostOf(i).netns ? { netns: l.hostOf(i).netns } : {});
const bindOf = (l: Launch, i: number) => (l.options.hosts ? { bind: l.hostOf(i).ip } : {});

/** Start dynalite first: a Node process that takes a while to start, and needs nothing else. Returns its port. */
export async function startDynalite(l: Launch): Promise<number> {
  const { d } = l;
  const { pid, port, endpoint } = startDynaliteProcess(l.take(), d.stateStore.logPath);
  d.stateStore.pid = pid;
  d.stateStore.endpoint = endpoint;
  await writeDescriptor(l.path, d);
  return port;
}

/** Start dynalite on `port` (log to `logPath`); its pid and endpoint. */
export function startDynaliteProcess(
  port: number,
  logPath: string,
): { pid: number; port: number; endpoint: string } {
  const pid = startDetached(
    process.execPath,
    [join(HERE, 'dynalite-server.ts'), String(port)],
    logPath,
    nodeChildEnv(),
  );
  return { pid, port, endpoint: `http://${LOOPBACK}:${port}` };
}

/** Start the 3 Redis nodes: redis-1 is the initial master; the others carry a replicaof line. Returns the master. */
export async function startRedisNodes(l: Launch): Promise<Endpoint> {
  const { d, options } = l;
  const nodePorts = [l.take(), l.take(), l.take()];
  const master = { host: l.hostOf(0).ip, port: nodePorts[0] as number };
  for (const [i, port] of nodePorts.entries()) {
    const id = `redis-${i + 1}`;
    const nodeDir = join(d.dir, id);
    await mkdir(join(nodeDir, 'data'), { recursive: true });
    const configPath = join(nodeDir, 'redis.conf');
    await writeFile(
      configPath,
      renderRedisConf({
        port,
        dir: nodeDir,
        password: l.password,
        ...(options.minReplicasToWrite !== undefined
          ? { minReplicasToWrite: options.minReplicasToWrite }
          : {}),
        minReplicasMaxLag: options.minReplicasMaxLag ?? 3,
        ...(i > 0 ? { replicaOf: master } : {}),
        ...bindOf(l, i),
      }),
      { mode: 0o600 },
    );
    const logPath = join(nodeDir, 'redis.log');
    const pid = startDetached(
      ...onHost(l.hostOf(i), which('redis-server'), [configPath]),
      join(nodeDir, 'stdout.log'),
    );
    d.nodes.push({
      id,
      host: l.hostOf(i).ip,
      port,
      pid,
      pidFile: join(nodeDir, 'redis.pid'),
      logPath,
      configPath,
      dataDir: join(nodeDir, 'data'),
      ...netnsOf(l, i),
    });
    await writeDescriptor(l.path, d);
  }
  l.progress(`started 3 redis-server: ${d.nodes.map((n) => `${n.id}:${n.port}`).join(', ')}`);
  return master;
}

/** Start the 3 Sentinels, each monitoring `master` with quorum 2. */
export async function startSentinels(l: Launch, master: Endpoint): Promise<void> {
  const { d } = l;
  const { downAfterMs, failoverTimeoutMs } = d.sentinelSettings;
  for (let i = 0; i < 3; i += 1) {
    const id = `sentinel-${i + 1}`;
    const port = l.take();
    const sDir = join(d.dir, id);
    await mkdir(sDir, { recursive: true });
    const configPath = join(sDir, 'sentinel.conf');
    await writeFile(
      configPath,
      renderSentinelConf({
        port,
        dir: sDir,
        password: l.password,
        masterName: d.masterName,
        master,
        quorum: 2,
        downAfterMs,
        failoverTimeoutMs,
        ...bindOf(l, i),
      }),
      { mode: 0o600 },
    );
    const pid = startDetached(
      ...onHost(l.hostOf(i), which('redis-sentinel'), [configPath]),
      join(sDir, 'stdout.log'),
    );
    d.sentinels.push({
      id,
      host: l.hostOf(i).ip,
      port,
      pid,
      pidFile: join(sDir, 'sentinel.pid'),
      logPath: join(sDir, 'sentinel.log'),
      configPath,
      ...netnsOf(l, i),
    });
    await writeDescriptor(l.path, d);
  }
  l.progress(
    `started 3 redis-sentinel (down-after ${downAfterMs} ms): ${d.sentinels.map((s) => s.port).join(', ')}`,
  );
}

/** Set the Sentinels' timer periods the options ask for (none: Sentinel's own). */
export async function applySentinelPeriods(l: Launch): Promise<void> {
  const periods = Object.entries(l.options.sentinelPeriods ?? {}).map(
    ([key, ms]) => [key === 'infoMs' ? 'info-period' : 'publish-period', ms] as const,
  );
  if (periods.length) {
    await setSentinelPeriods(l.d, periods);
    l.progress(
      `Sentinel periods set: ${periods.map(([p, ms]) => `${p} ${ms} ms`).join(', ')} (SENTINEL DEBUG)`,
    );
  }
}

/** The HAProxy config of proxy i: fail-closed to `master`, or (role-check) routing by a role:master check. */
function haproxyConfOf(l: Launch, i: number, master: Endpoint, dir: string, ports: number[]): string {
  const [plainPort, tlsPort, apiTlsPort] = ports as [number, number, number];
  return renderHaproxyConf({
    dir,
    plainPort,
    tlsPort,
    socketPath: join(dir, 'admin.sock'),
    stateFilePath: join(dir, 'server-state'),
    pemPath: l.proxyPemPath,
    apiTls: { port: apiTlsPort, caPath: l.d.caCertPath },
    backend: 'redis_master',
    server: 'master',
    master,
    ...bindOf(l, i),
    ...(isRoleCheck(l)
      ? {
          roleCheck: {
            password: l.password,
            nodes: l.d.nodes.map((n) => ({ id: n.id, host: n.host, port: n.port })),
          },
        }
      : {}),
  });
}

/** Start `proxyCount` HAProxies routing to `master`, and wait until each listens. */
export async function startProxies(l: Launch, master: Endpoint, proxyCount: number): Promise<void> {
  const { d } = l;
  for (let i = 0; i < proxyCount; i += 1) {
    const id = `proxy-${i + 1}`;
    const pDir = join(d.dir, id);
    await mkdir(pDir, { recursive: true });
    const [plainPort, tlsPort, apiTlsPort] = [l.take(), l.take(), l.take()];
    const configPath = join(pDir, 'haproxy.cfg');
    await writeFile(
      configPath,
      haproxyConfOf(l, i, master, pDir, [plainPort, tlsPort, apiTlsPort]),
      // The role check sends the password.
      isRoleCheck(l) ? { mode: 0o600 } : {},
    );
    const pidFile = join(pDir, 'haproxy.pid');
    const logPath = join(pDir, 'haproxy.log');
    const pid = startDetached(
      ...onHost(l.hostOf(i), which('haproxy'), ['-W', '-f', configPath, '-p', pidFile]),
      logPath,
    );
    d.proxies.push({
      id,
      host: l.hostOf(i).ip,
      plainPort,
      tlsPort,
      runtimeApi: { kind: 'unix', path: join(pDir, 'admin.sock') },
      apiTlsPort,
      configPath,
      stateFilePath: join(pDir, 'server-state'),
      backend: 'redis_master',
      server: 'master',
      pid,
      pidFile,
      logPath,
      ...netnsOf(l, i),
    });
    await writeDescriptor(l.path, d);
  }
  await Promise.all(d.proxies.map((p) => waitForPort(p.plainPort, 10_000, `haproxy ${p.id}`, p.host)));
  l.progress(
    `started ${proxyCount} haproxy: ${d.proxies.map((p) => `${p.id} plain ${p.plainPort} tls ${p.tlsPort}`).join(', ')}`,
  );
}

/** Start the orchestrator, and wait until it says it is ready (its log's tail in the error if it is not). */
export async function startOrchestrator(l: Launch): Promise<void> {
  const { d } = l;
  const orchestrator = {
    pid: 1,
    pidFile: join(d.dir, 'orchestrator.pid'),
    logPath: join(d.dir, 'orchestrator.log'),
    readyFile: join(d.dir, 'orchestrator.ready'),
    notificationsPath: join(d.dir, 'notifications.jsonl'),
  };
  d.orchestrator = orchestrator;
  await writeDescriptor(l.path, d);
  orchestrator.pid = await spawnOrchestrator([l.path], orchestrator, async (pid) => {
    orchestrator.pid = pid;
    await writeDescriptor(l.path, d);
  });
  l.progress(`orchestrator ready (pid ${orchestrator.pid}); logs: ha-redis local logs --name ${d.cluster}`);
}

/**
 * Start a node agent per node (`local up --node-agent`), each a process of its own as on a Redis host, and wait
 * until each holds its connection to its node.
 */
export async function startNodeAgents(l: Launch): Promise<void> {
  const { d } = l;
  for (const node of d.nodes) {
    const agent = {
      id: `agent-${node.id}`,
      nodeId: node.id,
      pid: 1,
      pidFile: join(d.dir, `agent-${node.id}.pid`),
      logPath: join(d.dir, `agent-${node.id}.log`),
      readyFile: join(d.dir, `agent-${node.id}.ready`),
    };
    agent.pid = startDetached(
      process.execPath,
      [join(HERE, 'node-agent.ts'), l.path, node.id],
      agent.logPath,
      nodeChildEnv(),
    );
    await writeFile(agent.pidFile, `${agent.pid}\n`);
    d.agents.push(agent);
    await writeDescriptor(l.path, d);
  }
  await Promise.all(
    d.agents.map((a) => waitUntil(async () => existsSync(a.readyFile), 15_000, `node agent ${a.id}`)),
  );
  l.progress(
    `started ${d.agents.length} node agents: ${d.agents.map((a) => `${a.id} (pid ${a.pid})`).join(', ')}`,
  );
}

/**
 * Start one orchestrator for the clusters whose descriptors are at `descriptorPaths` (one, or every service of
 * a host set); `started` records its pid before the wait. Resolves once it is ready.
 */
export async function spawnOrchestrator(
  descriptorPaths: string[],
  files: { pidFile: string; logPath: string; readyFile: string },
  started: (pid: number) => Promise<void>,
): Promise<number> {
  const pid = startDetached(
    process.execPath,
    [join(HERE, 'orchestrator.ts'), ...descriptorPaths],
    files.logPath,
    nodeChildEnv(),
  );
  await writeFile(files.pidFile, `${pid}\n`);
  await started(pid);
  await waitUntil(
    async () => {
      if (!(await commandLine(pid))) {
        throw new HaRedisError(`the orchestrator exited at start; see ${files.logPath}`);
      }
      return existsSync(files.readyFile);
    },
    30_000,
    'the orchestrator to become ready',
  ).catch(async (error: unknown) => {
    const tail = (await readFile(files.logPath, 'utf8').catch(() => '')).split('\n').slice(-5).join('\n');
    throw new HaRedisError(`${(error as Error).message}\n${tail}`);
  });
  return pid;
}
