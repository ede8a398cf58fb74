import { randomUUID } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoStateStore } from '../adapters/aws/dynamodb-state-store.ts';
import { Route53Dns } from '../adapters/aws/route53-dns.ts';
import { AwsSecrets, type SecretSource } from '../adapters/aws/secrets.ts';
import { SnsNotifier } from '../adapters/aws/sns-notifier.ts';
import { SsmNodeOps } from '../adapters/aws/ssm-node-ops.ts';
import { HaproxyRouter, type RuntimeApiTls } from '../adapters/haproxy/runtime-api.ts';
import { type RedisAccess, RedisConnections } from '../adapters/redis/connections.ts';
import { IoredisNodes } from '../adapters/redis/redis-nodes.ts';
import { IoredisSentinelView } from '../adapters/redis/sentinel-view.ts';
import { LAMBDA_ENV, requireEnv } from '../config/env.ts';
import { loadDeploymentConfig } from '../config/load.ts';
import type { DeployedCluster, DeploymentConfig, SecretRef } from '../config/schema.ts';
import { ClusterRegistry, type Endpoint, formatEndpoint, type ProxyConfig } from '../core/model/cluster.ts';
import { ConfigurationError } from '../core/model/errors.ts';
import type { CorePorts, Logger } from '../core/ports.ts';
import { systemClock } from './clock.ts';

/** A positive whole number of milliseconds from the environment, or a failure that names the variable. */
function positiveMs(env: NodeJS.ProcessEnv, name: string): number {
  const value = Number(env[name]);
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigurationError(`environment variable ${name} must be a positive number of milliseconds`);
  }
  return value;
}

/** The deployment config bundled with the Lambda (HA_REDIS_CONFIG_FILE, relative to the code directory). */
export function deploymentConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DeploymentConfig {
  const file = requireEnv(LAMBDA_ENV.configFile, env);
  return loadDeploymentConfig(isAbsolute(file) ? file : resolve(env.LAMBDA_TASK_ROOT ?? process.cwd(), file));
}

/**
 * Passwords, CA and client certificates (Runtime API; Redis and Sentinel over TLS) of every cluster, read by
 * reference when first needed (and cached briefly by the secret source); whether a node or Sentinel speaks TLS,
 * from its cluster's `tls`. A connection to an address no cluster has is refused.
 */
export function clusterAccess(
  config: DeploymentConfig,
  secrets: SecretSource,
): RedisAccess & { runtimeApiTls(proxy: ProxyConfig): Promise<RuntimeApiTls> } {
  const byEndpoint = new Map<string, DeployedCluster>();
  for (const cluster of config.clusters) {
    const endpoints: Endpoint[] = [
      ...cluster.nodes,
      ...cluster.sentinels,
      ...cluster.proxies.flatMap((p) => [
        { host: p.host, port: p.plainPort },
        ...(p.tlsPort ? [{ host: p.host, port: p.tlsPort }] : []),
        ...(p.runtimeApi.kind === 'tcp' ? [{ host: p.runtimeApi.host, port: p.runtimeApi.port }] : []),
      ]),
    ];
    for (const e of endpoints) byEndpoint.set(formatEndpoint(e), cluster);
  }
  const clusterOf = (e: Endpoint): DeployedCluster => {
    const cluster = byEndpoint.get(formatEndpoint(e));
    if (!cluster) throw new ConfigurationError(`${formatEndpoint(e)} belongs to no configured cluster`);
    return cluster;
  };
  const read = async (ref: SecretRef | undefined) => (ref ? secrets.get(ref) : undefined);
  return {
    redisPassword: async (e) => read(clusterOf(e).secrets.redisPassword),
    sentinelPassword: async (e) => read(clusterOf(e).secrets.sentinelPassword),
    ca: async (e) => read(clusterOf(e).secrets.tlsCa),
    transport: (kind, e) => {
      const { tls } = clusterOf(e);
      return (kind === 'redis' ? tls?.nodes : tls?.sentinels) ? 'tls' : 'plain';
    },
    tlsMaterial: async (kind, e) => {
      const { secrets: refs, name, tls } = clusterOf(e);
      if (!refs.tlsCa) {
        throw new ConfigurationError(
          `cluster ${name}: its ${kind === 'redis' ? 'nodes' : 'Sentinels'} are reached over TLS, so secrets.tlsCa must name the CA that signed their certificates`,
        );
      }
      const pem = await read(refs.redisClientCert);
      return {
        ca: await secrets.get(refs.tlsCa),
        ...(pem ? { cert: pem, key: pem } : {}),
        ...(tls?.servername ? { servername: tls.servername } : {}),
      };
    },
    runtimeApiTls: async (proxy) => {
      if (proxy.runtimeApi.kind !== 'tcp') return {};
      const { secrets: refs, name } = clusterOf(proxy.runtimeApi);
      if (!refs.haproxyApiClientCert) {
        throw new ConfigurationError(
          `cluster ${name}: proxy ${proxy.id} has a TLS Runtime API, so secrets.haproxyApiClientCert must name its client certificate`,
        );
      }
      const pem = await secrets.get(refs.haproxyApiClientCert);
      const ca = await read(refs.tlsCa);
      return { cert: pem, key: pem, ...(ca ? { ca } : {}) };
    },
  };
}

/** What every AWS Lambda of ha-redis works with: the clusters and the core's ports. */
export interface AwsDeps {
  config: DeploymentConfig;
  clusters: ClusterRegistry;
  failover: CorePorts;
}

let cached: AwsDeps | undefined;

/** The AWS composition root, built once per Lambda container from the environment and the bundled config. */
export function awsDeps(logger: Logger, env: NodeJS.ProcessEnv = process.env): AwsDeps {
  if (cached) return cached;
  const config = deploymentConfigFromEnv(env);
  const table = requireEnv(LAMBDA_ENV.stateTable, env);
  const topic = requireEnv(LAMBDA_ENV.notifyTopicArn, env);
  const documentPrefix = requireEnv(LAMBDA_ENV.documentPrefix, env);
  const secrets = new AwsSecrets({ ssm: new SSMClient({}), secretsManager: new SecretsManagerClient({}) });
  const access = clusterAccess(config, secrets);
  const connections = new RedisConnections(access);
  cached = {
    config,
    clusters: new ClusterRegistry(config.clusters),
    failover: {
      sentinels: new IoredisSentinelView(connections),
      redis: new IoredisNodes(connections),
      router: new HaproxyRouter(1000, access.runtimeApiTls),
      dns: new Route53Dns({ client: new Route53Client({}), clock: systemClock }),
      nodeOps: new SsmNodeOps({
        client: new SSMClient({}),
        documentName: (document) => `${documentPrefix}-${document}`,
        clock: systemClock,
        // The maintenance step waits for a restart or an upgrade; the failover path keeps the short default.
        ...(env[LAMBDA_ENV.nodeOpsDeadlineMs]
          ? { deadlineMs: positiveMs(env, LAMBDA_ENV.nodeOpsDeadlineMs) }
          : {}),
      }),
      state: new DynamoStateStore(new DynamoDBClient({}), table, {
        historyRetentionDays: config.history.retentionDays,
      }),
      notifier: new SnsNotifier(new SNSClient({}), topic),
      clock: systemClock,
      logger,
      newId: randomUUID,
    },
  };
  return cached;
}
