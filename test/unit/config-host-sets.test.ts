// biome-ignore-all lint/suspicious/noExplicitAny: the tests edit arbitrary fields of the JSON document
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clusterAccess } from '../../compose/aws.ts';
import { expandHostSet, serviceBackend, serviceFrontends } from '../../config/host-sets.ts';
import { loadDeploymentConfig, parseDeploymentConfig } from '../../config/load.ts';
import { DeployedClusterSchema, DeploymentConfigSchema, type HostSet } from '../../config/schema.ts';
import { expectedBridges } from '../../infra/constructs/alarms.ts';

/** Host sets expanded into clusters: the 3 × 8 example, shared Sentinels, both forms in one file. */

const HOST_SET_EXAMPLE = 'config/example-host-set.json';
const CLUSTERS_EXAMPLE = 'config/example.json';

/** An example config as plain JSON, read afresh per test so each can change it. */
const example = (path: string): Record<string, any> => JSON.parse(readFileSync(path, 'utf8'));

/** The example's host set with shared Sentinels: one per host on 26300, one Sentinel password for them all. */
function sharedSentinelsExample(): Record<string, any> {
  const json = example(HOST_SET_EXAMPLE);
  const set = json.hostSets[0];
  set.sentinels = 'shared';
  set.sharedSentinelPort = 26300;
  set.secrets.sentinelPassword = { ssmParameter: '/ha-redis/core/sentinel-password' };
  for (const service of set.services) {
    delete service.sentinelPort;
    delete service.secrets.sentinelPassword;
  }
  return json;
}

describe('host sets: expansion into clusters', () => {
  it('expands the 3 × 8 example into 8 clusters with a node, a Sentinel and a proxy on each host', () => {
    // Act
    const config = loadDeploymentConfig(HOST_SET_EXAMPLE);

    // Assert
    expect(config.clusters.map((c) => c.name)).toEqual([
      'carts',
      'payments',
      'catalog',
      'inventory',
      'search',
      'rate-limits',
      'feature-flags',
      'queues',
    ]);
    expect('hostSets' in config).toBe(false);
    for (const cluster of config.clusters) {
      expect(cluster.nodes.map((n) => n.hostId)).toEqual(['h1', 'h2', 'h3']);
      expect(cluster.sentinels.map((s) => s.hostId)).toEqual(['h1', 'h2', 'h3']);
      expect(cluster.proxies.map((p) => p.hostId)).toEqual(['h1', 'h2', 'h3']);
    }
  });

  it("places each service on every host by its ports, its master's node first, named after the host", () => {
    // Act
    const rateLimits = loadDeploymentConfig(HOST_SET_EXAMPLE).clusters[5];

    // Assert
    expect(rateLimits?.masterName).toBe('rate-limits');
    expect(rateLimits?.nodes[0]).toEqual({
      id: 'redis-h1',
      hostId: 'h1',
      host: '10.0.1.51',
      port: 6384,
      instance: { id: 'i-0a1b2c3d4e5f60751' },
      configPath: '/etc/redis/rate-limits.conf',
    });
    expect(rateLimits?.sentinels[2]).toEqual({
      host: '10.0.3.51',
      port: 26384,
      instance: { id: 'i-0a1b2c3d4e5f60753' },
      hostId: 'h3',
    });
    expect(rateLimits?.proxies[1]).toEqual({
      id: 'haproxy-h2',
      hostId: 'h2',
      host: '10.0.2.51',
      plainPort: 7384,
      tlsPort: 8384,
      runtimeApi: { kind: 'tcp', host: '10.0.2.51', port: 9999, tls: true },
      instance: { id: 'i-0a1b2c3d4e5f60752' },
      configPath: '/etc/haproxy/haproxy.cfg',
      stateFilePath: '/var/lib/haproxy/server-state',
      hostSocketPath: '/run/haproxy/admin.sock',
      reload: 'systemd:haproxy',
      backend: 'redis_rate_limits',
      server: 'master',
    });
  });

  it("gives each service the set's secrets, overridden by its own, and the cluster defaults", () => {
    // Act
    const [carts, payments] = loadDeploymentConfig(HOST_SET_EXAMPLE).clusters;

    // Assert
    expect(payments?.secrets).toEqual({
      redisPassword: { ssmParameter: '/ha-redis/payments/redis-password' },
      sentinelPassword: { ssmParameter: '/ha-redis/payments/sentinel-password' },
      tlsCa: { ssmParameter: '/ha-redis/core/tls-ca' },
      haproxyApiClientCert: { secretsManager: 'ha-redis/core/haproxy-api-client' },
    });
    expect(payments?.dns.ttl).toBe(5);
    expect(payments?.timing.confirmDeadlineMs).toBe(20_000);
    expect(payments?.maintenance).toEqual({ schedules: [], freezeWindows: [] });
    expect(payments?.notifications).toEqual({});
    expect(payments?.slack).toBeUndefined();
    expect(carts?.slack?.channel).toBe('C0123ABCD');
    expect(carts?.maintenance.schedules.map((s) => s.name)).toEqual(['weekly-restart']);
  });

  it('gives exactly the clusters that writing each one out by hand gives', () => {
    // Arrange
    const expanded = loadDeploymentConfig(HOST_SET_EXAMPLE);
    const byHand = JSON.parse(JSON.stringify(expanded));

    // Act
    const reparsed = parseDeploymentConfig(byHand, 'by-hand.json');

    // Assert
    expect(reparsed).toEqual(expanded);
    for (const cluster of expanded.clusters) expect(DeployedClusterSchema.parse(cluster)).toEqual(cluster);
  });

  it("puts every service's Sentinels on the shared Sentinel of each host, with the set's Sentinel password", () => {
    // Act
    const config = parseDeploymentConfig(sharedSentinelsExample(), 'shared.json');

    // Assert
    for (const cluster of config.clusters) {
      expect(cluster.sentinels.map((s) => `${s.host}:${s.port}`)).toEqual([
        '10.0.1.51:26300',
        '10.0.2.51:26300',
        '10.0.3.51:26300',
      ]);
      expect(cluster.secrets.sentinelPassword).toEqual({ ssmParameter: '/ha-redis/core/sentinel-password' });
    }
  });

  it('keeps the clusters given one by one first, then the services of each set, in one file', () => {
    // Arrange
    const json = example(CLUSTERS_EXAMPLE);
    json.hostSets = example(HOST_SET_EXAMPLE).hostSets;

    // Act
    const config = parseDeploymentConfig(json, 'both.json');

    // Assert
    expect(config.clusters.map((c) => c.name)).toEqual([
      'orders',
      'sessions',
      'carts',
      'payments',
      'catalog',
      'inventory',
      'search',
      'rate-limits',
      'feature-flags',
      'queues',
    ]);
    expect(config.clusters[0]).toEqual(loadDeploymentConfig(CLUSTERS_EXAMPLE).clusters[0]);
  });

  it('takes a given backend and master name, and leaves out the TLS frontend of a service without tlsPort', () => {
    // Arrange
    const json = example(HOST_SET_EXAMPLE);
    const service = json.hostSets[0].services[2];
    service.backend = 'be_catalog';
    service.masterName = 'catalog-master';
    delete service.tlsPort;
    const set = DeploymentConfigSchema.parse(json).hostSets[0] as HostSet;

    // Act
    const catalog = expandHostSet(set)[2];

    // Assert
    expect(catalog?.masterName).toBe('catalog-master');
    expect(catalog?.proxies.map((p) => p.backend)).toEqual(['be_catalog', 'be_catalog', 'be_catalog']);
    expect(catalog?.proxies.some((p) => 'tlsPort' in p)).toBe(false);
    expect(serviceFrontends({ name: 'catalog', backend: 'be_catalog' })).toEqual(['be_catalog_plain']);
    expect(serviceBackend({ name: 'feature-flags' })).toBe('redis_feature_flags');
  });

  it("reads a service's passwords by its ports, and the set's client certificate for a host's HAProxy", async () => {
    // Arrange
    const config = loadDeploymentConfig(HOST_SET_EXAMPLE);
    const proxy = config.clusters[4]?.proxies[2];
    if (!proxy) throw new Error('the example has a third proxy');
    const access = clusterAccess(config, {
      get: async (ref) => ('ssmParameter' in ref ? ref.ssmParameter : ref.secretsManager),
    });

    // Act
    const redisPassword = await access.redisPassword({ host: '10.0.2.51', port: 6383 });
    const sentinelPassword = await access.sentinelPassword({ host: '10.0.3.51', port: 26384 });
    const tls = await access.runtimeApiTls(proxy);

    // Assert
    expect(redisPassword).toBe('/ha-redis/search/redis-password');
    expect(sentinelPassword).toBe('/ha-redis/rate-limits/sentinel-password');
    expect(tls).toEqual({
      cert: 'ha-redis/core/haproxy-api-client',
      key: 'ha-redis/core/haproxy-api-client',
      ca: '/ha-redis/core/tls-ca',
    });
  });
});

describe('host sets: the event bridges the stack expects to hear from', () => {
  it('expects one bridge per Sentinel process: 24 for 3 hosts × 8 per-service Sentinels, 3 for shared ones, 6 for two clusters', () => {
    // Act
    const perService = expectedBridges(loadDeploymentConfig(HOST_SET_EXAMPLE));
    const shared = expectedBridges(parseDeploymentConfig(sharedSentinelsExample(), 'shared.json'));
    const clusters = expectedBridges(loadDeploymentConfig(CLUSTERS_EXAMPLE));

    // Assert
    expect(perService).toHaveLength(24);
    expect(perService).toContain('10.0.2.51:26383');
    expect(shared).toEqual(['10.0.1.51:26300', '10.0.2.51:26300', '10.0.3.51:26300']);
    expect(clusters).toEqual([
      '10.0.1.11:26379',
      '10.0.1.31:26379',
      '10.0.2.11:26379',
      '10.0.2.31:26379',
      '10.0.3.11:26379',
      '10.0.3.31:26379',
    ]);
  });
});
