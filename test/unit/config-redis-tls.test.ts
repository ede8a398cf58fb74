// biome-ignore-all lint/suspicious/noExplicitAny: the tests edit arbitrary fields of the JSON document
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SecretSource } from '../../adapters/aws/secrets.ts';
import { clusterAccess } from '../../compose/aws.ts';
import { parseDeploymentConfig } from '../../config/load.ts';
import { refusal } from '../support/config-refusal.ts';

/** TLS to Redis nodes and Sentinels in the deployment config: the `tls` block, its secrets and its rules. */

const example = (path: string): Record<string, any> => JSON.parse(readFileSync(path, 'utf8'));
/** config/example.json with cluster orders on TLS to its nodes and Sentinels, with a client certificate. */
function ordersOnTls(): Record<string, any> {
  const json = example('config/example.json');
  json.clusters[0].tls = { nodes: true, sentinels: true };
  json.clusters[0].secrets.redisClientCert = { secretsManager: 'ha-redis/orders/redis-client' };
  return json;
}
const hostSetOnTls = (): Record<string, any> => {
  const json = example('config/example-host-set.json');
  json.hostSets[0].tls = { nodes: true, sentinels: false };
  return json;
};

/** Answers with the reference's name: never a real secret. */
const namedSecrets: SecretSource = {
  get: async (ref) => ('ssmParameter' in ref ? `pem:${ref.ssmParameter}` : `pem:${ref.secretsManager}`),
};

describe('TLS to Redis and Sentinel in the deployment config', () => {
  it('reaches the nodes and Sentinels of a TLS cluster over TLS with its CA and client certificate, others in plain TCP', async () => {
    // Arrange
    const json = ordersOnTls();
    json.clusters[0].tls.servername = 'redis.orders.internal';
    const access = clusterAccess(parseDeploymentConfig(json, 'c.json'), namedSecrets);
    const ordersNode = { host: '10.0.1.11', port: 6379 };
    const ordersSentinel = { host: '10.0.2.11', port: 26379 };
    const sessionsNode = { host: '10.0.1.31', port: 6379 };

    // Act
    const transports = [
      access.transport?.('redis', ordersNode),
      access.transport?.('sentinel', ordersSentinel),
      access.transport?.('redis', sessionsNode),
      access.transport?.('sentinel', { host: '10.0.1.31', port: 26379 }),
    ];
    const material = await access.tlsMaterial?.('redis', ordersNode);

    // Assert
    expect(transports).toEqual(['tls', 'tls', 'plain', 'plain']);
    expect(material).toEqual({
      ca: 'pem:/ha-redis/orders/tls-ca',
      cert: 'pem:ha-redis/orders/redis-client',
      key: 'pem:ha-redis/orders/redis-client',
      servername: 'redis.orders.internal',
    });
  });

  it('turns TLS on for one side only, and needs no client certificate', async () => {
    // Arrange
    const json = ordersOnTls();
    json.clusters[0].tls = { sentinels: true };
    delete json.clusters[0].secrets.redisClientCert;
    const access = clusterAccess(parseDeploymentConfig(json, 'c.json'), namedSecrets);

    // Act
    const node = access.transport?.('redis', { host: '10.0.1.11', port: 6379 });
    const sentinel = access.transport?.('sentinel', { host: '10.0.1.11', port: 26379 });
    const material = await access.tlsMaterial?.('sentinel', { host: '10.0.1.11', port: 26379 });

    // Assert
    expect([node, sentinel]).toEqual(['plain', 'tls']);
    expect(material).toEqual({ ca: 'pem:/ha-redis/orders/tls-ca' });
  });

  it('refuses TLS without a CA, naming the cluster and what is on', () => {
    // Arrange
    const json = ordersOnTls();
    delete json.clusters[0].secrets.tlsCa;

    // Act
    const lines = refusal(json);

    // Assert
    expect(lines).toContain(
      'clusters[0].secrets.tlsCa: cluster orders reaches its nodes and Sentinels over TLS (tls), so secrets.tlsCa must name the CA that signed their certificates',
    );
  });

  it('refuses a host set with TLS and no CA, naming the set', () => {
    // Arrange
    const json = hostSetOnTls();
    delete json.hostSets[0].secrets.tlsCa;

    // Act
    const lines = refusal(json);

    // Assert
    expect(lines).toContain(
      'hostSets[0].secrets.tlsCa: host set core reaches its nodes over TLS (tls), so secrets.tlsCa must name the CA that signed their certificates',
    );
  });

  it("gives every service of a host set the set's TLS", () => {
    // Act
    const config = parseDeploymentConfig(hostSetOnTls(), 'set.json');
    const access = clusterAccess(config, namedSecrets);
    const carts = config.clusters.find((c) => c.name === 'carts');
    if (!carts?.nodes[0] || !carts.sentinels[0]) throw new Error('example has carts');

    // Assert
    expect(config.clusters.every((c) => c.tls?.nodes === true && c.tls.sentinels === false)).toBe(true);
    expect(access.transport?.('redis', carts.nodes[0])).toBe('tls');
    expect(access.transport?.('sentinel', carts.sentinels[0])).toBe('plain');
  });

  it.each([
    [
      'hostSets[0].services[0].tls',
      (j: any) => (j.hostSets[0].services[0].tls = { nodes: true }),
      'give tls on the host set',
    ],
    [
      'hostSets[0].services[0].secrets.redisClientCert',
      (j: any) => (j.hostSets[0].services[0].secrets.redisClientCert = { ssmParameter: '/x/client' }),
      "give redisClientCert in the set's secrets",
    ],
    [
      'hostSets[0].secrets.redisClientCert',
      (j: any) => {
        delete j.hostSets[0].tls;
        j.hostSets[0].secrets.redisClientCert = { ssmParameter: '/x/client' };
      },
      'host set core has a Redis client certificate but no TLS to its nodes or Sentinels',
    ],
    [
      'hostSets[0].tls.servername',
      (j: any) => (j.hostSets[0].tls.servername = '10.0.1.51:6379'),
      'a DNS name such as redis.internal',
    ],
  ])('refuses %s, saying why', (field, breakIt, message) => {
    // Arrange
    const json = hostSetOnTls();
    breakIt(json);

    // Act
    const lines = refusal(json);

    // Assert
    expect(lines.find((l) => l.startsWith(`${field}: `))).toContain(message);
  });

  it('refuses clusters that disagree on whether a Sentinel they share speaks TLS', () => {
    // Arrange: sessions lists orders' Sentinels (one process each), but in plain TCP.
    const json = ordersOnTls();
    json.clusters[1].sentinels = json.clusters[0].sentinels;

    // Act
    const lines = refusal(json);

    // Assert
    expect(lines).toContain(
      'clusters[1].sentinels[0]: Sentinel 10.0.1.11:26379 is also clusters[0].sentinels[0], whose cluster says it speaks TLS: one Sentinel speaks one way; make tls.sentinels agree',
    );
  });
});
