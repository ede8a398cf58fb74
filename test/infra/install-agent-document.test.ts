import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentInstallParameters, argsOf, DOCUMENT_PARAMETERS } from '../../adapters/node-ops/operations.ts';
import { parseDeploymentConfig } from '../../config/load.ts';
import { parseAgentNodes } from '../../events/agent/nodes.ts';
import { hostTlsParameters } from '../../infra/constructs/attachable-policies.ts';
import { COMMAND_DOCUMENTS, renderCommandDocument } from '../../infra/ssm/documents.ts';

/** install-agent: its parameters, and the checks its script makes before it changes anything on the host. */

const run = promisify(execFile);
const document = renderCommandDocument(COMMAND_DOCUMENTS['install-agent']);
const pattern = (name: string) => new RegExp(document.parameters[name]?.allowedPattern ?? '^$');
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events';

/** Valid parameters, the bundle nowhere (every test here stops before the bundle is read). */
const VALID = {
  bundle: '/nonexistent/agent.mjs',
  topicArn: TOPIC,
  nodes: 'carts=10.0.1.51:6379,payments=10.0.1.51:6380',
  passwordParameter: '/ha-redis/carts/redis-password',
};

const outcome = (p: Promise<{ stdout: string; stderr: string }>) =>
  p.then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

describe('install-agent parameters', () => {
  it('declares bundle, topicArn, nodes, passwordParameter and the optional TLS parameters, in that order', () => {
    expect(Object.keys(document.parameters)).toEqual([
      'bundle',
      'topicArn',
      'nodes',
      'passwordParameter',
      'tlsCaParameter',
      'tlsClientCertParameter',
    ]);
    expect([...DOCUMENT_PARAMETERS['install-agent']]).toEqual(Object.keys(document.parameters));
    expect(document.mainSteps[0]?.inputs.timeoutSeconds).toBe('300');
  });

  it('builds its parameters from the nodes of a host, which the agent reads back', () => {
    // Act
    const parameters = agentInstallParameters({
      bundle: 's3://cdk-hnb659fds-assets-123456789012-eu-west-1/0a1b2c.mjs',
      topicArn: TOPIC,
      nodes: [
        { cluster: 'carts', node: { host: '10.0.1.51', port: 6379 } },
        { cluster: 'payments', node: { host: '10.0.1.51', port: 6380 } },
      ],
      passwordParameter: '/ha-redis/carts/redis-password',
    });

    // Assert
    expect(parameters).toEqual({
      bundle: 's3://cdk-hnb659fds-assets-123456789012-eu-west-1/0a1b2c.mjs',
      topicArn: TOPIC,
      nodes: 'carts=10.0.1.51:6379,payments=10.0.1.51:6380',
      passwordParameter: '/ha-redis/carts/redis-password',
      tlsCaParameter: '',
      tlsClientCertParameter: '',
    });
    for (const [name, value] of Object.entries(parameters)) expect(value).toMatch(pattern(name));
    expect(parseAgentNodes(parameters.nodes)).toEqual([
      { cluster: 'carts', node: { host: '10.0.1.51', port: 6379 } },
      { cluster: 'payments', node: { host: '10.0.1.51', port: 6380 } },
    ]);
  });

  it("builds the TLS parameters of a cluster with tls.nodes from its secrets, as the agent's policy grants them", () => {
    // Arrange: the example's orders cluster reaches its nodes over TLS (tlsCa in SSM, the client PEM in Secrets Manager).
    const orders = parseDeploymentConfig(
      JSON.parse(readFileSync('config/example.json', 'utf8')),
      'example.json',
    ).clusters.find((c) => c.name === 'orders');
    if (!orders) throw new Error('the example has orders');

    // Act
    const tls = hostTlsParameters(orders, 'nodes');
    const parameters = agentInstallParameters({
      bundle: '/opt/bundles/agent.mjs',
      topicArn: TOPIC,
      nodes: [{ cluster: 'orders', node: { host: '10.0.1.21', port: 6379 } }],
      passwordParameter: '/ha-redis/orders/redis-password',
      ...(tls ? { tls } : {}),
    });

    // Assert
    expect(parameters.tlsCaParameter).toBe('/ha-redis/orders/tls-ca');
    expect(parameters.tlsClientCertParameter).toBe(
      '/aws/reference/secretsmanager/ha-redis/orders/redis-client',
    );
    for (const [name, value] of Object.entries(parameters)) expect(value).toMatch(pattern(name));
    expect(hostTlsParameters(orders, 'sentinels')).toBeUndefined();
  });

  it('refuses TLS material the agent cannot read through SSM (a JSON key), naming the secret', () => {
    const cluster = {
      name: 'orders',
      tls: { nodes: true, sentinels: false },
      secrets: { tlsCa: { secretsManager: 'ha-redis/orders/tls', jsonKey: 'ca' } },
    };
    expect(() => hostTlsParameters(cluster, 'nodes')).toThrow(
      'cluster orders: secrets.tlsCa ha-redis/orders/tls is a JSON key (ca): the node agent reads it through SSM',
    );
  });

  it('refuses to build the parameters of a host with no node', () => {
    expect(() =>
      agentInstallParameters({ bundle: '/b.mjs', topicArn: TOPIC, nodes: [], passwordParameter: '/p' }),
    ).toThrow('install-agent needs at least one node to watch on the host');
  });

  it('takes in its nodes pattern only what the agent parses', () => {
    for (const value of ['orders=10.0.1.11:6379', 'a=h:1,b=::1:65535', 'orders=ip-10-0-1-11.internal:6379']) {
      expect(value).toMatch(pattern('nodes'));
      expect(() => parseAgentNodes(value)).not.toThrow();
    }
  });
});

describe('install-agent checks its parameters and unit before it changes anything', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'har-install-agent-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The document as the SSM agent runs it, the values substituted into its runCommand. */
  const runDocument = async (over: Record<string, string>, env?: NodeJS.ProcessEnv) => {
    const values: Record<string, string> = { ...VALID, ...over };
    const text = (document.mainSteps[0]?.inputs.runCommand ?? [])
      .join('\n')
      .replace(/\{\{ (\w+) \}\}/g, (_, p: string) => values[p] ?? '');
    const file = join(dir, 'install-agent-document.sh');
    await writeFile(file, text);
    return outcome(run('/bin/sh', [file], env ? { env } : {}));
  };
  const runScript = (over: Record<string, string>) =>
    outcome(run('bash', [COMMAND_DOCUMENTS['install-agent'].script, ...argsOf({ ...VALID, ...over })]));

  it.each([
    [{ nodes: 'orders=10.0.1.11:0' }, "--nodes: 'orders=10.0.1.11:0': port 0 is not a port (1 to 65535)"],
    [
      { nodes: 'orders=10.0.1.11:65536' },
      "--nodes: 'orders=10.0.1.11:65536': port 65536 is not a port (1 to 65535)",
    ],
    [
      { nodes: 'orders=10.0.1.11:6379,sessions=10.0.1.11:06379' },
      '--nodes lists node 10.0.1.11:6379 twice (orders and sessions); a node belongs to one cluster',
    ],
  ])('refuses %j, which the document pattern lets through, as the script does', async (over, message) => {
    // Arrange
    const prefix = join(dir, 'opt-refused');
    expect(over.nodes).toMatch(pattern('nodes'));

    // Act
    const viaDocument = await runDocument(over);
    const viaScript = await runScript({ ...over, prefix });

    // Assert
    expect(viaDocument.code).toBe(2);
    expect(viaScript.code).toBe(2);
    expect(viaDocument.stderr).toBe(viaScript.stderr);
    expect(viaDocument.stderr).toBe(`install-agent: ${message}\n`);
    expect(existsSync(prefix)).toBe(false);
  });

  it.each([
    [{ nodes: 'orders' }, "--nodes 'orders' must be cluster=host:port items, comma-separated"],
    [{ nodes: 'orders=10.0.1.11:6379,' }, "--nodes 'orders=10.0.1.11:6379,' must be cluster=host:port items"],
    [
      { topicArn: 'arn:aws:sqs:eu-west-1:123456789012:q' },
      "--topic-arn 'arn:aws:sqs:eu-west-1:123456789012:q'",
    ],
    [{ passwordParameter: 'a b' }, "--password-parameter 'a b' is not an SSM parameter name"],
    [{ bundle: 'agent.mjs' }, "--bundle 'agent.mjs' must be an s3:// URL or an absolute path"],
    [{ tlsCaParameter: 'a b' }, "--tls-ca-parameter 'a b' is not an SSM parameter name"],
    [{ tlsClientCertParameter: '/x;id' }, "--tls-client-cert-parameter '/x;id' is not an SSM parameter name"],
    [
      { tlsClientCertParameter: '/ha-redis/orders/redis-client' },
      '--tls-client-cert-parameter needs --tls-ca-parameter too: TLS is on only with the CA',
    ],
  ])('refuses %j', async (over, message) => {
    const result = await runScript(over);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`install-agent: ${message}`);
  });

  it('finds the unit it embeds and accepts it (then stops: no node on this PATH)', async () => {
    // Arrange: a PATH with the tools the document and the script use before their node check, and no node.
    const bin = join(dir, 'bin-without-node');
    await mkdir(bin);
    for (const tool of ['bash', 'cat', 'dirname', 'grep', 'head', 'mktemp', 'rm', 'sed']) {
      await symlink(
        existsSync(join('/usr/bin', tool)) ? join('/usr/bin', tool) : join('/bin', tool),
        join(bin, tool),
      );
    }

    // Act
    const result = await runDocument({}, { PATH: bin });

    // Assert: past the unit checks (found next to the script, placeholders and ExecStart as expected).
    expect(result.stderr).toBe(
      "install-agent: node 22 or later is required on this host and there is no 'node' on PATH; install Node.js 22+ and run again\n",
    );
  });

  it.each([
    [
      'a unit with an unknown placeholder',
      'ExecStart=@NODE@ @BUNDLE@\n',
      'has an unknown placeholder: @BUNDLE@',
    ],
    [
      'the bridge template unit',
      'ExecStart=@NODE@ @PREFIX@/%i/current/bridge.mjs\n',
      'does not run @PREFIX@/current/agent.mjs',
    ],
  ])('refuses %s before it changes anything', async (what, text, message) => {
    // Arrange
    const unitFile = join(dir, `${what.replace(/[^a-z]+/g, '-')}.service`);
    const prefix = join(dir, `opt-${what.replace(/[^a-z]+/g, '-')}`);
    await writeFile(unitFile, `[Service]\n${text}`);

    // Act
    const result = await runScript({ unitFile, prefix });

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `install-agent: unit ${unitFile} ${message}; it must be ha-redis-agent.service of this release\n`,
    );
    expect(existsSync(prefix)).toBe(false);
  });

  it('refuses a client certificate without a CA through the document as the script does', async () => {
    // Act: the document's default leaves tlsCaParameter empty.
    const over = { tlsCaParameter: '', tlsClientCertParameter: '/ha-redis/orders/redis-client' };
    const viaDocument = await runDocument(over);
    const viaScript = await runScript(over);

    // Assert
    expect([viaDocument.code, viaScript.code]).toEqual([2, 2]);
    expect(viaDocument.stderr).toBe(viaScript.stderr);
    expect(viaDocument.stderr).toContain('--tls-client-cert-parameter needs --tls-ca-parameter too');
  });

  it('refuses TLS parameters with a unit that does not fetch the TLS material, before it changes anything', async () => {
    // Arrange: the unit of the release before TLS parameters (no TLS fetch), otherwise valid.
    const unit = await readFile(COMMAND_DOCUMENTS['install-agent'].files[0] ?? '', 'utf8');
    const unitFile = join(dir, 'agent-without-tls-fetch.service');
    await writeFile(
      unitFile,
      unit
        .split('\n')
        .filter((l) => !l.includes('_TLS_CA_PARAMETER'))
        .join('\n'),
    );
    const prefix = join(dir, 'opt-without-tls-fetch');

    // Act
    const plain = await runScript({
      unitFile,
      prefix: join(dir, 'opt-plain'),
      bundle: join(dir, 'none.mjs'),
    });
    const tls = await runScript({ unitFile, prefix, tlsCaParameter: '/ha-redis/orders/tls-ca' });

    // Assert: plain TCP still installs with it (it stops later, at the missing bundle); TLS does not.
    expect(plain.stderr).toBe(`install-agent: bundle ${join(dir, 'none.mjs')} not found; nothing changed\n`);
    expect(tls.code).toBe(2);
    expect(tls.stderr).toBe(
      `install-agent: unit ${unitFile} does not fetch the TLS material into /run/ha-redis-agent; it must be ha-redis-agent.service of this release\n`,
    );
    expect(existsSync(prefix)).toBe(false);
  });

  it('keeps the TLS material out of the unit and the environment: the service fetches it from SSM at start', async () => {
    const unit = await readFile(COMMAND_DOCUMENTS['install-agent'].files[0] ?? '', 'utf8');
    for (const [variable, file] of [
      ['HA_REDIS_NODE_TLS_CA_PARAMETER', 'tls-ca.pem'],
      ['HA_REDIS_NODE_TLS_CLIENT_CERT_PARAMETER', 'tls-client.pem'],
    ]) {
      expect(unit).toContain(
        `\nExecStartPre=/bin/sh -c 'umask 077 && if [ -n "$\${${variable}:-}" ]; then aws ssm get-parameter --with-decryption --name "$\${${variable}}" --query Parameter.Value --output text > /run/ha-redis-agent/${file}; fi'\n`,
      );
    }
    expect(unit).toContain('\nRuntimeDirectory=ha-redis-agent\nRuntimeDirectoryMode=0700\n');
  });

  it('keeps the password out of the unit and the environment: the service reads it from SSM at start', async () => {
    const unit = await readFile(COMMAND_DOCUMENTS['install-agent'].files[0] ?? '', 'utf8');
    expect(unit).toContain('\nEnvironment=HA_REDIS_NODE_PASSWORD_FILE=/run/ha-redis-agent/node-password\n');
    expect(unit).toContain(
      '\nExecStartPre=/bin/sh -c \'umask 077 && exec aws ssm get-parameter --with-decryption --name "$${HA_REDIS_NODE_PASSWORD_PARAMETER}"',
    );
    expect(unit).toContain('\nRestart=always\nRestartSec=1\n');
    expect(unit).not.toMatch(/^(PrivatePIDs|ProtectProc)=/m);
  });
});
