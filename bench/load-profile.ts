/**
 * The write load of the switchover and master-fault scenarios, and the dataset the master holds before it:
 * `--writers`, `--value-size`, `--pipeline` and `--dataset` of `npm run bench`. The default (4 writers, one SET at a
 * time, values of a few bytes, an empty database) is the load every earlier table was measured with.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError } from 'commander';
import { RedisConnections } from '../adapters/redis/connections.ts';
import { IoredisNodes, parseInfo } from '../adapters/redis/redis-nodes.ts';
import type { Descriptor } from '../config/local-descriptor.ts';
import { HaRedisError } from '../core/model/errors.ts';
import type { Log } from './cluster.ts';
import { adminClient } from './nodes.ts';

export interface LoadProfile {
  /** Writers per system, each on its own connection. */
  writers: number;
  /** Bytes per value; 0: the write's sequence number. */
  valueBytes: number;
  /** SETs each writer sends before it reads their replies. */
  pipeline: number;
  /** Bytes of data written to the master (and replicated) before the writers start; 0: none. */
  datasetBytes: number;
}

export const DEFAULT_LOAD: LoadProfile = { writers: 4, valueBytes: 0, pipeline: 1, datasetBytes: 0 };

/** Write this long after the warm-up before the fault or the procedure: the write rate is measured over it. */
export const STEADY_MS = 1000;
/** Keys of the preloaded dataset hold values of this size, whatever the writers write. */
export const DATASET_VALUE_BYTES = 1024;
/** SETs per pipeline while preloading, and pipelines in flight at once. */
const PRELOAD_BATCH = 1000;
const PRELOAD_CONNECTIONS = 4;
/** How long the replicas may take to reach the master's offset after the preload. */
const REPLICAS_CATCH_UP_MS = 120_000;

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/** `1024`, `1k`, `512m`, `1g` (binary units) -> bytes. */
export function parseSize(value: string, option: string, max: number): number {
  const m = /^(\d+)\s*([kmg]?)b?$/i.exec(value.trim());
  const bytes = m ? Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes > max)
    throw new InvalidArgumentError(
      `${option} takes a size such as 1024, 1k, 512m or 1g, at most ${formatBytes(max)}; got '${value}'`,
    );
  return bytes;
}

export function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ['GB', 2 ** 30],
    ['MB', 2 ** 20],
    ['KB', 2 ** 10],
  ] as const) {
    if (bytes >= size && bytes % (size / 4) === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} B`;
}

export const isDefaultLoad = (p: LoadProfile): boolean =>
  (Object.keys(DEFAULT_LOAD) as (keyof LoadProfile)[]).every((k) => p[k] === DEFAULT_LOAD[k]);

/** What a report row's scenario name carries when the load is not the default: `16 writers × 1 KB, pipeline 16, 1 GB`. */
export function loadLabel(p: LoadProfile): string {
  if (isDefaultLoad(p)) return '';
  const parts = [
    `${p.writers} writers${p.valueBytes ? ` × ${formatBytes(p.valueBytes)}` : ''}`,
    ...(p.pipeline > 1 ? [`pipeline ${p.pipeline}`] : []),
    ...(p.datasetBytes ? [`${formatBytes(p.datasetBytes)} dataset`] : []),
  ];
  return ` [${parts.join(', ')}]`;
}

/** A report row's load fields: `writers` always, the rest when the load is not the default. */
export function loadFields(p: LoadProfile): { writers: number; load?: Omit<LoadProfile, 'writers'> } {
  const { writers, ...rest } = p;
  return isDefaultLoad(p) ? { writers } : { writers, load: rest };
}

/** Acknowledged writes per second over the `windowMs` before `before` (epoch ms), from a load's ack times. */
export function ratePerSecond(ackedAt: readonly number[], before: number, windowMs: number): number {
  const from = before - windowMs;
  const n = ackedAt.filter((t) => t >= from && t < before).length;
  return Math.round((n * 1000) / windowMs);
}

/**
 * Write `bytes` of 1-KB values to the cluster's first node (its master), then wait until every replica has all
 * of it: the failover then starts from a big, fully replicated dataset, as a production database's would.
 */
export async function preloadDataset(
  d: Descriptor,
  password: string,
  bytes: number,
  log: Log,
): Promise<void> {
  const master = d.nodes[0];
  if (!master || bytes <= 0) return;
  const keys = Math.ceil(bytes / DATASET_VALUE_BYTES);
  const value = 'd'.repeat(DATASET_VALUE_BYTES);
  const started = Date.now();
  const clients = Array.from({ length: PRELOAD_CONNECTIONS }, () => adminClient(master, password, 60_000));
  try {
    let next = 0;
    await Promise.all(
      clients.map(async (c) => {
        while (next < keys) {
          const from = next;
          next = Math.min(keys, next + PRELOAD_BATCH);
          const p = c.pipeline();
          for (let i = from; i < next; i += 1) p.set(`dataset:${i}`, value);
          const failed = ((await p.exec()) ?? []).find((r) => r[0]);
          if (failed) throw new HaRedisError(`preloading the dataset failed: ${String(failed[0])}`);
        }
      }),
    );
    const written = Date.now();
    const deadline = written + REPLICAS_CATCH_UP_MS;
    const admin = clients[0] as ReturnType<typeof adminClient>;
    const secret = async () => password;
    const connections = new RedisConnections({ redisPassword: secret, sentinelPassword: secret });
    try {
      const nodes = new IoredisNodes(connections);
      for (;;) {
        const o = await nodes.replication(master, 5000);
        const replicas = (o.replicas ?? []).map((r) => r.offset);
        if (replicas.length === d.nodes.length - 1 && replicas.every((r) => r >= o.offset)) break;
        if (Date.now() > deadline)
          throw new HaRedisError(
            `the replicas did not reach the master's offset ${o.offset} in ${REPLICAS_CATCH_UP_MS} ms after the preload (at ${replicas.join(', ')})`,
          );
        await sleep(100);
      }
    } finally {
      await connections.close();
    }
    const memory = parseInfo(String(await admin.info('memory'))).get('used_memory_human') ?? '?';
    log(
      `  dataset: ${keys} keys of ${DATASET_VALUE_BYTES} B written in ${written - started} ms, replicated ${Date.now() - written} ms later; master uses ${memory}`,
    );
  } finally {
    for (const c of clients) c.disconnect();
  }
}
