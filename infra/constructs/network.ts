import * as cdk from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../../config/schema.ts';

/**
 * The Lambdas' network: they sit in the Redis hosts' VPC and may reach exactly the configured hosts and ports.
 * Created in the scope it is given (the stack), so the security group keeps its logical id.
 */

/** Every host and port a Lambda must reach: nodes, Sentinels, proxy listeners (canaries) and Runtime APIs. */
export function allowedTargets(config: DeploymentConfig): { host: string; port: number; what: string }[] {
  const targets = config.clusters.flatMap((c) => [
    ...c.nodes.map((n) => ({ host: n.host, port: n.port, what: `${c.name} redis ${n.id}` })),
    ...c.sentinels.map((s) => ({ host: s.host, port: s.port, what: `${c.name} sentinel` })),
    ...c.proxies.flatMap((p) => [
      { host: p.host, port: p.plainPort, what: `${c.name} ${p.id} client port (canary writes)` },
      ...(p.tlsPort
        ? [{ host: p.host, port: p.tlsPort, what: `${c.name} ${p.id} TLS client port (canary writes)` }]
        : []),
      ...(p.runtimeApi.kind === 'tcp'
        ? [{ host: p.runtimeApi.host, port: p.runtimeApi.port, what: `${c.name} ${p.id} Runtime API` }]
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
  for (const { host, port, what } of allowedTargets(config)) {
    securityGroup.addEgressRule(ec2.Peer.ipv4(`${host}/32`), ec2.Port.tcp(port), what);
  }
  securityGroup.addEgressRule(
    ec2.Peer.anyIpv4(),
    ec2.Port.tcp(443),
    'AWS APIs (DynamoDB, SNS, SSM, Route53, Secrets Manager) through VPC endpoints or NAT',
  );
  return { vpc, securityGroup };
}
