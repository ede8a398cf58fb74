import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoStateStore } from '../adapters/aws/dynamodb-state-store.ts';
import { SnsNotifier } from '../adapters/aws/sns-notifier.ts';
import { HaproxyRouter } from '../adapters/haproxy/runtime-api.ts';
import { RedisConnections } from '../adapters/redis/connections.ts';
import { IoredisNodes } from '../adapters/redis/redis-nodes.ts';
import { IoredisSentinelView } from '../adapters/redis/sentinel-view.ts';
import { ClusterRegistry, ClusterSchema } from '../functions/core/cluster.ts';
import { ConfigurationError, NodeOpsError } from '../functions/core/errors.ts';
import type { Dns, Logger, NodeOps } from '../functions/core/ports.ts';
import type { SentinelEventDeps } from '../functions/sentinel-event/handler.ts';
import { systemClock } from './clock.ts';

/** A required environment variable, or a failure that names it. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (!value) throw new ConfigurationError(`environment variable ${name} is not set; the stack must set it`);
  return value;
}

/** Clusters from HA_REDIS_CLUSTERS (JSON array of cluster configs), validated with field names in errors. */
export function clustersFromEnv(env: NodeJS.ProcessEnv = process.env): ClusterRegistry {
  let json: unknown;
  try {
    json = JSON.parse(requireEnv('HA_REDIS_CLUSTERS', env));
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    throw new ConfigurationError('HA_REDIS_CLUSTERS is not valid JSON');
  }
  const parsed = ClusterSchema.array().min(1).safeParse(json);
  if (!parsed.success) {
    throw new ConfigurationError(
      `HA_REDIS_CLUSTERS is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return new ClusterRegistry(parsed.data);
}

/** Not in this build yet: the SSM NodeOps and the Route53 Dns come with the AWS deployment (CDK) work. */
const unavailable = (what: string): NodeOps & Dns => ({
  run: async () => {
    throw new NodeOpsError(`${what} is not available in the AWS composition yet`);
  },
  upsertMaster: async () => {
    throw new ConfigurationError(`${what} is not available in the AWS composition yet`);
  },
});

let cached: SentinelEventDeps | undefined;

/** The AWS composition root, built once per Lambda container from the environment. */
export function sentinelEventDeps(logger: Logger, env: NodeJS.ProcessEnv = process.env): SentinelEventDeps {
  if (cached) return cached;
  const clusters = clustersFromEnv(env);
  const table = requireEnv('HA_REDIS_STATE_TABLE', env);
  const topic = requireEnv('HA_REDIS_NOTIFY_TOPIC_ARN', env);
  // Secrets are resolved by name at run time (SSM / Secrets Manager) by the AWS deployment; none is inlined.
  const password = async () => env.HA_REDIS_REDIS_PASSWORD;
  const connections = new RedisConnections({ redisPassword: password, sentinelPassword: password });
  const missing = unavailable('SSM NodeOps / Route53');
  cached = {
    clusters,
    failover: {
      sentinels: new IoredisSentinelView(connections),
      redis: new IoredisNodes(connections),
      router: new HaproxyRouter(),
      dns: missing,
      nodeOps: missing,
      state: new DynamoStateStore(new DynamoDBClient({}), table),
      notifier: new SnsNotifier(new SNSClient({}), topic),
      clock: systemClock,
      logger,
      newId: randomUUID,
    },
  };
  return cached;
}
