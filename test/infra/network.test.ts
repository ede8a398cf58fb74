import { resolve } from 'node:path';
import * as cdk from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDeploymentConfig } from '../../config/load.ts';
import type { DeploymentConfig } from '../../config/schema.ts';
import {
  type AllowedTarget,
  allowedTargets,
  EGRESS_RULE_QUOTA,
  egressRules,
  lambdaNetwork,
} from '../../infra/constructs/network.ts';
import { SYNTH_TIMEOUT_MS, config as twoClusters } from './stack-fixture.ts';

/** The Lambdas' security group within AWS's quota of 60 outbound rules: exact where it fits, ranges where not. */

const hostSet = loadDeploymentConfig(resolve('config/example-host-set.json'));

interface EgressProperty {
  CidrIp: string;
  IpProtocol: string;
  FromPort: number;
  ToPort: number;
  Description: string;
}

/** The security group's outbound rules, as the template has them. */
function egressOf(config: DeploymentConfig): EgressProperty[] {
  const stack = new cdk.Stack(new cdk.App(), 'Network', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  lambdaNetwork(stack, config);
  const groups = Object.values(Template.fromStack(stack).findResources('AWS::EC2::SecurityGroup')) as {
    Properties: { SecurityGroupEgress: EgressProperty[] };
  }[];
  expect(groups).toHaveLength(1);
  return groups[0]?.Properties.SecurityGroupEgress ?? [];
}

/** Every `host:port` the rules open, HTTPS to AWS APIs left out. */
function openedPorts(rules: readonly { host: string; from: number; to: number }[]): Set<string> {
  const opened = new Set<string>();
  for (const r of rules) for (let p = r.from; p <= r.to; p += 1) opened.add(`${r.host}:${p}`);
  return opened;
}

const asRules = (egress: readonly EgressProperty[]) =>
  egress
    .filter((e) => e.CidrIp !== '0.0.0.0/0')
    .map((e) => ({ host: e.CidrIp.replace(/\/32$/, ''), from: e.FromPort, to: e.ToPort }));

const needed = (config: DeploymentConfig) =>
  new Set(allowedTargets(config).map((t) => `${t.host}:${t.port}`));

describe('the Lambdas security group', () => {
  let hostSetEgress: EgressProperty[];
  let twoClustersEgress: EgressProperty[];
  beforeAll(() => {
    // The first CDK synth of a worker loads aws-cdk-lib, which takes a while on a busy machine.
    hostSetEgress = egressOf(hostSet);
    twoClustersEgress = egressOf(twoClusters);
  }, SYNTH_TIMEOUT_MS);

  it('stays within 60 outbound rules for the 3 × 8 host set, opening exactly the ports it needs', () => {
    // Arrange: synthesized once, above
    const egress = hostSetEgress;

    // Assert: per host one range each for redis, plain, TLS and Sentinel ports, one Runtime API; HTTPS.
    expect(allowedTargets(hostSet)).toHaveLength(3 * (8 * 4 + 1));
    expect(egress).toHaveLength(3 * 5 + 1);
    expect(egress.length).toBeLessThanOrEqual(EGRESS_RULE_QUOTA);
    expect(openedPorts(asRules(egress))).toEqual(needed(hostSet));
    expect(egress).toContainEqual(
      expect.objectContaining({ CidrIp: '10.0.2.51/32', IpProtocol: 'tcp', FromPort: 26379, ToPort: 26386 }),
    );
    expect(egress).toContainEqual(
      expect.objectContaining({ CidrIp: '10.0.3.51/32', FromPort: 9999, ToPort: 9999 }),
    );
    expect(egress).toContainEqual(
      expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443 }),
    );
    for (const e of egress) expect(e.Description.length).toBeLessThanOrEqual(255);
  });

  it('keeps one rule per host and port, described by what listens there, when they fit (two clusters)', () => {
    // Arrange: synthesized once, above
    const egress = twoClustersEgress;

    // Assert
    expect(egress.filter((e) => e.CidrIp !== '0.0.0.0/0')).toEqual(
      allowedTargets(twoClusters).map((t) =>
        expect.objectContaining({
          CidrIp: `${t.host}/32`,
          FromPort: t.port,
          ToPort: t.port,
          Description: t.what,
        }),
      ),
    );
  });

  it('refuses a deployment of more than 59 hosts at synth, naming the rules it would need', () => {
    // Arrange: 13 copies of the orders cluster (5 hosts each) on other subnets: 65 hosts.
    const [orders] = twoClusters.clusters;
    if (!orders) throw new Error('config/example.json has no clusters');
    const moved = (i: number) => JSON.parse(JSON.stringify(orders).replaceAll('"10.0.', `"10.${i + 1}.`));
    const many: DeploymentConfig = {
      ...twoClusters,
      clusters: Array.from({ length: 13 }, (_, i) => ({ ...moved(i), name: `orders-${i}` })),
    };

    // Act / Assert
    expect(() => egressOf(many)).toThrow(
      "the Lambdas' security group would need 66 outbound rules even with one port range per host (65 hosts, plus HTTPS to AWS APIs), and AWS allows 60 per security group",
    );
  });
});

describe('egressRules', () => {
  /** 20 hosts, each with a redis port, two proxy ports one apart, and a Sentinel port. */
  const scattered: AllowedTarget[] = Array.from({ length: 20 }, (_, h) =>
    [6379, 7000, 7002, 26379].map((port) => ({ host: `10.0.0.${h + 1}`, port, what: `port ${port}` })),
  ).flat();

  it('closes the smallest gaps first when even ranges do not fit, opening as few other ports as it can', () => {
    // Act
    const rules = egressRules(scattered);

    // Assert: 80 ranges → 59: the 20 one-port gaps (7001), then the smallest gap left, of the first host.
    expect(rules).toHaveLength(59);
    const opened = openedPorts(rules);
    for (const t of scattered) expect(opened.has(`${t.host}:${t.port}`)).toBe(true);
    expect(opened.size - scattered.length).toBe(20 * 1 + (7000 - 6379 - 1));
    expect(rules.slice(0, 2)).toEqual([
      {
        host: '10.0.0.1',
        from: 6379,
        to: 7002,
        description:
          '3 ports, widened to fit the rule quota (3 of 624 needed): 6379 port 6379; 7000 port 7000; 7002 port 7002',
      },
      { host: '10.0.0.1', from: 26379, to: 26379, description: 'port 26379' },
    ]);
    expect(rules).toContainEqual(expect.objectContaining({ host: '10.0.0.20', from: 7000, to: 7002 }));
    expect(rules).toContainEqual(expect.objectContaining({ host: '10.0.0.20', from: 6379, to: 6379 }));
  });

  it('spans each host from its lowest to its highest port when only that fits', () => {
    // Act
    const rules = egressRules(scattered, 20);

    // Assert
    expect(rules.map((r) => `${r.host}:${r.from}-${r.to}`)).toEqual(
      Array.from({ length: 20 }, (_, h) => `10.0.0.${h + 1}:6379-26379`),
    );
  });

  it('keeps a range of contiguous ports exact and says what listens on each', () => {
    // Arrange
    const targets = [7381, 7379, 7380, 9000].map((port) => ({ host: '10.0.0.1', port, what: `p${port}` }));

    // Act
    const rules = egressRules(targets, 2);

    // Assert
    expect(rules).toEqual([
      { host: '10.0.0.1', from: 7379, to: 7381, description: '3 ports: 7379 p7379; 7380 p7380; 7381 p7381' },
      { host: '10.0.0.1', from: 9000, to: 9000, description: 'p9000' },
    ]);
  });

  it('cuts a description to the 255 characters AWS allows', () => {
    // Arrange
    const targets = Array.from({ length: 40 }, (_, i) => ({
      host: '10.0.0.1',
      port: 7000 + i,
      what: `service-${i} client port (canary writes)`,
    }));

    // Act
    const [rule] = egressRules(targets, 1);

    // Assert
    expect(rule?.description).toHaveLength(255);
    expect(rule?.description.endsWith('...')).toBe(true);
  });
});
