// biome-ignore-all lint/suspicious/noExplicitAny: the tests break arbitrary fields of the JSON document
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SecretSource } from '../../adapters/aws/secrets.ts';
import { clusterAccess } from '../../compose/aws.ts';
import { requireEnv } from '../../config/env.ts';
import { loadDeploymentConfig, parseDeploymentConfig } from '../../config/load.ts';
import type { SecretRef } from '../../config/schema.ts';
import { fieldPath } from '../../core/model/errors.ts';

const EXAMPLE = 'config/example.json';

/** The example config as plain JSON, cloned per test so each can break one field. */
async function example(): Promise<Record<string, any>> {
  const { readFile } = await import('node:fs/promises');
  return JSON.parse(await readFile(EXAMPLE, 'utf8'));
}

const invalid = (json: unknown): string => {
  try {
    parseDeploymentConfig(json, 'ha-redis.config.json');
  } catch (error) {
    expect((error as Error).name).toBe('ConfigurationError');
    return (error as Error).message;
  }
  throw new Error('expected the config to be refused');
};

describe('deployment config', () => {
  it('accepts the example config and applies the AWS defaults', () => {
    // Act
    const config = loadDeploymentConfig(EXAMPLE);

    // Assert
    expect(config.clusters.map((c) => c.name)).toEqual(['orders', 'sessions']);
    const sessions = config.clusters[1];
    expect(sessions?.proxies[0]).toMatchObject({
      reload: 'systemd:haproxy',
      hostSocketPath: '/run/haproxy/admin.sock',
      backend: 'redis_master',
      server: 'master',
    });
    expect(sessions?.dns.ttl).toBe(5);
    expect(sessions?.timing.confirmDeadlineMs).toBe(20_000);
    expect(sessions?.maintenance).toEqual({ schedules: [], freezeWindows: [] });
  });

  it.each([
    ['clusters[0].dns.hostedZoneId', (c: any) => delete c.clusters[0].dns.hostedZoneId, 'expected string'],
    ['clusters[0].nodes[1].instance', (c: any) => delete c.clusters[0].nodes[1].instance, ''],
    ['clusters[0].nodes[0].host', (c: any) => (c.clusters[0].nodes[0].host = 'redis-1.internal'), 'IPv4'],
    [
      'clusters[0].proxies[0].runtimeApi',
      (c: any) => (c.clusters[0].proxies[0].runtimeApi = { kind: 'unix', path: '/run/x' }),
      'kind: "tcp"',
    ],
    [
      'clusters[0].proxies[1].runtimeApi',
      (c: any) => (c.clusters[0].proxies[1].runtimeApi.tls = false),
      'plain TCP lets anyone in the VPC move the master',
    ],
    ['clusters[1].sentinels', (c: any) => c.clusters[1].sentinels.pop(), 'at least 3 Sentinels'],
    [
      'clusters[0].sentinels',
      (c: any) => c.clusters[0].sentinels.push({ host: '10.0.4.11', port: 26379 }),
      'odd number',
    ],
    ['clusters[1].name', (c: any) => (c.clusters[1].name = 'orders'), "duplicate cluster name 'orders'"],
    ['slack', (c: any) => delete c.slack, "cluster 'orders' has a slack block"],
    [
      'clusters[0].slack.allowedUsers[0]',
      (c: any) => (c.clusters[0].slack.allowedUsers = ['alice']),
      'Slack user id',
    ],
    [
      'clusters[0].maintenance.schedules[0].cron',
      (c: any) => (c.clusters[0].maintenance.schedules[0].cron = '0 3 * * *'),
      'six cron fields',
    ],
    [
      'clusters[0].maintenance.schedules[0].timezone',
      (c: any) => (c.clusters[0].maintenance.schedules[0].timezone = 'Mars/Olympus'),
      'IANA time zone',
    ],
    [
      'clusters[0].maintenance.freezeWindows[0].end',
      (c: any) => (c.clusters[0].maintenance.freezeWindows[0].end = '2026-12-01T00:00:00Z'),
      'start must be before end',
    ],
    ['network.subnetIds', (c: any) => c.network.subnetIds.pop(), 'one subnet per availability zone'],
    [
      'clusters[0].proxies[1].reload',
      (c: any) => (c.clusters[0].proxies[1].reload = 'kill -9 1'),
      "'systemd:<unit>'",
    ],
  ])('names the field %s when it is wrong', async (field, breakIt, message) => {
    // Arrange
    const json = await example();
    breakIt(json);

    // Act
    const error = invalid(json);

    // Assert
    expect(error).toMatch(/^ha-redis\.config\.json is invalid:\n/);
    const line = error.split('\n').find((l) => l.startsWith(`  ${field}: `) && l.includes(message));
    expect(line, error).toBeDefined();
  });

  it('refuses a secret given by value, without repeating the value', async () => {
    // Arrange
    const json = await example();
    json.clusters[0].secrets.redisPassword = { value: 'correct-horse-battery-staple' };

    // Act
    const error = invalid(json);

    // Assert
    expect(error).toContain('clusters[0].secrets.redisPassword');
    expect(error).not.toContain('correct-horse-battery-staple');
  });

  it('lists every invalid field, not only the first', async () => {
    // Arrange
    const json = await example();
    json.clusters[0].dns.hostedZoneId = 'zone-1';
    json.clusters[1].nodes[0].port = 70000;

    // Act
    const error = invalid(json);

    // Assert
    expect(error).toContain('clusters[0].dns.hostedZoneId: a Route53 hosted zone id');
    expect(error).toContain('clusters[1].nodes[0].port:');
  });

  it('formats zod paths the way the file is read', () => {
    expect(fieldPath(['clusters', 0, 'nodes', 2, 'port'])).toBe('clusters[0].nodes[2].port');
    expect(fieldPath([])).toBe('');
  });

  describe('files', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ha-redis-config-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('says which file is missing', () => {
      // Act
      const read = () => loadDeploymentConfig(join(dir, 'absent.json'));

      // Assert
      expect(read).toThrow(/^cannot read config file .*absent\.json: ENOENT/);
    });

    it('says the file is not JSON', async () => {
      // Arrange
      const file = join(dir, 'broken.json');
      await writeFile(file, '{"version": 1,');

      // Act
      const read = () => loadDeploymentConfig(file);

      // Assert
      expect(read).toThrow(/broken\.json is not valid JSON/);
    });
  });
});

describe('AWS composition', () => {
  it('requireEnv returns a variable that is set', () => {
    expect(requireEnv('HA_REDIS_STATE_TABLE', { HA_REDIS_STATE_TABLE: 'ha-redis-state' })).toBe(
      'ha-redis-state',
    );
  });

  it.each([
    ['missing', {}],
    ['empty', { HA_REDIS_STATE_TABLE: '' }],
  ])('requireEnv fails naming a %s variable', (_what, env) => {
    expect(() => requireEnv('HA_REDIS_STATE_TABLE', env)).toThrow(
      expect.objectContaining({
        name: 'ConfigurationError',
        message: 'environment variable HA_REDIS_STATE_TABLE is not set; the stack must set it',
      }),
    );
  });

  /** A secret source that answers with the reference's name and records what was read. */
  const recordingSecrets = () => {
    const read: SecretRef[] = [];
    const source: SecretSource = {
      get: async (ref) => {
        read.push(ref);
        return 'ssmParameter' in ref ? `value-of:${ref.ssmParameter}` : `value-of:${ref.secretsManager}`;
      },
    };
    return { source, read };
  };

  it("reads each cluster's own secrets for its nodes, Sentinels and proxies", async () => {
    // Arrange
    const config = loadDeploymentConfig(EXAMPLE);
    const { source } = recordingSecrets();
    const access = clusterAccess(config, source);

    // Act
    const orders = await access.redisPassword({ host: '10.0.2.11', port: 6379 });
    const sessions = await access.sentinelPassword({ host: '10.0.3.31', port: 26379 });
    const ordersProxyCa = await access.ca?.({ host: '10.0.1.21', port: 6381 });
    const sessionsCa = await access.ca?.({ host: '10.0.1.41', port: 6380 });

    // Assert
    expect(orders).toBe('value-of:/ha-redis/orders/redis-password');
    expect(sessions).toBe('value-of:ha-redis/sessions/sentinel-password');
    expect(ordersProxyCa).toBe('value-of:/ha-redis/orders/tls-ca');
    expect(sessionsCa).toBeUndefined();
  });

  it('refuses to connect to an address no cluster has', async () => {
    // Arrange
    const access = clusterAccess(loadDeploymentConfig(EXAMPLE), recordingSecrets().source);

    // Act
    const read = access.redisPassword({ host: '10.9.9.9', port: 6379 });

    // Assert
    await expect(read).rejects.toThrow('10.9.9.9:6379 belongs to no configured cluster');
  });

  it('gives a TLS Runtime API the client certificate of its cluster, and fails clearly when none is named', async () => {
    // Arrange
    const config = loadDeploymentConfig(EXAMPLE);
    const proxy = config.clusters[0]?.proxies[0];
    if (!proxy) throw new Error('example has a proxy');
    const access = clusterAccess(config, recordingSecrets().source);
    const withoutCert = loadDeploymentConfig(EXAMPLE);
    delete withoutCert.clusters[0]?.secrets.haproxyApiClientCert;

    // Act
    const tls = await access.runtimeApiTls(proxy);
    const missing = clusterAccess(withoutCert, recordingSecrets().source).runtimeApiTls(proxy);

    // Assert
    expect(tls).toEqual({
      cert: 'value-of:ha-redis/orders/haproxy-api-client',
      key: 'value-of:ha-redis/orders/haproxy-api-client',
      ca: 'value-of:/ha-redis/orders/tls-ca',
    });
    await expect(missing).rejects.toThrow(
      'cluster orders: proxy haproxy-a has a TLS Runtime API, so secrets.haproxyApiClientCert must name its client certificate',
    );
  });
});
