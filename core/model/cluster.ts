import { z } from 'zod';
import { UnknownClusterError } from './errors.ts';

export const EndpointSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
});
/** A host and TCP port. */
export type Endpoint = z.infer<typeof EndpointSchema>;

/**
 * Where the fast path points a dead master's persisted `replicaof` (the seed's `replicaof localhost 0`): no
 * master at all. A node that starts with it serves reads only, and keeps its data, until it is fenced or released.
 */
export const NO_MASTER: Endpoint = { host: '127.0.0.1', port: 0 };

/** `host:port`, the way Redis and Sentinel name instances. */
export const formatEndpoint = (e: Endpoint): string => `${e.host}:${e.port}`;
export const sameEndpoint = (a: Endpoint | undefined, b: Endpoint | undefined): boolean =>
  a !== undefined && b !== undefined && a.host === b.host && a.port === b.port;

const RuntimeApiSchema = z.union([
  z.object({ kind: z.literal('unix'), path: z.string().min(1) }),
  z.object({
    kind: z.literal('tcp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    /** TLS with a client certificate (HAProxy `stats socket ... ssl verify required`). */
    tls: z.boolean().default(false),
  }),
]);
export type RuntimeApiAddress = z.infer<typeof RuntimeApiSchema>;

/**
 * Which host runs a process, for NodeOps (an SSM Run Command target): an EC2 instance id, or a tag that
 * names exactly one instance. Local clusters have none.
 */
export const InstanceTargetSchema = z.union([
  z.strictObject({
    id: z.string().regex(/^(i|mi)-[0-9a-f]{8,17}$/, 'an EC2 instance id such as i-0abc12345678def90'),
  }),
  z.strictObject({ tag: z.strictObject({ key: z.string().min(1), value: z.string().min(1) }) }),
]);
export type InstanceTarget = z.infer<typeof InstanceTargetSchema>;

/** How HAProxy reloads on its host after a config change: none, a systemd unit, or USR2 to the master. */
export const ReloadSchema = z
  .string()
  .regex(
    /^(none|systemd:[A-Za-z0-9@._-]+|pidfile:\/.+)$/,
    "'none', 'systemd:<unit>' or 'pidfile:<absolute path>'",
  );

export const ProxySchema = z.object({
  id: z.string().min(1),
  instance: InstanceTargetSchema.optional(),
  host: z.string().min(1),
  plainPort: z.number().int().min(1).max(65535),
  tlsPort: z.number().int().min(1).max(65535).optional(),
  runtimeApi: RuntimeApiSchema,
  backend: z.string().min(1).default('redis_master'),
  server: z.string().min(1).default('master'),
  /** Where the proxy's persisted routing lives on its host (config and server-state file). */
  configPath: z.string().min(1).optional(),
  stateFilePath: z.string().min(1).optional(),
  /** The admin socket on the proxy's host, for scripts run there; defaults to a unix `runtimeApi` path. */
  hostSocketPath: z.string().min(1).optional(),
  /** How `update-haproxy` reloads it after rewriting the config (connections in flight are kept). */
  reload: ReloadSchema.default('none'),
});
/** One HAProxy instance routing clients to the master. */
export type ProxyConfig = z.infer<typeof ProxySchema>;

export const NodeSchema = EndpointSchema.extend({
  id: z.string().min(1),
  instance: InstanceTargetSchema.optional(),
  /** redis.conf on the node's host, for fencing that survives a restart. */
  configPath: z.string().min(1).optional(),
});
export type NodeConfig = z.infer<typeof NodeSchema>;

/** A Sentinel; its host runs the event bridge. */
export const SentinelSchema = EndpointSchema.extend({ instance: InstanceTargetSchema.optional() });

/** Time limits of the automatic reaction, in milliseconds. */
export const ReactionTimingSchema = z.object({
  sentinelTimeoutMs: z.number().int().positive().default(500),
  nodeTimeoutMs: z.number().int().positive().default(1000),
  confirmPollMs: z.number().int().positive().default(10),
  confirmDeadlineMs: z.number().int().positive().default(20_000),
  claimLeaseMs: z.number().int().positive().default(60_000),
  verifyAttempts: z.number().int().positive().default(20),
  verifyIntervalMs: z.number().int().positive().default(50),
});
export type ReactionTiming = z.infer<typeof ReactionTimingSchema>;

/**
 * What to do when a node agent reports that the master's process exited (the fast path):
 * `failover` asks Sentinel to fail over at once; `wait` leaves it to Sentinel's own `down-after-milliseconds`.
 */
export const MasterExitPolicySchema = z.strictObject({
  policy: z.enum(['failover', 'wait']).default('failover'),
  /** Wait this long first, and do nothing if the master serves again by then (a supervisor's quick restart). */
  graceMs: z.number().int().nonnegative().max(60_000).default(0),
  /**
   * How long to wait for the hold (`replicaof` no master persisted in the old master's config) before asking
   * Sentinel anyway: locally it takes ~50 ms; an SSM command takes about a second. A node that restarts before
   * the hold lands comes back as a master with no replica, so `min-replicas-to-write` refuses its writes.
   */
  holdWaitMs: z.number().int().positive().max(30_000).default(1000),
  /** How long Sentinel has to promote a replica after SENTINEL FAILOVER; then the hold on the old master is lifted. */
  promotionDeadlineMs: z.number().int().positive().max(120_000).default(5000),
  /** A replica further behind the master's last offset the agent read than this is no candidate. */
  maxLagBytes: z.number().int().nonnegative().default(1_048_576),
});
export type MasterExitPolicy = z.infer<typeof MasterExitPolicySchema>;

export const ClusterSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
  masterName: z.string().min(1),
  nodes: z.array(NodeSchema).min(1),
  sentinels: z.array(SentinelSchema).min(1),
  proxies: z.array(ProxySchema).min(1),
  dns: z.object({
    recordName: z.string().min(1),
    ttl: z.number().int().positive().default(5),
    /** The Route53 hosted zone of the record (AWS only). */
    hostedZoneId: z.string().min(1).optional(),
  }),
  timing: ReactionTimingSchema.default(ReactionTimingSchema.parse({})),
  onMasterExit: MasterExitPolicySchema.default(MasterExitPolicySchema.parse({})),
});
/** Everything the core knows about one Redis Sentinel cluster. */
export type ClusterConfig = z.infer<typeof ClusterSchema>;

/** The clusters one deployment manages, looked up by name. */
export class ClusterRegistry {
  private readonly byName: Map<string, ClusterConfig>;
  constructor(clusters: readonly ClusterConfig[]) {
    this.byName = new Map(clusters.map((c) => [c.name, c]));
  }
  get(name: string): ClusterConfig {
    const cluster = this.byName.get(name);
    if (!cluster) throw new UnknownClusterError(name, [...this.byName.keys()]);
    return cluster;
  }
  names(): string[] {
    return [...this.byName.keys()];
  }
}

/** The node id of an address, or the address itself when no node has it. */
export function nodeLabel(cluster: ClusterConfig, e: Endpoint): string {
  const node = cluster.nodes.find((n) => sameEndpoint(n, e));
  return node ? node.id : formatEndpoint(e);
}

/** Every client listener of every proxy: plain, and TLS where the proxy has one. */
export function proxyListeners(cluster: ClusterConfig): { proxy: ProxyConfig; listener: 'plain' | 'tls' }[] {
  return cluster.proxies.flatMap((proxy) =>
    (['plain', 'tls'] as const)
      .filter((listener) => listener === 'plain' || proxy.tlsPort !== undefined)
      .map((listener) => ({ proxy, listener })),
  );
}
