import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoStateStore } from '../adapters/aws/dynamodb-state-store.ts';
import { Route53Dns } from '../adapters/aws/route53-dns.ts';
import { AwsSecrets, type SecretSource } from '../adapters/aws/secrets.ts';
import { HaproxyRouter } from '../adapters/haproxy/runtime-api.ts';
import { DirectorySecrets } from '../adapters/host/directory-secrets.ts';
import { RedisConnections } from '../adapters/redis/connections.ts';
import { IoredisNodes } from '../adapters/redis/redis-nodes.ts';
import { IoredisSentinelView } from '../adapters/redis/sentinel-view.ts';
import { loadDeploymentConfig } from '../config/load.ts';
import type { DeploymentConfig } from '../config/schema.ts';
import { type ClusterConfig, ClusterRegistry } from '../core/model/cluster.ts';
import { ConfigurationError } from '../core/model/errors.ts';
import type { CorePorts, Dns, StateStore } from '../core/ports.ts';
import { clusterAccess } from './aws.ts';
import { systemClock } from './clock.ts';
import { localDynamoClient } from './local.ts';

/** How the CLI reaches a cluster described by the deployment config file. */
export interface RemoteOptions {
  configPath: string;
  /** Read secrets from files named like the references, instead of SSM / Secrets Manager. */
  secretsDir?: string;
  /** The state table (the stack output StateTableName); without it, history, lease and mode are not shown. */
  table?: string;
  /** A local DynamoDB-compatible endpoint (dynalite; placeholder credentials), instead of the region's. */
  dynamodbEndpoint?: string;
  /** Do not read the Route53 record. */
  skipDns?: boolean;
}

/** What `status` needs of a cluster: read-only ports. */
export interface ObservedCluster {
  cluster: ClusterConfig;
  /** The pooled connections behind `deps` (doctor asks CONFIG GET and INFO through them). */
  connections: RedisConnections;
  deps: Pick<CorePorts, 'redis' | 'sentinels' | 'router' | 'dns' | 'state' | 'clock'>;
  close(): Promise<void>;
}

/** Every call fails with the same message: a part the command was not given. */
function unavailable<T extends object>(message: string): T {
  return new Proxy({} as T, {
    get: () => async () => {
      throw new ConfigurationError(message);
    },
  });
}

/** The cluster named in the deployment config file (an unknown name lists the known ones), and the config. */
export function remoteCluster(
  configPath: string,
  clusterName: string,
): { config: DeploymentConfig; cluster: ClusterConfig } {
  const config = loadDeploymentConfig(configPath);
  return { config, cluster: new ClusterRegistry(config.clusters).get(clusterName) };
}

/** The state table when one is given: the region's DynamoDB, or a DynamoDB-compatible endpoint. */
export function remoteStateStore(
  options: Pick<RemoteOptions, 'table' | 'dynamodbEndpoint'>,
): { state: DynamoStateStore; close(): void } | undefined {
  if (!options.table) return undefined;
  const dynamo = options.dynamodbEndpoint
    ? localDynamoClient(options.dynamodbEndpoint)
    : new DynamoDBClient({});
  return { state: new DynamoStateStore(dynamo, options.table), close: () => dynamo.destroy() };
}

/**
 * The CLI's composition for a cluster of the deployment config: direct connections to its nodes, Sentinels
 * and HAProxy Runtime APIs (TLS and client certificate as configured), with its passwords, Route53 and the
 * state table when given. Everything here only reads.
 */
export function composeRemote(clusterName: string, options: RemoteOptions): ObservedCluster {
  const { config, cluster } = remoteCluster(options.configPath, clusterName);
  const secrets: SecretSource = options.secretsDir
    ? new DirectorySecrets(options.secretsDir)
    : new AwsSecrets({ ssm: new SSMClient({}), secretsManager: new SecretsManagerClient({}) });
  const access = clusterAccess(config, secrets);
  const connections = new RedisConnections(access);
  const table = remoteStateStore(options);
  const state: StateStore =
    table?.state ??
    unavailable<StateStore>('no state table given (--table, the stack output StateTableName)');
  const dns: Dns = options.skipDns
    ? unavailable<Dns>('DNS not read (--skip-dns)')
    : new Route53Dns({ client: new Route53Client({}), clock: systemClock });
  const router = new HaproxyRouter(1000, access.runtimeApiTls);
  return {
    cluster,
    connections,
    deps: {
      sentinels: new IoredisSentinelView(connections),
      redis: new IoredisNodes(connections),
      router,
      dns,
      state,
      clock: systemClock,
    },
    close: async () => {
      router.close();
      await connections.close();
      table?.close();
    },
  };
}
