import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptPath } from '../../adapters/host/bash-node-ops.ts';
import { argsOf } from '../../adapters/node-ops/operations.ts';
import { bundleAgent } from '../../events/agent/bundle.ts';

/** install-agent on a stand-in host: temporary directories, a systemctl that records its calls. */

const run = promisify(execFile);
const SYSTEMD_ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
if (!SYSTEMD_ANALYZE)
  console.log('skipped: no systemd-analyze on this machine to verify the rendered unit with');

describe('install-agent into temporary directories with a stand-in systemctl', () => {
  let dir: string;
  let bundle: string;
  const me = userInfo().username;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'har-agent-'));
    bundle = (await bundleAgent(join(dir, 'build', 'agent.mjs'))).outfile;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh host: prefix, unit and env directories, and a systemctl that records its calls. */
  const host = async (name: string) => {
    const root = join(dir, name);
    const bin = join(root, 'bin');
    await mkdir(bin, { recursive: true });
    const systemctl = join(bin, 'systemctl');
    // is-active answers what `active` says (0: active); every other command succeeds.
    const isActive = `if [ "$1" = is-active ]; then exit "$(cat ${root}/active 2>/dev/null || echo 0)"; fi`;
    await writeFile(systemctl, `#!/usr/bin/env bash\necho "$*" >> ${root}/systemctl.log\n${isActive}\n`);
    await chmod(systemctl, 0o755);
    const dirs = { prefix: join(root, 'opt'), unitDir: join(root, 'systemd'), envDir: join(root, 'etc') };
    const flags = { ...dirs, systemctl, user: me, verifySeconds: '0' };
    return {
      root,
      bin,
      flags,
      calls: async () =>
        (await readFile(join(root, 'systemctl.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
      resetCalls: () => rm(join(root, 'systemctl.log'), { force: true }),
      setActive: (code: number) => writeFile(join(root, 'active'), String(code)),
      link: (name: string) => readlink(join(flags.prefix, name)).catch(() => undefined),
      bundleOf: (name: string) => readFile(join(flags.prefix, name, 'agent.mjs'), 'utf8'),
      /** The settings of the environment file, without comments. */
      env: async () =>
        (await readFile(join(flags.envDir, 'agent.env'), 'utf8'))
          .split('\n')
          .filter((l) => l && !l.startsWith('#')),
    };
  };
  type Host = Awaited<ReturnType<typeof host>>;
  const parameters = (b: string) => ({
    bundle: b,
    topicArn: 'arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events',
    nodes: 'carts=10.0.1.51:6379,payments=10.0.1.51:6380',
    passwordParameter: '/ha-redis/carts/redis-password',
  });
  type Outcome = { code: number; stdout: string; stderr: string };
  /** Run the script with node 22+ first on PATH (as the host must have it); `over` replaces parameters. */
  const install = (h: Host, b: string, over: Record<string, string> = {}, path?: string): Promise<Outcome> =>
    run('bash', [scriptPath('install-agent'), ...argsOf({ ...parameters(b), ...over, ...h.flags })], {
      env: { ...process.env, PATH: path ?? `${h.bin}:${dirname(process.execPath)}:${process.env.PATH}` },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (e: Outcome) => e,
    );
  const upgraded = async (name: string) => {
    const file = join(dir, `${name}.mjs`);
    await writeFile(file, `${await readFile(bundle, 'utf8')}\n// ${name}\n`);
    return file;
  };
  const UNIT = 'ha-redis-agent.service';
  const restarted = ['daemon-reload', `enable ${UNIT}`, `restart ${UNIT}`, `is-active --quiet ${UNIT}`];

  it('installs: release, current link, unit, environment file, enable --now', async () => {
    // Arrange
    const h = await host('install');

    // Act
    const result = await install(h, bundle);

    // Assert
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const current = await h.link('current');
    expect(current).toMatch(/^releases\/[0-9a-f]{16}$/);
    expect(await h.link('previous')).toBeUndefined();
    expect(await h.bundleOf('current')).toBe(await readFile(bundle, 'utf8'));
    expect(await readdir(h.flags.unitDir)).toEqual([UNIT]);
    const unit = await readFile(join(h.flags.unitDir, UNIT), 'utf8');
    expect(unit).toContain(`\nExecStart=${process.execPath} ${h.flags.prefix}/current/agent.mjs\n`);
    expect(unit).toContain(`\nUser=${me}\n`);
    expect(unit).toContain(`\nEnvironmentFile=${h.flags.envDir}/agent.env\n`);
    expect(unit).toContain('\nRuntimeDirectory=ha-redis-agent\n');
    expect(unit).not.toMatch(/@[A-Z_]+@/);
    expect(await readdir(h.flags.envDir)).toEqual(['agent.env']);
    expect(await h.env()).toEqual([
      'HA_REDIS_AGENT_NODES=carts=10.0.1.51:6379,payments=10.0.1.51:6380',
      'HA_REDIS_EVENTS_TOPIC_ARN=arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events',
      'HA_REDIS_NODE_PASSWORD_PARAMETER=/ha-redis/carts/redis-password',
      'AWS_REGION=eu-west-1',
      'AWS_DEFAULT_REGION=eu-west-1',
    ]);
    expect(await h.calls()).toEqual(['daemon-reload', `enable --now ${UNIT}`, `is-active --quiet ${UNIT}`]);
    expect(result.stdout).toBe(
      `installed ${UNIT}: release ${current?.slice(9)} (previous: none) under ${h.flags.prefix}; node ${process.version}; watching carts=10.0.1.51:6379,payments=10.0.1.51:6380; active\n`,
    );
  });

  it.skipIf(!SYSTEMD_ANALYZE)('renders a unit that systemd-analyze verify accepts', async () => {
    // Arrange: systemd-analyze wants the files the unit names to exist.
    const h = await host('verify');
    await install(h, bundle);

    // Act
    const result = await run(SYSTEMD_ANALYZE ?? 'systemd-analyze', [
      'verify',
      join(h.flags.unitDir, UNIT),
    ]).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (e: Outcome) => e,
    );

    // Assert
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('upgrades: keeps the previous release, restarts, and keeps only the last two releases', async () => {
    // Arrange: installed once.
    const h = await host('upgrade');
    await install(h, bundle);
    const first = await h.link('current');
    await h.resetCalls();

    // Act: upgrade twice.
    const second = await install(h, await upgraded('v2'));
    const afterSecond = { current: await h.link('current'), previous: await h.link('previous') };
    const callsOfSecond = await h.calls();
    const third = await install(h, await upgraded('v3'));

    // Assert
    expect([second.code, third.code]).toEqual([0, 0]);
    expect(afterSecond.previous).toBe(first);
    expect(afterSecond.current).not.toBe(first);
    expect(callsOfSecond).toEqual(restarted);
    expect(await h.link('previous')).toBe(afterSecond.current);
    expect(await h.bundleOf('current')).toMatch(/\/\/ v3\n$/);
    expect(await h.bundleOf('previous')).toMatch(/\/\/ v2\n$/);
    expect((await readdir(join(h.flags.prefix, 'releases'))).sort()).toEqual(
      [afterSecond.current, await h.link('current')].map((l) => l?.slice(9)).sort(),
    );
    expect(third.stdout).toContain(`upgraded ${UNIT}`);
  });

  it('restarts on the same release when the nodes change, ports written without leading zeros', async () => {
    // Arrange
    const h = await host('nodes');
    await install(h, bundle);
    const current = await h.link('current');
    await h.resetCalls();

    // Act: a third service on the host.
    const result = await install(h, bundle, {
      nodes: 'carts=10.0.1.51:6379,payments=10.0.1.51:6380,catalog=10.0.1.51:06381',
    });

    // Assert
    expect(result.code).toBe(0);
    expect(await h.link('current')).toBe(current);
    expect(await h.link('previous')).toBeUndefined();
    expect((await h.env())[0]).toBe(
      'HA_REDIS_AGENT_NODES=carts=10.0.1.51:6379,payments=10.0.1.51:6380,catalog=10.0.1.51:6381',
    );
    expect(await h.calls()).toEqual(restarted);
  });

  it('rolls back to the previous release when the upgraded service does not stay active', async () => {
    // Arrange
    const h = await host('rollback');
    await install(h, bundle);
    const good = await h.link('current');
    await h.setActive(3);
    await h.resetCalls();

    // Act
    const result = await install(h, await upgraded('broken'));

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^install-agent: release [0-9a-f]{16} did not stay active; rolled back to [0-9a-f]{16}; see journalctl -u ha-redis-agent\.service\n$/,
    );
    expect(await h.link('current')).toBe(good);
    expect((await h.calls()).at(-1)).toBe(`restart ${UNIT}`);
  });

  it('refuses a missing bundle and changes nothing', async () => {
    // Arrange
    const h = await host('missing');
    await install(h, bundle);
    const current = await h.link('current');
    await h.resetCalls();

    // Act
    const result = await install(h, join(dir, 'no-such-bundle.mjs'));

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `install-agent: bundle ${join(dir, 'no-such-bundle.mjs')} not found; nothing changed\n`,
    );
    expect(await h.link('current')).toBe(current);
    expect(await h.calls()).toEqual([]);
  });

  it('fetches an s3:// bundle with aws s3 cp', async () => {
    // Arrange: an aws stand-in that records its arguments and "downloads" the local bundle.
    const h = await host('s3');
    const aws = join(h.bin, 'aws');
    await writeFile(aws, `#!/usr/bin/env bash\necho "$*" > ${h.root}/aws.log\ncp ${bundle} "$5"\n`);
    await chmod(aws, 0o755);

    // Act
    const result = await install(h, 's3://cdk-assets-123456789012-eu-west-1/0a1b2c.mjs');

    // Assert
    expect(result.code).toBe(0);
    expect(await readFile(join(h.root, 'aws.log'), 'utf8')).toMatch(
      /^s3 cp --only-show-errors s3:\/\/cdk-assets-123456789012-eu-west-1\/0a1b2c\.mjs \S+\/agent\.mjs\n$/,
    );
    expect(await h.bundleOf('current')).toBe(await readFile(bundle, 'utf8'));
  });

  it('refuses a host whose node is older than 22', async () => {
    // Arrange: the only node on PATH says v20.
    const h = await host('old-node');
    const node = join(h.bin, 'node');
    await writeFile(node, '#!/usr/bin/env bash\necho v20.11.1\n');
    await chmod(node, 0o755);

    // Act
    const result = await install(h, bundle, {}, `${h.bin}:/usr/bin:/bin`);

    // Assert
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `install-agent: node 22 or later is required on this host; ${node} is v20.11.1; install Node.js 22+ and run again\n`,
    );
    expect(await h.calls()).toEqual([]);
    expect(existsSync(join(h.flags.prefix, 'current'))).toBe(false);
  });
});
