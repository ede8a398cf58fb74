import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '../adapters/aws/dynamodb-state-store.ts';
import { HaproxyRouter, type RuntimeApiTls } from '../adapters/haproxy/runtime-api.ts';
import { BashNodeOps } from '../adapters/host/bash-node-ops.ts';
import { FileNotifier } from '../adapters/host/file-notifier.ts';
import { ReachableHostNodeOps } from '../adapters/host/reachable-host-node-ops.ts';
import { ZoneFileDns } from '../adapters/host/zone-file-dns.ts';
import { RedisConnections } from '../adapters/redis/connections.ts';
import { IoredisNodes } from '../adapters/redis/redis-nodes.ts';
import { IoredisSentinelView } from '../adapters/redis/sentinel-view.ts';
import type { Descriptor } from '../config/local-descriptor.ts';
import { type ClusterConfig, ClusterSchema, type ReactionTiming } from '../core/model/cluster.ts';
import type { CorePorts, Logger, ReactionPacer } from '../core/ports.ts';
import { systemClock } from './clock.ts';

/** The core's view of a local cluster, from its descriptor. */
export function clusterFromDescriptor(d: Descriptor, timing: Partial<ReactionTiming> = {}): ClusterConfig {
  return ClusterSchema.parse({
    name: d.cluster,
    masterName: d.masterName,
    nodes: d.nodes.map((n) => ({ id: n.id, host: n.host, port: n.port, configPath: n.configPath })),
    sentinels: d.sentinels.map((s) => ({ host: s.host, port: s.port })),
    proxies: d.proxies.map((p) => ({
      id: p.id,
      host: p.host,
      plainPort: p.plainPort,
      tlsPort: p.tlsPort,
      // A proxy on a host of its own (a network namespace) is reached over the network, as a Lambda reaches one
      // on EC2 (the Runtime API over TLS); its admin socket is for the scripts run on that host.
      ...(p.netns && p.apiTlsPort
        ? {
            runtimeApi: { kind: 'tcp', host: p.host, port: p.apiTlsPort, tls: true },
            hostSocketPath: p.runtimeApi.path,
          }
        : { runtimeApi: p.runtimeApi }),
      backend: p.backend,
      server: p.server,
      configPath: p.configPath,
      stateFilePath: p.stateFilePath,
      reload: `pidfile:${p.pidFile}`,
    })),
    dns: { recordName: d.dns.recordName, ttl: d.dns.ttl },
    timing,
  });
}

/** Read the local password file; its content is never logged. */
export const localAccess = (d: Descriptor) => {
  const password = async () => (await readFile(d.passwordFile, 'utf8')).trim();
  return {
    redisPassword: password,
    sentinelPassword: password,
    ca: async () => readFile(d.caCertPath, 'utf8'),
  };
};

export function localDynamoClient(endpoint: string): DynamoDBClient {
  // dynalite accepts any credentials; these are placeholders, not secrets.
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
  });
}

export interface LocalRuntime {
  cluster: ClusterConfig;
  deps: CorePorts;
  notifier: FileNotifier;
  connections: RedisConnections;
  close(): Promise<void>;
}

/** The local composition root: real processes, local stand-ins for AWS (dynalite, zone file, bash, files). */
export function composeLocal(
  d: Descriptor,
  logger: Logger,
  timing: Partial<ReactionTiming> = {},
  /** The orchestrator's, shared by every cluster it serves (see ReactionPacer); a one-shot command has none. */
  pacer?: ReactionPacer,
): LocalRuntime {
  const connections = new RedisConnections(localAccess(d));
  const dynamo = localDynamoClient(d.stateStore.endpoint);
  // Processes in network namespaces: a cut-off host's files and sockets are out of reach, as on real hosts.
  const onHosts = [...d.nodes, ...d.proxies].some((p) => p.netns);
  const clientPemPath = d.clientPemPath;
  const notifier = new FileNotifier(d.orchestrator?.notificationsPath ?? `${d.dir}/notifications.jsonl`);
  // Only proxies reached over TCP with TLS (see clusterFromDescriptor) ask for the client certificate.
  // Read once: every Runtime API request asks for it (a kept session is keyed by it).
  let clientTls: Promise<RuntimeApiTls> | undefined;
  const router = new HaproxyRouter(1000, async () => {
    if (!clientPemPath) return undefined;
    clientTls ??= (async () => {
      const pem = await readFile(clientPemPath, 'utf8');
      return { ca: await readFile(d.caCertPath, 'utf8'), cert: pem, key: pem };
    })();
    // A failed read is tried again at the next request, not kept.
    clientTls.catch(() => {
      clientTls = undefined;
    });
    return clientTls;
  });
  const deps: CorePorts = {
    sentinels: new IoredisSentinelView(connections),
    redis: new IoredisNodes(connections),
    router,
    dns: new ZoneFileDns(d.dns.file),
    nodeOps: onHosts ? new ReachableHostNodeOps(new BashNodeOps()) : new BashNodeOps(),
    state: new DynamoStateStore(dynamo, d.stateStore.table),
    notifier,
    clock: systemClock,
    logger,
    newId: randomUUID,
    ...(pacer ? { pacer } : {}),
  };
  return {
    cluster: clusterFromDescriptor(d, timing),
    deps,
    notifier,
    connections,
    close: async () => {
      router.close();
      await connections.close();
      dynamo.destroy();
    },
  };
}
