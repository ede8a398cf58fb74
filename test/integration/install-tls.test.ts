/**
 * install-bridge and install-agent with their TLS parameters, then the installed unit started as systemd starts
 * it (host-unit.ts): the service fetches the password, the CA and the client certificate from SSM (a stand-in aws
 * CLI) into its private runtime directory, reaches a real TLS-only redis-sentinel or redis-server
 * (`tls-auth-clients yes`) with them, and publishes to SNS (on loopback). Nothing secret is written elsewhere or
 * printed.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptPath } from '../../adapters/host/bash-node-ops.ts';
import { argsOf } from '../../adapters/node-ops/operations.ts';
import { bundleAgent } from '../../events/agent/bundle.ts';
import { bundleBridge } from '../../events/bridge/bundle.ts';
import { freePorts, isAlive, startDetached, waitForPort, waitUntil } from '../../local/processes.ts';
import { renderRedisConf, renderSentinelConf, type TlsListenerConf } from '../../local/render.ts';
import { generateTls } from '../../local/tls.ts';
import { fakeAws, fakeSns, type StartedUnit, startUnit } from './host-unit.ts';
import { tlsSkipReason } from './tls-support.ts';

const run = promisify(execFile);
const skip = tlsSkipReason();
if (skip) console.warn(`SKIPPED install-tls.test.ts: ${skip}`);

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ha-redis-sentinel-events';
type Outcome = { code: number; stdout: string; stderr: string };

describe.skipIf(skip !== undefined)(
  'install-bridge and install-agent with TLS parameters, started as their units run',
  () => {
    let dir: string;
    let bundles: { bridge: string; agent: string };
    let listener: TlsListenerConf;
    let ca: string;
    let client: string;
    const password = `pw-${process.pid}-${Date.now()}`;
    const cleanups: (() => void | Promise<void>)[] = [];

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'har-install-tls-'));
      bundles = {
        bridge: (await bundleBridge(join(dir, 'build', 'bridge.mjs'))).outfile,
        agent: (await bundleAgent(join(dir, 'build', 'agent.mjs'))).outfile,
      };
      await mkdir(join(dir, 'tls'));
      const tls = await generateTls(join(dir, 'tls'), [], { redis: true });
      listener = {
        certPath: tls.redisCertPath as string,
        keyPath: tls.redisKeyPath as string,
        caPath: tls.caCertPath,
      };
      ca = await readFile(tls.caCertPath, 'utf8');
      client = await readFile(tls.clientPemPath, 'utf8');
    }, 60_000);
    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
      await rm(dir, { recursive: true, force: true });
    });

    /**
     * A stand-in host: temporary directories, a systemctl that succeeds, an aws CLI that answers `parameters`, SNS
     * on loopback; `install` runs the script as the document does, `start` starts the unit it installed.
     */
    const host = async (name: string, parameters: Record<string, string>) => {
      const root = join(dir, name);
      const bin = join(root, 'bin');
      await mkdir(bin, { recursive: true });
      await writeFile(join(bin, 'systemctl'), '#!/usr/bin/env bash\nexit 0\n', { mode: 0o755 });
      const flags = {
        prefix: join(root, 'opt'),
        unitDir: join(root, 'systemd'),
        envDir: join(root, 'etc'),
        systemctl: join(bin, 'systemctl'),
        user: userInfo().username,
        verifySeconds: '0',
      };
      const aws = await fakeAws(bin, parameters);
      const sns = await fakeSns();
      cleanups.push(() => sns.close());
      return {
        root,
        flags,
        aws,
        sns,
        install: (
          script: 'install-bridge' | 'install-agent',
          values: Record<string, string>,
        ): Promise<Outcome> =>
          run('bash', [scriptPath(script), ...argsOf({ ...values, ...flags })], {
            env: { ...process.env, PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH}` },
          }).then(
            ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
            (e: Outcome) => e,
          ),
        start: async (unit: string, instance?: string) => {
          const started = await startUnit({
            unitFile: join(flags.unitDir, unit),
            ...(instance ? { instance } : {}),
            runRoot: join(root, 'run'),
            // The instance role's credentials; the AWS endpoints on loopback.
            baseEnv: {
              PATH: `${bin}:/usr/bin:/bin`,
              AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
              AWS_SECRET_ACCESS_KEY: 'not-a-secret',
              AWS_ENDPOINT_URL_SNS: sns.url,
              AWS_ENDPOINT_URL_CLOUDWATCH: sns.url,
            },
          });
          cleanups.push(() => started.stop());
          return started;
        },
        envFile: async (file: string) =>
          (await readFile(join(flags.envDir, file), 'utf8'))
            .split('\n')
            .filter((l) => l && !l.startsWith('#')),
      };
    };

    /** A TLS-only redis-server or redis-sentinel of this test, killed at the end. */
    const startServer = async (
      program: 'redis-server' | 'redis-sentinel',
      root: string,
      conf: string,
      port: number,
    ) => {
      const path = join(root, `${program}.conf`);
      await writeFile(path, conf, { mode: 0o600 });
      const pid = startDetached(program, [path], join(root, `${program}.log`));
      cleanups.push(() => {
        if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      });
      await waitForPort(port, 10_000, `the TLS-only ${program}`);
      return pid;
    };

    /** A client of this test to a TLS-only server, with the same CA and client certificate. */
    const tlsClient = (port: number) => {
      const redis = new Redis({
        host: '127.0.0.1',
        port,
        password,
        tls: { ca, cert: client, key: client, rejectUnauthorized: true },
        lazyConnect: true,
        retryStrategy: () => null,
      });
      redis.on('error', () => undefined);
      cleanups.push(() => redis.disconnect());
      return redis;
    };

    /**
     * What every TLS install must show: each parameter read with decryption at start, into the private runtime
     * directory (0700, files 0600); and no secret in the install's output, the environment file or the service's log.
     */
    const expectFetchedPrivately = async (
      h: Awaited<ReturnType<typeof host>>,
      unit: StartedUnit,
      fetched: { parameters: string[]; files: Record<string, string> },
      shown: string[],
    ) => {
      expect(await h.aws.calls()).toEqual(
        fetched.parameters.map(
          (name) =>
            `ssm get-parameter --with-decryption --name ${name} --query Parameter.Value --output text`,
        ),
      );
      expect(((await stat(unit.runtimeDir)).mode & 0o777).toString(8)).toBe('700');
      for (const [file, value] of Object.entries(fetched.files)) {
        expect(((await stat(join(unit.runtimeDir, file))).mode & 0o777).toString(8), file).toBe('600');
        // As `aws ... --output text` prints it: the value and a newline.
        expect(await readFile(join(unit.runtimeDir, file), 'utf8'), file).toBe(`${value}\n`);
      }
      const seen = [...shown, unit.output()].join('\n');
      expect(seen).not.toContain(password);
      expect(seen).not.toContain('PRIVATE KEY');
      expect(seen).not.toContain('BEGIN CERTIFICATE');
    };

    it("installs a bridge that fetches the CA and client certificate at each start and forwards a TLS-only Sentinel's events", async () => {
      // Arrange: a TLS-only Sentinel monitoring a master that is not running (no node needed); SSM holds the
      // password, the CA and the client PEM (a Secrets Manager secret through SSM's reference path).
      const parameters = {
        '/ha-redis/orders/sentinel-password': password,
        '/ha-redis/orders/tls-ca': ca,
        '/aws/reference/secretsmanager/ha-redis/orders/redis-client': client,
      };
      const h = await host('bridge', parameters);
      const [sentinelPort, masterPort] = (await freePorts(2)) as [number, number];
      const port = String(sentinelPort);
      await mkdir(h.root, { recursive: true });
      const sentinelConf = renderSentinelConf({
        port: sentinelPort,
        dir: h.root,
        password,
        masterName: 'orders',
        master: { host: '127.0.0.1', port: masterPort },
        quorum: 1,
        downAfterMs: 60_000,
        failoverTimeoutMs: 60_000,
        tls: listener,
      });
      await startServer('redis-sentinel', h.root, sentinelConf, sentinelPort);

      // Act: install; start the instance as systemd does; a master newly monitored makes the Sentinel publish.
      const result = await h.install('install-bridge', {
        bundle: bundles.bridge,
        topicArn: TOPIC,
        cluster: 'orders',
        sentinelHost: '127.0.0.1',
        sentinelPort: port,
        passwordParameter: '/ha-redis/orders/sentinel-password',
        tlsCaParameter: '/ha-redis/orders/tls-ca',
        tlsClientCertParameter: '/aws/reference/secretsmanager/ha-redis/orders/redis-client',
      });
      const unit = await h.start('ha-redis-bridge@.service', port);
      await waitUntil(
        async () => unit.output().includes('subscribed to sentinel'),
        10_000,
        'the bridge to subscribe',
      );
      const sentinel = tlsClient(sentinelPort);
      await sentinel.connect();
      await sentinel.call('SENTINEL', 'MONITOR', 'extra', '127.0.0.1', String(masterPort), '1');
      await waitUntil(async () => h.sns.published.length > 0, 10_000, 'the +monitor event on SNS');

      // Assert: the install names where to fetch the material and where the bridge reads it, never the material.
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`sentinel 127\\.0\\.0\\.1:${port} over TLS; active\\n$`));
      const runtime = `/run/ha-redis-bridge-${port}`;
      expect((await h.envFile(`bridge-${port}.env`)).slice(-5)).toEqual([
        'HA_REDIS_SENTINEL_TLS_CA_PARAMETER=/ha-redis/orders/tls-ca',
        `HA_REDIS_SENTINEL_TLS_CA_FILE=${runtime}/tls-ca.pem`,
        'HA_REDIS_SENTINEL_TLS_CLIENT_CERT_PARAMETER=/aws/reference/secretsmanager/ha-redis/orders/redis-client',
        `HA_REDIS_SENTINEL_TLS_CERT_FILE=${runtime}/tls-client.pem`,
        `HA_REDIS_SENTINEL_TLS_KEY_FILE=${runtime}/tls-client.pem`,
      ]);
      const files = { 'sentinel-password': password, 'tls-ca.pem': ca, 'tls-client.pem': client };
      await expectFetchedPrivately(h, unit, { parameters: Object.keys(parameters), files }, [
        result.stdout,
        result.stderr,
        await readFile(join(h.flags.envDir, `bridge-${port}.env`), 'utf8'),
      ]);
      // The bridge reached the Sentinel over TLS with that material, and forwarded its event.
      const [published] = h.sns.published;
      expect(published?.topicArn).toBe(TOPIC);
      expect(JSON.parse(published?.message ?? '{}')).toMatchObject({
        cluster: 'orders',
        sentinel: { host: '127.0.0.1', port: sentinelPort },
        channel: '+monitor',
      });
    }, 60_000);

    it('installs an agent that fetches the CA and client certificate at each start and reports the exit of a TLS-only node', async () => {
      // Arrange: a TLS-only redis-server; SSM holds the password, the CA (a Secrets Manager secret through SSM's
      // reference path) and the client PEM.
      const parameters = {
        '/ha-redis/orders/redis-password': password,
        '/aws/reference/secretsmanager/ha-redis/orders/tls-ca': ca,
        '/ha-redis/orders/redis-client': client,
      };
      const h = await host('agent', parameters);
      const [nodePort] = (await freePorts(1)) as [number];
      await mkdir(join(h.root, 'data'), { recursive: true });
      const redisConf = renderRedisConf({
        port: nodePort,
        dir: h.root,
        password,
        minReplicasToWrite: 0,
        minReplicasMaxLag: 10,
        tls: listener,
      });
      const nodePid = await startServer('redis-server', h.root, redisConf, nodePort);

      // Act: install; start the service as systemd does; once the agent has read the node, the node dies.
      const result = await h.install('install-agent', {
        bundle: bundles.agent,
        topicArn: TOPIC,
        nodes: `orders=127.0.0.1:${nodePort}`,
        passwordParameter: '/ha-redis/orders/redis-password',
        tlsCaParameter: '/aws/reference/secretsmanager/ha-redis/orders/tls-ca',
        tlsClientCertParameter: '/ha-redis/orders/redis-client',
      });
      const unit = await h.start('ha-redis-agent.service');
      const node = tlsClient(nodePort);
      await node.connect();
      // The agent's connection: another client than this one (CLIENT LIST), which has read INFO.
      await waitUntil(
        async () => / cmd=info /.test(String(await node.call('CLIENT', 'LIST'))),
        10_000,
        'the agent to read the TLS-only node',
      );
      node.disconnect();
      process.kill(nodePid, 'SIGKILL');
      await waitUntil(async () => h.sns.published.length > 0, 10_000, 'the node-exited event on SNS');

      // Assert: the install names where to fetch the material and where the agent reads it, never the material.
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/ over TLS; active\n$/);
      expect((await h.envFile('agent.env')).slice(-5)).toEqual([
        'HA_REDIS_NODE_TLS_CA_PARAMETER=/aws/reference/secretsmanager/ha-redis/orders/tls-ca',
        'HA_REDIS_NODE_TLS_CA_FILE=/run/ha-redis-agent/tls-ca.pem',
        'HA_REDIS_NODE_TLS_CLIENT_CERT_PARAMETER=/ha-redis/orders/redis-client',
        'HA_REDIS_NODE_TLS_CERT_FILE=/run/ha-redis-agent/tls-client.pem',
        'HA_REDIS_NODE_TLS_KEY_FILE=/run/ha-redis-agent/tls-client.pem',
      ]);
      const files = { 'node-password': password, 'tls-ca.pem': ca, 'tls-client.pem': client };
      await expectFetchedPrivately(h, unit, { parameters: Object.keys(parameters), files }, [
        result.stdout,
        result.stderr,
        await readFile(join(h.flags.envDir, 'agent.env'), 'utf8'),
      ]);
      // The agent read the node over TLS with that material, and published its exit.
      const [published] = h.sns.published;
      expect(published?.topicArn).toBe(TOPIC);
      expect(JSON.parse(published?.message ?? '{}')).toMatchObject({
        type: 'node-exited',
        cluster: 'orders',
        node: { host: '127.0.0.1', port: nodePort },
      });
    }, 60_000);

    it('installs without TLS parameters as before: no TLS settings, nothing fetched but the password', async () => {
      // Arrange
      const h = await host('plain', { '/ha-redis/orders/redis-password': password });
      const [idlePort] = (await freePorts(1)) as [number];

      // Act: the document's defaults, empty.
      const result = await h.install('install-agent', {
        bundle: bundles.agent,
        topicArn: TOPIC,
        nodes: `orders=127.0.0.1:${idlePort}`,
        passwordParameter: '/ha-redis/orders/redis-password',
        tlsCaParameter: '',
        tlsClientCertParameter: '',
      });
      const unit = await h.start('ha-redis-agent.service');

      // Assert
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`watching orders=127\\.0\\.0\\.1:${idlePort}; active\\n$`));
      expect((await h.envFile('agent.env')).filter((l) => l.includes('TLS'))).toEqual([]);
      expect(Object.keys(unit.env).filter((k) => k.includes('TLS'))).toEqual([]);
      await expectFetchedPrivately(
        h,
        unit,
        { parameters: ['/ha-redis/orders/redis-password'], files: { 'node-password': password } },
        [result.stdout, result.stderr],
      );
    }, 60_000);
  },
);
