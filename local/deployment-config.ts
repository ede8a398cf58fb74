import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseDeploymentConfig } from '../config/load.ts';
import type { Descriptor } from '../config/local-descriptor.ts';
import type { DeploymentConfig } from '../config/schema.ts';
import { ConfigurationError } from '../core/model/errors.ts';

/**
 * The local cluster described the way a deployment config file describes a real one (hosts, ports, the
 * Runtime API over TLS with a client certificate, secrets by reference), and the secrets as files named like
 * the references. `status --config` then reaches it exactly as it reaches a cluster on EC2. The network and
 * zone ids are placeholders: nothing here is deployed.
 */
export async function writeLocalDeploymentConfig(
  d: Descriptor,
): Promise<{ configPath: string; secretsDir: string }> {
  if (!d.clientPemPath || d.proxies.some((p) => p.apiTlsPort === undefined)) {
    throw new ConfigurationError(
      `local cluster ${d.cluster} has no Runtime API over TLS; start it again with this version (local down, local up)`,
    );
  }
  const ref = (what: string) => `/ha-redis/local/${d.cluster}/${what}`;
  const tag = { key: 'ha-redis:local', value: d.cluster };
  const json = {
    version: 1,
    name: `local-${d.cluster}`.slice(0, 31),
    network: { vpcId: 'vpc-00000000', availabilityZones: ['local'], subnetIds: ['subnet-00000000'] },
    clusters: [
      {
        name: d.cluster,
        masterName: d.masterName,
        nodes: d.nodes.map((n) => ({
          id: n.id,
          host: n.host,
          port: n.port,
          instance: { tag },
          configPath: n.configPath,
        })),
        sentinels: d.sentinels.map((s) => ({ host: s.host, port: s.port, instance: { tag } })),
        proxies: d.proxies.map((p) => ({
          id: p.id,
          host: p.host,
          plainPort: p.plainPort,
          tlsPort: p.tlsPort,
          runtimeApi: { kind: 'tcp', host: p.host, port: p.apiTlsPort, tls: true },
          instance: { tag },
          configPath: p.configPath,
          stateFilePath: p.stateFilePath,
          hostSocketPath: p.runtimeApi.path,
          reload: `pidfile:${p.pidFile}`,
          backend: p.backend,
          server: p.server,
        })),
        dns: { hostedZoneId: 'Z0LOCAL00000', recordName: d.dns.recordName, ttl: d.dns.ttl },
        secrets: {
          redisPassword: { ssmParameter: ref('password') },
          sentinelPassword: { ssmParameter: ref('password') },
          tlsCa: { ssmParameter: ref('ca') },
          haproxyApiClientCert: { ssmParameter: ref('haproxy-api-client') },
        },
      },
    ],
  };
  const config: DeploymentConfig = parseDeploymentConfig(json, `the config of local cluster ${d.cluster}`);
  const configPath = join(d.dir, 'ha-redis.config.json');
  const secretsDir = join(d.dir, 'secrets');
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const files: [string, string][] = [
    [ref('password'), await readFile(d.passwordFile, 'utf8')],
    [ref('ca'), await readFile(d.caCertPath, 'utf8')],
    [ref('haproxy-api-client'), await readFile(d.clientPemPath, 'utf8')],
  ];
  for (const [name, content] of files) {
    const path = join(secretsDir, name);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, content, { mode: 0o600 });
  }
  return { configPath, secretsDir };
}
