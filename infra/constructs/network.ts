import * as cdk from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../../config/schema.ts';
import { ConfigurationError } from '../../core/model/errors.ts';

/**
 * The Lambdas' network: they sit in the Redis hosts' VPC and may reach exactly the configured hosts and ports
 * (within the security group rule quota, see egressRules). Created in the scope it is given (the stack), so
 * the security group keeps its logical id.
 */

/** What kind of listener a target is: names a security group rule that serves many hosts. */
export type TargetKind = 'Redis' | 'Sentinel' | 'HAProxy client port (canary writes)' | 'HAProxy Runtime API';

/** A host and port a Lambda must reach, and what listens there. */
export interface AllowedTarget {
  host: string;
  port: number;
  what: string;
  kind?: TargetKind;
}

const REDIS: TargetKind = 'Redis';
const SENTINEL: TargetKind = 'Sentinel';
const CLIENT: TargetKind = 'HAProxy client port (canary writes)';
const RUNTIME_API: TargetKind = 'HAProxy Runtime API';

/** Every host and port a Lambda must reach: nodes, Sentinels, proxy listeners (canaries) and Runtime APIs. */
export function allowedTargets(config: DeploymentConfig): AllowedTarget[] {
  const targets = config.clusters.flatMap((c) => [
    ...c.nodes.map((n) => ({ host: n.host, port: n.port, what: `${c.name} redis ${n.id}`, kind: REDIS })),
    ...c.sentinels.map((s) => ({ host: s.host, port: s.port, what: `${c.name} sentinel`, kind: SENTINEL })),
    ...c.proxies.flatMap((p) => [
      {
        host: p.host,
        port: p.plainPort,
        what: `${c.name} ${p.id} client port (canary writes)`,
        kind: CLIENT,
      },
      ...(p.tlsPort
        ? [
            {
              host: p.host,
              port: p.tlsPort,
              what: `${c.name} ${p.id} TLS client port (canary writes)`,
              kind: CLIENT,
            },
          ]
        : []),
      ...(p.runtimeApi.kind === 'tcp'
        ? [
            {
              host: p.runtimeApi.host,
              port: p.runtimeApi.port,
              what: `${c.name} ${p.id} Runtime API`,
              kind: RUNTIME_API,
            },
          ]
        : []),
    ]),
  ]);
  const seen = new Set<string>();
  return targets.filter((t) => {
    const key = `${t.host}:${t.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * AWS's default quota of outbound rules per security group (IPv4 and IPv6 counted apart), which a deploy that
 * goes beyond fails on: "Inbound or outbound rules per security group: 60"
 * (https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups).
 */
export const EGRESS_RULE_QUOTA = 60;

/** The rules besides the hosts' own: HTTPS to AWS APIs. */
const OTHER_EGRESS_RULES = 1;

/** One outbound rule: TCP ports from..to of one host. */
export interface EgressRule {
  host: string;
  from: number;
  to: number;
  description: string;
}

/** A run of ports of one host, and the targets inside it. */
interface PortRun {
  host: string;
  from: number;
  to: number;
  targets: AllowedTarget[];
}

/** AWS caps a rule's description at 255 characters. */
const fitDescription = (text: string): string => (text.length <= 255 ? text : `${text.slice(0, 252)}...`);

/** The rule of a run: described by what listens on each of its ports, and how many ports it opens needlessly. */
const ruleOf = ({ host, from, to, targets }: PortRun): EgressRule => {
  const [only] = targets;
  if (targets.length === 1 && only) return { host, from, to, description: fitDescription(only.what) };
  const span = to - from + 1;
  const widened =
    targets.length < span ? `, widened to fit the rule quota (${targets.length} of ${span} needed)` : '';
  const what = targets.map((t) => `${t.port} ${t.what}`).join('; ');
  return { host, from, to, description: fitDescription(`${targets.length} ports${widened}: ${what}`) };
};

/** Each host's ports as runs of contiguous ports, hosts in the order they first appear. */
function contiguousRuns(targets: readonly AllowedTarget[]): PortRun[][] {
  const byHost = new Map<string, AllowedTarget[]>();
  for (const t of targets) byHost.set(t.host, [...(byHost.get(t.host) ?? []), t]);
  return [...byHost.values()].map((hostTargets) => {
    const runs: PortRun[] = [];
    for (const t of [...hostTargets].sort((a, b) => a.port - b.port)) {
      const last = runs.at(-1);
      if (last && t.port <= last.to + 1) {
        last.to = Math.max(last.to, t.port);
        last.targets.push(t);
      } else {
        runs.push({ host: t.host, from: t.port, to: t.port, targets: [t] });
      }
    }
    return runs;
  });
}

/**
 * The outbound rules that let the Lambdas reach the targets, at most `limit` of them:
 * 1. one rule per (host, port) when they fit: exactly the needed ports, each rule saying what listens there;
 * 2. else each host's contiguous ports as one range (a host set's services usually take consecutive ports):
 *    still exactly the needed ports;
 * 3. else the smallest gaps between a host's ranges are closed until the rules fit: the trade-off is that the
 *    ports inside a closed gap open too (to the configured hosts only), as few as the quota allows; at worst
 *    each host has one rule, from its lowest to its highest port. Above `limit` hosts, no layout fits: refused.
 */
export function egressRules(
  targets: readonly AllowedTarget[],
  limit = EGRESS_RULE_QUOTA - OTHER_EGRESS_RULES,
): EgressRule[] {
  if (targets.length <= limit) {
    return targets.map((t) => ruleOf({ host: t.host, from: t.port, to: t.port, targets: [t] }));
  }
  const hosts = contiguousRuns(targets);
  const runCount = hosts.reduce((n, runs) => n + runs.length, 0);
  if (hosts.length > limit) {
    throw new ConfigurationError(
      `the Lambdas' security group would need ${hosts.length + OTHER_EGRESS_RULES} outbound rules even with one port range per host (${hosts.length} hosts, plus HTTPS to AWS APIs), and AWS allows ${EGRESS_RULE_QUOTA} per security group: split the clusters into deployments of at most ${limit} hosts each`,
    );
  }
  const gaps = hosts
    .flatMap((runs, h) => runs.slice(1).map((run, i) => ({ h, i, size: run.from - (runs[i]?.to ?? 0) })))
    .sort((a, b) => a.size - b.size || a.h - b.h || a.i - b.i)
    .slice(0, Math.max(0, runCount - limit));
  return hosts.flatMap((runs, h) => {
    const closed = new Set(gaps.filter((g) => g.h === h).map((g) => g.i));
    const merged: PortRun[] = [];
    runs.forEach((run, i) => {
      const last = merged.at(-1);
      if (last && closed.has(i - 1))
        merged[merged.length - 1] = { ...last, to: run.to, targets: [...last.targets, ...run.targets] };
      else merged.push(run);
    });
    return merged.map(ruleOf);
  });
}

/** Each group with every port any host listens on, once, named by the kinds that listen there. */
function groupTargets(groups: readonly string[], targets: readonly AllowedTarget[]): AllowedTarget[] {
  const kinds = new Map<number, Set<string>>();
  for (const t of targets) kinds.set(t.port, (kinds.get(t.port) ?? new Set()).add(t.kind ?? t.what));
  return groups.flatMap((group) =>
    [...kinds.entries()].map(([port, what]) => ({ host: group, port, what: [...what].join(', ') })),
  );
}

/** The configured VPC (by id, no lookup) and the Lambdas' security group: egress to the clusters and HTTPS only. */
export function lambdaNetwork(
  scope: Construct,
  config: DeploymentConfig,
): { vpc: ec2.IVpc; securityGroup: ec2.SecurityGroup } {
  const vpc = ec2.Vpc.fromVpcAttributes(scope, 'Vpc', {
    vpcId: config.network.vpcId,
    availabilityZones: config.network.availabilityZones,
    privateSubnetIds: config.network.subnetIds,
  });
  cdk.Validations.of(vpc).acknowledge({
    id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
    reason:
      'The subnets come by id from the config; the stack places Lambdas in them and never reads their route tables',
  });
  const securityGroup = new ec2.SecurityGroup(scope, 'LambdaSecurityGroup', {
    vpc,
    description: `${config.name} Lambdas: Redis, Sentinel and HAProxy ports of the configured hosts, and HTTPS to AWS APIs`,
    allowAllOutbound: false,
  });
  const groups = config.network.hostSecurityGroupIds;
  // To the hosts' security groups when given (any number of hosts), else to each host's address.
  const targets = groups ? groupTargets(groups, allowedTargets(config)) : allowedTargets(config);
  for (const { host, from, to, description } of egressRules(targets)) {
    const ports = from === to ? ec2.Port.tcp(from) : ec2.Port.tcpRange(from, to);
    const peer = groups ? ec2.Peer.securityGroupId(host) : ec2.Peer.ipv4(`${host}/32`);
    securityGroup.addEgressRule(peer, ports, description);
  }
  securityGroup.addEgressRule(
    ec2.Peer.anyIpv4(),
    ec2.Port.tcp(443),
    'AWS APIs (DynamoDB, SNS, SSM, Route53, Secrets Manager) through VPC endpoints or NAT',
  );
  return { vpc, securityGroup };
}
