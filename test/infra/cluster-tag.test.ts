import { readFileSync } from 'node:fs';
import * as cdk from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDeploymentConfig, parseDeploymentConfig } from '../../config/load.ts';
import type { DeploymentConfig } from '../../config/schema.ts';
import { CLUSTER_TAG_KEY, ClusterAccess, clusterTagValues } from '../../infra/constructs/cluster-access.ts';
import { SsmCommandDocuments } from '../../infra/ssm/documents.ts';
import { type Statement, SYNTH_TIMEOUT_MS, statementsOf, config as twoClusters } from './stack-fixture.ts';

/** The ha-redis:cluster tag: a cluster's name, or for the hosts of a host set (one tag value each) the set's. */

const HOST_SET_EXAMPLE = 'config/example-host-set.json';
const SERVICES = [
  'carts',
  'payments',
  'catalog',
  'inventory',
  'search',
  'rate-limits',
  'feature-flags',
  'queues',
];

/** The SendToClusterInstances statement ClusterAccess grants a Lambda, for a config. */
function sendToInstances(config: DeploymentConfig): Statement | undefined {
  const stack = new cdk.Stack(new cdk.App(), 'Access', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  const access = new ClusterAccess(stack, {
    config,
    table: new dynamodb.TableV2(stack, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    }),
    notificationsTopic: new sns.Topic(stack, 'Topic'),
    documents: new SsmCommandDocuments(stack, 'Documents', { prefix: 'ha-redis' }),
    dnsQueue: new sqs.Queue(stack, 'DnsWrites', { fifo: true }),
    routingQueue: new sqs.Queue(stack, 'RoutingPersists', { fifo: true }),
  });
  const fn = new lambda.Function(stack, 'Fn', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('export const handler = async () => {};'),
  });
  access.grantClusterOperations(fn);
  return statementsOf(Template.fromStack(stack)).find((s) => s.Sid === 'SendToClusterInstances');
}

describe('the ha-redis:cluster tag values SSM commands may target', () => {
  const config = loadDeploymentConfig(HOST_SET_EXAMPLE);
  let hostSetStatement: Statement | undefined;
  let twoClustersStatement: Statement | undefined;
  beforeAll(() => {
    // The first CDK synth of a worker loads aws-cdk-lib, which takes a while on a busy machine.
    hostSetStatement = sendToInstances(config);
    twoClustersStatement = sendToInstances(twoClusters);
  }, SYNTH_TIMEOUT_MS);

  it("accepts the host set's name besides its services' names", () => {
    // Arrange: synthesized once, above
    const statement = hostSetStatement;

    // Assert
    expect(config.clusters.map((c) => c.hostSet)).toEqual(SERVICES.map(() => 'core'));
    expect(clusterTagValues(config)).toEqual([...SERVICES, 'core']);
    expect(statement?.Condition).toEqual({
      StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG_KEY}`]: [...SERVICES, 'core'] },
    });
  });

  it('accepts only the cluster names of clusters given one by one', () => {
    // Arrange: synthesized once, above
    const statement = twoClustersStatement;

    // Assert
    expect(twoClusters.clusters.map((c) => c.hostSet)).toEqual([undefined, undefined]);
    expect(statement?.Condition).toEqual({
      StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG_KEY}`]: ['orders', 'sessions'] },
    });
  });

  it('lists each set once, after every cluster, when clusters and host sets share a file', () => {
    // Arrange: the two clusters and the host set in one file, the set also under a second name.
    const file = JSON.parse(readFileSync('config/example.json', 'utf8'));
    const set = JSON.parse(readFileSync(HOST_SET_EXAMPLE, 'utf8')).hostSets[0];
    const second = JSON.parse(JSON.stringify(set).replaceAll('"10.0.', '"10.9.'));
    second.name = 'edge';
    second.services = second.services
      .slice(0, 1)
      .map((s: { name: string }) => ({ ...s, name: 'edge-carts' }));
    file.hostSets = [set, second];

    // Act
    const values = clusterTagValues(parseDeploymentConfig(file, 'mixed.json'));

    // Assert
    expect(values).toEqual(['orders', 'sessions', ...SERVICES, 'edge-carts', 'core', 'edge']);
  });
});
