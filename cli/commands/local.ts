/** `ha-redis local up|config|down|status|logs`: a local cluster of real processes. */
import { spawn } from 'node:child_process';
import { HaproxyRouter } from '../../adapters/haproxy/runtime-api.ts';
import { RedisConnections } from '../../adapters/redis/connections.ts';
import { IoredisNodes } from '../../adapters/redis/redis-nodes.ts';
import { clusterFromDescriptor, localAccess } from '../../compose/local.ts';
import { hostSetPath, isHostSet, readHostSet } from '../../config/host-set-descriptor.ts';
import { descriptorPath, readDescriptor } from '../../config/local-descriptor.ts';
import { errorMessage, HaRedisError } from '../../core/model/errors.ts';
import { writeLocalDeploymentConfig } from '../../local/deployment-config.ts';
import { localDown, localStatus, localUp } from '../../local/launcher.ts';
import { type Io, processIo } from './status.ts';

export interface LocalUpOptions {
  name: string;
  downAfterMs: number;
  failoverTimeoutMs: number;
  slackUser?: string[];
  notifyWebhook?: string;
  nodeAgent?: boolean;
  json?: boolean;
}

/** Start a local cluster; print its descriptor (--json) or how to connect. */
export async function localUpCommand(o: LocalUpOptions, io: Io = processIo): Promise<void> {
  const d = await localUp({
    name: o.name,
    downAfterMs: o.downAfterMs,
    failoverTimeoutMs: o.failoverTimeoutMs,
    progress: io.err,
    ...(o.slackUser ? { slackUsers: o.slackUser } : {}),
    ...(o.notifyWebhook ? { notifyWebhookUrl: o.notifyWebhook } : {}),
    ...(o.nodeAgent ? { nodeAgent: true } : {}),
  });
  if (o.json) {
    io.out(`${JSON.stringify(d, null, 2)}\n`);
    return;
  }
  io.err(`local cluster '${d.cluster}' is up; descriptor: ${descriptorPath(d.cluster)}`);
  const p = d.proxies[0];
  if (p) {
    io.err(`connect: REDISCLI_AUTH="$(cat ${d.passwordFile})" redis-cli -p ${p.plainPort}`);
    io.err(
      `    tls: REDISCLI_AUTH="$(cat ${d.passwordFile})" redis-cli -p ${p.tlsPort} --tls --cacert ${d.caCertPath}`,
    );
  }
  if (d.livePageUrl) io.err(`live page: ${d.livePageUrl} (loopback only, read-only)`);
  if (d.slack.endpointUrl) {
    io.err(
      `slack: POST signed /redis requests to ${d.slack.endpointUrl} (signing secret in ${d.slack.signingSecretPath}; allowed: ${d.slack.allowedUsers.join(', ')})`,
    );
  }
}

/** Write a deployment config file (and its secrets as files) for a local cluster; print its path. */
export async function localConfigCommand(o: { name: string }, io: Io = processIo): Promise<void> {
  const d = await readDescriptor(descriptorPath(o.name));
  const { configPath, secretsDir } = await writeLocalDeploymentConfig(d);
  io.out(`${configPath}\n`);
  io.err(`secrets (mode 600) under ${secretsDir}; try:`);
  io.err(
    `  ha-redis status --cluster ${d.cluster} --config ${configPath} --secrets-dir ${secretsDir} --skip-dns`,
  );
}

/** Stop exactly what `up` started. */
export async function localDownCommand(
  o: { name: string; keepFiles?: boolean },
  io: Io = processIo,
): Promise<void> {
  const stopped = await localDown({ name: o.name, keepFiles: Boolean(o.keepFiles) });
  io.err(`stopped ${stopped.length} processes${stopped.length ? `: ${stopped.join(', ')}` : ''}`);
}

/** Processes, roles and routes of a local cluster; returns the exit code, 1 when a process is down. */
export async function localStatusCommand(
  o: { name: string; json?: boolean },
  io: Io = processIo,
): Promise<number> {
  const { descriptor, processes } = await localStatus({ name: o.name });
  const cluster = clusterFromDescriptor(descriptor);
  const connections = new RedisConnections(localAccess(descriptor));
  const nodes = new IoredisNodes(connections);
  const router = new HaproxyRouter();
  const roles = await Promise.all(
    cluster.nodes.map(async (n) => ({
      id: n.id,
      role: await nodes.role(n, 500).catch(() => 'unreachable'),
    })),
  );
  const routes = await Promise.all(
    cluster.proxies.map(async (p) => ({
      id: p.id,
      route: await router
        .masterRoute(p)
        .then(
          (r) =>
            `${cluster.nodes.find((n) => n.port === r.address.port)?.id ?? `${r.address.host}:${r.address.port}`} (${r.state})`,
        )
        .catch((e: unknown) => `unknown: ${errorMessage(e)}`),
    })),
  );
  router.close();
  await connections.close();
  const healthy = processes.every((p) => p.alive);
  if (o.json) {
    io.out(
      `${JSON.stringify({ cluster: descriptor.cluster, healthy, processes, roles, routes }, null, 2)}\n`,
    );
  } else {
    for (const p of processes) {
      const role = roles.find((r) => r.id === p.id)?.role;
      const route = routes.find((r) => r.id === p.id)?.route;
      io.err(
        `${p.id.padEnd(13)} ${p.alive ? 'up  ' : 'DOWN'} pid ${String(p.pid).padEnd(8)}${p.port ? `port ${p.port}` : ''}${role ? `  ${role}` : ''}${route ? `  -> ${route}` : ''}`,
      );
    }
  }
  return healthy ? 0 : 1;
}

/** Print (and follow) the orchestrator's log. */
export async function localLogsCommand(o: { name: string; follow: boolean }): Promise<void> {
  // A host set's one orchestrator serves every service: its log is the set's (`--name <set>` or a service).
  const orchestrator = isHostSet(o.name)
    ? (await readHostSet(hostSetPath(o.name))).orchestrator
    : (await readDescriptor(descriptorPath(o.name))).orchestrator;
  if (!orchestrator) throw new HaRedisError(`cluster ${o.name} has no orchestrator`);
  const child = spawn('tail', [...(o.follow ? ['-F'] : []), '-n', '200', orchestrator.logPath], {
    stdio: 'inherit',
  });
  await new Promise((resolve) => child.on('exit', resolve));
}
