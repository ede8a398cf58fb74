import { Redis, type RedisOptions } from 'ioredis';
import type { Endpoint } from '../../core/model/cluster.ts';
import { UnreachableError } from '../../core/model/errors.ts';

/**
 * How to reach Redis nodes and Sentinels: passwords come from a provider, never from code. The endpoint tells
 * a multi-cluster provider which cluster's secret to read.
 */
export interface RedisAccess {
  redisPassword(endpoint: Endpoint): Promise<string | undefined>;
  sentinelPassword(endpoint: Endpoint): Promise<string | undefined>;
  /** CA certificate (PEM) for TLS listeners. */
  ca?(endpoint: Endpoint): Promise<string | undefined>;
}

type Kind = 'redis' | 'sentinel' | 'proxy-plain' | 'proxy-tls';

/**
 * A small pool of ioredis connections, one per endpoint and kind, reused across polls.
 * Commands fail fast (no retries, bounded timeouts); a broken connection is dropped and made anew.
 */
export class RedisConnections {
  /** One connection per key; the promise is stored at once, so parallel first calls share it. */
  private readonly clients = new Map<string, Promise<Redis>>();
  private readonly access: RedisAccess;
  constructor(access: RedisAccess) {
    this.access = access;
  }

  async run<T>(
    kind: Kind,
    endpoint: Endpoint,
    timeoutMs: number,
    fn: (client: Redis) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.runOnce(kind, endpoint, timeoutMs, fn);
    } catch (error) {
      // A pooled connection whose server closed it (a restarted node, Sentinel's CLIENT KILL after a promotion)
      // fails its next command at once; the node may answer fine on a new one: try once more on a fresh one.
      // Never after a timeout, which a second try would only double.
      if (!(error instanceof StaleConnectionError)) throw error;
      return await this.runOnce(kind, endpoint, timeoutMs, fn).catch((retryError: unknown) => {
        throw retryError instanceof StaleConnectionError ? retryError.unreachable : retryError;
      });
    }
  }

  private async runOnce<T>(
    kind: Kind,
    endpoint: Endpoint,
    timeoutMs: number,
    fn: (client: Redis) => Promise<T>,
  ): Promise<T> {
    const key = `${kind}/${endpoint.host}:${endpoint.port}`;
    let pending = this.clients.get(key);
    const reused = pending !== undefined;
    try {
      let client = pending ? await pending : undefined;
      if (!client || client.status === 'end' || client.status === 'close') {
        if (pending && this.clients.get(key) === pending) this.clients.delete(key);
        pending = this.connectShared(kind, endpoint, timeoutMs, key);
        client = await pending;
      }
      return await withTimeout(fn(client), timeoutMs, `${kind} ${endpoint.host}:${endpoint.port}`);
    } catch (error) {
      if (isConnectionError(error)) {
        if (pending && this.clients.get(key) === pending) {
          this.clients.delete(key);
          void pending.then((c) => c.disconnect()).catch(() => undefined);
        }
        const unreachable = new UnreachableError(
          `${kind} ${endpoint.host}:${endpoint.port} did not answer: ${describe(error)}`,
          { cause: error },
        );
        throw reused && isClosedConnection(error) ? new StaleConnectionError(unreachable) : unreachable;
      }
      throw error;
    }
  }

  private connectShared(kind: Kind, endpoint: Endpoint, timeoutMs: number, key: string): Promise<Redis> {
    const existing = this.clients.get(key);
    if (existing) return existing;
    const created = (async () => {
      const client = new Redis(await this.options(kind, endpoint, timeoutMs));
      client.on('error', () => undefined); // errors surface on the command that hit them
      try {
        await withTimeout(client.connect(), timeoutMs, `connect to ${key}`);
      } catch (error) {
        client.disconnect();
        throw error;
      }
      return client;
    })();
    this.clients.set(key, created);
    created.catch(() => {
      if (this.clients.get(key) === created) this.clients.delete(key);
    });
    return created;
  }

  /** A fresh, unpooled connection (for subscribers and one-off probes). */
  async open(
    kind: Kind,
    endpoint: Endpoint,
    timeoutMs: number,
    extra: Partial<RedisOptions> = {},
  ): Promise<Redis> {
    return new Redis({ ...(await this.options(kind, endpoint, timeoutMs)), ...extra });
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((p) => p.then((c) => c.disconnect()).catch(() => undefined)));
  }

  private async options(kind: Kind, endpoint: Endpoint, timeoutMs: number): Promise<RedisOptions> {
    const password =
      kind === 'sentinel'
        ? await this.access.sentinelPassword(endpoint)
        : await this.access.redisPassword(endpoint);
    const ca = kind === 'proxy-tls' ? await this.access.ca?.(endpoint) : undefined;
    return {
      host: endpoint.host,
      port: endpoint.port,
      ...(password ? { password } : {}),
      ...(kind === 'proxy-tls' ? { tls: ca ? { ca } : {} } : {}),
      // CLIENT LIST shows ha-redis' own admin connections by name (its fence probes are writes, refused).
      connectionName: kind === 'redis' ? 'ha-redis-admin' : 'ha-redis',
      lazyConnect: true,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableReadyCheck: kind !== 'sentinel',
    };
  }
}

const CONNECTION_ERRORS =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|Connection is closed|Stream isn't writeable|timed out|Command timed out|connect/i;

/** A pooled connection found closed: the command failed at once, without waiting for an answer. */
class StaleConnectionError extends Error {
  readonly unreachable: UnreachableError;
  constructor(unreachable: UnreachableError) {
    super(unreachable.message, { cause: unreachable });
    this.unreachable = unreachable;
  }
}

const isClosedConnection = (error: unknown): boolean =>
  error instanceof Error &&
  /Connection is closed|ECONNRESET|EPIPE|Stream isn't writeable/i.test(
    `${error.message} ${(error as { code?: string }).code ?? ''}`,
  );

function isConnectionError(error: unknown): boolean {
  return (
    error instanceof Error &&
    CONNECTION_ERRORS.test(`${error.message} ${(error as { code?: string }).code ?? ''}`)
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Reject after `ms` unless the promise settles first. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
