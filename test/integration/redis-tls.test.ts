// biome-ignore-all lint/suspicious/noExplicitAny: the test edits arbitrary fields of the example config's JSON
/**
 * TLS from ha-redis to a TLS-only Redis and Sentinel (`port 0`, `tls-port`, `tls-auth-clients yes`,
 * `tls-replication yes`, as the seed runs them), through the AWS composition's access (config `tls`, secrets
 * `tlsCa` and `redisClientCert`): Sentinel views, ROLE, INFO, a fence (REPLICAOF), the event bridge and the node
 * agent work with the CA and a client certificate; a wrong CA, a missing client certificate or a plain connection
 * are refused, the first two with an error that says what to fix.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecretSource } from '../../adapters/aws/secrets.ts';
import { type RedisAccess, RedisConnections } from '../../adapters/redis/connections.ts';
import { IoredisNodes } from '../../adapters/redis/redis-nodes.ts';
import { IoredisSentinelView } from '../../adapters/redis/sentinel-view.ts';
import { clusterAccess } from '../../compose/aws.ts';
import { parseDeploymentConfig } from '../../config/load.ts';
import type { DeploymentConfig, SecretRef } from '../../config/schema.ts';
import { decideMajority, observeSentinels } from '../../core/failover/confirm.ts';
import type { Endpoint } from '../../core/model/cluster.ts';
import type { Logger } from '../../core/ports.ts';
import { NodeAgent } from '../../events/agent/agent.ts';
import { SentinelBridge } from '../../events/bridge/bridge.ts';
import { freePorts, startDetached, waitForPort, waitUntil } from '../../local/processes.ts';
import { renderRedisConf, renderSentinelConf } from '../../local/render.ts';
import { generateTls, type LocalTls } from '../../local/tls.ts';
import { tlsSkipReason } from './tls-support.ts';

const skip = tlsSkipReason();
if (skip) console.warn(`SKIPPED redis-tls.test.ts: ${skip}`);

const run = promisify(execFile);
const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const MASTER_NAME = 'orders';

interface Setup {
  dir: string;
  tls: LocalTls;
  otherCa: string;
  password: string;
  nodes: Endpoint[];
  sentinels: Endpoint[];
  pids: number[];
}

/** A master and two more TLS-only nodes (the second replicates; the third stands alone), and 3 TLS-only Sentinels. */
async function startTlsCluster(): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'har-tls-'));
  const tls = await generateTls(dir, [], { redis: true });
  const otherDir = await mkdtemp(join(tmpdir(), 'har-tls-other-'));
  const otherCa = await readFile((await generateTls(otherDir)).caCertPath, 'utf8');
  await rm(otherDir, { recursive: true, force: true });
  const listener = {
    certPath: tls.redisCertPath as string,
    keyPath: tls.redisKeyPath as string,
    caPath: tls.caCertPath,
  };
  const password = `pw-${process.pid}-${Date.now()}`;
  const ports = await freePorts(6);
  const at = (port: number | undefined) => ({ host: '127.0.0.1', port: port as number });
  const nodes = ports.slice(0, 3).map(at);
  const sentinels = ports.slice(3).map(at);
  const pids: number[] = [];
  const start = async (program: string, name: string, conf: string, port: number) => {
    await mkdir(join(dir, name, 'data'), { recursive: true });
    const path = join(dir, name, `${program}.conf`);
    await writeFile(path, conf, { mode: 0o600 });
    pids.push(startDetached(program, [path], join(dir, name, 'stdout.log')));
    await waitForPort(port, 10_000, `${program} ${name}`);
  };
  for (const [i, node] of nodes.entries()) {
    const nodeDir = join(dir, `redis-${i}`);
    await start(
      'redis-server',
      `redis-${i}`,
      renderRedisConf({
        port: node.port,
        dir: nodeDir,
        password,
        minReplicasToWrite: 0,
        minReplicasMaxLag: 10,
        ...(i === 1 ? { replicaOf: nodes[0] as Endpoint } : {}),
        tls: listener,
      }),
      node.port,
    );
  }
  for (const [i, sentinel] of sentinels.entries()) {
    await start(
      'redis-sentinel',
      `sentinel-${i}`,
      renderSentinelConf({
        port: sentinel.port,
        dir: join(dir, `sentinel-${i}`),
        password,
        masterName: MASTER_NAME,
        master: nodes[0] as Endpoint,
        quorum: 2,
        downAfterMs: 5000,
        failoverTimeoutMs: 10_000,
        tls: listener,
      }),
      sentinel.port,
    );
  }
  return { dir, tls, otherCa, password, nodes, sentinels, pids };
}

/** The example config's cluster `orders`, on this test's TLS-only nodes and Sentinels, secrets by reference. */
async function tlsConfig(s: Setup, edit: (cluster: any) => void = () => {}): Promise<DeploymentConfig> {
  const json = JSON.parse(await readFile('config/example.json', 'utf8'));
  const orders = json.clusters[0];
  json.clusters = [orders];
  orders.nodes = s.nodes.map((n, i) => ({ ...orders.nodes[i], host: n.host, port: n.port }));
  orders.sentinels = s.sentinels.map((n, i) => ({ ...orders.sentinels[i], host: n.host, port: n.port }));
  orders.tls = { nodes: true, sentinels: true };
  orders.secrets = {
    redisPassword: { ssmParameter: '/t/password' },
    sentinelPassword: { ssmParameter: '/t/password' },
    tlsCa: { ssmParameter: '/t/ca' },
    redisClientCert: { ssmParameter: '/t/client' },
    haproxyApiClientCert: { ssmParameter: '/t/client' },
  };
  edit(orders);
  return parseDeploymentConfig(json, 'tls-test.json');
}

/** Secrets by reference, from this test's files; `ca` stands in for the CA's value when given. */
async function testSecrets(s: Setup, ca?: string): Promise<SecretSource> {
  const values: Record<string, string> = {
    '/t/password': s.password,
    '/t/ca': ca ?? (await readFile(s.tls.caCertPath, 'utf8')),
    '/t/client': await readFile(s.tls.clientPemPath, 'utf8'),
  };
  return {
    get: async (ref: SecretRef) => {
      const value = 'ssmParameter' in ref ? values[ref.ssmParameter] : undefined;
      if (value === undefined) throw new Error('no such test secret');
      return value;
    },
  };
}

describe.skipIf(skip !== undefined)('TLS to a TLS-only Redis and Sentinel', () => {
  let s: Setup;
  let connections: RedisConnections;
  let nodes: IoredisNodes;
  let view: IoredisSentinelView;
  const opened: RedisConnections[] = [];
  const pool = (access: RedisAccess) => {
    const made = new RedisConnections(access);
    opened.push(made);
    return made;
  };

  beforeAll(async () => {
    s = await startTlsCluster();
    connections = pool(clusterAccess(await tlsConfig(s), await testSecrets(s)));
    nodes = new IoredisNodes(connections);
    view = new IoredisSentinelView(connections);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()));
    for (const pid of s?.pids ?? []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (s) await rm(s.dir, { recursive: true, force: true });
  });

  it('reads the master and a majority view from TLS-only Sentinels, which find each other over TLS', async () => {
    // Arrange
    const config = await tlsConfig(s);
    const cluster = config.clusters[0];
    if (!cluster) throw new Error('config has the cluster');
    const sentinel = s.sentinels[0] as Endpoint;

    // Act: Sentinels learn of each other through hellos on the master, over their own TLS links.
    await waitUntil(
      async () => (await view.masterView(sentinel, MASTER_NAME, 1000)).numOtherSentinels === 2,
      20_000,
      'the Sentinels to find each other',
      200,
    );
    const answers = await observeSentinels(cluster, view);
    const decision = decideMajority(answers, cluster.sentinels.length);

    // Assert
    expect(answers.every((a) => a.ok)).toBe(true);
    expect(decision.agreed?.master).toEqual(s.nodes[0]);
    expect(await view.checkQuorum(sentinel, MASTER_NAME, 1000)).toBeUndefined();
    expect(await view.myId(sentinel, 1000)).toMatch(/^[0-9a-f]{40}$/);
  });

  it('reads ROLE, replication and INFO of TLS-only nodes, and fences a node with REPLICAOF over TLS', async () => {
    // Arrange
    const [master, replica, standalone] = s.nodes as [Endpoint, Endpoint, Endpoint];
    await waitUntil(
      async () => (await nodes.replication(replica, 1000)).linkUp === true,
      20_000,
      'TLS replication',
    );

    // Act
    const roles = await Promise.all(s.nodes.map((n) => nodes.role(n, 1000)));
    const before = await nodes.probeWrite(standalone, 1000);
    await nodes.replicaOf(standalone, master, 1000);
    await waitUntil(
      async () => (await nodes.replication(standalone, 1000)).linkUp === true,
      20_000,
      'the fenced node to replicate from the master over TLS',
    );
    const after = await nodes.probeWrite(standalone, 1000);
    const fenced = await nodes.replication(standalone, 1000);
    const onMaster = await nodes.replication(master, 1000);

    // Assert
    expect(roles).toEqual(['master', 'slave', 'master']);
    expect(before).toBe('accepted');
    expect(after).toBe('readonly');
    expect(fenced).toMatchObject({ role: 'slave', master, linkUp: true });
    expect((onMaster.replicas ?? []).map((r) => r.address.port).sort()).toEqual(
      [replica.port, standalone.port].sort(),
    );
    expect(await nodes.aofEnabled(master, 1000)).toBe(true);
  });

  it('subscribes the event bridge to a TLS-only Sentinel with the CA and a client certificate', async () => {
    // Arrange
    const client = await readFile(s.tls.clientPemPath, 'utf8');
    const bridge = new SentinelBridge({
      cluster: 'orders',
      sentinel: s.sentinels[1] as Endpoint,
      password: s.password,
      tls: { ca: await readFile(s.tls.caCertPath, 'utf8'), cert: client, key: client },
      publisher: { publish: async () => undefined },
      logger: silent,
    });

    // Act: SENTINEL SET (to the value it has) makes the Sentinel publish a `+set` event.
    try {
      await bridge.start();
      await connections.run('sentinel', s.sentinels[1] as Endpoint, 1000, (c) =>
        c.call('SENTINEL', 'SET', MASTER_NAME, 'down-after-milliseconds', '5000'),
      );
      await waitUntil(async () => bridge.stats.received > 0, 10_000, 'an event through the bridge');
    } finally {
      await bridge.stop();
    }

    // Assert
    expect(bridge.stats.received).toBeGreaterThan(0);
  });

  it('lets the node agent read a TLS-only node with the CA and a client certificate', async () => {
    // Arrange
    const client = await readFile(s.tls.clientPemPath, 'utf8');
    const agent = new NodeAgent({
      nodes: [{ cluster: 'orders', node: s.nodes[0] as Endpoint }],
      password: s.password,
      tls: { ca: await readFile(s.tls.caCertPath, 'utf8'), cert: client, key: client },
      publisher: { publish: async () => undefined },
      logger: silent,
    });

    // Act: ready once it has read the node's pid, role and offset (INFO) over its connection.
    try {
      agent.start();
      await waitUntil(async () => agent.ready(), 10_000, 'the agent to read the node');
    } finally {
      await agent.stop();
    }

    // Assert
    expect(agent.ready()).toBe(true);
    expect(agent.stats.closesWithoutExit).toBe(0);
  });

  it('refuses a node and a Sentinel whose certificate does not chain to the configured CA, saying what to fix', async () => {
    // Arrange
    const wrongCa = pool(clusterAccess(await tlsConfig(s), await testSecrets(s, s.otherCa)));

    // Act
    const node = await new IoredisNodes(wrongCa).role(s.nodes[0] as Endpoint, 1000).catch((e: Error) => e);
    const sentinel = await new IoredisSentinelView(wrongCa)
      .masterView(s.sentinels[0] as Endpoint, MASTER_NAME, 1000)
      .catch((e: Error) => e);

    // Assert
    for (const error of [node, sentinel]) {
      expect(error).toMatchObject({ name: 'UnreachableError' });
      expect(String((error as Error).message)).toMatch(
        /^TLS to (redis|sentinel) 127\.0\.0\.1:\d+ failed: .*certificate.*; its certificate does not chain to the configured CA: secrets\.tlsCa/,
      );
    }
  });

  it('checks the certificate against tls.servername when one is given: a name it carries passes, another is refused', async () => {
    // Arrange: the test certificate names DNS:localhost and IP:127.0.0.1.
    const secrets = await testSecrets(s);
    const named = async (servername: string) =>
      pool(clusterAccess(await tlsConfig(s, (orders) => (orders.tls.servername = servername)), secrets));

    // Act
    const carried = await new IoredisNodes(await named('localhost')).role(s.nodes[0] as Endpoint, 1000);
    const other = await new IoredisNodes(await named('redis.elsewhere.internal'))
      .role(s.nodes[0] as Endpoint, 1000)
      .catch((e: Error) => e);

    // Assert
    expect(carried).toBe('master');
    expect(other).toMatchObject({ name: 'UnreachableError' });
    expect(String((other as Error).message)).toMatch(
      /^TLS to redis 127\.0\.0\.1:\d+ failed: .*redis\.elsewhere\.internal.*; its certificate does not name the address connected to: .*tls\.servername/,
    );
  });

  it('is refused without a client certificate, and the error says to configure one', async () => {
    // Arrange: Redis' default, tls-auth-clients yes.
    const config = await tlsConfig(s, (orders) => delete orders.secrets.redisClientCert);
    const noCert = pool(clusterAccess(config, await testSecrets(s)));

    // Act
    const error = await new IoredisNodes(noCert).role(s.nodes[0] as Endpoint, 1000).catch((e: Error) => e);

    // Assert
    expect(error).toMatchObject({ name: 'UnreachableError' });
    expect(String((error as Error).message)).toMatch(
      // The server's alert (`certificate required`), or, when the reset comes first, what was not presented.
      /^TLS to redis 127\.0\.0\.1:\d+ failed: [^;]*certificate[^;]*; it wants a client certificate .*tls-auth-clients.*secrets\.redisClientCert/,
    );
  });

  it('keeps TLS and plain connections to one address apart', async () => {
    // Arrange: an access whose transport for the node can be switched between calls.
    const secrets = await testSecrets(s);
    const tlsAccess = clusterAccess(await tlsConfig(s), secrets);
    let transport: 'tls' | 'plain' = 'tls';
    const switching = pool({ ...tlsAccess, transport: () => transport });
    const master = s.nodes[0] as Endpoint;
    const role = () => new IoredisNodes(switching).role(master, 1000);

    // Act
    const overTls = await role();
    transport = 'plain';
    const overPlain = await role().catch((e: Error) => e);
    transport = 'tls';
    const overTlsAgain = await role();

    // Assert: the plain call did not reuse the pooled TLS connection, and the TLS one still serves.
    expect(overTls).toBe('master');
    expect(overPlain).toMatchObject({ name: 'UnreachableError' });
    expect(overTlsAgain).toBe('master');
  });
  it('runs the host scripts against a TLS-only node: fence-node applies REPLICAOF live, maintenance-action restarts it', async () => {
    // Arrange: the standalone node a master again; its config names its tls-port and certificates.
    const [master, , node] = s.nodes as [Endpoint, Endpoint, Endpoint];
    const config = join(s.dir, 'redis-2', 'redis-server.conf');
    await connections.run('redis', node, 1000, (c) => c.call('REPLICAOF', 'NO', 'ONE'));
    const script = (name: string, args: string[]) =>
      run('bash', [`infra/ssm/scripts/${name}.sh`, ...args]).then(
        ({ stdout }) => ({ code: 0, out: stdout }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      );

    // Act
    const fence = await script('fence-node', [
      ...['--config', config, '--master-addr', master.host, '--master-port', String(master.port)],
      ...['--node-port', String(node.port), '--epoch', '7'],
    ]);
    // A replica that has just resynced writes its initial AOF (begun as the sync ends), and Redis refuses
    // SHUTDOWN until it is written ("Writing initial AOF, can't exit").
    await waitUntil(
      async () => {
        if (!(await nodes.replication(node, 1000)).linkUp) return false;
        const persistence = await connections.run('redis', node, 1000, (c) => c.info('persistence'));
        return /aof_rewrite_in_progress:0/.test(persistence) && /aof_rewrite_scheduled:0/.test(persistence);
      },
      20_000,
      'the fenced node to write its initial AOF',
    );
    const restart = await script('maintenance-action', [
      ...['--config', config, '--node-port', String(node.port), '--action', 'restart', '--service', 'local'],
    ]);
    const pid = Number((await readFile(join(s.dir, 'redis-2', 'redis.pid'), 'utf8')).trim());
    if (pid) s.pids.push(pid);
    await waitUntil(
      async () => (await nodes.replication(node, 1000)).linkUp === true,
      20_000,
      'the restarted node to replicate from the master',
    );

    // Assert: both reached the node over TLS; it came back a replica, from the persisted replicaof.
    expect(fence, fence.out).toMatchObject({ code: 0 });
    expect(fence.out).toContain(`applied live: 127.0.0.1:${node.port} is now a replica of`);
    expect(restart, restart.out).toMatchObject({ code: 0 });
    expect(restart.out).toContain(`restarted 127.0.0.1:${node.port}: stopped pid`);
    expect(await nodes.replication(node, 1000)).toMatchObject({ role: 'slave', master, linkUp: true });
    expect(`${fence.out}${restart.out}`).not.toContain(s.password);
  });
});
