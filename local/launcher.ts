/**
 * `local up`: a local cluster of real processes on free ports. The start phases are in launch-phases.ts, the
 * waits on the cluster in cluster-forming.ts; down, status and restarting a node are in cluster-processes.ts
 * (re-exported here, the local runtime's one entry for them).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isHostSet } from '../config/host-set-descriptor.ts';
import { clusterDir, type Descriptor, descriptorPath, readDescriptor } from '../config/local-descriptor.ts';
import { ConfigurationError, HaRedisError } from '../core/model/errors.ts';
import { waitForClusterFormed, waitForReplicasListed } from './cluster-forming.ts';
import { anyAlive, localDown } from './cluster-processes.ts';
import { checkTools, type HostPlacement } from './host-programs.ts';
import {
  applySentinelPeriods,
  isRoleCheck,
  type Launch,
  LOOPBACK,
  startDynalite,
  startNodeAgents,
  startOrchestrator,
  startProxies,
  startRedisNodes,
  startSentinels,
} from './launch-phases.ts';
import { freePorts, waitForPort } from './processes.ts';
import { generateTls } from './tls.ts';
import { LOCAL_SLACK_USER, type UpOptions, validateUpOptions } from './up-options.ts';

export { localDown, localStatus, type ProcessStatus, startNode } from './cluster-processes.ts';
export { checkTools, type HostPlacement } from './host-programs.ts';
export { LOCAL_SLACK_USER, type UpOptions } from './up-options.ts';

/** Proxies of a cluster on loopback; a placed cluster has one per host (3). */
const proxyCountOf = (options: UpOptions) => (options.hosts ? 3 : 2);

/** Refuse to replace a cluster that is still up; then give the cluster an empty directory. */
async function freshClusterDir(
  name: string,
  root: string | undefined,
): Promise<{ dir: string; path: string }> {
  const dir = clusterDir(name, root);
  const path = descriptorPath(name, root);
  if (isHostSet(name, root)) {
    throw new ConfigurationError(`'${name}' is a host set; run 'ha-redis local down --name ${name}' first`);
  }
  if (existsSync(path)) {
    const existing = await readDescriptor(path).catch(() => undefined);
    if (existing && (await anyAlive(existing))) {
      throw new ConfigurationError(
        `local cluster '${name}' is already up; run 'ha-redis local down --name ${existing.hostSet ?? name}' first`,
      );
    }
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return { dir, path };
}

/** Reserve the ports, write the password and the Slack signing secret, make the TLS files; the empty descriptor. */
async function prepareLaunch(options: UpOptions, dir: string, path: string): Promise<Launch> {
  const { name } = options;
  const progress = options.progress ?? (() => undefined);
  const placed = options.hosts;
  const roleCheck = options.routing === 'role-check';
  const ports = await freePorts(3 + 3 + proxyCountOf(options) * 3 + 1 + 1 + 1 + 1);
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
  const d: Descriptor = {
    version: 1,
    cluster: name,
    masterName: `${name}-master`,
    dir,
    createdAt: new Date().toISOString(),
    sentinelSettings: {
      downAfterMs: options.downAfterMs ?? 5000,
      failoverTimeoutMs: options.failoverTimeoutMs ?? 60_000,
    },
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
    // The orchestrator serves the live page; without one there is nothing to show it.
    livePageUrl: roleCheck ? null : `http://127.0.0.1:${take()}/`,
    agentEventsUrl: options.nodeAgent && !roleCheck ? `http://127.0.0.1:${take()}/events` : null,
    agents: [],
    ...(roleCheck ? { routing: 'role-check' as const } : {}),
    slack: {
      // Without an orchestrator nothing serves the Slack endpoint.
      endpointUrl: roleCheck ? null : `http://127.0.0.1:${take()}/slack`,
      signingSecretPath,
      allowedUsers: options.slackUsers ?? [LOCAL_SLACK_USER],
      channel: 'C0LOCALOPS',
    },
  };
  const hostOf = (i: number): HostPlacement => placed?.[i] ?? { ip: LOOPBACK };
  return { options, d, path, password, proxyPemPath: tls.proxyPemPath, take, hostOf, progress };
}

/**
 * Start 3 Redis nodes, 3 Sentinels, 2 HAProxies, dynalite and the orchestrator, all on free loopback ports; or,
 * with `hosts`, node, Sentinel and proxy i on host i (3 proxies), and with `routing: 'role-check'` no orchestrator.
 * 1. check 2. fresh directory 3. ports, secrets, TLS 4. dynalite 5. Redis, until the master lists its replicas
 * 6. Sentinels (and their periods) 7. HAProxies 8. until dynalite listens and the cluster has formed
 * 9. the orchestrator. A failure stops what was started.
 */
export async function localUp(options: UpOptions): Promise<Descriptor> {
  const { name, root } = options;
  validateUpOptions(options);
  await checkTools();
  const { dir, path } = await freshClusterDir(name, root);
  const launch = await prepareLaunch(options, dir, path);
  const { d, progress } = launch;
  try {
    const dynalitePort = await startDynalite(launch);
    const master = await startRedisNodes(launch);
    await Promise.all(d.nodes.map((n) => waitForPort(n.port, 10_000, `redis ${n.id}`, n.host)));
    // Sentinel learns the replicas from the master's INFO, which it reads at once and then every 10 s: start
    // it only once the master lists every replica, or a Sentinel can miss one for 10 s.
    await waitForReplicasListed(d, 10_000);
    await startSentinels(launch, master);
    await applySentinelPeriods(launch);
    await startProxies(launch, master, proxyCountOf(options));
    await waitForPort(dynalitePort, 10_000, 'dynalite');
    progress(`started dynalite on ${dynalitePort}`);

    progress('waiting for replicas to sync and Sentinels to discover each other');
    await waitForClusterFormed(d, 30_000);
    if (isRoleCheck(launch)) {
      progress('no orchestrator: each haproxy routes to the node its role:master check finds');
      return d;
    }
    await startOrchestrator(launch);
    if (d.agentEventsUrl) await startNodeAgents(launch);
    return d;
  } catch (error) {
    await localDown({ name, ...(root ? { root } : {}) }).catch(() => undefined);
    throw error;
  }
}
