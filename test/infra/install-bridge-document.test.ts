import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argsOf } from '../../adapters/node-ops/operations.ts';
import { parseDeploymentConfig } from '../../config/load.ts';
import { parseBridgeClusters } from '../../events/bridge/masters.ts';
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

describe('install-bridge checks its parameters and unit template before it changes anything', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'har-install-bridge-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The document as the SSM agent runs it, the values substituted into its runCommand. */
  const runDocument = async (cluster: string, env?: NodeJS.ProcessEnv) => {
    const values: Record<string, string> = { ...OTHERS, cluster };
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
