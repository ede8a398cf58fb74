import { ConfigurationError } from '../core/model/errors.ts';

/**
 * The Lambda environment: the variables the stack (infra/stack.ts) sets and the AWS composition roots (compose/)
 * read. One list, so a renamed variable cannot leave one side behind.
 */
export const LAMBDA_ENV = {
  /** The deployment config's S3 object (the stack deploys it there; the Lambdas read it and refresh it). */
  configBucket: 'HA_REDIS_CONFIG_BUCKET',
  configKey: 'HA_REDIS_CONFIG_KEY',
  stateTable: 'HA_REDIS_STATE_TABLE',
  notifyTopicArn: 'HA_REDIS_NOTIFY_TOPIC_ARN',
  documentPrefix: 'HA_REDIS_SSM_DOCUMENT_PREFIX',
  /** The FIFO queue of master-record writes: one message group (one writer) per hosted zone. */
  dnsQueueUrl: 'HA_REDIS_DNS_QUEUE_URL',
  /** The FIFO queue of routing persists (update-haproxy): one message group per proxy host. */
  routingQueueUrl: 'HA_REDIS_ROUTING_QUEUE_URL',
  switchoverStateMachineArn: 'HA_REDIS_SWITCHOVER_STATE_MACHINE_ARN',
  maintenanceStateMachineArn: 'HA_REDIS_MAINTENANCE_STATE_MACHINE_ARN',
  /** The Slack worker function's name: the Slack front function hands it what needs the clusters. */
  slackWorkerFunction: 'HA_REDIS_SLACK_WORKER_FUNCTION',
  /** Optional: how long a node operation may run before it counts as failed (the step Lambdas set it). */
  nodeOpsDeadlineMs: 'HA_REDIS_NODE_OPS_DEADLINE_MS',
} as const;

/** A required environment variable, or a failure that names it. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (!value) throw new ConfigurationError(`environment variable ${name} is not set; the stack must set it`);
  return value;
}
