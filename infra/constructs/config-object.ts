import { readFileSync } from 'node:fs';
import * as cdk from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import type { Construct } from 'constructs';

/**
 * The deployment config at run time: one object in a bucket of the stack, at a fixed key, which every Lambda
 * reads at its first use and asks again about every minute (adapters/aws/s3-config-source.ts). A `cdk deploy`
 * of a changed config rewrites the object only: no Lambda's code or configuration changes with it, so adding a
 * cluster redeploys no function (and re-provisions no provisioned concurrency).
 */

/** The object's key: fixed, so that the Lambdas' environment never changes with the config. */
export const CONFIG_OBJECT_KEY = 'deployment-config.json';

export interface DeploymentConfigObject {
  bucket: s3.Bucket;
  key: string;
  /** Lets a function read the object (and decrypt it with the stack key): nothing else of the bucket. */
  grantRead(grantee: iam.IGrantable): void;
}

/** The bucket, the object deployed from the config file as the user wrote it, and the read grant. */
export function deploymentConfigObject(
  scope: Construct,
  props: { key: kms.IKey; configFile: string },
): DeploymentConfigObject {
  const bucket = new s3.Bucket(scope, 'ConfigBucket', {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: props.key,
    bucketKeyEnabled: true,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    // Every config that was deployed stays for 90 days: a bad push is rolled back by restoring a version.
    versioned: true,
    lifecycleRules: [{ noncurrentVersionExpiration: cdk.Duration.days(90) }],
    removalPolicy: cdk.RemovalPolicy.RETAIN,
  });
  const deployment = new s3deploy.BucketDeployment(scope, 'ConfigDeployment', {
    sources: [s3deploy.Source.data(CONFIG_OBJECT_KEY, readFileSync(props.configFile, 'utf8'))],
    destinationBucket: bucket,
    // Only the config object is the deployment's: nothing else in the bucket is deleted, and a stack deletion
    // leaves the config in place (the bucket is retained too).
    prune: false,
    retainOnDelete: true,
    contentType: 'application/json',
  });
  // The config decides who may operate which cluster (operators, Slack's allowed users): only the deployment
  // (CloudFormation, which CloudTrail records) writes it; a hand edit is refused, whoever the caller.
  bucket.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'OnlyTheDeploymentWritesTheConfig',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:RestoreObject'],
      resources: [bucket.arnForObjects('*')],
      conditions: { ArnNotEquals: { 'aws:PrincipalArn': deployment.handlerRole.roleArn } },
    }),
  );
  cdk.Validations.of(bucket).acknowledge({
    id: 'AwsSolutions-S1',
    reason:
      'The bucket holds one object, written by CloudFormation deployments (CloudTrail records them) and read by the stack Lambdas only',
  });
  acknowledgeDeploymentHandler(scope, bucket);
  return {
    bucket,
    key: CONFIG_OBJECT_KEY,
    // s3:GetObject on the one object, no List: an absent object reads as AccessDenied, which the error names.
    // kms:Decrypt only through S3 and only for this bucket (with a bucket key, its ARN is the encryption
    // context), so the grant opens nothing else the stack key encrypts.
    grantRead: (grantee) => {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadDeploymentConfig',
          actions: ['s3:GetObject'],
          resources: [bucket.arnForObjects(CONFIG_OBJECT_KEY)],
        }),
      );
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'DecryptDeploymentConfig',
          actions: ['kms:Decrypt'],
          resources: [props.key.keyArn],
          conditions: {
            StringEquals: {
              'kms:ViaService': `s3.${cdk.Stack.of(scope).region}.amazonaws.com`,
              'kms:EncryptionContext:aws:s3:arn': bucket.bucketArn,
            },
          },
        }),
      );
    },
  };
}

/**
 * CDK's own BucketDeployment handler (a singleton Lambda of the stack, `Custom::CDKBucketDeployment<hash>`):
 * reviewed, each finding by its exact id. CDK grants it what it needs to copy the asset into the config bucket.
 */
function acknowledgeDeploymentHandler(scope: Construct, bucket: s3.Bucket): void {
  const stack = cdk.Stack.of(scope);
  const region = cdk.Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const account = cdk.Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  const bucketId = stack.getLogicalId(bucket.node.defaultChild as cdk.CfnElement);
  const copies = 'it copies the config asset from the CDK assets bucket into the config bucket';
  const findings: Record<string, string> = {
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
      "CDK's BucketDeployment handler writes its logs with the AWS managed basic execution policy",
    [`AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-${account}-${region}/*]`]: `CDK's BucketDeployment handler reads its source asset: ${copies}`,
    [`AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`]: `CDK's BucketDeployment handler writes the config object: ${copies}`,
    'AwsSolutions-L1':
      "CDK's BucketDeployment handler runtime is chosen by aws-cdk-lib, and moves with its upgrades",
  };
  for (const action of ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*']) {
    findings[`AwsSolutions-IAM5[Action::${action}]`] =
      `CDK's grant to its BucketDeployment handler: ${copies}`;
  }
  for (const action of ['kms:ReEncrypt*', 'kms:GenerateDataKey*']) {
    findings[`AwsSolutions-IAM5[Action::${action}]`] =
      "CDK's grant to its BucketDeployment handler, on the one stack key that encrypts the config bucket";
  }
  const handlers = stack.node.children.filter((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
  for (const handler of handlers) {
    for (const [id, reason] of Object.entries(findings))
      cdk.Validations.of(handler).acknowledge({ id, reason });
  }
}
