import { resolve } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDeploymentConfig } from '../../config/load.ts';
import { CLUSTER_TAG_KEY, type HaRedisStack } from '../../infra/stack.ts';
import { actionsOf, SYNTH_TIMEOUT_MS, statementsOf, synthesize } from './stack-fixture.ts';

/** The stack of config/example-host-set.json: one host set, 3 hosts × 8 services, per-service Sentinels. */

const HOST_SET_EXAMPLE = resolve('config/example-host-set.json');
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
const HOSTS = ['10.0.1.51', '10.0.2.51', '10.0.3.51'];

let stack: HaRedisStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = synthesize({ bundle: false, configFile: HOST_SET_EXAMPLE }));
}, SYNTH_TIMEOUT_MS);

describe('HaRedisStack of a host set', () => {
  it("knows every service of the set as a cluster: SSM commands reach the instances tagged with any of them or the set's name", () => {
    // Act
    const send = statementsOf(template).find((s) => s.Sid === 'SendToClusterInstances');

    // Assert
    expect(loadDeploymentConfig(HOST_SET_EXAMPLE).clusters.map((c) => c.name)).toEqual(SERVICES);
    expect(send?.Condition).toEqual({
      StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG_KEY}`]: [...SERVICES, 'core'] },
    });
  });

  it("changes each service's master record, and reads each service's secrets and the set's", () => {
    // Act
    const change = statementsOf(template).find((s) =>
      actionsOf(s).includes('route53:ChangeResourceRecordSets'),
    );
    const parameters = JSON.stringify(statementsOf(template).find((s) => s.Sid === 'ReadSecretParameters'));
    const secrets = JSON.stringify(statementsOf(template).find((s) => s.Sid === 'ReadSecrets'));

    // Assert
    expect(change?.Condition).toMatchObject({
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': SERVICES.map(
          (s) => `${s}-master.redis.internal.example.com`,
        ),
      },
    });
    for (const service of SERVICES) {
      expect(parameters).toContain(`:parameter/ha-redis/${service}/redis-password`);
      expect(parameters).toContain(`:parameter/ha-redis/${service}/sentinel-password`);
    }
    expect(parameters).toContain(':parameter/ha-redis/core/tls-ca');
    expect(secrets).toContain(':secret:ha-redis/core/haproxy-api-client-??????');
  });

  it("lets the Lambdas reach each service's redis, Sentinel and frontends on every host, and each HAProxy once", () => {
    // Act
    const [group] = Object.values(template.findResources('AWS::EC2::SecurityGroup')) as {
      Properties: { SecurityGroupEgress: { CidrIp: string; FromPort: number; ToPort: number }[] };
    }[];
    const egress = group?.Properties.SecurityGroupEgress ?? [];
    const allows = (host: string, port: number) =>
      egress.filter((r) => r.CidrIp === `${host}/32` && r.FromPort <= port && port <= r.ToPort).length;

    // Assert: per host one range each of the 8 redis, Sentinel, plain and TLS ports, and the Runtime API;
    // HTTPS to AWS: 16 rules, within the 60 outbound rules AWS allows (network.test.ts has the details).
    expect(egress).toHaveLength(3 * 5 + 1);
    for (const host of HOSTS) {
      SERVICES.forEach((_, k) => {
        for (const port of [6379 + k, 26379 + k, 7379 + k, 8379 + k]) expect(allows(host, port)).toBe(1);
      });
      expect(allows(host, 9999)).toBe(1);
      expect(allows(host, 6387)).toBe(0);
    }
  });

  it("schedules the maintenance one service of the set configures, in the service's name", () => {
    // Act
    const schedules = Object.keys(template.findResources('AWS::Scheduler::Schedule'));

    // Assert
    expect(schedules.filter((id) => id.startsWith('Maintenance'))).toEqual([
      expect.stringMatching(/^Maintenancecartsweeklyrestart/),
    ]);
  });

  it('expects a heartbeat from each of the 24 bridges (one per service and host) in its one bridge alarm', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'ABS(FILL(beats, 0) - 24)' })]),
      TreatMissingData: 'breaching',
    });
  });

  it('passes cdk-nag AwsSolutions as the two-cluster example does', () => {
    // Act
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);

    // Assert
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});
