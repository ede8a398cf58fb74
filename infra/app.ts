import { resolve } from 'node:path';
import * as cdk from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadDeploymentConfig } from '../config/load.ts';
import { errorMessage } from '../core/model/errors.ts';
import { HaRedisStack } from './stack.ts';

/**
 * The CDK app: `cdk synth -c config=path/to/ha-redis.config.json` (default: config/example.json).
 * The config is validated before anything is built; an invalid file stops synth with the field named.
 */
const app = new cdk.App();
const configFile = resolve(
  String(app.node.tryGetContext('config') ?? process.env.HA_REDIS_CONFIG ?? 'config/example.json'),
);
let config: ReturnType<typeof loadDeploymentConfig>;
try {
  config = loadDeploymentConfig(configFile);
} catch (error) {
  console.error(`ha-redis: ${errorMessage(error)}`);
  process.exit(1);
}
/** `ha-redis failover orchestrator for orders, sessions`, or for `N clusters` when the names would be long. */
function stackDescription(names: readonly string[]): string {
  const listed = `ha-redis failover orchestrator for ${names.join(', ')}`;
  return listed.length <= 200 ? listed : `ha-redis failover orchestrator for ${names.length} clusters`;
}

new HaRedisStack(app, config.name, {
  config,
  configFile,
  env: {
    account: config.account ?? process.env.CDK_DEFAULT_ACCOUNT,
    region: config.region ?? process.env.CDK_DEFAULT_REGION,
  },
  // Short whatever the fleet: CloudFormation caps a description at 1024 bytes (45 cluster names reached it).
  description: stackDescription(config.clusters.map((c) => c.name)),
});
cdk.Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
