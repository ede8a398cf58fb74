import { resolve } from 'node:path';
import * as cdk from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { DeploymentConfigObject } from './config-object.ts';

/**
 * How the stack builds its Lambdas and their dead-letter queues. Like every module of infra/constructs, it
 * creates its resources in the scope it is given (the stack), not in a scope of its own: their logical ids stay
 * those of a deployed stack, which a new construct path would change (and so replace the resources).
 */

const ROOT = resolve(import.meta.dirname, '../..');

/** Lambda retry policy for asynchronous invocations: every step is idempotent (epoch claims), so retries are safe. */
export const ASYNC_RETRY = {
  /** Two retries cover a throttled or crashed container; the reconcile (every minute) covers the rest. */
  retryAttempts: 2,
  /** An event older than this describes a world that has moved on; the reconcile acts on the present one. */
  maxEventAge: cdk.Duration.minutes(10),
};

/** An encrypted dead-letter queue that keeps messages 14 days, for the runbook to inspect and replay. */
export function deadLetterQueue(scope: Construct, id: string, key: kms.IKey): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    retentionPeriod: cdk.Duration.days(14),
  });
  cdk.Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: 'This queue is itself a dead-letter queue; its messages are replayed by hand',
  });
  return queue;
}

/** What every Lambda of the stack shares. */
export interface LambdaFactoryProps {
  /** Encrypts the log groups. */
  key: kms.IKey;
  /** The Redis hosts' VPC, and the security group that lets a Lambda reach exactly their ports. */
  vpc: ec2.IVpc;
  securityGroup: ec2.ISecurityGroup;
  /** Where the deployment config is (every function may read it, and is granted that). */
  config: DeploymentConfigObject;
  /** The environment every Lambda gets (LAMBDA_ENV names). */
  environment: Record<string, string>;
}

/** One Lambda: its folder under functions/ names it, its bundle and its construct id. */
export interface LambdaOptions {
  timeout: cdk.Duration;
  description: string;
  /** Added to the shared environment. */
  environment?: Record<string, string>;
  /** false: the function needs no host of the clusters (it only calls AWS and Slack APIs), so no VPC. */
  inVpc?: boolean;
  /** A fixed name, for a function that invokes itself (its own ARN would be a circular reference). */
  functionName?: string;
  /** Concurrency reserved for (and capping) the function. */
  reservedConcurrentExecutions?: number;
}

/** Builds the stack's Node.js Lambdas: ESM bundles for arm64, traced, logged to an encrypted log group. */
export class LambdaFactory {
  private readonly scope: Construct;
  private readonly props: LambdaFactoryProps;

  constructor(scope: Construct, props: LambdaFactoryProps) {
    this.scope = scope;
    this.props = props;
  }

  /** The Lambda of functions/<name>/lambda.ts (`handler`); construct id: the name in PascalCase, log group: id + Logs. */
  create(name: string, options: LambdaOptions): nodejs.NodejsFunction {
    const { key, vpc, securityGroup, config } = this.props;
    const id = name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
    const logGroup = new logs.LogGroup(this.scope, `${id}Logs`, {
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: key,
    });
    const fn = new nodejs.NodejsFunction(this.scope, id, {
      entry: resolve(ROOT, `functions/${name}/lambda.ts`),
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: resolve(ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      timeout: options.timeout,
      description: options.description,
      environment: {
        ...this.props.environment,
        ...options.environment,
        POWERTOOLS_SERVICE_NAME: `ha-redis-${name}`,
      },
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      ...(options.functionName ? { functionName: options.functionName } : {}),
      ...(options.reservedConcurrentExecutions !== undefined
        ? { reservedConcurrentExecutions: options.reservedConcurrentExecutions }
        : {}),
      ...(options.inVpc === false
        ? {}
        : { vpc, vpcSubnets: { subnets: vpc.privateSubnets }, securityGroups: [securityGroup] }),
      bundling: BUNDLING,
    });
    config.grantRead(fn);
    return fn;
  }
}

/** An ESM bundle with its dependencies (the deployment config is read at run time, from S3: not bundled). */
const BUNDLING: nodejs.BundlingOptions = {
  format: nodejs.OutputFormat.ESM,
  target: 'node24',
  minify: true,
  // No source maps: nothing loads them (no --enable-source-maps), and they were 6.5 MB beside each bundle.
  sourceMap: false,
  mainFields: ['module', 'main'],
  // Bundle the AWS SDK too: the versions are the lock file's, not whatever the runtime ships.
  externalModules: [],
  // Powertools Tracer's X-Ray SDK and ioredis are CommonJS: give the ESM bundle a `require`.
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  forceDockerBundling: false,
};
