// biome-ignore-all lint/suspicious/noExplicitAny: CloudFormation properties are untyped JSON
/**
 * The stack at fleet scale: a generated config of 500 clusters on 1500 hosts (each cluster: 3 Redis hosts, each
 * also running a Sentinel, and 2 HAProxy hosts... of which 1500 distinct Redis hosts) synthesizes, passes
 * cdk-nag, and stays inside the limits a deploy would meet: CloudFormation's template size and description,
 * IAM's policy sizes, the security group rule quota.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { reconcileShardCount } from '../../core/failover/reconcile-shards.ts';
import { NOTIFY_RESERVED_CONCURRENCY } from '../../infra/constructs/concurrency.ts';
import { EGRESS_RULE_QUOTA } from '../../infra/constructs/network.ts';
import type { HaRedisStack } from '../../infra/stack.ts';
import {
  EXAMPLE,
  reconcileSchedules,
  reservations,
  SYNTH_TIMEOUT_MS,
  statementsOf,
  synthesize,
  unusedAcknowledgements,
} from './stack-fixture.ts';

const CLUSTERS = 500;

/** The example's first cluster, 500 times: its own hosts (3 Redis + Sentinel, 2 HAProxy), secrets and record. */
function fleetConfig(): string {
  const example = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
  const [base] = example.clusters;
  const ip = (i: number, az: number, last: number) =>
    `10.${az * 10 + Math.floor(i / 250)}.${i % 250}.${last}`;
  const clusters = Array.from({ length: CLUSTERS }, (_, i) => {
    const name = `svc${String(i).padStart(3, '0')}`;
    const text = JSON.stringify(base)
      .replaceAll('/ha-redis/orders/', `/ha-redis/${name}/`)
      .replaceAll('ha-redis/orders/', `ha-redis/${name}/`);
    const c = JSON.parse(text);
    c.name = name;
    c.masterName = name;
    c.nodes.forEach((n: { host: string; instance: unknown }, j: number) => {
      n.host = ip(i, j + 1, 11);
      n.instance = { id: `i-0${(3 * i + j).toString(16).padStart(16, '0')}` };
    });
    c.sentinels.forEach((s: { host: string; instance: unknown }, j: number) => {
      s.host = ip(i, j + 1, 11);
      s.instance = { id: `i-0${(3 * i + j).toString(16).padStart(16, '0')}` };
    });
    c.proxies.forEach((p: { host: string; runtimeApi: { host: string }; instance: unknown }, j: number) => {
      p.host = ip(i, j + 1, 21);
      p.runtimeApi.host = p.host;
      p.instance = { tag: { key: 'Name', value: `${name}-haproxy-${j}` } };
    });
    c.dns.recordName = `${name}-master.redis.internal.example.com`;
    delete c.slack;
    delete c.maintenance;
    return c;
  });
  const config = {
    ...example,
    network: { ...example.network, hostSecurityGroupIds: ['sg-0aaa1111bbbb2222c'] },
    // As "Running many clusters" advises a fleet that must reroute within a second of each promotion.
    sentinelEvent: { provisionedConcurrency: 'az-loss' },
    clusters,
  };
  delete config.slack;
  const file = join(mkdtempSync(join(tmpdir(), 'ha-redis-fleet-')), 'fleet.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

let stack: HaRedisStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = synthesize({ bundle: false, configFile: fleetConfig() }));
}, SYNTH_TIMEOUT_MS);

describe(`HaRedisStack for ${CLUSTERS} clusters`, () => {
  it('stays far below CloudFormation’s 1-MB template', () => {
    expect(JSON.stringify(template.toJSON()).length).toBeLessThan(512 * 1024);
  });

  it('fits IAM: no overflow policy, every managed policy under 6 144 characters, each role’s inline policies under 10 240', () => {
    const resources = Object.entries(
      template.toJSON().Resources as Record<string, { Type: string; Properties: any }>,
    );
    expect(resources.filter(([id]) => id.includes('OverflowPolicy'))).toEqual([]);
    for (const [id, r] of resources.filter(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy')) {
      expect(JSON.stringify(r.Properties.PolicyDocument).length, id).toBeLessThan(6144);
    }
    const inlineByRole = new Map<string, number>();
    for (const [, r] of resources.filter(([, r]) => r.Type === 'AWS::IAM::Policy')) {
      for (const role of r.Properties.Roles ?? []) {
        const key = JSON.stringify(role);
        inlineByRole.set(
          key,
          (inlineByRole.get(key) ?? 0) + JSON.stringify(r.Properties.PolicyDocument).length,
        );
      }
    }
    for (const [role, size] of inlineByRole) expect(size, role).toBeLessThan(10_240);
  });

  it('grants the secrets by their path, and DNS by the records’ domain, not one by one', () => {
    const statements = statementsOf(template);
    const parameters = statements.find((s) => s.Sid === 'ReadSecretParameters');
    expect(JSON.stringify(parameters?.Resource)).toContain(':parameter/ha-redis/*');
    // The node agents' policy: the SSM parameters by their path, the Secrets Manager secrets it reads through
    // SSM (the TLS client certificate) by theirs, as two grants (together they share no path but the root).
    const agent = Object.entries(template.findResources('AWS::IAM::ManagedPolicy')).find(([id]) =>
      id.startsWith('AgentPublisherPolicy'),
    );
    expect(JSON.stringify(agent)).toContain(':parameter/ha-redis/*');
    expect(JSON.stringify(agent)).toContain(':parameter/aws/reference/secretsmanager/ha-redis/*');
    const dns = statements.find((s) => s.Sid === 'ChangeMasterRecords');
    expect(dns?.Condition).toMatchObject({
      'ForAllValues:StringLike': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['*.redis.internal.example.com'],
      },
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'TXT'],
        'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
      },
    });
  });

  it('reaches the hosts through their security group: a few rules, within the quota, and exports its own', () => {
    const [group] = Object.values(template.findResources('AWS::EC2::SecurityGroup')) as {
      Properties: { SecurityGroupEgress: { DestinationSecurityGroupId?: string; CidrIp?: string }[] };
    }[];
    const egress = group?.Properties.SecurityGroupEgress ?? [];
    expect(egress.length).toBeLessThanOrEqual(EGRESS_RULE_QUOTA);
    expect(
      egress.filter((r) => r.DestinationSecurityGroupId === 'sg-0aaa1111bbbb2222c').length,
    ).toBeGreaterThan(0);
    expect(egress.filter((r) => r.CidrIp && r.CidrIp !== '0.0.0.0/0')).toEqual([]);
    template.hasOutput('LambdaSecurityGroupId', {});
  });

  it('reconciles by 10 shards of about 50 clusters: 10 schedules, each naming its shard of 10', () => {
    // Act
    const schedules = reconcileSchedules(template);

    // Assert
    expect(reconcileShardCount(CLUSTERS)).toBe(10);
    expect(Object.keys(schedules)).toHaveLength(10);
    expect(Object.values(schedules)).toEqual(
      expect.arrayContaining(Array.from({ length: 10 }, (_, shard) => ({ shard, shards: 10 }))),
    );
    expect(Object.keys(schedules).filter((id) => /^ReconcileSchedule[0-9A-F]{8}$/.test(id))).toHaveLength(1);
  });

  it('reserves 200 for the reaction (a zone of a third of the masters), 12 for the reconcile, leaving 768 of 1000', () => {
    expect(reservations(template, ['SentinelEvent', 'Reconcile', 'Notify'])).toEqual({
      SentinelEvent: 200,
      Reconcile: 12,
      Notify: NOTIFY_RESERVED_CONCURRENCY,
    });
    // No Slack in the fleet's config: 200 + 12 + 20.
    expect(stack.concurrency).toMatchObject({ total: 232, left: 768 });
  });

  it("keeps a zone loss of reactions warm with az-loss: 200 environments, all of the reaction's reservation", () => {
    const aliases = Object.values(template.findResources('AWS::Lambda::Alias')) as { Properties: any }[];
    expect(aliases.map((a) => a.Properties.ProvisionedConcurrencyConfig)).toEqual([
      { ProvisionedConcurrentExecutions: 200 },
    ]);
  });

  it('passes cdk-nag AwsSolutions', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
    expect(
      report.violations.map(
        (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`,
      ),
    ).toEqual([]);
    expect(unusedAcknowledgements(stack)).toEqual([]);
  });

  it('alarms when one reconcile shard stops: fewer than 5 runs per shard in 5 minutes, less 4', () => {
    const shards = reconcileShardCount(500);
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as {
      Properties: { MetricName?: string; Threshold: number; Dimensions?: { Value: unknown }[] };
    }[];
    const reconcile = alarms.filter(
      (a) =>
        a.Properties.MetricName === 'Invocations' &&
        JSON.stringify(a.Properties.Dimensions).includes('Reconcile'),
    );
    expect(shards).toBe(10);
    expect(reconcile.map((a) => a.Properties.Threshold)).toEqual([5 * shards - 4]);
  });
});
