import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { QueuedDns } from '../adapters/aws/dns-queue.ts';
import { DynamoStateStore } from '../adapters/aws/dynamodb-state-store.ts';
import { Route53Dns } from '../adapters/aws/route53-dns.ts';
import { QueuedRoutingNodeOps } from '../adapters/aws/routing-queue.ts';
import { S3ConfigSource } from '../adapters/aws/s3-config-source.ts';
import { AwsSecrets, type SecretSource } from '../adapters/aws/secrets.ts';
import { SnsNotifier } from '../adapters/aws/sns-notifier.ts';
import { SsmNodeOps } from '../adapters/aws/ssm-node-ops.ts';
import { HaproxyRouter, type RuntimeApiTls } from '../adapters/haproxy/runtime-api.ts';
import { type RedisAccess, RedisConnections } from '../adapters/redis/connections.ts';
import { IoredisNodes } from '../adapters/redis/redis-nodes.ts';
import { IoredisSentinelView } from '../adapters/redis/sentinel-view.ts';
import { LAMBDA_ENV, requireEnv } from '../config/env.ts';
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

/** The deployment config's object, from HA_REDIS_CONFIG_BUCKET and HA_REDIS_CONFIG_KEY, read through S3. */
export function configSourceFromEnv(logger: Logger, env: NodeJS.ProcessEnv = process.env): S3ConfigSource {
  return new S3ConfigSource({
    // Bounded: the first read is waited for (at cold start), and a refresh must not hang in the background.
    client: new S3Client({
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 },
    }),
    bucket: requireEnv(LAMBDA_ENV.configBucket, env),
    key: requireEnv(LAMBDA_ENV.configKey, env),
    clock: systemClock,
    logger,
  });
}

let source: S3ConfigSource | undefined;

/**
 * The deployment config in use now, for a composition root that needs nothing else of `awsDeps` (the Slack
 * front, operator-start): one S3ConfigSource per container, shared with awsDeps, refreshed every minute.
 */
export async function deploymentConfig(
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DeploymentConfig> {
  source ??= configSourceFromEnv(logger, env);
  return source.current();
}

/** Each endpoint of a config's clusters (nodes, Sentinels, proxies' frontends and Runtime APIs) to its cluster. */
function clustersByEndpoint(config: DeploymentConfig): Map<string, DeployedCluster> {
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
  return byEndpoint;
}

/**
 * Passwords, CA and client certificates (Runtime API; Redis and Sentinel over TLS) of every cluster, read by
 * reference when first needed (and cached briefly by the secret source); whether a node or Sentinel speaks TLS,
 * from its cluster's `tls`. A connection to an address no cluster has is refused.
 * `config` may be a function: the config in use now, which a warm container refreshes (S3ConfigSource).
 */
export function clusterAccess(
  config: DeploymentConfig | (() => DeploymentConfig),
  secrets: SecretSource,
): RedisAccess & { runtimeApiTls(proxy: ProxyConfig): Promise<RuntimeApiTls> } {
  const configOf = typeof config === 'function' ? config : () => config;
  let indexed: { config: DeploymentConfig; byEndpoint: Map<string, DeployedCluster> } | undefined;
  const clusterOf = (e: Endpoint): DeployedCluster => {
    const now = configOf();
    if (indexed?.config !== now) indexed = { config: now, byEndpoint: clustersByEndpoint(now) };
    const cluster = indexed.byEndpoint.get(formatEndpoint(e));
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

/** What a container keeps across config changes: the AWS clients and the connection pool. */
interface AwsContainer {
  /** The core's ports for a config (only the state store's history retention depends on it). */
  build(config: DeploymentConfig): AwsDeps;
}

let container: AwsContainer | undefined;
let current: AwsDeps | undefined;

/**
 * The AWS composition root: the clients and the connection pool are built once per Lambda container; the
 * deployment config is read from S3 at the first use and refreshed every minute (a new cluster needs no Lambda
 * deploy). The same AwsDeps object comes back while the config is unchanged, so derived roots can cache on it.
 */
export async function awsDeps(logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<AwsDeps> {
  container ??= awsContainer(logger, env);
  const config = await deploymentConfig(logger, env);
  if (current?.config !== config) current = container.build(config);
  return current;
}

function awsContainer(logger: Logger, env: NodeJS.ProcessEnv): AwsContainer {
  const table = requireEnv(LAMBDA_ENV.stateTable, env);
  const topic = requireEnv(LAMBDA_ENV.notifyTopicArn, env);
  const documentPrefix = requireEnv(LAMBDA_ENV.documentPrefix, env);
  const secrets = new AwsSecrets({ ssm: new SSMClient({}), secretsManager: new SecretsManagerClient({}) });
  let inUse: DeploymentConfig | undefined;
  const access = clusterAccess(() => {
    if (!inUse) throw new ConfigurationError('the deployment config has not been read yet');
    return inUse;
  }, secrets);
  const connections = new RedisConnections(access);
  const dynamo = new DynamoDBClient({});
  // On the failover path (the DNS record and the routing persists are queued): bounded, so that a queue out of
  // reach fails the step in seconds instead of holding the reaction until the Lambda's timeout.
  const sqs = new SQSClient({
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 },
  });
  const ports: Omit<CorePorts, 'state'> = {
    sentinels: new IoredisSentinelView(connections),
    redis: new IoredisNodes(connections),
    router: new HaproxyRouter(1000, access.runtimeApiTls),
    // The reactions queue the record; the zone's one writer (dns-writer) writes it (README, "Running many clusters").
    dns: new QueuedDns({
      client: sqs,
      queueUrl: requireEnv(LAMBDA_ENV.dnsQueueUrl, env),
      reader: new Route53Dns({ client: new Route53Client({}), clock: systemClock }),
      clock: systemClock,
    }),
    // Persisting a proxy's routing is queued per host (routing-persist), off the failover path; the rest runs here.
    nodeOps: new QueuedRoutingNodeOps({
      client: sqs,
      queueUrl: requireEnv(LAMBDA_ENV.routingQueueUrl, env),
      direct: new SsmNodeOps({
        client: new SSMClient({}),
        documentName: (document) => `${documentPrefix}-${document}`,
        clock: systemClock,
        // The maintenance step waits for a restart or an upgrade; the failover path keeps the short default.
        ...(env[LAMBDA_ENV.nodeOpsDeadlineMs]
          ? { deadlineMs: positiveMs(env, LAMBDA_ENV.nodeOpsDeadlineMs) }
          : {}),
      }),
      clock: systemClock,
    }),
    notifier: new SnsNotifier(new SNSClient({}), topic),
    clock: systemClock,
    logger,
    newId: randomUUID,
  };
  return {
    build: (config) => {
      inUse = config;
      return {
        config,
        clusters: new ClusterRegistry(config.clusters),
        failover: {
          ...ports,
          state: new DynamoStateStore(dynamo, table, { historyRetentionDays: config.history.retentionDays }),
        },
      };
    },
  };
}
