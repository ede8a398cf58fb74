import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argsOf, bridgeInstallParameters } from '../../adapters/node-ops/operations.ts';
import { parseDeploymentConfig } from '../../config/load.ts';
import { parseBridgeClusters } from '../../events/bridge/masters.ts';
import { hostTlsParameters } from '../../infra/constructs/attachable-policies.ts';
import { COMMAND_DOCUMENTS, renderCommandDocument } from '../../infra/ssm/documents.ts';

/** install-bridge's `cluster`: one cluster, or the cluster of each master of a Sentinel that monitors several. */

const run = promisify(execFile);
const document = renderCommandDocument(COMMAND_DOCUMENTS['install-bridge']);
const clusterPattern = new RegExp(document.parameters.cluster?.allowedPattern ?? '^$');

/** The other parameters: valid, the bundle nowhere (every test here stops before the bundle is read). */
const OTHERS = {
  bundle: '/nonexistent/bridge.mjs',
  topicArn: 'arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events',
  sentinelHost: '10.0.1.51',
  sentinelPort: '26300',
  passwordParameter: '/ha-redis/core/sentinel-password',
};

/** config/example-host-set.json with shared Sentinels, one service with a masterName of its own. */
function sharedSetClusters() {
  const json = JSON.parse(readFileSync('config/example-host-set.json', 'utf8'));
  const [set] = json.hostSets;
  set.sentinels = 'shared';
  set.sharedSentinelPort = 26300;
  set.secrets.sentinelPassword = { ssmParameter: '/ha-redis/core/sentinel-password' };
  for (const service of set.services) {
    delete service.sentinelPort;
    delete service.secrets.sentinelPassword;
  }
  set.services[1].masterName = 'payments-master';
  return parseDeploymentConfig(json, 'shared.json').clusters;
}

const outcome = (p: Promise<{ stdout: string; stderr: string }>) =>
  p.then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

describe('install-bridge cluster parameter', () => {
  it("takes a shared Sentinel's masters as master=cluster pairs, which the bridge reads back", () => {
    // Arrange: what to send for a host set with shared Sentinels: each service's master name and name.
    const clusters = sharedSetClusters();
    const value = clusters.map((c) => `${c.masterName}=${c.name}`).join(',');

    // Act
    const parsed = parseBridgeClusters(value);

    // Assert
    expect(value).toMatch(clusterPattern);
    expect(value.startsWith('carts=carts,payments-master=payments,catalog=catalog,')).toBe(true);
    expect(Object.fromEntries(parsed.masters ?? [])).toEqual(
      Object.fromEntries(clusters.map((c) => [c.masterName, c.name])),
    );
    expect(new Set(clusters.map((c) => c.sentinels[0]?.port))).toEqual(new Set([26300]));
  });

  it('keeps taking a cluster name, and says which forms it takes', () => {
    expect('orders').toMatch(clusterPattern);
    expect(document.parameters.cluster?.description).toContain('master=cluster,master=cluster');
  });

  it.each([
    'carts=',
    '=carts',
    'carts=carts,',
    ',carts=carts',
    'carts=Carts',
    'a=b=c',
    'carts=carts;payments=payments',
    'Orders',
    'carts,payments',
  ])('refuses %j', (value) => {
    expect(value).not.toMatch(clusterPattern);
  });

  it('takes at most 100 pairs', () => {
    const pairs = (n: number) => Array.from({ length: n }, (_, i) => `m${i}=c${i}`).join(',');
    expect(pairs(100)).toMatch(clusterPattern);
    expect(pairs(101)).not.toMatch(clusterPattern);
  });
});

describe('install-bridge TLS parameters', () => {
  /** config/example-host-set.json with TLS-only Sentinels: the set's CA and client certificate. */
  const tlsSetClusters = () => {
    const json = JSON.parse(readFileSync('config/example-host-set.json', 'utf8'));
    const [set] = json.hostSets;
    set.tls = { nodes: true, sentinels: true };
    set.secrets.tlsCa = { ssmParameter: '/ha-redis/core/tls-ca' };
    set.secrets.redisClientCert = { secretsManager: 'ha-redis/core/redis-client' };
    return parseDeploymentConfig(json, 'tls.json').clusters;
  };

  it('declares tlsCaParameter and tlsClientCertParameter after the others, both optional', () => {
    expect(Object.keys(document.parameters)).toEqual([
      'bundle',
      'topicArn',
      'cluster',
      'sentinelHost',
      'sentinelPort',
      'passwordParameter',
      'tlsCaParameter',
      'tlsClientCertParameter',
    ]);
    expect(document.parameters.tlsCaParameter?.default).toBe('');
    expect(document.parameters.tlsClientCertParameter?.default).toBe('');
  });

  it("builds them from a service's tls.sentinels and the set's secrets, through SSM's Secrets Manager path", () => {
    // Arrange
    const [carts] = tlsSetClusters();
    if (!carts) throw new Error('the set has services');
    const sentinel = carts.sentinels[0];
    if (!sentinel) throw new Error('carts has Sentinels');

    // Act
    const tls = hostTlsParameters(carts, 'sentinels');
    const parameters = bridgeInstallParameters({
      bundle: '/opt/bundles/bridge.mjs',
      topicArn: OTHERS.topicArn,
      cluster: carts.name,
      sentinel,
      passwordParameter: OTHERS.passwordParameter,
      ...(tls ? { tls } : {}),
    });

    // Assert
    expect(parameters).toMatchObject({
      tlsCaParameter: '/ha-redis/core/tls-ca',
      tlsClientCertParameter: '/aws/reference/secretsmanager/ha-redis/core/redis-client',
    });
    for (const [name, value] of Object.entries(parameters)) {
      expect(value, name).toMatch(new RegExp(document.parameters[name]?.allowedPattern ?? '^$'));
    }
  });

  it('leaves them empty for a plain Sentinel', () => {
    const parameters = bridgeInstallParameters({
      bundle: '/opt/bundles/bridge.mjs',
      topicArn: OTHERS.topicArn,
      cluster: 'orders',
      sentinel: { host: '10.0.1.10', port: 26379 },
      passwordParameter: OTHERS.passwordParameter,
    });
    expect([parameters.tlsCaParameter, parameters.tlsClientCertParameter]).toEqual(['', '']);
  });

  it('fetches the TLS material in the unit as the password is: at start, into the 0700 runtime directory', () => {
    const unit = readFileSync(COMMAND_DOCUMENTS['install-bridge'].files[0] ?? '', 'utf8');
    for (const [variable, file] of [
      ['HA_REDIS_SENTINEL_TLS_CA_PARAMETER', 'tls-ca.pem'],
      ['HA_REDIS_SENTINEL_TLS_CLIENT_CERT_PARAMETER', 'tls-client.pem'],
    ]) {
      expect(unit).toContain(
        `\nExecStartPre=/bin/sh -c 'umask 077 && if [ -n "$\${${variable}:-}" ]; then aws ssm get-parameter --with-decryption --name "$\${${variable}}" --query Parameter.Value --output text > /run/ha-redis-bridge-%i/${file}; fi'\n`,
      );
    }
    expect(unit).toContain('\nRuntimeDirectory=ha-redis-bridge-%i\nRuntimeDirectoryMode=0700\n');
  });
});

describe('install-bridge checks its parameters and unit template before it changes anything', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'har-install-bridge-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The document as the SSM agent runs it, the values substituted into its runCommand. */
  const runDocument = async (cluster: string, env?: NodeJS.ProcessEnv, over: Record<string, string> = {}) => {
    const values: Record<string, string> = { ...OTHERS, cluster, ...over };
    const text = (document.mainSteps[0]?.inputs.runCommand ?? [])
      .join('\n')
      .replace(/\{\{ (\w+) \}\}/g, (_, p: string) => values[p] ?? '');
    const file = join(dir, 'install-bridge-document.sh');
    await writeFile(file, text);
    return outcome(run('/bin/sh', [file], env ? { env } : {}));
  };
  const runScript = (cluster: string, extra: Record<string, string> = {}) =>
    outcome(
      run('bash', [COMMAND_DOCUMENTS['install-bridge'].script, ...argsOf({ ...OTHERS, cluster, ...extra })]),
    );

  it.each([
    ['carts=carts,carts=payments', "--cluster 'carts=carts,carts=payments' maps master 'carts' twice"],
    ['carts=', "--cluster 'carts=' must be a cluster name (lower-case letters, digits and dashes), or for"],
    ['Orders', "--cluster 'Orders' must be a cluster name"],
  ])('refuses %j through the document as the script does', async (cluster, message) => {
    // Act
    const viaDocument = await runDocument(cluster);
    const viaScript = await runScript(cluster);

    // Assert
    expect(viaDocument.code).toBe(2);
    expect(viaScript.code).toBe(2);
    expect(viaDocument.stderr).toBe(viaScript.stderr);
    expect(viaDocument.stderr).toContain(`install-bridge: ${message}`);
  });

  it.each([
    [{ tlsCaParameter: 'a b' }, "--tls-ca-parameter 'a b' is not an SSM parameter name"],
    [{ tlsClientCertParameter: '$(id)' }, "--tls-client-cert-parameter '$(id)' is not an SSM parameter name"],
    [
      { tlsClientCertParameter: '/ha-redis/orders/redis-client' },
      "--tls-client-cert-parameter needs --tls-ca-parameter too: TLS is on only with the CA the Sentinel's certificate chains to",
    ],
  ])('refuses TLS parameters %j before it changes anything', async (over, message) => {
    // Arrange
    const prefix = join(dir, 'opt-tls-refused');

    // Act
    const result = await runScript('orders', { ...over, prefix });

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`install-bridge: ${message}\n`);
    expect(existsSync(prefix)).toBe(false);
  });

  it('refuses a client certificate without a CA through the document as the script does', async () => {
    const over = { tlsClientCertParameter: '/ha-redis/orders/redis-client' };
    const viaDocument = await runDocument('orders', undefined, over);
    const viaScript = await runScript('orders', over);
    expect([viaDocument.code, viaScript.code]).toEqual([2, 2]);
    expect(viaDocument.stderr).toBe(viaScript.stderr);
    expect(viaDocument.stderr).toContain('--tls-client-cert-parameter needs --tls-ca-parameter too');
  });

  it('refuses TLS parameters with a template that does not fetch the TLS material', async () => {
    // Arrange: the template of the release before TLS parameters (no TLS fetch), otherwise valid.
    const template = readFileSync(COMMAND_DOCUMENTS['install-bridge'].files[0] ?? '', 'utf8');
    const unitTemplate = join(dir, 'bridge-without-tls-fetch.service');
    await writeFile(
      unitTemplate,
      template
        .split('\n')
        .filter((l) => !l.includes('_TLS_CA_PARAMETER'))
        .join('\n'),
    );
    const prefix = join(dir, 'opt-without-tls-fetch');

    // Act
    const result = await runScript('orders', {
      unitTemplate,
      prefix,
      tlsCaParameter: '/ha-redis/orders/tls-ca',
    });

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `install-bridge: unit template ${unitTemplate} does not fetch the TLS material into /run/ha-redis-bridge-%i; it must be ha-redis-bridge@.service of this release\n`,
    );
    expect(existsSync(prefix)).toBe(false);
  });

  it.each(['orders', 'carts=carts,payments-master=payments'])(
    'takes %j and goes on (to look for its unit template)',
    async (cluster) => {
      // Act: a template nowhere stops the script right after its checks.
      const result = await runScript(cluster, { unitTemplate: join(dir, 'nowhere.service') });

      // Assert
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('unit template ha-redis-bridge@.service not found');
    },
  );

  it('finds the template unit it embeds and accepts it (then stops: no node on this PATH)', async () => {
    // Arrange: a PATH with the tools the document and the script use before their node check, and no node.
    const bin = join(dir, 'bin-without-node');
    await mkdir(bin);
    for (const tool of ['bash', 'cat', 'dirname', 'grep', 'head', 'mktemp', 'rm', 'sed', 'tail']) {
      await symlink(
        existsSync(join('/usr/bin', tool)) ? join('/usr/bin', tool) : join('/bin', tool),
        join(bin, tool),
      );
    }

    // Act
    const result = await runDocument('orders', { PATH: bin });

    // Assert: past the template checks (found next to the script, placeholders and %i as expected).
    expect(result.stderr).toBe(
      "install-bridge: node 22 or later is required on this host and there is no 'node' on PATH; install Node.js 22+ and run again\n",
    );
  });

  it.each(['0', '65536', '99999'])(
    'refuses sentinel port %s, which the document pattern lets through, before it changes anything',
    async (sentinelPort) => {
      // Arrange
      const prefix = join(dir, `opt-${sentinelPort}`);
      expect(sentinelPort).toMatch(new RegExp(document.parameters.sentinelPort?.allowedPattern ?? '^$'));

      // Act
      const result = await runScript('orders', { sentinelPort, prefix });

      // Assert
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `install-bridge: --sentinel-port '${sentinelPort}' is not a port (1 to 65535)\n`,
      );
      expect(existsSync(prefix)).toBe(false);
    },
  );

  it.each([
    [
      'the single unit of an older install',
      'ExecStart=@NODE@ @BUNDLE@\nEnvironmentFile=@ENV_FILE@\n',
      'has an unknown placeholder: @BUNDLE@',
    ],
    [
      'a unit that never uses %i',
      'ExecStart=@NODE@ @PREFIX@/current/bridge.mjs\nEnvironmentFile=@ENV_DIR@/bridge.env\n',
      'is no template unit (it never uses %i)',
    ],
  ])('refuses %s as its unit template before it changes anything', async (what, text, message) => {
    // Arrange
    const name = what.replace(/[^a-z]+/g, '-');
    const unitTemplate = join(dir, `${name}.service`);
    const prefix = join(dir, `opt-${name}`);
    await writeFile(unitTemplate, `[Service]\n${text}`);

    // Act
    const result = await runScript('orders', { unitTemplate, prefix });

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `install-bridge: unit template ${unitTemplate} ${message}; it must be ha-redis-bridge@.service of this release\n`,
    );
    expect(existsSync(prefix)).toBe(false);
  });
});
