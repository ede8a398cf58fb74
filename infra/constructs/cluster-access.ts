import type * as cdk from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { DeploymentConfig, SecretRef } from '../../config/schema.ts';
import { ConfigurationError } from '../../core/model/errors.ts';
import type { SsmCommandDocuments } from '../ssm/documents.ts';
import { EXACT_GRANT_LIMIT, parameterArnsFor, secretArnsFor } from './arns.ts';

/** What a Lambda may do to the clusters, and nothing else: least-privilege grants, each scoped by the config. */

/**
 * The tag every Redis, Sentinel and HAProxy instance carries, with its cluster's name, or for the hosts of a
 * host set the set's name (an instance has one value per tag key, and serves every service of its set): SSM
 * commands are scoped to it.
 */
export const CLUSTER_TAG_KEY = 'ha-redis:cluster';

/** The values of CLUSTER_TAG_KEY that SSM commands may target: every cluster's name and every host set's. */
export function clusterTagValues(config: DeploymentConfig): string[] {
  const sets = config.clusters.flatMap((c) => (c.hostSet === undefined ? [] : [c.hostSet]));
  return [...new Set([...config.clusters.map((c) => c.name), ...sets])];
}

/** The resources the grants name. */
export interface ClusterAccessProps {
  config: DeploymentConfig;
  table: dynamodb.ITable;
  notificationsTopic: sns.ITopic;
  documents: SsmCommandDocuments;
  /** The master-record writes, to the zone's one writer (DnsWriter): the reactions send, only it writes. */
  dnsQueue: sqs.IQueue;
  /** The routing persists, to each proxy host's queue (RoutingPersist): the reactions send, it runs them. */
  routingQueue: sqs.IQueue;
}

/** Grants, on the Lambda's role, of the state table, the notification topic, the hosts, DNS and the secrets. */
export class ClusterAccess {
  /** The secrets of the clusters' components (passwords, CA, Runtime API client certificates). */
  readonly clusterSecrets: SecretRef[];

  private readonly stack: cdk.Stack;
  private readonly props: ClusterAccessProps;

  constructor(stack: cdk.Stack, props: ClusterAccessProps) {
    this.stack = stack;
    this.props = props;
    this.clusterSecrets = props.config.clusters.flatMap((c) =>
      Object.values(c.secrets).filter((r) => r !== undefined),
    );
  }

  /**
   * Everything a Lambda that acts on the clusters needs: state, notifications, SSM commands, secrets, and DNS:
   * read the records, and queue a write for the zone's writer (it alone changes them: grantDnsWrite).
   */
  grantClusterOperations(f: lambda.IFunction): void {
    this.props.table.grantReadWriteData(f);
    this.props.notificationsTopic.grantPublish(f);
    this.grantNodeOps(f);
    this.grantDnsRead(f);
    this.props.dnsQueue.grantSendMessages(f);
    this.props.routingQueue.grantSendMessages(f);
    this.grantSecrets(f, this.clusterSecrets);
  }

  /**
   * ssm:SendCommand on the stack's node-operation documents (not the installs, which run a bundle they are
   * given as a service), and on instances tagged with a cluster's or host set's name only.
   */
  private grantNodeOps(
    f: lambda.IFunction,
    documents: string[] = this.props.documents.operationDocumentArns(),
  ): void {
    const { partition, region, account } = this.stack;
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'SendOurDocuments',
        actions: ['ssm:SendCommand'],
        resources: documents,
      }),
    );
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'SendToClusterInstances',
        actions: ['ssm:SendCommand'],
        resources: [`arn:${partition}:ec2:${region}:${account}:instance/*`],
        conditions: instanceTagCondition(clusterTagValues(this.props.config)),
      }),
    );
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadCommandResults',
        // CancelCommand: SsmNodeOps cancels a tag-targeted command whose tag matched more than one instance.
        actions: ['ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:CancelCommand'],
        resources: ['*'],
      }),
    );
  }

  /** The routing-persist Lambda: update-haproxy on the clusters' instances, and its results; nothing else. */
  grantRoutingPersist(f: lambda.IFunction): void {
    this.grantNodeOps(f, [this.props.documents.arns['update-haproxy']]);
  }

  /** The configured zones' ARNs. */
  private zoneArns(): string[] {
    const zones = [...new Set(this.props.config.clusters.map((c) => c.dns.hostedZoneId))];
    return zones.map((z) => `arn:${this.stack.partition}:route53:::hostedzone/${z}`);
  }

  /** Route53: read the records of the configured zones (status compares them with the master). */
  private grantDnsRead(f: lambda.IFunction): void {
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadMasterRecords',
        actions: ['route53:ListResourceRecordSets'],
        resources: this.zoneArns(),
      }),
    );
  }

  /**
   * The zones' one writer: change only the configured records, in the configured zones, and read the clusters'
   * epoch claims (the state table), which tell it a stale record; it reads no record.
   */
  grantDnsWrite(f: lambda.IFunction): void {
    // GetItem only: the claim of each cluster (its partition's epoch item), nothing of the history.
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadEpochClaims',
        actions: ['dynamodb:GetItem'],
        resources: [this.props.table.tableArn],
      }),
    );
    if (this.props.table.encryptionKey) this.props.table.encryptionKey.grantDecrypt(f);
    const { clusters } = this.props.config;
    const names = [...new Set(clusters.map((c) => c.dns.recordName.toLowerCase().replace(/\.$/, '')))];
    f.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ChangeMasterRecords',
        actions: ['route53:ChangeResourceRecordSets'],
        resources: this.zoneArns(),
        conditions: recordConditions(names),
      }),
    );
  }

  /** Read exactly the secrets named (SSM SecureString parameters, Secrets Manager secrets). */
  grantSecrets(f: lambda.IFunction, refs: readonly SecretRef[]): void {
    const parameterArns = parameterArnsFor(
      this.stack,
      refs.flatMap((r) => ('ssmParameter' in r ? [r.ssmParameter] : [])),
    );
    const secretArns = secretArnsFor(
      this.stack,
      refs.flatMap((r) => ('secretsManager' in r ? [r.secretsManager] : [])),
    );
    if (parameterArns.length > 0) {
      f.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadSecretParameters',
          actions: ['ssm:GetParameter'],
          resources: [...new Set(parameterArns)],
        }),
      );
    }
    const keys = this.props.config.secretKeyArns;
    if (keys.length > 0 && (parameterArns.length > 0 || secretArns.length > 0)) {
      f.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'DecryptSecrets',
          actions: ['kms:Decrypt'],
          resources: [...keys],
          conditions: { StringEquals: { 'kms:ViaService': secretServices(this.stack) } },
        }),
      );
    }
    if (secretArns.length > 0) {
      f.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [...new Set(secretArns)],
        }),
      );
    }
  }
}

/**
 * Only UPSERTs of A and TXT records, of the master records' names: each name up to EXACT_GRANT_LIMIT records,
 * beyond (a policy must not grow with the clusters) names that end in the domain they all share.
 */
function recordConditions(names: readonly string[]): Record<string, Record<string, string[]>> {
  const what = {
    'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'TXT'],
    'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
  };
  if (names.length <= EXACT_GRANT_LIMIT) {
    return {
      'ForAllValues:StringEquals': {
        ...what,
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': [...names],
      },
    };
  }
  const labels = names.map((n) => n.split('.').reverse());
  const shared: string[] = [];
  for (const [i, label] of (labels[0] ?? []).entries()) {
    if (!labels.every((l) => l[i] === label && l.length > i + 1)) break;
    shared.push(label);
  }
  if (shared.length < 2) {
    throw new ConfigurationError(
      `the ${names.length} clusters' dns.recordName share no domain, so the Lambdas' Route53 grant cannot name them by it: put them in one domain, e.g. <cluster>-master.redis.example.com`,
    );
  }
  return {
    'ForAllValues:StringEquals': what,
    'ForAllValues:StringLike': {
      'route53:ChangeResourceRecordSetsNormalizedRecordNames': [`*.${shared.reverse().join('.')}`],
    },
  };
}

/** Instances tagged with one of the clusters (up to 50 values), or beyond, any instance that carries the tag key. */
function instanceTagCondition(values: readonly string[]): Record<string, Record<string, string | string[]>> {
  const key = `ssm:resourceTag/${CLUSTER_TAG_KEY}`;
  return values.length <= TAG_VALUES_LIMIT
    ? { StringEquals: { [key]: [...values] } }
    : { StringLike: { [key]: '?*' } };
}

/** Tag values named one by one in the SendCommand grant; beyond, the tag key must be there (any value). */
const TAG_VALUES_LIMIT = 50;

/** The services through which the secrets' keys may decrypt: SSM and Secrets Manager of the stack's region. */
export const secretServices = (stack: cdk.Stack): string[] => [
  `ssm.${stack.region}.amazonaws.com`,
  `secretsmanager.${stack.region}.amazonaws.com`,
];
