import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigurationError, issuesText } from '../core/model/errors.ts';

const port = z.number().int().min(1).max(65535);
const ProcessSchema = z.object({
  pid: z.number().int().positive(),
  pidFile: z.string(),
  logPath: z.string(),
});
/** The network namespace a process runs in, when its cluster is placed on hosts (`localUp` `hosts`). */
const netns = z.string().optional();
/** The host a process runs on, when its cluster is a service of a host set (`host-1` ...). */
const hostId = z.string().optional();

export const DescriptorSchema = z.object({
  version: z.literal(1),
  cluster: z.string(),
  masterName: z.string(),
  dir: z.string(),
  /**
   * The host set this cluster is a service of (`local up --services N`): its Sentinels (when shared), proxies,
   * dynalite and orchestrator are the set's, and `local down` takes the set's name.
   */
  hostSet: z.string().optional(),
  /**
   * The set whose orchestrator, state store and Slack endpoint serve this service, once it moved to the hosts of
   * another set (`ha-redis move`); absent: `hostSet`'s.
   */
  controlSet: z.string().optional(),
  /** A move under way (`ha-redis move`): see core/move/ports.ts MoveRecord; `pid` runs the execution. */
  moving: z
    .object({
      toSet: z.string(),
      executionId: z.string(),
      pid: z.number().int().positive(),
      since: z.string(),
      oldNodes: z.array(z.object({ id: z.string(), host: z.string(), port, hostId: z.string() })),
      oldSentinels: z.array(
        z.object({ id: z.string(), host: z.string(), port, hostId: z.string(), shared: z.boolean() }),
      ),
    })
    .optional(),
  createdAt: z.string(),
  sentinelSettings: z.object({
    downAfterMs: z.number().int().positive(),
    failoverTimeoutMs: z.number().int().positive(),
  }),
  nodes: z.array(
    ProcessSchema.extend({
      id: z.string(),
      host: z.string(),
      port,
      configPath: z.string(),
      dataDir: z.string(),
      netns,
      hostId,
    }),
  ),
  sentinels: z.array(
    ProcessSchema.extend({ id: z.string(), host: z.string(), port, configPath: z.string(), netns, hostId }),
  ),
  proxies: z.array(
    ProcessSchema.extend({
      id: z.string(),
      host: z.string(),
      plainPort: port,
      tlsPort: port,
      runtimeApi: z.object({ kind: z.literal('unix'), path: z.string() }),
      /** The same Runtime API over TLS on loopback, client certificate required (as on AWS hosts). */
      apiTlsPort: port.optional(),
      configPath: z.string(),
      stateFilePath: z.string(),
      backend: z.string(),
      server: z.string(),
      netns,
      hostId,
    }),
  ),
  /**
   * Absent: the orchestrator routes (fail-closed proxies). `role-check`: no orchestrator; every proxy routes
   * to whichever node a health check finds saying `role:master` (the baseline without ha-redis).
   */
  routing: z.literal('role-check').optional(),
  caCertPath: z.string(),
  /** Client certificate and key (PEM) for the Runtime API over TLS. */
  clientPemPath: z.string().optional(),
  passwordFile: z.string(),
  dns: z.object({ file: z.string(), recordName: z.string(), ttl: z.number().int().positive() }),
  stateStore: ProcessSchema.extend({ endpoint: z.string(), table: z.string() }),
  orchestrator: ProcessSchema.extend({ readyFile: z.string(), notificationsPath: z.string() }).optional(),
  /** The live page the orchestrator serves on loopback, read-only (null: no orchestrator to serve it). */
  livePageUrl: z.string().nullable().default(null),
  /** Where node agents POST their node-event envelopes: the orchestrator's stand-in for SNS (null: no agents). */
  agentEventsUrl: z.string().nullable().default(null),
  /** The node agents (`local up --node-agent`): one per node, each watching that node. */
  agents: z
    .array(ProcessSchema.extend({ id: z.string(), nodeId: z.string(), readyFile: z.string() }))
    .default([]),
  /** Where the orchestrator also POSTs each outcome's JSON document (`local up --notify-webhook`). */
  notifyWebhookUrl: z.string().nullable().default(null),
  /** The Slack endpoint the orchestrator serves on loopback; sign requests with the secret in the file. */
  slack: z.object({
    endpointUrl: z.string().nullable(),
    signingSecretPath: z.string().nullable(),
    /** Who may run /redis commands against this cluster, and its channel (Slack ids). */
    allowedUsers: z.array(z.string()).default([]),
    channel: z.string().default('C0LOCALOPS'),
  }),
});
/** `.ha-redis/local/<name>/cluster.json`: everything `local up` started, and how to reach it. */
export type Descriptor = z.infer<typeof DescriptorSchema>;

/** Where local clusters live: `$HA_REDIS_HOME` or `./.ha-redis`. */
export const localRoot = (): string => resolve(process.env.HA_REDIS_HOME ?? '.ha-redis', 'local');
export const clusterDir = (name: string, root = localRoot()): string => join(root, name);
export const descriptorPath = (name: string, root = localRoot()): string =>
  join(clusterDir(name, root), 'cluster.json');

export async function readDescriptor(path: string): Promise<Descriptor> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ConfigurationError(
      `no local cluster descriptor at ${path}; start one with 'ha-redis local up'`,
    );
  }
  const parsed = DescriptorSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new ConfigurationError(`descriptor ${path} is invalid: ${issuesText(parsed.error)}`);
  }
  return parsed.data;
}

export async function writeDescriptor(path: string, descriptor: Descriptor): Promise<void> {
  // A temp name of its own per write: two processes writing at once never share (and corrupt) one.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(DescriptorSchema.parse(descriptor), null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}
