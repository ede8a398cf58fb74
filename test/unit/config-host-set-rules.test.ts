// biome-ignore-all lint/suspicious/noExplicitAny: the tests break arbitrary fields of the JSON document
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../config/load.ts';
import { refusal } from '../support/config-refusal.ts';

/** The rules of host sets, and those across entries, each refusal naming the field that breaks it. */

/** An example config as plain JSON, read afresh per test so each can break one field. */
const example = (path: string): Record<string, any> => JSON.parse(readFileSync(path, 'utf8'));
const hostSetExample = () => example('config/example-host-set.json');
/** The two clusters of config/example.json and the 3 × 8 host set in one file (valid as it is). */
function bothForms(): Record<string, any> {
  const json = example('config/example.json');
  json.hostSets = hostSetExample().hostSets;
  return json;
}

/** A fourth host for the example's set. */
const fourthHost = { id: 'h4', address: '10.0.4.51', instance: { id: 'i-0a1b2c3d4e5f60754' } };

/** The example's set with shared Sentinels on 26300. */
function shared(json: Record<string, any>): Record<string, any> {
  const set = json.hostSets[0];
  set.sentinels = 'shared';
  set.sharedSentinelPort = 26300;
  for (const service of set.services) {
    delete service.sentinelPort;
    delete service.secrets.sentinelPassword;
  }
  return json;
}

/** Puts the first proxy of cluster orders on the first host of the set: the same HAProxy, other frontends. */
function ordersProxyOnSetHost(json: Record<string, any>, backend = 'redis_master'): void {
  const proxy = json.clusters[0].proxies[0];
  Object.assign(proxy, {
    host: '10.0.1.51',
    plainPort: 7000,
    tlsPort: 7001,
    runtimeApi: { ...proxy.runtimeApi, host: '10.0.1.51' },
    backend,
  });
}

type Case = [field: string, breakIt: (c: any) => void, message: string];

const expectRefused = (json: Record<string, any>, [field, breakIt, message]: Case) => {
  breakIt(json);
  const lines = refusal(json);
  const line = lines.find((l) => l.startsWith(`${field}: `) && l.includes(message));
  expect(line, lines.join('\n')).toBeDefined();
};

describe('host set rules', () => {
  it('accepts both forms in one file', () => {
    expect(parseDeploymentConfig(bothForms(), 'both.json').clusters).toHaveLength(10);
  });

  describe('(host, port) is unique across every service and cluster', () => {
    it.each<Case>([
      [
        'hostSets[0].services[1].redisPort',
        (c) => (c.hostSets[0].services[1].redisPort = 6379),
        '10.0.1.51:6379 is already the redis port of service carts (hostSets[0].services[0].redisPort)',
      ],
      [
        'hostSets[0].services[3].sentinelPort',
        (c) => (c.hostSets[0].services[3].sentinelPort = c.hostSets[0].services[3].redisPort),
        '10.0.1.51:6382 is already the redis port of service inventory (hostSets[0].services[3].redisPort)',
      ],
      [
        'hostSets[0].services[7].plainPort',
        (c) => (c.hostSets[0].services[7].plainPort = 26379),
        'is already the sentinel port of service carts (hostSets[0].services[0].sentinelPort)',
      ],
      [
        'hostSets[0].haproxy.runtimeApiPort',
        (c) => (c.hostSets[0].haproxy.runtimeApiPort = 8379),
        'is already the frontend port of service carts (hostSets[0].services[0].tlsPort)',
      ],
      [
        'hostSets[0].services[2].tlsPort',
        (c) => {
          c.clusters[1].nodes[0].host = '10.0.1.51';
          c.hostSets[0].services[2].tlsPort = 6379;
        },
        '10.0.1.51:6379 is already the redis port of cluster sessions (clusters[1].nodes[0].port)',
      ],
      [
        'clusters[1].nodes[0].port',
        (c) => (c.clusters[1].nodes[0].host = '10.0.1.11'),
        '10.0.1.11:6379 is already the redis port of cluster orders (clusters[0].nodes[0].port)',
      ],
      [
        'clusters[0].proxies[1].runtimeApi.port',
        (c) => (c.clusters[0].proxies[1].runtimeApi.port = 6381),
        '10.0.2.21:6381 is already the frontend port of cluster orders (clusters[0].proxies[1].tlsPort)',
      ],
    ])('refuses %s', (...testCase) => expectRefused(bothForms(), testCase));

    it('refuses a shared Sentinel on a port a service already takes', () => {
      expectRefused(shared(hostSetExample()), [
        'hostSets[0].sharedSentinelPort',
        (c) => (c.hostSets[0].sharedSentinelPort = 7380),
        '10.0.1.51:7380 is already the frontend port of service payments (hostSets[0].services[1].plainPort)',
      ]);
    });

    it('reports a port taken on every host once', () => {
      // Arrange
      const json = hostSetExample();
      json.hostSets[0].services[1].redisPort = 6379;

      // Act
      const lines = refusal(json);

      // Assert
      expect(lines).toHaveLength(1);
    });

    it('lets clusters given one by one share a Sentinel, and a set share its HAProxy with a cluster', () => {
      // Arrange
      const json = bothForms();
      json.clusters[1].sentinels = json.clusters[0].sentinels;
      ordersProxyOnSetHost(json);

      // Act
      const config = parseDeploymentConfig(json, 'shared-processes.json');

      // Assert
      expect(config.clusters[1]?.sentinels).toEqual(config.clusters[0]?.sentinels);
      expect(config.clusters[0]?.proxies[0]?.runtimeApi).toMatchObject({ host: '10.0.1.51', port: 9999 });
    });
  });

  describe('backend and frontend names are unique on each HAProxy', () => {
    it.each<Case>([
      [
        'hostSets[0].services[4].backend',
        (c) => {
          c.hostSets[0].services[1].backend = 'redis_shared';
          c.hostSets[0].services[4].backend = 'redis_shared';
        },
        "'redis_shared' is already the backend of service payments (hostSets[0].services[1].backend) on the HAProxy at 10.0.1.51:9999",
      ],
      [
        'hostSets[0].services[1].backend',
        (c) => (c.hostSets[0].services[1].backend = 'redis_carts_tls'),
        "'redis_carts_tls' is already a frontend of service carts (hostSets[0].services[0].backend)",
      ],
      [
        'hostSets[0].services[0].backend',
        (c) => ordersProxyOnSetHost(c, 'redis_carts'),
        "'redis_carts' is already the backend of cluster orders (clusters[0].proxies[0].backend) on the HAProxy at 10.0.1.51:9999",
      ],
    ])('refuses %s', (...testCase) => expectRefused(bothForms(), testCase));
  });

  describe('each service has an odd number of Sentinels, at least 3', () => {
    it.each([
      ['per-service', 1],
      ['per-service', 2],
      ['per-service', 4],
      ['shared', 2],
      ['shared', 4],
    ] as const)('refuses a set of %s Sentinels on %i hosts', (layout, count) => {
      // Arrange
      const json = layout === 'shared' ? shared(hostSetExample()) : hostSetExample();
      json.hostSets[0].hosts = [...json.hostSets[0].hosts, fourthHost].slice(0, count);

      // Act
      const lines = refusal(json);

      // Assert
      expect(lines).toContain(
        `hostSets[0].hosts: ${count} hosts give each service ${count} Sentinels: use an odd number of hosts, at least 3, so a partition always leaves one side a majority`,
      );
    });

    it('accepts 5 hosts', () => {
      // Arrange
      const json = hostSetExample();
      json.hostSets[0].hosts.push(fourthHost, { ...fourthHost, id: 'h5', address: '10.0.5.51' });

      // Act
      const config = parseDeploymentConfig(json, 'five.json');

      // Assert
      expect(config.clusters[0]?.sentinels).toHaveLength(5);
    });
  });

  describe('service names are unique across sets and clusters', () => {
    it.each<Case>([
      [
        'hostSets[0].services[2].name',
        (c) => (c.hostSets[0].services[2].name = 'orders'),
        "duplicate cluster name 'orders' (also clusters[0].name)",
      ],
      [
        'hostSets[0].services[5].name',
        (c) => (c.hostSets[0].services[5].name = 'carts'),
        "duplicate cluster name 'carts' (also hostSets[0].services[0].name)",
      ],
    ])('refuses %s', (...testCase) => expectRefused(bothForms(), testCase));

    it('refuses the name of a service of another set', () => {
      expectRefused(hostSetExample(), [
        'hostSets[1].services[0].name',
        (c) => {
          const other = structuredClone(c.hostSets[0]);
          other.name = 'edge';
          other.hosts.forEach((h: any, j: number) => {
            h.address = `10.0.${j + 1}.61`;
          });
          c.hostSets.push(other);
        },
        "duplicate cluster name 'carts' (also hostSets[0].services[0].name)",
      ]);
    });
  });

  describe('the fields of a set', () => {
    it.each<Case>([
      ['hostSets[0].sentinels', (c) => (c.hostSets[0].sentinels = 'both'), "'per-service' | 'shared'"],
      [
        'hostSets[0].services[3].sentinelPort',
        (c) => delete c.hostSets[0].services[3].sentinelPort,
        'number',
      ],
      [
        'hostSets[0].sharedSentinelPort',
        (c) => (c.hostSets[0].sharedSentinelPort = 26300),
        "per-service Sentinels listen on each service's sentinelPort",
      ],
      [
        'hostSets[0].services[6].secrets.tlsCa',
        (c) => (c.hostSets[0].services[6].secrets.tlsCa = { ssmParameter: '/ha-redis/x/ca' }),
        "give tlsCa in the set's secrets",
      ],
      [
        'hostSets[0].hosts[2].address',
        (c) => (c.hostSets[0].hosts[2].address = '10.0.1.51'),
        "duplicate host address '10.0.1.51' (also hosts[0] of this set)",
      ],
      ['hostSets[0].hosts[1].id', (c) => (c.hostSets[0].hosts[1].id = 'h1'), "duplicate host id 'h1'"],
      ['hostSets[0].hosts[0].instance', (c) => delete c.hostSets[0].hosts[0].instance, ''],
      [
        'hostSets[0].services[0].backend',
        (c) => (c.hostSets[0].services[0].backend = 'redis carts'),
        'an HAProxy name',
      ],
      ['slack', (c) => delete c.slack, "service 'carts' (hostSets[0].services[0]) has a slack block"],
      [
        'clusters',
        (c) => {
          delete c.hostSets;
        },
        'give at least one cluster (clusters) or host set (hostSets)',
      ],
    ])('refuses %s', (...testCase) => expectRefused(hostSetExample(), testCase));

    it.each<Case>([
      [
        'hostSets[0].services[1].sentinelPort',
        (c) => (c.hostSets[0].services[1].sentinelPort = 26380),
        'the Sentinels of this set are shared: they listen on sharedSentinelPort',
      ],
      [
        'hostSets[0].services[1].secrets.sentinelPassword',
        (c) => (c.hostSets[0].services[1].secrets.sentinelPassword = { ssmParameter: '/x/y' }),
        "give sentinelPassword in the set's secrets",
      ],
      ['hostSets[0].sharedSentinelPort', (c) => delete c.hostSets[0].sharedSentinelPort, 'number'],
    ])('refuses %s of shared Sentinels', (...testCase) => expectRefused(shared(hostSetExample()), testCase));
  });
});
