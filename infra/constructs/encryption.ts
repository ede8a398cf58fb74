import * as cdk from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';

/** The stack's one KMS key, created in the scope it is given (the stack) so that its logical id stays `Key`. */

/** One key for topics, queues and logs; the services that publish to the topics or write the logs may use it. */
export function stackKey(scope: Construct, systemName: string): kms.Key {
  const stack = cdk.Stack.of(scope);
  const key = new kms.Key(scope, 'Key', {
    description: `${systemName}: SNS topics, dead-letter queues and logs`,
    enableKeyRotation: true,
    removalPolicy: cdk.RemovalPolicy.RETAIN,
  });
  for (const service of ['cloudwatch.amazonaws.com', 'sns.amazonaws.com']) {
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(service)],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
  }
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:*`,
        },
      },
    }),
  );
  return key;
}

/** An SNS topic encrypted with the stack key that refuses plain HTTP. */
export function encryptedTopic(scope: Construct, id: string, displayName: string, key: kms.IKey): sns.Topic {
  return new sns.Topic(scope, id, { displayName, masterKey: key, enforceSSL: true });
}
