import { fieldPath } from '../core/model/errors.ts';
import type { DeployedCluster, DeploymentConfig, DeploymentFile, HostSet } from './schema.ts';

/**
 * Host sets, expanded into the clusters the rest of ha-redis works with, and the rules that span the entries of
 * a config file (clusters and host sets alike): addresses, HAProxy names and service names.
 */

/** One rule broken, by the field that breaks it (the shape of a zod issue, for issuesText). */
export interface ConfigIssue {
  path: (string | number)[];
  message: string;
}

type SetService = HostSet['services'][number];

/** The backend of a service on its hosts' HAProxy: `redis_<name>`, dashes made underscores, unless given. */
export const serviceBackend = (service: Pick<SetService, 'name' | 'backend'>): string =>
  service.backend ?? `redis_${service.name.replaceAll('-', '_')}`;

/** The frontends of a service on its hosts' HAProxy, named after its backend. */
export const serviceFrontends = (service: Pick<SetService, 'name' | 'backend' | 'tlsPort'>): string[] => [
  `${serviceBackend(service)}_plain`,
  ...(service.tlsPort === undefined ? [] : [`${serviceBackend(service)}_tls`]),
];

/** Each service of a set with the port its Sentinels listen on (its own, or the set's shared one). */
function withSentinelPorts(set: HostSet): { service: SetService; sentinelPort: number }[] {
  return set.sentinels === 'shared'
    ? set.services.map((service) => ({ service, sentinelPort: set.sharedSentinelPort }))
    : set.services.map((service) => ({ service, sentinelPort: service.sentinelPort }));
}

/**
 * The clusters of one host set, one per service, in the order of its services: a node, a Sentinel and a proxy
 * on every host, in the order of the hosts, each naming its host.
 */
export function expandHostSet(set: HostSet): DeployedCluster[] {
  return withSentinelPorts(set).map(
    ({ service, sentinelPort }): DeployedCluster => ({
      name: service.name,
      hostSet: set.name,
      masterName: service.masterName ?? service.name,
      nodes: set.hosts.map((h) => ({
        id: `redis-${h.id}`,
        hostId: h.id,
        host: h.address,
        port: service.redisPort,
        instance: h.instance,
        configPath: service.redisConfigPath,
      })),
      sentinels: set.hosts.map((h) => ({
        host: h.address,
        port: sentinelPort,
        instance: h.instance,
        hostId: h.id,
      })),
      proxies: set.hosts.map((h) => ({
        id: `haproxy-${h.id}`,
        hostId: h.id,
        host: h.address,
        plainPort: service.plainPort,
        ...(service.tlsPort === undefined ? {} : { tlsPort: service.tlsPort }),
        runtimeApi: { kind: 'tcp' as const, host: h.address, port: set.haproxy.runtimeApiPort, tls: true },
        instance: h.instance,
        configPath: set.haproxy.configPath,
        stateFilePath: set.haproxy.stateFilePath,
        hostSocketPath: set.haproxy.hostSocketPath,
        reload: set.haproxy.reload,
        backend: serviceBackend(service),
        server: 'master',
      })),
      dns: service.dns,
      timing: service.timing,
      onMasterExit: service.onMasterExit,
      secrets: { ...set.secrets, ...definedOnly(service.secrets) },
      ...(set.tls ? { tls: set.tls } : {}),
      ...(service.slack ? { slack: service.slack } : {}),
      notifications: service.notifications,
      maintenance: service.maintenance,
    }),
  );
}

/** The secrets a service names itself (a key present but undefined keeps the set's). */
const definedOnly = (secrets: SetService['secrets']): DeployedCluster['secrets'] =>
  Object.fromEntries(Object.entries(secrets).filter(([, ref]) => ref !== undefined));

/** The config the code works with: the clusters as given, then every host set's services as clusters. */
export function expandHostSets(file: DeploymentFile): DeploymentConfig {
  const { hostSets, ...config } = file;
  return { ...config, clusters: [...file.clusters, ...hostSets.flatMap(expandHostSet)] };
}

/** Every rule that spans entries, broken: `[]` when the file may be expanded. */
export function crossEntryIssues(file: DeploymentFile): ConfigIssue[] {
  return [...serviceNameIssues(file), ...endpointIssues(file), ...haproxyNameIssues(file)];
}

/** Every service name is a cluster name: unique across clusters and host sets. */
function serviceNameIssues(file: DeploymentFile): ConfigIssue[] {
  const first = new Map<string, string>();
  file.clusters.forEach((c, i) => {
    if (!first.has(c.name)) first.set(c.name, `clusters[${i}].name`);
  });
  const issues: ConfigIssue[] = [];
  file.hostSets.forEach((set, i) => {
    set.services.forEach((service, k) => {
      const path = ['hostSets', i, 'services', k, 'name'];
      const earlier = first.get(service.name);
      if (earlier) {
        issues.push({ path, message: `duplicate cluster name '${service.name}' (also ${earlier})` });
      } else {
        first.set(service.name, fieldPath(path));
      }
    });
  });
  return issues;
}

type ClaimKind = 'redis' | 'sentinel' | 'frontend' | 'runtime API';

/** A TCP port on a host that one entry of the file says a process of its own listens on. */
interface PortClaim {
  host: string;
  port: number;
  kind: ClaimKind;
  /** The cluster, service or host set the process belongs to. */
  owner: string;
  path: (string | number)[];
}

/** Sentinels and HAProxy Runtime APIs may serve several clusters: one process, listed by each. */
const SHAREABLE: readonly ClaimKind[] = ['sentinel', 'runtime API'];

/** Every (host, port) a cluster's nodes, Sentinels and proxies listen on. */
function clusterClaims(file: DeploymentFile): PortClaim[] {
  return file.clusters.flatMap((c, i) => {
    const at = (...rest: (string | number)[]) => ['clusters', i, ...rest];
    const owner = `cluster ${c.name}`;
    return [
      ...c.nodes.map((n, j) => ({
        host: n.host,
        port: n.port,
        kind: 'redis' as const,
        owner,
        path: at('nodes', j, 'port'),
      })),
      ...c.sentinels.map((s, j) => ({
        ...s,
        kind: 'sentinel' as const,
        owner,
        path: at('sentinels', j, 'port'),
      })),
      ...c.proxies.flatMap((p, j) => [
        {
          host: p.host,
          port: p.plainPort,
          kind: 'frontend' as const,
          owner,
          path: at('proxies', j, 'plainPort'),
        },
        ...(p.tlsPort === undefined
          ? []
          : [
              {
                host: p.host,
                port: p.tlsPort,
                kind: 'frontend' as const,
                owner,
                path: at('proxies', j, 'tlsPort'),
              },
            ]),
        ...(p.runtimeApi.kind === 'tcp'
          ? [
              {
                ...p.runtimeApi,
                kind: 'runtime API' as const,
                owner,
                path: at('proxies', j, 'runtimeApi', 'port'),
              },
            ]
          : []),
      ]),
    ];
  });
}

/** Every (host, port) a host set's processes listen on: per host, each service's and the set's shared ones. */
function hostSetClaims(file: DeploymentFile): PortClaim[] {
  return file.hostSets.flatMap((set, i) => {
    const at = (...rest: (string | number)[]) => ['hostSets', i, ...rest];
    return set.hosts.flatMap((h) => [
      ...withSentinelPorts(set).flatMap(({ service: s, sentinelPort }, k) => {
        const claim = (kind: ClaimKind, port: number, field: string) => ({
          host: h.address,
          port,
          kind,
          owner: `service ${s.name}`,
          path: at('services', k, field),
        });
        return [
          claim('redis', s.redisPort, 'redisPort'),
          ...(set.sentinels === 'per-service' ? [claim('sentinel', sentinelPort, 'sentinelPort')] : []),
          claim('frontend', s.plainPort, 'plainPort'),
          ...(s.tlsPort === undefined ? [] : [claim('frontend', s.tlsPort, 'tlsPort')]),
        ];
      }),
      ...(set.sentinels === 'shared'
        ? [
            {
              host: h.address,
              port: set.sharedSentinelPort,
              kind: 'sentinel' as const,
              owner: `host set ${set.name}`,
              path: at('sharedSentinelPort'),
            },
          ]
        : []),
      {
        host: h.address,
        port: set.haproxy.runtimeApiPort,
        kind: 'runtime API' as const,
        owner: `host set ${set.name}`,
        path: at('haproxy', 'runtimeApiPort'),
      },
    ]);
  });
}

/** (host, port) unique across every cluster and service: redis, Sentinel, frontends and Runtime APIs. */
function endpointIssues(file: DeploymentFile): ConfigIssue[] {
  const first = new Map<string, PortClaim>();
  const reported = new Set<string>();
  const issues: ConfigIssue[] = [];
  for (const claim of [...clusterClaims(file), ...hostSetClaims(file)]) {
    const key = `${claim.host}:${claim.port}`;
    const earlier = first.get(key);
    if (!earlier) {
      first.set(key, claim);
      continue;
    }
    const shared =
      earlier.kind === claim.kind && SHAREABLE.includes(claim.kind) && earlier.owner !== claim.owner;
    const path = fieldPath(claim.path);
    if (shared || reported.has(path)) continue;
    reported.add(path);
    issues.push({
      path: claim.path,
      message: `${key} is already the ${earlier.kind} port of ${earlier.owner} (${fieldPath(earlier.path)}); give each its own port`,
    });
  }
  return issues;
}

/** A name on an HAProxy, which the HAProxy's Runtime API endpoint identifies. */
interface HaproxyName {
  haproxy: string;
  name: string;
  what: string;
  path: (string | number)[];
}

/** Every backend and frontend name each HAProxy has, as the file gives them (clusters name only backends). */
function haproxyNames(file: DeploymentFile): HaproxyName[] {
  const fromClusters = file.clusters.flatMap((c, i) =>
    c.proxies.flatMap((p, j) =>
      p.runtimeApi.kind === 'tcp'
        ? [
            {
              haproxy: `${p.runtimeApi.host}:${p.runtimeApi.port}`,
              name: p.backend,
              what: `the backend of cluster ${c.name}`,
              path: ['clusters', i, 'proxies', j, 'backend'],
            },
          ]
        : [],
    ),
  );
  const fromSets = file.hostSets.flatMap((set, i) =>
    set.hosts.flatMap((h) =>
      set.services.flatMap((s, k) => {
        const haproxy = `${h.address}:${set.haproxy.runtimeApiPort}`;
        const path = ['hostSets', i, 'services', k, 'backend'];
        return [
          { haproxy, name: serviceBackend(s), what: `the backend of service ${s.name}`, path },
          ...serviceFrontends(s).map((name) => ({
            haproxy,
            name,
            what: `a frontend of service ${s.name}`,
            path,
          })),
        ];
      }),
    ),
  );
  return [...fromClusters, ...fromSets];
}

/** Backend and frontend names unique on each HAProxy. */
function haproxyNameIssues(file: DeploymentFile): ConfigIssue[] {
  const first = new Map<string, HaproxyName>();
  const reported = new Set<string>();
  const issues: ConfigIssue[] = [];
  for (const entry of haproxyNames(file)) {
    const key = `${entry.haproxy} ${entry.name}`;
    const earlier = first.get(key);
    if (!earlier) {
      first.set(key, entry);
      continue;
    }
    const path = fieldPath(entry.path);
    if (reported.has(path)) continue;
    reported.add(path);
    issues.push({
      path: entry.path,
      message: `'${entry.name}' is already ${earlier.what} (${fieldPath(earlier.path)}) on the HAProxy at ${entry.haproxy}; give each service its own backend`,
    });
  }
  return issues;
}
