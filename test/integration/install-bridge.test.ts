import { execFile } from 'node:child_process';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptPath } from '../../adapters/host/bash-node-ops.ts';
import { argsOf } from '../../adapters/node-ops/operations.ts';
import { bundleBridge } from '../../events/bridge/bundle.ts';

const run = promisify(execFile);
// systemd does not run on this machine (no PID 1 systemd in the container): a recording stand-in takes the
// place of systemctl, and the unit, environment files and releases go to temporary directories.
describe('install-bridge into temporary directories with a stand-in systemctl', () => {
  let dir: string;
  let bundle: string;
  const me = userInfo().username;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'har-bridge-'));
    bundle = (await bundleBridge(join(dir, 'build', 'bridge.mjs'))).outfile;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The lines of an environment file, without comments. */
  const settings = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('#'));
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
      /** `current` or `previous` of the instance of a Sentinel port. */
      link: (name: string, port = '26379') => readlink(join(flags.prefix, port, name)).catch(() => undefined),
      /** The bundle of that link. */
      bundleOf: (name: string, port = '26379') =>
        readFile(join(flags.prefix, port, name, 'bridge.mjs'), 'utf8'),
      /** The settings of an instance's environment file. */
      env: (port = '26379') => readFile(join(flags.envDir, `bridge-${port}.env`), 'utf8').then(settings),
    };
  };
  type Host = Awaited<ReturnType<typeof host>>;
  const parameters = (b: string) => ({
    bundle: b,
    topicArn: 'arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events',
    cluster: 'orders',
    sentinelHost: '10.0.1.10',
    sentinelPort: '26379',
    passwordParameter: '/ha-redis/orders/sentinel-password',
  });
  type Outcome = { code: number; stdout: string; stderr: string };
  const ok = ({ stdout, stderr }: { stdout: string; stderr: string }): Outcome => ({
    code: 0,
    stdout,
    stderr,
  });
  /** Run the script with node 22+ first on PATH (as the host must have it); `over` replaces parameters. */
  const install = (h: Host, b: string, over: Record<string, string> = {}, path?: string): Promise<Outcome> =>
    run('bash', [scriptPath('install-bridge'), ...argsOf({ ...parameters(b), ...over, ...h.flags })], {
      env: { ...process.env, PATH: path ?? `${h.bin}:${dirname(process.execPath)}:${process.env.PATH}` },
    }).then(ok, (e: Outcome) => e);
  const upgraded = async (name: string) => {
    const file = join(dir, `${name}.mjs`);
    await writeFile(file, `${await readFile(bundle, 'utf8')}\n// ${name}\n`);
    return file;
  };
  const exists = async (path: string) => (await lstat(path).catch(() => undefined)) !== undefined;
  /** The systemctl calls of a first install of the instance of `port`, and of an upgrade. */
  const started = (port: string) => [
    'daemon-reload',
    `enable --now ha-redis-bridge@${port}.service`,
    `is-active --quiet ha-redis-bridge@${port}.service`,
  ];
  const restarted = (port: string) =>
    ['daemon-reload', 'enable', 'restart', 'is-active --quiet'].map((c, i) =>
      i === 0 ? c : `${c} ha-redis-bridge@${port}.service`,
    );

  it.each([
    { cluster: 'orders', sentinelPort: '26379' },
    { cluster: 'carts=carts,payments-master=payments', sentinelPort: '26300' },
  ])(
    'installs for cluster $cluster on port $sentinelPort: release, links, unit, env file, enable --now',
    async (over) => {
      // Arrange
      const h = await host(`install-${over.sentinelPort}`);
      const unit = `ha-redis-bridge@${over.sentinelPort}.service`;

      // Act
      const result = await install(h, bundle, over);

      // Assert
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const current = await h.link('current', over.sentinelPort);
      expect(current).toMatch(/^releases\/[0-9a-f]{16}$/);
      expect(await h.link('previous', over.sentinelPort)).toBeUndefined();
      expect(await h.bundleOf('current', over.sentinelPort)).toBe(await readFile(bundle, 'utf8'));
      expect(await readdir(h.flags.unitDir)).toEqual(['ha-redis-bridge@.service']);
      const template = await readFile(join(h.flags.unitDir, 'ha-redis-bridge@.service'), 'utf8');
      expect(template).toContain(`\nExecStart=${process.execPath} ${h.flags.prefix}/%i/current/bridge.mjs\n`);
      expect(template).toContain(`\nUser=${me}\n`);
      expect(template).toContain(`\nEnvironmentFile=${h.flags.envDir}/bridge-%i.env\n`);
      expect(template).toContain('\nRuntimeDirectory=ha-redis-bridge-%i\n');
      expect(template).not.toMatch(/@[A-Z_]+@/);
      expect(await readdir(h.flags.envDir)).toEqual([`bridge-${over.sentinelPort}.env`]);
      expect(await h.env(over.sentinelPort)).toEqual([
        `HA_REDIS_CLUSTER=${over.cluster}`,
        `HA_REDIS_SENTINEL=10.0.1.10:${over.sentinelPort}`,
        'HA_REDIS_EVENTS_TOPIC_ARN=arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events',
        'HA_REDIS_SENTINEL_PASSWORD_PARAMETER=/ha-redis/orders/sentinel-password',
        'AWS_REGION=eu-west-1',
        'AWS_DEFAULT_REGION=eu-west-1',
      ]);
      expect(await h.calls()).toEqual(started(over.sentinelPort));
      expect(result.stdout).toBe(
        `installed ${unit}: release ${current?.slice(9)} (previous: none) under ${h.flags.prefix}/${over.sentinelPort}; node ${process.version}; cluster ${over.cluster}, sentinel 10.0.1.10:${over.sentinelPort}; active\n`,
      );
    },
  );

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
    expect(callsOfSecond).toEqual(restarted('26379'));
    expect(await h.link('previous')).toBe(afterSecond.current);
    expect(await h.bundleOf('current')).toMatch(/\/\/ v3\n$/);
    expect(await h.bundleOf('previous')).toMatch(/\/\/ v2\n$/);
    expect((await readdir(join(h.flags.prefix, '26379', 'releases'))).sort()).toEqual(
      [afterSecond.current, await h.link('current')].map((l) => l?.slice(9)).sort(),
    );
    expect(third.stdout).toContain('upgraded ha-redis-bridge@26379.service');
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
      /did not stay active; rolled back to [0-9a-f]{16}; see journalctl -u ha-redis-bridge@26379\.service\n$/,
    );
    expect(await h.link('current')).toBe(good);
    expect((await h.calls()).at(-1)).toBe('restart ha-redis-bridge@26379.service');
  });

  it('gives each Sentinel of a host its own instance: installing or upgrading one leaves the others as they are', async () => {
    // Arrange: the bridge of the Sentinel on 26379 is installed.
    const h = await host('per-service');
    await install(h, bundle);
    const first = await h.link('current');
    await h.resetCalls();
    const payments = { cluster: 'payments', sentinelPort: '26380' };

    // Act: the bridge of the Sentinel on 26380, installed, then upgraded.
    const installed = await install(h, await upgraded('p1'), payments);
    const callsOfInstall = await h.calls();
    await h.resetCalls();
    const upgrade = await install(h, await upgraded('p2'), payments);

    // Assert: two instances with their own environment files and releases, one template unit.
    expect([installed.code, upgrade.code]).toEqual([0, 0]);
    expect(callsOfInstall).toEqual(started('26380'));
    expect(await h.calls()).toEqual(restarted('26380'));
    expect(await readdir(h.flags.unitDir)).toEqual(['ha-redis-bridge@.service']);
    expect((await readdir(h.flags.envDir)).sort()).toEqual(['bridge-26379.env', 'bridge-26380.env']);
    expect(await h.env('26379')).toContain('HA_REDIS_CLUSTER=orders');
    expect(await h.env('26380')).toEqual(
      expect.arrayContaining(['HA_REDIS_CLUSTER=payments', 'HA_REDIS_SENTINEL=10.0.1.10:26380']),
    );
    expect([await h.link('current'), await h.link('previous')]).toEqual([first, undefined]);
    expect(await h.bundleOf('current')).toBe(await readFile(bundle, 'utf8'));
    expect(await h.bundleOf('current', '26380')).toMatch(/\/\/ p2\n$/);
    expect(await h.bundleOf('previous', '26380')).toMatch(/\/\/ p1\n$/);
  });

  describe('an older install: one ha-redis-bridge.service per host', () => {
    /** What the older install-bridge left, bridging the Sentinel on `port`. */
    const legacyInstall = async (h: Host, port: string) => {
      const legacy = {
        unit: join(h.flags.unitDir, 'ha-redis-bridge.service'),
        env: join(h.flags.envDir, 'bridge.env'),
        releases: join(h.flags.prefix, 'releases'),
        current: join(h.flags.prefix, 'current'),
      };
      await mkdir(join(legacy.releases, '0123456789abcdef'), { recursive: true });
      await writeFile(join(legacy.releases, '0123456789abcdef', 'bridge.mjs'), await readFile(bundle));
      await symlink('releases/0123456789abcdef', legacy.current);
      await mkdir(h.flags.unitDir);
      await mkdir(h.flags.envDir);
      await writeFile(legacy.unit, `[Service]\nExecStart=node ${legacy.current}/bridge.mjs\n`);
      await writeFile(legacy.env, `HA_REDIS_CLUSTER=payments\nHA_REDIS_SENTINEL=10.0.1.10:${port}\n`);
      return legacy;
    };

    it('is left alone by an install for another port, kept when its replacement fails, then migrated', async () => {
      // Arrange: the older unit bridges the Sentinel on 26380.
      const h = await host('legacy');
      const legacy = await legacyInstall(h, '26380');
      const own = { cluster: 'payments', sentinelPort: '26380' };
      const present = () => Promise.all(Object.values(legacy).map(exists));

      // Act: an install for 26379; one for 26380 whose instance does not stay active; the same, active.
      const other = await install(h, bundle);
      const afterOther = [await h.calls(), await present()];
      await h.resetCalls();
      await h.setActive(3);
      const failed = await install(h, bundle, own);
      const afterFailed = [await h.calls(), await present()];
      await h.resetCalls();
      await h.setActive(0);
      const migrated = await install(h, bundle, own);

      // Assert: left alone, and said so.
      expect(other.code).toBe(0);
      expect(afterOther).toEqual([started('26379'), [true, true, true, true]]);
      expect(other.stdout).toContain(
        'left ha-redis-bridge.service of an older install as it is (sentinel 10.0.1.10:26380); install the bridge for that',
      );
      // The failed instance is stopped and disabled again; the old unit neither stopped nor removed.
      expect(failed.code).toBe(2);
      expect(failed.stderr).toMatch(
        /@26380\.service did not stay active with release [0-9a-f]{16}; stopped and disabled it again; ha-redis-bridge\.service still runs unchanged for 10\.0\.1\.10:26380;/,
      );
      const stopped = [...started('26380'), 'disable --now ha-redis-bridge@26380.service'];
      expect(afterFailed).toEqual([stopped, [true, true, true, true]]);
      // Migrated: the instance (re)started first, then the old unit stopped, its files and releases removed.
      expect(migrated.code).toBe(0);
      const retired = ['disable --now ha-redis-bridge.service', 'daemon-reload'];
      expect(await h.calls()).toEqual([...restarted('26380'), ...retired]);
      expect(await present()).toEqual([false, false, false, false]);
      expect((await readdir(h.flags.prefix)).sort()).toEqual(['26379', '26380']);
      expect((await readdir(h.flags.envDir)).sort()).toEqual(['bridge-26379.env', 'bridge-26380.env']);
      expect(migrated.stdout).toContain(
        'migrated ha-redis-bridge.service (sentinel 10.0.1.10:26380) to ha-redis-bridge@26380.service',
      );
    });
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
      `install-bridge: bundle ${join(dir, 'no-such-bundle.mjs')} not found; nothing changed\n`,
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
      /^s3 cp --only-show-errors s3:\/\/cdk-assets-123456789012-eu-west-1\/0a1b2c\.mjs \S+\/bridge\.mjs\n$/,
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
      `install-bridge: node 22 or later is required on this host; ${node} is v20.11.1; install Node.js 22+ and run again\n`,
    );
    expect(await h.calls()).toEqual([]);
  });
});
