import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type * as cdk from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_ENV } from '../../config/env.ts';
import type { HaRedisStack } from '../../infra/stack.ts';
import { CONFIG_OBJECT_KEY } from '../../infra/stack.ts';
import { loadEnvelope } from '../support/samples.ts';
import { EXAMPLE, SYNTH_TIMEOUT_MS, synthesize } from './stack-fixture.ts';

/** The Lambda bundles, really built (local esbuild, no Docker) as `make synth` does, and loaded as Lambda would. */

let stack: HaRedisStack;

beforeAll(() => {
  ({ stack } = synthesize({ bundle: true }));
}, SYNTH_TIMEOUT_MS);

/** A function's bundle directory in the cloud assembly (its code asset). */
function assetDirOf(fn: cdk.aws_lambda.Function): string {
  const code = (fn.node.defaultChild as cdk.aws_lambda.CfnFunction).code as { s3Key?: string };
  return `asset.${(code.s3Key ?? '').replace(/\.zip$/, '')}`;
}

/** An S3 endpoint on loopback that serves the example config at any bucket's CONFIG_OBJECT_KEY (path style). */
const s3 = {
  url: '',
  requests: [] as string[],
  server: createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://s3').pathname;
    s3.requests.push(`${req.method} ${path}`);
    if (req.method === 'GET' && path.endsWith(`/${CONFIG_OBJECT_KEY}`)) {
      void readFile(EXAMPLE).then((body) => {
        res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' }).end(body);
      });
      return;
    }
    res.writeHead(404).end();
  }),
};
beforeAll(async () => {
  await new Promise<void>((resolve) => s3.server.listen(0, '127.0.0.1', resolve));
  s3.url = `http://127.0.0.1:${(s3.server.address() as AddressInfo).port}`;
});
afterAll(() => s3.server.close());

describe('HaRedisStack Lambda bundles', () => {
  it('deploys the config file as the S3 object the Lambdas read, and bundles no copy of it', async () => {
    const outdir = (stack.node.root as cdk.App).outdir;
    const assets = (await readdir(outdir)).filter((e) => e.startsWith('asset.'));
    const read = async (dir: string, file: string) =>
      readFile(join(outdir, dir, file), 'utf8').catch(() => undefined);
    const deployed = (await Promise.all(assets.map((a) => read(a, CONFIG_OBJECT_KEY)))).filter(
      (c): c is string => c !== undefined,
    );
    expect(deployed).toEqual([await readFile(EXAMPLE, 'utf8')]);
    const bundles = stack.functions().map((f) => assetDirOf(f));
    expect(bundles).toHaveLength(10);
    for (const dir of bundles) {
      expect((await readdir(join(outdir, dir))).filter((f) => f.endsWith('.json'))).toEqual([]);
    }
  });

  it('bundles a handler that starts on its own: it reads the config from S3 and rejects an unknown cluster', async () => {
    // Arrange: the bundle of the Sentinel event Lambda, as Lambda would load it (no node_modules next to it), and
    // an S3 endpoint that serves the config object (the bundle's own S3 client signs and sends a real GetObject).
    const taskRoot = join((stack.node.root as cdk.App).outdir, assetDirOf(stack.sentinelEventFunction));
    const env = {
      [LAMBDA_ENV.configBucket]: 'config-bucket',
      [LAMBDA_ENV.configKey]: CONFIG_OBJECT_KEY,
      AWS_ENDPOINT_URL_S3: s3.url,
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'not-a-secret',
      LAMBDA_TASK_ROOT: taskRoot,
      [LAMBDA_ENV.stateTable]: 'state',
      [LAMBDA_ENV.notifyTopicArn]: 'arn:aws:sns:eu-west-1:123456789012:notifications',
      [LAMBDA_ENV.documentPrefix]: 'ha-redis',
      [LAMBDA_ENV.dnsQueueUrl]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/dns.fifo',
      [LAMBDA_ENV.routingQueueUrl]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/routing.fifo',
      AWS_REGION: 'eu-west-1',
      POWERTOOLS_DEV: 'true',
    };
    const envelope = { ...loadEnvelope('switch-master'), cluster: 'payments' };
    const event = { Records: [{ Sns: { Message: JSON.stringify(envelope) } }] };
    const script = `import(process.argv[1]).then(async (m) => {
      const out = await m.handler(JSON.parse(process.argv[2]), { functionName: 'f', awsRequestId: 'r' });
      process.stdout.write('RESULT ' + JSON.stringify(out));
    });`;

    // Act
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script, join(taskRoot, 'index.mjs'), JSON.stringify(event)],
      { cwd: tmpdir(), env: { PATH: process.env.PATH, ...env } },
    );

    // Assert
    const result = JSON.parse(stdout.slice(stdout.indexOf('RESULT ') + 7));
    expect(result).toEqual([
      { action: 'rejected', error: expect.stringContaining("unknown cluster 'payments'") },
    ]);
    expect(s3.requests).toEqual([`GET /config-bucket/${CONFIG_OBJECT_KEY}`]);
  });

  it('bundles every Lambda into a module that loads on its own and exports its handler', async () => {
    // Each bundle imported as Lambda would (no node_modules beside it): a missing require shim, a CommonJS
    // dependency that breaks under ESM, or a bad import fails here instead of at the first invocation.
    const script = `const results = {};
      for (const path of process.argv.slice(1)) {
        const m = await import(path);
        results[path] = typeof m.handler;
      }
      process.stdout.write('RESULT ' + JSON.stringify(results));`;
    const bundles = stack
      .functions()
      .map((f) => join((stack.node.root as cdk.App).outdir, assetDirOf(f), 'index.mjs'));

    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script, ...bundles],
      { cwd: tmpdir(), env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', POWERTOOLS_DEV: 'true' } },
    );

    const results = JSON.parse(stdout.slice(stdout.indexOf('RESULT ') + 7)) as Record<string, string>;
    expect(Object.values(results)).toEqual(bundles.map(() => 'function'));
    expect(bundles).toHaveLength(10);
  });

  it(
    'adds a cluster without changing any Lambda: same code, same environment, same settings',
    async () => {
      // Arrange: the example plus a third cluster (sessions' layout on other hosts and secrets).
      const example = JSON.parse(await readFile(EXAMPLE, 'utf8')) as { clusters: unknown[] };
      const third = JSON.parse(
        JSON.stringify(example.clusters[1])
          .replaceAll('sessions', 'carts')
          .replaceAll('.31"', '.51"')
          .replaceAll('.41"', '.61"')
          .replaceAll('i-0a1b2c3d4e5f607', 'i-0a1b2c3d4e5f609'),
      ) as unknown;
      const configFile = join(await mkdtemp(join(tmpdir(), 'ha-redis-config-')), 'three.json');
      await writeFile(configFile, JSON.stringify({ ...example, clusters: [...example.clusters, third] }));

      // Act
      const grown = synthesize({ bundle: true, configFile });

      // Assert: every function resource is the same; the config object (and the grants) carry the change.
      const functionsOf = (t: Template) => t.findResources('AWS::Lambda::Function');
      const before = functionsOf(Template.fromStack(stack));
      const after = functionsOf(grown.template);
      expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
      for (const id of Object.keys(before)) expect(after[id], id).toEqual(before[id]);
      expect(grown.stack.functions().map((f) => assetDirOf(f))).toEqual(
        stack.functions().map((f) => assetDirOf(f)),
      );
    },
    SYNTH_TIMEOUT_MS,
  );
});
