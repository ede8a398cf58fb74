import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import type { Endpoint } from '../core/model/cluster.ts';

/** How writers connect: through a proxy (plain or TLS), or as a Sentinel-aware client. */
export type LoadTarget =
  | { kind: 'direct'; endpoint: Endpoint; tlsCa?: string }
  | { kind: 'sentinel'; sentinels: Endpoint[]; masterName: string };

export interface LoadOptions {
  target: LoadTarget;
  password: string;
  writers?: number;
  /** Pause between a failed write and the next try. */
  retryDelayMs?: number;
  keyPrefix?: string;
  /**
   * Count a write as acknowledged only once `WAIT <n>` says n replicas have it (0: the SET reply is the ack).
   * Replication is asynchronous: a kill -9 can lose writes the master acknowledged microseconds before it died.
   */
  ackReplicas?: number;
  /** Bytes per value (0: the write's sequence number, a few bytes). */
  valueBytes?: number;
  /** SETs each writer sends at once before it reads their replies (1: one at a time). */
  pipeline?: number;
}

/** One SET of a writer. */
interface Write {
  key: string;
  value: string;
}

/** A stretch of time with no acknowledged write from any writer. */
export interface WriteGap {
  from: number;
  to: number;
  ms: number;
}

export interface LoadReport {
  acked: number;
  failed: number;
  /** Gaps longer than `minGapMs`, longest first. */
  gaps: WriteGap[];
  maxGapMs: number;
  ackedKeys: string[];
  /** When each of `ackedKeys` was acknowledged (epoch ms), index for index. */
  ackedAt: number[];
}

/**
 * A steady write load: N writers, each doing SET one new key at a time and counting acknowledgements.
 * Every acknowledged key can later be checked against the final master (`countLost`).
 */
export class WriteLoad {
  private readonly options: Required<Omit<LoadOptions, 'target' | 'password'>> &
    Pick<LoadOptions, 'target' | 'password'>;
  private running = false;
  private readonly clients: Redis[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly ackTimes: number[] = [];
  private readonly ackedKeys: string[] = [];
  private failed = 0;

  constructor(options: LoadOptions) {
    this.options = {
      writers: 4,
      retryDelayMs: 5,
      keyPrefix: `load:${Date.now()}`,
      ackReplicas: 0,
      valueBytes: 0,
      pipeline: 1,
      ...options,
    };
    const { writers, pipeline, valueBytes } = this.options;
    for (const [name, n, min] of [
      ['writers', writers, 1],
      ['pipeline', pipeline, 1],
      ['valueBytes', valueBytes, 0],
    ] as const) {
      if (!Number.isInteger(n) || n < min)
        throw new Error(`write load: ${name} must be an integer >= ${min}, got ${n}`);
    }
  }

  start(): void {
    this.running = true;
    for (let w = 0; w < this.options.writers; w += 1) {
      const client = new Redis(this.clientOptions());
      client.on('error', () => undefined);
      this.clients.push(client);
      this.loops.push(this.writer(client, w));
    }
  }

  /** Wait until at least `n` writes have been acknowledged. */
  async waitForAcks(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.ackedKeys.length < n) {
      if (Date.now() > deadline)
        throw new Error(`only ${this.ackedKeys.length} of ${n} writes acknowledged in ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  get ackCount(): number {
    return this.ackedKeys.length;
  }

  /**
   * Drop every writer's connection and connect again, as a client pool's churn does: a proxy or a Sentinel-aware
   * client then picks the master anew. A write in flight fails and is retried.
   */
  reconnect(): void {
    for (const c of this.clients) c.disconnect(true);
  }

  async stop(minGapMs = 100): Promise<LoadReport> {
    this.running = false;
    await Promise.all(this.loops);
    for (const c of this.clients) c.disconnect();
    const times = [...this.ackTimes].sort((a, b) => a - b);
    const gaps: WriteGap[] = [];
    for (let i = 1; i < times.length; i += 1) {
      const from = times[i - 1] as number;
      const to = times[i] as number;
      if (to - from >= minGapMs) gaps.push({ from, to, ms: to - from });
    }
    gaps.sort((a, b) => b.ms - a.ms);
    return {
      acked: this.ackedKeys.length,
      failed: this.failed,
      gaps,
      maxGapMs: gaps[0]?.ms ?? 0,
      ackedKeys: [...this.ackedKeys],
      ackedAt: [...this.ackTimes],
    };
  }

  private async writer(client: Redis, w: number): Promise<void> {
    const { keyPrefix, ackReplicas, pipeline, valueBytes, retryDelayMs } = this.options;
    const payload = valueBytes > 0 ? 'v'.repeat(valueBytes) : undefined;
    let seq = 0;
    while (this.running) {
      const batch: Write[] = [];
      for (let i = 0; i < pipeline; i += 1) {
        seq += 1;
        batch.push({ key: `${keyPrefix}:${w}:${seq}`, value: payload ?? String(seq) });
      }
      try {
        const [only] = batch;
        if (ackReplicas === 0 && batch.length === 1 && only) {
          await client.set(only.key, only.value);
          this.acked([only.key]);
        } else {
          const failed = await this.writeBatch(client, batch);
          if (failed) {
            this.failed += failed;
            await sleep(retryDelayMs);
          }
        }
      } catch {
        this.failed += batch.length;
        await sleep(retryDelayMs);
      }
    }
  }

  /**
   * One pipeline: its SETs, then `WAIT` when acks need replicas. With WAIT, the batch counts only as a whole; with
   * plain acks, each SET that got OK counts (a pipeline can break halfway, as a connection drops). Returns how
   * many failed.
   */
  private async writeBatch(client: Redis, batch: readonly Write[]): Promise<number> {
    const { ackReplicas } = this.options;
    const p = client.pipeline();
    for (const { key, value } of batch) p.set(key, value);
    if (ackReplicas > 0) p.call('WAIT', ackReplicas, 1000);
    const replies = (await p.exec()) ?? [];
    const sets = replies.slice(0, batch.length);
    if (ackReplicas > 0) {
      const wait = replies[batch.length];
      const error = sets.find((r) => r[0])?.[0] ?? wait?.[0];
      if (error) throw error;
      if (Number(wait?.[1]) < ackReplicas) throw new Error('not replicated in time');
      this.acked(batch.map((b) => b.key));
      return 0;
    }
    const ok = batch.filter((_, k) => sets[k] && !sets[k][0]).map((b) => b.key);
    this.acked(ok);
    return batch.length - ok.length;
  }

  private acked(keys: readonly string[]): void {
    const at = Date.now();
    for (const key of keys) {
      this.ackTimes.push(at);
      this.ackedKeys.push(key);
    }
  }

  private clientOptions(): RedisOptions {
    const { target, password, retryDelayMs } = this.options;
    const common: RedisOptions = {
      password,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      connectTimeout: 1000,
      commandTimeout: 1000,
      retryStrategy: () => retryDelayMs,
      // A demoted master answers READONLY: reconnect (a Sentinel client then asks the Sentinels again).
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
    };
    if (target.kind === 'sentinel') {
      return {
        ...common,
        sentinels: target.sentinels,
        name: target.masterName,
        sentinelPassword: password,
        sentinelRetryStrategy: () => retryDelayMs,
      };
    }
    return {
      ...common,
      host: target.endpoint.host,
      port: target.endpoint.port,
      ...(target.tlsCa ? { tls: { ca: target.tlsCa } } : {}),
    };
  }
}

/** Acknowledged keys missing on `master` (checked with MGET in batches). */
export async function countLost(
  master: Endpoint,
  password: string,
  keys: readonly string[],
): Promise<string[]> {
  const client = new Redis({ host: master.host, port: master.port, password, maxRetriesPerRequest: 1 });
  try {
    const lost: string[] = [];
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const values = await client.mget(...batch);
      values.forEach((v, j) => {
        if (v === null) lost.push(batch[j] as string);
      });
    }
    return lost;
  } finally {
    client.disconnect();
  }
}
