import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cdk from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { DeployedCluster, DeploymentConfig, SecretRef } from '../../config/schema.ts';
import { ConfigurationError } from '../../core/model/errors.ts';
import { BRIDGE_METRICS } from '../../core/model/metrics.ts';
import { bundleAgentSync } from '../../events/agent/bundle.ts';
import { bundleBridgeSync } from '../../events/bridge/bundle.ts';
import { executionArnsOf, parameterArnsFor, secretArnsFor } from './arns.ts';
import { secretServices } from './cluster-access.ts';

/**
 * Policies for others to attach: Sentinel hosts publish events through the bridge, Redis hosts node events through
 * the node agent; operators start switchovers and maintenance runs. Created in the scope it is given (the stack),
 * so every logical id stays as deployed.
 */

/**
 * The SSM parameter name the bridge reads the Sentinel password from: a SecureString parameter, or a Secrets
 * Manager secret through SSM's `/aws/reference/secretsmanager/` path. A JSON key cannot be read that way.
 */
export function bridgePasswordParameter(ref: SecretRef): string {
  if ('ssmParameter' in ref) return ref.ssmParameter;
  if (ref.jsonKey) {
    throw new ConfigurationError(
      `the Sentinel password ${ref.secretsManager} is a JSON key (${ref.jsonKey}): the event bridge reads it through SSM, so give it a plain secret or an SSM parameter`,
    );
  }
  return `/aws/reference/secretsmanager/${ref.secretsManager}`;
}

/** The SSM parameter name of a secret a host service reads through SSM (its JSON key, if any, already refused). */
const viaSsm = (ref: SecretRef): string =>
  'ssmParameter' in ref ? ref.ssmParameter : `/aws/reference/secretsmanager/${ref.secretsManager}`;

/** Which side of a cluster a host service reaches over TLS: the bridge its Sentinel, the agent its nodes. */
type TlsSide = 'sentinels' | 'nodes';
const SERVICE_OF: Record<TlsSide, string> = { sentinels: 'event bridge', nodes: 'node agent' };

/**
 * The install document's TLS parameters for a cluster's bridge (`sentinels`) or node agent (`nodes`): the SSM
 * parameter names of `secrets.tlsCa` and `secrets.redisClientCert` when the cluster's `tls` turns that side on;
 * undefined for plain TCP. A JSON key cannot be read through SSM: refused, naming the secret.
 */
export function hostTlsParameters(
  cluster: Pick<DeployedCluster, 'name' | 'tls' | 'secrets'>,
  side: TlsSide,
): { caParameter: string; clientCertParameter?: string } | undefined {
  if (!cluster.tls?.[side]) return undefined;
  const { tlsCa, redisClientCert } = cluster.secrets;
  if (!tlsCa) {
    throw new ConfigurationError(
      `cluster ${cluster.name}: its ${side} are reached over TLS, so secrets.tlsCa must name the CA that signed their certificates`,
    );
  }
  for (const [field, ref] of [
    ['tlsCa', tlsCa],
    ['redisClientCert', redisClientCert],
  ] as const) {
    if (ref && 'jsonKey' in ref && ref.jsonKey) {
      throw new ConfigurationError(
        `cluster ${cluster.name}: secrets.${field} ${ref.secretsManager} is a JSON key (${ref.jsonKey}): the ${SERVICE_OF[side]} reads it through SSM, so give it a plain secret or an SSM parameter`,
      );
    }
  }
  return {
    caParameter: viaSsm(tlsCa),
    ...(redisClientCert ? { clientCertParameter: viaSsm(redisClientCert) } : {}),
  };
}

/**
 * The TLS material the hosts' service reads at start, for every cluster that turns TLS on for its side, as
 * secret references. A cluster whose material it cannot read (a JSON key) gets a synth warning instead of a
 * grant, as the agent's password does: the Lambdas read it; its hosts need a plain secret or parameter.
 */
function hostTlsSecrets(scope: Construct, config: DeploymentConfig, side: TlsSide): SecretRef[] {
  const refs: SecretRef[] = [];
  for (const cluster of config.clusters) {
    try {
      if (!hostTlsParameters(cluster, side)) continue;
    } catch (error) {
      cdk.Annotations.of(scope).addWarningV2(
        `ha-redis:${side === 'sentinels' ? 'bridge' : 'agent'}-tls-material:${cluster.name}`,
        `${(error as Error).message}; install-${side === 'sentinels' ? 'bridge' : 'agent'} on its hosts cannot fetch it`,
      );
      continue;
    }
    const { tlsCa, redisClientCert } = cluster.secrets;
    for (const ref of [tlsCa, redisClientCert]) if (ref) refs.push(ref);
  }
  return refs;
}

/** The event bridge for the Sentinel hosts (one bundled file, installed by the install-bridge document) and its policy. */
export function eventBridgePublisher(
  scope: Construct,
  props: { config: DeploymentConfig; topic: sns.ITopic; key: kms.IKey },
): { bundle: s3assets.Asset; policy: iam.ManagedPolicy } {
  const { config, topic, key } = props;
  const stack = cdk.Stack.of(scope);
  const bundle = new s3assets.Asset(scope, 'BridgeBundle', {
    path: bundleBridgeSync(join(mkdtempSync(join(tmpdir(), 'ha-redis-bridge-')), 'bridge.mjs')).outfile,
  });
  const sentinelPasswords = config.clusters.flatMap((c) =>
    c.secrets.sentinelPassword ? [c.secrets.sentinelPassword] : [],
  );
  // With tls.sentinels, the CA and client certificate too, fetched at start as the password is.
  const tlsMaterial = hostTlsSecrets(scope, config, 'sentinels');
  const parameterNames = [...sentinelPasswords.map(bridgePasswordParameter), ...tlsMaterial.map(viaSsm)];
  const read = [...sentinelPasswords, ...tlsMaterial];
  const bridgeSecretArns = secretArnsFor(
    stack,
    read.flatMap((r) => ('secretsManager' in r ? [r.secretsManager] : [])),
  );
  // The description stays as deployed: changing it replaces the policy, which the hosts' roles have attached.
  const policy = new iam.ManagedPolicy(scope, 'BridgePublisherPolicy', {
    description: `${config.name}: attach to the instance role of Sentinel hosts: fetch the bridge, read the Sentinel password, publish events and heartbeats`,
    statements: [
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }),
      new iam.PolicyStatement({ actions: ['kms:GenerateDataKey*', 'kms:Decrypt'], resources: [key.keyArn] }),
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [bundle.bucket.arnForObjects(bundle.s3ObjectKey)],
      }),
      // The heartbeat. PutMetricData has no resources; the condition keeps the hosts to the bridges' namespace.
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': BRIDGE_METRICS.namespace } },
      }),
      ...decryptSecrets(stack, config, read.length),
      ...(parameterNames.length > 0
        ? [
            new iam.PolicyStatement({
              actions: ['ssm:GetParameter'],
              resources: parameterArnsFor(stack, parameterNames),
            }),
          ]
        : []),
      ...(bridgeSecretArns.length > 0
        ? [
            new iam.PolicyStatement({
              actions: ['secretsmanager:GetSecretValue'],
              resources: bridgeSecretArns,
            }),
          ]
        : []),
    ],
  });
  return { bundle, policy };
}

/**
 * The SSM parameter name the node agent reads its nodes' Redis password from, as bridgePasswordParameter does for
 * the Sentinel password: a SecureString parameter, or a plain Secrets Manager secret through SSM's
 * `/aws/reference/secretsmanager/` path. A JSON key cannot be read that way.
 */
export function agentPasswordParameter(ref: SecretRef): string {
  if ('ssmParameter' in ref) return ref.ssmParameter;
  if (ref.jsonKey) {
    throw new ConfigurationError(
      `the Redis password ${ref.secretsManager} is a JSON key (${ref.jsonKey}): the node agent reads it through SSM, so give it a plain secret or an SSM parameter`,
    );
  }
  return `/aws/reference/secretsmanager/${ref.secretsManager}`;
}

/**
 * The node agent for the Redis hosts (one bundled file, installed by the install-agent document) and its policy,
 * apart from the bridge's: the Redis hosts may publish to the Sentinel events topic and read the Redis passwords
 * the agent needs, and nothing else. A cluster whose Redis password is a JSON key gets a synth warning instead of
 * a grant (the Lambdas read it; the agent cannot): its hosts need a plain secret or parameter for the agent.
 */
export function nodeAgentPublisher(
  scope: Construct,
  props: { config: DeploymentConfig; topic: sns.ITopic; key: kms.IKey },
): { bundle: s3assets.Asset; policy: iam.ManagedPolicy } {
  const { config, topic, key } = props;
  const stack = cdk.Stack.of(scope);
  const bundle = new s3assets.Asset(scope, 'AgentBundle', {
    path: bundleAgentSync(join(mkdtempSync(join(tmpdir(), 'ha-redis-agent-')), 'agent.mjs')).outfile,
  });
  const readable: SecretRef[] = [];
  for (const cluster of config.clusters) {
    const ref = cluster.secrets.redisPassword;
    if (ref && 'jsonKey' in ref && ref.jsonKey) {
      cdk.Annotations.of(scope).addWarningV2(
        `ha-redis:agent-password-json-key:${cluster.name}`,
        `cluster ${cluster.name}: the node agent cannot read its Redis password (${ref.secretsManager}, JSON key ${ref.jsonKey}) through SSM; install-agent on its hosts needs a plain secret or an SSM parameter`,
      );
    } else if (ref) readable.push(ref);
  }
  // With tls.nodes, the CA and client certificate too, fetched at start as the password is.
  const tlsMaterial = hostTlsSecrets(scope, config, 'nodes');
  readable.push(...tlsMaterial);
  const parameterArns = parameterArnsFor(stack, readable.map(agentPasswordParameter));
  const secretArns = secretArnsFor(
    stack,
    readable.flatMap((r) => ('secretsManager' in r ? [r.secretsManager] : [])),
  );
  const policy = new iam.ManagedPolicy(scope, 'AgentPublisherPolicy', {
    description: `${config.name}: attach to the instance role of Redis hosts: fetch the node agent, read the Redis password, publish node events`,
    statements: [
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }),
      new iam.PolicyStatement({ actions: ['kms:GenerateDataKey*', 'kms:Decrypt'], resources: [key.keyArn] }),
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [bundle.bucket.arnForObjects(bundle.s3ObjectKey)],
      }),
      ...decryptSecrets(stack, config, readable.length),
      ...(parameterArns.length > 0
        ? [new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: parameterArns })]
        : []),
      ...(secretArns.length > 0
        ? [new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: secretArns })]
        : []),
    ],
  });
  return { bundle, policy };
}

/** The operators' policy: start and watch planned switchovers and maintenance runs. */
export function operatorPolicy(
  scope: Construct,
  props: { config: DeploymentConfig; switchover: sfn.StateMachine; maintenance: sfn.StateMachine },
): iam.ManagedPolicy {
  const { config, switchover, maintenance } = props;
  const stack = cdk.Stack.of(scope);
  return new iam.ManagedPolicy(scope, 'OperatorPolicy', {
    description: `${config.name}: start and watch planned switchovers and maintenance runs`,
    statements: [
      new iam.PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [switchover.stateMachineArn, maintenance.stateMachineArn],
      }),
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:StopExecution'],
        resources: [executionArnsOf(stack, switchover), executionArnsOf(stack, maintenance)],
      }),
    ],
  });
}

/** kms:Decrypt with the secrets' customer-managed keys, through SSM or Secrets Manager only, when any is read. */
function decryptSecrets(
  stack: cdk.Stack,
  config: DeploymentConfig,
  secretsRead: number,
): iam.PolicyStatement[] {
  if (secretsRead === 0 || config.secretKeyArns.length === 0) return [];
  return [
    new iam.PolicyStatement({
      actions: ['kms:Decrypt'],
      resources: [...config.secretKeyArns],
      conditions: { StringEquals: { 'kms:ViaService': secretServices(stack) } },
    }),
  ];
}
