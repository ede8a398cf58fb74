import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '../adapters/aws/dynamodb-state-store.ts';
import { HaproxyRouter } from '../adapters/haproxy/runtime-api.ts';
import { BashNodeOps } from '../adapters/local/bash-node-ops.ts';
import { FileNotifier } from '../adapters/local/file-notifier.ts';
import { ZoneFileDns } from '../adapters/local/zone-file-dns.ts';
import { RedisConnections } from '../adapters/redis/connections.ts';
import { IoredisNodes } from '../adapters/redis/redis-nodes.ts';
import { IoredisSentinelView } from '../adapters/redis/sentinel-view.ts';
import { type ClusterConfig, ClusterSchema, type ReactionTiming } from '../functions/core/cluster.ts';
import type { FailoverDeps, Logger } from '../functions/core/ports.ts';
import type { Descriptor } from '../local/descriptor.ts';
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
      runtimeApi: p.runtimeApi,
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
  deps: FailoverDeps;
  notifier: FileNotifier;
  connections: RedisConnections;
  close(): Promise<void>;
}

/** The local composition root: real processes, local stand-ins for AWS (dynalite, zone file, bash, files). */
export function composeLocal(
  d: Descriptor,
  logger: Logger,
  timing: Partial<ReactionTiming> = {},
): LocalRuntime {
  const connections = new RedisConnections(localAccess(d));
  const dynamo = localDynamoClient(d.stateStore.endpoint);
  const notifier = new FileNotifier(d.orchestrator?.notificationsPath ?? `${d.dir}/notifications.jsonl`);
  const deps: FailoverDeps = {
    sentinels: new IoredisSentinelView(connections),
    redis: new IoredisNodes(connections),
    router: new HaproxyRouter(),
    dns: new ZoneFileDns(d.dns.file),
    nodeOps: new BashNodeOps(),
    state: new DynamoStateStore(dynamo, d.stateStore.table),
    notifier,
    clock: systemClock,
    logger,
    newId: randomUUID,
  };
  return {
    cluster: clusterFromDescriptor(d, timing),
    deps,
    notifier,
    connections,
    close: async () => {
      await connections.close();
      dynamo.destroy();
    },
  };
}
