import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as cdk from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_ENV } from '../../config/env.ts';
import type { HaRedisStack } from '../../infra/stack.ts';
import { BUNDLED_CONFIG_FILE } from '../../infra/stack.ts';
import { loadEnvelope } from '../support/samples.ts';
import { EXAMPLE, SYNTH_TIMEOUT_MS, synthesize } from './stack-fixture.ts';

/** The Lambda bundles, really built (local esbuild, no Docker) as `make synth` does, and loaded as Lambda would. */

let stack: HaRedisStack;

beforeAll(() => {
  ({ stack } = synthesize({ bundle: true }));
}, SYNTH_TIMEOUT_MS);

describe('HaRedisStack Lambda bundles', () => {
  it('bundles the validated config file into each Lambda', async () => {
    const assets = stack.node
      .findAll()
      .filter(
        (c): c is cdk.aws_lambda_nodejs.NodejsFunction => c instanceof cdk.aws_lambda_nodejs.NodejsFunction,
      );
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const fn of assets) {
      const code = (fn.node.defaultChild as cdk.aws_lambda.CfnFunction).code as { s3Key?: string };
      expect(code.s3Key).toMatch(/\.zip$/);
    }
    const assembly = stack.node.root as cdk.App;
    const outdir = assembly.outdir;
    const { readdir } = await import('node:fs/promises');
    const entries = (await readdir(outdir)).filter((e) => e.startsWith('asset.'));
    const copies = await Promise.all(
      entries.map((e) => readFile(join(outdir, e, BUNDLED_CONFIG_FILE), 'utf8').catch(() => undefined)),
    );
    const present = copies.filter((c): c is string => c !== undefined);
    expect(present.length).toBeGreaterThanOrEqual(2);
    for (const copy of present) expect(JSON.parse(copy)).toEqual(JSON.parse(await readFile(EXAMPLE, 'utf8')));
  });

  it('bundles a handler that starts on its own: it loads the bundled config and rejects an unknown cluster', async () => {
    // Arrange: the bundle of the Sentinel event Lambda, as Lambda would load it (no node_modules next to it).
    const fn = stack.sentinelEventFunction.node.defaultChild as cdk.aws_lambda.CfnFunction;
    const assetHash = ((fn.code as { s3Key?: string }).s3Key ?? '').replace(/\.zip$/, '');
    const taskRoot = join((stack.node.root as cdk.App).outdir, `asset.${assetHash}`);
    const env = {
      [LAMBDA_ENV.configFile]: BUNDLED_CONFIG_FILE,
      LAMBDA_TASK_ROOT: taskRoot,
      [LAMBDA_ENV.stateTable]: 'state',
      [LAMBDA_ENV.notifyTopicArn]: 'arn:aws:sns:eu-west-1:123456789012:notifications',
      [LAMBDA_ENV.documentPrefix]: 'ha-redis',
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
    const bundles = stack.functions().map((f) => {
      const code = (f.node.defaultChild as cdk.aws_lambda.CfnFunction).code as { s3Key?: string };
      const dir = join(
        (stack.node.root as cdk.App).outdir,
        `asset.${(code.s3Key ?? '').replace(/\.zip$/, '')}`,
      );
      return join(dir, 'index.mjs');
    });

    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script, ...bundles],
      { cwd: tmpdir(), env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', POWERTOOLS_DEV: 'true' } },
    );

    const results = JSON.parse(stdout.slice(stdout.indexOf('RESULT ') + 7)) as Record<string, string>;
    expect(Object.values(results)).toEqual(bundles.map(() => 'function'));
    expect(bundles).toHaveLength(8);
  });
});
