import { readFileSync } from 'node:fs';
import { GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import type { AwsStub } from 'aws-sdk-client-mock';
import { awsError } from './sdk-errors.ts';

/** The example deployment config, as the stack deploys it to S3. */
export const EXAMPLE_CONFIG_TEXT = readFileSync('config/example.json', 'utf8');

/** Where the tests' deployment config lives, as the stack's environment names it. */
export const CONFIG_OBJECT = { bucket: 'ha-redis-config-bucket', key: 'deployment-config.json' };

/** The environment the stack gives every Lambda (LAMBDA_ENV), with the config object above. */
export const LAMBDA_TEST_ENV = {
  AWS_REGION: 'eu-west-1',
  HA_REDIS_CONFIG_BUCKET: CONFIG_OBJECT.bucket,
  HA_REDIS_CONFIG_KEY: CONFIG_OBJECT.key,
  HA_REDIS_STATE_TABLE: 'ha-redis-state',
  HA_REDIS_NOTIFY_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:ha-redis-notifications',
  HA_REDIS_SSM_DOCUMENT_PREFIX: 'ha-redis',
  HA_REDIS_DNS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/ha-redis-dns.fifo',
  HA_REDIS_ROUTING_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/ha-redis-routing.fifo',
};

/** A GetObject answer with `text` as its body and `etag` as its entity tag. */
export function objectOutput(text: string, etag: string): GetObjectCommandOutput {
  return {
    $metadata: { httpStatusCode: 200 },
    ETag: etag,
    Body: { transformToString: async () => text } as GetObjectCommandOutput['Body'],
  };
}

/**
 * S3's conditional GET, as documented for GetObject: If-None-Match equal to the object's ETag answers
 * 304 Not Modified with no body, which the SDK raises as an error with that status (aws-sdk-js-v3 #5860).
 */
// biome-ignore lint/suspicious/noExplicitAny: the mocked client's own generic types
export function serveObject(s3: AwsStub<any, any, any>, object: { text: string; etag: string }): void {
  s3.on(GetObjectCommand).callsFake(async (input: { IfNoneMatch?: string }) => {
    if (input.IfNoneMatch === object.etag) throw awsError('304', 'UnknownError', 304);
    return objectOutput(object.text, object.etag);
  });
}
