import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type * as cdk from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HaRedisStack } from '../../infra/stack.ts';
import { SYNTH_TIMEOUT_MS, synthesize } from './stack-fixture.ts';

/** The host bundles the stack ships as S3 assets: the Sentinel event bridge and the node agent. */

let stack: HaRedisStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = synthesize({ bundle: false }));
}, SYNTH_TIMEOUT_MS);

/** The staged file of the stack's S3 asset `id`, in the cloud assembly. */
function assetFile(id: string): string {
  const asset = stack.node.findChild(id) as cdk.aws_s3_assets.Asset;
  return join((stack.node.root as cdk.App).outdir, asset.assetPath);
}

type Outcome = { code: number; stdout: string; stderr: string };
/** Runs a bundle as a host would: a bare node, no node_modules beside it, only the environment given. */
const runBundle = (file: string, env: Record<string, string>): Promise<Outcome> =>
  promisify(execFile)(process.execPath, [file], {
    cwd: tmpdir(),
    env: { PATH: '/usr/bin:/bin', ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: Outcome) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('HaRedisStack host bundles', () => {
  it('ships the agent as an S3 asset of its own beside the bridge, with its URL, document and policy as outputs', async () => {
    // Act
    const outputs = template.findOutputs('*');

    // Assert
    expect(assetFile('AgentBundle')).not.toBe(assetFile('BridgeBundle'));
    expect(assetFile('AgentBundle')).toMatch(/\.mjs$/);
    expect(outputs.AgentBundleUrl?.Value).toMatch(/^s3:\/\/cdk-[a-z0-9-]+\/[0-9a-f]{64}\.mjs$/);
    expect(outputs.AgentBundleUrl?.Description).toBe('The bundle parameter of the install-agent document');
    expect(outputs.InstallAgentDocument?.Value).toBe('ha-redis-install-agent');
    expect(outputs.AgentPublisherPolicyArn?.Value).toEqual({
      Ref: expect.stringMatching(/^AgentPublisherPolicy[0-9A-F]{8}$/),
    });
    expect(outputs.BridgePublisherPolicyArn?.Value).not.toEqual(outputs.AgentPublisherPolicyArn?.Value);
    const agent = await readFile(assetFile('AgentBundle'), 'utf8');
    expect(agent.startsWith("import { createRequire as __haRedisCreateRequire } from 'node:module';")).toBe(
      true,
    );
  });

  it('bundles the agent into one module that starts on its own and checks its nodes', async () => {
    // Act: no node_modules beside it; a bad HA_REDIS_AGENT_NODES stops it before any connection.
    const missing = await runBundle(assetFile('AgentBundle'), {});
    const bad = await runBundle(assetFile('AgentBundle'), {
      HA_REDIS_AGENT_NODES: 'orders=10.0.1.11:6379,orders=10.0.1.12:0',
      HA_REDIS_EVENTS_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events',
    });

    // Assert
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toMatch(/^ha-redis agent: environment variable HA_REDIS_AGENT_NODES is not set/);
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toBe(
      "ha-redis agent: HA_REDIS_AGENT_NODES: 'orders=10.0.1.12:0' is not cluster=host:port (a cluster name, a host, a port 1-65535)\n",
    );
  });

  it('still bundles the bridge, which starts on its own', async () => {
    const missing = await runBundle(assetFile('BridgeBundle'), {});
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toMatch(/^ha-redis bridge: environment variable HA_REDIS_CLUSTER is not set/);
  });
});
