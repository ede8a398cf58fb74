import { z } from 'zod';
import { fieldPath } from '../core/model/errors.ts';

/**
 * TLS from ha-redis (the Lambdas, the CLI) to a cluster's Redis nodes and Sentinels. With TLS on, the ports the
 * config gives for them are their `tls-port`s (a TLS-only Redis has `port 0`). The certificates are checked
 * against `secrets.tlsCa`; the client certificate in `secrets.redisClientCert` is presented when given (Redis'
 * default, `tls-auth-clients yes`, refuses a client without one).
 */
export const RedisTlsSchema = z.strictObject({
  /** The nodes' ports are their tls-ports. */
  nodes: z.boolean().default(false),
  /** The Sentinels' ports are their tls-ports. */
  sentinels: z.boolean().default(false),
  /**
   * The DNS name every node and Sentinel certificate carries, checked instead of the IP address connected to
   * (and sent as SNI). Absent: each certificate must carry its host's IP address as a subjectAltName.
   */
  servername: z
    .string()
    .regex(
      /^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/,
      'a DNS name such as redis.internal (an IP address needs no servername: it is checked against the IP SANs)',
    )
    .optional(),
});
export type RedisTls = z.infer<typeof RedisTlsSchema>;

/** Whether a cluster's TLS block turns TLS on for anything. */
export const tlsOn = (tls: RedisTls | undefined): boolean => Boolean(tls?.nodes || tls?.sentinels);

/** One rule broken, by its field (the shape of host-sets.ts' ConfigIssue; schema.ts imports this file). */
interface ConfigIssue {
  path: (string | number)[];
  message: string;
}

type Secrets = { tlsCa?: unknown; redisClientCert?: unknown };
/** What the rules read of a config file: its clusters and host sets (schema.ts' DeploymentFile fits). */
export interface TlsRulesInput {
  clusters: readonly {
    name: string;
    tls?: RedisTls | undefined;
    secrets: Secrets;
    sentinels: readonly { host: string; port: number }[];
  }[];
  hostSets: readonly { name: string; tls?: RedisTls | undefined; secrets: Secrets }[];
}

interface TlsEntry {
  /** `cluster orders`, `host set core`. */
  owner: string;
  tls: RedisTls | undefined;
  secrets: Secrets;
  at: (string | number)[];
}

/** What TLS needs and what only TLS uses, per cluster and host set: a CA when on, no client certificate when off. */
function entryIssues({ owner, tls, secrets, at }: TlsEntry): ConfigIssue[] {
  const on = [tls?.nodes ? 'nodes' : undefined, tls?.sentinels ? 'Sentinels' : undefined].filter(Boolean);
  if (on.length > 0 && !secrets.tlsCa) {
    return [
      {
        path: [...at, 'secrets', 'tlsCa'],
        message: `${owner} reaches its ${on.join(' and ')} over TLS (tls), so secrets.tlsCa must name the CA that signed their certificates`,
      },
    ];
  }
  if (on.length === 0 && secrets.redisClientCert) {
    return [
      {
        path: [...at, 'secrets', 'redisClientCert'],
        message: `${owner} has a Redis client certificate but no TLS to its nodes or Sentinels: set tls.nodes and/or tls.sentinels, or remove secrets.redisClientCert`,
      },
    ];
  }
  return [];
}

/**
 * The TLS rules of a config file: each cluster and host set that turns TLS on names its CA, and clusters that
 * list the same Sentinel (one process) agree on whether it speaks TLS.
 */
export function redisTlsIssues(file: TlsRulesInput): ConfigIssue[] {
  const entries: TlsEntry[] = [
    ...file.clusters.map((c, i) => ({
      owner: `cluster ${c.name}`,
      tls: c.tls,
      secrets: c.secrets,
      at: ['clusters', i],
    })),
    ...file.hostSets.map((s, i) => ({
      owner: `host set ${s.name}`,
      tls: s.tls,
      secrets: s.secrets,
      at: ['hostSets', i],
    })),
  ];
  return [...entries.flatMap(entryIssues), ...sharedSentinelIssues(file)];
}

/** A Sentinel listed by several clusters is one process: it speaks TLS for all of them or for none. */
function sharedSentinelIssues(file: TlsRulesInput): ConfigIssue[] {
  const first = new Map<string, { tls: boolean; path: (string | number)[] }>();
  const issues: ConfigIssue[] = [];
  file.clusters.forEach((c, i) => {
    c.sentinels.forEach((s, j) => {
      const key = `${s.host}:${s.port}`;
      const tls = c.tls?.sentinels ?? false;
      const path = ['clusters', i, 'sentinels', j];
      const earlier = first.get(key);
      if (!earlier) first.set(key, { tls, path });
      else if (earlier.tls !== tls) {
        issues.push({
          path,
          message: `Sentinel ${key} is also ${fieldPath(earlier.path)}, whose cluster says it speaks ${earlier.tls ? 'TLS' : 'plain TCP'}: one Sentinel speaks one way; make tls.sentinels agree`,
        });
      }
    });
  });
  return issues;
}
