/**
 * `.ha-redis/local/<set>/hosts.json`: a local host set (`local up --services N`), host by host: each host's id,
 * address, network namespace, the processes on it (with what starts them again) and the services it serves.
 * Each service also has its own `cluster.json` (config/local-descriptor.ts), so every command takes `--cluster`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigurationError, issuesText } from '../core/model/errors.ts';
import { clusterDir, localRoot } from './local-descriptor.ts';

export const SENTINEL_LAYOUTS = ['per-service', 'shared'] as const;
/** `per-service`: one Sentinel per service on each host (the seed's way); `shared`: one per host for every service. */
export type SentinelLayout = (typeof SENTINEL_LAYOUTS)[number];

const HostProcessSchema = z.object({
  /** `redis` and `sentinel` of a service carry its name; a shared Sentinel and the HAProxy carry none. */
  kind: z.enum(['redis', 'sentinel', 'haproxy']),
  service: z.string().optional(),
  /** The id the service's descriptor knows it by (`redis-1`, `sentinel-2`, `proxy-3`). */
  id: z.string(),
  port: z.number().int().positive(),
  pid: z.number().int().positive(),
  pidFile: z.string(),
  logPath: z.string(),
  configPath: z.string(),
});
export type HostProcess = z.infer<typeof HostProcessSchema>;

const HostSchema = z.object({
  id: z.string(),
  address: z.string(),
  /** The host's network namespace and the veth end on the bridge (set down to cut the host off). */
  netns: z.string().optional(),
  link: z.string().optional(),
  services: z.array(z.string()),
  processes: z.array(HostProcessSchema),
});
export type SetHost = z.infer<typeof HostSchema>;

const OwnProcessSchema = z.object({
  pid: z.number().int().positive(),
  pidFile: z.string(),
  logPath: z.string(),
});

export const HostSetSchema = z.object({
  version: z.literal(1),
  set: z.string(),
  dir: z.string(),
  createdAt: z.string(),
  sentinels: z.enum(SENTINEL_LAYOUTS),
  /** `netns`: one network namespace per host on a bridge (root); `loopback`: one loopback address per host. */
  network: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('netns'),
      id: z.string(),
      bridge: z.string(),
      gateway: z.string(),
    }),
    z.object({ kind: z.literal('loopback') }),
  ]),
  services: z.array(z.string()),
  hosts: z.array(HostSchema),
  stateStore: OwnProcessSchema.extend({ endpoint: z.string() }),
  orchestrator: OwnProcessSchema.extend({ readyFile: z.string() }).optional(),
  /** The set's live page, served by its orchestrator on loopback, read-only (every service's descriptor has it too). */
  livePageUrl: z.string().optional(),
});
export type HostSet = z.infer<typeof HostSetSchema>;

export const hostSetPath = (name: string, root = localRoot()): string =>
  join(clusterDir(name, root), 'hosts.json');
export const isHostSet = (name: string, root = localRoot()): boolean => existsSync(hostSetPath(name, root));

export async function readHostSet(path: string): Promise<HostSet> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ConfigurationError(`no host set at ${path}; start one with 'ha-redis local up --services N'`);
  }
  const parsed = HostSetSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new ConfigurationError(`host set ${path} is invalid: ${issuesText(parsed.error)}`);
  return parsed.data;
}

export async function writeHostSet(path: string, set: HostSet): Promise<void> {
  // A temp name of its own per write: two processes writing at once never share (and corrupt) one.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(HostSetSchema.parse(set), null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** The host of a set by id, or an error that lists the set's hosts. */
export function hostOfSet(set: HostSet, hostId: string): SetHost {
  const host = set.hosts.find((h) => h.id === hostId);
  if (!host) {
    throw new ConfigurationError(
      `no host '${hostId}' in host set ${set.set}; hosts: ${set.hosts.map((h) => h.id).join(', ')}`,
    );
  }
  return host;
}
