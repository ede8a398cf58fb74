import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { type Endpoint, formatEndpoint, type ProxyConfig } from '../../core/model/cluster.ts';
import { VerificationError } from '../../core/model/errors.ts';
import type { ConnectProbe, RedisNodes, ReplicationInfo, Role, WriteProbe } from '../../core/ports.ts';
import { type RedisConnections, withTimeout } from './connections.ts';

/** Parse `INFO replication` text into its fields. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

/** A TCP connect and close: a reset is `refused`; no route to the host is `unreachable`; silence is `timeout`. */
export function probeConnect(node: Endpoint, timeoutMs: number): Promise<ConnectProbe> {
  return new Promise((resolve) => {
    const socket = connect({ host: node.host, port: node.port });
    const done = (result: ConnectProbe) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.once('connect', () => done('accepted'));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') done('refused');
      else if (['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN'].includes(error.code ?? '')) done('unreachable');
      else done('timeout');
    });
  });
}

/** Redis node administration through ioredis. */
export class IoredisNodes implements RedisNodes {
  private readonly connections: RedisConnections;
  constructor(connections: RedisConnections) {
    this.connections = connections;
  }

  async role(node: Endpoint, timeoutMs: number): Promise<Role> {
    const reply = await this.connections.run('redis', node, timeoutMs, (c) => c.call('ROLE'));
    const role = Array.isArray(reply) ? String(reply[0]) : '';
    return role === 'master' || role === 'slave' || role === 'sentinel' ? role : 'unknown';
  }

  async replication(node: Endpoint, timeoutMs: number): Promise<ReplicationInfo> {
    const text = await this.connections.run('redis', node, timeoutMs, (c) => c.info('replication'));
    const f = parseInfo(text);
    const role = f.get('role');
    if (role === 'master') {
      // slaveN:ip=127.0.0.1,port=6380,state=online,offset=123,lag=0
      const replicas = [...f.entries()]
        .filter(([k]) => /^slave\d+$/.test(k))
        .map(([, v]) => new Map(v.split(',').map((kv) => kv.split('=') as [string, string])))
        .map((m) => ({
          address: { host: m.get('ip') ?? '', port: Number(m.get('port')) },
          state: m.get('state') ?? 'unknown',
          offset: Number(m.get('offset') ?? 0),
        }));
      return { role, offset: Number(f.get('master_repl_offset') ?? 0), replicas };
    }
    const masterHost = f.get('master_host');
    return {
      role: role === 'slave' ? 'slave' : 'unknown',
      offset: Number(f.get('slave_repl_offset') ?? f.get('master_repl_offset') ?? 0),
      ...(masterHost ? { master: { host: masterHost, port: Number(f.get('master_port')) } } : {}),
      linkUp: f.get('master_link_status') === 'up',
      ...(f.has('master_link_down_since_seconds')
        ? { linkDownSinceSeconds: Number(f.get('master_link_down_since_seconds')) }
        : {}),
    };
  }

  probeConnect(node: Endpoint, timeoutMs: number): Promise<ConnectProbe> {
    return probeConnect(node, timeoutMs);
  }

  async replicaOf(
    node: Endpoint,
    master: Endpoint,
    timeoutMs: number,
    { persist = true }: { persist?: boolean } = {},
  ): Promise<void> {
    await this.connections.run('redis', node, timeoutMs, async (c) => {
      await c.call('REPLICAOF', master.host, String(master.port));
      if (persist) await c.call('CONFIG', 'REWRITE');
    });
  }

  async promoteSelected(node: Endpoint, timeoutMs: number): Promise<void> {
    await this.connections.run('redis', node, timeoutMs, (c) => c.call('REPLICAOF', 'NO', 'ONE'));
  }

  async pauseWrites(node: Endpoint, pauseMs: number, timeoutMs: number): Promise<void> {
    await this.connections.run('redis', node, timeoutMs, (c) =>
      c.call('CLIENT', 'PAUSE', String(pauseMs), 'WRITE'),
    );
  }

  async unpause(node: Endpoint, timeoutMs: number): Promise<void> {
    await this.connections.run('redis', node, timeoutMs, (c) => c.call('CLIENT', 'UNPAUSE'));
  }

  async replicaPriority(node: Endpoint, timeoutMs: number): Promise<number> {
    const reply = await this.connections.run('redis', node, timeoutMs, (c) =>
      c.call('CONFIG', 'GET', 'replica-priority'),
    );
    return Number((reply as unknown[])[1] ?? 100);
  }

  async setReplicaPriority(node: Endpoint, priority: number, timeoutMs: number): Promise<void> {
    await this.connections.run('redis', node, timeoutMs, (c) =>
      c.call('CONFIG', 'SET', 'replica-priority', String(priority)),
    );
  }

  async read(node: Endpoint, key: string, timeoutMs: number): Promise<string | null> {
    return this.connections.run('redis', node, timeoutMs, (c) => c.get(key));
  }

  async aofEnabled(node: Endpoint, timeoutMs: number): Promise<boolean> {
    const text = await this.connections.run('redis', node, timeoutMs, (c) => c.info('persistence'));
    return parseInfo(text).get('aof_enabled') === '1';
  }

  async probeWrite(node: Endpoint, timeoutMs: number): Promise<WriteProbe> {
    try {
      await this.connections.run('redis', node, timeoutMs, (c) =>
        c.set('ha-redis:fence-probe', String(Date.now()), 'PX', 10_000),
      );
      return 'accepted';
    } catch (error) {
      const message = error instanceof Error ? error.message : '';
      if (message.startsWith('READONLY')) return 'readonly';
      if (message.startsWith('NOREPLICAS')) return 'noreplicas';
      return 'error';
    }
  }

  async canaryThroughProxy(
    proxy: ProxyConfig,
    listener: 'plain' | 'tls',
    expectedMaster: Endpoint,
    timeoutMs: number,
  ): Promise<{ key: string; value: string }> {
    const port = listener === 'tls' ? proxy.tlsPort : proxy.plainPort;
    if (port === undefined) throw new VerificationError(`proxy ${proxy.id} has no ${listener} listener`);
    // A key of its own: concurrent verifications (a reaction and a switchover) must not read each other's canary.
    const value = randomUUID();
    const key = `ha-redis:canary:${proxy.id}:${listener}:${value}`;
    const client = await this.connections.open(
      listener === 'tls' ? 'proxy-tls' : 'proxy-plain',
      { host: proxy.host, port },
      timeoutMs,
    );
    client.on('error', () => undefined);
    try {
      await withTimeout(client.connect(), timeoutMs, `connect to proxy ${proxy.id}/${listener}`);
      await client.set(key, value, 'PX', 60_000);
    } finally {
      client.disconnect();
    }
    const seen = await this.connections.run('redis', expectedMaster, timeoutMs, (c) => c.get(key));
    if (seen !== value) {
      throw new VerificationError(
        `canary through ${proxy.id}/${listener} did not land on ${formatEndpoint(expectedMaster)}; check the proxy's routing`,
      );
    }
    return { key, value };
  }
}
