import type { Endpoint } from '../../core/model/cluster.ts';
import { HaRedisError } from '../../core/model/errors.ts';
import type { SentinelMasterView, SentinelView } from '../../core/ports.ts';
import type { RedisConnections } from './connections.ts';
import { parseInfo } from './redis-nodes.ts';

/** Turn Redis' flat `[field, value, ...]` reply into a map. */
export function fieldsOf(reply: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out.set(String(reply[i]), String(reply[i + 1]));
  return out;
}

/** The run id ha-redis names when it reads a Sentinel's vote (never cast: see vote()). */
const VOTE_READER = 'ha-redis-reads-the-vote';

/** `SENTINEL MASTER <name>` through ioredis. */
export class IoredisSentinelView implements SentinelView {
  private readonly connections: RedisConnections;
  private readonly ids = new Map<string, string>();
  constructor(connections: RedisConnections) {
    this.connections = connections;
  }

  async myId(sentinel: Endpoint, timeoutMs: number): Promise<string> {
    const key = `${sentinel.host}:${sentinel.port}`;
    const known = this.ids.get(key);
    if (known) return known; // a Sentinel keeps its id across restarts (it is in sentinel.conf)
    const id = String(
      await this.connections.run('sentinel', sentinel, timeoutMs, (c) => c.call('SENTINEL', 'MYID')),
    );
    this.ids.set(key, id);
    return id;
  }

  /**
   * `SENTINEL IS-MASTER-DOWN-BY-ADDR <ip> <port> 0 <runid>`, the question Sentinels ask each other for votes:
   * asked with epoch 0 it casts none (a vote needs an epoch newer than the master's last vote, sentinel.c
   * sentinelVoteLeader) and answers the vote it holds, `*` for none. Any run id but `*` asks for the vote.
   */
  async vote(
    sentinel: Endpoint,
    master: Endpoint,
    timeoutMs: number,
  ): Promise<{ leaderRunId: string; epoch: number } | undefined> {
    const reply = await this.connections.run('sentinel', sentinel, timeoutMs, (c) =>
      c.call('SENTINEL', 'IS-MASTER-DOWN-BY-ADDR', master.host, String(master.port), '0', VOTE_READER),
    );
    if (!Array.isArray(reply) || reply.length !== 3) {
      throw new HaRedisError(
        `Sentinel ${sentinel.host}:${sentinel.port} answered IS-MASTER-DOWN-BY-ADDR with ${JSON.stringify(reply)}`,
      );
    }
    const leader = String(reply[1]);
    const epoch = Number(reply[2]);
    return leader === '*' || !(epoch > 0) ? undefined : { leaderRunId: leader, epoch };
  }

  async checkQuorum(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<string | undefined> {
    try {
      await this.connections.run('sentinel', sentinel, timeoutMs, (c) =>
        c.call('SENTINEL', 'CKQUORUM', masterName),
      );
      return undefined;
    } catch (error) {
      if (error instanceof Error && error.name === 'UnreachableError') throw error;
      return error instanceof Error ? error.message : String(error);
    }
  }

  async replicasView(
    sentinel: Endpoint,
    masterName: string,
    timeoutMs: number,
  ): Promise<{ address: Endpoint; priority: number; flags: string[]; roleReported?: string }[]> {
    const reply = await this.connections.run('sentinel', sentinel, timeoutMs, (c) =>
      c.call('SENTINEL', 'REPLICAS', masterName),
    );
    return (Array.isArray(reply) ? reply : []).map((r) => {
      const f = fieldsOf(r);
      return {
        address: { host: f.get('ip') ?? '', port: Number(f.get('port')) },
        priority: Number(f.get('slave-priority') ?? 100),
        flags: (f.get('flags') ?? '').split(',').filter(Boolean),
        ...(f.get('role-reported') ? { roleReported: f.get('role-reported') as string } : {}),
      };
    });
  }

  async inTilt(sentinel: Endpoint, timeoutMs: number): Promise<boolean> {
    const text = await this.connections.run('sentinel', sentinel, timeoutMs, (c) => c.info('sentinel'));
    return parseInfo(text).get('sentinel_tilt') === '1';
  }

  async failover(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<'ok' | string> {
    try {
      await this.connections.run('sentinel', sentinel, timeoutMs, (c) =>
        c.call('SENTINEL', 'FAILOVER', masterName),
      );
      return 'ok';
    } catch (error) {
      if (error instanceof Error && error.name === 'UnreachableError') throw error;
      return error instanceof Error ? error.message : String(error);
    }
  }

  async masterView(sentinel: Endpoint, masterName: string, timeoutMs: number): Promise<SentinelMasterView> {
    const reply = await this.connections.run('sentinel', sentinel, timeoutMs, (c) =>
      c.call('SENTINEL', 'MASTER', masterName),
    );
    const f = fieldsOf(reply);
    const host = f.get('ip');
    const port = Number(f.get('port'));
    if (!host || !Number.isInteger(port)) {
      throw new HaRedisError(
        `Sentinel ${sentinel.host}:${sentinel.port} gave no address for master '${masterName}'`,
      );
    }
    return {
      sentinel,
      master: { host, port },
      configEpoch: Number(f.get('config-epoch') ?? 0),
      flags: (f.get('flags') ?? '').split(',').filter(Boolean),
      failoverState: f.get('failover-state') ?? 'none',
      numOtherSentinels: Number(f.get('num-other-sentinels') ?? 0),
      quorum: Number(f.get('quorum') ?? 0),
    };
  }
}
