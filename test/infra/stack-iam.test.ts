import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as cdk from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  agentPasswordParameter,
  bridgePasswordParameter,
  CLUSTER_TAG_KEY,
  type HaRedisStack,
  hostTlsParameters,
} from '../../infra/stack.ts';
import {
  actionsOf,
  config,
  EXAMPLE,
  type Statement,
  SYNTH_TIMEOUT_MS,
  statementsOf,
  synthesize,
  unusedAcknowledgements,
} from './stack-fixture.ts';

/** Least privilege: every grant of the stack, the reviewed cdk-nag findings, and the app's config validation. */

let stack: HaRedisStack;
let template: Template;

beforeAll(() => {
  // Permissions do not depend on the Lambda bundles (stack-bundles.test.ts builds and loads those).
  ({ stack, template } = synthesize({ bundle: false }));
}, SYNTH_TIMEOUT_MS);

const statements = () => statementsOf(template);

describe('HaRedisStack IAM', () => {
  it('sends only our SSM documents, and only to instances tagged with a configured cluster', () => {
    const send = statements().filter((s) => actionsOf(s).includes('ssm:SendCommand'));
    const resources = send.flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
    expect(JSON.stringify(resources)).not.toContain('"*"');
    const documents = send.find((s) => s.Sid === 'SendOurDocuments');
    expect(JSON.stringify(documents?.Resource)).toContain(`:document/${config.name}-update-haproxy`);
    expect(JSON.stringify(documents?.Resource)).toContain(`:document/${config.name}-fence-node`);
    const instances = send.find((s) => s.Sid === 'SendToClusterInstances');
    expect(instances?.Condition).toEqual({
      StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG_KEY}`]: ['orders', 'sessions'] },
    });
    expect(JSON.stringify(instances?.Resource)).toMatch(/:instance\/\*/);
  });

  it('may read and cancel the commands it sent (SsmNodeOps cancels one whose tag matched several instances)', () => {
    const read = statements().find((s) => s.Sid === 'ReadCommandResults');
    expect(actionsOf(read ?? { Action: [] })).toEqual(
      expect.arrayContaining(['ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:CancelCommand']),
    );
  });

  it('changes Route53 only in the configured zone, only the master records, only by UPSERT of A and TXT', () => {
    const change = statements().find((s) => actionsOf(s).includes('route53:ChangeResourceRecordSets'));
    expect(change?.Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':route53:::hostedzone/Z0123456789ABCDEFGHIJ']],
    });
    expect(change?.Condition).toEqual({
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': [
          'orders-master.redis.internal.example.com',
          'sessions-master.redis.internal.example.com',
        ],
        'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'TXT'],
        'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
      },
    });
  });

  it('starts executions only of the switchover and maintenance state machines', () => {
    const start = statements().filter((s) => actionsOf(s).includes('states:StartExecution'));
    expect(start.length).toBeGreaterThanOrEqual(3);
    for (const s of start) {
      const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      for (const r of resources) {
        expect(r).toEqual({ Ref: expect.stringMatching(/^(Switchover|Maintenance)[0-9A-F]{8}$/) });
      }
    }
  });

  it('touches DynamoDB only on the state table', () => {
    const dynamo = statements().filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo.length).toBeGreaterThanOrEqual(2);
    for (const s of dynamo) {
      const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      for (const r of resources) expect(JSON.stringify(r)).toMatch(/"State[0-9A-F]{8}"/);
    }
  });

  it('lets every function read the deployment config object, and nothing else of its bucket', () => {
    const reads = statements().filter((s) => s.Sid === 'ReadDeploymentConfig');
    expect(reads).toHaveLength(stack.functions().length);
    for (const s of reads) {
      expect(actionsOf(s)).toEqual(['s3:GetObject']);
      expect(JSON.stringify(s.Resource)).toMatch(/ConfigBucket[0-9A-F]{8}.*\/deployment-config\.json/);
    }
    const s3 = statements().filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
    const onConfigBucket = s3.filter((s) => JSON.stringify(s.Resource).includes('ConfigBucket'));
    // Besides the functions' reads: CDK's BucketDeployment handler, which writes the object.
    expect(onConfigBucket.filter((s) => s.Sid !== 'ReadDeploymentConfig')).toHaveLength(1);
    // And the bucket refuses every write but the deployment's.
    const bucketPolicy = Object.values(template.findResources('AWS::S3::BucketPolicy')).find((p) =>
      JSON.stringify(p).includes('OnlyTheDeploymentWritesTheConfig'),
    ) as { Properties: { PolicyDocument: { Statement: Statement[] } } } | undefined;
    const deny = bucketPolicy?.Properties.PolicyDocument.Statement.find(
      (st) => st.Sid === 'OnlyTheDeploymentWritesTheConfig',
    ) as (Statement & { Effect: string }) | undefined;
    expect(deny?.Effect).toBe('Deny');
    expect(actionsOf(deny ?? { Action: [] })).toContain('s3:PutObject');
    expect(JSON.stringify(deny?.Condition)).toMatch(
      /ArnNotEquals.*aws:PrincipalArn.*CustomCDKBucketDeployment/,
    );
  });

  it('reads exactly the secrets the config names', () => {
    const ssm = statements().find((s) => s.Sid === 'ReadSecretParameters');
    const sm = statements().find((s) => s.Sid === 'ReadSecrets');
    expect(actionsOf(ssm ?? { Action: [] })).toEqual(['ssm:GetParameter']);
    expect(JSON.stringify(ssm?.Resource)).toContain(':parameter/ha-redis/orders/redis-password');
    expect(JSON.stringify(ssm?.Resource)).toContain(':parameter/ha-redis/orders/tls-ca');
    expect(JSON.stringify(sm?.Resource)).toContain(':secret:ha-redis/sessions/redis-??????');
    expect(JSON.stringify(sm?.Resource)).toContain(':secret:ha-redis/orders/haproxy-api-client-??????');
    expect(JSON.stringify(sm?.Resource)).toContain(':secret:ha-redis/orders/redis-client-??????');
  });

  it('lets Sentinel hosts fetch the bridge bundle, read their Sentinel password, publish and send heartbeats to the bridges’ namespace, nothing more', () => {
    const [policy] = Object.values(
      template.findResources('AWS::IAM::ManagedPolicy', {
        Properties: { Description: Match.stringLikeRegexp('instance role of Sentinel hosts') },
      }),
    ) as {
      Properties: {
        PolicyDocument: {
          Statement: { Action: string | string[]; Resource: unknown; Condition?: unknown }[];
        };
      };
    }[];
    const byAction = Object.fromEntries(
      (policy?.Properties.PolicyDocument.Statement ?? []).map((s) => [
        actionsOf(s).join(','),
        JSON.stringify(s.Resource),
      ]),
    );
    expect(Object.keys(byAction).sort()).toEqual([
      'cloudwatch:PutMetricData',
      'kms:GenerateDataKey*,kms:Decrypt',
      's3:GetObject',
      'secretsmanager:GetSecretValue',
      'sns:Publish',
      'ssm:GetParameter',
    ]);
    expect(byAction['sns:Publish']).toMatch(/"Ref":"SentinelEvents/);
    // PutMetricData has no resources: the namespace condition is the whole limit.
    expect(
      policy?.Properties.PolicyDocument.Statement.filter((s) =>
        actionsOf(s).includes('cloudwatch:PutMetricData'),
      ),
    ).toEqual([
      {
        Effect: 'Allow',
        Action: 'cloudwatch:PutMetricData',
        Resource: '*',
        Condition: { StringEquals: { 'cloudwatch:namespace': 'HaRedis/Bridge' } },
      },
    ]);
    expect(byAction['s3:GetObject']).toMatch(/\.mjs"/);
    expect(byAction['ssm:GetParameter']).toContain(':parameter/ha-redis/orders/sentinel-password');
    expect(byAction['ssm:GetParameter']).toContain(
      ':parameter/aws/reference/secretsmanager/ha-redis/sessions/sentinel-password',
    );
    expect(byAction['secretsmanager:GetSecretValue']).toContain(
      ':secret:ha-redis/sessions/sentinel-password-??????',
    );
  });

  it('lets Redis hosts fetch the agent bundle, read the Redis passwords and their TLS material, and publish, nothing more', () => {
    // Arrange
    const found = Object.entries(
      template.findResources('AWS::IAM::ManagedPolicy', {
        Properties: { Description: Match.stringLikeRegexp('instance role of Redis hosts') },
      }),
    ) as [
      string,
      { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } },
    ][];
    const [id, policy] = found[0] ?? [];
    const byAction = Object.fromEntries(
      (policy?.Properties.PolicyDocument.Statement ?? []).map((s) => [actionsOf(s).join(','), s.Resource]),
    );
    const keyArn = { 'Fn::GetAtt': [expect.stringMatching(/^Key[0-9A-F]{8}$/), 'Arn'] };
    const arn = (service: string, resource: string) => ({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:${service}:eu-west-1:123456789012:${resource}`]],
    });

    // Assert: one policy of its own (not the bridge's), with exactly these grants. The example's sessions
    // cluster keeps its Redis password under a JSON key, which the agent cannot read: no grant for it. Its
    // orders cluster reaches its nodes over TLS (tls.nodes): the CA (SSM) and the client certificate (Secrets
    // Manager, read through SSM's reference path), which install-agent's TLS parameters name.
    expect(found).toHaveLength(1);
    expect(id).toMatch(/^AgentPublisherPolicy[0-9A-F]{8}$/);
    expect(Object.keys(byAction).sort()).toEqual([
      'kms:GenerateDataKey*,kms:Decrypt',
      's3:GetObject',
      'secretsmanager:GetSecretValue',
      'sns:Publish',
      'ssm:GetParameter',
    ]);
    expect(byAction['sns:Publish']).toEqual({ Ref: expect.stringMatching(/^SentinelEvents[0-9A-F]{8}$/) });
    expect(byAction['kms:GenerateDataKey*,kms:Decrypt']).toEqual(keyArn);
    expect(JSON.stringify(byAction['s3:GetObject'])).toMatch(/\/[0-9a-f]{64}\.mjs"\]\]\}$/);
    expect(byAction['ssm:GetParameter']).toEqual([
      arn('ssm', 'parameter/ha-redis/orders/redis-password'),
      arn('ssm', 'parameter/ha-redis/orders/tls-ca'),
      arn('ssm', 'parameter/aws/reference/secretsmanager/ha-redis/orders/redis-client'),
    ]);
    expect(byAction['secretsmanager:GetSecretValue']).toEqual(
      arn('secretsmanager', 'secret:ha-redis/orders/redis-client-??????'),
    );
    const orders = config.clusters.find((c) => c.name === 'orders');
    const tls = orders && hostTlsParameters(orders, 'nodes');
    expect(tls).toEqual({
      caParameter: '/ha-redis/orders/tls-ca',
      clientCertParameter: '/aws/reference/secretsmanager/ha-redis/orders/redis-client',
    });
  });

  it(
    'grants the agent a plain Secrets Manager Redis password through SSM, and warns of a JSON key',
    () => {
      // Arrange: the example with the sessions cluster's Redis password as a plain secret.
      const json = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
      delete json.clusters[1].secrets.redisPassword.jsonKey;
      const dir = mkdtempSync(join(tmpdir(), 'ha-redis-agent-policy-'));
      const file = join(dir, 'plain.json');
      writeFileSync(file, JSON.stringify(json));

      // Act
      const plain = synthesize({ bundle: false, configFile: file });

      // Assert
      const [policy] = Object.values(
        plain.template.findResources('AWS::IAM::ManagedPolicy', {
          Properties: { Description: Match.stringLikeRegexp('instance role of Redis hosts') },
        }),
      ) as {
        Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } };
      }[];
      const byAction = Object.fromEntries(
        (policy?.Properties.PolicyDocument.Statement ?? []).map((s) => [actionsOf(s).join(','), s.Resource]),
      );
      expect(JSON.stringify(byAction['ssm:GetParameter'])).toContain(
        ':parameter/aws/reference/secretsmanager/ha-redis/sessions/redis"',
      );
      expect(JSON.stringify(byAction['secretsmanager:GetSecretValue'])).toContain(
        ':secret:ha-redis/sessions/redis-??????',
      );
      Annotations.fromStack(plain.stack).hasNoWarning('*', Match.stringLikeRegexp('node agent'));
      Annotations.fromStack(stack).hasWarning(
        '*',
        Match.stringLikeRegexp('cluster sessions: the node agent cannot read its Redis password'),
      );
      rmSync(dir, { recursive: true, force: true });
    },
    SYNTH_TIMEOUT_MS,
  );

  it(
    'lets Sentinel hosts read the TLS material of clusters with tls.sentinels, and decrypt it with the secret keys through SSM or Secrets Manager',
    () => {
      // Arrange: the example with TLS-only Sentinels for orders, no Sentinel passwords at all (the TLS material
      // alone must bring the decrypt), and a customer-managed secret key; sessions' TLS material under a JSON key.
      const json = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
      const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
      json.secretKeyArns = [key];
      json.clusters[0].tls = { nodes: false, sentinels: true };
      json.clusters[1].tls = { sentinels: true };
      json.clusters[1].secrets.tlsCa = { secretsManager: 'ha-redis/sessions/tls', jsonKey: 'ca' };
      for (const c of json.clusters) delete c.secrets.sentinelPassword;
      const dir = mkdtempSync(join(tmpdir(), 'ha-redis-bridge-tls-'));
      const file = join(dir, 'tls-sentinels.json');
      writeFileSync(file, JSON.stringify(json));

      // Act
      const synthesized = synthesize({ bundle: false, configFile: file });

      // Assert
      const policyOf = (role: string) =>
        (
          Object.values(
            synthesized.template.findResources('AWS::IAM::ManagedPolicy', {
              Properties: { Description: Match.stringLikeRegexp(`instance role of ${role} hosts`) },
            }),
          ) as { Properties: { PolicyDocument: { Statement: Statement[] } } }[]
        )[0]?.Properties.PolicyDocument.Statement ?? [];
      const bridge = Object.fromEntries(policyOf('Sentinel').map((s) => [actionsOf(s).join(','), s]));
      expect(JSON.stringify(bridge['ssm:GetParameter']?.Resource)).toBe(
        JSON.stringify(
          [
            'parameter/ha-redis/orders/tls-ca',
            'parameter/aws/reference/secretsmanager/ha-redis/orders/redis-client',
          ].map((r) => ({
            'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ssm:eu-west-1:123456789012:${r}`]],
          })),
        ),
      );
      expect(JSON.stringify(bridge['secretsmanager:GetSecretValue']?.Resource)).toContain(
        ':secret:ha-redis/orders/redis-client-??????',
      );
      expect(JSON.stringify(bridge['secretsmanager:GetSecretValue']?.Resource)).not.toContain('sessions');
      expect(bridge['kms:Decrypt']).toEqual({
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: key,
        Condition: {
          StringEquals: {
            'kms:ViaService': ['ssm.eu-west-1.amazonaws.com', 'secretsmanager.eu-west-1.amazonaws.com'],
          },
        },
      });
      // orders' nodes are plain now: the agent reads no TLS material.
      const agent = JSON.stringify(policyOf('Redis'));
      expect(agent).not.toContain('tls-ca');
      expect(agent).not.toContain('redis-client');
      Annotations.fromStack(synthesized.stack).hasWarning(
        '*',
        Match.stringLikeRegexp(
          'cluster sessions: secrets.tlsCa ha-redis/sessions/tls is a JSON key \\(ca\\): the event bridge reads it through SSM',
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
    SYNTH_TIMEOUT_MS,
  );

  it('refuses a Redis password the agent cannot read through SSM (a JSON key)', () => {
    expect(agentPasswordParameter({ ssmParameter: '/a/b' })).toBe('/a/b');
    expect(agentPasswordParameter({ secretsManager: 'a/b' })).toBe('/aws/reference/secretsmanager/a/b');
    expect(() => agentPasswordParameter({ secretsManager: 'a/b', jsonKey: 'pw' })).toThrow(
      'the Redis password a/b is a JSON key (pw): the node agent reads it through SSM',
    );
  });

  it('lets no Lambda send the install documents, which run a bundle they are given as a service', () => {
    const documents = statements().filter((s) => s.Sid === 'SendOurDocuments');
    expect(documents.length).toBeGreaterThanOrEqual(2);
    const operations = ['update-haproxy', 'fence-node', 'release-node', 'maintenance-action'];
    for (const s of documents) {
      const text = JSON.stringify(s.Resource);
      expect(text).not.toContain('-install-');
      // Every node operation (the reactions, the workflows), or update-haproxy alone (routing-persist).
      const granted = operations.filter((name) => text.includes(`:document/${config.name}-${name}"`));
      expect([operations, ['update-haproxy']]).toContainEqual(granted);
    }
  });

  it('refuses a Sentinel password the bridge cannot read through SSM (a JSON key)', () => {
    expect(bridgePasswordParameter({ ssmParameter: '/a/b' })).toBe('/a/b');
    expect(bridgePasswordParameter({ secretsManager: 'a/b' })).toBe('/aws/reference/secretsmanager/a/b');
    expect(() => bridgePasswordParameter({ secretsManager: 'a/b', jsonKey: 'pw' })).toThrow(
      'the Sentinel password a/b is a JSON key (pw): the event bridge reads it through SSM',
    );
  });

  it('lets the Slack front start switchovers and invoke its worker, and the worker follow them', () => {
    const bySid = Object.fromEntries(
      statements()
        .filter((s) => s.Sid)
        .map((s) => [s.Sid, s]),
    );
    expect(bySid.StartSwitchovers?.Resource).toEqual({
      Ref: expect.stringMatching(/^Switchover[0-9A-F]{8}$/),
    });
    expect(JSON.stringify(bySid.FollowSwitchovers?.Resource)).toMatch(/:execution:/);
    expect(actionsOf(bySid.HandWorkToSlackWorker ?? { Action: [] })).toEqual(['lambda:InvokeFunction']);
    expect(bySid.HandWorkToSlackWorker?.Resource).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^SlackWorker[0-9A-F]{8}$/), 'Arn'],
    });
    const secrets = statements()
      .filter((s) => s.Sid === 'ReadSecrets')
      .map((s) => JSON.stringify(s.Resource));
    expect(secrets.some((r) => r.includes(':secret:ha-redis/slack-??????'))).toBe(true);
  });

  it('grants no action "*" anywhere', () => {
    for (const s of statements()) expect(actionsOf(s)).not.toContain('*');
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged finding, and every acknowledgement carries a reason', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
    const findings = report.violations.map(
      (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`,
    );
    expect(findings).toEqual([]);
    const acknowledgements = stack.node
      .findAll()
      .flatMap((c) =>
        c.node.metadata.filter((m) => m.type === cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY),
      )
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledgements) expect(reason.length, id).toBeGreaterThan(30);
  });

  it('acknowledges each finding on the construct that has it, and nothing no finding needs', () => {
    expect(unusedAcknowledgements(stack)).toEqual([]);
  });
});

describe('the CDK app', () => {
  it('fails synth with the invalid field named, and builds nothing', async () => {
    // Arrange
    const dir = await mkdtemp(join(tmpdir(), 'ha-redis-synth-'));
    const bad = JSON.parse(await readFile(EXAMPLE, 'utf8'));
    bad.clusters[0].dns.hostedZoneId = 'my-zone';
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify(bad));

    // Act
    const run = promisify(execFile)(process.execPath, ['infra/app.ts'], {
      env: { ...process.env, HA_REDIS_CONFIG: file, CDK_OUTDIR: join(dir, 'out') },
    });

    // Assert
    await expect(run).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('clusters[0].dns.hostedZoneId: a Route53 hosted zone id'),
    });
    await expect(readFile(join(dir, 'out', 'manifest.json'))).rejects.toThrow(/ENOENT/);
    await rm(dir, { recursive: true, force: true });
  });
});
