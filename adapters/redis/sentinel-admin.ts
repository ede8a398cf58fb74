import type { Endpoint } from '../../core/model/cluster.ts';
import type { SentinelAdmin, SentinelKnowledge } from '../../core/move/ports.ts';
import type { RedisConnections } from './connections.ts';
import { fieldsOf } from './sentinel-view.ts';

/** Sentinel's admin commands through ioredis; the master's password comes from `password`, and is never logged. */
export class IoredisSentinelAdmin implements SentinelAdmin {
  private readonly connections: RedisConnections;
  private readonly password: () => Promise<string>;
  constructor(connections: RedisConnections, password: () => Promise<string>) {
    this.connections = connections;
    this.password = password;
  }

  private call(sentinel: Endpoint, timeoutMs: number, ...args: (string | number)[]): Promise<unknown> {
    return this.connections.run('sentinel', sentinel, timeoutMs, (c) => c.call('SENTINEL', ...args));
  }

  async knowledge(
    sentinel: Endpoint,
    masterName: string,
    timeoutMs: number,
  ): Promise<SentinelKnowledge | undefined> {
    let reply: unknown;
    try {
      reply = await this.call(sentinel, timeoutMs, 'MASTER', masterName);
    } catch (error) {
      if (error instanceof Error && /No such master/i.test(error.message)) return undefined;
      throw error;
    }
    const f = fieldsOf(reply);
    return {
      master: { host: f.get('ip') ?? '', port: Number(f.get('port')) },
      configEpoch: Number(f.get('config-epoch') ?? 0),
      failoverState: f.get('failover-state') ?? 'none',
      flags: (f.get('flags') ?? '').split(',').filter(Boolean),
      quorum: Number(f.get('quorum') ?? 0),
      otherSentinels: Number(f.get('num-other-sentinels') ?? 0),
      replicas: Number(f.get('num-slaves') ?? 0),
    };
  }

  async monitor(
    sentinel: Endpoint,
    masterName: string,
    master: Endpoint,
    settings: { quorum: number; downAfterMs: number; failoverTimeoutMs: number },
    timeoutMs: number,
  ): Promise<'added' | 'already'> {
    let added: 'added' | 'already' = 'added';
    try {
      await this.call(sentinel, timeoutMs, 'MONITOR', masterName, master.host, master.port, settings.quorum);
    } catch (error) {
      if (!(error instanceof Error && /Duplicated master name/i.test(error.message))) throw error;
      added = 'already';
    }
    await this.call(
      sentinel,
      timeoutMs,
      'SET',
      masterName,
      'auth-pass',
      await this.password(),
      'down-after-milliseconds',
      settings.downAfterMs,
      'failover-timeout',
      settings.failoverTimeoutMs,
      'parallel-syncs',
      1,
    );
    return added;
  }

  async setQuorum(sentinel: Endpoint, masterName: string, quorum: number, timeoutMs: number): Promise<void> {
    await this.call(sentinel, timeoutMs, 'SET', masterName, 'quorum', quorum);
  }

  async remove(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<'removed' | 'absent'> {
    try {
      await this.call(sentinel, timeoutMs, 'REMOVE', masterName);
      return 'removed';
    } catch (error) {
      if (error instanceof Error && /No such master/i.test(error.message)) return 'absent';
      throw error;
    }
  }

  async reset(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<void> {
    await this.call(sentinel, timeoutMs, 'RESET', masterName);
  }
}
